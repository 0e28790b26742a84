/**
 * Knowledge-enhanced clinical notes: one English note per image from its ExamRecord and, for the
 * synthetic twin, its ground-truth lesions (image-grounded findings). What goes in is chosen by
 * NoteOptions, which live in the run config; which template phrases each sentence is drawn from a
 * seeded generator per image, restricted to the train or test templates (templates.ts).
 *
 * Leakage (the honest protocol's notes): with includeGrade=false the note never names a grade, a grade word or a
 * referral; with includeFindings=false it describes no lesion either. GRADE_WORDS is the check.
 */
import type { ExamRecord, FieldValue } from '../types.js';
import { rngOf, SALT } from '../synth/hash.js';
import { DR_LESIONS, QUADRANTS, type Site, type TruthEntry } from '../synth/types.js';
import { loadKnowledgeBase, type KnowledgeBase } from './kb.js';
import { allowedTemplates, fill, TEMPLATES, type Slot, type TemplateSplit } from './templates.js';

export interface NoteOptions {
  /** State the ICDR/SDRG grade with its definition, the lesions' clinical meaning and referral advice. */
  includeGrade: boolean;
  /** Describe findings: ground-truth lesions (type, count, quadrant) and image quality when given, else label flags. */
  includeFindings: boolean;
  /** Describe the patient: age, sex, diabetes, duration, insulin, and the camera. */
  includePatient: boolean;
  /**
   * Restate every field of the record (RECORD_NOTE_FIELDS, 'not recorded' when missing) in one line after
   * the patient and grade sentences, so the note carries what the tabular input carries: a leakage (a protocol-ladder rung).
   */
  includeRecord: boolean;
  /** Which sentence templates to use: train-only, test-only (held out), or all. */
  templateSplit: TemplateSplit;
  /** Seed of template choice (same seed, same notes). */
  seed: number;
  /** Knowledge base version under assets/knowledge/. */
  kb: string;
}

export const DEFAULT_NOTE_OPTIONS: Readonly<NoteOptions> = {
  includeGrade: false, includeFindings: true, includePatient: true, includeRecord: false, templateSplit: 'all', seed: 0, kb: 'kb-v1',
};

/**
 * The record fields an includeRecord note restates, in this order: the patient's record and the photo's
 * quality as BRSET stores them (the honest protocol's tabular input), not the grader's reading of the photo.
 */
export const RECORD_NOTE_FIELDS: readonly string[] = [
  'patient_age', 'patient_sex', 'diabetes', 'diabetes_time_y', 'insulin', 'comorbidities', 'camera', 'exam_eye',
  'focus', 'illumination', 'image_field', 'artifacts', 'quality',
];

/** Ground truth the builder can use (synth ImageTruth fits). */
export interface NoteTruth {
  lesions: readonly TruthEntry[];
  quality?: Readonly<Record<string, number>>;
}

/** Words that reveal a DR grade; a note built with includeGrade=false must not match. */
export const GRADE_WORDS =
  /\b(ICDR|SDRG|grade[ds]?|grading|R[0-4]|referable|refer|referral|proliferative|non-proliferative|NPDR|PDR|retinopathy|mild|moderate|severe)\b/i;

/**
 * Validate a partial options object (e.g. from a run config) and fill defaults. Unknown keys are
 * errors that list the valid ones.
 *
 * @example resolveNoteOptions({ includeGrade: true, templateSplit: 'train' }).includeFindings // true
 */
export function resolveNoteOptions(raw: unknown = {}): NoteOptions {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new Error(`note options: expected an object, got ${JSON.stringify(raw)}`);
  }
  const valid = Object.keys(DEFAULT_NOTE_OPTIONS);
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!valid.includes(k)) throw new Error(`note options: unknown key '${k}' (valid: ${valid.join(', ')})`);
  }
  const r = { ...DEFAULT_NOTE_OPTIONS, ...o } as Record<string, unknown>;
  for (const k of ['includeGrade', 'includeFindings', 'includePatient', 'includeRecord']) {
    if (typeof r[k] !== 'boolean') throw new Error(`note options: ${k} = ${JSON.stringify(r[k])}: expected true or false`);
  }
  if (!['train', 'test', 'all'].includes(r['templateSplit'] as string)) {
    throw new Error(`note options: templateSplit = ${JSON.stringify(r['templateSplit'])}: expected 'train', 'test' or 'all'`);
  }
  if (!Number.isInteger(r['seed']) || (r['seed'] as number) < 0) {
    throw new Error(`note options: seed = ${JSON.stringify(r['seed'])}: expected a non-negative integer`);
  }
  if (typeof r['kb'] !== 'string') throw new Error(`note options: kb = ${JSON.stringify(r['kb'])}: expected a version string like 'kb-v1'`);
  return r as unknown as NoteOptions;
}

/** A note and the templates it used (`slot#index`), for hold-out audits. */
export interface BuiltNote {
  text: string;
  templates: string[];
}

/**
 * Build the note of one image.
 *
 * @example
 *   buildNote(record, { ...DEFAULT_NOTE_OPTIONS, includeGrade: true }, truth)
 *   // 'Colour fundus photograph of the right eye. The patient is a 61-year-old woman with diabetes for 12 years. ...'
 */
