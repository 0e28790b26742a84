/**
 * One fundus image file -> (3, S, S) CHW Float32Array, with sharp (libvips) and the native fast path:
 *   1. read the file (refusing files larger than any image under the pixel limit could need);
 *   2. ONE decode, straight to a small "work" image whose shorter side is >= 1.5 S (JPEG DCT scaling
 *      decodes at 1/2, 1/4 or 1/8 scale, so a 3 MP photo never exists at full size in memory).
 *      JPEGs go to the libjpeg-turbo fast path (fastpath.ts: the DCT-scaled image itself, shorter side
 *      1.5 S to 3 S); everything else, and JPEGs it leaves to sharp, to sharp (shrink-on-load, then
 *      resized to exactly 1.5 S). Both refuse decompression bombs from the header, before decoding;
 *   3. in JS: block-averaged luminance thumbnail -> disc box (crop.ts findFundusBox);
 *   4. resize so the box's square becomes S x S, extract it, black padding where the square leaves
 *      the image (crop.ts planCrop): in one Lanczos-3 pass by the fast path, else with sharp;
 *   5. augment + normalize in JS (augment.ts).
 * Alpha is flattened onto black (the surround colour); grey or CMYK sources become sRGB; EXIF
 * orientation is applied. Only JPEG, PNG, WebP and TIFF are taken (formats.ts: GIF is refused, as
 * everywhere). Every error names the file.
 *
 * Why this shape (measured on 2000x1500 JPEGs, 2-core machine): entropy decoding costs about the
 * same at any JPEG scale, so a separate thumbnail decode would nearly double the time per image; every
 * sharp call costs ~1.5 ms of fixed overhead, so there is no separate header call on the happy path
 * (the header is read only to explain a failure); reading the file ourselves and handing sharp a
 * Buffer saves ~2 ms over letting libvips read the path. sharp's bundled decoder (mozjpeg) takes ~13 ms
 * per 2000x1500 JPEG at 1/4 scale where the system libjpeg-turbo takes ~8 ms, hence the fast path.
 */
import { readFile, stat } from 'node:fs/promises';
import sharp from 'sharp';
import { toChw, type AugmentParams } from './augment.js';
import type { ImageConfig } from './config.js';
import { findFundusBox, planCrop, type Box } from './crop.js';
import { decodeJpegFast, resampleSquare } from './fastpath.js';
import { imageTypeProblem, tooLargeMessage } from './formats.js';

/**
 * Work image: shorter side WORK_FACTOR * S. The disc usually spans 80-100% of the shorter side, so
 * its square is still >= S there and the final step only downsamples (sharper than upsampling).
 */
export const WORK_FACTOR = 1.5;
/** The luminance thumbnail's shorter side, about: box precision = work side / THUMB_SHORT pixels. */
export const THUMB_SHORT = 96;

const BLACK = { r: 0, g: 0, b: 0 };

/** Raised for an image over the pixel limit (found from the header, before any pixel is decoded). */
export class ImageTooLargeError extends Error {
  constructor(
    readonly file: string,
    readonly width: number,
    readonly height: number,
    readonly limit: number,
  ) {
    super(tooLargeMessage(file, width, height, limit));
    this.name = 'ImageTooLargeError';
  }
}

/** Largest bytes per pixel of a plausible image file (16-bit RGBA, uncompressed) + header room. */
const MAX_FILE_BYTES_PER_PIXEL = 8;
const FILE_HEADER_ROOM = 1 << 20;

/**
 * Reads an image file whole, refusing one larger than any image within the pixel limit could be.
 * @example const bytes = await readImageFile('/data/img001.jpg', 50_000_000);
 */
