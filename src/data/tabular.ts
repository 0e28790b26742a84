/**
 * Tabular featurizer: ExamRecord.fields -> Float32Array for the tabular MLP.
 *
 * Per field, in the configured order:
 *   numeric      [z, missing]            z = (x - mean) / sd, fitted on the training records only
 *                                       (population sd; sd 1 when < 2 values or sd = 0); 0 when missing
 *   categorical  [one-hot..., other, missing]   categories seen in training (sorted); unseen -> other
 *   boolean      [0/1, missing]
 *   textFlag     [0/1, missing]          1 when the source text field matches `pattern` (case-insensitive);
 *                                       missing when the source field is missing
 * Label columns (grades, diabetic_retinopathy, macular_edema, disease flags) can never be features:
 * fit() and fromJSON() throw when one is named. The fitted statistics are plain JSON (toJSON /
 * fromJSON, save / load) and travel in the checkpoint; a round trip gives identical vectors.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { BRSET_LABEL_COLUMNS } from './readers/brset.js';
import type { ExamRecord, FieldValue } from './types.js';

export type FieldKind = 'numeric' | 'categorical' | 'boolean' | 'textFlag';

export interface FieldSpec {
  /** Feature name; for numeric / categorical / boolean also the ExamRecord.fields key read. */
  name: string;
  kind: FieldKind;
  /** textFlag only: the text field searched. */
  source?: string;
  /** textFlag only: regular-expression source, matched case-insensitively. */
  pattern?: string;
}

/** Names that are labels, compared case-insensitively ('icdr'/'sdrg' as manifests name them). */
export const LABEL_FIELD_NAMES: readonly string[] = [...BRSET_LABEL_COLUMNS, 'icdr', 'sdrg', 'drusens'];
const LABEL_SET = new Set(LABEL_FIELD_NAMES.map((s) => s.toLowerCase()));

/**
 * Default BRSET features. nationality is left out (always Brazil). optic_disc, vessels, macula
 * and quality are partly image findings made by the graders: they are in the default list because
 * the paper's "structured patient data" likely included them, but an honest-protocol config can
 * drop them. Comorbidity flags are derived from the free-text comorbidities column (v1.0.0 writes
 * SAH, "sistemic arterial hypertension", for hypertension).
 */
export const BRSET_DEFAULT_FIELDS: readonly FieldSpec[] = [
  { name: 'patient_age', kind: 'numeric' },
  { name: 'patient_sex', kind: 'categorical' },
  { name: 'diabetes_time_y', kind: 'numeric' },
  { name: 'insulin', kind: 'boolean' },
  { name: 'diabetes', kind: 'boolean' },
  { name: 'camera', kind: 'categorical' },
  { name: 'comorbidity_hypertension', kind: 'textFlag', source: 'comorbidities', pattern: 'hypertens|hipertens|\\bsah\\b' },
  { name: 'comorbidity_diabetes1', kind: 'textFlag', source: 'comorbidities', pattern: 'diabetes\\s*(1|i\\b|type\\s*1)|\\bdm\\s*1' },
  { name: 'comorbidity_diabetes2', kind: 'textFlag', source: 'comorbidities', pattern: 'diabetes\\s*(2|ii\\b|type\\s*2)|\\bdm\\s*2' },
  { name: 'optic_disc', kind: 'categorical' },
  { name: 'vessels', kind: 'categorical' },
  { name: 'macula', kind: 'categorical' },
  { name: 'focus', kind: 'categorical' },
  { name: 'illumination', kind: 'categorical' },
  { name: 'image_field', kind: 'categorical' },
  { name: 'artifacts', kind: 'categorical' },
  { name: 'quality', kind: 'categorical' },
  { name: 'exam_eye', kind: 'categorical' },
];

/**
 * The photo's reading by the grader (normal/abnormal optic disc, vessels, macula), not the patient's
 * record: in BRSET the same annotators set these and the DR grade, so as features they let a model
 * grade from the grader's own reading. The honest protocol leaves them out by default (src/run/config.ts).
 */
export const GRADER_READING_FIELDS: readonly string[] = ['optic_disc', 'vessels', 'macula'];

const DECLARABLE_KINDS = ['numeric', 'categorical', 'boolean'] as const;

/**
 * Field specs from a list of names (a run config's data.tabularFields): a name of BRSET_DEFAULT_FIELDS
 * takes its spec; 'name:numeric', 'name:categorical' or 'name:boolean' declares another column of the
 * records (e.g. a manifest's 'hba1c:numeric'). null = BRSET_DEFAULT_FIELDS. Labels are refused.
 * @example tabularFieldSpecs(['patient_age', 'hba1c:numeric']) // [{ name: 'patient_age', kind: 'numeric' }, { name: 'hba1c', kind: 'numeric' }]
 */
