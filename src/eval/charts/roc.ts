/**
 * ROC curves of several models on one plot (e.g. referable DR: ours vs CLIP baseline, paper vs
 * honest protocol), AUC in the legend, chance diagonal dashed.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { RocPoint } from '../metrics/referable.js';
import { fmt, renderVegaLite, titleOf, type ChartOptions } from './render.js';

/** One model's curve (from referableMetrics / rocCurve + rocAuc). */
export interface RocSeries {
  name: string;
  points: readonly RocPoint[];
  auc: number;
}

/**
 * PNG of ROC curves.
 *
 * @example
 *   await rocChart([{ name: 'retalign', points: r.roc, auc: r.auc }, { name: 'CLIP', points: c.roc, auc: c.auc }],
 *     { title: 'Referable DR (ICDR >= 2)', outFile: 'out/roc.png' });
 */
export async function rocChart(series: readonly RocSeries[], opts: ChartOptions = {}): Promise<Buffer> {
  return renderVegaLite(rocSpec(series, opts), opts);
}

/**
 * The Vega-Lite spec of {@link rocChart}: the curves' data (second layer) holds one row per
 * finite point, `{ model: 'name (AUC 0.875)', fpr, tpr, i }`, in each series' point order.
 *
 * @example rocSpec([{ name: 'A', points: rocCurve(labels, scores), auc: 0.9 }])
 */
export function rocSpec(series: readonly RocSeries[], opts: ChartOptions = {}): TopLevelSpec {
  if (series.length === 0) throw new Error('rocChart: no series given (expected at least one model)');
  const rows: { model: string; fpr: number; tpr: number; i: number }[] = [];
  const names: string[] = [];
  for (const s of series) {
    if (s.points.length === 0) throw new Error(`rocChart: series '${s.name}' has no points`);
    const name = `${s.name} (AUC ${fmt(s.auc)})`;
    names.push(name);
    s.points.forEach((p, i) => { if (Number.isFinite(p.fpr) && Number.isFinite(p.tpr)) rows.push({ model: name, fpr: p.fpr, tpr: p.tpr, i }); });
  }
  const side = opts.width ?? 380;
  const axis = { format: '.1f', tickCount: 5 };
  const spec: TopLevelSpec = {
    title: titleOf(opts, 'ROC curve'),
    width: side,
    height: opts.height ?? side,
    layer: [
      {
        data: { values: [{ x: 0, y: 0 }, { x: 1, y: 1 }] },
        mark: { type: 'line', strokeDash: [5, 4], color: '#999', strokeWidth: 1 },
        encoding: {
          x: { field: 'x', type: 'quantitative' },
          y: { field: 'y', type: 'quantitative' },
        },
      },
      {
        data: { values: rows },
        mark: { type: 'line', strokeWidth: 2.2, interpolate: 'linear' },
        encoding: {
          x: { field: 'fpr', type: 'quantitative', title: 'False positive rate (1 - specificity)', scale: { domain: [0, 1] }, axis },
          y: { field: 'tpr', type: 'quantitative', title: 'True positive rate (sensitivity)', scale: { domain: [0, 1] }, axis },
          color: { field: 'model', type: 'nominal', sort: names, title: null, legend: { orient: 'bottom', direction: 'vertical', offset: 14 } },
          order: { field: 'i', type: 'quantitative' },
        },
      },
    ],
  };
  return spec;
}
