/**
 * A server's `ssl_*` settings as Node.js secure-context options, loaded and checked the way
 * ngx_mail_ssl_merge_conf loads them: certificates with their chains, keys (passphrases from
 * `ssl_password_file` tried in turn), ciphers, DH parameters, curves, client CAs and CRLs, then
 * the `ssl_conf_command`s last. Every problem is a ConfigError worded like nginx's (its OpenSSL
 * function name, then our reason in parentheses) and placed at the directive's FILE:LINE.
 */
import { createPrivateKey, constants, X509Certificate, type KeyObject } from 'node:crypto';
import tls from 'node:tls';
import { ConfigError, describeErrno } from '../config/errors.js';
import type { ServerConfig, SslConfig, Where } from '../config/types.js';
import { sessionIdContext } from './session-id-context.js';
import { loadTicketKeyFiles, type TicketKey } from './ticket-keys.js';
import { tlsFiles, type TlsFiles } from './tls-files.js';
import { NODE_TLS_VERSIONS, tlsVersions, type NodeTlsVersion, type TlsVersions } from './tls.js';

/** nginx's NGX_SSL_PASSWORD_BUFFER_SIZE: a longer line in ssl_password_file is an error. */
const PASSWORD_LINE_MAX = 4096;

/** The options plus what `postern -t` prints as warnings (nginx would not complain). */
export interface SecureContextPlan {
  options: tls.SecureContextOptions;
  warnings: string[];
  /** The `ssl_session_ticket_key` files' keys, read once here (the session cache serves them). */
  ticketKeys: TicketKey[];
}

interface PemBlock {
  label: string;
  text: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 .]+)-----\r?\n[\s\S]*?-----END \1-----/g;
const pemBlocks = (text: string): PemBlock[] => [...text.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1]!, text: m[0] }));
const CERTIFICATE_LABELS = new Set(['CERTIFICATE', 'TRUSTED CERTIFICATE', 'X509 CERTIFICATE']);

/** Builds one server's options, throwing a ConfigError at the first problem. */
export function secureContextOptions(ssl: SslConfig): tls.SecureContextOptions {
  return planSecureContext(ssl).options;
}

/** One `postern_ssl_sni_certificate`: the server's settings with another certificate. */
export interface SniPlan {
  pattern: string;
  options: tls.SecureContextOptions;
  /** The directive, where a context that cannot be built is reported. */
  where: Where;
}

/**
 * One server's TLS, read and checked but not built: the options of its context and of each SNI
 * certificate's, the warnings and the ticket key files' keys. tls-contexts.ts builds the
 * contexts, once per load.
 */
export interface ServerTls {
  options: tls.SecureContextOptions;
  sni: SniPlan[];
  warnings: string[];
  ticketKeys: TicketKey[];
  /** Where a server context that cannot be built is reported: the certificate, else the server. */
  where: Where;
}

/**
 * Everything planSecureContext checks, for the server and each of its SNI certificates, from
 * files read once through `files` (one reader per load: a file several servers name is read once
 * too). The SNI certificates share everything but their certificate and key with the server, so
 * only those are read for them.
 */
export function serverTls(server: ServerConfig, files: TlsFiles = tlsFiles()): ServerTls {
  const ssl = server.ssl;
  const plan = planWithParts(ssl, server.where, files);
  const warnings = [...plan.warnings];
  const sni = ssl.sniCertificates.map((entry): SniPlan => {
    const own = loadPair(entry.certificate, entry.key, plan.passwords, entry.where, entry.where, files);
    warnings.push(...validityWarnings(own.certFile, own.certificate));
    // Like the server's: an `ssl_conf_command Certificate` of the same key type replaces it.
    const pairs = withCommandPairs([own], plan.commandPairs);
    // The server's session id context too: a session resumes under any of its names (they all
    // verify clients alike) and under no other server's.
    return { pattern: entry.pattern, where: entry.where, options: { ...plan.options, ...certificateOptions(pairs) } };
  });
  return { options: plan.options, sni, warnings, ticketKeys: plan.ticketKeys, where: ssl.certificateWhere ?? server.where };
}

