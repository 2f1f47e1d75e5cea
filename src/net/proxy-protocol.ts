/**
 * Reading a PROXY protocol header (v1 text or v2 binary) as nginx does (src/core/ngx_proxy_protocol.c,
 * ngx_proxy_protocol_read), but incrementally: bytes may arrive in any number of pieces, and the
 * verdict is the one nginx gives the whole header read at once. Pure: bytes in, verdict out.
 *
 * Limits: a v1 line must end within 107 bytes (the protocol's own maximum, and all nginx 1.22.1
 * reads); a v2 header may be up to 4,096 bytes (nginx >= 1.23.3, room for HAProxy's TLVs).
 * Nothing beyond the header is ever consumed: the caller gets back what followed it.
 */
import { formatIp } from './ip-text.js';

/** nginx's NGX_PROXY_PROTOCOL_V1_MAX_HEADER. */
export const PROXY_V1_MAX_HEADER = 107;
/** nginx's NGX_PROXY_PROTOCOL_MAX_HEADER since 1.23.3. */
export const PROXY_MAX_HEADER = 4096;

const V2_SIGNATURE = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');
const V2_HEADER = 16;

/** The header's source and destination, as nginx keeps them (v1: the text as sent). */
export interface ProxyAddresses {
  sourceAddress: string;
  sourcePort: number;
  destinationAddress: string;
  destinationPort: number;
}

export type ProxyHeaderVerdict =
  /** More bytes are needed (and may still come). */
  | { status: 'incomplete' }
  /**
   * A header of `length` bytes. `addresses` is null for `PROXY UNKNOWN` and for v2 headers nginx
   * skips (command LOCAL, a transport other than STREAM, a family other than INET/INET6).
   */
  | { status: 'header'; length: number; addresses: ProxyAddresses | null }
  /** Not a header: `log` is nginx's error line for it. */
  | { status: 'broken'; log: string };

/**
 * What nginx logs for a header it cannot read: the bytes up to the first CR or LF (nginx >=
 * 1.23.3). Bytes that are no PROXY header at all are a client speaking the mail protocol first,
 * possibly `LOGIN user password`: of those only the first word is logged, then `...`.
 */
function brokenHeader(bytes: Buffer): ProxyHeaderVerdict {
  let end = 0;
  while (end < bytes.length && bytes[end] !== 0x0d && bytes[end] !== 0x0a) end++;
  let shown = bytes.toString('latin1', 0, end);
  if (!shown.startsWith('PROXY ') && !'PROXY '.startsWith(shown)) {
    const space = shown.indexOf(' ');
    if (space >= 0) shown = `${shown.slice(0, space)} ...`;
  }
  // The bytes as nginx's `%*s` writes them; the JSON log escapes what is not printable.
  return { status: 'broken', log: `broken header: "${shown}"` };
}

const INCOMPLETE: ProxyHeaderVerdict = { status: 'incomplete' };

/**
 * The verdict on the bytes read so far. `ended`: no more bytes will come (the client closed),
 * so what is incomplete is broken. Call again with more bytes while the verdict is `incomplete`.
 */
export function readProxyHeader(bytes: Buffer, ended = false): ProxyHeaderVerdict {
  const verdict = classify(bytes);
  if (verdict.status !== 'incomplete') return verdict;
  if (ended) return bytes.length >= V2_HEADER && isV2(bytes) ? { status: 'broken', log: 'header is too large' } : brokenHeader(bytes);
  return verdict;
}

function isV2(bytes: Buffer): boolean {
  return bytes.subarray(0, V2_SIGNATURE.length).equals(V2_SIGNATURE);
}

