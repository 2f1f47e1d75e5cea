/**
 * The fuzzing properties of one protocol, run through the real server in this process
 * (`startProxy` on 127.0.0.1 port 0): client input, auth_http answers, backend replies.
 *
 * Every case starts its own proxy and fakes, runs its connections at once, and then requires:
 * no uncaught exception or unhandled rejection, no alert from Postern (its containment's
 * "internal error in this connection"), nothing wrong in what Postern sent to the auth service or
 * the backend, every connection closed by the server within a bound (timeouts included) after a
 * reply, every session gone and every `worker_connections` slot back, and, once the proxy and the
 * fakes are closed, no socket, timer, server or process listener more than before the case.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { sieveOutputProblem } from '../../src/conformance/sieve-grammar.js';
import type { MailConfig } from '../../src/config/types.js';
import type { FuzzedProtocol as Protocol } from './profile.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import type { AuthService } from '../../src/session/session.js';
import {
  authHttpPlan,
  BACKEND_PORT,
  backendScript,
  loginFor,
  outcomeSpec,
  QUIT,
  REFUSED_PORT,
  segmentFor,
  STARTTLS,
} from './arbitraries.js';
import {
  alertLogger,
  Counter,
  cut,
  leaksAfter,
  makeCertificate,
  ProcessWatch,
  removeDir,
  resources,
  runConnection,
  sleep,
  type ConnectionOutcome,
  type ConnectionPlan,
  type Pace,
  type Transport,
} from './harness.js';
import { BUDGET, describeSeed, PROFILE, runParameters, TEST_TIMEOUT_MS } from './profile.js';
import { DEAD_PORT, FakeAuthHttp, FakeBackend, markerIn, ScriptedAuth, type AuthHttpPlan } from './services.js';

// ---------------------------------------------------------------- server settings

const METHODS: Record<Protocol, string[]> = {
  pop3: ['plain', 'apop', 'cram-md5', 'external'],
  imap: ['plain', 'login', 'cram-md5', 'external'],
  smtp: ['plain', 'login', 'cram-md5', 'external', 'none'],
  sieve: ['plain', 'login', 'cram-md5', 'external'],
};

/** The protocol's own directives: nginx's `<protocol>_*`, and ManageSieve's `postern_sieve_*` extensions. */
const directive = (protocol: Protocol, name: 'auth' | 'client_buffer' | 'capabilities'): string =>
  protocol === 'sieve' ? `postern_sieve_${name}` : `${protocol}_${name}`;

const CAPABILITIES: Record<Protocol, string> = { pop3: 'TOP USER "SASL X"', imap: 'IMAP4rev1 ID "X Y"', smtp: 'PIPELINING 8BITMIME "SIZE 10"', sieve: 'fileinto enotify vacation' };

interface Settings {
  methods: string[];
  starttls: 'off' | 'on' | 'only';
  tlsListener: boolean;
  maxErrors: number | null;
  clientBuffer: number | null;
  proxyBuffer: number | null;
  passError: boolean;
  xclient: boolean;
  proxySmtpAuth: boolean;
  greetingDelay: boolean;
  capabilities: boolean;
  /** `postern_limit_conn_per_ip`: connections over it get the internal-error line. */
  limitPerIp: number | null;
  /** `worker_connections`: small, clients, auth requests and upstreams run out of slots. */
  workerConnections: number | null;
  /** `proxy.reload()` with the same configuration this long after the clients started (live sessions keep theirs). */
  reloadAfterMs: number | null;
}

const settings = (protocol: Protocol, allMethods: boolean): fc.Arbitrary<Settings> =>
  fc.record({
    methods: allMethods ? fc.constant(METHODS[protocol].filter((m) => m !== 'external')) : fc.subarray(METHODS[protocol], { minLength: 1 }),
    starttls: fc.constantFrom<Settings['starttls']>('off', 'off', 'on', 'on', 'only'),
    tlsListener: fc.boolean(),
    maxErrors: fc.constantFrom(null, null, 1, 2, 5),
    clientBuffer: fc.constantFrom(null, null, 24, 64, 200, 1024),
    proxyBuffer: fc.constantFrom(null, null, 16, 64, 256),
    passError: fc.boolean(),
    xclient: fc.boolean(),
    proxySmtpAuth: fc.boolean(),
    greetingDelay: fc.constantFrom(false, false, false, true),
    capabilities: fc.boolean(),
    limitPerIp: fc.constantFrom(null, null, null, null, null, 1, 3),
    workerConnections: fc.constantFrom(null, null, null, null, null, null, null, 4, 6, 9),
    reloadAfterMs: fc.constantFrom(null, null, null, null, null, 0, 3, 20),
  });

