/**
 * Run configs: one schema (src/config/schema.ts) gives the type, the defaults, the validation with
 * its errors and the reference table (docs/config.md, written by scripts/config-reference.mjs). A
 * run config file (configs/runs/<name>.json) names what to train on, which model, which protocol
 * and schedule. Unknown keys are errors that name the valid ones; keys starting with '//' are
 * comments; `--set a.b=c` overrides are parsed as JSON when they can be. The resolved config is part
 * of a trained run's record (info.ts), read back by eval, the index build and the server.
 *
 * @example
 *   const cfg = loadRunConfig('configs/runs/smoke.json', ['train.steps=20', 'protocol="paper"']);
 */
import { readFileSync } from 'node:fs';
import { BRSET_DEFAULT_FIELDS, GRADER_READING_FIELDS, tabularFieldSpecs } from '../data/tabular.js';
import { describe, literals, orNull, resolveSchema, section, Type, type SameType, type Static } from '../config/schema.js';
import type { Architecture } from '../models/index.js';
import { lossWeightsSchema } from '../losses/index.js';
import { modalityDropoutSchema } from '../config/modality-dropout.js';
import { lrScaleSchema } from '../config/lr-scale.js';
import type { Device } from '../tensor/index.js';

const int = (min: number, d: number, description: string) => Type.Integer({ minimum: min, default: d, description });
const probability = (d: number, description: string) => Type.Number({ minimum: 0, exclusiveMaximum: 1, default: d, description });
const fraction = (d: number, description: string) => Type.Number({ minimum: 0, maximum: 1, default: d, description });
const flag = (d: boolean, description: string) => Type.Boolean({ default: d, description });
const path = (description: string) => orNull(Type.String({ minLength: 1 }), { default: null, description });

