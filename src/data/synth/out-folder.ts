/**
 * Where `synthesize` may write: it never writes over a file it did not create.
 *
 * A synth output folder carries a marker, `.retalign-synth.json`, listing every file synth wrote
 * there. The rules, checked before the first byte is written:
 * - a missing or empty folder: written, and the marker with it;
 * - a folder with other things in it and no marker (a user's dataset, say BRSET's own labels.csv
 *   and fundus_photos/): refused, with or without `force`;
 * - a folder with a marker: refused without `force`; with `force`, replaced, as long as every file
 *   about to be written is either new or listed in the marker (a file someone put there since is
 *   refused by name). Files of the earlier output that the new one does not write are removed, so
 *   the folder holds one dataset; nothing unlisted is touched.
 *
 * The marker is written first (listing the earlier files as well as the new ones), so a synth that
 * is killed half-way leaves a folder a later `force` can still replace.
 *
 * @example
 *   const claim = claimSynthFolder('/tmp/twin', ['labels.csv', 'ground_truth.json'], { force: false });
 *   claim.begin(); ... write the files ...; claim.finish();
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, normalize, sep } from 'node:path';
import { checkOutputFolder } from '../paths.js';

/** The marker file's name, in the output folder. */
export const SYNTH_MARKER = '.retalign-synth.json';

interface Marker {
  generator: 'retalign-synth';
  /** Files synth wrote, relative to the folder, '/'-separated, sorted. */
  files: string[];
}

export interface SynthClaim {
  /** Absolute output folder. */
  out: string;
  /** Makes the folder, writes the marker (earlier + new files), removes the earlier output's files the new one does not write. */
  begin(): void;
  /** Rewrites the marker to list exactly the new files. */
  finish(): void;
}

function shownEntries(names: string[]): string {
  const s = [...names].sort();
  return s.slice(0, 5).join(', ') + (s.length > 5 ? `, ... (${s.length} entries)` : '');
}

/** A marker's file list, each entry a plain relative path inside the folder (else the marker is refused). */
function readMarker(path: string): Marker {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`synth: ${path} is damaged (${(e as Error).message}): cannot tell which files synth wrote; move the folder away or choose another`);
  }
  const m = v as Partial<Marker> | null;
  if (typeof m !== 'object' || m === null || m.generator !== 'retalign-synth' || !Array.isArray(m.files)) {
    throw new Error(`synth: ${path} is not a synth marker (expected {"generator": "retalign-synth", "files": [...]}); move the folder away or choose another`);
  }
  for (const f of m.files) {
    if (typeof f !== 'string' || f === '' || isAbsolute(f) || normalize(f).split(sep).includes('..') || f === SYNTH_MARKER) {
      throw new Error(`synth: ${path} lists ${JSON.stringify(f)}, which is not a file inside the folder; move the folder away or choose another`);
    }
  }
  return m as Marker;
}

function writeMarker(out: string, files: Iterable<string>): void {
  const m: Marker = { generator: 'retalign-synth', files: [...new Set(files)].sort() };
  writeFileSync(join(out, SYNTH_MARKER), JSON.stringify(m, null, 1) + '\n');
}

/**
 * Checks that synth may write `files` (relative, '/'-separated) into `outPath`; throws naming the
 * folder, the file and the way out when it may not. Writes nothing until `begin()`.
 */
export function claimSynthFolder(outPath: string, files: readonly string[], o: { force: boolean }): SynthClaim {
  const out = checkOutputFolder(outPath, 'synth: --out');
  const entries = existsSync(out) ? readdirSync(out) : [];
  let earlier: string[] = [];
  if (entries.length > 0) {
    const markerPath = join(out, SYNTH_MARKER);
    if (!entries.includes(SYNTH_MARKER)) {
      throw new Error(`synth: ${out} is not empty (it holds ${shownEntries(entries)}) and was not written by retalign synth ` +
        `(no ${SYNTH_MARKER}): refusing to write into it${o.force ? ' even with --force (--force only replaces an earlier synth output)' : ''}. ` +
        'Choose a new or empty folder.');
    }
    if (!o.force) {
      throw new Error(`synth: ${out} already holds a synthetic dataset (${markerPath}): pass --force to replace it, or choose a new or empty folder`);
    }
    earlier = readMarker(markerPath).files;
    const ours = new Set(earlier);
    const foreign = files.filter((f) => !ours.has(f) && existsSync(join(out, f)));
    if (foreign.length > 0) {
      throw new Error(`synth --force: ${join(out, foreign[0] as string)}${foreign.length > 1 ? ` (and ${foreign.length - 1} more)` : ''} ` +
        `exists but was not written by retalign synth (not listed in ${markerPath}): refusing to overwrite it. Move it away or choose another folder.`);
    }
  }
  const now = new Set(files);
  return {
    out,
    begin(): void {
      mkdirSync(out, { recursive: true });
      writeMarker(out, [...earlier, ...files]);
      for (const f of earlier) {
        const p = join(out, f);
        if (!now.has(f) && existsSync(p) && statSync(p).isFile()) rmSync(p);
      }
    },
    finish(): void {
      writeMarker(out, files);
    },
  };
}
