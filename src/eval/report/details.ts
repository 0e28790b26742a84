/**
 * Per-result detail sections of the report: retrieval for every pair with CIs, grading with the
 * majority-class baseline, referable DR, calibration, subgroup gaps, the modality ablation and the
 * run metadata. Every number comes from an EvalResult through formatMetric / withCI.
 */
import type { EvalResult, GradingBlock } from '../result.js';
import { SUBGROUP_METRICS, recallCI } from './columns.js';
import { formatMetric, withCI, type FormatKind } from './format.js';
import { mdTable } from './md.js';
import { COLLAPSED_SPREAD } from '../metrics/spread.js';

const ARROW: Record<string, string> = { text: 'text', image: 'image', tabular: 'tabular' };
const pairLabel = (pair: string): string => pair.split('->').map((m) => ARROW[m] ?? m).join(' → ');

/** Retrieval for every available pair, strict and duplicate-aware rows, Recall@K with 95% CIs. */
export function retrievalSection(results: readonly EvalResult[], labels: readonly string[]): string {
  const out = ['## Retrieval (all pairs)', '',
    'Recall@K with a 95% bootstrap interval over patients (queries resampled, the gallery fixed). Duplicate groups say what ' +
      'makes two items interchangeable under the duplicate-aware variant. Ranks are 1-based; ties count against the model.', ''];
  results.forEach((r, i) => {
    if (r.retrieval.length === 0) return;
    const ks = r.options.ks;
    out.push(`### ${labels[i]}`, '');
    const dead = Object.entries(r.spread ?? {}).filter(([, v]) => v !== null && v < COLLAPSED_SPREAD);
    if (dead.length > 0) {
      out.push(`**Warning: collapsed embeddings.** The ${dead.map(([k, v]) => `${k} (spread ${formatMetric(v, 'num')})`).join(', ')} ` +
        'embeddings map every test exam to nearly the same vector: this model failed to train, and its retrieval (and any probe on ' +
        'those embeddings) measures nothing. Retrain it (a lower train.lr or another train.seed) before comparing it.', '');
    }
    const rows = r.retrieval.flatMap((b) => (['strict', 'duplicate-aware'] as const).map((v) => {
      const res = v === 'strict' ? b.strict : b.duplicateAware;
      return [pairLabel(b.pair) + (b.gallery === 'fused' ? ' (fused image + record gallery: leakage)' : ''), v, b.duplicateGroups,
        ...ks.map((k) => withCI(res.recallAt[k], recallCI(r, b.pair, v, k), 'pct')),
        formatMetric(res.medianRank, 'num'), formatMetric(res.meanRank, 'num'), formatMetric(res.galleryN, 'int')];
    }));
    out.push(mdTable(['Pair', 'Variant', 'Duplicate groups', ...ks.map((k) => `R@${k}`), 'Median rank', 'Mean rank', 'Gallery'], rows), '');
    const g = r.retrieval.find((b) => b.gradeOnly !== undefined)?.gradeOnly;
    if (g !== undefined) {
      out.push(`Grade-only reference: a retriever that knew each item's true ICDR grade and nothing else (its own grade first, in random ` +
        `order) would reach ${ks.map((k) => `R@${k} ${formatMetric(g[String(k)] ?? null, 'pct')}`).join(', ')} (strict, expected, same galleries). ` +
        'Recall at this level is retrieval by grade alone; above it, the embeddings tell apart exams of the same grade.', '');
    }
  });
  return out.join('\n').trimEnd();
}

function gradingRow(label: string, g: GradingBlock): string[] {
  const rep = g.report;
  const mb = rep.majorityBaseline;
  return [label, g.scale, g.source, formatMetric(g.n, 'int'),
    withCI(rep.accuracy, g.ci.accuracy, 'pct'),
    `${formatMetric(mb.accuracy, 'pct')} (always grade ${mb.majorityClass})`,
    withCI(rep.macroF1, g.ci.macroF1, 'pct'),
    withCI(rep.kappa, g.ci.kappa, 'num'),
    rep.perGradeRecall.map((x, c) => `${c}: ${formatMetric(x, 'pct')}`).join(', ')];
}