interface Timeouts {
  timeout: string;
  authHttpTimeout: string;
  proxyTimeout: string;
}

/** The case's `mail { }` block, read by the real parser; its listens are then moved to port 0. */
function configFor(protocol: Protocol, s: Settings, timeouts: Timeouts, authPort: number, cert: { certificate: string; key: string }): MailConfig {
  const tls = s.tlsListener || s.starttls !== 'off';
  const lines = [
    'listen 127.0.0.1:1;',
    s.tlsListener ? 'listen 127.0.0.1:2 ssl;' : '',
    `protocol ${protocol};`,
    `${directive(protocol, 'auth')} ${s.methods.join(' ')};`,
    `starttls ${s.starttls};`,
    tls ? `ssl_certificate ${cert.certificate}; ssl_certificate_key ${cert.key};` : '',
    s.maxErrors === null ? '' : `max_errors ${s.maxErrors};`,
    s.clientBuffer === null || protocol === 'pop3' ? '' : `${directive(protocol, 'client_buffer')} ${s.clientBuffer};`,
    s.proxyBuffer === null ? '' : `proxy_buffer ${s.proxyBuffer};`,
    s.passError ? 'proxy_pass_error_message on;' : '',
    protocol === 'smtp' && !s.xclient ? 'xclient off;' : '',
    protocol === 'smtp' && s.proxySmtpAuth ? 'proxy_smtp_auth on;' : '',
    protocol === 'smtp' && s.greetingDelay ? 'smtp_greeting_delay 10ms;' : '',
    s.limitPerIp === null ? '' : `postern_limit_conn_per_ip ${s.limitPerIp};`,
    s.capabilities ? `${directive(protocol, 'capabilities')} ${CAPABILITIES[protocol]};` : '',
  ];
  const text = `${s.workerConnections === null ? '' : `events { worker_connections ${s.workerConnections}; }`}
  mail {
    auth_http 127.0.0.1:${authPort}/auth;
    server_name fuzz.test;
    timeout ${timeouts.timeout}; auth_http_timeout ${timeouts.authHttpTimeout}; proxy_timeout ${timeouts.proxyTimeout};
    server { ${lines.filter((l) => l !== '').join(' ')} }
  }`;
  const config = parseConfigText(text, '/fuzz/postern.conf', { baseDir: '/' });
  for (const server of config.servers) server.listens = server.listens.map((listen) => ({ ...listen, port: 0, text: `${listen.host}:0` }));
  return config;
}

// ---------------------------------------------------------------- connections

interface ConnectionArb {
  transport: Transport;
  segments: string[];
  cuts: number[];
  pacing: Pace[];
}

const transport = fc.oneof(
  { weight: 10, arbitrary: fc.constant<Transport>('plain') },
  { weight: 1, arbitrary: fc.constantFrom<Transport>('tls', 'starttls') },
);
const cuts = fc.array(fc.nat(), { maxLength: 12 });
const pacing = fc.array(fc.constantFrom<Pace>(0, 0, 0, 1, 1, 2, 3), { maxLength: 13 });

interface Plan extends ConnectionPlan {
  /** Offsets where the generated command sequences end, to count those actually sent. */
  segmentEnds: number[];
  /** Check the replies' grammar (client-input fuzzing, no STARTTLS handed plaintext). */
  grammar: boolean;
}

function planFor(protocol: Protocol, c: ConnectionArb, s: Settings, grammar: boolean): Plan {
  const input = Buffer.from(c.segments.join(''), 'latin1');
  let at = 0;
  const segmentEnds = c.segments.map((segment) => (at += segment.length));
  const mode: Transport = c.transport === 'tls' && !s.tlsListener ? 'plain' : c.transport === 'starttls' && s.starttls === 'off' ? 'plain' : c.transport;
  return {
    transport: mode,
    chunks: cut(input, c.cuts),
    pacing: c.pacing,
    quit: QUIT[protocol],
    ...(mode === 'starttls' ? { starttls: STARTTLS[protocol] } : {}),
    segmentEnds,
    // A STARTTLS inside the plaintext input turns what follows into a TLS handshake (and alerts).
    grammar: grammar && !(mode === 'plain' && /STARTTLS|STLS/i.test(input.toString('latin1'))),
  };
}

