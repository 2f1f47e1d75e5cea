/**
 * The PROXY protocol header Postern writes to the backend (`proxy_protocol on | v2`) before it
 * reads the greeting, as nginx's ngx_proxy_protocol_write / ngx_proxy_protocol_v2_write do
 * (src/core/ngx_proxy_protocol.c): the source is the client (after `set_real_ip_from`), the
 * destination is the address and port the client connected to, not the incoming header's.
 */
import type { BackendProxyProtocol } from '../config/types.js';
import { formatIp, ipBytes } from '../net/ip-text.js';

export interface Endpoint {
  ip: string;
  port: number;
}

const V2_SIGNATURE = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');
const PP2_TYPE_CRC32C = 0x03;

/** The header for `mode` ('off': none). */
export function backendProxyHeader(mode: BackendProxyProtocol, client: Endpoint, local: Endpoint): Buffer | undefined {
  if (mode === 'off') return undefined;
  return mode === 'v2' ? proxyV2(client, local) : Buffer.from(proxyV1(client, local), 'latin1');
}

/** An IPv4 address as `::ffff:a.b.c.d`, for a header whose other side is IPv6. */
function mapped(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 16) return bytes;
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(bytes, 12);
  return out;
}

/**
 * `PROXY TCP4|TCP6 <client> <local> <client port> <local port>\r\n`. nginx picks the family from
 * the client's address alone and can write a mixed line (nginx issue #1609); Postern maps the
 * IPv4 side into IPv6 then, so the line is always one a receiver accepts.
 */
export function proxyV1(client: Endpoint, local: Endpoint): string {
  const source = ipBytes(client.ip);
  const destination = ipBytes(local.ip);
  if (source === null || destination === null) return 'PROXY UNKNOWN\r\n';
  const v6 = source.length === 16 || destination.length === 16;
  const text = (bytes: Uint8Array) => formatIp(v6 ? mapped(bytes) : bytes);
  return `PROXY ${v6 ? 'TCP6' : 'TCP4'} ${text(source)} ${text(destination)} ${client.port} ${local.port}\r\n`;
}

/**
 * The v2 header as nginx 1.31.4 writes it: PROXY over STREAM, INET when both sides are IPv4
 * (IPv4-mapped on both sides counts as IPv4), else INET6; LOCAL with no addresses when one side
 * is no IP address; a CRC32C TLV last. (nginx adds SSL TLVs for a TLS client; Postern does not.)
 */
export function proxyV2(client: Endpoint, local: Endpoint): Buffer {
  let source = ipBytes(client.ip);
  let destination = ipBytes(local.ip);
  let command = 0x21;
  let familyTransport = 0x00;
  let addresses = Buffer.alloc(0);
  if (source !== null && destination !== null) {
    if (isMappedV4(source) && isMappedV4(destination)) {
      source = source.subarray(12);
      destination = destination.subarray(12);
    }
    const v6 = source.length === 16 || destination.length === 16;
    const size = v6 ? 16 : 4;
    familyTransport = v6 ? 0x21 : 0x11;
    addresses = Buffer.alloc(2 * size + 4);
    addresses.set(v6 ? mapped(source) : source, 0);
    addresses.set(v6 ? mapped(destination) : destination, size);
    addresses.writeUInt16BE(client.port, 2 * size);
    addresses.writeUInt16BE(local.port, 2 * size + 2);
  } else {
    command = 0x20;
  }
  const crcTlv = Buffer.from([PP2_TYPE_CRC32C, 0, 4, 0, 0, 0, 0]);
  const header = Buffer.alloc(16);
  V2_SIGNATURE.copy(header);
  header[12] = command;
  header[13] = familyTransport;
  header.writeUInt16BE(addresses.length + crcTlv.length, 14);
  const whole = Buffer.concat([header, addresses, crcTlv]);
  // The checksum covers the whole header with the CRC field zeroed.
  whole.writeUInt32BE(crc32c(whole), whole.length - 4);
  return whole;
}

const isMappedV4 = (bytes: Uint8Array): boolean =>
  bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;

let crcTable: Uint32Array | undefined;

/** CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), which the PROXY v2 CRC32C TLV carries. */
export function crc32c(bytes: Uint8Array): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of bytes) crc = crcTable[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
