/**
 * Fuzzing the configuration reader: generated configuration texts (whole nginx.conf files,
 * `mail { }` blocks built from the directive table with plausible and implausible arguments,
 * includes of generated files, then byte edits and arbitrary text) through `parseConfigText`.
 * The only exception it may throw is a ConfigError; what it returns is a sane MailConfig, the
 * same when the text is read twice. See docs/testing.md ("Fuzzing").
 */
import fc from 'fast-check';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, directives, parseConfigText, type MailConfig } from '../../src/config/index.js';
import { NON_MAIL_MAIN_DIRECTIVES, OTHER_NGINX_DIRECTIVES } from '../../src/config/directives.js';
import { Counter, ProcessWatch, removeDir } from './harness.js';
import { BUDGET, describeSeed, PROFILE, runParameters, TEST_TIMEOUT_MS } from './profile.js';

/** Files the generated `include`s may name (made in beforeAll; `include` reads them). */
let dir = '';

const INCLUDE_FILES: Record<string, string> = {
  'ok.conf': 'timeout 5s;\n',
  'bad.conf': 'server {\n',
  'server.conf': 'server { listen 127.0.0.1:110; protocol pop3; }\n',
  'mail.conf': 'mail { auth_http 127.0.0.1:9000/auth; server { listen 127.0.0.1:143; protocol imap; } }\n',
  'quote.conf': '"unterminated\n',
  'binary.conf': '\u0000\u00ff{};\u0001',
};

// ---------------------------------------------------------------- generators

const words = (text: string) => text.split(/[\s|[\]{}.]+/).filter((w) => /^[a-z0-9=_:-]+$/i.test(w));

/** Every keyword, default and syntax word of the directive table: what the parser expects. */
const tableWords = [...new Set(directives.flatMap((d) => [...words(d.syntax), ...words(d.default ?? ''), ...(d.keywords ?? [])]))];

const VALUES = [
  // times, sizes, numbers
  '0', '1', '-1', '5s', '500ms', '1m 30s', '"2m 30s"', '10d', '1y', '99999999999d', '1h1m', 's', '1k', '4k', '1m', '1g', '16', '65535', '65536',
  '2147483648', '9007199254740993', '99999999999999999999', 'auto', 'on', 'off', 'ON', 'yes',
  // addresses and listen parameters
  '127.0.0.1:110', '127.0.0.1:143', '[::1]:993', '*:25', '110', '0.0.0.0:65535', '127.0.0.1:0', 'localhost:110', '[::1', '[fe80::1%lo]:1',
  'unix:/tmp/postern-fuzz.sock', '1.2.3.4:99999', 'ssl', 'backlog=10', 'backlog=-1', 'rcvbuf=1k', 'sndbuf=x', 'so_keepalive=on', 'so_keepalive=1s:2s:3',
  'so_keepalive=::', 'ipv6only=on', 'bind', 'proxy_protocol', 'reuseport', 'default_server',
  // auth_http targets, protocols, auth methods, ssl words
  'http://127.0.0.1:9000/auth', '127.0.0.1/auth', 'unix:/tmp/a.sock:/auth', 'https://127.0.0.1/', 'http://[::1]:80', 'http://', 'pop3', 'imap', 'smtp', 'http',
  'plain', 'apop', 'cram-md5', 'external', 'login', 'none', 'TLSv1.2', 'TLSv1.3', 'SSLv3', 'HIGH:!aNULL', 'shared:SSL:10m', 'builtin:1000', 'none', 'optional_no_ca',
  'starttls', 'only', 'stderr', 'syslog:server=1.2.3.4', 'debug', 'emerg', 'nobody', 'nogroup', 'root', 'no-such-user-zz',
  // paths, variables, odd words
  '/nonexistent/cert.pem', 'relative.pem', '$variable', '${x}', '"quoted value"', "'single'", '"a\\"b"', '"\\\\"', '""', '#comment', 'é', '\u{1F600}',
];

const value = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...VALUES) },
  { weight: 4, arbitrary: fc.constantFrom(...tableWords) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...'ab01:._-/=*'), maxLength: 10 }) },
);

