/**
 * Who may call the API: a bearer token (read from a file, never from the command line where `ps`
 * would show it), required whenever one is configured and mandatory on any non-loopback address.
 * The header itself is checked by @fastify/bearer-auth (constant-time, app.ts); what stays here is
 * what that plugin cannot decide: whether a server needs a token at all (its bind address), and
 * loading and vetting the token file (length, characters, file mode).
 *
 * @example
 *   assertBindable('0.0.0.0', null); // throws: refusing to listen on 0.0.0.0 without --token-file
 *   readTokenFile('/etc/retalign/token') // its first line, at least 16 printable characters
 */
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