/** Grading on ICDR and SDRG, with CIs and the majority-class baseline next to accuracy. */
export function gradingSection(results: readonly EvalResult[], labels: readonly string[]): string {
  const rows = results.flatMap((r, i) => [r.grading.icdr, r.grading.sdrg].filter((g): g is GradingBlock => g !== null).map((g) => gradingRow(labels[i]!, g)));
  return ['## Grading', '',
    'Accuracy next to the majority-class baseline (a predictor that always answers the most frequent grade of the test set); ' +
      'macro-F1 and quadratic-weighted kappa (QW κ) do not reward that predictor. 95% bootstrap intervals over patients. ' +
      'Items of unknown grade are left out. "linear probe" = grades from a probe on frozen embeddings (CLIP baseline).', '',
    rows.length === 0 ? '_No result has grade predictions._' : mdTable(
      ['Model', 'Scale', 'Grading from', 'n', 'Accuracy [95% CI]', 'Majority-class accuracy', 'Macro-F1 [95% CI]', 'QW κ [95% CI]', 'Recall per grade'], rows),
  ].join('\n');
}

/** Referable DR (ICDR >= 2): sensitivity, specificity at the threshold, AUC. */
export function referableSection(results: readonly EvalResult[], labels: readonly string[]): string {
  const rows = results.flatMap((r, i) => {
    const f = r.referable;
    if (!f) return [];
    return [[labels[i]!, `${formatMetric(f.report.nPositive, 'int')} / ${formatMetric(f.report.nNegative, 'int')}`, formatMetric(f.report.threshold, 'num'),
      withCI(f.report.sensitivity, f.ci.sensitivity, 'pct'), withCI(f.report.specificity, f.ci.specificity, 'pct'), withCI(f.report.auc, f.ci.auc, 'num')]];
  });
  return ['## Referable DR (ICDR ≥ 2)', '',
    'Score = P(grade 2) + P(grade 3) + P(grade 4); referable when the score reaches the threshold. 95% bootstrap intervals over patients.', '',
    rows.length === 0 ? '_No result has ICDR predictions._' : mdTable(['Model', 'Referable / not', 'Threshold', 'Sensitivity [95% CI]', 'Specificity [95% CI]', 'AUC [95% CI]'], rows),
  ].join('\n');
}

/** Top-label ECE before and after temperature scaling fitted on validation logits. */
export function calibrationSection(results: readonly EvalResult[], labels: readonly string[]): string {
  const rows = results.flatMap((r, i) => [r.calibration.icdr, r.calibration.sdrg].flatMap((c) => (c ? [[
    labels[i]!, c.scale, formatMetric(c.nBins, 'int'), formatMetric(c.before.ece, 'num'),
    c.after ? formatMetric(c.after.temperature, 'num') : 'not fitted (needs test and validation logits)',
    c.after ? formatMetric(c.after.ece, 'num') : formatMetric(null),
    c.after ? `${formatMetric(c.after.valNllBefore, 'num')} → ${formatMetric(c.after.valNllAfter, 'num')}` : formatMetric(null),
  ]] : [])));
  return ['## Calibration', '',
    'Expected calibration error (ECE, top label, equal-width bins) on the test set, before and after dividing the logits by a ' +
      'temperature T fitted to minimise the validation negative log-likelihood (NLL).', '',
    rows.length === 0 ? '_No result has grade probabilities._' : mdTable(['Model', 'Scale', 'Bins', 'ECE before', 'Temperature T', 'ECE after', 'Validation NLL before → after'], rows),
  ].join('\n');
}

