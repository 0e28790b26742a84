/**
 * Plain-text output for the CLI: probability bars and aligned tables (no colours, so the output
 * reads the same in a terminal, a log file and a test).
 *
 * @example
 *   bar(0.5, 10) // '█████░░░░░'
 *   table(['rank', 'id'], [['1', 'img001']]) // 'rank  id\n----  ------\n1     img001'
 */

/** ICDR grade names (International Clinical DR scale, 0..4). */
export const ICDR_NAMES = ['no DR', 'mild NPDR', 'moderate NPDR', 'severe NPDR', 'PDR'] as const;
/** SDRG grade names (Scottish DR Grading scheme, R0..R4). */
export const SDRG_NAMES = ['R0 none', 'R1 mild background', 'R2 observable background', 'R3 referable background', 'R4 proliferative'] as const;

/** A bar of `width` cells, filled in proportion to p in [0, 1]. */
export function bar(p: number, width = 24): string {
  const n = Math.round(Math.min(1, Math.max(0, p)) * width);
  return '█'.repeat(n) + '░'.repeat(width - n);
}

/** Text with control characters replaced by spaces and cut to `max` characters (with '…'). */
export function excerpt(s: string | null, max: number): string {
  if (s === null) return '';
  const t = s.replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\s+/g, ' ').trim();
  return t.length <= max ? t : `${t.slice(0, max - 1)}…`;
}

/** Left-aligned columns separated by two spaces, a dashed rule under the header. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((x, c) => x.padEnd(widths[c] as number)).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
