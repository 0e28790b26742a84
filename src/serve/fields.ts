/**
 * Patient fields given at grade time (`--field age=61` on the CLI, form fields over HTTP) ->
 * decoded ExamRecord fields, exactly as the BRSET reader decodes them (src/data/readers/brset.ts):
 * patient_age number 0..120, patient_sex 'male'|'female', diabetes_time_y number 0..100, insulin
 * and diabetes booleans, camera / comorbidities / nationality text, exam_eye 'right'|'left',
 * optic_disc / vessels / macula 'normal'|'abnormal', focus / illumination / image_field /
 * artifacts 'ok'|'problem', quality 'adequate'|'inadequate'.
 *
 * Every refusal is a 400 naming the field, the value and what was expected. A field the model's
 * tabular featurizer does not read is refused too (it would be silently ignored otherwise).
 *
 * @example
 *   parseFields([['age', '61'], ['sex', 'female'], ['insulin', 'yes']], accepted)
 *   // { patient_age: 61, patient_sex: 'female', insulin: true }
 */
import type { FieldValue } from '../data/types.js';
import { badRequest } from './errors.js';

type Kind =
  | { kind: 'number'; min: number; max: number; unit: string }
  | { kind: 'boolean' }
  | { kind: 'choice'; values: readonly string[]; codes?: Readonly<Record<string, string>> }
  | { kind: 'text'; maxLength: number };

/** One accepted patient field: its BRSET name, short aliases and how its value is read. */
export type FieldDef = { name: string; aliases: readonly string[]; help: string } & Kind;

const NORMAL_ABNORMAL = { values: ['normal', 'abnormal'], codes: { '1': 'normal', '2': 'abnormal' } } as const;
const OK_PROBLEM = { values: ['ok', 'problem'], codes: { '1': 'ok', '2': 'problem' } } as const;

/** Every patient field the service understands, in display order. */
export const FIELD_DEFS: readonly FieldDef[] = [
  { name: 'patient_age', aliases: ['age'], help: 'age in years', kind: 'number', min: 0, max: 120, unit: 'years' },
  { name: 'patient_sex', aliases: ['sex'], help: 'male or female', kind: 'choice', values: ['male', 'female'], codes: { '1': 'male', '2': 'female' } },
  { name: 'diabetes', aliases: [], help: 'known diabetes (yes/no)', kind: 'boolean' },
  { name: 'diabetes_time_y', aliases: ['diabetes_time', 'diabetes_years'], help: 'years since diabetes diagnosis', kind: 'number', min: 0, max: 100, unit: 'years' },
  { name: 'insulin', aliases: [], help: 'uses insulin (yes/no)', kind: 'boolean' },
  { name: 'comorbidities', aliases: [], help: 'free text, e.g. "hypertension, diabetes 2"', kind: 'text', maxLength: 500 },
  { name: 'camera', aliases: [], help: 'camera model as written in the data', kind: 'text', maxLength: 100 },
  { name: 'exam_eye', aliases: ['eye'], help: 'right or left', kind: 'choice', values: ['right', 'left'], codes: { '1': 'right', '2': 'left' } },
  { name: 'nationality', aliases: [], help: 'free text', kind: 'text', maxLength: 100 },
  { name: 'optic_disc', aliases: [], help: 'normal or abnormal', kind: 'choice', ...NORMAL_ABNORMAL },
  { name: 'vessels', aliases: [], help: 'normal or abnormal', kind: 'choice', ...NORMAL_ABNORMAL },
  { name: 'macula', aliases: [], help: 'normal or abnormal', kind: 'choice', ...NORMAL_ABNORMAL },
  { name: 'focus', aliases: [], help: 'ok or problem', kind: 'choice', ...OK_PROBLEM },
  { name: 'illumination', aliases: [], help: 'ok or problem', kind: 'choice', ...OK_PROBLEM },
  { name: 'image_field', aliases: [], help: 'ok or problem', kind: 'choice', ...OK_PROBLEM },
  { name: 'artifacts', aliases: [], help: 'ok or problem', kind: 'choice', ...OK_PROBLEM },
  { name: 'quality', aliases: [], help: 'adequate or inadequate', kind: 'choice', values: ['adequate', 'inadequate'] },
];

