/**
 * The report's protocol-ladder section: a table rung x metric (mean over seeds), a chart of Recall@1
 * and ICDR accuracy up the rungs with the paper's CLAIMED numbers as reference lines, a sentence per
 * rung saying what it added, and a verdict: at which rung (if any) our numbers reach the paper's.
 * The rungs themselves are defined by the ladder job (src/job/ladder-rungs.ts); this module only
 * reads EvalResults.
 *
 * @example
 *   const md = await ladderSection(summary, 'out/charts'); // also writes out/charts/ladder.png
 */
import { join } from 'node:path';
import type { EvalResult } from '../result.js';
import { ladderChart, type LadderPoint, type LadderReference } from '../charts/ladder.js';
import { PAPER_CLAIMS } from './claims.js';
import { recallAt, retrievalBlock } from './columns.js';
import { formatMetric, type FormatKind } from './format.js';
import { mdTable } from './md.js';

/** What the section needs to know about a rung. */
export interface LadderRungInfo {
  n: number;
  name: string;
  adds: string;
  /** The setting it changes and its value ('' for rung 1). */
  change: string;
  /** The Recall@1 variant the rung reports (the chart's line). */
  r1Variant: 'strict' | 'duplicate-aware';
}

/** One evaluated rung of one model and seed. */
export interface LadderEntry {
  /** Display name of the model (e.g. the run config's name). */
  model: string;
  kind: 'kemt' | 'clip';
  seed: number;
  rung: number;
  result: EvalResult;
}

export interface LadderSummary {
  /** The twin or dataset, e.g. 'synthetic twin (balanced, 300 patients)'. */
  dataset: string;
  rungs: readonly LadderRungInfo[];
  entries: readonly LadderEntry[];
  /** Wall time of the whole ladder (seconds), when known. */
  wallTimeS?: number | null;
}

/** One metric of the ladder table. */
interface LadderMetric {
  header: string;
  kind: FormatKind;
  get: (r: EvalResult, rung: LadderRungInfo) => number | null;
}

/** The Recall@1 a rung reports: strict up to rung 5, duplicate-aware from rung 6. */
export function reportedR1(r: EvalResult, rung: Pick<LadderRungInfo, 'r1Variant'>): number | null {
  return recallAt(r, 'text->image', rung.r1Variant, 1);
}

const METRICS: readonly LadderMetric[] = [
  { header: 't2i R@1 (strict)', kind: 'pct', get: (r) => recallAt(r, 'text->image', 'strict', 1) },
  { header: 't2i R@1 (dup-aware)', kind: 'pct', get: (r) => recallAt(r, 'text->image', 'duplicate-aware', 1) },
  { header: 't2i R@10 (strict)', kind: 'pct', get: (r) => recallAt(r, 'text->image', 'strict', 10) },
  { header: 'ICDR acc', kind: 'pct', get: (r) => r.grading.icdr?.report.accuracy ?? null },
  { header: 'ICDR κ', kind: 'num', get: (r) => r.grading.icdr?.report.kappa ?? null },
  { header: 'SDRG acc', kind: 'pct', get: (r) => r.grading.sdrg?.report.accuracy ?? null },
  { header: 'Referable AUC', kind: 'num', get: (r) => r.referable?.report.auc ?? null },
  { header: 'Majority-class acc (ICDR)', kind: 'pct', get: (r) => r.grading.icdr?.report.majorityBaseline.accuracy ?? null },
];

/** Mean of the finite values, null when none. */
function mean(xs: readonly (number | null)[]): number | null {
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x));
  return v.length === 0 ? null : v.reduce((a, b) => a + b, 0) / v.length;
}

/** The entries of one model and rung (all seeds). */
function cell(s: LadderSummary, model: string, rung: number): LadderEntry[] {
  return s.entries.filter((e) => e.model === model && e.rung === rung);
}

/** Models in order of first appearance. */
function modelsOf(s: LadderSummary): string[] {
  return [...new Set(s.entries.map((e) => e.model))];
}