export async function readImageFile(path: string, maxInputPixels: number): Promise<Buffer> {
  try {
    const { size } = await stat(path);
    const max = maxInputPixels * MAX_FILE_BYTES_PER_PIXEL + FILE_HEADER_ROOM;
    if (size > max) {
      throw new Error(`file is ${size} bytes, more than an image within the ${maxInputPixels}-pixel limit can take (${max} bytes); not reading it`);
    }
    return await readFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read the file (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** Why a decode failed: a header over the pixel limit becomes ImageTooLargeError, else the cause. */
async function decodeError(bytes: Buffer, name: string, cfg: ImageConfig, e: unknown): Promise<Error> {
  const meta = await sharp(bytes, { limitInputPixels: false }).metadata().catch(() => null);
  if (meta?.width !== undefined && meta.height !== undefined && meta.width * meta.height > cfg.maxInputPixels) {
    return new ImageTooLargeError(name, meta.width, meta.height, cfg.maxInputPixels);
  }
  return new Error(`${name}: cannot decode the image (${e instanceof Error ? e.message : String(e)})`);
}

/** sharp's decode to the work image: shorter side `side` (never enlarged), sRGB, alpha flattened onto black. */
async function decodeWithSharp(bytes: Buffer, cfg: ImageConfig, side: number, name: string): Promise<{ data: Buffer; width: number; height: number }> {
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: cfg.maxInputPixels, autoOrient: true })
      .flatten({ background: BLACK })
      .resize({ width: side, height: side, fit: 'outside', withoutEnlargement: true })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels; expected 3`);
    return { data, width: info.width, height: info.height };
  } catch (e) {
    throw await decodeError(bytes, name, cfg, e);
  }
}

/** Decoded, cropped, resized image before normalization: HWC uint8 RGB (S*S*3). */
export interface CroppedFundus {
  rgb: Uint8Array;
  /** Size of the decoded work image (EXIF orientation applied; shorter side ~1.5 S). */
  workWidth: number;
  workHeight: number;
  /** Disc box in work-image pixels (the whole image when nothing was above the threshold). */
  box: Box;
}

/**
 * Steps 1-4: file (or encoded bytes) -> S x S RGB around the fundus disc.
 * @example const { rgb, box } = await cropFundus('/data/img001.jpg', resolveImageConfig());
 */
export async function cropFundus(input: string | Buffer, cfg: ImageConfig, name = typeof input === 'string' ? input : '<buffer>'): Promise<CroppedFundus> {
  const S = cfg.size;
  const bytes = typeof input === 'string' ? await readImageFile(input, cfg.maxInputPixels) : input;
  // One rule for every caller (data check, training, grade, the server): formats.ts.
  const refused = imageTypeProblem(bytes.subarray(0, 16));
  if (refused !== null) throw new Error(`${name}: ${refused}`);

  // One decode to the work image (3 channels, 8 bit): the libjpeg-turbo fast path when it takes
  // the file (fastpath.ts), else sharp.
  const side = Math.ceil(WORK_FACTOR * S);
  const fast = decodeJpegFast(bytes, side, cfg.maxInputPixels);
  if (fast.kind === 'tooLarge') throw new ImageTooLargeError(name, fast.width, fast.height, cfg.maxInputPixels);
  const { data: work, width: ww, height: wh } = fast.kind === 'decoded' ? fast : await decodeWithSharp(bytes, cfg, side, name);

  // Disc box on a block-averaged luminance thumbnail (averaging keeps surround noise far below
  // the threshold), in work pixels.
  const block = Math.max(1, Math.floor(Math.min(ww, wh) / THUMB_SHORT));
  const tw = Math.floor(ww / block);
  const th = Math.floor(wh / block);
  const thumbBox = findFundusBox(blockLuminance(work, ww, block, tw, th), tw, th, cfg.cropThreshold);
  const box: Box = thumbBox === null
    ? { left: 0, top: 0, width: ww, height: wh }
    : { left: thumbBox.left * block, top: thumbBox.top * block, width: thumbBox.width * block, height: thumbBox.height * block };

  const plan = planCrop(ww, wh, box, S);
  // The fast path computes only the pixels the plan keeps, in one pass; else a second sharp call.
  const fastRgb = resampleSquare(work, ww, wh, plan.resizeWidth, plan.resizeHeight,
    plan.extract.left - plan.extend.left, plan.extract.top - plan.extend.top, S);
  if (fastRgb !== null) return { rgb: fastRgb, workWidth: ww, workHeight: wh, box };
  try {
    const { data, info } = await sharp(work, { raw: { width: ww, height: wh, channels: 3 } })
      .resize(plan.resizeWidth, plan.resizeHeight, { fit: 'fill' })
      .extract(plan.extract)
      .raw()
      .toBuffer({ resolveWithObject: true });
    const { width: ew, height: eh } = plan.extract;
    if (info.width !== ew || info.height !== eh || info.channels !== 3) {
      throw new Error(`pipeline produced ${info.width}x${info.height}x${info.channels}; expected ${ew}x${eh}x3`);
    }
    // Black padding where the square leaves the image, in JS: sharp applies extend() before a
    // post-resize extract(), which is the wrong order for this.
    const rgb = new Uint8Array(S * S * 3);
    const { left, top } = plan.extend;
    for (let y = 0; y < eh; y++) rgb.set(data.subarray(y * ew * 3, (y + 1) * ew * 3), ((top + y) * S + left) * 3);
    return { rgb, workWidth: ww, workHeight: wh, box };
  } catch (e) {
    throw new Error(`${name}: cannot resize the image (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** Mean ITU-R 601 luma of block x block cells of an RGB image (row stride ww): tw x th values. */
function blockLuminance(rgb: Buffer, ww: number, block: number, tw: number, th: number): Uint8Array {
  const out = new Uint8Array(tw * th);
  const acc = new Float64Array(tw);
  const norm = 1 / (block * block * 1000);
  for (let ty = 0; ty < th; ty++) {
    acc.fill(0);
    for (let y = ty * block; y < (ty + 1) * block; y++) {
      let i = y * ww * 3;
      for (let tx = 0; tx < tw; tx++) {
        let s = 0;
        for (let k = 0; k < block; k++, i += 3) s += 299 * (rgb[i] as number) + 587 * (rgb[i + 1] as number) + 114 * (rgb[i + 2] as number);
        acc[tx] = (acc[tx] as number) + s;
      }
    }
    for (let tx = 0; tx < tw; tx++) out[ty * tw + tx] = Math.round((acc[tx] as number) * norm);
  }
  return out;
}

/**
 * The whole pipeline for one image: crop, resize, optional augmentation, normalization.
 * Output: CHW Float32Array of 3 * S * S, channel order R, G, B.
 *
 * @example
 *   const x = await preprocessImage('/data/img001.jpg', resolveImageConfig({ size: 224 }), null);
 *   x.length; // 3 * 224 * 224
 */
export async function preprocessImage(input: string | Buffer, cfg: ImageConfig, aug: AugmentParams | null, name?: string): Promise<Float32Array> {
  const { rgb } = await cropFundus(input, cfg, name);
  return toChw(rgb, cfg.size, cfg.mean, cfg.std, aug);
}
