import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { DetailedPeerCertificate, Server as TlsServer, TLSSocket } from 'node:tls';
import type { ClientCertificate, TlsInfo } from '../../machines/types.js';
import type { SslConfig } from '../config/types.js';
import { negotiated, type Negotiated } from './negotiated.js';
import { X509_VERIFY_ERRORS } from './x509-verify-errors.js';

/** The failures `ssl_verify_client optional_no_ca` lets through (nginx's ngx_ssl_verify_error_optional). */
const ISSUER_UNKNOWN = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

/** The client's chain as it stood when the handshake ended, per socket, until `tlsInfo` takes it. */
const chainsAtHandshakeEnd = new WeakMap<TLSSocket, DetailedPeerCertificate>();

/**
 * Keep, for every socket of `server`, the client's chain as OpenSSL holds it when the handshake
 * ends, before Node's own code sees the socket. Node.js 24.21.0 (Node.js issue #65579) reads the
 * client's certificate with `getPeerX509Certificate()` in the `tls.Server`'s own `secure`
 * listener, and that call empties OpenSSL's list of the certificates the client sent: every
 * later `getPeerCertificate(true)` is the leaf alone (Node 20 does the same to a caller of
 * `getPeerX509Certificate()`). A listener placed before Node's reads the chain intact. The
 * `keylog` event is the one place a `tls.Server` hands out each socket during its handshake, so
 * it is used only to place that listener; the key lines themselves are ignored.
 */
export function keepClientChains(server: TlsServer): void {
  const placed = new WeakSet<TLSSocket>();
  server.on('keylog', (_line: Buffer, socket: TLSSocket) => {
    if (placed.has(socket)) return;
    placed.add(socket);
    socket.prependOnceListener('secure', () => chainsAtHandshakeEnd.set(socket, socket.getPeerCertificate(true)));
  });
}

/**
 * What the machine and the auth request learn from a finished handshake: the protocol and
 * cipher (`Auth-SSL-Protocol`, `Auth-SSL-Cipher`) and, unless `ssl_verify_client` is off, the
 * client certificate as nginx reports it. Node verified the chain (`requestCert`, never
 * rejecting); `ssl_verify_depth`, which Node does not have, is applied here.
 */
export function tlsInfo(socket: TLSSocket, ssl: SslConfig, passClientCert: boolean, suite: Negotiated = negotiated(socket)): TlsInfo {
  const info: TlsInfo = suite;
  if (ssl.verifyClient === 'off') return info;
  // Not getPeerX509Certificate(): it empties the chain for a later getPeerCertificate(true).
  const chain = peerChain(socket);
  if (chain.length === 0) return { ...info, clientCert: { verify: 'NONE' } };
  const cert = new X509Certificate(chain[0]!.raw);
  const details: ClientCertificate = {
    ...verifyResult(socket, chain, ssl),
    subject: rfc2253(cert.subject),
    issuer: rfc2253(cert.issuer),
    serial: opensslSerial(cert.serialNumber),
    fingerprint: createHash('sha1').update(cert.raw).digest('hex'),
    ...(passClientCert ? { pem: cert.toString() } : {}),
  };
  return { ...info, clientCert: details };
}

type Verdict = Pick<ClientCertificate, 'verify' | 'issuerUnknown' | 'errorNumber'>;

function failed(code: string, text?: string): Verdict {
  const known = X509_VERIFY_ERRORS[code];
  const reason = text ?? known?.[1] ?? X509_VERIFY_ERRORS.UNSPECIFIED![1];
  const number = known?.[0] ?? Object.values(X509_VERIFY_ERRORS).find(([, t]) => t === reason)?.[0];
  return {
    verify: `FAILED:${reason}`,
    ...(ISSUER_UNKNOWN.has(code) ? { issuerUnknown: true } : {}),
    ...(number === undefined ? {} : { errorNumber: number }),
  };
}

function verifyResult(socket: TLSSocket, chain: readonly DetailedPeerCertificate[], ssl: SslConfig): Verdict {
  if (!socket.authorized) {
    // A string code at run time, whatever the typings say; Node names only some OpenSSL errors.
    const code = String(socket.authorizationError ?? 'UNSPECIFIED');
    return code in X509_VERIFY_ERRORS && code !== 'UNSPECIFIED' ? failed(code) : failed(code, opensslText(socket));
  }
  const leaf = chain[0]!.fingerprint256;
  if (!reachesAnchor(chain)) {
    // A full handshake whose chain was not kept (a server without keepClientChains) and that
    // Node no longer shows: nothing to count the depth on.
    if (!socket.isSessionReused()) warnChainHidden();
    // A resumed session: OpenSSL keeps the client's certificate but not the intermediates it sent,
    // so the depth verdict is the one its full handshake had (nginx keeps it in the session).
    return depthRefusals(ssl).get(leaf) ?? { verify: 'SUCCESS' };
  }
  const verdict = depthVerdict(chain, ssl);
  rememberDepthVerdict(ssl, leaf, verdict);
  return verdict ?? { verify: 'SUCCESS' };
}

let chainHiddenWarned = false;

/**
 * A full handshake whose chain neither `keepClientChains` kept nor Node shows (Node.js issue
 * #65579): `ssl_verify_depth` cannot be applied. Said once per process, as a process warning
 * (stderr), so that an operator learns it; Postern's own servers keep the chain, so this is
 * only a guard against a Node.js that changes when it empties the chain.
 */
