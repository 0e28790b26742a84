/**
 * The protocol ladder's chart: two panels side by side, text -> image Recall@1 (the variant each rung
 * reports) and ICDR accuracy, one line per model up the rungs, with the paper's CLAIMED numbers drawn
 * as dashed reference lines so the reader sees at which rung (if any) a line reaches them.
 */
import type { TopLevelSpec } from 'vega-lite';
import { renderVegaLite, titleOf, type ChartOptions } from './render.js';

/** One point: a model's value of one panel's metric at one rung (NaN/null values are skipped). */
export interface LadderPoint {
  rung: number;
  /** Axis label of the rung, e.g. '3 + image-level split'. */
  rungLabel: string;
  model: string;
  panel: 'Recall@1' | 'ICDR accuracy';
  value: number | null;
}

/** A dashed horizontal reference line in one panel (a CLAIMED number). */
export interface LadderReference {
  panel: LadderPoint['panel'];
  label: string;
  value: number;
}

/**
 * PNG of the ladder chart.
 *
 * @example
 *   await ladderChart([{ rung: 1, rungLabel: '1 honest', model: 'KEMT', panel: 'Recall@1', value: 0.03 }],
 *     [{ panel: 'Recall@1', label: 'paper KEMT 99.94% (CLAIMED)', value: 0.9994 }], { outFile: 'docs/img/ladder.png' });
 */
export async function ladderChart(points: readonly LadderPoint[], refs: readonly LadderReference[], opts: ChartOptions = {}): Promise<Buffer> {
  return renderVegaLite(ladderSpec(points, refs, opts), opts);
}

/** The Vega-Lite spec of {@link ladderChart}: an hconcat of one layered chart per panel. */
export function ladderSpec(points: readonly LadderPoint[], refs: readonly LadderReference[], opts: ChartOptions = {}): TopLevelSpec {
  const rows = points.filter((p) => p.value !== null && Number.isFinite(p.value));
  if (rows.length === 0) throw new Error('ladderChart: no finite value among the given points');
  const labels = [...new Map([...points].sort((a, b) => a.rung - b.rung).map((p) => [p.rung, p.rungLabel])).values()];
  const models = [...new Set(points.map((p) => p.model))];
  const panel = (name: LadderPoint['panel']): Record<string, unknown> => ({
    width: opts.width ?? 380,
    height: opts.height ?? 280,
    title: name === 'Recall@1' ? 'Text → image Recall@1 (as each rung reports it)' : 'ICDR accuracy',
    layer: [
      {
        data: { values: rows.filter((p) => p.panel === name) },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'rungLabel', type: 'ordinal', sort: labels, title: 'rung (each adds one leakage)', axis: { labelAngle: -35, labelLimit: 0 } },
          y: { field: 'value', type: 'quantitative', title: name, scale: { domain: [0, 1] }, axis: { format: '.0%' } },
          color: { field: 'model', type: 'nominal', sort: models, title: 'Model', legend: { orient: 'top' } },
        },
      },
      ...(refs.some((r) => r.panel === name) ? [
        {
          data: { values: refs.filter((r) => r.panel === name) },
          mark: { type: 'rule', strokeDash: [6, 4], color: '#888' },
          encoding: { y: { field: 'value', type: 'quantitative' } },
        },
        {
          data: { values: refs.filter((r) => r.panel === name) },
          mark: { type: 'text', align: 'left', dx: 4, dy: -6, fontSize: 10, color: '#555' },
          encoding: { y: { field: 'value', type: 'quantitative' }, x: { value: 0 }, text: { field: 'label' } },
        },
      ] : []),
    ],
  });
  return {
    title: titleOf(opts, 'The protocol ladder'),
    hconcat: [panel('Recall@1'), panel('ICDR accuracy')],
    resolve: { scale: { color: 'shared' } },
  } as unknown as TopLevelSpec;
}
