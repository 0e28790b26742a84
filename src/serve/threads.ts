/**
 * Thread settings for serving on CPU. They must be in the environment before libtorch loads:
 * libgomp (libtorch's OpenMP) and OpenBLAS read theirs once, when their libraries load, so
 * bin/retalign.js applies them before it imports the command line, and bench/serve passes them to
 * its server process. A variable the user already set is left as it is.
 *
 * Why (measured on the 2-core machine, the `small` preset, one grade with a note and the heatmap):
 * - OMP_WAIT_POLICY=PASSIVE: libgomp's default is to spin between parallel regions. A forward pass
 *   at serving sizes is hundreds of short regions; the spinning thread takes a core that the event
 *   loop, libuv's decoders and OpenBLAS's own threads want, and when the machine has other work a
 *   region waits for a descheduled thread. One grade with 2 threads took 464 ms spinning and 20 ms
 *   passive (load average ~5); on the quiet machine 207 ms spinning against 79 ms with 1 thread.
 * - OPENBLAS_NUM_THREADS = the libtorch threads: the system OpenBLAS (pthreads) otherwise keeps a
 *   pool of one thread per core beside OpenMP's, and libtorch does not size it.
 * Neither changes a result: only who waits how. Training keeps libgomp's default (the benches
 * compare it with python3-torch, which has the same default).
 *
 * @example
 *   Object.assign(process.env, serveThreadEnv(['serve', '--threads', '2'], 2, process.env));
 *   // { OMP_WAIT_POLICY: 'PASSIVE', OPENBLAS_NUM_THREADS: '2' } unless already set
 */

/**
 * libtorch threads for `retalign serve` without --threads: every core, as before, now that idle
 * OpenMP threads sleep. Measured with bench:serve on the 2-core machine under load (load average
 * ~4, both policies passive): 2 threads gave grade p50 51 ms at 1 client and 33 grades/s at 8
 * clients, 1 thread 58 ms and 25 grades/s.
 */
export function defaultServeThreads(cores: number): number {
  return Math.max(1, cores);
}

/** `--threads N` or `--threads=N` in a command line, else null (the command line checks the value). */
export function threadsFlag(argv: readonly string[]): number | null {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const v = a === '--threads' ? argv[i + 1] : a.startsWith('--threads=') ? a.slice('--threads='.length) : undefined;
    if (v !== undefined) return Number.isInteger(Number(v)) && Number(v) >= 1 ? Number(v) : null;
  }
  return null;
}

/**
 * The variables to set for a `retalign serve` command line (argv without node and the script), or
 * {} for any other command. Variables present in `env` are not returned (the user's choice stands).
 * @example serveThreadEnv(['serve', '--index', 'ix'], 2, {}) // { OMP_WAIT_POLICY: 'PASSIVE', OPENBLAS_NUM_THREADS: '2' }
 */
export function serveThreadEnv(argv: readonly string[], cores: number, env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  if (argv[0] !== 'serve') return {};
  const threads = threadsFlag(argv) ?? defaultServeThreads(cores);
  const want: Record<string, string> = { OMP_WAIT_POLICY: 'PASSIVE', OPENBLAS_NUM_THREADS: String(threads) };
  return Object.fromEntries(Object.entries(want).filter(([k]) => env[k] === undefined));
}