/**
 * Builds the options and collects warnings, checking in ngx_mail_ssl_merge_conf's order (ciphers,
 * certificates, client CAs and CRL, DH parameters, curves, ticket keys, then ssl_conf_command) so
 * the first error is nginx's; `fallback` locates errors of directives left at their defaults.
 */
export function planSecureContext(ssl: SslConfig, fallback?: Where): SecureContextPlan {
  const { options, warnings, ticketKeys } = planWithParts(ssl, fallback, tlsFiles());
  return { options, warnings, ticketKeys };
}

/** The plan, and what the SNI certificates' plans reuse of it. */
interface PlanParts extends SecureContextPlan {
  passwords: string[] | undefined;
  /** `ssl_conf_command Certificate`/`PrivateKey` pairs, which replace a certificate of their key type. */
  commandPairs: CertificatePair[];
}

function planWithParts(ssl: SslConfig, fallback: Where | undefined, files: TlsFiles): PlanParts {
  const at = (name: string) => whereOf(ssl, name, fallback);
  const warnings: string[] = [];

  const sslv = ssl.protocols.filter((p) => p.startsWith('SSL'));
  if (sslv.length > 0) {
    throw ConfigError.at(`"ssl_protocols" lists ${sslv.join(' and ')}, which Node.js's OpenSSL cannot speak; remove it`, at('ssl_protocols'));
  }
  checkCipherList(ssl.ciphers, at('ssl_ciphers'));

  const passwords = ssl.passwordFile === undefined ? undefined : readPasswords(ssl.passwordFile, at('ssl_password_file'), files);
  const ownPairs: CertificatePair[] = ssl.certificates.map((file, i) =>
    loadPair(file, ssl.certificateKeys[i]!, passwords, ssl.certificateWhere ?? at('ssl_certificate_key'), at('ssl_certificate_key'), files),
  );

  // Client certificates: nginx loads the CA files and the CRL only when ssl_verify_client is not off.
  const caPems: string[] = [];
  let crl: string | undefined;
  if (ssl.verifyClient !== 'off') {
    if (ssl.clientCertificate !== undefined) caPems.push(loadCaFile(ssl.clientCertificate, at('ssl_client_certificate'), files));
    if (ssl.trustedCertificate !== undefined) caPems.push(loadCaFile(ssl.trustedCertificate, at('ssl_trusted_certificate'), files));
    if (ssl.crl !== undefined) crl = loadCrl(ssl.crl, at('ssl_crl'), files);
  }
  const ownDhparam = ssl.dhparam === undefined ? undefined : loadDhparam(ssl.dhparam, at('ssl_dhparam'), files);
  checkCurves(ssl.ecdhCurve, at('ssl_ecdh_curve'));
  const ticketKeys = loadTicketKeyFiles(ssl.sessionTicketKeys, at('ssl_session_ticket_key'), files);

  // ssl_conf_command last, over everything above, as OpenSSL applies it after nginx's own settings.
  const commands = confCommands(ssl, at('ssl_conf_command'), files);
  const pairs = withCommandPairs(ownPairs, commands.pairs);
  for (const pair of pairs) warnings.push(...validityWarnings(pair.certFile, pair.certificate));

  // Protocols: nginx's list, narrowed by MinProtocol/MaxProtocol, as a Node range plus holes.
  const low = NODE_TLS_VERSIONS.indexOf(commands.minProtocol ?? 'TLSv1');
  const high = NODE_TLS_VERSIONS.indexOf(commands.maxProtocol ?? 'TLSv1.3');
  let enabled = NODE_TLS_VERSIONS.filter((v, i) => ssl.protocols.includes(v) && i >= low && i <= high);
  if (commands.suites === '') enabled = enabled.filter((v) => v !== 'TLSv1.3');
  let versions: TlsVersions;
  try {
    versions = tlsVersions(enabled, () => `no TLS version left to use by "ssl_protocols ${ssl.protocols.join(' ')}" and "ssl_conf_command"`);
  } catch (error) {
    throw ConfigError.at((error as Error).message, at('ssl_protocols'));
  }
  const { minVersion, maxVersion, secureOptions: versionOptions } = versions;
  let secureOptions = versionOptions;

  // Ciphers: OpenSSL's cipher list ignores TLS 1.3 names (nginx hands ssl_ciphers to it), so TLS 1.3
  // suites come only from ssl_conf_command Ciphersuites; Node takes them from TLS_* names in `ciphers`.
  const cipherText = commands.cipherString ?? ssl.ciphers;
  const cipherList = tls12Ciphers(cipherText);
  const ciphers = commands.suites ? `${cipherList}:${commands.suites}` : cipherList;
  if (enabled.some((v) => v === 'TLSv1' || v === 'TLSv1.1') && !/@SECLEVEL=0/i.test(cipherText)) {
    const where = commands.cipherString !== undefined ? at('ssl_conf_command') : ssl.where.ssl_ciphers ? at('ssl_ciphers') : at('ssl_protocols');
    warnings.push(`TLSv1 and TLSv1.1 handshakes fail with OpenSSL 3 (in nginx too) unless the cipher list allows them with "@SECLEVEL=0" in ${formatWhere(where)}`);
  }

  const options: tls.SecureContextOptions = {
    ...certificateOptions(pairs),
    ciphers,
    honorCipherOrder: commands.serverPreference ?? ssl.preferServerCiphers,
    minVersion,
    maxVersion,
    ecdhCurve: commands.curves ?? ssl.ecdhCurve,
    sessionTimeout: Math.floor(ssl.sessionTimeoutMs / 1000),
  };
  if (commands.sigalgs !== undefined) options.sigalgs = commands.sigalgs;
  const dhparam = commands.dhparam ?? ownDhparam;
  if (dhparam !== undefined) options.dhparam = dhparam;
  if (ssl.verifyClient !== 'off') {
    // An empty list, not Node's default of Mozilla's roots: nginx trusts only the configured files.
    options.ca = caPems;
    if (crl !== undefined) options.crl = crl;
  }
  if (!(commands.sessionTickets ?? ssl.sessionTickets)) secureOptions |= constants.SSL_OP_NO_TICKET;
  secureOptions |= commands.optionBits;
  if (secureOptions !== 0) options.secureOptions = secureOptions;
  options.sessionIdContext = sessionIdContext(
    pairs.map((p) => Buffer.from(p.certPem)),
    caPems.map((pem) => Buffer.from(pem)),
    ssl.verifyClient,
  );
  return { options, warnings, ticketKeys, passwords, commandPairs: commands.pairs };
}