/** What the text -> image gallery was: 'image' / 'fused', with its size. */
function galleryOf(r: EvalResult): string {
  const b = retrievalBlock(r, 'text->image');
  if (!b) return '—';
  return `${b.gallery === 'fused' ? 'fused' : 'image'}, ${formatMetric(b.strict.galleryN, 'int')}`;
}

/** Mean over seeds of a metric for one model and rung (null when no seed has it). */
export function ladderMean(s: LadderSummary, model: string, rung: LadderRungInfo, get: (r: EvalResult, rung: LadderRungInfo) => number | null): number | null {
  return mean(cell(s, model, rung.n).map((e) => get(e.result, rung)));
}

/** Points of the ladder chart (mean over seeds) and the paper's reference lines. */
export function ladderChartData(s: LadderSummary): { points: LadderPoint[]; refs: LadderReference[] } {
  const points: LadderPoint[] = [];
  for (const model of modelsOf(s)) {
    for (const rung of s.rungs) {
      if (cell(s, model, rung.n).length === 0) continue;
      const rungLabel = `${rung.n} ${rung.name}`;
      points.push({ rung: rung.n, rungLabel, model, panel: 'Recall@1', value: ladderMean(s, model, rung, reportedR1) });
      points.push({ rung: rung.n, rungLabel, model, panel: 'ICDR accuracy', value: ladderMean(s, model, rung, (r) => r.grading.icdr?.report.accuracy ?? null) });
    }
  }
  // The majority-class accuracy of each rung's evaluated set (the first model's; the set is the same for every model of a rung).
  const first = modelsOf(s)[0];
  for (const rung of s.rungs) {
    if (first === undefined || cell(s, first, rung.n).length === 0) continue;
    points.push({ rung: rung.n, rungLabel: `${rung.n} ${rung.name}`, model: 'majority class (always the commonest grade)', panel: 'ICDR accuracy',
      value: ladderMean(s, first, rung, (r) => r.grading.icdr?.report.majorityBaseline.accuracy ?? null) });
  }
  const refs: LadderReference[] = [
    { panel: 'Recall@1', label: `paper KEMT ${formatMetric(PAPER_CLAIMS.kemt.t2iR1, 'pct')} (CLAIMED)`, value: PAPER_CLAIMS.kemt.t2iR1 },
    { panel: 'Recall@1', label: `paper CLIP ${formatMetric(PAPER_CLAIMS.clip.t2iR1, 'pct')} (CLAIMED)`, value: PAPER_CLAIMS.clip.t2iR1 },
    { panel: 'ICDR accuracy', label: `paper KEMT ${formatMetric(PAPER_CLAIMS.kemt.icdrAccuracy, 'pct')} (CLAIMED)`, value: PAPER_CLAIMS.kemt.icdrAccuracy },
  ];
  return { points, refs };
}

/** A claimed number counts as reached within this margin (1 percentage point). */
export const REACH_MARGIN = 0.01;

/**
 * The verdict for one model of kind 'kemt': the first rung whose mean reported Recall@1 and mean ICDR
 * accuracy each come within REACH_MARGIN of the paper's, or the best rung of each when none does.
 */
export function ladderVerdict(s: LadderSummary, model: string): string {
  const find = (what: string, claim: number, get: (r: EvalResult, rung: LadderRungInfo) => number | null): string => {
    let best: { rung: number; v: number } | null = null;
    for (const rung of s.rungs) {
      const v = ladderMean(s, model, rung, get);
      if (v === null) continue;
      if (v >= claim - REACH_MARGIN) return `${what} reaches the paper's ${formatMetric(claim, 'pct')} at rung ${rung.n} (${rung.name}: ${formatMetric(v, 'pct')})`;
      if (best === null || v > best.v) best = { rung: rung.n, v };
    }
    return best === null ? `${what}: no value` :
      `${what} never reaches the paper's ${formatMetric(claim, 'pct')} (best ${formatMetric(best.v, 'pct')} at rung ${best.rung})`;
  };
  return `${model}: ${find('Recall@1', PAPER_CLAIMS.kemt.t2iR1, reportedR1)}; ${find('ICDR accuracy', PAPER_CLAIMS.kemt.icdrAccuracy, (r) => r.grading.icdr?.report.accuracy ?? null)}.`;
}