/** Largest gap per metric between subgroups of sex, age band and camera. */
export function subgroupSection(results: readonly EvalResult[], labels: readonly string[]): string {
  const out = ['## Subgroups', '',
    'Per attribute and metric, the largest difference between scored subgroups (highest − lowest). Subgroups smaller than ' +
      'the minimum size are not scored and are listed as skipped.', ''];
  let any = false;
  results.forEach((r, i) => {
    if (r.subgroups.length === 0) return;
    any = true;
    out.push(`### ${labels[i]} (minimum subgroup size ${formatMetric(r.options.subgroupMinSize, 'int')})`, '');
    const rows = r.subgroups.flatMap((s) => {
      const skipped = s.skipped.map((x) => `${x.group} (n=${formatMetric(x.n, 'int')})`).join(', ') || '—';
      const size = (name: string): string => formatMetric(s.groups.find((x) => x.group === name)?.n ?? null, 'int');
      const gaps = Object.entries(s.gaps);
      // An attribute with fewer than two scored subgroups has no gap for any metric: one row says so.
      if (gaps.every(([, g]) => g === null)) return [[s.attribute, 'all', 'n/a (fewer than two scored subgroups)', '—', '—', skipped]];
      return gaps.map(([metric, g]) => {
        const info = SUBGROUP_METRICS[metric] ?? { label: metric, kind: 'num' as FormatKind };
        if (!g) return [s.attribute, info.label, 'n/a (fewer than two subgroups with a value)', '—', '—', skipped];
        const lowest = g.minGroup === g.maxGroup ? 'all scored subgroups equal' : `${g.minGroup} (n=${size(g.minGroup)}): ${formatMetric(g.min, info.kind)}`;
        return [s.attribute, info.label, formatMetric(g.gap, info.kind === 'pct' ? 'pp' : 'delta'),
          `${g.maxGroup} (n=${size(g.maxGroup)}): ${formatMetric(g.max, info.kind)}`, lowest, skipped];
      });
    });
    out.push(mdTable(['Attribute', 'Metric', 'Largest gap', 'Highest', 'Lowest', 'Skipped'], rows), '');
  });
  if (!any) out.push('_No subgroup analysis in the results._');
  return out.join('\n').trimEnd();
}

/** Grading per inference modality setting on the same test set. */
export function ablationSection(results: readonly EvalResult[], labels: readonly string[]): string {
  const out = ['## Modality ablation', '',
    'Grading on the same test set with only some modalities given at inference (image only is the common clinical case).', ''];
  let any = false;
  results.forEach((r, i) => {
    if (r.ablation.length === 0) return;
    any = true;
    out.push(`### ${labels[i]}`, '');
    const dead = Object.entries(r.spread ?? {}).filter(([, v]) => v !== null && v < COLLAPSED_SPREAD);
    if (dead.length > 0) {
      out.push(`**Warning: collapsed embeddings.** The ${dead.map(([k, v]) => `${k} (spread ${formatMetric(v, 'num')})`).join(', ')} ` +
        'embeddings map every test exam to nearly the same vector: this model failed to train, and its retrieval (and any probe on ' +
        'those embeddings) measures nothing. Retrain it (a lower train.lr or another train.seed) before comparing it.', '');
    }
    out.push(mdTable(['Modalities', 'ICDR acc', 'ICDR QW κ [95% CI]', 'ICDR macro-F1', 'SDRG acc', 'SDRG QW κ', 'Referable AUC'],
      r.ablation.map((a) => [a.setting, formatMetric(a.icdr?.accuracy, 'pct'), withCI(a.icdr?.kappa, a.icdrKappaCI, 'num'), formatMetric(a.icdr?.macroF1, 'pct'),
        formatMetric(a.sdrg?.accuracy, 'pct'), formatMetric(a.sdrg?.kappa, 'num'), formatMetric(a.referableAuc, 'num')])), '');
  });
  if (!any) out.push('_No modality ablation in the results._');
  return out.join('\n').trimEnd();
}

/** Where each result comes from: checkpoint, config, seeds, machine. */
export function runSection(results: readonly EvalResult[], labels: readonly string[]): string {
  const rows = results.map((r, i) => [labels[i]!, `${r.dataset}/${r.split}`, formatMetric(r.n, 'int'), formatMetric(r.nPatients, 'int'), r.modalities,
    r.run.checkpoint ?? '—', r.run.config ?? '—', formatMetric(r.run.seed, 'int'), formatMetric(r.run.wallTimeS, 'seconds'),
    `${r.run.machine.cpuModel} × ${formatMetric(r.run.machine.cpus, 'int')} (${r.run.machine.platform}, Node ${r.run.machine.node})`,
    `${formatMetric(r.options.bootstrap, 'int')} resamples, seed ${formatMetric(r.options.seed, 'int')}`]);
  return ['## Runs', '', mdTable(['Model', 'Test set', 'Images', 'Patients', 'Modalities', 'Checkpoint', 'Config', 'Training seed', 'Wall time', 'Machine', 'Bootstrap'], rows)].join('\n');
}
