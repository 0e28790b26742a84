/**
 * The run-config reference (docs/config.md), generated from the schema in config.ts: every key with
 * what it accepts, its default and its description, then what each protocol changes and the old key
 * names still read. `node scripts/config-reference.mjs` writes it; a test checks the committed file
 * is what this function returns, so the reference cannot drift from the code.
 *
 * @example writeFileSync('docs/config.md', runConfigReference());
 */
import { referenceRows } from '../config/schema.js';
import { protocolDefaults, RENAMED_KEYS, RunConfigSchema } from './config.js';

/** Markdown table cell: no pipes or line breaks. */
const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** Dotted keys and values of a nested object, e.g. { notes: { includeGrade: true } } -> [['notes.includeGrade', true]]. */
function leaves(o: Record<string, unknown>, prefix = ''): [string, unknown][] {
  return Object.entries(o).flatMap(([k, v]) => {
    const key = prefix ? `${prefix}.${k}` : k;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? leaves(v as Record<string, unknown>, key) : [[key, v] as [string, unknown]];
  });
}

/** The whole Markdown page. */
export function runConfigReference(): string {
  const rows = referenceRows(RunConfigSchema).map((r) => `| \`${r.key}\` | ${cell(r.type)} | \`${cell(r.default)}\` | ${cell(r.description)} |`);
  const protocol = (['honest', 'paper'] as const).flatMap((p) =>
    leaves(protocolDefaults(p)).map(([k, v]) => `| ${p} | \`${k}\` | \`${cell(JSON.stringify(v))}\` |`));
  const renamed = RENAMED_KEYS.map((r) => `| \`${r.old}\` | \`${r.now}\` |`);
  return [
    '# Run config reference',
    '',
    '<!-- Generated from src/run/config.ts by `node scripts/config-reference.mjs` (after `npm run build`): do not edit by hand. -->',
    '',
    'A run config (`configs/runs/<name>.json`) is resolved in layers: these defaults, then the protocol\'s defaults, then the',
    'file, then the file\'s `byProtocol.<protocol>` layer when it has one (a partial run config for that protocol only, e.g.',
    '`"byProtocol": { "paper": { "train": { "steps": 600 } } }`), then each `--set key=value` (the value read as JSON when it',
    'parses, else as a string). Every key is optional;',
    'unknown keys are errors that list the valid ones; keys starting with `//` are comments. The resolved config is printed',
    'at the start of `retalign train` and saved in every checkpoint.',
    '',
    '| key | accepts | default | what it is |',
    '|---|---|---|---|',
    ...rows,
    '',
    '## What the protocol changes',
    '',
    'Applied over the defaults above, before the file (so a file or a `--set` can still change them).',
    '',
    '| protocol | key | value |',
    '|---|---|---|',
    ...protocol,
    '',
    '## Renamed keys',
    '',
    'Old names still read (with a warning) from files, `--set` and checkpoints written before the rename.',
    '',
    '| old key | now |',
    '|---|---|',
    ...renamed,
    '',
  ].join('\n');
}
