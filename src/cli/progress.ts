/** A one-line progress counter on stderr for long loops (only on a terminal; undefined otherwise). */
export function progress(label: string): ((done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  let last = -1;
  return (done, total) => {
    const p = Math.floor((100 * done) / total);
    if (p === last && done !== total) return;
    last = p;
    process.stderr.write(`\r${label} ${done}/${total} (${p}%)${done === total ? '\n' : ''}`);
  };
}
