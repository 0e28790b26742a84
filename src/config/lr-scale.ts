/**
 * The learning-rate multipliers per top-level module, shared by the training loop's config and the
 * run config. Here, below both, so that reading a run config never loads the training loop.
 */
import { Type } from './schema.js';

/**
 * Per top-level module (the first segment of a parameter name: image, text, fusion, a head...), a
 * multiplier on the scheduled learning rate; modules not named keep 1.
 * @example resolveSchema(Type.Object({ lrScale: lrScaleSchema() }), { lrScale: { image: 2 } }, 'x').lrScale // { image: 2 }
 */
export function lrScaleSchema() {
  return Type.Record(Type.String({ minLength: 1 }), Type.Number({ minimum: 0 }), {
    default: {},
    expected: 'an object {module: multiplier >= 0}, e.g. {"image": 2, "text": 0.5}',
    description: "Per top-level module (image, text, tabular, fusion, a head...: the first segment of a parameter's name), a " +
      'multiplier on the scheduled learning rate (warmup and cosine decay included); a module not named keeps 1, 0 holds it still. ' +
      'A name the model does not have is an error that lists the ones it has.',
  });
}
