/** Helpers shared by the upload routes: decoding an uploaded image, small form-field parsers. */
import type { FastifyRequest } from 'fastify';
import { ImageTooLargeError } from '../../data/images/preprocess.js';
import { ImageShapeError, type PreparedImage } from '../engine.js';
import type { ServeContext } from '../context.js';
import { HttpError, badRequest } from '../errors.js';

/**
 * Uploaded bytes -> the model's input: 413 over the pixel limit (from the header, before any
 * pixel is decoded), 422 for a photo too small or too elongated (engine.checkImageShape) and for
 * one that cannot be decoded (corrupt, truncated).
 */
export async function decodeImage(ctx: ServeContext, bytes: Buffer): Promise<PreparedImage> {
  try {
    return await ctx.engine.prepareImage(bytes, 'image', ctx.limits.maxPixels);
  } catch (e) {
    if (e instanceof ImageTooLargeError) {
      throw new HttpError(413, 'too_many_pixels', `image: ${e.width}x${e.height} = ${e.width * e.height} pixels exceeds the limit of ${e.limit} pixels`);
    }
    if (e instanceof ImageShapeError) throw new HttpError(422, 'bad_image_shape', e.message);
    const why = e instanceof Error ? e.message.replace(/^image: /, '') : String(e);
    throw new HttpError(422, 'undecodable_image', `image: the file looks like an image but cannot be decoded (${why.slice(0, 300)})`);
  }
}

/**
 * An integer form field in [min, max].
 * @example intField('k', '5', 0, 50) // 5
 */
export function intField(name: string, raw: string, min: number, max: number): number {
  const t = raw.trim();
  if (!/^\d+$/.test(t) || Number(t) < min || Number(t) > max) {
    throw badRequest(`field ${name}: ${JSON.stringify(raw.slice(0, 40))} is not valid; expected an integer in [${min}, ${max}]`, 'bad_field');
  }
  return Number(t);
}

/** Refuses a control field given twice. */
export function once(seen: Set<string>, name: string): void {
  if (seen.has(name)) throw badRequest(`field ${name}: given twice`, 'bad_field');
  seen.add(name);
}

/** For InferenceQueue.run/submit: true once the request's connection is gone (nobody to answer). */
export function clientGone(req: FastifyRequest): () => boolean {
  return () => req.raw.socket?.destroyed === true;
}
