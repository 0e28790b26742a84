/**
 * Image type by magic bytes, never by file name or declared content type: a text file named
 * `x.jpg` is not a JPEG. The accepted types are those sharp decodes and fundus cameras write.
 *
 * @example sniffImage(Buffer.from([0xff, 0xd8, 0xff, 0xe0])) // 'jpeg'
 */
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

/** A short description of what the bytes look like, for a 415 message. */
export function describeBytes(b: Uint8Array): string {
  if (b.length === 0) return 'an empty file';
  const head = b.subarray(0, Math.min(b.length, 512));
  const printable = head.every((x) => x === 9 || x === 10 || x === 13 || (x >= 32 && x < 127) || x >= 128);
  if (printable) return 'text';
  const hex = Array.from(b.subarray(0, 4), (x) => x.toString(16).padStart(2, '0')).join(' ');
  return `binary data starting with ${hex}`;
}