export const RunConfigSchema = Type.Object({
  name: Type.String({ minLength: 1, default: 'run', description: 'Name used in output folders and the report.' }),
  description: Type.String({ default: '', description: 'Free text: what the run does, how long it takes, what it should reach (ignored by the code).' }),
  protocol: literals(['paper', 'honest'], {
    default: 'honest',
    description: "'honest' (patient-level split, no grade in the notes, held-out note templates, no grader's reading of the photo " +
      "in the record) or 'paper' (as close to the paper as we can get). Sets the defaults of notes.includeGrade, split.mode, " +
      'notes.templateHoldout and data.tabularFields (see below).',
  }),
  model: section({
    kind: literals(['kemt', 'clip'], { default: 'kemt', description: "'kemt' (the knowledge-enhanced multimodal transformer) or 'clip' (the image-text baseline)." }),
    preset: Type.String({ minLength: 1, default: 'small', description: 'Architecture preset name (configs/presets/<name>.json) or a path to a preset file.' }),
    textWeights: path('Local folder with Bio_ClinicalBERT (config.json, vocab.txt, weights) to start the text tower from; null = random initialization.'),
    imageWeights: path('Where the image tower starts from: a local ViT checkpoint (.bin/.safetensors, Hugging Face or timm names), or another ' +
      "retalign run's folder or checkpoint (its image tower; the image settings must agree, e.g. a tower trained on a large twin); null = random initialization."),
  }, 'Which model to train.'),
  data: section({
    source: Type.String({ minLength: 1, default: 'synth', description: "'synth' (the synthetic twin, generated in <out>/data/, or under the data root a job shares between its runs) or a dataset path (BRSET folder, DeepEyeNet, manifest)." }),
    synth: section({
      patients: int(1, 300, 'Patients in the synthetic twin.'),
      size: int(1, 128, 'Side of the rendered photos in pixels.'),
      seed: int(0, 7, 'Seed of the synthetic twin.'),
      prevalence: literals(['real', 'balanced'], { default: 'balanced', description: "'real' keeps BRSET's 93% grade 0; 'balanced' evens the grades." }),
    }, "The synthetic twin, when data.source is 'synth'."),
    splitFile: path('A split shared between runs (e.g. two models on the same test patients): reused and verified when it exists, else made there ' +
      "(relative to the working directory, or absolute); the run keeps a copy in <out>/split.json. null = the run's own <out>/split.json."),
    allowOutside: flag(false, "Read images outside the dataset folder (absolute or '../' manifest paths, symlinks leading elsewhere); " +
      'false refuses them (listed as skipped rows). `retalign train --allow-outside` sets it.'),
    imageSize: int(0, 0, "Image side in pixels fed to the model; 0 = the preset's image.imageSize."),
    maxTokens: int(8, 96, "Maximum note length in WordPiece tokens, [CLS]/[SEP] included (at most the preset's text.maxPositions)."),
    vocabSize: int(1, 2000, 'Size of the vocabulary built from the training notes when no pretrained vocabulary is given.'),
    tabularFields: orNull(Type.Array(Type.String()), {
      default: null,
      expected: 'null or a list of field names',
      description: "Tabular fields to featurize: names of the default list (src/data/tabular.ts BRSET_DEFAULT_FIELDS), or 'name:numeric', " +
        "'name:categorical', 'name:boolean' for other columns; null = the whole default list. The honest protocol's default leaves out " +
        "the grader's reading of the photo.",
    }),
  }, 'What to train on.'),
  split: section({
    train: fraction(0.7, 'Share of patients in the training split (> 0).'),
    val: fraction(0.1, 'Share of patients in the validation split (the three shares sum to 1).'),
    test: fraction(0.2, 'Share of patients in the test split (> 0).'),
    seed: int(0, 1, 'Seed of the patient-level, ICDR-stratified split.'),
    mode: literals(['patient', 'image'], {
      default: 'patient',
      description: "'patient' (a patient's images all in one split) or 'image' (images split one by one: a patient's other eye can sit " +
        "in training, a leakage). The paper protocol's default is 'image' (its split method is unknown), the honest protocol's 'patient'.",
    }),
  }, 'The split of the dataset into train, validation and test.'),
  notes: section({
    includeGrade: flag(false, 'State the ICDR/SDRG grade in the note (the paper protocol does: it is label leakage).'),
    includeFindings: flag(true, 'Image-grounded findings from the synthetic ground truth.'),
    includePatient: flag(true, 'Age, sex, diabetes duration, insulin.'),
    templateHoldout: flag(true, 'Hold out some sentence templates for the test split.'),
    includeRecord: flag(false, "Restate every field of the patient's record (age, sex, diabetes, duration, insulin, comorbidities, camera, " +
      "photo quality, eye) in the note, so note and record carry the same facts (a leakage: a protocol-ladder rung; never a protocol's default)."),
    seed: int(0, 3, 'Seed of the note builder.'),
  }, 'How the clinical notes are written.'),
  loss: section({
    weights: lossWeightsSchema({ imageText: 1, imageTabular: 0.5, textTabular: 0.5, mae: 0.5, mlm: 0.5, icdr: 1, sdrg: 1, icdrImage: 1, sdrgImage: 1 }),
    classWeights: flag(true, 'Inverse-frequency class weights (from the training labels) for the grade cross-entropies.'),
    classWeighting: literals(['class', 'exam'], {
      default: 'exam',
      description: "How the class weights meet label smoothing: 'exam' (each exam's whole loss weighted by its own grade's weight) or " +
        "'class' (PyTorch's semantics: the smoothing term is weighted by each class's weight; on skewed data such as BRSET's 93% " +
        "grade 0 this pulls grade-0 exams toward rare grades, see the README).",
    }),
    labelSmoothing: probability(0.05, 'Label smoothing for the grade cross-entropies.'),
    maeMaskRatio: probability(0.5, 'MAE: fraction of patches masked.'),
    reconFraction: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 1, description: 'Fraction of each batch the MAE and MLM side passes run on (1 = all; less is cheaper on a CPU).' }),
    mlmProb: probability(0.15, 'MLM: probability that a note token is selected.'),
  }, 'The objective (a part the model does not train is switched off).'),
  train: section({
    steps: int(1, 300, 'Optimizer steps.'),
    batchSize: int(1, 32, 'Samples per micro-batch.'),
    lr: Type.Number({ exclusiveMinimum: 0, default: 5e-4, description: 'Peak learning rate (linear warmup, then cosine decay).' }),
    warmupSteps: int(0, 30, 'Linear warmup steps.'),
    minLrRatio: fraction(0.05, 'Cosine floor as a fraction of lr.'),
    weightDecay: Type.Number({ minimum: 0, default: 0.05, description: 'Decoupled weight decay on matrices.' }),
    clipGradNorm: Type.Number({ minimum: 0, default: 1, description: "Max global gradient L2 norm; 0 = no clipping." }),
    clipScope: literals(['global', 'module'], {
      default: 'global',
      description: "What clipGradNorm bounds: all gradients together ('global') or each top-level module's own ('module': " +
        'a large text gradient then no longer shrinks the image tower\'s step).',
    }),
    accumSteps: int(1, 1, 'Micro-batches per optimizer step (gradient accumulation).'),
    lrScale: lrScaleSchema(),
    evalEvery: int(0, 100, 'Validate (and keep the best checkpoint) every this many steps; 0 = only at the end.'),
    checkpointEvery: orNull(Type.Integer({ minimum: 0 }), {
      default: null, description: 'Write the `last` checkpoint every this many steps; 0 = only at the end; null = every train.evalEvery steps.',
    }),
    patience: int(0, 0, 'Early stopping: validations without improvement before stopping (0 = off).'),
    modalityDropout: modalityDropoutSchema({ image: 0.1, text: 0.3, tabular: 0.3 }),
    noteSentenceDropout: probability(0, "Training only: probability that each sentence of a note is left out (at least one stays), so " +
      'the text tower leans on no single sentence and a short query looks like a note it has seen.'),
    noteWordDropout: probability(0, 'Training only: probability that each word piece of a note is replaced by [MASK].'),
    flip: literals(['photo', 'mirror', 'off'], {
      default: 'photo',
      description: "Training only: half the photos are flipped left-right. 'photo': the photo alone (its note and record then name the " +
        "wrong eye half the time); 'mirror': the flipped photo's note and record say the other eye (right <-> left swapped: a flipped " +
        "right-eye photo looks like a left eye; measured on the demo, see the README: not better, so not the default); 'off': no flips.",
    }),
    gradeBatchShare: probability(0, 'Share of training batches drawn from one ICDR grade (hard negatives for the contrastive losses: within ' +
      'a grade only what else the note says tells the photos apart); 0 = every batch shuffled across grades.'),
    imageOnlyShare: probability(0.25, 'Probability that a training sample shows the fusion its photo alone (before the per-modality draws).'),
    ema: probability(0, 'Decay of an exponential moving average of the weights, updated every optimizer step (ramped up over the first ' +
      'steps); validation, the `best` checkpoint and every consumer of a checkpoint (eval, index, serve) use the average. 0 = off.'),
    seed: int(0, 1, 'Seeds libtorch (initial weights, dropout, masks) and the data streams (epoch order, flips, modality dropout).'),
    device: Type.Union([Type.Literal('cpu'), Type.Literal('cuda'), Type.TemplateLiteral('cuda:${number}')], {
      default: 'cpu', expected: "'cpu', 'cuda' or 'cuda:N'", description: 'Where training runs (CUDA needs a CUDA build of libtorch).',
    }),
    precision: literals(['float32', 'bfloat16'], {
      default: 'float32',
      description: "'bfloat16': autocast for forward and losses (float32 master weights); CUDA only.",
    }),
    threads: int(0, 0, 'libtorch threads; 0 = one per CPU core.'),
    logEvery: int(1, 10, 'Write a metrics.jsonl train line every this many steps.'),
  }, 'The schedule and the machine.'),
  eval: section({
    bootstrap: int(1, 200, 'Bootstrap resamples (over patients) per confidence interval.'),
    seed: int(0, 1, 'Seed of the bootstrap draws and the embedding-map sample.'),
    ks: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, default: [1, 5, 10], description: 'Recall@K cut-offs.' }),
    gallery: literals(['image', 'fused'], {
      default: 'image',
      description: "What text -> image retrieval searches: 'image' (each gallery item embedded from its photo alone) or 'fused' (from its " +
        "photo and its patient record together, the mean of the two projections: the gallery has seen the record the query restates. " +
        'A leakage, named as such in the report; only the protocol ladder sets it).',
    }),
    gallerySize: orNull(Type.Integer({ minimum: 2 }), {
      default: null,
      description: 'Retrieval galleries of this many test items (the test set shuffled with eval.seed and cut into galleries; each query ' +
        'is ranked within its own); null = one gallery of the whole test set. A small gallery inflates Recall@K.',
    }),
    split: literals(['test', 'train'], {
      default: 'test',
      description: "The split evaluated: 'test', or 'train' (images the model was trained on: a leakage; only the protocol ladder sets it).",
    }),
  }, 'Evaluation.'),
}, { additionalProperties: false, title: 'a run config' });
export type RunConfig = Static<typeof RunConfigSchema>;
export type Protocol = RunConfig['protocol'];

