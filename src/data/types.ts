/**
 * The one record type every reader yields (BRSET folder, DeepEyeNet JSON, generic manifest,
 * synthetic twin). Tensor-free: plain values only.
 */
import { REFERABLE_FROM_GRADE } from './grades.js';

/** Which eye an image shows. BRSET codes exam_eye 1 = right, 2 = left. */
export type Eye = 'right' | 'left' | 'unknown';

/** A decoded structured field: a number, a category string, a boolean, or missing (null). */
export type FieldValue = number | string | boolean | null;

/** DR grades on both scales (0..4) and derived flags; null when the source has no label. */
export interface Labels {
  icdr: number | null;
  sdrg: number | null;
  /** BRSET diabetic_retinopathy flag (0/1) when present. */
  diabeticRetinopathy: boolean | null;
  /** BRSET macular_edema flag (0/1) when present. */
  macularEdema: boolean | null;
  /** Other disease flags by BRSET column name (amd, drusen, increased_cup_disc, ...). */
  flags: Record<string, boolean | null>;
}

/** One exam image with everything known about it. */
export interface ExamRecord {
  imageId: string;
  patientId: string;
  /** Absolute (or dataset-relative, resolved by the reader) path of the image file. */
  imagePath: string;
  eye: Eye;
  /**
   * Structured patient/exam fields, decoded (never labels): e.g. patient_age (number),
   * patient_sex ('male'|'female'), camera, diabetes (boolean), diabetes_time_y, insulin, ...
   * Invalid source values become null (missing) and are counted by the reader.
   */
  fields: Record<string, FieldValue>;
  labels: Labels;
  /** A note shipped with the data (DeepEyeNet description, manifest note), if any. */
  note?: string;
  /** Keywords shipped with the data (DeepEyeNet), if any. */
  keywords?: string[];
}

/** Referable DR: ICDR >= 2. */
export function isReferable(l: Labels): boolean | null {
  return l.icdr === null ? null : l.icdr >= REFERABLE_FROM_GRADE;
}