export function tabularFieldSpecs(names: readonly string[] | null, where = 'data.tabularFields'): FieldSpec[] {
  if (names === null) return BRSET_DEFAULT_FIELDS.map((f) => ({ ...f }));
  if (names.length === 0) throw new Error(`${where}: empty; list at least one field, or use null for the default list`);
  const seen = new Set<string>();
  return names.map((entry) => {
    const [name, kind, extra] = entry.split(':').map((x) => x.trim());
    if (name === undefined || name === '' || extra !== undefined) throw new Error(`${where}: "${entry}" is not 'name' or 'name:kind'`);
    if (seen.has(name)) throw new Error(`${where}: "${name}" is listed twice`);
    seen.add(name);
    let spec: FieldSpec;
    if (kind === undefined) {
      const known = BRSET_DEFAULT_FIELDS.find((f) => f.name === name);
      if (known === undefined) {
        throw new Error(`${where}: "${name}" is not one of the default fields (${BRSET_DEFAULT_FIELDS.map((f) => f.name).join(', ')}); ` +
          `declare another column as '${name}:numeric', '${name}:categorical' or '${name}:boolean'`);
      }
      spec = { ...known };
    } else {
      if (!(DECLARABLE_KINDS as readonly string[]).includes(kind)) {
        throw new Error(`${where}: "${entry}" has kind "${kind}"; expected ${DECLARABLE_KINDS.join(', ')}`);
      }
      spec = { name, kind: kind as FieldKind };
    }
    checkSpec(spec);
    return spec;
  });
}

type FieldStats =
  | { name: string; kind: 'numeric'; mean: number; sd: number }
  | { name: string; kind: 'categorical'; categories: string[] }
  | { name: string; kind: 'boolean' }
  | { name: string; kind: 'textFlag'; source: string; pattern: string };

/** The JSON form of a fitted featurizer. */
export interface TabularStats {
  version: 1;
  fields: FieldStats[];
}

function checkSpec(s: FieldSpec): void {
  for (const n of [s.name, s.source]) {
    if (n !== undefined && LABEL_SET.has(n.toLowerCase())) {
      throw new Error(`tabular: "${n}" is a label (${LABEL_FIELD_NAMES.join(', ')}) and can never be a feature`);
    }
  }
  if (!['numeric', 'categorical', 'boolean', 'textFlag'].includes(s.kind)) {
    throw new Error(`tabular: field ${s.name} has kind "${String(s.kind)}" (expected numeric, categorical, boolean or textFlag)`);
  }
  if (s.kind === 'textFlag') {
    if (typeof s.source !== 'string' || typeof s.pattern !== 'string') throw new Error(`tabular: textFlag ${s.name} needs source and pattern`);
    new RegExp(s.pattern, 'i'); // throws on a bad pattern
  }
}

function where(r: ExamRecord, field: string, v: FieldValue | undefined, expected: string): Error {
  return new Error(`tabular: record ${r.imageId} field ${field} = ${JSON.stringify(v)} (expected ${expected} or null)`);
}

function numberOf(r: ExamRecord, f: string): number | null {
  const v = r.fields[f];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw where(r, f, v, 'a finite number');
  return v;
}

function boolOf(r: ExamRecord, f: string): boolean | null {
  const v = r.fields[f];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'boolean') throw where(r, f, v, 'a boolean');
  return v;
}

function categoryOf(r: ExamRecord, f: string): string | null {
  const v = r.fields[f];
  return v === undefined || v === null ? null : String(v);
}

function textFlagOf(r: ExamRecord, s: { source: string; pattern: string }, re: RegExp): boolean | null {
  const v = r.fields[s.source];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw where(r, s.source, v, 'text');
  return re.test(v);
}

/**
 * A fitted featurizer.
 *
 * @example
 *   const f = TabularFeaturizer.fit(trainRecords);           // BRSET default fields
 *   const x = f.transform(records[0]);                       // Float32Array(f.dim)
 *   const g = TabularFeaturizer.fromJSON(JSON.parse(JSON.stringify(f.toJSON())));  // same vectors
 */
export class TabularFeaturizer {
  private readonly stats: FieldStats[];
  private readonly regexes: (RegExp | null)[];
  private readonly names: string[];

  private constructor(stats: FieldStats[]) {
    const seen = new Set<string>();
    for (const s of stats) {
      checkSpec(s);
      if (seen.has(s.name)) throw new Error(`tabular: field ${s.name} listed twice`);
      seen.add(s.name);
    }
    this.stats = stats;
    this.regexes = stats.map((s) => (s.kind === 'textFlag' ? new RegExp(s.pattern, 'i') : null));
    this.names = stats.flatMap((s) => {
      if (s.kind === 'categorical') return [...s.categories.map((c) => `${s.name}=${c}`), `${s.name}=<other>`, `${s.name}:missing`];
      return [s.name, `${s.name}:missing`];
    });
  }

