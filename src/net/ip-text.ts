/**
 * IP addresses between their bytes and their text, as nginx writes them (ngx_sock_ntop,
 * ngx_inet6_ntop in src/core/ngx_inet.c): the PROXY v2 header's addresses reach the auth service
 * and the backend in nginx's spelling, and the PROXY header Postern writes needs the bytes.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** Dotted quad (4 bytes) or nginx's IPv6 text (16 bytes). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  return formatIpv6(bytes);
}

/** ngx_inet6_ntop: the longest run (2+) of zero words becomes `::`; IPv4-mapped and -compatible forms end dotted. */
function formatIpv6(p: Uint8Array): string {
  let zero = -1;
  let last = -1;
  let max = 1;
  let n = 0;
  for (let i = 0; i < 16; i += 2) {
    if (p[i] !== 0 || p[i + 1] !== 0) {
      if (max < n) {
        zero = last;
        max = n;
      }
      n = 0;
      continue;
    }
    if (n++ === 0) last = i;
  }
  if (max < n) {
    zero = last;
    max = n;
  }
  let out = '';
  let end = 16;
  if (zero === 0) {
    if ((max === 5 && p[10] === 0xff && p[11] === 0xff) || max === 6 || (max === 7 && p[14] !== 0 && p[15] !== 1)) end = 12;
    out += ':';
  }
  for (let i = 0; i < end; i += 2) {
    if (i === zero) {
      out += ':';
      i += (max - 1) * 2;
      continue;
    }
    out += (p[i]! * 256 + p[i + 1]!).toString(16);
    if (i < 14) out += ':';
  }
  if (end === 12) out += `${p[12]}.${p[13]}.${p[14]}.${p[15]}`;
  return out;
}

/** The 4 or 16 bytes of an IPv4 or IPv6 address text; null when it is neither. */
export function ipBytes(text: string): Uint8Array | null {
  if (isIPv4(text)) return Uint8Array.from(text.split('.').map(Number));
  if (!isIPv6(text)) return null;
  let head = text;
  let tail: number[] = [];
  // An embedded IPv4 address ends the text (`::ffff:1.2.3.4`).
  const dotted = text.lastIndexOf(':');
  if (text.includes('.', dotted)) {
    const quad = text.slice(dotted + 1).split('.').map(Number);
    tail = [(quad[0]! << 8) | quad[1]!, (quad[2]! << 8) | quad[3]!];
    head = text.slice(0, dotted + 1);
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const [left, right] = head.includes('::') ? head.split('::') : [head, undefined];
  const words = (part: string | undefined): number[] => (part === undefined || part === '' ? [] : part.split(':').map((w) => parseInt(w, 16)));
  const before = words(left);
  const after = [...words(right), ...tail];
  const fill = right === undefined && !head.includes('::') ? [] : new Array<number>(8 - before.length - after.length).fill(0);
  const all = [...before, ...fill, ...after];
  const bytes = new Uint8Array(16);
  all.forEach((word, i) => {
    bytes[2 * i] = word >> 8;
    bytes[2 * i + 1] = word & 0xff;
  });
  return bytes;
}

/** The IPv4 address inside `::ffff:a.b.c.d`, else the text unchanged (Node's dual-stack sockets report the mapped form). */
export const unmapIpv4 = (text: string): string => (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(text) ? text.slice(7) : text);