export function buildNote(record: ExamRecord, options: NoteOptions, truth?: NoteTruth): string {
  return buildNoteWithTemplates(record, options, truth).text;
}

/**
 * As buildNote, also returning the templates used (`slot#index`), for hold-out audits.
 *
 * @example buildNoteWithTemplates(record, { ...DEFAULT_NOTE_OPTIONS, templateSplit: 'test' }).templates // ['exam#2', 'patient#5', ...]
 */
export function buildNoteWithTemplates(record: ExamRecord, options: NoteOptions, truth?: NoteTruth): BuiltNote {
  const kb = loadKnowledgeBase(options.kb);
  const rng = rngOf(options.seed, SALT.note, hashString(record.imageId));
  const sentences: string[] = [];
  const used: string[] = [];
  const say = (slot: Slot, vars: Record<string, string>): void => {
    const i = rng.pick(allowedTemplates(slot, options.templateSplit));
    sentences.push(fill(TEMPLATES[slot][i] as string, vars));
    used.push(`${slot}#${i}`);
  };

  say('exam', { eye: record.eye === 'unknown' ? 'examined' : record.eye });

  if (options.includePatient) {
    say('patient', patientVars(record.fields));
    const camera = record.fields['camera'];
    if (typeof camera === 'string' && camera.trim() !== '') say('camera', { camera: camera.trim() });
  }

  // Grade first (an impression line), so that a short token budget keeps it; then findings,
  // then the clinical meaning of the worst lesion and the referral advice.
  const { icdr, sdrg } = record.labels;
  const gi = icdr !== null ? kb.icdr[icdr] : undefined;
  const gs = sdrg !== null ? kb.sdrg[sdrg] : undefined;
  if (options.includeGrade) {
    if (icdr !== null && !gi) throw new Error(`note builder: ${record.imageId}: ICDR ${icdr} is not a grade 0..4`);
    if (sdrg !== null && !gs) throw new Error(`note builder: ${record.imageId}: SDRG ${sdrg} is not a grade 0..4`);
    const vars = {
      icdr: String(icdr), icdrName: gi?.name ?? '', icdrDef: gi?.definition ?? '',
      sdrgCode: gs?.code ?? '', sdrgName: gs?.name ?? '', sdrgDef: gs?.definition ?? '',
    };
    if (gi && gs) say('grade', vars);
    else if (gi) say('gradeIcdr', vars);
    else if (gs) say('gradeSdrg', vars);
  }
  // After the impression line, before the findings: a short token budget cuts findings first.
  if (options.includeRecord) sentences.push(recordLine(record.fields));

  const drLesions = truth ? truth.lesions.filter((e) => (DR_LESIONS as readonly string[]).includes(e.type)) : [];
  if (options.includeFindings) {
    if (truth) {
      if (drLesions.length === 0) say('noLesion', {});
      let described = 0;
      for (const [type, entries] of groupByType(truth.lesions)) {
        const entry = kb.lesions[type];
        if (!entry) throw new Error(`note builder: lesion type '${type}' is not in knowledge base ${kb.version}`);
        const n = entries.reduce((a, e) => a + e.count, 0);
        const exact = rng.bernoulli(0.5);
        say('lesion', {
          count: countPhrase(n, exact), lesion: n === 1 ? entry.singular : entry.plural, are: n === 1 ? 'is' : 'are',
          where: wherePhrase(entries.map((e) => e.quadrant)),
        });
        // Appearance for the first few types only: notes stay short enough for small token budgets.
        if (described++ < 3) say('appearance', { appearance: entry.appearance });
      }
      if (truth.quality) {
        const defects = Object.keys(truth.quality).filter((k) => (truth.quality?.[k] ?? 0) > 0);
        if (defects.length > 0) say('quality', { quality: joinList(defects.map((d) => phrase(kb.quality, d, 'quality'))) });
      }
    } else {
      const found: string[] = [];
      if (record.labels.macularEdema === true) found.push(phrase(kb.flags, 'macular_edema', 'flags'));
      // Flags unknown to the knowledge base (e.g. from a manifest) are named as written.
      for (const [k, v] of Object.entries(record.labels.flags)) if (v === true) found.push(kb.flags[k] ?? k.replace(/_/g, ' '));
      if (found.length > 0) say('flags', { list: joinList(found) });
      const q = qualityFromFields(record.fields);
      if (q.length > 0) say('quality', { quality: joinList(q.map((d) => phrase(kb.quality, d, 'quality'))) });
    }
  }

  if (options.includeGrade) {
    if (options.includeFindings && drLesions.length > 0) {
      // The clinical meaning of the most severe lesion present (DR_LESIONS is ordered by severity).
      const worst = drLesions.reduce((a, e) => (DR_LESIONS.indexOf(e.type as never) > DR_LESIONS.indexOf(a.type as never) ? e : a));
      const entry = kb.lesions[worst.type] as NonNullable<KnowledgeBase['lesions'][string]>;
      say('significance', { lesion: entry.plural, significance: entry.significance });
    }
    if (gi) say('referral', { referral: gi.referral });
  }
  return { text: sentences.join(' '), templates: used };
}

