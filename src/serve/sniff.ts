/**
 * Image type by magic bytes, never by file name or declared content type: a text file named
 * `x.jpg` is not a JPEG. The accepted types are those sharp decodes and fundus cameras write.
 *
 * Which types are accepted stays a decision of ours (sniffImage: the four containers, by the same
 * magic bytes as the dataset checks, so one rule holds for data, training and the server); the
 * file-type package answers for hundreds of formats and would widen or shift that rule (TIFF-based
 * camera raws, say). It is used for what it does better: naming what a refused file is.
 *
 * @example sniffImage(Buffer.from([0xff, 0xd8, 0xff, 0xe0])) // 'jpeg'
 */
import { fileTypeFromBuffer } from 'file-type';

export type ImageType = 'jpeg' | 'png' | 'webp' | 'tiff';

export const IMAGE_MIME: Readonly<Record<ImageType, string>> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  tiff: 'image/tiff',
};

const startsWith = (b: Uint8Array, sig: readonly number[], at = 0): boolean =>
  b.length >= at + sig.length && sig.every((x, i) => b[at + i] === x);

/** The image type the bytes start with, or null (not an accepted image). */
export function sniffImage(b: Uint8Array): ImageType | null {
  if (startsWith(b, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(b, [0x52, 0x49, 0x46, 0x46]) && startsWith(b, [0x57, 0x45, 0x42, 0x50], 8)) return 'webp'; // RIFF....WEBP
  if (startsWith(b, [0x49, 0x49, 0x2a, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff'; // II*\0, MM\0*
  return null;
}

/**
 * What the bytes look like, without quoting any of them (a file may hold a secret): empty, text,
 * or binary data. describeFile names known formats too.
 * @example describeBytes(Buffer.from('name,age\n')) // 'text'
 */
export function describeBytes(b: Uint8Array): string {
  if (b.length === 0) return 'an empty file';
  const head = b.subarray(0, Math.min(b.length, 512));
  const printable = head.every((x) => x === 9 || x === 10 || x === 13 || (x >= 32 && x < 127) || x >= 128);
  return printable ? 'text' : 'binary data of no format we know';
}

/**
 * What the bytes are, for a 415 message, without quoting any of them: file-type's name for a known
 * format, else describeBytes.
 * @example await describeFile(pdfBytes) // 'a file of type PDF (application/pdf)'
 */
export async function describeFile(b: Uint8Array): Promise<string> {
  const known = b.length === 0 ? undefined : await fileTypeFromBuffer(b).catch(() => undefined);
  return known === undefined ? describeBytes(b) : `a file of type ${known.ext.toUpperCase()} (${known.mime})`;
}
