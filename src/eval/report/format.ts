/**
 * The one number formatter of the report: every number in report.md goes through
 * {@link formatMetric}, so a test can format a value from metrics.json the same way and find it.
 */

/**
 * - 'pct': fraction as a percentage with 2 decimals (0.99944 -> '99.94%')
 * - 'num': 3 decimals (kappa, AUC, ECE, temperature: 0.8123 -> '0.812')
 * - 'pp': signed difference of fractions in percentage points (0.031 -> '+3.10 pp')
 * - 'delta': signed difference with 3 decimals (-0.05 -> '-0.050')
 * - 'int': integer count ('1234')
 * - 'seconds': '812.4 s'
 */
export type FormatKind = 'pct' | 'num' | 'pp' | 'delta' | 'int' | 'seconds';

/** What a missing or undefined number prints as. */
export const NA = 'n/a';

/**
 * Formats one number of the report; null, undefined, NaN and +-Infinity print as 'n/a'.
 *
 * @example formatMetric(0.99944, 'pct') // -> '99.94%'; formatMetric(null, 'num') // -> 'n/a'
 */
export function formatMetric(x: number | null | undefined, kind: FormatKind = 'pct'): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return NA;
  switch (kind) {
    case 'pct': return `${(x * 100).toFixed(2)}%`;
    case 'num': return fixed(x, 3);
    case 'pp': return `${sign(x * 100, 2)} pp`;
    case 'delta': return sign(x, 3);
    case 'int': return String(Math.round(x));
    case 'seconds': return `${fixed(x, 1)} s`;
  }
}

/**
 * A bootstrap interval in the same format as its estimate: '[95.10%, 98.20%]'.
 *
 * @example formatCI({ lo: 0.9, hi: 0.95 }, 'pct') // -> '[90.00%, 95.00%]'
 */
export function formatCI(c: { lo: number | null; hi: number | null } | null | undefined, kind: FormatKind = 'pct'): string {
  if (!c || c.lo === null || c.hi === null) return '';
  return `[${formatMetric(c.lo, kind)}, ${formatMetric(c.hi, kind)}]`;
}

/** Estimate followed by its interval: '97.97% [96.10%, 98.90%]'. */
export function withCI(x: number | null | undefined, c: { lo: number | null; hi: number | null } | null | undefined, kind: FormatKind = 'pct'): string {
  const ci = formatCI(c, kind);
  return ci === '' ? formatMetric(x, kind) : `${formatMetric(x, kind)} ${ci}`;
}

/** toFixed without '-0.000'. */
function fixed(x: number, digits: number): string {
  const s = x.toFixed(digits);
  return /^-0\.?0*$/.test(s) ? s.slice(1) : s;
}

function sign(x: number, digits: number): string {
  const s = fixed(x, digits);
  return s.startsWith('-') || /^0\.?0*$/.test(s) ? s : `+${s}`;
}
