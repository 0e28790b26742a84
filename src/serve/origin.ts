/**
 * Who may address the server, by the request's own headers (before any token is looked at):
 *
 * - Host (DNS rebinding): a page on attacker.example can re-point its name at 127.0.0.1 and then
 *   read a loopback server as "same origin". A server bound to loopback therefore answers only Host
 *   values naming a loopback address (localhost, 127.x.y.z, [::1]), with the server's port or none,
 *   plus the names given with --allowed-host (e.g. the local end of an ssh tunnel on another port).
 * - Origin / Sec-Fetch-Site (cross-site request forgery): a state-changing request (POST, PUT,
 *   PATCH, DELETE) sent by a page of another origin is refused, whatever the bind address.
 *
 * @example
 *   const hosts = parseAllowedHosts(['retina.lan', 'localhost:9000']);
 *   hostRefusal('attacker.example:8080', { loopbackOnly: true, allowed: hosts, port: 8080 }) // 'Host "attacker.example:8080" is not ...'
 *   crossOriginRefusal('POST', { host: 'localhost:8080', origin: 'http://evil.example' }) // 'cross-origin POST from http://evil.example ...'
 */
import { isIP } from 'node:net';

/** An --allowed-host entry: a lowercase name (brackets kept for IPv6) and an optional port. */
export interface AllowedHost {
  name: string;
  port: number | null;
}

const HOST_RE = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/;

/** Splits a Host header value into a lowercase name and a port; null when it is not a host[:port]. */
export function splitHost(value: string): AllowedHost | null {
  const m = HOST_RE.exec(value.trim().toLowerCase());
  if (m === null) return null;
  const port = m[2] === undefined ? null : Number(m[2]);
  if (port !== null && port > 65535) return null;
  return { name: m[1] as string, port };
}

/**
 * --allowed-host values (each may be a comma list): host names or addresses, with an optional port.
 * Throws naming the entry that is not one.
 */
export function parseAllowedHosts(values: readonly string[]): AllowedHost[] {
  const out: AllowedHost[] = [];
  for (const v of values.flatMap((x) => x.split(','))) {
    const t = v.trim();
    if (t === '') continue;
    const h = splitHost(t);
    if (h === null || /^[.-]|\.\./.test(h.name)) {
      throw new Error(`--allowed-host ${JSON.stringify(t)}: expected a host name or address with an optional port, e.g. retina.lan, 192.168.1.20:8080 or [::1]:9000`);
    }
    out.push(h);
  }
  return out;
}

/** True for a Host name that can only mean this machine: localhost, 127.0.0.0/8, [::1]. */
export function isLoopbackName(name: string): boolean {
  if (name === 'localhost') return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  return name === '[::1]';
}

/**
 * Why a request with this Host header must be refused, or null when it may be served.
 * `loopbackOnly`: the server listens on a loopback address (otherwise any Host is fine: the token
 * guards that server). `port`: the server's port, null when unknown (every port then matches).
 */
export function hostRefusal(host: string | undefined, o: { loopbackOnly: boolean; allowed: readonly AllowedHost[]; port: number | null }): string | null {
  if (!o.loopbackOnly) return null;
  const shown = JSON.stringify((host ?? '').slice(0, 100));
  const h = host === undefined ? null : splitHost(host);
  const portOk = (p: number | null): boolean => p === null || o.port === null || p === o.port;
  if (h !== null) {
    if (isLoopbackName(h.name) && portOk(h.port)) return null;
    if (o.allowed.some((a) => a.name === h.name && (a.port === null ? portOk(h.port) : a.port === h.port))) return null;
  }
  return `${host === undefined ? 'no Host header' : `Host ${shown} is not allowed`}: this server listens on loopback and answers only ` +
    `localhost, 127.0.0.1 or [::1]${o.port === null ? '' : ` (port ${o.port} or none)`} and the names given with --allowed-host ` +
    '(a foreign name pointing at this machine is how DNS rebinding reaches it)';
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const DEFAULT_PORT: Record<string, number> = { 'http:': 80, 'https:': 443 };

/**
 * Why a state-changing request must be refused as cross-origin, or null. Refused: Sec-Fetch-Site
 * cross-site, or an Origin whose host and port differ from the Host header (Origin "null" included).
 * Requests without either header (curl, scripts) are not browsers' forged requests and pass.
 */
export function crossOriginRefusal(method: string, h: { host?: string; origin?: string; secFetchSite?: string }): string | null {
  if (SAFE_METHODS.has(method.toUpperCase())) return null;
  if (h.secFetchSite?.toLowerCase() === 'cross-site') {
    return `cross-site ${method} refused (Sec-Fetch-Site: cross-site): only this server's own page may send it`;
  }
  if (h.origin === undefined) return null;
  const shown = JSON.stringify(h.origin.slice(0, 100));
  let url: URL | null = null;
  try {
    url = new URL(h.origin);
  } catch {
    url = null;
  }
  const scheme = url === null ? undefined : DEFAULT_PORT[url.protocol];
  const target = h.host === undefined ? null : splitHost(h.host);
  if (url !== null && scheme !== undefined && target !== null) {
    const originPort = url.port === '' ? scheme : Number(url.port);
    if (url.hostname.toLowerCase() === target.name && originPort === (target.port ?? scheme)) return null;
  }
  return `cross-origin ${method} from Origin ${shown} to Host ${JSON.stringify((h.host ?? '').slice(0, 100))} refused: only this server's own page may send it`;
}
