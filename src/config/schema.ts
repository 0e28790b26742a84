/**
 * Config schemas. Each config (model, train loop, objective, run) is one TypeBox schema (a JSON
 * Schema object that TypeScript can read), and everything about the config comes from it: its type
 * (`Static<typeof Schema>`), its defaults (each field's `default`), its validation (`resolveSchema`:
 * errors name the source, the field path, the bad value and what was expected; unknown keys list the
 * valid ones) and its reference table (`referenceRows`: each field's `description`, docs/config.md).
 * Rules that span fields (a width divisible by the heads, split ratios summing to 1) stay next to
 * each schema. This module imports no other retalign layer: every layer may use it.
 *
 * @example
 *   const Sched = section({ lr: Type.Number({ exclusiveMinimum: 0, default: 1e-3, description: 'Peak learning rate.' }) }, 'A schedule.');
 *   resolveSchema(Sched, {}, 'x.json').lr;  // 0.001
 *   resolveSchema(Sched, { lr: -1 }, 'x.json'); // throws "x.json: 'lr' must be a number > 0, got -1"
 */
import { Type, type Static, type TObject, type TProperties, type TSchema, type TLiteral, type TUnion, type TNull, type ObjectOptions, type SchemaOptions } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';

export { Type, type Static, type TSchema, type TObject } from '@sinclair/typebox';

/** The input form of a config: every field optional, recursively (arrays are given whole). */
export type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** `true` when A and B are the same type: `true satisfies SameType<Static<typeof S>, Handwritten>` checks a schema against a type. */
export type SameType<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/** A field's options: JSON Schema's, plus `expected` for when the generated wording would be unclear. */
export interface FieldOptions extends SchemaOptions {
  /** Replaces the generated "what was expected" text in errors and the reference table. */
  expected?: string;
}

/**
 * A config section: an object whose unknown keys are errors; a missing section is `{}` filled with
 * its fields' defaults.
 * @example section({ seed: Type.Integer({ minimum: 0, default: 1, description: 'Seed.' }) }, 'The split.')
 */
export function section<P extends TProperties>(properties: P, description: string, options: ObjectOptions = {}): TObject<P> {
  return Type.Object(properties, { additionalProperties: false, default: {}, description, ...options });
}

type LiteralsOf<L extends readonly string[]> = { -readonly [K in keyof L]: TLiteral<L[K]> };

/**
 * One of a few strings.
 * @example literals(['patch', 'conv'], { default: 'patch', description: 'How pixels become tokens.' })
 */
export function literals<const L extends readonly [string, ...string[]]>(values: L, options: FieldOptions): TUnion<LiteralsOf<L>> {
  return Type.Union(values.map((v) => Type.Literal(v)), options) as unknown as TUnion<LiteralsOf<L>>;
}

/**
 * A value or null.
 * @example orNull(Type.Integer({ minimum: 1 }), { default: null, description: 'Cap on steps; null = none.' })
 */