/** OpenSSL keeps one certificate per key type: a command's pair replaces the one of its type. */
function withCommandPairs(own: readonly CertificatePair[], fromCommands: readonly CertificatePair[]): CertificatePair[] {
  const pairs = [...own];
  for (const replacement of fromCommands) {
    const same = pairs.findIndex((p) => p.type === replacement.type);
    if (same < 0) pairs.push(replacement);
    else pairs[same] = replacement;
  }
  return pairs;
}

const certificateOptions = (pairs: readonly CertificatePair[]): Pick<tls.SecureContextOptions, 'cert' | 'key'> => ({
  cert: pairs.map((p) => p.certPem),
  key: pairs.map((p) => (p.passphrase === undefined ? { pem: p.keyPem } : { pem: p.keyPem, passphrase: p.passphrase })),
});

/** The part of a cipher string OpenSSL's cipher list takes (TLS 1.3 names are not part of it). */
const tls12Ciphers = (text: string): string => text.split(':').filter((c) => c !== '' && !c.startsWith('TLS_')).join(':');

/** ngx_ssl_ciphers: SSL_CTX_set_cipher_list must match at least one cipher. */
function checkCipherList(text: string, where: Where): void {
  const list = tls12Ciphers(text);
  const failure = list === '' ? 'no cipher match' : trial({ ciphers: list });
  if (failure !== null) throw ConfigError.at(`SSL_CTX_set_cipher_list("${text}") failed (${failure})`, where);
}

/** ngx_ssl_ecdh_curve: `auto` or a list OpenSSL knows. */
function checkCurves(curves: string, where: Where): void {
  const failure = trial({ ecdhCurve: curves });
  if (failure !== null) throw ConfigError.at(`SSL_CTX_set1_curves_list("${curves}") failed (${failure})`, where);
}

const formatWhere = (where: Where): string => `${where.file}:${where.line}`;

function whereOf(ssl: SslConfig, name: string, fallback?: Where): Where {
  return ssl.where[name] ?? ssl.certificateWhere ?? fallback ?? { file: '<unknown>', line: 0 };
}

