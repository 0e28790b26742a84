/**
 * Shapes shared by the synthetic BRSET/DeepEyeNet twin: the retina scene (anatomy + lesions, in
 * retina units), the per-image view (framing, camera, quality defects) and the ground truth written
 * to ground_truth.json.
 *
 * Retina coordinates: origin at the fovea, unit = the nominal radius R of the 45-degree field,
 * x to the image right, y down. A right eye has its optic disc at x > 0 (nasal side on the right).
 */

/** Retinal quadrants, split at the fovea: superior/inferior by y, nasal = the optic disc side. */
export const QUADRANTS = ['superotemporal', 'superonasal', 'inferotemporal', 'inferonasal'] as const;
export type Quadrant = (typeof QUADRANTS)[number];
/** Where a ground-truth entry sits: a quadrant, or on the optic disc / at the macula. */
export type Site = Quadrant | 'disc' | 'macula';

/** DR lesions (drawn according to the ICDR/SDRG grade), in rough order of severity. */
export const DR_LESIONS = [
  'microaneurysm', 'dot_haemorrhage', 'blot_haemorrhage', 'flame_haemorrhage', 'hard_exudate',
  'cotton_wool_spot', 'venous_beading', 'irma', 'neovascularisation_disc',
  'neovascularisation_elsewhere', 'preretinal_haemorrhage', 'laser_scar',
] as const;
export type DrLesion = (typeof DR_LESIONS)[number];
/** Non-DR findings drawn from BRSET disease flags. */
export const OTHER_FINDINGS = ['drusen', 'increased_cup_disc', 'nevus', 'chorioretinal_scar'] as const;
export type OtherFinding = (typeof OTHER_FINDINGS)[number];
export type LesionType = DrLesion | OtherFinding;

/** Intraretinal haemorrhage types (counted by the ICDR 4-2-1 rule). */
export const HAEMORRHAGES: readonly LesionType[] = ['dot_haemorrhage', 'blot_haemorrhage', 'flame_haemorrhage'];

/** One drawn lesion instance (retina units). `size` is a radius (or half-length for streaks). */
export interface Lesion {
  type: LesionType;
  site: Site;
  x: number;
  y: number;
  size: number;
  /** Orientation in radians (flame haemorrhages, blots, patches). */
  angle: number;
  /** Per-instance random value in [0,1) for shape details (lobes, loops), fixed by the generator. */
  seed: number;
}

/** A vessel as a polyline with a width per point (retina units). */
export interface Vessel {
  kind: 'artery' | 'vein';
  xs: number[];
  ys: number[];
  widths: number[];
  /** Branch depth: 0 = main arcade/nasal trunk. */
  depth: number;
}

/** Fixed anatomy of one eye (the same for every photo of that eye). */
export interface Anatomy {
  eye: 'right' | 'left';
  disc: { x: number; y: number; rx: number; ry: number; cupRatio: number };
  /** Smooth choroidal texture: a small grid of values in [-1,1] (row-major, n x n), spans [-1.2,1.2]^2. */
  texture: { n: number; values: number[] };
  vessels: Vessel[];
  /** Fundus albedo tint of this eye (pigmentation varies between people), multiplies the base colour. */
  tint: [number, number, number];
}

/** Everything drawn on one eye: anatomy plus lesions. Plain data (structured-clone safe). */
export interface EyeScene {
  anatomy: Anatomy;
  lesions: Lesion[];
  /** Venous beading: vessel index + [from, to) point range of the beaded stretch + its quadrant. */
  beading: { vessel: number; from: number; to: number; site: Quadrant }[];
}

export type CameraStyle = 'canon' | 'nikon' | 'deepeyenet';

/** Quality defects of one photo (what was rendered). */
export interface QualityDefects {
  /** Gaussian blur sigma as a fraction of the image height (0 = sharp). focus = 2 gives strong blur. */
  blur: number;
  /** Illumination gain (1 = normal; iluminaton = 2 gives 0.3-0.5) and a side-to-side gradient. */
  gain: number;
  gradient: number;
  /** Dust spots and a bright haze crescent (artifacts = 2). */
  dust: number;
  haze: number;
  /** Field centre displacement in retina units (image_field = 2 gives 0.2-0.35). */
  fieldShift: number;
}

/** Framing of one photo: output size, field circle and the retina -> pixel transform. */
export interface View {
  width: number;
  height: number;
  camera: CameraStyle;
  /** Field circle radius as a fraction of the image height (0.5 = touches top and bottom). */
  fieldRadius: number;
  /** Retina units per field radius (>1 = wider field of view: anatomy looks smaller). */
  fov: number;
  /** Retina coordinates of the field centre. */
  centreX: number;
  centreY: number;
  rotation: number;
  quality: QualityDefects;
  /** Seed of per-photo noise (dust positions, haze side). */
  seed: number;
}

/** Ground-truth lesion entry: type, where, how many. */
export interface TruthEntry {
  type: LesionType;
  quadrant: Site;
  count: number;
}

/** Ground truth of one image, as written to ground_truth.json. */
export interface ImageTruth {
  imageId: string;
  patientId: string;
  eye: 'right' | 'left';
  icdr: number;
  sdrg: number;
  /** True when the SDRG label was perturbed away from the lesions (simulated grader disagreement). */
  gradeNoise: boolean;
  /** Lesions, sorted by type then quadrant. */
  lesions: TruthEntry[];
  /** Non-zero quality defects by name (blur, dim, gradient, dust, haze, field_shift). */
  quality: Record<string, number>;
  camera: CameraStyle;
  /** Image path relative to the dataset folder. */
  file: string;
}