export function orNull<S extends TSchema>(schema: S, options: FieldOptions): TUnion<[S, TNull]> {
  return Type.Union([schema, Type.Null()], options);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A field's schema as plain JSON Schema (TypeBox schemas are exactly that, plus symbol tags). */
interface Json {
  type?: string;
  const?: unknown;
  anyOf?: Json[];
  items?: Json;
  properties?: Record<string, Json>;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  default?: unknown;
  description?: string;
  title?: string;
  expected?: string;
}
const json = (s: TSchema): Json => s as unknown as Json;

function range(s: Json): string {
  const lo = s.minimum !== undefined ? { v: s.minimum, open: false } : s.exclusiveMinimum !== undefined ? { v: s.exclusiveMinimum, open: true } : null;
  const hi = s.maximum !== undefined ? { v: s.maximum, open: false } : s.exclusiveMaximum !== undefined ? { v: s.exclusiveMaximum, open: true } : null;
  if (lo && hi) return ` in ${lo.open ? '(' : '['}${lo.v}, ${hi.v}${hi.open ? ')' : ']'}`;
  if (lo) return ` ${lo.open ? '>' : '>='} ${lo.v}`;
  if (hi) return ` ${hi.open ? '<' : '<='} ${hi.v}`;
  return '';
}

/** "a number >= 0" -> "numbers >= 0" (the items of a list). */
function plural(what: string): string {
  return what.replace(/^an? /, '').replace(/^(non-empty )?(number|integer|string|boolean|object)/, '$1$2s');
}

function describeJson(s: Json): string {
  if (s.expected !== undefined) return s.expected;
  if (s.anyOf) {
    const vs = s.anyOf;
    if (vs.every((v) => v.const !== undefined)) {
      const names = vs.map((v) => JSON.stringify(v.const).replace(/^"(.*)"$/, "'$1'"));
      return names.length === 2 ? `${names[0]} or ${names[1]}` : `one of ${names.join(', ')}`;
    }
    const hasNull = vs.some((v) => v.type === 'null');
    return [...(hasNull ? ['null'] : []), ...vs.filter((v) => v.type !== 'null').map(describeJson)].join(' or ');
  }
  if (s.const !== undefined) return JSON.stringify(s.const);
  switch (s.type) {
    case 'integer': return `an integer${range(s)}`;
    case 'number': return `a number${range(s)}`;
    case 'boolean': return 'true or false';
    case 'string': return (s.minLength ?? 0) >= 1 ? 'a non-empty string' : 'a string';
    case 'null': return 'null';
    case 'object': return `an object {${Object.keys(s.properties ?? {}).join(', ')}}`;
    case 'array': {
      const items = s.items ? plural(describeJson(s.items)) : 'values';
      return s.minItems !== undefined && s.minItems === s.maxItems ? `a list of ${s.minItems} ${items}` : `a list of ${items}`;
    }
    default: return 'a valid value';
  }
}

/**
 * What a field accepts, in words (errors and the reference table say the same).
 * @example describe(Type.Number({ minimum: 0, exclusiveMaximum: 1 })) // 'a number in [0, 1)'
 */
export function describe(schema: TSchema): string {
  return describeJson(json(schema));
}

/** '/train/lr' -> 'train.lr'; '/eval/ks/0' -> 'eval.ks[0]'. */
function dotted(pointer: string): string {
  return pointer.split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((p, k) => (/^\d+$/.test(k) ? `${p}[${k}]` : p ? `${p}.${k}` : k), '');
}

function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 200 ? `${s.slice(0, 197)}...` : s;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'number' ? 'number' : typeof v;
}

/**
 * The error to report: an unknown key first (it explains the rest: a misspelt key leaves the right
 * one missing), then a bad value, then a missing field.
 */
function pick(errors: Iterable<ValueError>): ValueError | undefined {
  const all = [...errors];
  const rank = (e: ValueError): number =>
    e.type === ValueErrorType.ObjectAdditionalProperties ? 0 : e.type === ValueErrorType.ObjectRequiredProperty ? 2 : 1;
  return all.sort((a, b) => rank(a) - rank(b))[0];
}

/** One error in words; a union is explained through the one variant of the value's own type, when there is one. */
function explain(e: ValueError): string {
  const s = json(e.schema);
  const path = dotted(e.path);
  if (e.type === ValueErrorType.Union && s.anyOf && s.expected === undefined) {
    const t = jsonType(e.value);
    const same = s.anyOf.map((v, i) => ({ v, i })).filter(({ v }) => v.const === undefined && (v.type === t || (v.type === 'integer' && t === 'number')));
    const inner = same.length === 1 && same[0] ? e.errors[same[0].i] : undefined;
    const first = inner === undefined ? undefined : pick(inner);
    if (first !== undefined) return explain(first);
  }
  if (e.type === ValueErrorType.ObjectAdditionalProperties) {
    const parent = dotted(e.path.slice(0, e.path.lastIndexOf('/')));
    return `unknown key '${path}'; valid keys${parent ? ` of '${parent}'` : ''}: ${Object.keys(s.properties ?? {}).join(', ')}`;
  }
  if (e.type === ValueErrorType.ObjectRequiredProperty || e.value === undefined) return `'${path}' is missing; expected ${describeJson(s)}`;
  return `'${path}' must be ${describeJson(s)}, got ${show(e.value)}`;
}

