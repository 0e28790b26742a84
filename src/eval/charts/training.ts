/**
 * Training curves: each logged loss part against the step, from the rows of a JSONL training log.
 * Nested objects are flattened one level with a dot (`{ loss: { itc: 1 } }` -> `loss.itc`).
 * Loss parts differ in scale (MLM ~ 10, InfoNCE ~ 4, MAE ~ 1), so the default layout gives each part
 * its own panel and y axis; 'overlay' draws all parts on one axis.
 */
import type { TopLevelSpec } from 'vega-lite';
import { renderVegaLite, titleOf, type ChartOptions } from './render.js';

/** Options of {@link trainingCurvesChart}. */
export interface TrainingChartOptions extends ChartOptions {
  /** Key of the x value. Default 'step'. */
  stepKey?: string;
  /** Keys (after flattening) to plot. Default: every numeric key except the step key. */
  parts?: readonly string[];
  /** 'panels' (default): one small chart per part with its own y axis; 'overlay': one chart. */
  layout?: 'panels' | 'overlay';
  /** y scale. Default 'linear'. */
  yScale?: 'linear' | 'log';
  /** Panels per row in the 'panels' layout. Default 3. */
  columns?: number;
}

/** A log row: numbers, or one level of nested numbers; other values are ignored. */
export type LogRow = Readonly<Record<string, unknown>>;

function flatten(row: LogRow): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(row)) {
    if (typeof v === 'number') out[k] = v;
    else if (v && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) if (typeof v2 === 'number') out[`${k}.${k2}`] = v2;
    }
  }
  return out;
}

/**
 * PNG of loss parts vs step.
 *
 * @example
 *   const rows = readFileSync('run/log.jsonl', 'utf8').trim().split('\n').map((l) => JSON.parse(l));
 *   await trainingCurvesChart(rows, { parts: ['loss.itc', 'loss.mlm', 'loss.mae'], outFile: 'out/train.png' });
 */
export async function trainingCurvesChart(rows: readonly LogRow[], opts: TrainingChartOptions = {}): Promise<Buffer> {
  return renderVegaLite(trainingCurvesSpec(rows, opts), opts);
}

/**
 * The Vega-Lite spec of {@link trainingCurvesChart}: one data row per log row and part with a
 * finite value (positive on a log scale), `{ step, part: 'loss.itc', value }`.
 *
 * @example trainingCurvesSpec([{ step: 0, loss: { itc: 4 } }]).data // { values: [{ step: 0, part: 'loss.itc', value: 4 }] }
 */
export function trainingCurvesSpec(rows: readonly LogRow[], opts: TrainingChartOptions = {}): TopLevelSpec {
  const stepKey = opts.stepKey ?? 'step';
  const flat = rows.map(flatten);
  flat.forEach((r, i) => {
    if (typeof r[stepKey] !== 'number') throw new Error(`trainingCurvesChart: row ${i} has no numeric '${stepKey}' (keys: ${Object.keys(rows[i] ?? {}).join(', ')})`);
  });
  const seen = new Set<string>();
  for (const r of flat) for (const k of Object.keys(r)) if (k !== stepKey) seen.add(k);
  const parts = opts.parts ? [...opts.parts] : [...seen];
  const missing = parts.filter((p) => !seen.has(p));
  if (missing.length > 0) throw new Error(`trainingCurvesChart: part(s) ${missing.join(', ')} not in any row; numeric keys are: ${[...seen].join(', ')}`);
  if (parts.length === 0) throw new Error(`trainingCurvesChart: no numeric keys besides '${stepKey}' to plot`);
  const log = opts.yScale === 'log';
  const data: { step: number; part: string; value: number }[] = [];
  for (const r of flat) {
    for (const p of parts) {
      const v = r[p];
      if (v !== undefined && Number.isFinite(v) && (!log || v > 0)) data.push({ step: r[stepKey] as number, part: p, value: v });
    }
  }
  // Step labels: 0, 500, 1k, 1.5k, ... (d3's SI format would print "0k" at zero).
  const labelExpr = "datum.value >= 1000 ? format(datum.value / 1000, '~g') + 'k' : format(datum.value, '~g')";
  const x = { field: 'step', type: 'quantitative' as const, title: stepKey, axis: { labelExpr } };
  const y = { field: 'value', type: 'quantitative' as const, title: 'loss', scale: log ? { type: 'log' as const } : { zero: false } };
  const title = titleOf(opts, 'Training curves');
  const spec: TopLevelSpec =
    opts.layout === 'overlay'
      ? {
          title,
          width: opts.width ?? 520,
          height: opts.height ?? 300,
          data: { values: data },
          mark: { type: 'line', strokeWidth: 1.8 },
          encoding: { x, y, color: { field: 'part', type: 'nominal', sort: parts, title: 'part' } },
        }
      : {
          // concat rather than a wrapped facet: a facet leaves an empty axis under unused cells.
          title,
          data: { values: data },
          columns: Math.min(opts.columns ?? 3, parts.length),
          concat: parts.map((p) => ({
            title: { text: p, fontSize: 13, anchor: 'middle' as const },
            width: opts.width ?? 240,
            height: opts.height ?? 160,
            transform: [{ filter: { field: 'part', equal: p } }],
            mark: { type: 'line' as const, strokeWidth: 1.8, color: '#4c78a8' },
            encoding: { x, y: { ...y, title: null } },
          })),
        };
  return spec;
}