function classify(bytes: Buffer): ProxyHeaderVerdict {
  const prefix = bytes.subarray(0, Math.min(bytes.length, V2_SIGNATURE.length));
  if (prefix.equals(V2_SIGNATURE.subarray(0, prefix.length)) && bytes.length > 0) {
    return bytes.length < V2_HEADER ? INCOMPLETE : readV2(bytes);
  }
  const v1 = readV1(bytes.subarray(0, PROXY_V1_MAX_HEADER));
  // 107 bytes without the end of the line: nginx 1.22.1 read no more than that.
  if (v1.status === 'incomplete' && bytes.length >= PROXY_V1_MAX_HEADER) return brokenHeader(bytes.subarray(0, PROXY_V1_MAX_HEADER));
  return v1;
}

/** The ASCII text `expected` at `at`, as far as `bytes` go: 'yes', 'no', or 'more' (a prefix so far). */
function matches(bytes: Buffer, at: number, expected: string): 'yes' | 'no' | 'more' {
  for (let i = 0; i < expected.length; i++) {
    if (at + i >= bytes.length) return 'more';
    if (bytes[at + i] !== expected.charCodeAt(i)) return 'no';
  }
  return 'yes';
}

const isAddressByte = (byte: number): boolean =>
  byte === 0x3a || byte === 0x2e || (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) || (byte >= 0x41 && byte <= 0x46);

type Field<T> = { status: 'ok'; value: T; next: number } | { status: 'more' } | { status: 'bad' };

/** ngx_proxy_protocol_read_addr: hex digits, `:` and `.` up to a space (the text is kept as sent). */
function readAddress(bytes: Buffer, at: number): Field<string> {
  for (let p = at; p < bytes.length; p++) {
    const byte = bytes[p]!;
    if (byte === 0x20) return { status: 'ok', value: bytes.toString('latin1', at, p), next: p + 1 };
    if (!isAddressByte(byte)) return { status: 'bad' };
  }
  return { status: 'more' };
}

/** ngx_proxy_protocol_read_port: decimal digits up to `separator`, at most 65535. */
function readPort(bytes: Buffer, at: number, separator: number): Field<number> {
  let value = 0;
  for (let p = at; p < bytes.length; p++) {
    const byte = bytes[p]!;
    if (byte === separator) return p === at ? { status: 'bad' } : { status: 'ok', value, next: p + 1 };
    // nginx scans to the separator and then finds the digits wrong: the verdict is the same.
    if (byte < 0x30 || byte > 0x39) return { status: 'bad' };
    value = value * 10 + (byte - 0x30);
    if (value > 65535) return { status: 'bad' };
  }
  return { status: 'more' };
}

function readV1(bytes: Buffer): ProxyHeaderVerdict {
  const proxy = matches(bytes, 0, 'PROXY ');
  if (proxy !== 'yes') return proxy === 'more' ? INCOMPLETE : brokenHeader(bytes);
  const unknown = matches(bytes, 6, 'UNKNOWN');
  if (unknown === 'yes') {
    // Whatever follows UNKNOWN is skipped up to the CRLF.
    for (let p = 13; p < bytes.length - 1; p++) if (bytes[p] === 0x0d && bytes[p + 1] === 0x0a) return { status: 'header', length: p + 2, addresses: null };
    return INCOMPLETE;
  }
  if (unknown === 'more') return INCOMPLETE;
  const tcp = matches(bytes, 6, 'TCP');
  if (tcp === 'more') return INCOMPLETE;
  if (tcp === 'no') return brokenHeader(bytes);
  if (bytes.length < 11) return INCOMPLETE;
  if ((bytes[9] !== 0x34 && bytes[9] !== 0x36) || bytes[10] !== 0x20) return brokenHeader(bytes);
  const source = readAddress(bytes, 11);
  if (source.status !== 'ok') return source.status === 'more' ? INCOMPLETE : brokenHeader(bytes);
  const destination = readAddress(bytes, source.next);
  if (destination.status !== 'ok') return destination.status === 'more' ? INCOMPLETE : brokenHeader(bytes);
  const sourcePort = readPort(bytes, destination.next, 0x20);
  if (sourcePort.status !== 'ok') return sourcePort.status === 'more' ? INCOMPLETE : brokenHeader(bytes);
  const destinationPort = readPort(bytes, sourcePort.next, 0x0d);
  if (destinationPort.status !== 'ok') return destinationPort.status === 'more' ? INCOMPLETE : brokenHeader(bytes);
  const lf = destinationPort.next;
  if (lf >= bytes.length) return INCOMPLETE;
  if (bytes[lf] !== 0x0a) return brokenHeader(bytes);
  return {
    status: 'header',
    length: lf + 1,
    addresses: { sourceAddress: source.value, sourcePort: sourcePort.value, destinationAddress: destination.value, destinationPort: destinationPort.value },
  };
}