const includeArg = (): fc.Arbitrary<string> =>
  fc.constantFrom('ok.conf', 'bad.conf', 'server.conf', 'mail.conf', 'quote.conf', 'binary.conf', 'self.conf', '*.conf', 'sub/*.conf', 'missing.conf', 'sub', '[', `${dir}/ok.conf`, '/nonexistent/x.conf');

const names = [...directives.map((d) => d.name)];
const otherNames = [...NON_MAIL_MAIN_DIRECTIVES.keys(), ...OTHER_NGINX_DIRECTIVES];

const directiveName = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...names) },
  { weight: 2, arbitrary: fc.constantFrom(...otherNames) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...'abz_-0'), minLength: 1, maxLength: 8 }) },
);

/** One statement; blocks recurse (`depth` bounds them). */
const statement = (depth: number): fc.Arbitrary<string> =>
  fc
    .tuple(
      directiveName,
      fc.array(value, { maxLength: 4 }),
      fc.oneof({ weight: 10, arbitrary: fc.constant(';') }, { weight: depth > 0 ? 2 : 0, arbitrary: fc.constant('{') }, { weight: 1, arbitrary: fc.constantFrom('', ' ;;', '}') }),
      depth > 0 ? fc.array(fc.constant(null).chain(() => statement(depth - 1)), { maxLength: 4 }) : fc.constant([] as string[]),
      fc.constantFrom(' ', '\n', '\n  ', '\t', ' # note\n', '\r\n'),
    )
    .chain(([name, args, end, inner, space]) =>
      name === 'include'
        ? includeArg().map((file) => `include ${file};${space}`)
        : fc.constant(end === '{' ? `${name} ${args.join(' ')} {${space}${inner.join('')}}${space}` : `${name} ${args.join(' ')}${end}${space}`),
    );

/** A `server { }` that is almost right: a listen, a protocol, then generated statements. */
const serverBlock = fc
  .tuple(
    fc.constantFrom('listen 127.0.0.1:110;', 'listen 127.0.0.1:993 ssl;', 'listen [::1]:25;', 'listen 143;', ''),
    fc.constantFrom('protocol pop3;', 'protocol imap;', 'protocol smtp;', ''),
    fc.array(statement(1), { maxLength: 6 }),
  )
  .map(([listen, protocol, rest]) => `  server {\n    ${listen}\n    ${protocol}\n    ${rest.join('    ')}\n  }\n`);

const mailBlock = fc
  .tuple(
    fc.constantFrom('auth_http 127.0.0.1:9000/auth;', 'auth_http unix:/tmp/a.sock:/auth;', ''),
    fc.array(statement(1), { maxLength: 8 }),
    fc.array(serverBlock, { maxLength: 3 }),
  )
  .map(([auth, statements, servers]) => `mail {\n  ${auth}\n  ${statements.join('  ')}\n${servers.join('')}}\n`);

/** A whole file: main-level statements, events, skipped blocks, the mail block. */
const wholeFile = fc
  .tuple(fc.array(statement(2), { maxLength: 4 }), fc.option(fc.array(statement(0), { maxLength: 3 }).map((s) => `events {\n${s.join('')}}\n`), { nil: '' }), mailBlock, fc.array(statement(2), { maxLength: 2 }))
  .map(([before, events, mail, after]) => `${before.join('')}${events}${mail}${after.join('')}`);

// ---- plausible statements: arguments shaped by each directive's syntax, so that many texts are
// accepted and the merge from mail to server, the listen table and the TLS settings are reached.

const TIME = ['0', '1s', '5s', '500ms', '2m', '1h', '"1m 30s"', '24h', '1d', '10'];
const SIZE = ['1k', '4k', '16', '64', '256', '1m', '8192'];
const NUMBER = ['0', '1', '2', '5', '16', '512', '1024'];
const FILES = ['ok.conf', '/nonexistent/cert.pem', 'cert.pem', 'keys/ticket.key'];
const pick = (values: readonly string[]): fc.Arbitrary<string> => fc.constantFrom(...values);
const some = (values: readonly string[]): fc.Arbitrary<string> => fc.subarray([...values], { minLength: 1 }).map((v) => v.join(' '));

