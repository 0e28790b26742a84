/**
 * Image checks: is each record's image there, is it an image, does it decode?
 *
 * 'sniff'  : open the file and read its first bytes (missing / unreadable / not an image we take,
 *            by magic bytes: images/formats.ts, GIF refused). Cheap: one small read per file.
 * 'decode' : also decode to an 8-pixel-wide thumbnail with sharp at failOn 'error'. sharp's
 *            metadata() only parses the header and passes a truncated JPEG; a real decode with
 *            failOn 'error' (which includes libvips' 'truncated' level) fails with "premature end of
 *            JPEG image". resize(8) lets libjpeg decode at 1/8 scale, so a 2672x2056 BRSET photo
 *            costs a few milliseconds. An image over the training pipeline's pixel limit is
 *            'too-large', with its size and the limit.
 * Bad rows are dropped and listed; the job goes on.
 */
import { open } from 'node:fs/promises';
import sharp from 'sharp';
import type { ExamRecord } from '../types.js';
import type { ImageProblem, ImageSummary } from './report.js';
import { DEFAULT_IMAGE_CONFIG } from '../images/config.js';
import { imageTypeProblem, sniffImageType, SNIFF_BYTES, tooLargeMessage } from '../images/formats.js';

export type ImageCheckMode = 'sniff' | 'decode';

export interface ImageCheckOptions {
  mode?: ImageCheckMode;
  /** Files checked at once (default 4). */
  concurrency?: number;
  /** Called after each file with (done, total). */
  onProgress?: (done: number, total: number) => void;
  /** Pixel limit (default: the training pipeline's, DEFAULT_IMAGE_CONFIG.maxInputPixels). */
  maxInputPixels?: number;
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

export { sniffImageType } from '../images/formats.js';

/**
 * Check one file; null when fine. `maxInputPixels` is the training pipeline's decompression-bomb
 * limit (ImageConfig.maxInputPixels), so a file that passes here also loads for training.
 */
export async function checkImageFile(path: string, mode: ImageCheckMode = 'decode',
  maxInputPixels: number = DEFAULT_IMAGE_CONFIG.maxInputPixels): Promise<{ problem: ImageProblem; detail: string } | null> {
  const head = new Uint8Array(SNIFF_BYTES);
  let n: number;
  try {
    const fh = await open(path, 'r');
    try {
      n = (await fh.read(head, 0, SNIFF_BYTES, 0)).bytesRead;
    } finally {
      await fh.close();
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { problem: 'missing', detail: `no file at ${path}` };
    if (code === 'EISDIR') return { problem: 'unreadable', detail: `${path} is a folder, not an image file` };
    if (code === 'EACCES') return { problem: 'unreadable', detail: `${path}: no permission to read it` };
    return { problem: 'unreadable', detail: `${path}: ${code ?? ''} ${(e as Error).message}`.trim() };
  }
  const problem = imageTypeProblem(head.subarray(0, n));
  if (problem !== null) return { problem: 'not-an-image', detail: `${path}: ${problem}` };
  if (mode === 'sniff') return null;
  try {
    await sharp(path, { failOn: 'error', limitInputPixels: maxInputPixels }).resize(8).raw().toBuffer();
  } catch (e) {
    // Over the pixel limit: say the size and the limit, as training does (read from the header only).
    const meta = await sharp(path, { limitInputPixels: false }).metadata().catch(() => null);
    if (meta?.width !== undefined && meta.height !== undefined && meta.width * meta.height > maxInputPixels) {
      return { problem: 'too-large', detail: tooLargeMessage(path, meta.width, meta.height, maxInputPixels) };
    }
    // libvips keeps one global error buffer: under concurrent decodes the message can come back
    // as "Unknown error" or doubled; the failure itself is per image and reliable.
    const first = (e as Error).message.split('\n')[0] ?? '';
    const msg = first === '' || first === 'Unknown error' ? 'truncated or corrupt image data' : first;
    return { problem: 'corrupt', detail: `${path}: ${sniffImageType(head.subarray(0, n))} does not decode: ${msg}` };
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
      results[i] = await checkImageFile(r.imagePath, mode, opts.maxInputPixels);
      done++;
      opts.onProgress?.(done, records.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, records.length) }, worker));
  const ok: ExamRecord[] = [];
  const issues: ImageIssue[] = [];
  const summary: ImageSummary = { mode, checked: records.length, usable: 0, found: 0, missing: 0, unreadable: 0, notImage: 0, corrupt: 0, tooLarge: 0 };
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
      else if (res.problem === 'too-large') summary.tooLarge++;
      else summary.corrupt++;
    }
  });
  return { ok, issues, summary };
}
