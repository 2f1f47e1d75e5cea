/**
 * Model-based tests: every path planned from the statechart (test/model/plan.ts) is driven as
 * real client bytes through a real socket against Postern (startProxy with a scripted auth
 * service and fake backends). Two checks per path: the connection's journal must show exactly the
 * path's states, and the bytes the client receives must be exactly what the oracle
 * (test/model/oracle.ts, written from nginx's handlers and transcripts, not from the machine)
 * says that sequence of client lines, TLS steps, auth answers, backend behaviours and timers
 * produces. The first check follows the machine; the second can disagree with it.
 */
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthOutcome, AuthRequest } from '../../machines/types.js';
import type { MailConfig, ServerConfig } from '../../src/config/types.js';
import type { JournalEntry } from '../../src/journal/journal.js';
import { memoryJournal } from '../../src/journal/record.js';
import { silentLogger } from '../../src/log.js';
import { Secret } from '../../src/secret.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import { fakeBackend, serverConfig, testCertificate } from '../integration/fixtures.js';
import { actionKey, AUTH_METHODS, eventKey, isGreetingDelay, isTimer, MAX_ERRORS, pathStates, type ModelConfig, type Path } from './model.js';
import { matches, Oracle, OracleError, render, type OracleServer } from './oracle.js';
import { allStateIds, planPaths, type Plan, type PlannedPath } from './plan.js';

/**
 * What the POP3/IMAP/SMTP/ManageSieve paths cannot reach, each for a reason; the test fails if anything else is
 * left uncovered (a new state or transition must be reachable from a real socket, or listed here).
 */
const NOT_DRIVEN_STATES: Record<string, string> = {};
const NOT_DRIVEN_TRANSITIONS: Array<[RegExp, string]> = [
  [
    /^connection\.preauth\.dialogue\.(?:greeting|handshake) --cmd\.\*-->/,
    'nothing is read before the greeting or during the STARTTLS handshake: the runtime has no command to send there',
  ],
  [/^connection\.relaying --client\.closed/, 'the runtime reports a client hang-up while relaying as relay.ended'],
  [
    /--tls\.established \[clientCert(Rejected|Missing)\]/,
    'the model runs without ssl_verify_client; refused client certificates are driven in test/e2e/client-cert.test.ts and test/machines/client-cert.test.ts',
  ],
];

const FAST_TIMEOUT = 450;

type Backend = { port: number; close(): Promise<void> };

/**
 * A fake SMTP backend for what Postern sends in its login dialogue (src/proxy/backend-login.ts
 * `smtpSteps`): 220 greeting, 250 to EHLO/HELO, 220 to XCLIENT, 250 to MAIL and RCPT, 221 to
 * QUIT (then it hangs up). With `reject`, it greets with 554, which fails the login.
 */
