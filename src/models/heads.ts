/**
 * Output heads: projections to the shared retrieval space (L2-normalized, applied to each
 * encoder's token BEFORE fusion) and the grade classifiers (on the fused representation).
 *
 * @example
 *   const p = new Projection(768, 256);
 *   const emb = p.forward(cls); // (B, 768) -> (B, 256), unit rows
 */
import { linear, tidy, type Tensor } from '../tensor/index.js';
import { checkDim, Module, normal } from '../nn/index.js';

/** Grades on both scales: ICDR 0-4 and SDRG (Scottish) 0-4 (defined with the grade scales in data/grades.ts). */
export { NUM_GRADES } from '../data/grades.js';

/** Bias-free linear map to the shared space followed by L2 normalization (CLIP's projection). */
export class Projection extends Module {
  weight: Tensor;

  constructor(inDim: number, embedDim: number) {
    super();
    checkDim('Projection inDim', inDim);
    checkDim('Projection embedDim', embedDim);
    this.weight = this.param('weight', normal([embedDim, inDim], inDim ** -0.5)); // (E, D)
  }

  /** (B, D) -> (B, E) with unit L2 rows. */
  forward(x: Tensor): Tensor {
    return tidy(() => linear(x, this.weight).normalize(2, -1)); // (B, E)
  }
}
