/**
 * Sentence templates of the note builder, several per slot. Hold-out rule: the template with
 * index i is test-only when i % 3 === 2, so notes built with templateSplit 'train' and 'test'
 * never share a sentence template (the "held-out templates" of the honest protocol).
 *
 * Placeholders: {name} inserts a value; {Name} inserts it capitalized. A missing value is an error.
 */

export const TEMPLATES = {
  exam: [
    'Colour fundus photograph of the {eye} eye.',
    'Macula-centred fundus image of the {eye} eye.',
    'Retinal photograph, {eye} eye.',
    'Fundus photo of the {eye} eye, 45-degree field.',
    '{Eye} eye: colour fundus photograph.',
    'This is a fundus image of the {eye} eye.',
  ],
  patient: [
    'The patient is {who}{dm}.',
    'Patient: {who}{dm}.',
    'Photographed in {who}{dm}.',
    'Exam of {who}{dm}.',
    'History: {who}{dm}.',
    'The record describes {who}{dm}.',
  ],
  camera: [
    'Camera: {camera}.',
    'Acquired with a {camera}.',
    'Imaged on a {camera}.',
    'Device: {camera}.',
    'Captured with the {camera} camera.',
    'Imaging device {camera}.',
  ],
  lesion: [
    '{Count} {lesion} {where}.',
    'There {are} {count} {lesion} {where}.',
    '{Where}, {count} {lesion} {are} seen.',
    '{Count} {lesion} {are} visible {where}.',
    'Findings include {count} {lesion} {where}.',
    '{Count} {lesion} {are} noted {where}.',
  ],
  appearance: [
    'They appear as {appearance}.',
    'These look like {appearance}.',
    'Appearance: {appearance}.',
    'Seen as {appearance}.',
    'They are {appearance}.',
    'Described as {appearance}.',
  ],
  noLesion: [
    'No microaneurysms, haemorrhages or exudates are seen.',
    'The retina shows no vascular lesions.',
    'No retinal lesions are identified.',
    'No red or bright lesions are visible.',
    'Vessels and retina look free of lesions.',
    'No haemorrhages, exudates or new vessels are present.',
  ],
  flags: [
    'Findings: {list}.',
    'The image shows {list}.',
    'Noted: {list}.',
    'Other observations: {list}.',
    'The fundus shows {list}.',
    'Recorded findings: {list}.',
  ],
  quality: [
    'Image quality: {quality}.',
    'Quality note: {quality}.',
    'Regarding quality, {quality}.',
    'Photo quality: {quality}.',
    'Technical quality: {quality}.',
    'On quality, {quality}.',
  ],
  grade: [
    'ICDR grade {icdr}: {icdrName} ({icdrDef}). SDRG {sdrgCode}: {sdrgName}.',
    'Diabetic retinopathy grading: ICDR {icdr} ({icdrName}); Scottish grade {sdrgCode} ({sdrgName}).',
    'Graded as {icdrName} (ICDR {icdr}) and {sdrgCode} on the Scottish scheme ({sdrgName}).',
    'Assessment: {icdrName}, ICDR {icdr}, defined as {icdrDef}; SDRG {sdrgCode}, {sdrgDef}.',
    'On the ICDR scale this is grade {icdr}, {icdrName}; on the SDRG scale {sdrgCode}, {sdrgName}.',
    'The eye grades ICDR {icdr} / SDRG {sdrgCode}: {icdrName}.',
  ],
  gradeIcdr: [
    'ICDR grade {icdr}: {icdrName} ({icdrDef}).',
    'Diabetic retinopathy grading: ICDR {icdr}, {icdrName}.',
    'Graded as {icdrName} (ICDR {icdr}).',
  ],
  gradeSdrg: [
    'SDRG {sdrgCode}: {sdrgName} ({sdrgDef}).',
    'Scottish grade {sdrgCode}, {sdrgName}.',
    'Graded {sdrgCode} on the Scottish scheme ({sdrgName}).',
  ],
  significance: [
    'The {lesion} indicate {significance}.',
    'Clinically, the {lesion} mean {significance}.',
    'Significance of the {lesion}: {significance}.',
    'The presence of {lesion} points to {significance}.',
    'Interpretation: {lesion}, {significance}.',
    'The {lesion} are {significance}.',
  ],
  referral: [
    'Advice: {referral}',
    '{Referral}',
    'Plan: {referral}',
    'Recommendation: {referral}',
    'Next step: {referral}',
    'Management: {referral}',
  ],
} as const satisfies Record<string, readonly string[]>;

export type Slot = keyof typeof TEMPLATES;
export type TemplateSplit = 'train' | 'test' | 'all';

/** True when template index i is reserved for test notes. @example isTestTemplate(2) // true */
export function isTestTemplate(i: number): boolean {
  return i % 3 === 2;
}

/** Template indices of a slot usable under a split. @example allowedTemplates('exam', 'test') // [2, 5] */
export function allowedTemplates(slot: Slot, split: TemplateSplit): number[] {
  const n = TEMPLATES[slot].length;
  const all = [...Array(n).keys()];
  return split === 'all' ? all : all.filter((i) => isTestTemplate(i) === (split === 'test'));
}

/**
 * Fill a template; throws naming the placeholder when a value is missing.
 *
 * @example fill('{Eye} eye.', { eye: 'right' }) // 'Right eye.'
 */
export function fill(template: string, vars: Record<string, string>): string {
  return template.replace(/\{([A-Za-z]+)\}/g, (_, name: string) => {
    const key = name.charAt(0).toLowerCase() + name.slice(1);
    const v = vars[key];
    if (v === undefined) throw new Error(`note template ${JSON.stringify(template)}: no value for {${name}}`);
    return name === key ? v : v.charAt(0).toUpperCase() + v.slice(1);
  });
}