function warnChainHidden(): void {
  if (chainHiddenWarned) return;
  chainHiddenWarned = true;
  process.emitWarning(
    `Node.js ${process.version} does not show the server the client's certificate chain (Node.js issue #65579): ssl_verify_depth is not applied`,
    { code: 'POSTERN_CLIENT_CHAIN_HIDDEN' },
  );
}

const reachesAnchor = (chain: readonly DetailedPeerCertificate[]): boolean => {
  const last = chain[chain.length - 1];
  return last !== undefined && last.issuerCertificate?.fingerprint256 === last.fingerprint256;
};

/** Client certificates whose last full handshake was too deep, per server (bounded, oldest dropped first). */
const depthRefusalsBySsl = new WeakMap<SslConfig, Map<string, Verdict>>();
const MAX_DEPTH_REFUSALS = 10_000;

function depthRefusals(ssl: SslConfig): Map<string, Verdict> {
  let refusals = depthRefusalsBySsl.get(ssl);
  if (refusals === undefined) {
    refusals = new Map();
    depthRefusalsBySsl.set(ssl, refusals);
  }
  return refusals;
}

function rememberDepthVerdict(ssl: SslConfig, leaf: string, verdict: Verdict | null): void {
  const refusals = depthRefusals(ssl);
  refusals.delete(leaf);
  if (verdict === null) return;
  refusals.set(leaf, verdict);
  if (refusals.size > MAX_DEPTH_REFUSALS) refusals.delete(refusals.keys().next().value!);
}

/**
 * The text OpenSSL gave for an error Node has no name for (Node reports those as UNSPECIFIED):
 * the TLS handle's own verify error, an internal of Node's that may be absent.
 */
function opensslText(socket: TLSSocket): string | undefined {
  const handle = (socket as TLSSocket & { _handle?: { verifyError?: () => Error | null } })._handle;
  return handle?.verifyError?.()?.message;
}

/** The client's certificate and its issuers, leaf first, up to the self-signed trust anchor when verified. */
function peerChain(socket: TLSSocket): DetailedPeerCertificate[] {
  const kept = chainsAtHandshakeEnd.get(socket);
  chainsAtHandshakeEnd.delete(socket);
  const chain: DetailedPeerCertificate[] = [];
  const seen = new Set<string>();
  for (let cert: DetailedPeerCertificate | undefined = kept ?? socket.getPeerCertificate(true); cert?.raw !== undefined; cert = cert.issuerCertificate) {
    if (seen.has(cert.fingerprint256)) break;
    seen.add(cert.fingerprint256);
    chain.push(cert);
  }
  return chain;
}

/**
 * `ssl_verify_depth N`: OpenSSL builds at most N + 2 certificates (leaf, N intermediates, trust
 * anchor). A chain that only verifies longer stops short of its anchor, and OpenSSL reports the
 * missing issuer: "unable to get issuer certificate" if that short chain already reached into
 * the configured CA files, else "unable to get local issuer certificate" (measured on nginx
 * 1.22.1 with OpenSSL 3.0; "certificate chain too long" does not occur this way).
 */
function depthVerdict(chain: readonly DetailedPeerCertificate[], ssl: SslConfig): Verdict | null {
  const limit = ssl.verifyDepth + 2;
  if (chain.length <= limit) return null;
  const trusted = trustedFingerprints(ssl);
  const reachesStore = chain.slice(1, limit).some((cert) => trusted.has(cert.fingerprint256));
  return failed(reachesStore ? 'UNABLE_TO_GET_ISSUER_CERT' : 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
}

const trustedCache = new WeakMap<SslConfig, Set<string>>();

/** SHA-256 fingerprints of the certificates in `ssl_client_certificate` and `ssl_trusted_certificate`. */
function trustedFingerprints(ssl: SslConfig): Set<string> {
  let set = trustedCache.get(ssl);
  if (set !== undefined) return set;
  set = new Set();
  for (const file of [ssl.clientCertificate, ssl.trustedCertificate]) {
    if (file === undefined) continue;
    try {
      const pem = readFileSync(file, 'latin1');
      for (const block of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []) {
        set.add(new X509Certificate(block).fingerprint256);
      }
    } catch {
      // Checked at start; unreadable since, the too deep chain is reported as missing its local issuer.
    }
  }
  trustedCache.set(ssl, set);
  return set;
}

/**
 * A distinguished name from Node's form (one RDN per line, leaf-most last, multi-valued RDNs
 * joined by ` + `, RFC 2253 escapes but UTF-8 left raw) to the form nginx sends since 1.11.6
 * (OpenSSL `XN_FLAG_RFC2253`): attributes in reverse order, `,` between RDNs, `+` within one,
 * and every byte of a non-ASCII character escaped as `\XX`.
 */
export function rfc2253(multiline: string): string {
  if (multiline === '') return '';
  const attributes = multiline.split('\n').flatMap((rdn, index) => rdn.split(' + ').map((text) => ({ text, index })));
  attributes.reverse();
  let out = '';
  attributes.forEach((attribute, i) => {
    if (i > 0) out += attribute.index === attributes[i - 1]!.index ? '+' : ',';
    out += escapeNonAscii(attribute.text);
  });
  return out;
}

function escapeNonAscii(text: string): string {
  return text.replace(/[^\u0000-\u007f]/gu, (char) =>
    [...Buffer.from(char, 'utf8')].map((byte) => `\\${byte.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}

/** OpenSSL prints a serial as whole bytes (`00` for zero); Node drops the zero byte. */
function opensslSerial(hex: string): string {
  const digits = hex.replace(/^-/, '');
  const padded = digits.length % 2 === 1 ? `0${digits}` : digits;
  return `${hex.startsWith('-') ? '-' : ''}${padded.toUpperCase()}`;
}