/** The OpenSSL reason of a Node error, without its `error:XXXXXXXX:` code prefix. */
export function openSslReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/^error:[0-9A-F]+:/, '').replace(/^[^:]*routines::/, '');
}

/** null when Node accepts the options, else the reason. */
function trial(options: tls.SecureContextOptions): string | null {
  try {
    tls.createSecureContext(options);
    return null;
  } catch (error) {
    return openSslReason(error);
  }
}

/** File contents, or the text after `data:` (nginx's inline certificates and keys). */
function readSource(file: string, files: TlsFiles): Buffer {
  return file.startsWith('data:') ? Buffer.from(file.slice(5)) : files.read(file);
}

// ---------------------------------------------------------------------------------------------
// Certificates and keys

interface CertificatePair {
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: Buffer;
  passphrase?: string;
  certificate: X509Certificate;
  key: KeyObject;
  /** The key algorithm: OpenSSL keeps one certificate per type (RSA, ECDSA, ...). */
  type: string;
  keyWhere: Where;
}

function loadCertificate(file: string, where: Where, files: TlsFiles): { pem: string; certificate: X509Certificate } {
  const fail = (reason: string): never => {
    throw ConfigError.at(`cannot load certificate "${file}": ${reason}`, where);
  };
  let text: string;
  try {
    text = readSource(file, files).toString('latin1');
  } catch (error) {
    return fail(`BIO_new_file() failed (${describeErrno(error)})`);
  }
  // Like PEM_read_bio_X509_AUX then PEM_read_bio_X509: the first certificate, then the chain; other blocks are skipped.
  const blocks = pemBlocks(text).filter((b) => CERTIFICATE_LABELS.has(b.label));
  if (blocks.length === 0) return fail('PEM_read_bio_X509_AUX() failed (no certificate found)');
  const parsed = blocks.map((block, i) => {
    try {
      return new X509Certificate(block.text);
    } catch (error) {
      return fail(`${i === 0 ? 'PEM_read_bio_X509_AUX' : 'PEM_read_bio_X509'}() failed (${openSslReason(error)})`);
    }
  });
  return { pem: blocks.map((b) => b.text).join('\n') + '\n', certificate: parsed[0]! };
}

function loadPair(
  certFile: string,
  keyFile: string,
  passwords: string[] | undefined,
  certWhere: Where,
  keyWhere: Where,
  files: TlsFiles,
): CertificatePair {
  const { pem: certPem, certificate } = loadCertificate(certFile, certWhere, files);
  const { pem: keyPem, key, passphrase } = loadKey(keyFile, passwords, keyWhere, files);
  return makePair({ certFile, certPem, certificate }, { keyFile, keyPem, key, passphrase }, keyWhere);
}

/** A certificate with its key, checked like SSL_CTX_use_PrivateKey does. */
function makePair(
  cert: { certFile: string; certPem: string; certificate: X509Certificate },
  key: { keyFile: string; keyPem: Buffer; key: KeyObject; passphrase: string | undefined },
  keyWhere: Where,
): CertificatePair {
  if (!cert.certificate.checkPrivateKey(key.key)) {
    throw ConfigError.at(`SSL_CTX_use_PrivateKey("${key.keyFile}") failed (key values mismatch)`, keyWhere);
  }
  const pair: CertificatePair = {
    certFile: cert.certFile, keyFile: key.keyFile, certPem: cert.certPem, keyPem: key.keyPem, certificate: cert.certificate, key: key.key,
    type: cert.certificate.publicKey.asymmetricKeyType ?? 'unknown', keyWhere,
  };
  if (key.passphrase !== undefined) pair.passphrase = key.passphrase;
  return pair;
}

