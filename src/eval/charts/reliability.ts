/**
 * Reliability diagram: accuracy per confidence bin against the diagonal of perfect calibration,
 * with the bin counts underneath (a bar of 3 items deserves less trust than one of 3,000).
 */
import type { TopLevelSpec } from 'vega-lite';
import type { ReliabilityBin } from '../metrics/calibration.js';
import { fmt, renderVegaLite, titleOf, type ChartOptions } from './render.js';

const KIND_ACC = 'accuracy in bin';
const KIND_GAP = 'gap to mean confidence';

/**
 * PNG reliability diagram from {@link ReliabilityBin}s (expectedCalibrationError(...).bins).
 *
 * @example
 *   const c = calibrationFromProbs(probs, truth, 5);
 *   await reliabilityChart(c.bins, { ece: c.ece, title: 'ICDR calibration (T = 1.7)', outFile: 'out/rel.png' });
 */
export async function reliabilityChart(bins: readonly ReliabilityBin[], opts: ChartOptions & { ece?: number } = {}): Promise<Buffer> {
  return renderVegaLite(reliabilitySpec(bins, opts), opts);
}

/**
 * The Vega-Lite spec of {@link reliabilityChart}: the top panel's bars are two rows per non-empty
 * bin (`{ lo, hi, y: 0, y2: accuracy }` and `{ lo, hi, y: accuracy, y2: meanConfidence }`), the
 * bottom panel's rows are the non-empty bins with their counts.
 *
 * @example reliabilitySpec(expectedCalibrationError(conf, correct, 10).bins)
 */
export function reliabilitySpec(bins: readonly ReliabilityBin[], opts: ChartOptions & { ece?: number } = {}): TopLevelSpec {
  if (bins.length === 0) throw new Error('reliabilityChart: no bins given');
  const rows = bins.map((b) => ({ lo: b.lo, hi: b.hi, count: b.count, accuracy: b.count > 0 ? b.accuracy : null, conf: b.count > 0 ? b.meanConfidence : null }));
  const filled = rows.filter((r) => r.count > 0);
  // Two stacked pieces per bin: the accuracy bar (0 -> accuracy) and the gap (accuracy -> mean confidence).
  const bars = filled.flatMap((r) => [
    { lo: r.lo, hi: r.hi, y: 0, y2: r.accuracy, kind: KIND_ACC },
    { lo: r.lo, hi: r.hi, y: r.accuracy, y2: r.conf, kind: KIND_GAP },
  ]);
  const n = bins.reduce((a, b) => a + b.count, 0);
  const subtitle = opts.subtitle ?? `${opts.ece !== undefined ? `ECE = ${fmt(opts.ece)}, ` : ''}${bins.length} bins, n = ${n}; dashed line = perfect calibration`;
  const width = opts.width ?? 380;
  const xScale = { domain: [0, 1] };
  const xAxis = { format: '.1f', tickCount: 5 };
  const spec: TopLevelSpec = {
    title: titleOf({ ...opts, subtitle }, 'Reliability diagram'),
    spacing: 6,
    vconcat: [
      {
        width,
        height: opts.height ?? width,
        layer: [
          {
            data: { values: bars },
            mark: { type: 'rect', stroke: 'white', strokeWidth: 0.5 },
            encoding: {
              x: { field: 'lo', type: 'quantitative', scale: xScale, title: null, axis: { ...xAxis, labels: false } },
              x2: { field: 'hi' },
              y: { field: 'y', type: 'quantitative', scale: { domain: [0, 1] }, title: 'Accuracy', axis: { format: '.1f', tickCount: 5 } },
              y2: { field: 'y2' },
              color: {
                field: 'kind', type: 'nominal', title: null,
                scale: { domain: [KIND_ACC, KIND_GAP], range: ['#4c78a8', '#e45756'] },
                legend: { orient: 'top-left', fillColor: 'white', padding: 6, strokeColor: '#ddd' },
              },
              opacity: { condition: { test: `datum.kind === '${KIND_GAP}'`, value: 0.45 }, value: 0.9 },
            },
          },
          {
            data: { values: [{ x: 0, y: 0 }, { x: 1, y: 1 }] },
            mark: { type: 'line', strokeDash: [5, 4], color: '#555', strokeWidth: 1.2 },
            encoding: { x: { field: 'x', type: 'quantitative', scale: xScale }, y: { field: 'y', type: 'quantitative' } },
          },
        ],
      },
      {
        width,
        height: 70,
        data: { values: filled },
        mark: { type: 'rect', color: '#9d9d9d', stroke: 'white', strokeWidth: 1 },
        encoding: {
          x: { field: 'lo', type: 'quantitative', scale: xScale, title: 'Confidence (top-class probability)', axis: xAxis },
          x2: { field: 'hi' },
          y: { field: 'count', type: 'quantitative', title: 'Count', axis: { tickCount: 3, tickMinStep: 1, format: '~s' } },
          y2: { datum: 0 },
        },
      },
    ],
  };
  return spec;
}
