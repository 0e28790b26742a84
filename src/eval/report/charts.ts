/**
 * The report's PNG charts, drawn from EvalResult objects (and training logs) with the chart
 * functions of src/eval/charts; each returns a link (path relative to the report) and a caption.
 */
import { join } from 'node:path';
import {
  confusionMatrixChart, embeddingScatterChart, recallAtKChart, reliabilityChart, rocChart, trainingCurvesChart, type LogRow,
} from '../charts/index.js';
import type { ReliabilityBin } from '../metrics/calibration.js';
import type { RetrievalResult } from '../metrics/retrieval.js';
import type { EvalResult, RetrievalBlock } from '../result.js';
import { retrievalBlock } from './columns.js';

/** A chart written under outDir/charts, linked from the report with a relative path. */
export interface ChartLink {
  /** Report section it belongs to. */
  section: 'retrieval' | 'grading' | 'referable' | 'calibration' | 'embeddings' | 'training';
  caption: string;
  /** Path relative to the report, e.g. 'charts/roc-referable.png'. */
  file: string;
}

/**
 * File-name-safe slug: 'retalign · paper' -> 'retalign-paper'.
 *
 * @example slug('CLIP baseline · honest') // -> 'clip-baseline-honest'
 */
export function slug(s: string): string {
  return s.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'x';
}

const nan = (x: number | null): number => x ?? NaN;

/** Stored retrieval numbers back to the chart's type (null -> NaN, which charts skip). */
function asResult(r: RetrievalBlock['strict']): RetrievalResult {
  const recallAt: Record<number, number> = {};
  for (const [k, v] of Object.entries(r.recallAt)) recallAt[Number(k)] = nan(v ?? null);
  return { protocol: r.protocol, recallAt, medianRank: nan(r.medianRank), meanRank: nan(r.meanRank), n: nan(r.n), galleryN: nan(r.galleryN) };
}

function asBins(bins: readonly { lo: number | null; hi: number | null; count: number | null; meanConfidence: number | null; accuracy: number | null }[]): ReliabilityBin[] {
  return bins.map((b) => ({ lo: nan(b.lo), hi: nan(b.hi), count: b.count ?? 0, meanConfidence: nan(b.meanConfidence), accuracy: nan(b.accuracy) }));
}

/** Numeric keys of a log row, nested objects flattened one level ('parts.itc'), as the chart does. */
function numericKeys(row: LogRow): string[] {
  return Object.entries(row).flatMap(([k, v]) => {
    if (typeof v === 'number') return [k];
    if (v && typeof v === 'object' && !Array.isArray(v)) return Object.entries(v as Record<string, unknown>).filter(([, x]) => typeof x === 'number').map(([k2]) => `${k}.${k2}`);
    return [];
  });
}

/**
 * Training rows and parts to plot: 'train' lines when the log has typed lines (src/train/progress.ts),
 * and the loss keys ('loss', 'parts.*', anything naming a loss) when there are any, else every
 * numeric key except bookkeeping ones.
 */
export function trainingSeries(rows: readonly LogRow[]): { rows: LogRow[]; parts: string[] } {
  const typed = rows.some((r) => typeof r['type'] === 'string');
  const kept = rows.filter((r) => (!typed || r['type'] === 'train') && typeof r['step'] === 'number');
  const keys = [...new Set(kept.flatMap(numericKeys))].filter((k) => k !== 'step');
  const losses = keys.filter((k) => k === 'loss' || k.startsWith('parts.') || /loss/i.test(k));
  const bookkeeping = new Set(['epoch', 'lr', 'gradNorm', 'samples', 'samplesPerSec', 'time', 'elapsed']);
  return { rows: kept, parts: losses.length > 0 ? losses : keys.filter((k) => !bookkeeping.has(k)) };
}

/**
 * Renders every chart the results allow into `chartsDir` (created by the chart functions).
 *
 * @example const links = await writeCharts(results, resultLabels(results), 'out/charts', { trainingLogs });
 */