function loadKey(file: string, passwords: string[] | undefined, where: Where, files: TlsFiles): { pem: Buffer; key: KeyObject; passphrase?: string } {
  const fail = (reason: string): never => {
    throw ConfigError.at(`cannot load certificate key "${file}": ${reason}`, where);
  };
  if (file.startsWith('engine:') || file.startsWith('store:')) {
    return fail(`loading "${file.slice(0, file.indexOf(':'))}:..." certificate keys is not supported`);
  }
  let pem: Buffer;
  try {
    pem = readSource(file, files);
  } catch (error) {
    return fail(`BIO_new_file() failed (${describeErrno(error)})`);
  }
  // nginx tries every line of the password file in turn (or no passphrase at all without the file).
  const attempts: Array<string | undefined> = passwords ?? [undefined];
  let lastError: unknown;
  for (const passphrase of attempts) {
    try {
      const key = createPrivateKey(passphrase === undefined ? { key: pem, format: 'pem' } : { key: pem, format: 'pem', passphrase });
      return passphrase === undefined ? { pem, key } : { pem, key, passphrase };
    } catch (error) {
      lastError = error;
    }
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem.toString('latin1'))) {
    if (passwords === undefined) return fail('PEM_read_bio_PrivateKey() failed (the key is encrypted and there is no "ssl_password_file")');
    return fail('PEM_read_bio_PrivateKey() failed (no line of "ssl_password_file" decrypts it)');
  }
  return fail(`PEM_read_bio_PrivateKey() failed (${openSslReason(lastError)})`);
}

/** ngx_ssl_read_password_file: one passphrase per line (CR LF or LF), empty lines skipped. */
function readPasswords(file: string, where: Where, files: TlsFiles): string[] {
  let text: string;
  try {
    text = files.read(file).toString('latin1');
  } catch (error) {
    throw ConfigError.at(`open() "${file}" failed (${describeErrno(error)})`, where);
  }
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines.some((l) => l.length >= PASSWORD_LINE_MAX)) throw ConfigError.at(`too long line in "${file}"`, where);
  const passwords = lines.filter((l) => l !== '');
  return passwords.length > 0 ? passwords : [''];
}

/** nginx does not look at validity dates; Postern warns about them. */
function validityWarnings(file: string, certificate: X509Certificate): string[] {
  const now = Date.now();
  const from = Date.parse(certificate.validFrom);
  const to = Date.parse(certificate.validTo);
  if (now > to) return [`certificate "${file}" expired on ${certificate.validTo}`];
  if (now < from) return [`certificate "${file}" is not valid before ${certificate.validFrom}`];
  return [];
}

// ---------------------------------------------------------------------------------------------
// DH parameters, CAs, CRLs

function loadDhparam(file: string, where: Where, files: TlsFiles): string {
  let text: string;
  try {
    text = files.read(file).toString('latin1');
  } catch (error) {
    throw ConfigError.at(`BIO_new_file("${file}") failed (${describeErrno(error)})`, where);
  }
  // Node silently ignores a dhparam it cannot parse; nginx refuses it.
  const block = pemBlocks(text).find((b) => b.label === 'DH PARAMETERS' || b.label === 'X9.42 DH PARAMETERS');
  if (block === undefined) throw ConfigError.at(`PEM_read_bio_DHparams("${file}") failed (no start line: Expecting: DH PARAMETERS)`, where);
  const der = Buffer.from(block.text.replace(/-----[^-]+-----/g, ''), 'base64');
  if (der.length < 8 || der[0] !== 0x30) throw ConfigError.at(`PEM_read_bio_DHparams("${file}") failed (not DER-encoded DH parameters)`, where);
  const failure = trial({ dhparam: block.text });
  if (failure !== null) throw ConfigError.at(`SSL_CTX_set_tmp_dh("${file}") failed (${failure})`, where);
  return block.text;
}

function loadCaFile(file: string, where: Where, files: TlsFiles): string {
  const fail = (reason: string): never => {
    throw ConfigError.at(`SSL_CTX_load_verify_locations("${file}") failed (${reason})`, where);
  };
  let text: string;
  try {
    text = files.read(file).toString('latin1');
  } catch (error) {
    return fail(describeErrno(error));
  }
  const blocks = pemBlocks(text).filter((b) => CERTIFICATE_LABELS.has(b.label));
  if (blocks.length === 0) return fail('no certificate or crl found');
  for (const block of blocks) {
    try {
      new X509Certificate(block.text);
    } catch (error) {
      fail(openSslReason(error));
    }
  }
  return blocks.map((b) => b.text).join('\n') + '\n';
}