/**
 * The section's Markdown; writes the chart to `<chartsDir>/ladder.png` and links it as
 * `<chartLink>` (default 'charts/ladder.png').
 */
export async function ladderSection(s: LadderSummary, chartsDir: string, chartLink = 'charts/ladder.png'): Promise<string> {
  if (s.entries.length === 0) throw new Error(`ladderSection: no evaluated rung for ${s.dataset} (expected at least one entry)`);
  const models = modelsOf(s);
  const seedsOf = (model: string, rung: number): string => cell(s, model, rung).map((e) => e.seed).sort((a, b) => a - b).join(', ');
  const rows = s.rungs.flatMap((rung) => models.flatMap((model) => {
    const c = cell(s, model, rung.n);
    if (c.length === 0) return [];
    return [[`${rung.n} ${rung.name}`, model, seedsOf(model, rung.n), ...METRICS.map((m) => formatMetric(ladderMean(s, model, rung, m.get), m.kind)),
      [...new Set(c.map((e) => galleryOf(e.result)))].join('; '), [...new Set(c.map((e) => e.result.split))].join('; ')]];
  }));
  const dash = '—';
  const claimed = ['CLAIMED (paper, not ours)', 'kemt', dash, formatMetric(PAPER_CLAIMS.kemt.t2iR1, 'pct'), dash, dash,
    formatMetric(PAPER_CLAIMS.kemt.icdrAccuracy, 'pct'), dash, formatMetric(PAPER_CLAIMS.kemt.sdrgAccuracy, 'pct'), dash, dash, 'not stated', 'not stated'];
  const claimedClip = ['CLAIMED (paper, not ours)', 'clip', dash, formatMetric(PAPER_CLAIMS.clip.t2iR1, 'pct'), dash, dash, dash, dash, dash, dash, dash, 'not stated', 'not stated'];
  const { points, refs } = ladderChartData(s);
  await ladderChart(points, refs, { title: 'The protocol ladder', subtitle: `${s.dataset}; mean over seeds`, outFile: join(chartsDir, 'ladder.png') });
  const kemt = models.filter((m) => s.entries.some((e) => e.model === m && e.kind === 'kemt'));
  return [
    '## The protocol ladder',
    '',
    `From the honest protocol (rung 1) to the most permissive (rung ${s.rungs[s.rungs.length - 1]?.n ?? dash}), each rung adding exactly one ` +
      `leakage as one setting of the run config; every rung of a model is trained with the same model, seeds and budget on ${s.dataset}. ` +
      'Rungs that change only the evaluation (fused gallery, gallery size, evaluated split) evaluate the model trained for the rung ' +
      'before them. Numbers are means over the seeds listed. The chart\'s Recall@1 is the variant each rung reports (strict up to rung 5, ' +
      'duplicate-aware from rung 6); the table has both. The rows marked CLAIMED are the paper\'s published numbers, not ours.',
    '',
    mdTable(['Rung', 'Model', 'Seeds', ...METRICS.map((m) => m.header), 'Gallery (embedding, size)', 'Evaluated split'], [...rows, claimed, claimedClip]),
    '',
    `![The protocol ladder: Recall@1 and ICDR accuracy per rung, with the paper's CLAIMED numbers as dashed lines](${chartLink})`,
    '',
    'What each rung adds:',
    '',
    ...s.rungs.map((r) => `${r.n}. **${r.name}**${r.change ? ` (\`${r.change}\`)` : ''}: ${r.adds}`),
    '',
    `Where the paper's numbers are reached (within ${REACH_MARGIN * 100} percentage point):`,
    '',
    ...(kemt.length > 0 ? kemt.map((m) => `- ${ladderVerdict(s, m)}`) : ['- _No KEMT model in the ladder._']),
    ...(s.wallTimeS ? ['', `Wall time of the ladder: ${(s.wallTimeS / 60).toFixed(1)} min (summed over its invocations).`] : []),
  ].join('\n');
}