const PLAUSIBLE: Record<string, fc.Arbitrary<string>> = {
  listen: fc
    .tuple(pick(['127.0.0.1:110', '127.0.0.1:143', '[::1]:993', '*:25', '110', '127.0.0.2:587', '0.0.0.0:995']), fc.subarray(['ssl', 'backlog=16', 'rcvbuf=64k', 'sndbuf=8k', 'bind', 'ipv6only=on', 'so_keepalive=on', 'so_keepalive=30s::10']))
    .map(([address, params]) => [address, ...params].join(' ')),
  protocol: pick(['pop3', 'imap', 'smtp']),
  auth_http: pick(['127.0.0.1:9000/auth', 'http://127.0.0.1/auth', 'unix:/run/auth.sock:/auth', 'http://[::1]:8080/', 'localhost:9000/x']),
  auth_http_header: pick(['X-Auth-Key secret', 'X-Empty ""', '"X A" b']),
  resolver: fc.subarray(['127.0.0.1', '[::1]:5353', '10.0.0.1:53', 'valid=30s', 'ipv4=on', 'ipv6=off']).map((a) => (a.length === 0 ? 'off' : a.join(' '))),
  error_log: fc.tuple(pick(['stderr', 'logs/error.log', '/tmp/postern-fuzz-never-written.log']), fc.option(pick(['debug', 'info', 'notice', 'warn', 'error', 'crit', 'alert', 'emerg']), { nil: '' })).map(([a, b]) => `${a} ${b}`),
  ssl_session_cache: pick(['off', 'none', 'builtin', 'builtin:1000', 'shared:SSL:10m', 'builtin:100 shared:A:1m', 'shared:B:1m']),
  ssl_protocols: some(['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3']),
  postern_proxy_ssl_protocols: some(['TLSv1.2', 'TLSv1.3']),
  pop3_auth: some(['plain', 'apop', 'cram-md5', 'external']),
  imap_auth: some(['plain', 'login', 'cram-md5', 'external']),
  smtp_auth: some(['plain', 'login', 'cram-md5', 'external', 'none']),
  pop3_capabilities: some(['TOP', 'USER', 'UIDL', '"SASL X"']),
  imap_capabilities: some(['IMAP4', 'IMAP4rev1', 'UIDPLUS', 'IDLE', 'LITERAL+']),
  smtp_capabilities: some(['PIPELINING', '8BITMIME', '"SIZE 10485760"', 'DSN']),
  postern_ssl_sni_certificate: pick(['mx.test cert.pem key.pem', '*.example.test a.pem b.pem']),
  ssl_conf_command: pick(['Options PrioritizeChaCha', 'Ciphersuites TLS_AES_128_GCM_SHA256']),
  ssl_ecdh_curve: pick(['auto', 'prime256v1', 'X25519:prime256v1']),
  ssl_ciphers: pick(['HIGH:!aNULL:!MD5', 'DEFAULT', 'ECDHE+AESGCM']),
  postern_proxy_ssl_ciphers: pick(['DEFAULT', 'HIGH']),
  user: pick(['nobody', 'nobody nogroup', 'root root']),
  worker_processes: pick(['1', '2', 'auto']),
  server_name: pick(['mx.test', 'localhost']),
  postern_proxy_ssl_name: pick(['backend.test']),
  debug_connection: pick(['127.0.0.1', '10.0.0.0/8', 'unix:']),
  set_real_ip_from: pick(['127.0.0.1', '10.0.0.0/8', 'unix:']),
  use: pick(['epoll']),
  postern_journal: pick(['off', 'journals']),
  postern_limit_conn_per_ip: pick(['off', '1', '10']),
};

function plausibleArgs(name: string): fc.Arbitrary<string> {
  const special = PLAUSIBLE[name];
  if (special !== undefined) return special;
  const spec = directives.find((d) => d.name === name)!;
  const syntax = spec.syntax.trim();
  if (syntax === 'time') return pick(TIME);
  if (syntax === 'size') return pick(SIZE);
  if (syntax === 'number') return pick(NUMBER);
  if (syntax === 'file' || syntax === 'directory | off') return pick(FILES);
  if (/^[a-z0-9_.]+( \| [a-z0-9_.]+)+$/i.test(syntax)) return pick(syntax.split(' | '));
  return value;
}