// The schema's names are the models' and the engine's (checked at compile time).
true satisfies SameType<RunConfig['model']['kind'], Architecture>;
true satisfies SameType<RunConfig['train']['device'], Device>;

/** Every field's default, before the protocol's (see protocolDefaults). */
export const DEFAULT_RUN_CONFIG: RunConfig = resolveSchema(RunConfigSchema, {}, 'run config defaults');

/**
 * Run-config keys renamed to the training loop's names. A file or --set that uses an old name still
 * works, with a warning; checkpoints written before the rename store the old names and load silently.
 */
export const RENAMED_KEYS: readonly { old: string; now: string; convert: (v: unknown, where: string) => unknown }[] = [
  { old: 'train.clipNorm', now: 'train.clipGradNorm', convert: (v) => v },
  {
    old: 'train.bf16', now: 'train.precision',
    convert: (v, where) => {
      if (typeof v !== 'boolean') throw new Error(`${where}: 'train.bf16' (now 'train.precision') must be true or false, got ${JSON.stringify(v)}`);
      return v ? 'bfloat16' : 'float32';
    },
  },
];

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** A copy without comment keys ('//...') at any depth. */
function withoutComments(v: unknown): unknown {
  if (!isPlainObject(v)) return v;
  return Object.fromEntries(Object.entries(v).filter(([k]) => !k.startsWith('//')).map(([k, x]) => [k, withoutComments(x)]));
}