/** Segments whose last byte was written before the server closed. */
function segmentsSent(plan: Plan, outcome: ConnectionOutcome): number {
  let bytes = 0;
  for (let i = 0; i < outcome.chunksSent; i++) bytes += plan.chunks[i]!.length;
  return plan.segmentEnds.filter((end) => end <= bytes).length;
}

// ---------------------------------------------------------------- reply grammar

/** Complete CRLF lines of the protocol's reply forms (nginx's, and the fake backends' once relayed). */
export function grammarProblem(protocol: Protocol, output: string): string | null {
  if (output === '') return null;
  // ManageSieve's strings may be literals holding CR LF: read by its own grammar (RFC 5804 §4).
  if (protocol === 'sieve') return sieveOutputProblem(output);
  if (!output.endsWith('\r\n')) return `does not end with CRLF: ...${JSON.stringify(output.slice(-80))}`;
  let multiline = false;
  for (const line of output.slice(0, -2).split('\r\n')) {
    if (/[\r\n]/.test(line)) return `bare CR or LF in reply line ${JSON.stringify(line)}`;
    let ok: boolean;
    if (protocol === 'pop3') {
      if (multiline) {
        if (line === '.') multiline = false;
        continue;
      }
      multiline = line === '+OK Capability list follows' || line === '+OK methods supported:';
      ok = /^(\+OK|-ERR)( |$)/.test(line) || line.startsWith('+ ');
    } else if (protocol === 'imap') {
      ok = /^(\* |\+ |BAD )/.test(line) || /^[^ ]* (OK|NO|BAD)( |$)/.test(line);
    } else {
      ok = /^\d{3}([ -]|$)/.test(line);
    }
    if (!ok) return `reply line ${JSON.stringify(line)}`;
  }
  return multiline ? 'unterminated multi-line reply' : null;
}

// ---------------------------------------------------------------- one case

/** POSTERN_FUZZ_DEBUG=1: print slow connections (timeouts) and slow cases phase by phase. */
const DEBUG = Boolean(process.env.POSTERN_FUZZ_DEBUG);

interface CaseSetup {
  config: MailConfig;
  settings: Settings;
  authFor?: () => AuthService;
  plans: Plan[];
  endWithinMs: number;
  /**
   * `close()` ends every connection now: taking most of `timeout` means it waited for one to
   * time out (what a connection refused by postern_limit_conn_per_ip did).
   */
  closeWithinMs?: number;
  /** Fakes whose faults count and which close after the proxy. */
  services: Array<{ faults: string[]; close(): void | Promise<void> }>;
}

const excerpt = (bytes: Buffer): string => {
  const text = bytes.toString('latin1');
  return JSON.stringify(text.length <= 600 ? text : `${text.slice(0, 300)} ... ${text.slice(-300)}`);
};

async function waitFor(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await sleep(5);
  return condition();
}

/**
 * Runs one case and throws (for fast-check to shrink) with everything that went wrong.
 * `setup` starts the fakes and builds the configuration; it is called after the baseline.
 */