/** Up to `max` statements of a context, each directive once (a second one is mostly "is duplicate"). */
const plausibleStatements = (context: 'main' | 'events' | 'mail' | 'server', max: number): fc.Arbitrary<string> => {
  // `user` runs getent (a process) per parse as root: rare, from the main-level option below.
  const candidates = directives.filter((d) => d.contexts.includes(context) && !d.block && d.supported && !['include', 'user', 'listen', 'protocol'].includes(d.name)).map((d) => d.name);
  return fc
    .uniqueArray(fc.constantFrom(...candidates), { maxLength: max })
    .chain((names) => (names.length === 0 ? fc.constant([] as string[]) : fc.tuple(...names.map((name) => plausibleArgs(name).map((args) => `${name} ${args};`)))))
    .chain((statements) => fc.constantFrom('\n    ', ' ', '\n').map((space) => statements.map((st) => st + space).join('')));
};

const TLS_FILES = 'ssl_certificate cert.pem; ssl_certificate_key key.pem;';

const plausibleServer = (index: number): fc.Arbitrary<string> =>
  fc
    .tuple(
      fc.constantFrom(`127.0.0.1:${2000 + index}`, `[::1]:${2000 + index}`, `${2000 + index}`),
      fc.subarray(['ssl', 'backlog=16', 'rcvbuf=64k', 'bind', 'so_keepalive=on', 'so_keepalive=30s::10'], { maxLength: 2 }),
      fc.array(plausibleArgs('listen'), { maxLength: 1 }),
      plausibleArgs('protocol'),
      fc.constantFrom(TLS_FILES, TLS_FILES, ''),
      plausibleStatements('server', 6),
    )
    .map(
      ([address, params, more, protocol, tls, rest]) =>
        `  server {\n    listen ${[address, ...params].join(' ')};\n${more.map((l) => `    listen ${l};\n`).join('')}    protocol ${protocol};\n    ${tls}\n    ${rest}\n  }\n`,
    );

const plausibleFile = fc
  .tuple(
    plausibleStatements('main', 3),
    fc.oneof({ weight: 30, arbitrary: fc.constant('') }, { weight: 1, arbitrary: plausibleArgs('user').map((u) => `user ${u};\n`) }),
    fc.option(plausibleStatements('events', 3).map((s) => `events {\n  ${s}}\n`), { nil: '' }),
    plausibleArgs('auth_http'),
    fc.constantFrom(TLS_FILES, ''),
    plausibleStatements('mail', 6),
    fc.integer({ min: 1, max: 3 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => plausibleServer(i)))),
  )
  .map(([main, user, events, auth, tls, mail, servers]) => `${main}${user}${events}mail {\n  auth_http ${auth};\n  ${tls}\n  ${mail}\n${servers.join('')}}\n`);

/** Byte edits that matter to the lexer: quotes, braces, semicolons, escapes, comments, line ends. */
const edits = (text: fc.Arbitrary<string>): fc.Arbitrary<string> => {
  const edit = fc.tuple(
    fc.constantFrom('insert', 'delete', 'replace', 'duplicate'),
    fc.nat(),
    fc.nat({ max: 8 }),
    fc.oneof(fc.constantFrom(';', '{', '}', '"', "'", '\\', '#', '$', '\n', '\r', '\t', ' ', '\0', '\u00ff', '\u{1F600}', '\ud800'), fc.string({ maxLength: 4 })),
  );
  return fc.tuple(text, fc.array(edit, { minLength: 1, maxLength: 4 })).map(([t, list]) => {
    let out = t;
    for (const [kind, at, length, bytes] of list) {
      const p = out.length === 0 ? 0 : at % (out.length + 1);
      if (kind === 'insert') out = out.slice(0, p) + bytes + out.slice(p);
      else if (kind === 'delete') out = out.slice(0, p) + out.slice(p + length);
      else if (kind === 'replace') out = out.slice(0, p) + bytes + out.slice(p + bytes.length);
      else out = out.slice(0, p) + out.slice(p, p + length) + out.slice(p);
    }
    return out;
  });
};