/** Moves old key names (RENAMED_KEYS) to their new place in `layer` (a fresh copy), calling `warn` for each. */
function renameOldKeys(layer: Record<string, unknown>, where: string, warn: (msg: string) => void): void {
  for (const r of RENAMED_KEYS) {
    const [sec, oldKey] = r.old.split('.') as [string, string];
    const newKey = r.now.split('.')[1] as string;
    const s = layer[sec];
    if (!isPlainObject(s) || !(oldKey in s)) continue;
    if (newKey in s) throw new Error(`${where}: '${r.old}' is the old name of '${r.now}'; give only '${r.now}'`);
    s[newKey] = r.convert(s[oldKey], where);
    delete s[oldKey];
    warn(`${where}: '${r.old}' is deprecated: it is now '${r.now}' (${JSON.stringify(s[newKey])}); rename it`);
  }
}

/** `over` merged into `base`: objects key by key, anything else replaced (the schema checks the result). */
function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? deepMerge(base[k], v) : v;
  return out;
}

/** Parses `a.b.c=value` (value as JSON when possible, else a string) into a nested object. */
export function parseSet(expr: string): Record<string, unknown> {
  const eq = expr.indexOf('=');
  if (eq <= 0) throw new Error(`--set expects path.to.key=value, got '${expr}'`);
  const keys = expr.slice(0, eq).trim().split('.');
  const raw = expr.slice(eq + 1);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  const root: Record<string, unknown> = {};
  let node = root;
  keys.forEach((k, i) => {
    if (i === keys.length - 1) node[k] = value;
    else node = (node[k] = {}) as Record<string, unknown>;
  });
  return root;
}

/** The protocol's implied settings, applied before explicit file values and --set overrides. */
export function protocolDefaults(p: Protocol): Record<string, unknown> {
  return p === 'paper'
    ? { notes: { includeGrade: true, templateHoldout: false }, split: { mode: 'image' } }
    : { notes: { includeGrade: false, templateHoldout: true }, split: { mode: 'patient' }, data: { tabularFields: [...HONEST_TABULAR_FIELDS] } };
}

/**
 * The honest protocol's default record: the patient's fields and the photo's quality, without the
 * grader's reading of the photo (GRADER_READING_FIELDS: optic disc, vessels, macula normal/abnormal),
 * which the same annotators set with the DR grade. A clinic has the patient's record when it grades a
 * new photo, not the grader's reading of it. On the demo twin the reading carries much of the grade:
 * feeding it lifts honest ICDR and SDRG kappa well above what the photo teaches (image-only kappa ~0).
 */
export const HONEST_TABULAR_FIELDS: readonly string[] = BRSET_DEFAULT_FIELDS.map((f) => f.name).filter((n) => !GRADER_READING_FIELDS.includes(n));

