/**
 * Recall@K grouped bars: one panel per K, one group of bars per model, strict and duplicate-aware
 * side by side, so no reader mistakes one protocol's number for the other's.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { RetrievalResult } from '../metrics/retrieval.js';
import { renderVegaLite, titleOf, type ChartOptions } from './render.js';

/** One model's retrieval results (any subset of protocols; null entries are skipped). */
export interface RecallSeries {
  model: string;
  results: readonly (RetrievalResult | null)[];
}

const PROTOCOL_LABEL: Record<RetrievalResult['protocol'], string> = { strict: 'strict', 'duplicate-aware': 'duplicate-aware' };

/**
 * PNG of Recall@K bars per model and protocol.
 *
 * @example
 *   const r = retrievalMetrics(...);
 *   await recallAtKChart([{ model: 'retalign', results: [r.strict, r.duplicateAware] }],
 *     { title: 'Text -> image retrieval', outFile: 'out/recall.png' });
 */
export async function recallAtKChart(series: readonly RecallSeries[], opts: ChartOptions = {}): Promise<Buffer> {
  return renderVegaLite(recallAtKSpec(series, opts), opts);
}

/**
 * The Vega-Lite spec of {@link recallAtKChart}: one data row per model, protocol and K with a
 * finite value, `{ model, protocol, k: 'Recall@5', kNum: 5, recall }`.
 *
 * @example recallAtKSpec([{ model: 'retalign', results: [r.strict] }]).data
 */
export function recallAtKSpec(series: readonly RecallSeries[], opts: ChartOptions = {}): TopLevelSpec {
  const rows: { model: string; protocol: string; k: string; kNum: number; recall: number }[] = [];
  const models: string[] = [];
  for (const s of series) {
    models.push(s.model);
    for (const r of s.results) {
      if (!r) continue;
      for (const [k, v] of Object.entries(r.recallAt)) {
        if (Number.isFinite(v)) rows.push({ model: s.model, protocol: PROTOCOL_LABEL[r.protocol], k: `Recall@${k}`, kNum: Number(k), recall: v });
      }
    }
  }
  if (rows.length === 0) throw new Error('recallAtKChart: no finite Recall@K values in the given series');
  const kOrder = [...new Set(rows.map((r) => r.kNum))].sort((a, b) => a - b).map((k) => `Recall@${k}`);
  const gallery = [...new Set(series.flatMap((s) => s.results.filter((r): r is RetrievalResult => r !== null).map((r) => r.galleryN)))];
  const subtitle = opts.subtitle ?? (gallery.length === 1 ? `gallery of ${gallery[0]} items` : undefined);
  const spec: TopLevelSpec = {
    title: titleOf({ ...opts, ...(subtitle ? { subtitle } : {}) }, 'Recall@K'),
    data: { values: rows },
    facet: { column: { field: 'k', type: 'ordinal', sort: kOrder, title: null, header: { labelFontWeight: 'bold' } } },
    spec: {
      width: opts.width ?? Math.max(200, 125 * models.length),
      height: opts.height ?? 260,
      encoding: {
        x: { field: 'model', type: 'nominal', sort: models, title: null, axis: { labelAngle: models.length > 2 ? -30 : 0, labelLimit: 0 } },
        xOffset: { field: 'protocol', type: 'nominal', sort: ['strict', 'duplicate-aware'] },
        y: { field: 'recall', type: 'quantitative', title: 'Recall', scale: { domain: [0, 1.08] }, axis: { format: '.0%', values: [0, 0.2, 0.4, 0.6, 0.8, 1] } },
      },
      layer: [
        {
          mark: { type: 'bar' },
          encoding: {
            color: { field: 'protocol', type: 'nominal', sort: ['strict', 'duplicate-aware'], scale: { range: ['#4c78a8', '#f58518'] }, title: 'Protocol', legend: { orient: 'top', direction: 'horizontal' } },
          },
        },
        {
          mark: { type: 'text', dy: -7, fontSize: 10, color: '#333' },
          encoding: { text: { field: 'recall', type: 'quantitative', format: '.1%' } }, // .1%: 99.94% must not print as 100%
        },
      ],
    },
  };
  return spec;
}