async function runCase(protocol: Protocol, watch: ProcessWatch, counter: Counter, setup: () => Promise<CaseSetup>): Promise<{ outcomes: ConnectionOutcome[]; plans: Plan[] }> {
  const started = performance.now();
  const before = resources();
  const log = alertLogger();
  const problems: string[] = [];
  const marks: Array<[string, number]> = [['begin', started]];
  let proxy: RunningProxy | undefined;
  let built: CaseSetup | undefined;
  let outcomes: ConnectionOutcome[] = [];
  try {
    built = await setup();
    marks.push(['setup', performance.now()]);
    const setupDone = built;
    proxy = await startProxy(built.config, { logger: log.logger, ...(built.authFor ? { authFor: built.authFor } : {}) });
    const running = proxy;
    const plain = running.listeners.find((l) => !l.listen.ssl)!.port;
    const secure = running.listeners.find((l) => l.listen.ssl)?.port;
    marks.push(['start', performance.now()]);
    const { reloadAfterMs } = setupDone.settings;
    // A reload with the same configuration while the clients talk: listeners stay, what they serve is swapped.
    const reloading = reloadAfterMs === null ? Promise.resolve() : sleep(reloadAfterMs).then(() => running.reload(setupDone.config));
    outcomes = await Promise.all(setupDone.plans.map((plan) => runConnection(plain, secure, plan, setupDone.endWithinMs)));
    await reloading;
    marks.push(['connections', performance.now()]);
    outcomes.forEach((outcome, i) => {
      const plan = setupDone.plans[i]!;
      if (DEBUG && outcome.durationMs > 150) {
        console.log(`[fuzz] slow connection (${Math.round(outcome.durationMs)} ms): sent ${excerpt(Buffer.concat(plan.chunks))}, got ${excerpt(outcome.output)}`);
      }
      const where = `connection ${i} (${plan.transport}${outcome.upgraded ? ', upgraded' : ''})`;
      if (!outcome.ended) problems.push(`${where}: not closed by the server within ${setupDone.endWithinMs} ms; it sent ${excerpt(outcome.output)}`);
      // A reset can cost the client what the kernel still held for it (see ConnectionOutcome.reset).
      // Over worker_connections nginx closes a new connection at once, without a byte.
      if (outcome.output.length === 0 && !outcome.reset && setupDone.settings.workerConnections === null) problems.push(`${where}: closed without a reply`);
      else if (plan.grammar) {
        const text = outcome.output.toString('latin1');
        const problem = grammarProblem(protocol, outcome.reset ? text.slice(0, text.lastIndexOf('\r\n') + 2) : text);
        if (problem !== null) problems.push(`${where}: ${problem}; it sent ${excerpt(outcome.output)}`);
      }
    });
    const listeners = running.listeners.length;
    if (!(await waitFor(() => running.sessions === 0 && running.connectionsInUse === listeners, 3_000))) {
      problems.push(`after every client left: ${running.sessions} sessions open, ${running.connectionsInUse} worker_connections in use (listeners: ${listeners})`);
    }
    marks.push(['sessions end', performance.now()]);
  } catch (error) {
    problems.push(`case failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  } finally {
    const closing = performance.now();
    await proxy?.close();
    const closeMs = performance.now() - closing;
    if (built?.closeWithinMs !== undefined && closeMs > built.closeWithinMs) problems.push(`proxy.close() took ${Math.round(closeMs)} ms: it waited for a connection`);
    for (const service of built?.services ?? []) await service.close();
    marks.push(['close', performance.now()]);
  }
  for (const service of built?.services ?? []) for (const fault of service.faults) problems.push(`what Postern sent: ${fault}`);
  // Running out of worker_connections is nginx's alert too; any other alert is a fault of Postern's.
  for (const alert of log.alerts) if (!/worker_connections are not enough/.test(alert)) problems.push(`alert from Postern: ${alert}`);
  const leaks = await leaksAfter(before, 3_000);
  if (leaks.length > 0) problems.push(`leaked after the case: ${leaks.join(', ')}`);
  for (const fault of watch.take()) problems.push(fault);
  marks.push(['resources back', performance.now()]);
  if (DEBUG && performance.now() - started > 250) {
    console.log(`[fuzz] slow case: ${marks.slice(1).map(([what, t], i) => `${what} ${Math.round(t - marks[i]![1])} ms`).join(', ')}; ${JSON.stringify(built?.settings)}`);
  }
  counter.cases++;
  counter.connections += outcomes.length;
  counter.bytes += built?.plans.reduce((n, plan) => n + plan.chunks.reduce((m, c) => m + c.length, 0), 0) ?? 0;
  counter.ms += performance.now() - started;
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return { outcomes, plans: built?.plans ?? [] };
}

// ---------------------------------------------------------------- the properties

const COMMAND_TIMEOUTS: Timeouts = { timeout: '1s', authHttpTimeout: '1s', proxyTimeout: '1s' };
const AUTH_HTTP_TIMEOUTS: Timeouts = { timeout: '1s', authHttpTimeout: '200ms', proxyTimeout: '1s' };
const BACKEND_TIMEOUTS: Timeouts = { timeout: '300ms', authHttpTimeout: '1s', proxyTimeout: '300ms' };

/** A login form for connection `index`, some more input, and the way it is sent. */
const loginConnection = (protocol: Protocol, index: number, maxLogins: number) =>
  fc.record({
    transport,
    logins: fc.array(loginFor(protocol, index), { minLength: 1, maxLength: maxLogins }),
    more: fc.array(segmentFor(protocol), { maxLength: 2 }),
    cuts,
    pacing,
  });

const perConnection = <T>(make: (index: number) => fc.Arbitrary<T>): fc.Arbitrary<T[]> =>
  fc.integer({ min: 1, max: 8 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => make(i))));

export function fuzzProtocol(protocol: Protocol, file: string): void {
  describe(`fuzzing ${protocol} through the real server (${PROFILE} profile)`, () => {
    const watch = new ProcessWatch();
    let cert: ReturnType<typeof makeCertificate>;
    const counters = { commands: new Counter(), authHttp: new Counter(), backend: new Counter() };
    const budget = BUDGET.protocol;

    beforeAll(() => {
      watch.install();
      cert = makeCertificate();
      console.log(describeSeed(file));
    });
    afterAll(() => {
      watch.dispose();
      removeDir(cert.dir);
    });

    it(
      'client input: command sequences, SASL exchanges, literals, bytes, line splits',
      async () => {
        const caseArb = fc.record({
          settings: settings(protocol, false),
          outcomes: fc.array(outcomeSpec, { minLength: 1, maxLength: 4 }),
          authDelay: fc.constantFrom(0, 0, 1, 3),
          connections: fc.array(
            fc.record({ transport, segments: fc.array(segmentFor(protocol), { minLength: 1, maxLength: 10 }), cuts, pacing }),
            { minLength: 1, maxLength: 6 },
          ),
        });
        await fc.assert(
          fc.asyncProperty(caseArb, async (c) => {
            let counted: { auth: ScriptedAuth; backend: FakeBackend } | undefined;
            const { outcomes, plans } = await runCase(protocol, watch, counters.commands, async () => {
              const backend = await new FakeBackend(protocol, undefined, { credentials: true, xclient: c.settings.xclient }).start();
              const refused = DEAD_PORT;
              const auth = new ScriptedAuth({
                protocol,
                outcomes: c.outcomes,
                backendPort: () => backend.port,
                refusedPort: refused,
                delayMs: c.authDelay,
                proxySmtpAuth: c.settings.proxySmtpAuth,
              });
              counted = { auth, backend };
              return {
                config: configFor(protocol, c.settings, COMMAND_TIMEOUTS, 9, cert),
                settings: c.settings,
                authFor: () => auth,
                plans: c.connections.map((conn) => planFor(protocol, conn, c.settings, true)),
                endWithinMs: 5_000,
                closeWithinMs: 800,
                services: [backend, auth],
              };
            });
            counters.commands.inputs += outcomes.reduce((n, outcome, i) => n + segmentsSent(plans[i]!, outcome), 0);
            counters.commands.note('STARTTLS upgrades', outcomes.filter((o) => o.upgraded).length);
            counters.commands.note('auth requests', counted?.auth.requests ?? 0);
            counters.commands.note('backend logins', counted?.backend.logins ?? 0);
          }),
          runParameters(budget.commands),
        );
        console.log(`[fuzz] ${protocol} ${counters.commands.line('client input')}`);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'auth_http answers: statuses, headers, garbage, splits, resets, silence (real AuthHttpClient)',
      async () => {
        const caseArb = fc.record({
          settings: settings(protocol, true),
          connections: perConnection((i) => fc.tuple(loginConnection(protocol, i, 3), fc.array(authHttpPlan, { minLength: 1, maxLength: 4 }))),
        });
        await fc.assert(
          fc.asyncProperty(caseArb, async (c) => {
            let served = 0;
            let backend: FakeBackend | undefined;
            await runCase(protocol, watch, counters.authHttp, async () => {
              backend = await new FakeBackend(protocol).start();
              const refused = DEAD_PORT;
              const port = backend.port;
              const ports = (text: string) => text.replaceAll(BACKEND_PORT, String(port)).replaceAll(REFUSED_PORT, String(refused));
              const authHttp = await new FakeAuthHttp((index, nth): AuthHttpPlan => {
                const answer = index === undefined ? undefined : c.connections[index]?.[1][nth];
                if (answer === undefined) return { delayMs: 0, bytes: Buffer.from('HTTP/1.0 200 OK\r\nAuth-Status: enough\r\n\r\n'), cuts: [], paceMs: 0, then: 'close' };
                served++;
                return { ...answer, bytes: Buffer.from(ports(answer.text), 'latin1') };
              }).start();
              return {
                config: configFor(protocol, c.settings, AUTH_HTTP_TIMEOUTS, authHttp.port, cert),
                settings: c.settings,
                plans: c.connections.map(([conn]) =>
                  planFor(protocol, { transport: conn.transport, segments: [...conn.logins, ...conn.more], cuts: conn.cuts, pacing: conn.pacing }, c.settings, false),
                ),
                endWithinMs: 10_000,
                closeWithinMs: 800,
                services: [backend!, authHttp],
              };
            });
            counters.authHttp.inputs += served;
            counters.authHttp.note('backend connections', backend?.connections ?? 0);
          }),
          runParameters(budget.authHttp),
        );
        console.log(`[fuzz] ${protocol} ${counters.authHttp.line('auth_http answers')}`);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'backend greetings and replies during the backend login',
      async () => {
        const caseArb = fc.record({
          settings: settings(protocol, true),
          connections: perConnection((i) => fc.tuple(loginConnection(protocol, i, 2), backendScript(protocol))),
        });
        await fc.assert(
          fc.asyncProperty(caseArb, async (c) => {
            let backends: FakeBackend[] = [];
            await runCase(protocol, watch, counters.backend, async () => {
              backends = await Promise.all(c.connections.map(([, script]) => new FakeBackend(protocol, script).start()));
              const refused = DEAD_PORT;
              const auth = new ScriptedAuth({
                protocol,
                outcomes: [{ kind: 'ok' }],
                backendPort: (request) => backends[markerIn(request.user) ?? markerIn(request.smtp?.from ?? '') ?? -1]?.port ?? refused,
                refusedPort: refused,
                delayMs: 0,
                proxySmtpAuth: c.settings.proxySmtpAuth,
              });
              return {
                config: configFor(protocol, c.settings, BACKEND_TIMEOUTS, 9, cert),
                settings: c.settings,
                authFor: () => auth,
                plans: c.connections.map(([conn]) =>
                  planFor(protocol, { transport: conn.transport, segments: [...conn.logins, ...conn.more], cuts: conn.cuts, pacing: conn.pacing }, c.settings, false),
                ),
                endWithinMs: 5_000,
                services: [...backends, auth],
              };
            });
            // Generated greetings and replies the backends actually sent (or closed, reset, went silent with).
            counters.backend.inputs += backends.reduce((n, backend) => n + backend.generated, 0);
            counters.backend.note('backend connections', backends.reduce((n, backend) => n + backend.connections, 0));
          }),
          runParameters(budget.backend),
        );
        console.log(`[fuzz] ${protocol} ${counters.backend.line('backend replies')}`);
      },
      TEST_TIMEOUT_MS,
    );

    it(`inputs generated (${PROFILE} profile${budget.minInputs > 0 ? `: at least ${budget.minInputs}` : ''}), no fault after the last case`, () => {
      expect(watch.take()).toEqual([]);
      const total = counters.commands.inputs + counters.authHttp.inputs + counters.backend.inputs;
      const ms = counters.commands.ms + counters.authHttp.ms + counters.backend.ms;
      console.log(
        [
          `[fuzz] ${protocol}: ${total} generated inputs in ${(ms / 1000).toFixed(1)} s (seed ${describeSeed(file).match(/seed (\d+)/)?.[1]})`,
          `  ${counters.commands.line('client input')}`,
          `  ${counters.authHttp.line('auth_http answers')}`,
          `  ${counters.backend.line('backend replies')}`,
        ].join('\n'),
      );
      expect(total).toBeGreaterThanOrEqual(budget.minInputs);
    });
  });
}
