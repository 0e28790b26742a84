/**
 * The BRSET labels.csv layout written by the twin: the exact v1.0.0 header (34 columns, file order,
 * with its spellings `iluminaton`, `insuline`, `drusens`) and RFC 4180 cell quoting.
 */

/** BRSET v1.0.0 labels.csv header, in file order. */
export const BRSET_HEADER = [
  'image_id', 'patient_id', 'camera', 'patient_age', 'comorbidities', 'diabetes_time_y', 'insuline',
  'patient_sex', 'exam_eye', 'diabetes', 'nationality', 'optic_disc', 'vessels', 'macula', 'DR_SDRG',
  'DR_ICDR', 'focus', 'iluminaton', 'image_field', 'artifacts', 'diabetic_retinopathy', 'macular_edema',
  'scar', 'nevus', 'amd', 'vascular_occlusion', 'hypertensive_retinopathy', 'drusens', 'hemorrhage',
  'retinal_detachment', 'myopic_fundus', 'increased_cup_disc', 'other', 'quality',
] as const;
export type BrsetColumn = (typeof BRSET_HEADER)[number];

/** The 13 disease flags, in file order. */
export const BRSET_FLAGS = BRSET_HEADER.slice(BRSET_HEADER.indexOf('diabetic_retinopathy'), BRSET_HEADER.indexOf('quality'));

/** Quote a cell when it holds a comma, quote or newline. @example csvCell('diabetes1, SAH') // '"diabetes1, SAH"' */
export function csvCell(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * labels.csv text: header line then one line per row (cells in BRSET_HEADER order), '\n' endings.
 *
 * @example brsetCsv([row]).split('\n')[0].split(',').length // 34
 */
export function brsetCsv(rows: readonly (readonly string[])[]): string {
  const lines = [BRSET_HEADER.join(',')];
  for (const [i, r] of rows.entries()) {
    if (r.length !== BRSET_HEADER.length) {
      throw new Error(`brsetCsv: row ${i} has ${r.length} cells, expected ${BRSET_HEADER.length}`);
    }
    lines.push(r.map(csvCell).join(','));
  }
  return lines.join('\n') + '\n';
}
