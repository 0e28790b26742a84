/**
 * The modality-dropout section shared by the training loop's config and the run config (each with
 * its own defaults). Here, below both, so that reading a run config never loads the training loop.
 */
import { section, Type } from './schema.js';

const probability = (d: number, description: string) => Type.Number({ minimum: 0, exclusiveMaximum: 1, default: d, description });

/**
 * Per modality, the probability that a sample hides it from the fusion (never all three); the run
 * config's train.modalityDropout is the same schema with its own defaults.
 * @example modalityDropoutSchema({ image: 0.1, text: 0.3, tabular: 0.3 })
 */
export function modalityDropoutSchema(d: { image: number; text: number; tabular: number }) {
  return section({
    image: probability(d.image, 'Probability that a training sample hides its photo from the fusion.'),
    text: probability(d.text, 'Probability that a training sample hides its note from the fusion.'),
    tabular: probability(d.tabular, 'Probability that a training sample hides its patient record from the fusion.'),
  }, 'Per modality, the probability that a training sample hides it from the fusion (never all three).');
}

