/**
 * The image fast path: native/image (retalign_image.node, over the system libjpeg-turbo).
 *   - decodeJpegFast: a JPEG straight to a DCT-scaled size (1/1, 1/2, 1/4, 1/8), as sharp's
 *     shrink-on-load does, at about half of sharp's cost on this project's fundus JPEGs (bench/data);
 *   - resampleSquare: crop.ts planCrop's resize -> extract -> pad in one Lanczos-3 pass, without a
 *     second sharp call (each costs ~1.5 ms of fixed overhead).
 * It is optional and conservative:
 *   - not built (no jpeglib.h at build time) or RETALIGN_FAST_IMAGE=0 -> sharp does everything;
 *   - a JPEG with CMYK colour, an EXIF orientation other than 1 or an ICC profile other than sRGB is
 *     decoded by sharp, which applies those exactly;
 *   - a JPEG the fast path cannot decode (corrupt, truncated, 12-bit, ...) is also handed to sharp,
 *     so the fast path never refuses an image sharp would accept, and errors keep sharp's wording.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../assets.js';

interface ImageAddon {
  decodeJpeg(bytes: Uint8Array, minShortSide: number, maxPixels: number): {
    sourceWidth: number;
    sourceHeight: number;
    tooLarge?: true;
    unsupported?: string;
    width?: number;
    height?: number;
    denom?: number;
    data?: Buffer;
  };
  resampleSquare(rgb: Uint8Array, w: number, h: number, rw: number, rh: number, x0: number, y0: number, size: number): Buffer;
}

/** What the fast path made of one file. */
export type FastJpeg =
  | { kind: 'decoded'; data: Buffer; width: number; height: number; denom: number }
  | { kind: 'tooLarge'; width: number; height: number }
  /** Use sharp: not a JPEG, the fast path is off, a feature it leaves to sharp, or a decode error. */
  | { kind: 'sharp'; reason: string };

let addon: ImageAddon | null | undefined;

function load(): ImageAddon | null {
  if (addon === undefined) {
    const path = process.env['RETALIGN_IMAGE_NATIVE'] ?? join(packageRoot(), 'native', 'build', 'retalign_image.node');
    addon = existsSync(path) ? (createRequire(import.meta.url)(path) as ImageAddon) : null;
  }
  return addon;
}

function active(): ImageAddon | null {
  return process.env['RETALIGN_FAST_IMAGE'] === '0' ? null : load();
}

/**
 * Which code does the image work in this process: 'native' (the fast path, for JPEG decoding and
 * every crop-resize) or 'sharp'. Read per call, so RETALIGN_FAST_IMAGE=0 takes effect at once.
 * @example imageBackend() // 'native' after `make build` on Debian with libjpeg62-turbo-dev
 */
export function imageBackend(): 'native' | 'sharp' {
  return active() === null ? 'sharp' : 'native';
}

/** JPEG files start with SOI (FF D8) followed by a marker (FF). */
export function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/**
 * Decodes `bytes` at the largest DCT scale 1/2^k (k <= 3) whose shorter side is still >= minShortSide,
 * as 8-bit RGB (HWC), or says why sharp should do it.
 * @example const r = decodeJpegFast(bytes, 336, 50_000_000); if (r.kind === 'decoded') r.width; // 500 for 2000 px
 */
export function decodeJpegFast(bytes: Uint8Array, minShortSide: number, maxPixels: number): FastJpeg {
  if (!isJpeg(bytes)) return { kind: 'sharp', reason: 'not a JPEG' };
  const a = active();
  if (a === null) return { kind: 'sharp', reason: 'fast path off' };
  let r: ReturnType<ImageAddon['decodeJpeg']>;
  try {
    r = a.decodeJpeg(bytes, minShortSide, maxPixels);
  } catch (e) {
    return { kind: 'sharp', reason: `libjpeg: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (r.tooLarge) return { kind: 'tooLarge', width: r.sourceWidth, height: r.sourceHeight };
  if (r.unsupported !== undefined || r.data === undefined) return { kind: 'sharp', reason: r.unsupported ?? 'no pixels' };
  return { kind: 'decoded', data: r.data, width: r.width as number, height: r.height as number, denom: r.denom as number };
}

/**
 * Pixels [x0, x0 + size) x [y0, y0 + size) of the w x h RGB image resized to rw x rh (Lanczos-3, as
 * libvips' reduce), black outside the resized image; null when the fast path is off.
 * @example resampleSquare(rgb, 500, 375, 299, 224, 37, 0, 224) // 224 x 224 x 3 bytes
 */
export function resampleSquare(rgb: Uint8Array, w: number, h: number, rw: number, rh: number, x0: number, y0: number, size: number): Buffer | null {
  const a = active();
  return a === null ? null : a.resampleSquare(rgb, w, h, rw, rh, x0, y0, size);
}
