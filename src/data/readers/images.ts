/**
 * Image checks: is each record's image there, is it an image, does it decode?
 *
 * 'sniff'  : open the file and read its first bytes (missing / unreadable / not an image by magic
 *            bytes). Cheap: one small read per file.
 * 'decode' : also decode to an 8-pixel-wide thumbnail with sharp at failOn 'error'. sharp's
 *            metadata() only parses the header and passes a truncated JPEG; a real decode with
 *            failOn 'error' (which includes libvips' 'truncated' level) fails with "premature end of
 *            JPEG image". resize(8) lets libjpeg decode at 1/8 scale, so a 2672x2056 BRSET photo
 *            costs a few milliseconds.
 * Bad rows are dropped and listed; the job goes on.
 */
import { open } from 'node:fs/promises';
import sharp from 'sharp';
import type { ExamRecord } from '../types.js';
import type { ImageProblem, ImageSummary } from './report.js';

export type ImageCheckMode = 'sniff' | 'decode';

export interface ImageCheckOptions {
  mode?: ImageCheckMode;
  /** Files checked at once (default 4). */
  concurrency?: number;
  /** Called after each file with (done, total). */
  onProgress?: (done: number, total: number) => void;
}

export interface ImageIssue {
  index: number;
  imageId: string;
  path: string;
  problem: ImageProblem;
  detail: string;
}

export interface ImageCheckResult {
  /** Records whose image passed, in input order. */
  ok: ExamRecord[];
  issues: ImageIssue[];
  summary: ImageSummary;
}

/** Image container named by its first bytes, or null. @example sniffImageType(jpegBytes) // 'jpeg' */
export function sniffImageType(b: Uint8Array): 'jpeg' | 'png' | 'tiff' | 'webp' | 'gif' | null {
  const at = (i: number): number => b[i] ?? -1;
  if (at(0) === 0xff && at(1) === 0xd8 && at(2) === 0xff) return 'jpeg';
  if (at(0) === 0x89 && at(1) === 0x50 && at(2) === 0x4e && at(3) === 0x47 && at(4) === 0x0d && at(5) === 0x0a) return 'png';
  if ((at(0) === 0x49 && at(1) === 0x49 && at(2) === 0x2a && at(3) === 0) || (at(0) === 0x4d && at(1) === 0x4d && at(2) === 0 && at(3) === 0x2a)) return 'tiff';
  if (at(0) === 0x52 && at(1) === 0x49 && at(2) === 0x46 && at(3) === 0x46 && at(8) === 0x57 && at(9) === 0x45 && at(10) === 0x42 && at(11) === 0x50) return 'webp';
  if (at(0) === 0x47 && at(1) === 0x49 && at(2) === 0x46 && at(3) === 0x38) return 'gif';
  return null;
}

/** Check one file; null when fine. */
export async function checkImageFile(path: string, mode: ImageCheckMode = 'decode'): Promise<{ problem: ImageProblem; detail: string } | null> {
  const head = new Uint8Array(16);
  let n: number;
  try {
    const fh = await open(path, 'r');
    try {
      n = (await fh.read(head, 0, 16, 0)).bytesRead;
    } finally {
      await fh.close();
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { problem: 'missing', detail: `no file at ${path}` };
    return { problem: 'unreadable', detail: `${path}: ${code ?? ''} ${(e as Error).message}`.trim() };
  }
  const type = sniffImageType(head.subarray(0, n));
  if (type === null) {
    const hex = Buffer.from(head.subarray(0, Math.min(n, 8))).toString('hex');
    return { problem: 'not-an-image', detail: `${path}: first bytes ${hex || '(empty file)'} are not JPEG/PNG/TIFF/WebP/GIF` };
  }
  if (mode === 'sniff') return null;
  try {
    await sharp(path, { failOn: 'error' }).resize(8).raw().toBuffer();
  } catch (e) {
    // libvips keeps one global error buffer: under concurrent decodes the message can come back
    // as "Unknown error" or doubled; the failure itself is per image and reliable.
    const first = (e as Error).message.split('\n')[0] ?? '';
    const msg = first === '' || first === 'Unknown error' ? 'truncated or corrupt image data' : first;
    return { problem: 'corrupt', detail: `${path}: ${type} does not decode: ${msg}` };
  }
  return null;
}

/**
 * Check every record's image (concurrency-limited) and split them into usable records and issues.
 *
 * @example
 *   const { ok, issues, summary } = await checkImages(records, { mode: 'decode' });
 *   summary.corrupt // 1
 */
export async function checkImages(records: readonly ExamRecord[], opts: ImageCheckOptions = {}): Promise<ImageCheckResult> {
  const mode = opts.mode ?? 'decode';
  const concurrency = Math.max(1, Math.floor(opts.concurrency ?? 4));
  const results: ({ problem: ImageProblem; detail: string } | null)[] = new Array(records.length).fill(null);
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      const r = records[i];
      if (r === undefined) return;
      results[i] = await checkImageFile(r.imagePath, mode);
      done++;
      opts.onProgress?.(done, records.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, records.length) }, worker));
  const ok: ExamRecord[] = [];
  const issues: ImageIssue[] = [];
  const summary: ImageSummary = { mode, checked: records.length, usable: 0, found: 0, missing: 0, unreadable: 0, notImage: 0, corrupt: 0 };
  records.forEach((r, index) => {
    const res = results[index];
    if (res === null || res === undefined) { ok.push(r); summary.usable++; summary.found++; return; }
    issues.push({ index, imageId: r.imageId, path: r.imagePath, ...res });
    if (res.problem === 'missing') summary.missing++;
    else {
      // The file exists; it just is not usable.
      summary.found++;
      if (res.problem === 'unreadable') summary.unreadable++;
      else if (res.problem === 'not-an-image') summary.notImage++;
      else summary.corrupt++;
    }
  });
  return { ok, issues, summary };
}
