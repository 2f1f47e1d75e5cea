/**
 * Address syntaxes: the address part of `listen` and the `auth_http` URL, following
 * `ngx_parse_url` (error texts included). Host names are kept as written, not resolved.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { AuthHttpTarget } from './types.js';
import { parseNumber } from './values.js';

export class AddressError extends Error {}

/** `ngx_inet_addr`: exactly four dotted decimal parts, each 0-255. */
const isDottedQuad = (text: string): boolean =>
  /^\d{1,3}(\.\d{1,3}){3}$/.test(text) && text.split('.').every((p) => Number(p) <= 255);

/** `ngx_inet6_addr`: an IPv6 address without a zone (Node's isIPv6 takes `fe80::1%lo`, nginx and URL do not). */
export const isIPv6Address = (text: string): boolean => isIPv6(text) && !text.includes('%');

/** Canonical (compressed, lower-case) text of an IPv6 address, as inet_ntop prints it. */
export function canonicalIPv6(address: string): string {
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

const HOSTNAME = /^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_.])?$/;

const RANGE = /^\d+-\d+$/;

function parsePort(text: string): number {
  if (RANGE.test(text)) throw new AddressError('port ranges are not supported yet');
  const n = parseNumber(text);
  if (n === null || n < 1 || n > 65535) throw new AddressError('invalid port');
  return n;
}

export interface ListenAddress {
  host: string;
  port: number;
  /** nginx's address text for messages: `0.0.0.0:110`, `[::]:993`, `127.0.0.1:143`. */
  key: string;
}

/**
 * The first argument of `listen`: `port`, `*:port`, `addr:port`, `[v6]:port`, `name:port`.
 * Throws AddressError with nginx's `u->err` text; `unix:` and port ranges are refused by the
 * caller before this.
 */
export function parseListenAddress(text: string): ListenAddress {
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) throw new AddressError('invalid host');
    const inner = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest.includes('/')) throw new AddressError('invalid host');
    if (rest === '') throw new AddressError('no port');
    if (!rest.startsWith(':')) throw new AddressError('invalid host');
    const port = parsePort(rest.slice(1));
    if (inner === '') throw new AddressError('no host');
    if (!isIPv6Address(inner)) throw new AddressError('invalid IPv6 address');
    const host = canonicalIPv6(inner);
    return { host, port, key: `[${host}]:${port}` };
  }
  if (text.includes('/') || text.includes('?')) throw new AddressError('invalid host');
  const colon = text.indexOf(':');
  if (colon < 0) {
    if (RANGE.test(text)) throw new AddressError('port ranges are not supported yet');
    const port = parseNumber(text);
    if (port !== null) {
      if (port < 1 || port > 65535) throw new AddressError('invalid port');
      return { host: '0.0.0.0', port, key: `0.0.0.0:${port}` };
    }
    throw new AddressError('no port');
  }
  const port = parsePort(text.slice(colon + 1));
  const name = text.slice(0, colon);
  if (name === '') throw new AddressError('no host');
  if (name === '*') return { host: '0.0.0.0', port, key: `0.0.0.0:${port}` };
  if (isDottedQuad(name)) {
    const host = name
      .split('.')
      .map((p) => String(Number(p)))
      .join('.');
    return { host, port, key: `${host}:${port}` };
  }
  if (!HOSTNAME.test(name)) throw new AddressError('host not found');
  return { host: name, port, key: `${name.toLowerCase()}:${port}` };
}

/**
 * `auth_http URL`: `[http://]host[:port][/uri]` or `[http://]unix:/path[:/uri]`; default port
 * 80, default URI `/`. Errors carry nginx's `u->err` text and the URL as nginx prints it (without
 * the `http://` prefix).
 */
export function parseAuthHttpUrl(url: string): AuthHttpTarget {
  const rest = url.startsWith('http://') ? url.slice(7) : url;
  const fail = (reason: string): never => {
    throw new AddressError(`${reason} in auth_http "${rest}"`);
  };
  if (/^https:\/\//i.test(url)) {
    throw new AddressError(`"https" in auth_http "${url}" is not supported, the auth server is reached over plain HTTP`);
  }

  if (rest.length >= 5 && rest.slice(0, 5).toLowerCase() === 'unix:') {
    let path = rest.slice(5);
    let uri = '';
    const colon = path.indexOf(':');
    if (colon >= 0) {
      uri = path.slice(colon + 1);
      path = path.slice(0, colon);
    }
    if (path === '') fail('no path in the unix domain socket');
    if (Buffer.byteLength(path) + 1 > 108) fail('too long path in the unix domain socket');
    return { url, unixPath: path, uri: uri === '' ? '/' : uri, hostHeader: 'localhost' };
  }

  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) fail('invalid host');
    let after = rest.slice(close + 1);
    let uri = '';
    const slash = after.indexOf('/');
    if (slash >= 0) {
      uri = after.slice(slash);
      after = after.slice(0, slash);
    }
    let port = 80;
    if (after !== '') {
      if (!after.startsWith(':')) fail('invalid host');
      const n = parseNumber(after.slice(1));
      if (n === null || n < 1 || n > 65535) fail('invalid port');
      port = n!;
    }
    const inner = rest.slice(1, close);
    if (inner === '') fail('no host');
    if (!isIPv6Address(inner)) fail('invalid IPv6 address');
    return { url, host: canonicalIPv6(inner), port, uri: uri === '' ? '/' : uri, hostHeader: `[${inner}]` };
  }

  let end = rest.length;
  const slash = rest.indexOf('/');
  const query = rest.indexOf('?');
  let uriStart = slash;
  if (query >= 0 && (uriStart < 0 || query < uriStart)) uriStart = query;
  let uri = '';
  if (uriStart >= 0) {
    uri = rest.slice(uriStart);
    end = uriStart;
  }
  const hostPort = rest.slice(0, end);
  let host = hostPort;
  let port = 80;
  const colon = hostPort.indexOf(':');
  if (colon >= 0) {
    host = hostPort.slice(0, colon);
    const n = parseNumber(hostPort.slice(colon + 1));
    if (n === null || n < 1 || n > 65535) fail('invalid port');
    port = n!;
  }
  if (host === '') fail('no host');
  if (!isIPv4(host) && !HOSTNAME.test(host)) fail('host not found');
  return { url, host, port, uri: uri === '' ? '/' : uri, hostHeader: host };
}
