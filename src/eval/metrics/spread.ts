/**
 * How spread out a set of L2-normalized embeddings is: 1 - |mean of the rows|. 0 when every row is the
 * same vector (a collapsed tower: retrieval and any probe on it are then meaningless), near 1 for rows
 * spread evenly over the sphere. A healthy small demo model sits around 0.5-0.7.
 *
 * @example embeddingSpread(new Float32Array([1, 0, 1, 0]), 2) // 0
 * @example embeddingSpread(new Float32Array([1, 0, -1, 0]), 2) // 1
 */
export function embeddingSpread(rows: Float32Array, dim: number): number {
  const n = rows.length / dim;
  if (!Number.isInteger(n) || n === 0) throw new Error(`embeddingSpread: ${rows.length} values are not a whole number of rows of ${dim}`);
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let k = 0; k < dim; k++) mean[k] = (mean[k] as number) + (rows[i * dim + k] as number) / n;
  let ss = 0;
  for (let k = 0; k < dim; k++) ss += (mean[k] as number) ** 2;
  return Math.max(0, 1 - Math.sqrt(ss)); // float32 unit rows can have a mean a hair longer than 1
}

/** Below this spread a set of embeddings counts as collapsed (every row within ~0.1% of one vector). */
export const COLLAPSED_SPREAD = 1e-3;