/** X509_LOOKUP_load_file takes certificates and CRLs alike; only the CRLs matter to Node (undefined: none). */
function loadCrl(file: string, where: Where, files: TlsFiles): string | undefined {
  let text: string;
  try {
    text = files.read(file).toString('latin1');
  } catch (error) {
    throw ConfigError.at(`X509_LOOKUP_load_file("${file}") failed (${describeErrno(error)})`, where);
  }
  const blocks = pemBlocks(text);
  const crls = blocks.filter((b) => b.label === 'X509 CRL');
  if (!blocks.some((b) => b.label === 'X509 CRL' || CERTIFICATE_LABELS.has(b.label))) {
    throw ConfigError.at(`X509_LOOKUP_load_file("${file}") failed (no certificate or crl found)`, where);
  }
  if (crls.length === 0) return undefined;
  const pem = crls.map((b) => b.text).join('\n') + '\n';
  const failure = trial({ crl: pem });
  if (failure !== null) throw ConfigError.at(`X509_LOOKUP_load_file("${file}") failed (${failure})`, where);
  return pem;
}

// ---------------------------------------------------------------------------------------------
// ssl_conf_command

/** What the `ssl_conf_command`s change, applied over the other directives as OpenSSL would. */
interface ConfCommandEffects {
  suites?: string;
  cipherString?: string;
  curves?: string;
  sigalgs?: string;
  minProtocol?: NodeTlsVersion;
  maxProtocol?: NodeTlsVersion;
  dhparam?: string;
  serverPreference?: boolean;
  sessionTickets?: boolean;
  optionBits: number;
  pairs: CertificatePair[];
}

/** SSL_CONF command names (file form) OpenSSL 3.0 knows; the ones Postern honours are handled below. */
const OPENSSL_COMMANDS = [
  'SignatureAlgorithms', 'ClientSignatureAlgorithms', 'Curves', 'Groups', 'ECDHParameters', 'CipherString', 'Ciphersuites',
  'Protocol', 'MinProtocol', 'MaxProtocol', 'Options', 'VerifyMode', 'Certificate', 'PrivateKey', 'ServerInfoFile',
  'ChainCAPath', 'ChainCAFile', 'VerifyCAPath', 'VerifyCAFile', 'RequestCAFile', 'ClientCAFile', 'RequestCAPath',
  'ClientCAPath', 'DHParameters', 'RecordPadding', 'NumTickets',
];

const PROTOCOL_VALUES: Record<string, NodeTlsVersion | 'None'> = {
  None: 'None', TLSv1: 'TLSv1', 'TLSv1.1': 'TLSv1.1', 'TLSv1.2': 'TLSv1.2', 'TLSv1.3': 'TLSv1.3',
};

/** `Options` flags Postern can honour: set (`Flag`) and cleared (`-Flag`) effects. */
const OPTION_FLAGS: Record<string, { on: (e: ConfCommandEffects) => void; off: (e: ConfCommandEffects) => void }> = {
  serverpreference: { on: (e) => (e.serverPreference = true), off: (e) => (e.serverPreference = false) },
  sessionticket: { on: (e) => (e.sessionTickets = true), off: (e) => (e.sessionTickets = false) },
  prioritizechacha: { on: (e) => (e.optionBits |= constants.SSL_OP_PRIORITIZE_CHACHA), off: () => undefined },
  norenegotiation: { on: (e) => (e.optionBits |= constants.SSL_OP_NO_RENEGOTIATION), off: () => undefined },
  allownodhekex: { on: (e) => (e.optionBits |= constants.SSL_OP_ALLOW_NO_DHE_KEX), off: () => undefined },
  encryptthenmac: { on: () => undefined, off: (e) => (e.optionBits |= constants.SSL_OP_NO_ENCRYPT_THEN_MAC) },
};
/** Flags whose requested state is what Node already does (so they are accepted as no-ops). */
const OPTION_NOOPS: Record<string, 'on' | 'off' | 'both'> = { compression: 'off', dhsingle: 'both', ecdhsingle: 'both' };
/** Every `Options` flag OpenSSL 3.0 knows (lower case); others are "bad value" as in nginx. */
const OPENSSL_OPTION_FLAGS = new Set([
  'sessionticket', 'emptyfragments', 'bugs', 'compression', 'serverpreference', 'noresumptiononrenegotiation', 'dhsingle',
  'ecdhsingle', 'unsafelegacyrenegotiation', 'unsafelegacyserverconnect', 'clientrenegotiation', 'encryptthenmac',
  'norenegotiation', 'allownodhekex', 'prioritizechacha', 'middleboxcompat', 'antireplay', 'extendedmastersecret',
  'canames', 'ktls', 'ignoreunexpectedeof',
]);