/** ngx_proxy_protocol_v2_read. */
function readV2(bytes: Buffer): ProxyHeaderVerdict {
  const versionCommand = bytes[12]!;
  const version = versionCommand >> 4;
  if (version !== 2) return { status: 'broken', log: `unknown PROXY protocol version: ${version}` };
  const length = V2_HEADER + bytes.readUInt16BE(14);
  if (length > PROXY_MAX_HEADER) return { status: 'broken', log: 'header is too large' };
  if (bytes.length < length) return INCOMPLETE;
  const skipped: ProxyHeaderVerdict = { status: 'header', length, addresses: null };
  // Only the PROXY command over STREAM carries addresses; LOCAL (health checks) and the rest are skipped.
  if ((versionCommand & 0x0f) !== 1) return skipped;
  const familyTransport = bytes[13]!;
  if ((familyTransport & 0x0f) !== 1) return skipped;
  const block = bytes.subarray(V2_HEADER, length);
  switch (familyTransport >> 4) {
    case 1:
      if (block.length < 12) return { status: 'broken', log: 'broken header: PROXY protocol v2 address block too short' };
      return { status: 'header', length, addresses: addressesOf(block, 4) };
    case 2:
      if (block.length < 36) return { status: 'broken', log: 'broken header: PROXY protocol v2 address block too short' };
      return { status: 'header', length, addresses: addressesOf(block, 16) };
    default:
      return skipped;
  }
}

function addressesOf(block: Buffer, size: 4 | 16): ProxyAddresses {
  return {
    sourceAddress: formatIp(block.subarray(0, size)),
    destinationAddress: formatIp(block.subarray(size, 2 * size)),
    sourcePort: block.readUInt16BE(2 * size),
    destinationPort: block.readUInt16BE(2 * size + 2),
  };
}

/**
 * Feeds a connection's first bytes to `readProxyHeader` without ever holding more than the
 * largest header: `push` each chunk, `end` when the client closed.
 */
export class ProxyHeaderReader {
  private buffered = Buffer.alloc(0);

  /** Bytes held now: never more than PROXY_MAX_HEADER. */
  get held(): number {
    return this.buffered.length;
  }

  /**
   * The verdict with this chunk. On `header`, `rest` is what followed the header (the client's
   * first bytes of the mail protocol, or of the TLS handshake).
   */
  push(chunk: Buffer): ProxyHeaderVerdict & { rest?: Buffer } {
    const room = PROXY_MAX_HEADER - this.buffered.length;
    const taken = chunk.subarray(0, room);
    this.buffered = Buffer.concat([this.buffered, taken]);
    const verdict = readProxyHeader(this.buffered);
    if (verdict.status === 'header') {
      const rest = Buffer.concat([this.buffered.subarray(verdict.length), chunk.subarray(room)]);
      this.buffered = Buffer.alloc(0);
      return { ...verdict, rest };
    }
    if (verdict.status === 'incomplete' && this.buffered.length >= PROXY_MAX_HEADER) return readProxyHeader(this.buffered, true);
    return verdict;
  }

  /** The client closed: what was read is all there is. */
  end(): ProxyHeaderVerdict {
    return readProxyHeader(this.buffered, true);
  }
}
