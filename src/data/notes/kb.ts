/**
 * The knowledge base behind knowledge-enhanced notes: grade definitions (ICDR, SDRG), lesion
 * appearance and clinical meaning, referral advice, flag and image-quality phrases. Kept as a
 * versioned data file (assets/knowledge/<version>.json) so that a note set can name the exact
 * knowledge it was built from; validated on load.
 */
import { readJsonAsset } from '../assets.js';
import { NUM_GRADES } from '../grades.js';

export interface IcdrEntry { grade: number; name: string; definition: string; referral: string }
export interface SdrgEntry { grade: number; code: string; name: string; definition: string }
export interface LesionEntry { singular: string; plural: string; appearance: string; significance: string }

export interface KnowledgeBase {
  version: string;
  icdr: IcdrEntry[];
  sdrg: SdrgEntry[];
  /** By lesion type (synth/types.ts LesionType names). */
  lesions: Record<string, LesionEntry>;
  /** Phrase per BRSET flag name (canonical reader names: drusen, increased_cup_disc, ...). */
  flags: Record<string, string>;
  /** Phrase per image-quality defect name (synth defectsOf names). */
  quality: Record<string, string>;
}

const cache = new Map<string, KnowledgeBase>();

/**
 * Load and validate a knowledge base version from assets/knowledge/.
 *
 * @example loadKnowledgeBase('kb-v1').icdr[2].name // 'moderate non-proliferative diabetic retinopathy'
 */
export function loadKnowledgeBase(version = 'kb-v1'): KnowledgeBase {
  const hit = cache.get(version);
  if (hit) return hit;
  if (!/^[a-z0-9-]+$/i.test(version)) throw new Error(`knowledge base version ${JSON.stringify(version)}: expected e.g. 'kb-v1'`);
  const kb = validateKnowledgeBase(readJsonAsset('knowledge', `${version}.json`), `assets/knowledge/${version}.json`);
  cache.set(version, kb);
  return kb;
}

/** Check the shape of a parsed knowledge base; errors name the file and the field. */
export function validateKnowledgeBase(raw: unknown, file: string): KnowledgeBase {
  const fail = (path: string, expected: string): never => {
    throw new Error(`${file}: field ${path}: expected ${expected}`);
  };
  const obj = (v: unknown, path: string): Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : fail(path, 'an object');
  const str = (v: unknown, path: string): string => (typeof v === 'string' && v.length > 0 ? v : fail(path, 'a non-empty string'));
  const root = obj(raw, '(root)');
  const version = str(root['version'], 'version');
  const grades = (key: 'icdr' | 'sdrg'): Record<string, unknown>[] => {
    const arr = root[key];
    if (!Array.isArray(arr) || arr.length !== NUM_GRADES) fail(key, `an array of ${NUM_GRADES} grade entries (0..${NUM_GRADES - 1})`);
    return (arr as unknown[]).map((e, i) => {
      const o = obj(e, `${key}[${i}]`);
      if (o['grade'] !== i) fail(`${key}[${i}].grade`, `${i}`);
      return o;
    });
  };
  const icdr = grades('icdr').map((o, i) => ({
    grade: i, name: str(o['name'], `icdr[${i}].name`), definition: str(o['definition'], `icdr[${i}].definition`),
    referral: str(o['referral'], `icdr[${i}].referral`),
  }));
  const sdrg = grades('sdrg').map((o, i) => ({
    grade: i, code: str(o['code'], `sdrg[${i}].code`), name: str(o['name'], `sdrg[${i}].name`),
    definition: str(o['definition'], `sdrg[${i}].definition`),
  }));
  const lesions: Record<string, LesionEntry> = {};
  for (const [k, v] of Object.entries(obj(root['lesions'], 'lesions'))) {
    const o = obj(v, `lesions.${k}`);
    lesions[k] = {
      singular: str(o['singular'], `lesions.${k}.singular`), plural: str(o['plural'], `lesions.${k}.plural`),
      appearance: str(o['appearance'], `lesions.${k}.appearance`), significance: str(o['significance'], `lesions.${k}.significance`),
    };
  }
  const phrases = (key: string): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(obj(root[key], key))) out[k] = str(v, `${key}.${k}`);
    return out;
  };
  return { version, icdr, sdrg, lesions, flags: phrases('flags'), quality: phrases('quality') };
}
