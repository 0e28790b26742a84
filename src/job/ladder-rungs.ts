/**
 * The protocol ladder's rungs (issue 12): from the honest protocol to the most permissive one, each
 * rung adding exactly one leakage as ONE setting of the resolved run config. Rung k's config is the
 * honest protocol's resolution of the base config plus the settings of rungs 2..k, each applied as a
 * `--set` so the schema checks it. Rungs 5-7 change only the evaluation: they share rung 4's training.
 *
 * @example
 *   const cfgs = ladderConfigs(JSON.parse(readFileSync('configs/runs/demo-kemt.json', 'utf8')), [], 'demo-kemt.json');
 *   cfgs[2].split.mode // 'image' (rung 3)
 */
import { resolveRunConfig, type RunConfig } from '../run/index.js';

/** One rung: its number, a short name, the setting it changes (none for rung 1) and what it adds, in words. */
export interface Rung {
  n: number;
  name: string;
  /** Dotted path of the one setting the rung changes; null for rung 1 (the base). */
  setting: string | null;
  /** The value it sets, from the base config (rung 6's gallery is one training batch). */
  value: (base: RunConfig) => unknown;
  /** One sentence: what the rung adds. */
  adds: string;
  /** The t2i Recall@1 variant this rung reports as its headline (rung 6 on: duplicate-aware hits). */
  r1Variant: 'strict' | 'duplicate-aware';
}

export const RUNGS: readonly Rung[] = [
  {
    n: 1, name: 'honest', setting: null, value: () => null, r1Variant: 'strict',
    adds: 'The honest protocol: patient-level split, no grade in the note, held-out note templates, image-only gallery, full test gallery, strict hits.',
  },
  {
    n: 2, name: '+ grade in note', setting: 'notes.includeGrade', value: () => true, r1Variant: 'strict',
    adds: 'The note states the ICDR and SDRG grade with its definition and referral advice (label leakage into the text).',
  },
  {
    n: 3, name: '+ image-level split', setting: 'split.mode', value: () => 'image', r1Variant: 'strict',
    adds: "Images are split one by one, so a patient's other eye can sit in training.",
  },
  {
    n: 4, name: '+ note restates record', setting: 'notes.includeRecord', value: () => true, r1Variant: 'strict',
    adds: "The note restates every field of the patient's record (age, sex, diabetes, duration, insulin, comorbidities, camera, photo quality, eye).",
  },
  {
    n: 5, name: '+ fused gallery', setting: 'eval.gallery', value: () => 'fused', r1Variant: 'strict',
    adds: "Each gallery item is embedded from its photo and its record together (mean of the two projections) while the query is the note alone; " +
      'a model without a record tower (CLIP) keeps the image gallery.',
  },
  {
    n: 6, name: '+ batch gallery, dup-aware hits', setting: 'eval.gallerySize', value: (b) => b.train.batchSize, r1Variant: 'duplicate-aware',
    adds: 'Retrieval within galleries the size of one training batch, and a retrieved item whose note equals the query\'s counts as a hit.',
  },
  {
    n: 7, name: '+ training split', setting: 'eval.split', value: () => 'train', r1Variant: 'duplicate-aware',
    adds: 'Evaluation on the images the model was trained on.',
  },
];

/** The value at a dotted path of a config object. */
export function settingOf(cfg: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], cfg);
}

/**
 * The resolved run config of every rung (index 0 = rung 1): the base config file under the honest
 * protocol with `sets`, then the settings of rungs 2..k. Throws when the base already sets one of the
 * rungs' settings to the rung's value (that rung would add nothing).
 */
export function ladderConfigs(file: Record<string, unknown>, sets: readonly string[], where: string): RunConfig[] {
  const honest = [...sets, 'protocol="honest"'];
  const base = resolveRunConfig(file, honest, where, () => {});
  const deltas: string[] = [];
  return RUNGS.map((r) => {
    if (r.setting !== null) {
      const v = r.value(base);
      if (JSON.stringify(settingOf(base, r.setting)) === JSON.stringify(v)) {
        throw new Error(`${where}: the base config already has ${r.setting} = ${JSON.stringify(v)}, which is rung ${r.n}'s leakage ` +
          `('${r.name}'); the ladder starts from the honest protocol: remove it from the config or the --set`);
      }
      deltas.push(`${r.setting}=${JSON.stringify(v)}`);
    }
    return resolveRunConfig(file, [...honest, ...deltas], `${where} (ladder rung ${r.n})`, () => {});
  });
}

/** The part of a run config that training reads (everything but the evaluation block). */
export function trainingPart(cfg: RunConfig): Omit<RunConfig, 'eval'> {
  const { eval: _e, ...rest } = cfg;
  return rest;
}

/**
 * For each rung (index 0 = rung 1), the index of the rung whose trained model it evaluates: the
 * first rung with the same training part (rungs that change only the evaluation share a training).
 */
export function trainedAt(cfgs: readonly RunConfig[]): number[] {
  const keys = cfgs.map((c) => JSON.stringify(trainingPart(c)));
  return keys.map((k) => keys.indexOf(k));
}

/**
 * Parses a rung list: '1-7', '1,3,5', '2-4,7'.
 * @example parseRungs('1-3,7') // [1, 2, 3, 7]
 */
export function parseRungs(spec: string): number[] {
  const out = new Set<number>();
  for (const part of spec.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`--rungs: '${part}' is not a rung number or a range like 1-7`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (a < 1 || b > RUNGS.length || a > b) throw new Error(`--rungs: '${part}' is outside 1-${RUNGS.length} (or the range is reversed)`);
    for (let i = a; i <= b; i++) out.add(i);
  }
  if (out.size === 0) throw new Error(`--rungs: '${spec}' names no rung (expected e.g. 1-${RUNGS.length})`);
  return [...out].sort((x, y) => x - y);
}