  /** Fit on training records only (validation/test statistics must not leak in). */
  static fit(train: readonly ExamRecord[], fields: readonly FieldSpec[] = BRSET_DEFAULT_FIELDS): TabularFeaturizer {
    fields.forEach(checkSpec);
    const stats: FieldStats[] = fields.map((s): FieldStats => {
      if (s.kind === 'numeric') {
        const xs = train.map((r) => numberOf(r, s.name)).filter((x): x is number => x !== null);
        const mean = xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
        const variance = xs.length === 0 ? 0 : xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length;
        const sd = xs.length < 2 || variance === 0 ? 1 : Math.sqrt(variance);
        return { name: s.name, kind: 'numeric', mean, sd };
      }
      if (s.kind === 'categorical') {
        const cats = new Set<string>();
        for (const r of train) {
          const c = categoryOf(r, s.name);
          if (c !== null) cats.add(c);
        }
        return { name: s.name, kind: 'categorical', categories: [...cats].sort() };
      }
      if (s.kind === 'boolean') {
        for (const r of train) boolOf(r, s.name); // type check
        return { name: s.name, kind: 'boolean' };
      }
      return { name: s.name, kind: 'textFlag', source: s.source as string, pattern: s.pattern as string };
    });
    return new TabularFeaturizer(stats);
  }

  /** Rebuild from toJSON() output; validates it. */
  static fromJSON(json: unknown): TabularFeaturizer {
    const o = json as Partial<TabularStats> | null;
    if (typeof o !== 'object' || o === null || o.version !== 1 || !Array.isArray(o.fields)) {
      throw new Error('tabular: stats JSON must be { version: 1, fields: [...] }');
    }
    for (const f of o.fields) {
      const bad = (what: string): Error => new Error(`tabular: stats for ${String(f?.name)}: ${what}`);
      if (typeof f !== 'object' || f === null || typeof f.name !== 'string') throw bad('not a field object');
      if (f.kind === 'numeric' && !(Number.isFinite(f.mean) && Number.isFinite(f.sd) && f.sd > 0)) throw bad('mean/sd must be finite, sd > 0');
      if (f.kind === 'categorical' && !(Array.isArray(f.categories) && f.categories.every((c) => typeof c === 'string'))) throw bad('categories must be strings');
    }
    return new TabularFeaturizer(o.fields.map((f) => ({ ...f })) as FieldStats[]);
  }

  /** Read a featurizer saved with save(). */
  static load(path: string): TabularFeaturizer {
    return TabularFeaturizer.fromJSON(JSON.parse(readFileSync(path, 'utf8')));
  }

  /** Plain-JSON statistics (deep copy). */
  toJSON(): TabularStats {
    return { version: 1, fields: this.stats.map((s) => (s.kind === 'categorical' ? { ...s, categories: [...s.categories] } : { ...s })) };
  }

  save(path: string): void {
    writeFileSync(path, JSON.stringify(this.toJSON(), null, 1) + '\n');
  }

  /** Output width. */
  get dim(): number {
    return this.names.length;
  }

  /** One name per output position, e.g. 'patient_age', 'patient_age:missing', 'camera=Canon CR', 'camera=<other>'. */
  featureNames(): string[] {
    return [...this.names];
  }

  /** The fields in order, as specs (for printing the resolved config). */
  fields(): FieldSpec[] {
    return this.stats.map((s) => (s.kind === 'textFlag' ? { name: s.name, kind: s.kind, source: s.source, pattern: s.pattern } : { name: s.name, kind: s.kind }));
  }

  /** Features of one record. */
  transform(r: ExamRecord): Float32Array {
    const out = new Float32Array(this.names.length);
    let k = 0;
    this.stats.forEach((s, i) => {
      if (s.kind === 'numeric') {
        const x = numberOf(r, s.name);
        if (x === null) out[k + 1] = 1;
        else out[k] = (x - s.mean) / s.sd;
        k += 2;
      } else if (s.kind === 'categorical') {
        const c = categoryOf(r, s.name);
        const n = s.categories.length;
        if (c === null) out[k + n + 1] = 1;
        else {
          const j = s.categories.indexOf(c);
          out[k + (j < 0 ? n : j)] = 1;
        }
        k += n + 2;
      } else {
        const v = s.kind === 'boolean' ? boolOf(r, s.name) : textFlagOf(r, s, this.regexes[i] as RegExp);
        if (v === null) out[k + 1] = 1;
        else out[k] = v ? 1 : 0;
        k += 2;
      }
    });
    return out;
  }

  /** Features of many records. */
  transformAll(records: readonly ExamRecord[]): Float32Array[] {
    return records.map((r) => this.transform(r));
  }
}
