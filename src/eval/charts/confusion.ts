/**
 * Confusion-matrix heatmap. Cells show the count and the share of the true class (row %); colour
 * follows the row share, because with ~93% grade 0 raw counts would paint one cell and hide the rest.
 */
import type { TopLevelSpec } from 'vega-lite';
import { renderVegaLite, titleOf, type ChartOptions } from './render.js';

/** Options of {@link confusionMatrixChart}. */
export interface ConfusionChartOptions extends ChartOptions {
  /** Class names in index order. Default '0', '1', ... */
  classLabels?: readonly string[];
  /** Axis name of the scale, e.g. 'ICDR grade'. Default 'grade'. */
  scaleName?: string;
}

/**
 * PNG heatmap of a (K, K) confusion matrix indexed [truth][prediction].
 *
 * @example
 *   await confusionMatrixChart(report.confusion, { title: 'ICDR, honest protocol', scaleName: 'ICDR grade',
 *     outFile: 'out/icdr-confusion.png' });
 */
export async function confusionMatrixChart(matrix: readonly (readonly number[])[], opts: ConfusionChartOptions = {}): Promise<Buffer> {
  return renderVegaLite(confusionMatrixSpec(matrix, opts), opts);
}

/**
 * The Vega-Lite spec of {@link confusionMatrixChart}: one data row per cell, `{ truth, pred, count,
 * share (of the true class), label }`, rows in [truth][prediction] order.
 *
 * @example confusionMatrixSpec([[3, 1], [0, 2]]).data // { values: [{ truth: '0', pred: '0', count: 3, share: 0.75, label: '3 (75%)' }, ...] }
 */
export function confusionMatrixSpec(matrix: readonly (readonly number[])[], opts: ConfusionChartOptions = {}): TopLevelSpec {
  const k = matrix.length;
  if (k === 0 || matrix.some((r) => r.length !== k)) {
    throw new Error(`confusionMatrixChart: matrix is ${k}x${matrix.map((r) => r.length).join('/')}, expected square K x K`);
  }
  const labels = opts.classLabels ?? Array.from({ length: k }, (_, i) => String(i));
  if (labels.length !== k) throw new Error(`confusionMatrixChart: ${labels.length} class labels for a ${k}x${k} matrix`);
  const scaleName = opts.scaleName ?? 'grade';
  const cells: { truth: string; pred: string; count: number; share: number; label: string }[] = [];
  let total = 0;
  matrix.forEach((row, i) => {
    const rowTotal = row.reduce((a, b) => a + b, 0);
    total += rowTotal;
    row.forEach((count, j) => {
      const share = rowTotal === 0 ? 0 : count / rowTotal;
      cells.push({ truth: labels[i]!, pred: labels[j]!, count, share, label: cellLabel(count, share) });
    });
  });
  const side = opts.width ?? Math.max(280, 78 * k);
  const spec: TopLevelSpec = {
    title: titleOf({ ...opts, subtitle: opts.subtitle ?? `n = ${total}; colour = share of the true class` }, 'Confusion matrix'),
    width: side,
    height: opts.height ?? side,
    data: { values: cells },
    encoding: {
      x: { field: 'pred', type: 'ordinal', sort: [...labels], title: `Predicted ${scaleName}`, axis: { labelAngle: 0, orient: 'top' } },
      y: { field: 'truth', type: 'ordinal', sort: [...labels], title: `True ${scaleName}` },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
        encoding: {
          color: { field: 'share', type: 'quantitative', scale: { scheme: 'blues', domain: [0, 1] }, title: 'Row share', legend: { format: '.0%' } },
        },
      },
      {
        mark: { type: 'text', fontSize: k > 6 ? 10 : 13 },
        encoding: {
          text: { field: 'label', type: 'nominal' },
          color: { condition: { test: 'datum.share > 0.55', value: 'white' }, value: '#222' },
        },
      },
    ],
  };
  return spec;
}

/** "12 (63%)"; zero cells show just "0"; non-zero shares that round to 0% show "<1%". */
function cellLabel(count: number, share: number): string {
  if (count === 0) return '0';
  const pct = Math.round(share * 100);
  return `${count} (${pct === 0 ? '<1' : pct}%)`;
}
