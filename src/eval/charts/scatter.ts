/**
 * 2-D embedding scatter coloured by DR grade (points from embed2d or any projection). Grade 0
 * dominates BRSET (~93%), so grade-0 points are drawn first and fainter, higher grades on top.
 */
import type { TopLevelSpec } from 'vega-lite';
import { renderVegaLite, titleOf, type ChartOptions } from './render.js';

/** Options of {@link embeddingScatterChart}. */
export interface ScatterChartOptions extends ChartOptions {
  /** Legend title, e.g. 'ICDR grade'. Default 'grade'. */
  scaleName?: string;
  /** Number of grades (colours). Default 5. */
  numClasses?: number;
  /** Point size in square pixels. Default: smaller for larger n. */
  pointSize?: number;
}

/** Distinct hues, ordered from healthy (blue) to severe (dark red); a ramp made grades 0 and 1 look alike. */
const GRADE_COLOURS = ['#4c78a8', '#54a24b', '#e0a800', '#f58518', '#b2182b', '#7b3294', '#3f007d'];
const UNKNOWN = 'unknown';

/**
 * PNG scatter of (n, 2) row-major points coloured by grade (null = unknown, grey).
 *
 * @example
 *   const xy = embed2d(imageEmb, 256, 7);
 *   await embeddingScatterChart(xy, icdrGrades, { title: 'Image embeddings (UMAP)', scaleName: 'ICDR grade' });
 */
export async function embeddingScatterChart(
  points: ArrayLike<number>,
  grades: ArrayLike<number | null>,
  opts: ScatterChartOptions = {},
): Promise<Buffer> {
  return renderVegaLite(embeddingScatterSpec(points, grades, opts), opts);
}

/**
 * The Vega-Lite spec of {@link embeddingScatterChart}: one data row per point, `{ x, y, grade:
 * '0'..'4' | 'unknown', order }`, in input order.
 *
 * @example embeddingScatterSpec([0, 1, 2, 3], [0, null]).data // { values: [{ x: 0, y: 1, grade: '0', order: 1 }, ...] }
 */
export function embeddingScatterSpec(
  points: ArrayLike<number>,
  grades: ArrayLike<number | null>,
  opts: ScatterChartOptions = {},
): TopLevelSpec {
  const n = grades.length;
  if (points.length !== 2 * n) throw new Error(`embeddingScatterChart: ${points.length} coordinates for ${n} grades (expected 2 per point)`);
  const k = opts.numClasses ?? 5;
  if (k > GRADE_COLOURS.length) throw new Error(`embeddingScatterChart: numClasses=${k}, at most ${GRADE_COLOURS.length} supported`);
  const classes = Array.from({ length: k }, (_, i) => String(i));
  const rows: { x: number; y: number; grade: string; order: number }[] = [];
  let anyUnknown = false;
  for (let i = 0; i < n; i++) {
    const g = grades[i];
    const x = points[2 * i] as number;
    const y = points[2 * i + 1] as number;
    if (!Number.isFinite(x) || !Number.isFinite(y)) throw new Error(`embeddingScatterChart: point ${i} is (${x}, ${y}), expected finite coordinates`);
    if (g !== null && g !== undefined && !(Number.isInteger(g) && g >= 0 && g < k)) throw new Error(`embeddingScatterChart: grades[${i}]=${g}, expected an integer in [0, ${k - 1}] or null`);
    const known = g !== null && g !== undefined;
    anyUnknown ||= !known;
    rows.push({ x, y, grade: known ? String(g) : UNKNOWN, order: known ? (g as number) + 1 : 0 });
  }
  const domain = anyUnknown ? [...classes, UNKNOWN] : classes;
  const range = [...GRADE_COLOURS.slice(0, k), ...(anyUnknown ? ['#bbbbbb'] : [])];
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.grade, (counts.get(r.grade) ?? 0) + 1);
  const size = opts.pointSize ?? (n > 3000 ? 10 : n > 500 ? 20 : 45);
  const spec: TopLevelSpec = {
    title: titleOf({ ...opts, subtitle: opts.subtitle ?? `n = ${n}; ${domain.map((g) => `${g}: ${counts.get(g) ?? 0}`).join(', ')}` }, 'Embeddings by grade'),
    width: opts.width ?? 460,
    height: opts.height ?? 400,
    data: { values: rows },
    mark: { type: 'circle', stroke: 'white', strokeWidth: n > 500 ? 0 : 0.5 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: 'dimension 1', scale: { zero: false, nice: false, padding: 12 }, axis: { labels: false, ticks: false, grid: false } },
      y: { field: 'y', type: 'quantitative', title: 'dimension 2', scale: { zero: false, nice: false, padding: 12 }, axis: { labels: false, ticks: false, grid: false } },
      color: { field: 'grade', type: 'ordinal', title: opts.scaleName ?? 'grade', scale: { domain, range } },
      opacity: { condition: { test: "datum.grade === '0' || datum.grade === 'unknown'", value: 0.45 }, value: 0.9 },
      size: { value: size },
      order: { field: 'order', type: 'quantitative' },
    },
  };
  return spec;
}
