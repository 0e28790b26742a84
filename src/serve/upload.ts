/**
 * Reading a multipart/form-data upload (one image file named `image`, plus text fields) within
 * limits: the file may hold at most `maxUploadBytes` (413 past it), fields at most 8 KiB each and
 * 40 in all. The image type is taken from its magic bytes (415 for anything else, whatever the
 * file name or declared type says).
 *
 * @example
 *   const up = await readUpload(request, { maxUploadBytes: 20e6, requireImage: true });
 *   up.image // Buffer (a sniffed JPEG/PNG/WebP/TIFF); up.fields // [['note', '...'], ['age', '61']]
 */
import type { FastifyRequest } from 'fastify';
import { HttpError, badRequest } from './errors.js';
import { describeFile, sniffImage, type ImageType } from './sniff.js';

export const MAX_FIELD_BYTES = 8192;
export const MAX_FIELDS = 40;

export interface Upload {
  /** The image bytes, or null when none was sent (and none was required). */
  image: Buffer | null;
  imageType: ImageType | null;
  /** Text fields in arrival order (a name may repeat; callers refuse duplicates). */
  fields: [string, string][];
}

/** Status for the multipart plugin's own errors (its codes are in @fastify/multipart's index.js). */
function mapMultipartError(e: unknown, maxUploadBytes: number): unknown {
  const code = (e as { code?: string } | null)?.code;
  switch (code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return new HttpError(413, 'payload_too_large', `image: the file is larger than the limit of ${maxUploadBytes} bytes`);
    case 'FST_FILES_LIMIT':
      return new HttpError(413, 'payload_too_large', 'only one file may be uploaded (the field named image)');
    case 'FST_FIELDS_LIMIT':
    case 'FST_PARTS_LIMIT':
      return new HttpError(413, 'payload_too_large', `too many form fields: at most ${MAX_FIELDS}`);
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new HttpError(415, 'unsupported_media_type', 'expected a multipart/form-data body (an image file named image, and text fields)');
    case 'FST_PROTO_VIOLATION':
      return badRequest('a form field name is not allowed (reserved JavaScript property name)');
    default:
      break;
  }
  // The parser's (@fastify/busboy's) own errors carry no code, only these messages.
  const message = e instanceof Error ? e.message : '';
  if (/^Multipart: Boundary not found$|^Boundary required$/.test(message)) {
    return badRequest('the multipart/form-data body has no boundary: the Content-Type header must name one ' +
      '(Content-Type: multipart/form-data; boundary=...), as HTTP clients do when they build the form', 'bad_multipart');
  }
  if (/^Unexpected end of multipart data$|terminated early due to unexpected end of multipart data$/.test(message)) {
    return badRequest('the multipart/form-data body ends before its closing boundary (--<boundary>--): the upload is cut off or ' +
      'the boundary in the Content-Type header is not the one used in the body', 'bad_multipart');
  }
  return e;
}

/** Reads the whole upload. `requireImage`: a missing image is a 400. */
export async function readUpload(req: FastifyRequest, o: { maxUploadBytes: number; requireImage: boolean }): Promise<Upload> {
  let image: Buffer | null = null;
  const fields: [string, string][] = [];
  try {
    const parts = req.parts({ limits: { fileSize: o.maxUploadBytes, files: 1, fields: MAX_FIELDS, fieldSize: MAX_FIELD_BYTES, parts: MAX_FIELDS + 1 } });
    for await (const part of parts) {
      if (part.type === 'file') {
        const bytes = await part.toBuffer();
        if (part.fieldname !== 'image') throw badRequest(`the file must be sent in the form field named image, not ${JSON.stringify(part.fieldname.slice(0, 40))}`);
        image = bytes;
      } else {
        if (part.valueTruncated) throw new HttpError(413, 'payload_too_large', `field ${part.fieldname.slice(0, 40)}: longer than ${MAX_FIELD_BYTES} bytes`);
        fields.push([part.fieldname, String(part.value)]);
      }
    }
  } catch (e) {
    throw mapMultipartError(e, o.maxUploadBytes);
  }
  if (image === null) {
    if (o.requireImage) throw badRequest('no image: send the fundus photo as a file in the form field named image');
    return { image: null, imageType: null, fields };
  }
  const imageType = sniffImage(image);
  if (imageType === null) {
    throw new HttpError(415, 'unsupported_media_type', `image: the uploaded bytes are ${await describeFile(image)}, not a JPEG, PNG, WebP or TIFF image (the type is read from the file's content, not its name)`);
  }
  return { image, imageType, fields };
}