/**
 * Notes for many records; `truths` (optional) is looked up by imageId.
 *
 * @example buildNotes(records, opts, new Map(gt.images.map((t) => [t.imageId, t])))
 */
export function buildNotes(records: readonly ExamRecord[], options: NoteOptions, truths?: ReadonlyMap<string, NoteTruth>): string[] {
  return records.map((r) => buildNote(r, options, truths?.get(r.imageId)));
}

function patientVars(f: Record<string, FieldValue>): Record<string, string> {
  const age = typeof f['patient_age'] === 'number' ? Math.round(f['patient_age']) : null;
  const sex = f['patient_sex'] === 'male' ? 'man' : f['patient_sex'] === 'female' ? 'woman' : null;
  const who = age !== null && sex !== null ? `a ${age}-year-old ${sex}`
    : age !== null ? `a ${age}-year-old patient`
    : sex !== null ? `a ${sex} of unrecorded age` : 'a patient of unrecorded age and sex';
  const diabetes = yesNo(f['diabetes']);
  const years = typeof f['diabetes_time_y'] === 'number' ? Math.round(f['diabetes_time_y']) : null;
  const insulin = yesNo(f['insulin'] ?? f['insuline']);
  let dm = '';
  if (diabetes === true || (diabetes === null && years !== null)) {
    dm = ' with diabetes';
    if (years !== null) dm += ` for ${years} ${years === 1 ? 'year' : 'years'}`;
    if (insulin !== null) dm += insulin ? ', treated with insulin' : ', not on insulin';
  } else if (diabetes === false) dm = ' without known diabetes';
  return { who, dm };
}

/** 'Record: patient age 61; patient sex female; diabetes yes; ...' over RECORD_NOTE_FIELDS (fixed wording, no template). */
function recordLine(f: Record<string, FieldValue>): string {
  const value = (v: FieldValue | undefined): string => {
    if (v === undefined || v === null || (typeof v === 'string' && v.trim() === '')) return 'not recorded';
    if (typeof v === 'number') return String(Math.round(v * 10) / 10);
    if (typeof v === 'boolean') return v ? 'yes' : 'no';
    return String(v).trim();
  };
  return `Record: ${RECORD_NOTE_FIELDS.map((k) => `${k.replace(/_/g, ' ')} ${value(f[k] ?? (k === 'insulin' ? f['insuline'] : undefined))}`).join('; ')}.`;
}

function yesNo(v: FieldValue | undefined): boolean | null {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const t = v.trim().toLowerCase();
    if (t === 'yes') return true;
    if (t === 'no') return false;
  }
  return null;
}

/** Quality defect names from decoded BRSET fields (reader codes: 'ok' | 'problem', 'adequate' | 'inadequate'). */
function qualityFromFields(f: Record<string, FieldValue>): string[] {
  const out: string[] = [];
  if (f['focus'] === 'problem') out.push('blur');
  if (f['illumination'] === 'problem') out.push('dim');
  if (f['image_field'] === 'problem') out.push('field_shift');
  if (f['artifacts'] === 'problem') out.push('artifacts');
  if (out.length === 0 && typeof f['quality'] === 'string' && f['quality'].toLowerCase() === 'inadequate') out.push('inadequate');
  return out;
}

function phrase(table: Record<string, string>, key: string, section: string): string {
  const p = table[key];
  if (p === undefined) throw new Error(`note builder: '${key}' has no phrase in the knowledge base section '${section}'`);
  return p;
}

function groupByType(lesions: readonly TruthEntry[]): Map<string, TruthEntry[]> {
  const m = new Map<string, TruthEntry[]>();
  for (const e of lesions) {
    if (e.count <= 0) continue;
    const list = m.get(e.type);
    if (list) list.push(e);
    else m.set(e.type, [e]);
  }
  return m;
}

/** 3 -> '3' (exact) or 'a few' (vague). */
function countPhrase(n: number, exact: boolean): string {
  if (exact) return String(n);
  if (n === 1) return 'a single';
  if (n <= 3) return 'a few';
  if (n <= 9) return 'several';
  if (n <= 20) return 'many';
  return 'numerous';
}

/** Sites -> 'in the superotemporal and inferonasal quadrants and at the macula'. */
function wherePhrase(sites: readonly Site[]): string {
  const set = new Set(sites);
  const qs = QUADRANTS.filter((q) => set.has(q));
  const parts: string[] = [];
  if (qs.length === 4) parts.push('in all four quadrants');
  else if (qs.length > 0) parts.push(`in the ${joinList(qs)} ${qs.length === 1 ? 'quadrant' : 'quadrants'}`);
  if (set.has('disc')) parts.push('on the optic disc');
  if (set.has('macula')) parts.push('at the macula');
  return parts.join(' and ');
}

/** ['a', 'b', 'c'] -> 'a, b and c'. */
function joinList(xs: readonly string[]): string {
  return xs.length <= 1 ? (xs[0] ?? '') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`;
}

/** FNV-1a hash of a string (template choice is keyed by imageId, independent of record order). */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