export async function writeCharts(
  results: readonly EvalResult[], labels: readonly string[], chartsDir: string, opts: { trainingLogs?: Record<string, readonly LogRow[]> } = {},
): Promise<ChartLink[]> {
  const links: ChartLink[] = [];
  const used = new Set<string>();
  const draw = async (section: ChartLink['section'], caption: string, base: string, render: (outFile: string) => Promise<Buffer>): Promise<void> => {
    let name = slug(base);
    for (let i = 2; used.has(name); i++) name = `${slug(base)}-${i}`;
    used.add(name);
    await render(join(chartsDir, `${name}.png`));
    links.push({ section, caption, file: `charts/${name}.png` });
  };

  // Recall@K bars: in-domain text -> image, and zero-shot separately (different galleries).
  for (const zs of [false, true]) {
    const series = results.flatMap((r, i) => {
      const b = (r.zeroShot !== null) === zs ? retrievalBlock(r, 'text->image') : undefined;
      return b ? [{ model: labels[i]!, results: [asResult(b.strict), asResult(b.duplicateAware)] }] : [];
    });
    if (series.length === 0) continue;
    const title = zs ? 'Zero-shot text → image Recall@K' : 'Text → image Recall@K';
    await draw('retrieval', `${title}, strict vs duplicate-aware, per model`, zs ? 'recall-t2i-zero-shot' : 'recall-t2i', (outFile) =>
      recallAtKChart(series, { title, outFile }));
  }

  for (const [i, r] of results.entries()) {
    for (const g of [r.grading.icdr, r.grading.sdrg]) {
      if (!g) continue;
      await draw('grading', `${g.scale} confusion matrix, ${labels[i]}`, `confusion-${g.scale}-${labels[i]}`, (outFile) =>
        confusionMatrixChart(g.report.confusion.map((row) => row.map((v) => v ?? 0)), {
          title: `${g.scale} confusion matrix`, subtitle: `${labels[i]}; grades from ${g.source}; n = ${g.n}`, scaleName: `${g.scale} grade`, outFile,
        }));
    }
  }

  const roc = results.flatMap((r, i) => (r.referable && !r.zeroShot ? [{
    name: labels[i]!, auc: nan(r.referable.report.auc),
    points: r.referable.report.roc.map((p) => ({ threshold: p.threshold ?? Infinity, fpr: nan(p.fpr), tpr: nan(p.tpr) })),
  }] : []));
  if (roc.length > 0) {
    await draw('referable', 'ROC curves of referable DR (ICDR ≥ 2), all models', 'roc-referable', (outFile) =>
      rocChart(roc, { title: 'Referable DR (ICDR ≥ 2)', outFile }));
  }

  for (const [i, r] of results.entries()) {
    for (const c of [r.calibration.icdr, r.calibration.sdrg]) {
      if (!c) continue;
      const after = c.after;
      const which = after ? `after temperature scaling (T = ${after.temperature.toFixed(3)})` : 'before temperature scaling';
      await draw('calibration', `${c.scale} reliability diagram ${which}, ${labels[i]}`, `reliability-${c.scale}-${labels[i]}`, (outFile) =>
        reliabilityChart(asBins(after ? after.bins : c.before.bins), {
          title: `${c.scale} reliability`, subtitle: `${labels[i]}; ${which}`, ece: nan(after ? after.ece : c.before.ece), outFile,
        }));
    }
  }

  for (const [i, r] of results.entries()) {
    const e = r.embedding2d;
    if (!e || e.imageIds.length === 0) continue;
    const byIcdr = e.icdr.some((g) => g !== null);
    await draw('embeddings', `Image embeddings (${e.method.toUpperCase()}, ${e.imageIds.length} sampled images) coloured by ${byIcdr ? 'ICDR' : 'SDRG'} grade, ${labels[i]}`,
      `embeddings-${labels[i]}`, (outFile) =>
        embeddingScatterChart(e.points, byIcdr ? e.icdr : e.sdrg, {
          title: `Image embeddings (${e.method.toUpperCase()})`, subtitle: `${labels[i]}; n = ${e.imageIds.length}`, scaleName: `${byIcdr ? 'ICDR' : 'SDRG'} grade`, outFile,
        }));
  }

  for (const [run, logRows] of Object.entries(opts.trainingLogs ?? {})) {
    const s = trainingSeries(logRows);
    if (s.rows.length === 0 || s.parts.length === 0) continue;
    await draw('training', `Training curves, ${run}`, `training-${run}`, (outFile) =>
      trainingCurvesChart(s.rows, { parts: s.parts, title: `Training curves: ${run}`, outFile }));
  }
  return links;
}
