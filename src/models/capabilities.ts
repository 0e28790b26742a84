/**
 * What a model can do, declared once on its class (`static capabilities`) and read by the layers
 * above instead of comparing its name: training picks the objective and the best-checkpoint
 * metric from it, eval decides between grade heads and a linear probe, the index build and the
 * server decide whether to calibrate, grade and accept patient fields.
 *
 * @example
 *   const caps = buildModel(config, env).capabilities;
 *   if (!caps.gradeHeads) probe = fitLinearProbe(trainEmb, labels, dim, NUM_GRADES, { seed });
 */
import type { Modality } from './types.js';

export interface ModelCapabilities {
  /** Inputs forward() reads, in MODALITIES order; others are ignored. */
  readonly modalities: readonly Modality[];
  /**
   * ICDR and SDRG heads on the fused token (ModelOutput.icdrLogits/sdrgLogits). Without them the
   * model grades nothing itself: eval grades with a linear probe on frozen image embeddings, and
   * there is nothing to calibrate or serve as a grade.
   */
  readonly gradeHeads: boolean;
  /**
   * Modality dropout applies: a fusion that answers from any subset of the inputs. A model that
   * pairs two embeddings (CLIP) trains on every pair whole.
   */
  readonly modalityDropout: boolean;
  /**
   * Loss parts (names of LOSS_PARTS in src/losses/objective.ts) the model trains with; the run
   * config's weight of any other part is set to 0. null = every part the run config weighs.
   */
  readonly lossParts: readonly string[] | null;
  /** Validation metric (higher is better) that picks the best checkpoint and drives early stopping. */
  readonly selectBy: 'icdr_kappa' | 't2i_r1_dup';
}
