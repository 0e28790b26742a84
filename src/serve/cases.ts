/**
 * Cases: indexed exams as the API shows them, and their image files, read only from inside the
 * data folder. Ids must match the index's safe-id pattern (so '..', '/', '%2F' never reach the
 * file system), and the stored relative path is resolved and re-checked after following
 * symlinks: no request can read a file outside the data folder.
 *
 * @example
 *   const cases = new CaseStore(index, '/data/brset');
 *   cases.get('img00001')             // { id, patientId, icdr, sdrg, referable, note, imageUrl, extras }
 *   await cases.imageFile('img00001') // { bytes, type: 'jpeg' }
 */
import { realpathSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { EmbeddingIndex, SearchHit, StoredMeta } from '../index/index.js';
import { validateId } from '../index/index.js';
import { HttpError, badRequest } from './errors.js';
import { sniffImage, type ImageType } from './sniff.js';

/** A case as the API returns it (openapi.ts CaseSchema). */
export interface CaseView {
  id: string;
  patientId: string | null;
  icdr: number | null;
  sdrg: number | null;
  referable: boolean | null;
  note: string | null;
  imageUrl: string | null;
  extras: Record<string, unknown>;
}

/** Largest case image file served (fundus photos are a few MB). */
export const MAX_CASE_FILE_BYTES = 64 * 1024 * 1024;

/** Throws a 400 unless `id` is a safe id (letters, digits, '.', '_', '-'; not starting with '.' or '-'). */
export function checkCaseId(id: string): void {
  try {
    validateId(id, 'case');
  } catch {
    throw badRequest(`case id ${JSON.stringify(id.slice(0, 80))} is not valid: expected 1-200 characters from [A-Za-z0-9._-], not starting with '.' or '-'`, 'bad_id');
  }
}

/** True when `child` is `root` itself or inside it (both absolute, normalized). */
function inside(root: string, child: string): boolean {
  const r = relative(root, child);
  return r !== '' && !r.startsWith(`..${sep}`) && r !== '..' && !isAbsolute(r);
}

export class CaseStore {
  private readonly root: string | null;

  /** `dataRoot`: the folder the index's image paths are relative to (null: no images served). */
  constructor(private readonly index: EmbeddingIndex, dataRoot: string | null) {
    this.root = dataRoot === null ? null : resolve(dataRoot);
  }

  /** The API view of an indexed image item's metadata. */
  view(id: string, meta: StoredMeta): CaseView {
    return {
      id,
      patientId: meta.patientId,
      icdr: meta.icdr,
      sdrg: meta.sdrg,
      referable: meta.icdr === null ? null : meta.icdr >= 2,
      note: meta.note,
      imageUrl: meta.imagePath !== null && this.root !== null ? `/v1/cases/${encodeURIComponent(id)}/image` : null,
      extras: meta.extras,
    };
  }

  /** Search hits -> ranked cases. */
  hits(hits: readonly SearchHit[]): { rank: number; score: number; case: CaseView }[] {
    return hits.map((h, i) => ({ rank: i + 1, score: h.score, case: this.view(h.id, h.meta) }));
  }

  /** The case `id` (its image item); 400 for an unsafe id, 404 when unknown. */
  get(id: string): CaseView {
    checkCaseId(id);
    const item = this.index.get(id, 'image');
    if (item === undefined) throw new HttpError(404, 'not_found', `no case with id ${id}`);
    return this.view(id, item.meta);
  }

  /** The bytes and sniffed type of case `id`'s image; 404 when it has none or the file is gone. */
  async imageFile(id: string): Promise<{ bytes: Buffer; type: ImageType }> {
    checkCaseId(id);
    const item = this.index.get(id, 'image');
    const rel = item?.meta.imagePath ?? null;
    if (item === undefined || rel === null || this.root === null) throw new HttpError(404, 'not_found', `case ${id} has no image`);
    const path = resolve(this.root, rel);
    const gone = (): HttpError => new HttpError(404, 'not_found', `the image of case ${id} is not available`);
    if (!inside(this.root, path)) throw gone();
    let real: string;
    let realRoot: string;
    try {
      real = realpathSync(path);
      realRoot = realpathSync(this.root);
    } catch {
      throw gone();
    }
    if (!inside(realRoot, real)) throw gone(); // a symlink pointing out of the data folder
    const fh = await open(real, 'r').catch(() => {
      throw gone();
    });
    try {
      const st = await fh.stat();
      if (!st.isFile() || st.size > MAX_CASE_FILE_BYTES) throw gone();
      const bytes = await fh.readFile();
      const type = sniffImage(bytes);
      if (type === null) throw gone();
      return { bytes, type };
    } finally {
      await fh.close();
    }
  }
}