function confCommands(ssl: SslConfig, where: Where, files: TlsFiles): ConfCommandEffects {
  const effects: ConfCommandEffects = { optionBits: 0, pairs: [] };
  let pendingCertificate: { file: string; pem: string; certificate: X509Certificate } | undefined;
  for (const [rawName, value] of ssl.confCommands) {
    const failed = (reason: string): never => {
      throw ConfigError.at(`SSL_CONF_cmd("${rawName}", "${value}") failed (${reason})`, where);
    };
    const name = OPENSSL_COMMANDS.find((c) => c.toLowerCase() === rawName.toLowerCase());
    if (name === undefined) failed('unknown cmd name');
    switch (name) {
      case 'Ciphersuites': {
        const suites = value.split(':').filter((s) => s !== '');
        if (suites.some((s) => !s.startsWith('TLS_'))) failed('bad value');
        if (suites.length > 0 && trial({ ciphers: `HIGH:${suites.join(':')}` }) !== null) failed('bad value');
        effects.suites = suites.join(':');
        break;
      }
      case 'CipherString':
        if (tls12Ciphers(value) === '' || trial({ ciphers: tls12Ciphers(value) }) !== null) failed('no cipher match');
        effects.cipherString = value;
        break;
      case 'Curves':
      case 'Groups':
        if (trial({ ecdhCurve: value }) !== null) failed('bad value');
        effects.curves = value;
        break;
      case 'SignatureAlgorithms':
        if (trial({ sigalgs: value }) !== null) failed('bad value');
        effects.sigalgs = value;
        break;
      case 'MinProtocol':
      case 'MaxProtocol': {
        const version = PROTOCOL_VALUES[value];
        if (version === undefined) failed('bad value');
        if (name === 'MinProtocol') {
          if (version === 'None') delete effects.minProtocol;
          else effects.minProtocol = version as NodeTlsVersion;
        } else if (version === 'None') delete effects.maxProtocol;
        else effects.maxProtocol = version as NodeTlsVersion;
        break;
      }
      case 'Options':
        for (const word of value.split(',').map((w) => w.trim()).filter((w) => w !== '')) {
          const negate = word.startsWith('-');
          const flag = (negate ? word.slice(1) : word).toLowerCase();
          const handler = OPTION_FLAGS[flag];
          const noop = OPTION_NOOPS[flag];
          if (!OPENSSL_OPTION_FLAGS.has(flag)) failed('bad value');
          if (handler) {
            (negate ? handler.off : handler.on)(effects);
          } else if (noop !== 'both' && noop !== (negate ? 'off' : 'on')) {
            throw ConfigError.at(`"ssl_conf_command Options ${word}" is not supported (Node.js has no equivalent)`, where);
          }
        }
        break;
      case 'DHParameters':
        effects.dhparam = loadDhparam(value, where, files);
        break;
      case 'Certificate':
        pendingCertificate = { file: value, ...loadCertificate(value, where, files) };
        break;
      case 'PrivateKey': {
        if (pendingCertificate === undefined) {
          throw ConfigError.at(`"ssl_conf_command PrivateKey" needs a "ssl_conf_command Certificate" before it`, where);
        }
        const { pem, key, passphrase } = loadKey(value, undefined, where, files);
        const { file: certFile, pem: certPem, certificate } = pendingCertificate;
        effects.pairs.push(makePair({ certFile, certPem, certificate }, { keyFile: value, keyPem: pem, key, passphrase }, where));
        pendingCertificate = undefined;
        break;
      }
      default:
        throw ConfigError.at(`"ssl_conf_command ${name}" is not supported (Node.js has no equivalent)`, where);
    }
  }
  if (pendingCertificate !== undefined) {
    throw ConfigError.at(`"ssl_conf_command Certificate" needs a "ssl_conf_command PrivateKey" after it`, where);
  }
  return effects;
}
