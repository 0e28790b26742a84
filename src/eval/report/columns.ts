/**
 * Named accessors of EvalResult numbers and the column sets of the report's tables. Each column
 * knows how its number is formatted, so tables and tests format a value the same way.
 */
import type { EvalResult, RetrievalBlock, RetrievalPair, StoredCI } from '../result.js';
import type { FormatKind } from './format.js';

/** One table column: a header, a number taken from a result, and its format. */
export interface Column {
  header: string;
  kind: FormatKind;
  get: (r: EvalResult) => number | null;
}

/** The retrieval block of a pair, if the result has one. */
export function retrievalBlock(r: EvalResult, pair: RetrievalPair): RetrievalBlock | undefined {
  return r.retrieval.find((b) => b.pair === pair);
}

/**
 * Recall@K of one pair and variant, null when absent.
 *
 * @example recallAt(result, 'text->image', 'strict', 1) // -> 0.42
 */
export function recallAt(r: EvalResult, pair: RetrievalPair, variant: 'strict' | 'duplicate-aware', k: number): number | null {
  const b = retrievalBlock(r, pair);
  if (!b) return null;
  const res = variant === 'strict' ? b.strict : b.duplicateAware;
  return res.recallAt[k] ?? null;
}

/** Bootstrap CI of Recall@K of one pair and variant, null when absent. */
export function recallCI(r: EvalResult, pair: RetrievalPair, variant: 'strict' | 'duplicate-aware', k: number): StoredCI | null {
  const b = retrievalBlock(r, pair);
  if (!b) return null;
  return (variant === 'strict' ? b.ci.strict : b.ci.duplicateAware)[String(k)] ?? null;
}

const t2i = (variant: 'strict' | 'duplicate-aware', k: number) => (r: EvalResult) => recallAt(r, 'text->image', variant, k);

/** Headline table (the paper's shape). Retrieval columns say their variant in the header. */
export const HEADLINE_COLUMNS: readonly Column[] = [
  { header: 't2i R@1 (strict)', kind: 'pct', get: t2i('strict', 1) },
  { header: 't2i R@5 (strict)', kind: 'pct', get: t2i('strict', 5) },
  { header: 't2i R@10 (strict)', kind: 'pct', get: t2i('strict', 10) },
  { header: 't2i R@1 (dup-aware)', kind: 'pct', get: t2i('duplicate-aware', 1) },
  { header: 'i2t R@1 (strict)', kind: 'pct', get: (r) => recallAt(r, 'image->text', 'strict', 1) },
  { header: 'ICDR acc', kind: 'pct', get: (r) => r.grading.icdr?.report.accuracy ?? null },
  { header: 'ICDR κ', kind: 'num', get: (r) => r.grading.icdr?.report.kappa ?? null },
  { header: 'SDRG acc', kind: 'pct', get: (r) => r.grading.sdrg?.report.accuracy ?? null },
  { header: 'SDRG κ', kind: 'num', get: (r) => r.grading.sdrg?.report.kappa ?? null },
  { header: 'Referable AUC', kind: 'num', get: (r) => r.referable?.report.auc ?? null },
];

/** Leakage-audit rows: the same metric under the paper and the honest protocol. */
export const AUDIT_METRICS: readonly Column[] = [
  { header: 't2i R@1 (strict)', kind: 'pct', get: t2i('strict', 1) },
  { header: 't2i R@1 (dup-aware)', kind: 'pct', get: t2i('duplicate-aware', 1) },
  { header: 't2i R@10 (strict)', kind: 'pct', get: t2i('strict', 10) },
  { header: 'i2t R@1 (strict)', kind: 'pct', get: (r) => recallAt(r, 'image->text', 'strict', 1) },
  { header: 'ICDR accuracy', kind: 'pct', get: (r) => r.grading.icdr?.report.accuracy ?? null },
  { header: 'ICDR majority-class accuracy', kind: 'pct', get: (r) => r.grading.icdr?.report.majorityBaseline.accuracy ?? null },
  { header: 'ICDR QW kappa', kind: 'num', get: (r) => r.grading.icdr?.report.kappa ?? null },
  { header: 'ICDR macro-F1', kind: 'pct', get: (r) => r.grading.icdr?.report.macroF1 ?? null },
  { header: 'SDRG accuracy', kind: 'pct', get: (r) => r.grading.sdrg?.report.accuracy ?? null },
  { header: 'SDRG QW kappa', kind: 'num', get: (r) => r.grading.sdrg?.report.kappa ?? null },
  { header: 'Referable sensitivity', kind: 'pct', get: (r) => r.referable?.report.sensitivity ?? null },
  { header: 'Referable AUC', kind: 'num', get: (r) => r.referable?.report.auc ?? null },
];

/** Format of a difference of two values of a column kind ('pct' -> percentage points). */
export function diffKind(kind: FormatKind): FormatKind {
  return kind === 'pct' ? 'pp' : 'delta';
}

/** Display names and formats of the subgroup metrics computed by evaluate(). */
export const SUBGROUP_METRICS: Record<string, { label: string; kind: FormatKind }> = {
  icdrAccuracy: { label: 'ICDR accuracy', kind: 'pct' },
  icdrKappa: { label: 'ICDR QW kappa', kind: 'num' },
  sdrgAccuracy: { label: 'SDRG accuracy', kind: 'pct' },
  referableSensitivity: { label: 'Referable sensitivity', kind: 'pct' },
  referableAuc: { label: 'Referable AUC', kind: 'num' },
  t2iR1Strict: { label: 't2i R@1 (strict)', kind: 'pct' },
  t2iR1DuplicateAware: { label: 't2i R@1 (dup-aware)', kind: 'pct' },
};

/**
 * Unique display labels of results, in order: 'model · protocol' (plus 'zero-shot <dataset>'),
 * extended by dataset/split, then by modality setting, then by position when needed to tell two
 * results apart.
 *
 * @example resultLabels([kemtPaper, kemtHonest]) // -> ['retalign · paper', 'retalign · honest']
 */
export function resultLabels(results: readonly EvalResult[]): string[] {
  const base = (r: EvalResult): string => `${r.model} · ${r.protocol}${r.zeroShot ? ` · zero-shot ${r.dataset}` : ''}`;
  const attempts: ((r: EvalResult, i: number) => string)[] = [
    base,
    (r) => `${base(r)} · ${r.dataset}/${r.split}`,
    (r) => `${base(r)} · ${r.dataset}/${r.split} · ${r.modalities}`,
    (r, i) => `${base(r)} · ${r.dataset}/${r.split} · ${r.modalities} · #${i + 1}`,
  ];
  for (const f of attempts) {
    const labels = results.map(f);
    if (new Set(labels).size === labels.length) return labels;
  }
  return results.map(attempts[attempts.length - 1]!);
}