/** Rules across fields, after the schema: split shares, bf16 on CUDA, tabular field names. */
function validate(c: RunConfig, where: string): void {
  const s = c.split;
  const sum = s.train + s.val + s.test;
  if (Math.abs(sum - 1) > 1e-6 || s.train <= 0 || s.test <= 0 || s.val < 0) {
    throw new Error(`${where}: split ratios must be positive and sum to 1, got train=${s.train} val=${s.val} test=${s.test}`);
  }
  if (c.train.precision === 'bfloat16' && !c.train.device.startsWith('cuda')) {
    throw new Error(`${where}: 'train.precision' 'bfloat16' needs a CUDA device (train.device is '${c.train.device}'): libtorch's CPU autocast ` +
      `does not cover LayerNorm, so a transformer fails under it`);
  }
  if (c.data.tabularFields !== null) tabularFieldSpecs(c.data.tabularFields, `${where}: data.tabularFields`); // names, kinds and labels checked before any data is read
}

/**
 * Resolves a run config: defaults <- protocol defaults <- file <- the file's `byProtocol` layer for the
 * run's protocol <- --set overrides (in order), each layer checked against the schema as it is applied,
 * so an error names the file or the --set that made it. The protocol may itself come from the file or a
 * --set. Old key names (RENAMED_KEYS) are moved to the new ones with a `warn`. `byProtocol` (optional,
 * file only) holds a partial run config per protocol name, e.g. more steps under one protocol; it is
 * not part of the resolved config.
 * @example resolveRunConfig({ train: { steps: 20 } }, ['protocol="paper"'], 'inline').train.steps // 20
 * @example resolveRunConfig({ byProtocol: { paper: { train: { steps: 600 } } } }, ['protocol="paper"']).train.steps // 600
 */
export function resolveRunConfig(file: Record<string, unknown>, sets: string[] = [], where = 'run config',
  warn: (msg: string) => void = (m) => console.warn(m)): RunConfig {
  const overrides = sets.map(parseSet);
  let protocol: unknown = file['protocol'] ?? 'honest';
  for (const o of overrides) if ('protocol' in o) protocol = o['protocol'];
  if (protocol !== 'paper' && protocol !== 'honest') {
    throw new Error(`${where}: 'protocol' must be ${describe(RunConfigSchema.properties.protocol)}, got ${JSON.stringify(protocol)}`);
  }
  const apply = (base: RunConfig, layer: Record<string, unknown>, at: string): RunConfig => {
    const l = withoutComments(layer) as Record<string, unknown>;
    renameOldKeys(l, at, warn);
    return resolveSchema(RunConfigSchema, deepMerge(base, l), at);
  };
  const { byProtocol, ...rest } = file;
  const layers = protocolLayers(byProtocol, where);
  let c = apply(DEFAULT_RUN_CONFIG, protocolDefaults(protocol), `${where} (the ${protocol} protocol's defaults)`);
  c = apply(c, rest, where);
  const own = layers[protocol];
  if (own !== undefined) c = apply(c, own, `${where}: byProtocol.${protocol}`);
  overrides.forEach((o, i) => (c = apply(c, o, `--set ${sets[i]}`)));
  validate(c, where);
  return c;
}

/** A file's `byProtocol` object, checked: keys are protocol names, values partial run configs without a protocol. */
function protocolLayers(v: unknown, where: string): Partial<Record<Protocol, Record<string, unknown>>> {
  if (v === undefined) return {};
  if (!isPlainObject(v)) throw new Error(`${where}: 'byProtocol' must be an object of protocol name -> partial run config, got ${JSON.stringify(v)}`);
  const out: Partial<Record<Protocol, Record<string, unknown>>> = {};
  for (const [k, layer] of Object.entries(v)) {
    if (k.startsWith('//')) continue;
    if (k !== 'paper' && k !== 'honest') throw new Error(`${where}: byProtocol.${k}: not a protocol (expected 'paper' or 'honest')`);
    if (!isPlainObject(layer)) throw new Error(`${where}: byProtocol.${k} must be an object (a partial run config), got ${JSON.stringify(layer)}`);
    if ('protocol' in layer) throw new Error(`${where}: byProtocol.${k} may not set 'protocol'`);
    out[k] = layer;
  }
  return out;
}

/** Reads and resolves a run config file. */
export function loadRunConfig(path: string, sets: string[] = []): RunConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read run config ${path}: ${(e as Error).message}`);
  }
  if (!isPlainObject(parsed)) throw new Error(`${path}: a run config must be a JSON object`);
  return resolveRunConfig(parsed, sets, path);
}
