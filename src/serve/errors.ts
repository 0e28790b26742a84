/**
 * Errors that carry an HTTP status. Everything the server refuses on purpose throws one of these,
 * with a message precise enough to fix the request (field, value, expected); the error handler
 * turns it into `{ error, message, statusCode }`. The same errors surface as plain messages in
 * the CLI.
 *
 * @example throw new HttpError(415, 'unsupported_media_type', 'image: the bytes are not an image');
 */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    /** Stable machine-readable code, e.g. 'bad_field', 'payload_too_large'. */
    readonly code: string,
    message: string,
    /** Extra response headers (e.g. Retry-After). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** 400: the request names a bad field or value. */
export function badRequest(message: string, code = 'bad_request'): HttpError {
  return new HttpError(400, code, message);
}