const BY_NAME = new Map<string, FieldDef>();
for (const d of FIELD_DEFS) for (const n of [d.name, ...d.aliases]) BY_NAME.set(n, d);

/** The definition a name (canonical or alias, case-insensitive) refers to, or undefined. */
export function fieldDef(name: string): FieldDef | undefined {
  return BY_NAME.get(name.trim().toLowerCase());
}

/** Plain decimal numbers only: '61', '61.5'; not '', '0x3d', '1e3', 'Infinity'. */
const NUMBER_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

function expected(d: FieldDef): string {
  switch (d.kind) {
    case 'number': return `a number of ${d.unit} in [${d.min}, ${d.max}]`;
    case 'boolean': return 'yes or no (also true/false, 1/0)';
    case 'choice': return `one of ${d.values.join(', ')}`;
    case 'text': return `text of at most ${d.maxLength} characters`;
  }
}

/** Decodes one value; throws a 400 naming the field, the value and what was expected. */
export function decodeField(d: FieldDef, raw: string, given = d.name): FieldValue {
  const v = raw.trim();
  const bad = (): Error => badRequest(`field ${given}${given !== d.name ? ` (${d.name})` : ''}: ${JSON.stringify(raw.slice(0, 60))} is not valid; expected ${expected(d)}`, 'bad_field');
  if (v === '') throw bad();
  switch (d.kind) {
    case 'number': {
      if (!NUMBER_RE.test(v)) throw bad();
      const x = Number(v);
      if (!Number.isFinite(x) || x < d.min || x > d.max) throw bad();
      return x;
    }
    case 'boolean': {
      const t = v.toLowerCase();
      if (t === 'yes' || t === 'true' || t === '1') return true;
      if (t === 'no' || t === 'false' || t === '0') return false;
      throw bad();
    }
    case 'choice': {
      const t = v.toLowerCase();
      if (d.values.includes(t)) return t;
      const code = d.codes?.[t];
      if (code !== undefined) return code;
      throw bad();
    }
    case 'text':
      // Control characters are refused so that the value can never forge a log or table line.
      if (v.length > d.maxLength || /[\u0000-\u001f\u007f]/.test(v)) throw bad();
      return v;
  }
}

/**
 * (name, value) pairs -> decoded fields keyed by BRSET name. `accepted` is the set of BRSET names
 * the model reads (ServeEngine.acceptedFields); null = the model takes no patient fields.
 */
export function parseFields(pairs: readonly (readonly [string, string])[], accepted: ReadonlySet<string> | null): Record<string, FieldValue> {
  const out: Record<string, FieldValue> = {};
  const from: Record<string, string> = {};
  for (const [name, raw] of pairs) {
    const d = fieldDef(name);
    if (d === undefined) {
      const valid = FIELD_DEFS.filter((f) => accepted?.has(f.name)).map((f) => f.aliases[0] ?? f.name);
      throw badRequest(`unknown field ${JSON.stringify(name.slice(0, 60))}; valid fields: ${valid.length > 0 ? valid.join(', ') : '(none: this model takes no patient fields)'}`, 'bad_field');
    }
    if (accepted === null || !accepted.has(d.name)) {
      throw badRequest(`field ${name}: this model's tabular input does not use ${d.name}` +
        (accepted === null ? ' (the model takes no patient fields)' : `; it uses: ${[...accepted].join(', ')}`), 'bad_field');
    }
    if (from[d.name] !== undefined) throw badRequest(`field ${name}: given twice (also as ${from[d.name]})`, 'bad_field');
    from[d.name] = name;
    out[d.name] = decodeField(d, raw, name);
  }
  return out;
}

/**
 * CLI form: ['age=61', 'sex=female'] -> pairs. Throws naming an argument without '='.
 * @example fieldArgs(['age=61']) // [['age', '61']]
 */
export function fieldArgs(args: readonly string[]): [string, string][] {
  return args.map((a) => {
    const i = a.indexOf('=');
    if (i <= 0) throw badRequest(`--field ${JSON.stringify(a)}: expected name=value, e.g. --field age=61`, 'bad_field');
    return [a.slice(0, i), a.slice(i + 1)];
  });
}
