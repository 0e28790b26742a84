/**
 * The paper's claimed numbers (arXiv 2512.19663; only its abstract and secondary summaries are
 * public). Printed in the report as CLAIMED rows, never mixed with ours.
 * The paper states neither the Recall@K variant nor the gallery size, nor the direction of the
 * zero-shot Recall@1.
 */
export const PAPER_CLAIMS = {
  source: 'arXiv 2512.19663 ("Beyond CLIP", Samanta et al., 2025)',
  kemt: { t2iR1: 0.9994, sdrgAccuracy: 0.9705, icdrAccuracy: 0.9797, zeroShotR1: 0.9395 },
  clip: { t2iR1: 0.0129, zeroShotR1: 0.0022 },
} as const;
