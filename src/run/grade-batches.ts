/**
 * Grade-homogeneous batches: hard negatives for the contrastive losses at no extra cost. In a batch
 * of mixed grades, a note is told apart from most other photos by its grade alone, so the loss
 * teaches little beyond grade; in a batch of one grade every negative shares the grade, and only what
 * else the note says (the eye, where the lesions are, how many, the photo's quality) separates them.
 */
import type { Rng } from '../data/rng.js';

/**
 * Rearranges an epoch's shuffled order so that about `share` of its consecutive `size`-item windows
 * hold items of one grade. Window by window: with probability `share`, a grade with at least `size`
 * items left is picked (in proportion to what it has left) and its next `size` items fill the window;
 * otherwise the window takes the next `size` items of the rest in their shuffled order. Items of
 * unknown grade (< 0) only go to mixed windows. Every item appears once; the output is a permutation.
 *
 * @example gradeBatchOrder([3, 0, 2, 1], [0, 1, 0, 1], 2, 1, rng) // e.g. [2, 0, 3, 1]: windows {2, 0} and {3, 1}
 */
export function gradeBatchOrder(order: readonly number[], grades: ArrayLike<number>, size: number, share: number, rng: Rng): number[] {
  if (share <= 0 || size < 2) return [...order];
  // Per grade: its items in shuffled order, a read position and how many are still unused (items a mixed
  // window takes are skipped when the grade's position passes them).
  const byGrade = new Map<number, { items: number[]; at: number; left: number }>();
  for (const i of order) {
    const g = grades[i] as number;
    if (g < 0) continue;
    const e = byGrade.get(g);
    if (e) {
      e.items.push(i);
      e.left++;
    } else byGrade.set(g, { items: [i], at: 0, left: 1 });
  }
  const used = new Set<number>();
  const take = (i: number): void => {
    used.add(i);
    const e = byGrade.get(grades[i] as number);
    if (e) e.left--;
  };
  const out: number[] = [];
  let cursor = 0;
  const windows = Math.floor(order.length / size);
  for (let w = 0; w < windows; w++) {
    const full = [...byGrade.values()].filter((e) => e.left >= size);
    if (full.length > 0 && rng.uniform() < share) {
      const e = full[rng.weighted(full.map((x) => x.left))] as { items: number[]; at: number; left: number };
      for (let filled = 0; filled < size; e.at++) {
        const i = e.items[e.at] as number;
        if (used.has(i)) continue;
        take(i);
        out.push(i);
        filled++;
      }
      continue;
    }
    for (let filled = 0; filled < size && cursor < order.length;) {
      const i = order[cursor++] as number;
      if (used.has(i)) continue;
      take(i);
      out.push(i);
      filled++;
    }
  }
  for (const i of order) if (!used.has(i)) out.push(i);
  return out;
}
