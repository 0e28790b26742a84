/**
 * From labels to drawable data: one eye's scene (anatomy + lesions, fixed per eye so that repeat
 * photos of an eye agree) and one photo's view (framing, camera, quality defects).
 */
import type { Rng } from '../rng.js';
import { makeAnatomy } from './anatomy.js';
import { makeLesions, type LesionPlan } from './lesions.js';
import type { CameraStyle, EyeScene, QualityDefects, View } from './types.js';

/** BRSET quality fields of one photo, decoded: true = problem (code 2). */
export interface PhotoQuality {
  focus: boolean;
  illumination: boolean;
  imageField: boolean;
  artifacts: boolean;
}

/**
 * Build one eye's scene from its plan (grades + visible flags).
 *
 * @example makeScene(rngOf(seed, SALT.anatomy, 12, 0), { eye: 'right', icdr: 2, sdrg: 1, ...flags })
 */
export function makeScene(rng: Rng, plan: LesionPlan & { eye: 'right' | 'left' }): EyeScene {
  const anatomy = makeAnatomy(rng, { eye: plan.eye, increasedCup: plan.increasedCup });
  const { lesions, beading } = makeLesions(rng, anatomy, plan);
  return { anatomy, lesions, beading };
}

export interface ViewOptions {
  /** Image height in px; BRSET frames are 1.3x wider (2672x2056), DeepEyeNet frames square. */
  size: number;
  camera: CameraStyle;
  eye: 'right' | 'left';
  quality: PhotoQuality;
}

/**
 * Framing and defects of one photo. BRSET: macula-centred 45-degree field in a 1.3:1 frame.
 * DeepEyeNet: square frame, field of view 0.75-1.3x and a field circle that may be cropped by the
 * frame (a deliberately different look for zero-shot tests).
 *
 * @example makeView(rngOf(seed, SALT.view, 5), { size: 224, camera: 'canon', eye: 'left', quality: ok })
 */
export function makeView(rng: Rng, o: ViewOptions): View {
  const side = o.eye === 'right' ? 1 : -1;
  const square = o.camera === 'deepeyenet';
  const q: QualityDefects = {
    blur: o.quality.focus ? rng.range(0.011, 0.018) : 0,
    gain: o.quality.illumination ? rng.range(0.3, 0.48) : rng.range(0.93, 1.07),
    gradient: o.quality.illumination ? rng.range(0.3, 0.6) : rng.range(0, 0.12),
    dust: o.quality.artifacts ? rng.int(3, 7) : 0,
    haze: o.quality.artifacts && rng.bernoulli(0.7) ? rng.range(0.35, 0.6) : 0,
    fieldShift: o.quality.imageField ? rng.range(0.2, 0.35) : 0,
  };
  const shiftAngle = rng.range(0, 2 * Math.PI);
  return {
    width: square ? o.size : Math.round(o.size * 1.3),
    height: o.size,
    camera: o.camera,
    fieldRadius: square ? rng.range(0.46, 0.62) : o.camera === 'canon' ? 0.49 : 0.475,
    fov: square ? rng.range(0.75, 1.3) : rng.range(0.97, 1.03),
    centreX: side * rng.range(0.02, 0.08) + q.fieldShift * Math.cos(shiftAngle),
    centreY: rng.range(-0.04, 0.02) + q.fieldShift * Math.sin(shiftAngle),
    rotation: rng.normal(0, square ? 0.08 : 0.03),
    quality: q,
    seed: rng.next32(),
  };
}

/** Non-zero defects of a view, by name, for ground_truth.json. */
export function defectsOf(v: View): Record<string, number> {
  const q = v.quality;
  const out: Record<string, number> = {};
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  if (q.blur > 0) out['blur'] = round(q.blur);
  if (q.gain < 0.6) out['dim'] = round(q.gain);
  if (q.gradient >= 0.3) out['uneven_illumination'] = round(q.gradient);
  if (q.dust > 0) out['dust'] = q.dust;
  if (q.haze > 0) out['haze'] = round(q.haze);
  if (q.fieldShift > 0) out['field_shift'] = round(q.fieldShift);
  return out;
}