async function fakeSmtpBackend(reject = false): Promise<Backend> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (reject) {
      socket.write('554 5.3.2 fake smtp server refuses service\r\n');
      return;
    }
    socket.write('220 fake smtp server ready\r\n');
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      for (let end = buffer.indexOf('\r\n'); end >= 0; end = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const verb = line.split(' ')[0]!.toUpperCase();
        if (verb === 'QUIT') {
          socket.end('221 2.0.0 bye\r\n');
          return;
        }
        socket.write(verb === 'XCLIENT' ? '220 fake smtp server ready\r\n' : verb === 'MAIL' || verb === 'RCPT' ? '250 2.1.0 Ok\r\n' : '250 fake\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A fake ManageSieve backend for Postern's login (src/protocols/sieve/backend-login.ts): its
 * capabilities and `OK`, then `OK "Logged in."` to `AUTHENTICATE "PLAIN"` with the right
 * password (`NO "Authentication failed."` otherwise), and `OK "Logout completed."` to LOGOUT
 * (then it hangs up).
 */
async function fakeSieveBackend(): Promise<Backend> {
  const sockets = new Set<net.Socket>();
  const good = `"${Buffer.from('\0test@example.com\0secret', 'latin1').toString('base64')}"`;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.write('"IMPLEMENTATION" "fake sieve"\r\n"SASL" "PLAIN"\r\n"VERSION" "1.0"\r\nOK "fake sieve ready."\r\n');
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      for (let end = buffer.indexOf('\r\n'); end >= 0; end = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (/^LOGOUT$/i.test(line)) {
          socket.end('OK "Logout completed."\r\n');
          return;
        }
        if (/^AUTHENTICATE "PLAIN" /i.test(line)) socket.write(line.endsWith(` ${good}`) ? 'OK "Logged in."\r\n' : 'NO "Authentication failed."\r\n');
        else socket.write('NO "unexpected"\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Fixtures {
  backends: { pop3: Backend; imap: Backend; smtp: Backend; sieve: Backend };
  /** An SMTP backend whose greeting is 554 (POP3/IMAP fail with a wrong password instead). */
  smtpRejecting: Backend;
  silent: net.Server;
  silentPort: number;
  deadPort: number;
}

/** Per configuration: two proxies (normal and short timeouts) sharing a scripted auth service. */
class Runner {
  journals: ReturnType<typeof memoryJournal>[] = [];
  /**
   * The auth service's answers per connection, keyed by client address: each path connects from
   * its own 127.0.0.x, so a session left behind by an earlier path (one that re-asks the auth
   * service after Auth-Wait, say) never takes the next path's answers.
   */
  authScripts = new Map<string, Array<AuthOutcome | 'hang'>>();
  connections = 0;
  proxies: { normal: RunningProxy; fast: RunningProxy } | null = null;
  /** The server as the oracle sees it: the proxy's own settings (capabilities, buffers, names). */
  oracleServer: OracleServer | null = null;
  /** Paths whose transcript matched the oracle's, and the bytes compared. */
  checked = { paths: 0, bytes: 0 };

  constructor(
    readonly config: ModelConfig,
    readonly fixtures: Fixtures,
  ) {}

  async start(): Promise<void> {
    const cert = testCertificate();
    const base: Partial<ServerConfig> = {
      protocol: this.config.protocol,
      starttls: this.config.starttls,
      pop3Auth: [...AUTH_METHODS.pop3],
      imapAuth: [...AUTH_METHODS.imap],
      smtpAuth: this.config.protocol === 'smtp' ? ([...this.config.authMethods] as ServerConfig['smtpAuth']) : [...AUTH_METHODS.smtp],
      sieveAuth: [...AUTH_METHODS.sieve],
      smtpGreetingDelayMs: this.config.greetingDelayMs,
      maxErrors: MAX_ERRORS,
      proxyPassErrorMessage: true,
      ssl: { ...serverConfig().ssl, certificates: [cert.certificate], certificateKeys: [cert.key] },
      listens: [{ host: '127.0.0.1', port: 0, text: '127.0.0.1:0', ssl: this.config.implicitTls, bind: false, where: { file: 't', line: 1 } }],
    };
    const auth = {
      request: (request: AuthRequest, signal: AbortSignal): Promise<AuthOutcome> => {
        const next = this.authScripts.get(request.clientIp)?.shift() ?? 'hang';
        if (next !== 'hang') return Promise.resolve(next);
        return new Promise((resolve) => signal.addEventListener('abort', () => resolve({ status: 'error', reason: 'aborted' }), { once: true }));
      },
    };
    const options = {
      logger: silentLogger(),
      authFor: () => auth,
      journalFor: () => () => {
        const sink = memoryJournal();
        this.journals.push(sink);
        return sink;
      },
    };
    const server = serverConfig(base);
    this.oracleServer = {
      protocol: this.config.protocol,
      starttls: server.starttls,
      implicitTls: this.config.implicitTls,
      authMethods: { pop3: server.pop3Auth, imap: server.imapAuth, smtp: server.smtpAuth, sieve: server.sieveAuth }[this.config.protocol],
      capabilities: { pop3: server.pop3Capabilities, imap: server.imapCapabilities, smtp: server.smtpCapabilities, sieve: server.sieveCapabilities }[this.config.protocol],
      serverName: server.serverName,
      maxErrors: server.maxErrors,
      bufferSize: { pop3: 128, imap: server.imapClientBuffer, smtp: server.smtpClientBuffer, sieve: server.sieveClientBuffer }[this.config.protocol],
      greetingDelay: server.protocol === 'smtp' && server.smtpGreetingDelayMs > 0,
    };
    const one = (overrides: Partial<ServerConfig>) =>
      startProxy({ file: 'model', servers: [serverConfig({ ...base, ...overrides })], notices: [], workerProcesses: 1, workerConnections: 512 } satisfies MailConfig, options);
    this.proxies = {
      normal: await one({}),
      fast: await one({ timeoutMs: FAST_TIMEOUT, authHttpTimeoutMs: FAST_TIMEOUT }),
    };
  }

  async stop(): Promise<void> {
    await this.proxies?.normal.close();
    await this.proxies?.fast.close();
  }

  /** The auth service's answers for a path, in order: an outcome shaped for the backend step after it, or silence. */
  private script(path: Path): Array<AuthOutcome | 'hang'> {
    const steps = path.steps;
    const out: Array<AuthOutcome | 'hang'> = [];
    for (let i = 1; i < steps.length; i++) {
      const entered = steps[i]!.state.matches('authenticating') && !steps[i - 1]!.state.matches('authenticating');
      if (!entered) continue;
      const next = steps[i + 1]?.event;
      if (next?.type !== 'auth.result') {
        out.push('hang');
        continue;
      }
      const outcome = next.outcome;
      if (outcome.status !== 'ok') {
        out.push(outcome);
        continue;
      }
      const after = steps[i + 2]?.event;
      const backendPort = this.fixtures.backends[this.config.protocol].port;
      if (after?.type === 'backend.ready') out.push({ ...outcome, server: '127.0.0.1', port: backendPort });
      else if (after?.type === 'backend.failed' && after.passthrough !== undefined && this.config.protocol === 'smtp')
        out.push({ ...outcome, server: '127.0.0.1', port: this.fixtures.smtpRejecting.port });
      else if (after?.type === 'backend.failed' && after.passthrough !== undefined)
        out.push({ ...outcome, server: '127.0.0.1', port: backendPort, user: 'test@example.com', password: new Secret('wrong') });
      else if (after?.type === 'backend.failed') out.push({ ...outcome, server: '127.0.0.1', port: this.fixtures.deadPort });
      else out.push({ ...outcome, server: '127.0.0.1', port: this.fixtures.silentPort });
    }
    return out;
  }

  /** Drive one path; resolves with a description of the first mismatch, or null. */
  async drive(planned: PlannedPath): Promise<string | null> {
    const { path } = planned;
    const steps = path.steps.slice(1);
    const expected = pathStates(path);
    const proxy = steps.some((s) => isTimer(s.event) && !isGreetingDelay(s.event)) ? this.proxies!.fast : this.proxies!.normal;
    const port = proxy.listeners[0]!.port;
    const localAddress = `127.0.0.${2 + (this.connections++ % 250)}`;
    this.authScripts.set(localAddress, this.script(path));
    const journalIndex = this.journals.length;

    // Everything the client receives, across a STARTTLS upgrade, and whether the proxy closed.
    let received = '';
    let serverClosed = false;
    const oracle = new Oracle(this.oracleServer!);
    let raw: net.Socket;
    let current: net.Socket | tls.TLSSocket;
    const onData = (chunk: Buffer) => (received += chunk.toString('latin1'));
    const onClosed = () => (serverClosed = true);
    if (this.config.implicitTls && steps[0]?.event.type === 'tls.established') {
      current = await new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = tls.connect({ socket: net.connect({ host: '127.0.0.1', port, localAddress }), rejectUnauthorized: false }, () => resolve(s));
        s.once('error', reject);
      });
      raw = current as unknown as net.Socket;
    } else {
      raw = await new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect({ host: '127.0.0.1', port, localAddress }, () => resolve(s));
        s.once('error', reject);
      });
      current = raw;
    }
    current.on('data', onData);
    current.on('error', () => undefined);
    raw.on('error', () => undefined);
    for (const socket of new Set([raw, current])) {
      socket.on('end', onClosed);
      socket.on('close', onClosed);
    }

    const journal = () => this.journals[journalIndex];
    const entries = (): JournalEntry[] => journal()?.entries ?? [];
    const states = () => entries().flatMap((e) => (e.kind === 'state' ? [e.state] : []));
    const eventTypes = () => entries().flatMap((e) => (e.kind === 'event' ? [e.event.type] : []));
    const lastReply = () => {
      const replies = entries().flatMap((e) => (e.kind === 'effect' && e.effect.type === 'reply' ? [e.effect.text] : []));
      return replies[replies.length - 1] ?? '';
    };
    const until = async (what: string, condition: () => boolean, ms = 3000): Promise<string | null> => {
      const deadline = Date.now() + ms;
      while (!condition()) {
        if (Date.now() > deadline) return `timed out waiting for ${what}`;
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      return null;
    };
    const describe = (why: string) =>
      `${this.config.name}: ${why}\n  path: ${steps.map((s) => eventKey(s.event)).join(' > ')}\n  expected states: ${expected.join(' > ')}\n  journal states:  ${states().join(' > ')}\n  journal events:  ${eventTypes().join(' > ')}` +
      `\n  oracle (${oracle.describe()}): ${JSON.stringify(render(oracle.segments))}\n  client received:  ${JSON.stringify(received)}${serverClosed ? ' (closed)' : ''}`;
    const serverName = this.oracleServer!.serverName;

    try {
      const failure = await until('the journal', () => journal() !== undefined);
      if (failure) return describe(failure);
      let sent = 0;
      for (let i = 0; i < steps.length; i++) {
        const { event } = steps[i]!;
        const action = planned.graph.actions.get(actionKey(path.steps[i]!.state, event));
        if (!action) return describe(`no action for ${eventKey(event)}`);
        try {
          oracle.apply(action);
        } catch (error) {
          if (error instanceof OracleError) return describe(`step ${i + 1} (${event.type}): the oracle says this cannot happen: ${error.message}`);
          throw error;
        }
        switch (action.kind) {
          case 'line':
          case 'literal':
            current.write(`${action.text}\r\n`, 'latin1');
            break;
          case 'tlsHandshake':
            if (!this.config.implicitTls || i > 0) {
              const reply = lastReply();
              const waited = await until('the STARTTLS reply', () => reply !== '' && received.endsWith(reply));
              if (waited) return describe(waited);
              raw.removeListener('data', onData);
              current = await new Promise<tls.TLSSocket>((resolve, reject) => {
                const s = tls.connect({ socket: raw, rejectUnauthorized: false, servername: 'localhost' }, () => resolve(s));
                s.once('error', reject);
              });
              current.on('data', onData);
              current.on('error', () => undefined);
              current.on('end', onClosed);
              current.on('close', onClosed);
            }
            break;
          case 'tlsGarbage':
            raw.write('this is not a TLS handshake\r\n');
            break;
          case 'close':
            current.end();
            break;
          case 'backendQuit':
            current.write({ pop3: 'QUIT\r\n', imap: 'z LOGOUT\r\n', smtp: 'QUIT\r\n', sieve: 'LOGOUT\r\n' }[this.config.protocol]);
            break;
          case 'auth':
          case 'backend':
          case 'wait':
            break;
        }
        if (!isTimer(event)) sent += 1;
        const want = pathStates({ ...path, steps: path.steps.slice(0, i + 2) }).length;
        const waited = await until(`step ${i + 1} (${event.type})`, () => eventTypes().length >= sent && states().length >= want);
        if (waited) return describe(waited);
        // The client has received what the oracle says it must by now (more may follow: a reply held for Auth-Wait, say).
        const replied = await until(`the bytes of step ${i + 1} (${event.type})`, () => matches(oracle.segments, received, serverName, false));
        if (replied) return describe(replied);
      }
      const done = expected[expected.length - 1] === 'closed';
      if (done) {
        const closed = await until('the journal to close', () => journal()!.closed);
        if (closed) return describe(closed);
      }
      const got = states();
      if (JSON.stringify(got) !== JSON.stringify(expected)) return describe('states differ');
      // The whole transcript, and the close exactly when the oracle closes.
      if (oracle.closed) {
        const gone = await until('the proxy to close the connection (the oracle closes it)', () => serverClosed);
        if (gone) return describe(gone);
        if (!matches(oracle.segments, received, serverName, true)) return describe('the client received other bytes than the oracle says');
      } else {
        const all = await until('exactly the bytes the oracle says', () => matches(oracle.segments, received, serverName, true));
        if (all) return describe(all);
        if (serverClosed) return describe('the proxy closed the connection; the oracle keeps it open');
      }
      const wantEvents = steps.filter((s) => !isTimer(s.event)).map((s) => s.event.type);
      if (JSON.stringify(eventTypes()) !== JSON.stringify(wantEvents)) return describe('events differ');
      this.checked.paths += 1;
      this.checked.bytes += received.length;
      return null;
    } finally {
      current.destroy();
      raw.destroy();
    }
  }
}

describe('model-based: statechart paths driven through real sockets', () => {
  let plan: Plan;
  let fixtures: Fixtures;
  const runners: Runner[] = [];

  beforeAll(async () => {
    plan = planPaths();
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const backends = { pop3: await fakeBackend('pop3'), imap: await fakeBackend('imap'), smtp: await fakeSmtpBackend(), sieve: await fakeSieveBackend() };
    const smtpRejecting = await fakeSmtpBackend(true);
    // A port nothing listens on, found after the others are bound (a freed port can be handed out again).
    const dead = net.createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const deadPort = (dead.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    fixtures = { backends, smtpRejecting, silent, silentPort: (silent.address() as net.AddressInfo).port, deadPort };
  });
  afterAll(async () => {
    for (const runner of runners) await runner.stop();
    await fixtures.backends.pop3.close();
    await fixtures.backends.imap.close();
    await fixtures.backends.smtp.close();
    await fixtures.backends.sieve.close();
    await fixtures.smtpRejecting.close();
    fixtures.silent.close();
  });

  it('every state node is reachable from a POP3/IMAP/SMTP/ManageSieve configuration (or listed with its reason)', () => {
    const unreachable = allStateIds().filter((id) => !plan.reachable.has(id) && !plan.statesCovered.has(id));
    expect(unreachable).toEqual(Object.keys(NOT_DRIVEN_STATES));
  });

  it('every transition is on a planned path (or listed with its reason)', () => {
    const uncovered = [...plan.transitions].filter(([t]) => !plan.covered.has(t)).map(([, name]) => name);
    const unexplained = uncovered.filter((name) => !NOT_DRIVEN_TRANSITIONS.some(([pattern]) => pattern.test(name)));
    expect(unexplained).toEqual([]);
    // Each listed reason still applies to something (the list does not go stale).
    for (const [pattern, reason] of NOT_DRIVEN_TRANSITIONS) expect(uncovered.some((n) => pattern.test(n)), reason).toBe(true);
    console.log(
      `model coverage: ${plan.covered.size}/${plan.transitions.size} transitions, ${plan.statesCovered.size}/${allStateIds().length} state nodes; ` +
        `${plan.paths.length} paths (${plan.paths.filter((p) => p.why === 'state').length} shortest paths to abstract states, ` +
        `${plan.paths.filter((p) => p.why === 'transition').length} for transitions) over ${plan.graphs.length} configurations`,
    );
  });

  it('each driven path: the journal shows exactly the path\'s states, the client receives exactly the oracle\'s bytes', async () => {
    const failures: string[] = [];
    await Promise.all(
      plan.graphs.map(async (graph) => {
        const runner = new Runner(graph.config, fixtures);
        runners.push(runner);
        await runner.start();
        for (const planned of plan.paths.filter((p) => p.graph === graph)) {
          const failure = await runner.drive(planned);
          if (failure) failures.push(failure);
          if (failures.length > 5) return;
        }
      }),
    );
    expect(failures.slice(0, 5).join('\n\n')).toBe('');
    // The oracle compared every path of every configuration, and it compared bytes.
    for (const runner of runners) {
      expect(runner.checked.paths, runner.config.name).toBe(plan.paths.filter((p) => p.graph.config === runner.config).length);
      expect(runner.checked.bytes, runner.config.name).toBeGreaterThan(0);
    }
    const total = runners.reduce((sum, r) => ({ paths: sum.paths + r.checked.paths, bytes: sum.bytes + r.checked.bytes }), { paths: 0, bytes: 0 });
    console.log(`oracle: ${total.paths} transcripts, ${total.bytes} bytes, each equal to what nginx's handlers say`);
  }, 60_000);
});