/** Sections given as something other than an object (an array would otherwise be read as `{}`). */
function checkSections(s: Json, v: unknown, pointer: string): string | null {
  if (s.type !== 'object' || v === undefined) return null;
  if (!isPlainObject(v)) return pointer === '' ? null : `'${dotted(pointer)}' must be ${describeJson(s)}, got ${show(v)}`;
  for (const [k, p] of Object.entries(s.properties ?? {})) {
    const e = checkSections(p, v[k], `${pointer}/${k}`);
    if (e !== null) return e;
  }
  return null;
}

/** The value with every object's keys in schema order (what JSON.stringify writes, hashes and compares, is then stable). */
function ordered(s: Json, v: unknown): unknown {
  if (!isPlainObject(v)) return Array.isArray(v) && s.items ? v.map((x) => ordered(s.items as Json, x)) : v;
  const obj = s.anyOf?.find((x) => x.type === 'object') ?? s;
  if (obj.properties === undefined) return v;
  return Object.fromEntries(Object.entries(obj.properties).filter(([k]) => k in v).map(([k, p]) => [k, ordered(p, v[k])]));
}

/**
 * Fills defaults into a copy of `input` and validates it against `schema` (an object schema).
 * Keys come out in schema order, whatever the input's order.
 * Errors start with `where` (the file, or what the input is), then name the field and the value.
 * @example resolveSchema(TrainConfigSchema, { accumSteps: 0 }, 'train config') // throws "train config: 'accumSteps' must be an integer >= 1, got 0"
 */
export function resolveSchema<S extends TObject>(schema: S, input: unknown, where: string): Static<S> {
  if (!isPlainObject(input)) throw new Error(`${where}: ${json(schema).title ?? 'a config'} must be a JSON object, got ${show(input)}`);
  const sectionError = checkSections(json(schema), input, '');
  if (sectionError !== null) throw new Error(`${where}: ${sectionError}`);
  const value: unknown = Value.Default(schema, Value.Clone(input));
  const e = pick(Value.Errors(schema, value));
  if (e !== undefined) throw new Error(`${where}: ${explain(e)}`);
  return ordered(json(schema), value) as Static<S>;
}

/**
 * Every default of a schema, resolved (a fresh object each call).
 * @example defaultsOf(TrainConfigSchema).lr // 1e-4
 */
export function defaultsOf<S extends TObject>(schema: S): Static<S> {
  return resolveSchema(schema, {}, `defaults of ${json(schema).title ?? 'a config'}`);
}

export interface ReferenceRow {
  /** Dotted path, e.g. 'train.lr'. */
  key: string;
  /** What it accepts, as errors say it. */
  type: string;
  /** The default as JSON. */
  default: string;
  description: string;
}

/**
 * One row per leaf field (sections are walked), in schema order: the config reference.
 * @example referenceRows(RunConfigSchema)[0] // { key: 'name', type: 'a non-empty string', default: '"run"', description: ... }
 */
export function referenceRows(schema: TSchema, prefix = ''): ReferenceRow[] {
  const rows: ReferenceRow[] = [];
  for (const [k, p] of Object.entries(json(schema).properties ?? {})) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (p.type === 'object' && p.properties) rows.push(...referenceRows(p as unknown as TSchema, key));
    else rows.push({ key, type: describeJson(p), default: JSON.stringify(p.default), description: p.description ?? '' });
  }
  return rows;
}
