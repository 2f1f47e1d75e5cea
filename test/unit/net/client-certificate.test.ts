/**
 * `tlsInfo`: the client certificate after a real handshake (a `tls.Server` that asks for a
 * certificate and never rejects, as the runtime's), in nginx's forms. Expected names, serials
 * and fingerprints come from the openssl CLI (`-nameopt RFC2253` prints what nginx sends);
 * verify texts are the ones nginx 1.22.1 sent for the same certificates.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import tls, { type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TlsInfo } from '../../../machines/types.js';
import type { SslConfig, VerifyClient } from '../../../src/config/types.js';
import { keepClientChains, rfc2253, tlsInfo } from '../../../src/net/client-certificate.js';
import { serverConfig, testCertificate } from '../../integration/fixtures.js';
import { makeClientCerts, type ClientCerts, type Pair } from './client-cert-fixtures.js';

let certs: ClientCerts;
beforeAll(() => {
  certs = makeClientCerts();
});
afterAll(() => certs.remove());

const ssl = (over: Partial<SslConfig>): SslConfig => ({ ...serverConfig().ssl, ...over });

/** openssl's own view of a certificate, as nginx prints it. */
function oracle(pair: Pair) {
  const field = (flag: string) =>
    execFileSync('openssl', ['x509', '-in', pair.cert, '-noout', flag, '-nameopt', 'RFC2253'], { encoding: 'latin1' }).trim().replace(/^[^=]+=/, '');
  return {
    subject: Buffer.from(field('-subject'), 'latin1').toString('utf8'),
    issuer: field('-issuer'),
    serial: field('-serial'),
    fingerprint: field('-fingerprint').replaceAll(':', '').toLowerCase(),
  };
}

interface Handshake {
  verifyClient: VerifyClient;
  /** CA files the server trusts (`ssl_client_certificate`). */
  ca?: string[];
  crl?: string;
  verifyDepth?: number;
  client?: Pair;
  /** Intermediates the client sends after its certificate. */
  chain?: string;
  pass?: boolean;
  /**
   * Read the client's certificate with `getPeerX509Certificate()` in a `secure` listener placed
   * before the server's own, as Node.js 24.21.0's `tls.Server` does (Node.js issue #65579): that
   * empties OpenSSL's list of the certificates the client sent, on every Node.js.
   */
  chainEmptied?: boolean;
  /** Set up the server as the runtime does (`keepClientChains`); default true. */
  keepChains?: boolean;
}

/** A `tls.Server` that asks for certificates, set up as `TlsEndpoint` sets up its own. */
function prepare(tlsServer: tls.Server, h: Handshake): void {
  if (h.chainEmptied) {
    const emptied = new WeakSet<TLSSocket>();
    tlsServer.on('keylog', (_line: Buffer, socket: TLSSocket) => {
      if (emptied.has(socket)) return;
      emptied.add(socket);
      socket.prependOnceListener('secure', () => socket.getPeerX509Certificate());
    });
  }
  // After the emptying listener: keepClientChains places its own before it, as before Node's.
  if (h.verifyClient !== 'off' && h.keepChains !== false) keepClientChains(tlsServer);
}

/** One handshake against a server configured like the runtime's; returns what `tlsInfo` says. */
async function handshake(h: Handshake): Promise<TlsInfo> {
  const server = testCertificate();
  const caFiles = h.ca ?? [certs.root.cert];
  const config = ssl({ verifyClient: h.verifyClient, verifyDepth: h.verifyDepth ?? 1, clientCertificate: caFiles[0], trustedCertificate: caFiles[1] });
  const tlsServer = tls.createServer({
    cert: readFileSync(server.certificate),
    key: readFileSync(server.key),
    requestCert: h.verifyClient !== 'off',
    rejectUnauthorized: false,
    ...(h.verifyClient === 'off' ? {} : { ca: caFiles.map((f) => readFileSync(f)) }),
    ...(h.crl === undefined ? {} : { crl: readFileSync(h.crl) }),
  });
  prepare(tlsServer, h);
  const result = new Promise<TlsInfo>((resolve) =>
    tlsServer.once('secureConnection', (socket: TLSSocket) => {
      resolve(tlsInfo(socket, config, h.pass ?? false));
      socket.end();
    }),
  );
  await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
  const client = tls.connect({
    host: '127.0.0.1',
    port: (tlsServer.address() as AddressInfo).port,
    rejectUnauthorized: false,
    ...(h.client === undefined
      ? {}
      : { cert: readFileSync(h.client.cert, 'latin1') + (h.chain === undefined ? '' : readFileSync(h.chain, 'latin1')), key: readFileSync(h.client.key) }),
  });
  client.on('error', () => undefined);
  try {
    return await result;
  } finally {
    client.destroy();
    tlsServer.close();
  }
}

