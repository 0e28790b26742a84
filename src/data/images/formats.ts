/**
 * Which image files retalign takes: one rule for `data check`, training, evaluation, `grade` and
 * the server. JPEG, PNG, WebP and TIFF, by magic bytes (never by file name): the containers fundus
 * cameras and their exports write, and that the image pipeline decodes. GIF is refused everywhere:
 * it holds at most 256 colours (a fundus photo saved as GIF has lost the colour grading depends on)
 * and no camera writes it. Anything else (text, PDF, SVG, BMP, ...) is not an image to us.
 *
 * Messages never quote a file's bytes: a path pointing at a secret must not echo it.
 *
 * @example imageTypeProblem(readFileSync('x.gif')) // 'a GIF image: GIF is not accepted (...)'
 */

/** Accepted containers. */
export type ImageType = 'jpeg' | 'png' | 'tiff' | 'webp';
export const ACCEPTED_IMAGE_TYPES: readonly ImageType[] = ['jpeg', 'png', 'tiff', 'webp'];
/** The accepted types in words, for messages. */
export const ACCEPTED_IMAGE_WORDS = 'JPEG, PNG, WebP or TIFF';

/** Bytes worth reading from the start of a file to tell its type. */
export const SNIFF_BYTES = 16;

const startsWith = (b: Uint8Array, sig: readonly number[], at = 0): boolean =>
  b.length >= at + sig.length && sig.every((x, i) => b[at + i] === x);

/**
 * The container the bytes start with: an accepted type, 'gif' (recognized, refused), or null.
 * @example sniffImageType(Buffer.from([0xff, 0xd8, 0xff, 0xe0])) // 'jpeg'
 */
export function sniffImageType(b: Uint8Array): ImageType | 'gif' | null {
  if (startsWith(b, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a])) return 'png';
  if (startsWith(b, [0x49, 0x49, 0x2a, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff'; // II*\0, MM\0*
  if (startsWith(b, [0x52, 0x49, 0x46, 0x46]) && startsWith(b, [0x57, 0x45, 0x42, 0x50], 8)) return 'webp'; // RIFF....WEBP
  if (startsWith(b, [0x47, 0x49, 0x46, 0x38])) return 'gif'; // GIF8
  return null;
}

/**
 * Why these bytes are not an image retalign takes, in words (null when they are). Describes what
 * the file looks like (empty, text, GIF, other binary data) without quoting any of it.
 * @example imageTypeProblem(Buffer.from('root:x:0:0')) // 'text, not a JPEG, PNG, WebP or TIFF image'
 */
export function imageTypeProblem(b: Uint8Array): string | null {
  const t = sniffImageType(b);
  if (t === 'gif') return `a GIF image: GIF is not accepted (at most 256 colours; save the photo as ${ACCEPTED_IMAGE_WORDS})`;
  if (t !== null) return null;
  if (b.length === 0) return 'an empty file';
  const printable = b.every((x) => x === 9 || x === 10 || x === 13 || (x >= 32 && x < 127) || x >= 128);
  return `${printable ? 'text' : 'binary data'}, not a ${ACCEPTED_IMAGE_WORDS} image`;
}

/**
 * The decompression-bomb refusal, the same words wherever it is found (data check, training, grade, server).
 * @example tooLargeMessage('a.jpg', 30000, 30000, 50_000_000) // 'a.jpg: 30000x30000 = 900000000 pixels exceeds the limit of 50000000 pixels (50 MP; ...)'
 */
export function tooLargeMessage(file: string, width: number, height: number, limit: number): string {
  return `${file}: ${width}x${height} = ${width * height} pixels exceeds the limit of ${limit} pixels ` +
    `(${+(limit / 1e6).toFixed(3)} MP; decompression-bomb guard, raise maxInputPixels if the image is genuine)`;
}
