/**
 * Who may call the API: a bearer token (read from a file, never from the command line where `ps`
 * would show it), required whenever one is configured and mandatory on any non-loopback address.
 *
 * @example
 *   assertBindable('0.0.0.0', null); // throws: refusing to listen on 0.0.0.0 without --token-file
 *   bearerMatches('Bearer s3cret-token-0123456789', 's3cret-token-0123456789') // true
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';

/** Shortest accepted token: long enough that guessing it through the rate limit is hopeless. */
export const MIN_TOKEN_LENGTH = 16;

/**
 * True when `host` only accepts connections from this machine: 'localhost', 127.0.0.0/8, ::1
 * (and the IPv4-mapped ::ffff:127.x). '0.0.0.0', '::' and any other address are not.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h) || /^0:0:0:0:0:0:0:1$/.test(h);
  return false;
}

/** Throws unless a server may listen on `host` with this token: a non-loopback host needs one. */
export function assertBindable(host: string, token: string | null): void {
  if (token === null && !isLoopbackHost(host)) {
    throw new Error(`refusing to listen on ${host} without authentication: other machines could grade images and read ` +
      `cases. Pass --token-file FILE (a file holding a random token of at least ${MIN_TOKEN_LENGTH} characters, ` +
      `e.g. \`openssl rand -hex 24 > token\`), or listen on 127.0.0.1 only (the default).`);
  }
}

/** Reads a token file: its first line, trimmed; refuses an empty or short token naming the file. */
export function readTokenFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`--token-file ${path}: cannot read it (${(e as Error).message})`);
  }
  const token = (text.split(/\r?\n/)[0] ?? '').trim();
  checkToken(token, `--token-file ${path}`);
  if ((statSync(path).mode & 0o077) !== 0) {
    process.emitWarning(`${path} is readable by other users; chmod 600 it`, { code: 'RETALIGN_TOKEN_MODE' });
  }
  return token;
}

/** Throws unless `token` is usable as a bearer token. */
export function checkToken(token: string, where: string): void {
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new Error(`${where}: the token has ${token.length} characters; expected at least ${MIN_TOKEN_LENGTH}`);
  }
  if (!/^[\x21-\x7e]+$/.test(token)) throw new Error(`${where}: the token must be printable ASCII without spaces`);
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * Constant-time check of an Authorization header against the token (digests first, so neither
 * the length nor a prefix leaks through timing).
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (header === undefined) return false;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (m === null) return false;
  return timingSafeEqual(digest(m[1] as string), digest(token));
}