describe('tlsInfo', () => {
  it('ssl_verify_client off: protocol and cipher only', async () => {
    const info = await handshake({ verifyClient: 'off', client: certs.alice });
    expect(info.clientCert).toBeUndefined();
    expect(info.protocol).toMatch(/^TLSv1\.[23]$/);
    expect(info.cipher).not.toBe('');
  });

  it('no certificate: NONE and nothing else', async () => {
    expect((await handshake({ verifyClient: 'optional' })).clientCert).toEqual({ verify: 'NONE' });
  });

  it('a certificate from the CA: SUCCESS with the subject, issuer, serial and fingerprint as openssl prints them', async () => {
    const info = await handshake({ verifyClient: 'on', client: certs.alice });
    expect(info.clientCert).toEqual({ verify: 'SUCCESS', ...oracle(certs.alice) });
    expect(info.clientCert?.subject).toBe('UID=42+CN=alice,O=Example\\, Inc.,C=DE');
    expect(info.clientCert?.serial).toBe('0123456789ABCDEF01');
  });

  it('UTF-8, a leading space and serial 0: escaped and padded like nginx (OU=\\ lead,...,CN=Jos\\C3\\A9 #1; 00)', async () => {
    const info = await handshake({ verifyClient: 'on', client: certs.jose });
    expect(info.clientCert).toEqual({ verify: 'SUCCESS', ...oracle(certs.jose) });
    expect(info.clientCert?.subject).toBe('OU=\\ lead,emailAddress=j@x.test,CN=Jos\\C3\\A9 #1');
    expect(info.clientCert?.serial).toBe('00');
  });

  it('auth_http_pass_client_cert on: the PEM as the client sent it', async () => {
    const info = await handshake({ verifyClient: 'on', client: certs.alice, pass: true });
    expect(info.clientCert?.pem).toBe(certs.alice.pem);
  });

  it.each([
    ['a self-signed certificate', { client: 'self' }, 'FAILED:self-signed certificate', 18, true],
    ['a certificate from another CA', { client: 'wrong' }, 'FAILED:unable to verify the first certificate', 21, true],
    ['a leaf without its intermediate', { client: 'depth2' }, 'FAILED:unable to verify the first certificate', 21, true],
    ['an expired certificate', { client: 'expired' }, 'FAILED:certificate has expired', 10, false],
    ['a revoked certificate (ssl_crl)', { client: 'revoked', crl: true }, 'FAILED:certificate revoked', 23, false],
  ] as const)('%s: %s', async (_name, c, verify, errorNumber, issuerUnknown) => {
    const client = certs[c.client];
    const info = await handshake({ verifyClient: 'optional', client, ...('crl' in c ? { crl: certs.crl } : {}) });
    expect(info.clientCert).toEqual({ verify, errorNumber, ...(issuerUnknown ? { issuerUnknown } : {}), ...oracle(client) });
  });
});

describe('ssl_verify_depth (nginx 1.22.1 with OpenSSL 3.0, measured)', () => {
  it.each([
    ['depth 1, one intermediate', 1, 'depth1', 'chain1', undefined, 'SUCCESS'],
    ['depth 0, one intermediate', 0, 'depth1', 'chain1', undefined, 'FAILED:unable to get local issuer certificate'],
    ['depth 1, two intermediates', 1, 'depth2', 'chain2', undefined, 'FAILED:unable to get local issuer certificate'],
    ['depth 2, two intermediates', 2, 'depth2', 'chain2', undefined, 'SUCCESS'],
    ['depth 0, leaf from the root', 0, 'alice', undefined, undefined, 'SUCCESS'],
    ['depth 1, two intermediates, the upper one trusted', 1, 'depth2', 'chain2', 'int1', 'FAILED:unable to get issuer certificate'],
  ] as const)('%s: %s', async (_name, verifyDepth, client, chain, trustedIntermediate, verify) => {
    const ca = trustedIntermediate === undefined ? [certs.root.cert] : [certs.root.cert, certs[trustedIntermediate].cert];
    const info = await handshake({ verifyClient: 'on', verifyDepth, client: certs[client], ...(chain === undefined ? {} : { chain: certs[chain] }), ca });
    expect(info.clientCert?.verify).toBe(verify);
    // What optional_no_ca tolerates: the local issuer missing, not an issuer missing past a trusted one.
    expect(info.clientCert?.issuerUnknown).toBe(verify === 'FAILED:unable to get local issuer certificate' ? true : undefined);
  });
});