const configText = fc.oneof(
  { weight: 5, arbitrary: plausibleFile },
  { weight: 3, arbitrary: wholeFile },
  { weight: 2, arbitrary: mailBlock },
  { weight: 4, arbitrary: edits(fc.oneof(plausibleFile, wholeFile, mailBlock)) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...'ab ;{}"\'\\#$\n\r\tmailservr'), maxLength: 80 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b).toString('latin1')) },
);

// ---------------------------------------------------------------- the property

function sane(config: MailConfig): string | null {
  for (const server of config.servers) {
    if (server.listens.length === 0) return 'a server without listen';
    if (!['pop3', 'imap', 'smtp'].includes(server.protocol)) return `protocol ${String(server.protocol)}`;
    for (const [name, v] of Object.entries({ timeout: server.timeoutMs, proxyTimeout: server.proxyTimeoutMs, authHttpTimeout: server.authHttpTimeoutMs, proxyBuffer: server.proxyBufferSize, maxErrors: server.maxErrors })) {
      if (typeof v !== 'number' || Number.isNaN(v) || v < 0) return `${name} is ${String(v)}`;
    }
    for (const listen of server.listens) if (!Number.isInteger(listen.port) || listen.port < 0 || listen.port > 65535) return `listen port ${listen.port}`;
  }
  if (!Number.isInteger(config.workerConnections) || config.workerConnections < 1) return `worker_connections ${config.workerConnections}`;
  return null;
}

describe(`fuzzing the configuration reader (${PROFILE} profile)`, () => {
  const watch = new ProcessWatch();
  const counter = new Counter();
  let accepted = 0;
  const reasons = new Map<string, number>();

  beforeAll(() => {
    watch.install();
    dir = mkdtempSync(join(tmpdir(), 'postern-fuzz-config-'));
    for (const [name, text] of Object.entries(INCLUDE_FILES)) writeFileSync(join(dir, name), text, 'latin1');
    writeFileSync(join(dir, 'self.conf'), `include ${join(dir, 'self.conf')};\n`);
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'a.conf'), 'include ../ok.conf;\n');
    console.log(describeSeed('test/fuzz/config.test.ts'));
  });
  afterAll(() => {
    watch.dispose();
    removeDir(dir);
  });

  it(
    'parseConfigText: a sane MailConfig or a ConfigError, nothing else',
    () => {
      const started = performance.now();
      fc.assert(
        fc.property(configText, (text) => {
          counter.inputs++;
          counter.bytes += text.length;
          let config: MailConfig;
          try {
            config = parseConfigText(text, join(dir, 'fuzz.conf'), { baseDir: dir });
          } catch (error) {
            if (!(error instanceof ConfigError)) throw new Error(`not a ConfigError: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
            if (typeof error.line !== 'number' || error.message === '') throw new Error(`ConfigError without line or message: ${JSON.stringify(error)}`);
            const reason = error.reason.replace(/"[^"]*"/g, '"…"').replace(/\d+/g, 'N');
            reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
            return;
          }
          accepted++;
          const problem = sane(config);
          if (problem !== null) throw new Error(`accepted configuration is not sane: ${problem}`);
          expect(JSON.stringify(parseConfigText(text, join(dir, 'fuzz.conf'), { baseDir: dir }))).toBe(JSON.stringify(config));
        }),
        runParameters(BUDGET.configTexts),
      );
      counter.cases = counter.inputs;
      counter.ms = performance.now() - started;
      expect(watch.take()).toEqual([]);
      console.log(`[fuzz] config ${counter.line('configuration texts')}; ${accepted} accepted, ${reasons.size} distinct errors`);
      if (process.env.POSTERN_FUZZ_DEBUG) console.log([...reasons].sort((a, b) => b[1] - a[1]).slice(0, 25));
      expect(counter.inputs).toBeGreaterThanOrEqual(BUDGET.minConfigTexts);
    },
    TEST_TIMEOUT_MS,
  );
});