/** Two connections to one server, the second resuming the first's TLS session (ticket). */
async function resumed(h: Handshake & { maxVersion: 'TLSv1.2' | 'TLSv1.3' }): Promise<Array<{ reused: boolean; info: TlsInfo }>> {
  const server = testCertificate();
  const config = ssl({ verifyClient: h.verifyClient, verifyDepth: h.verifyDepth ?? 1, clientCertificate: certs.root.cert });
  const tlsServer = tls.createServer({
    cert: readFileSync(server.certificate),
    key: readFileSync(server.key),
    requestCert: true,
    rejectUnauthorized: false,
    ca: [readFileSync(certs.root.cert)],
    maxVersion: h.maxVersion,
  });
  prepare(tlsServer, h);
  const seen: Array<{ reused: boolean; info: TlsInfo }> = [];
  tlsServer.on('secureConnection', (socket: TLSSocket) => {
    seen.push({ reused: socket.isSessionReused(), info: tlsInfo(socket, config, false) });
    socket.end('bye');
  });
  await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
  let session: Buffer | undefined;
  for (let i = 0; i < 2; i++) {
    await new Promise<void>((resolve) => {
      const client = tls.connect({
        host: '127.0.0.1',
        port: (tlsServer.address() as AddressInfo).port,
        rejectUnauthorized: false,
        ...(session === undefined ? {} : { session }),
        cert: readFileSync(h.client!.cert, 'latin1') + (h.chain === undefined ? '' : readFileSync(h.chain, 'latin1')),
        key: readFileSync(h.client!.key),
      });
      client.on('session', (s: Buffer) => (session = s));
      client.on('data', () => undefined);
      client.on('error', () => undefined);
      client.on('close', () => resolve());
    });
  }
  tlsServer.close();
  return seen;
}

describe('resumed sessions keep the depth verdict (OpenSSL does not keep the client-sent intermediates)', () => {
  it.each(['TLSv1.2', 'TLSv1.3'] as const)('%s: a too deep chain stays refused, a short one stays accepted', async (maxVersion) => {
    const deep = await resumed({ verifyClient: 'on', client: certs.depth2, chain: certs.chain2, maxVersion });
    expect(deep.map((s) => [s.reused, s.info.clientCert?.verify])).toEqual([
      [false, 'FAILED:unable to get local issuer certificate'],
      [true, 'FAILED:unable to get local issuer certificate'],
    ]);
    const short = await resumed({ verifyClient: 'on', client: certs.depth1, chain: certs.chain1, maxVersion });
    expect(short.map((s) => [s.reused, s.info.clientCert?.verify])).toEqual([
      [false, 'SUCCESS'],
      [true, 'SUCCESS'],
    ]);
  });
});

describe('rfc2253', () => {
  it.each([
    ['CN=Root CA', 'CN=Root CA'],
    ['C=DE\nO=Example\\, Inc.\nCN=alice + UID=42', 'UID=42+CN=alice,O=Example\\, Inc.,C=DE'],
    ['CN=José #1\nemailAddress=j@x.test\nOU=\\ lead', 'OU=\\ lead,emailAddress=j@x.test,CN=Jos\\C3\\A9 #1'],
    ['CN=a\\+b + O=c', 'O=c+CN=a\\+b'],
    ['CN=😀', 'CN=\\F0\\9F\\98\\80'],
    ['', ''],
  ])('%j → %j', (node, nginx) => {
    expect(rfc2253(node)).toBe(nginx);
  });
});

describe('the client chain read before Node.js empties it (Node.js issue #65579)', () => {
  it.each([
    [1, 'FAILED:unable to get local issuer certificate'],
    [2, 'SUCCESS'],
  ] as const)('emptied by a getPeerX509Certificate() before the server sees the socket, depth %i, two intermediates: %s', async (verifyDepth, verify) => {
    const info = await handshake({ verifyClient: 'on', verifyDepth, client: certs.depth2, chain: certs.chain2, chainEmptied: true });
    expect(info.clientCert?.verify).toBe(verify);
  });

  /** What such a Node.js shows of a resumed handshake: the verified leaf, without any issuer. */
  const resumedSocket = (pem: string) => {
    const cert = new X509Certificate(pem);
    const leaf = { raw: cert.raw, fingerprint256: cert.fingerprint256, subject: {}, issuer: {} };
    return {
      authorized: true,
      getProtocol: () => 'TLSv1.3',
      getCipher: () => ({ name: 'TLS_AES_128_GCM_SHA256' }),
      getPeerCertificate: () => leaf,
      isSessionReused: () => true,
    } as unknown as TLSSocket;
  };

  it('a server that does not keep the chain cannot count it: the depth is not applied and a process warning says so, once', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const settings = ssl({ verifyClient: 'on', verifyDepth: 0 });
      // A resumed session has no chain to show on any Node.js: its full handshake's verdict, silently.
      expect(tlsInfo(resumedSocket(readFileSync(certs.depth1.cert, 'latin1')), settings, false).clientCert?.verify).toBe('SUCCESS');
      expect(warn).not.toHaveBeenCalled();
      const lost = { verifyClient: 'on', verifyDepth: 1, client: certs.depth2, chain: certs.chain2, chainEmptied: true, keepChains: false } as const;
      expect((await handshake(lost)).clientCert?.verify).toBe('SUCCESS');
      expect((await handshake(lost)).clientCert?.verify).toBe('SUCCESS');
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toMatch(/does not show the server the client's certificate chain .*ssl_verify_depth is not applied/);
    } finally {
      warn.mockRestore();
    }
  });
});
