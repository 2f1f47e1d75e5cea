/**
 * In-process stand-ins for what Postern talks to: an auth service behind the `authFor` seam
 * (scripted outcomes), a fake auth_http server on a socket (scripted bytes, for the real
 * AuthHttpClient), and fake backends (well-behaved ones that check the login the proxy sends,
 * and scripted ones whose greeting and login replies are generated). Each records the faults it
 * saw in what Postern sent; each closes every socket and timer of its own in `close()`.
 */
import net from 'node:net';
import type { AuthOutcome, AuthRequest } from '../../machines/types.js';
import type { FuzzedProtocol as Protocol } from './profile.js';
import { Secret } from '../../src/secret.js';
import type { AuthService } from '../../src/session/session.js';
import { cut, HOST } from './harness.js';

/** Connection numbers travel in user names and envelope addresses as `zq<N>qz`. */
export const marker = (index: number): string => `zq${index}qz`;
export const markerIn = (text: string): number | undefined => {
  const match = /zq(\d+)qz/.exec(text);
  return match ? Number(match[1]) : undefined;
};

/** Sockets and timers of one fake service, all ended by `closeAll()`. */
class Tracked {
  readonly sockets = new Set<net.Socket>();
  readonly timers = new Set<NodeJS.Timeout>();
  closed = false;

  socket(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => this.sockets.delete(socket));
  }

  later(ms: number, run: () => void): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.closed) run();
    }, ms);
    this.timers.add(timer);
  }

  closeAll(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const socket of this.sockets) socket.destroy();
  }
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  return (server.address() as net.AddressInfo).port;
}

const closeServer = (server: net.Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()));

/**
 * A loopback port nothing listens on: connections to it are refused. Not an ephemeral port bound
 * and closed again: another test process may bind it next (a POP3 case once reached the IMAP
 * fuzzer's fake backend that way). Port 1 (tcpmux) is privileged and unused.
 */
export const DEAD_PORT = 1;

/** Sends `bytes` in pieces, `paceMs` apart (0: all at once), then `then()`. */
function deliver(socket: net.Socket, tracked: Tracked, bytes: Buffer, cuts: number[], paceMs: number, then: () => void): void {
  const chunks = cut(bytes, cuts);
  const step = (i: number) => {
    if (socket.destroyed) return;
    if (i >= chunks.length) {
      then();
      return;
    }
    socket.write(chunks[i]!);
    if (paceMs === 0) step(i + 1);
    else tracked.later(paceMs, () => step(i + 1));
  };
  step(0);
}

// ---------------------------------------------------------------- auth service behind authFor

export type OutcomeSpec =
  | { kind: 'ok' }
  | { kind: 'okAs'; user: string; password: string }
  | { kind: 'okRefused' }
  | { kind: 'okBadServer' }
  | { kind: 'fail'; text: string; waitSeconds?: number; errorCode?: string }
  | { kind: 'wait'; waitSeconds: number }
  | { kind: 'error' };

export interface ScriptedAuthOptions {
  protocol: Protocol;
  /** Outcomes, chosen per request from its user and attempt (so a replay asks the same). */
  outcomes: OutcomeSpec[];
  /** Where `ok` sends the client: one port, or one per connection number (`zq<N>qz`). */
  backendPort: (request: AuthRequest) => number;
  refusedPort: number;
  /** Delay before answering, ms (0: next microtask). */
  delayMs: number;
  /** `proxy_smtp_auth on`: a NUL in the SMTP login must never reach the auth service. */
  proxySmtpAuth: boolean;
}

/** The auth service behind `startProxy`'s `authFor`: scripted outcomes, and checks of each request. */
export class ScriptedAuth implements AuthService {
  readonly faults: string[] = [];
  requests = 0;
  readonly #asked = new Map<string, number>();
  readonly #tracked = new Tracked();

  constructor(private readonly options: ScriptedAuthOptions) {}

  request(request: AuthRequest, signal: AbortSignal): Promise<AuthOutcome> {
    this.requests++;
    this.check(request);
    const outcome = this.outcomeFor(request);
    return new Promise((resolve) => {
      if (signal.aborted) {
        resolve({ status: 'error', reason: 'aborted' });
        return;
      }
      if (this.options.delayMs === 0) {
        queueMicrotask(() => resolve(outcome));
        return;
      }
      const onAbort = () => resolve({ status: 'error', reason: 'aborted' });
      signal.addEventListener('abort', onAbort, { once: true });
      this.#tracked.later(this.options.delayMs, () => {
        signal.removeEventListener('abort', onAbort);
        resolve(outcome);
      });
    });
  }

  /** What the architecture promises about every request that reaches the auth service. */
  private check(request: AuthRequest): void {
    const { protocol } = this.options;
    if (request.protocol !== protocol) this.faults.push(`auth request for ${request.protocol} on a ${protocol} server`);
    if (!(request.password instanceof Secret)) this.faults.push('auth request password is not a Secret');
    if (protocol === 'pop3' && (request.method === 'plain' || request.method === 'apop')) {
      if (/[\r\n\0]/.test(request.user)) this.faults.push(`POP3 login with CR, LF or NUL reached the auth service: ${JSON.stringify(request.user)}`);
      if (request.method === 'plain' && request.password.hasCrLfOrNul) this.faults.push('POP3 password with CR, LF or NUL reached the auth service');
    }
    // ManageSieve's backend login is SASL PLAIN: a NUL in the user would move its boundary.
    if (protocol === 'sieve' && request.user.includes('\0')) this.faults.push(`ManageSieve login with NUL reached the auth service: ${JSON.stringify(request.user)}`);
    if (protocol === 'smtp' && this.options.proxySmtpAuth && request.user.includes('\0')) {
      this.faults.push(`SMTP login with NUL reached the auth service under proxy_smtp_auth: ${JSON.stringify(request.user)}`);
    }
    if (request.attempt < 1 || !Number.isInteger(request.attempt)) this.faults.push(`auth request attempt ${request.attempt}`);
  }

  private outcomeFor(request: AuthRequest): AuthOutcome {
    const { outcomes } = this.options;
    const key = `${request.user}\0${request.smtp?.from ?? ''}\0${request.attempt}`;
    const asked = (this.#asked.get(key) ?? 0) + 1;
    this.#asked.set(key, asked);
    // `Auth-Status: WAIT` asks again with the same attempt: the fourth time is a plain failure.
    if (asked > 3) return { status: 'fail', text: 'enough' };
    let hash = asked * 31 + request.attempt;
    for (let i = 0; i < key.length; i++) hash = (Math.imul(hash, 33) + key.charCodeAt(i)) >>> 0;
    const spec = outcomes[hash % outcomes.length] ?? { kind: 'error' };
    const port = this.options.backendPort(request);
    switch (spec.kind) {
      case 'ok':
        // APOP and CRAM-MD5 need the password from the auth service (Auth-Pass).
        return request.method === 'apop' || request.method === 'cram-md5'
          ? { status: 'ok', server: HOST, port, user: request.user, password: new Secret('secret') }
          : { status: 'ok', server: HOST, port };
      case 'okAs':
        return { status: 'ok', server: HOST, port, user: spec.user, password: new Secret(spec.password) };
      case 'okRefused':
        return { status: 'ok', server: HOST, port: this.options.refusedPort };
      case 'okBadServer':
        return { status: 'ok', server: '::1', port: this.options.refusedPort };
      case 'fail':
        return {
          status: 'fail',
          text: spec.text,
          ...(spec.waitSeconds === undefined ? {} : { waitSeconds: spec.waitSeconds }),
          ...(spec.errorCode === undefined ? {} : { errorCode: spec.errorCode }),
        };
      case 'wait':
        return { status: 'wait', waitSeconds: spec.waitSeconds };
      case 'error':
        return { status: 'error', reason: 'fuzz: auth service error' };
    }
  }

  close(): void {
    this.#tracked.closeAll();
  }
}

// ---------------------------------------------------------------- auth_http over a socket

export interface AuthHttpPlan {
  /** Wait this long after the request before answering. */
  delayMs: number;
  bytes: Buffer;
  cuts: number[];
  paceMs: number;
  /** After the bytes: close, keep the connection open, reset it, or (`hang`) never answer at all. */
  then: 'close' | 'keep' | 'reset' | 'hang';
}

/**
 * A fake auth_http service: reads each request head, checks it is well formed (no header a
 * credential could have added), and answers with the plan the case generated for that
 * connection number and request (`plan(index, nth)`).
 */
export class FakeAuthHttp {
  readonly faults: string[] = [];
  requests = 0;
  readonly #tracked = new Tracked();
  readonly #nth = new Map<number, number>();
  #server: net.Server | undefined;
  port = 0;

  constructor(private readonly plan: (index: number | undefined, nth: number) => AuthHttpPlan) {}

  async start(): Promise<this> {
    this.#server = net.createServer((socket) => this.serve(socket));
    this.port = await listen(this.#server);
    return this;
  }

  private serve(socket: net.Socket): void {
    this.#tracked.socket(socket);
    let head: Buffer = Buffer.alloc(0);
    let answered = false;
    socket.on('data', (chunk: Buffer) => {
      if (answered) return;
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > 64 * 1024) this.faults.push('auth request head without its empty line after 64 KiB');
        return;
      }
      answered = true;
      this.requests++;
      const text = head.subarray(0, end).toString('latin1');
      this.check(text);
      const index = markerIn(headerValue(text, 'Auth-User') ?? '') ?? markerIn(headerValue(text, 'Auth-SMTP-From') ?? '');
      const key = index ?? -1;
      const nth = this.#nth.get(key) ?? 0;
      this.#nth.set(key, nth + 1);
      const plan = this.plan(index, nth);
      if (plan.then === 'hang') return;
      this.#tracked.later(plan.delayMs, () =>
        deliver(socket, this.#tracked, plan.bytes, plan.cuts, plan.paceMs, () => {
          if (plan.then === 'close') socket.end();
          else if (plan.then === 'reset') socket.resetAndDestroy();
        }),
      );
    });
  }

  /** nginx's request: `GET <uri> HTTP/1.0`, then `Name: value` lines without control bytes. */
  private check(head: string): void {
    const lines = head.split('\r\n');
    if (!/^GET \/auth HTTP\/1\.0$/.test(lines[0] ?? '')) this.faults.push(`auth request line ${JSON.stringify(lines[0])}`);
    for (const line of lines.slice(1)) {
      if (!/^[A-Za-z][A-Za-z0-9-]*: [^\x00-\x1f\x7f]*$/.test(line)) this.faults.push(`auth request header ${JSON.stringify(line)}`);
    }
  }

  async close(): Promise<void> {
    this.#tracked.closeAll();
    if (this.#server) await closeServer(this.#server);
  }
}

function headerValue(head: string, name: string): string | undefined {
  const prefix = `${name.toLowerCase()}: `;
  for (const line of head.split('\r\n')) if (line.toLowerCase().startsWith(prefix)) return line.slice(prefix.length);
  return undefined;
}

// ---------------------------------------------------------------- backends

/** A generated backend reply: its bytes (`{TAG}` stands for the client's IMAP tag), how they are sent, what follows. */
export interface ReplySpec {
  bytes: string;
  cuts: number[];
  paceMs: number;
  then: 'go' | 'close' | 'reset' | 'stall';
}

export interface BackendScript {
  /** Replies in order: the greeting first, then one per line (or IMAP literal header) the proxy sends; `null` is the well-behaved reply. */
  replies: Array<ReplySpec | null>;
  /** Once the script is used up: behave (answer, close at QUIT/LOGOUT), close at once, or go silent. */
  after: 'behave' | 'close' | 'silent' | 'burst';
}

export interface BackendChecks {
  /** Check the login lines (POP3: no NUL; an injected line shows as a missing PASS). */
  credentials: boolean;
  /** SMTP: the proxy sends XCLIENT as its second line; check its shape. */
  xclient: boolean;
}

const WELL_BEHAVED: BackendScript = { replies: [], after: 'behave' };

/**
 * A fake backend of one protocol. Well-behaved, it logs anybody in and then answers every line
 * (QUIT / LOGOUT: the goodbye and the close); scripted, the greeting and the first replies are
 * the generated ones. IMAP sync literals are followed (a `{n}` line is answered `+`, then n bytes
 * are data) up to 64 KiB. With `checks`, the login the proxy sends is checked line by line.
 */
export class FakeBackend {
  readonly faults: string[] = [];
  logins = 0;
  connections = 0;
  /** Generated replies sent (and generated ends of the script acted on). */
  generated = 0;
  readonly #tracked = new Tracked();
  #server: net.Server | undefined;
  port = 0;

  constructor(
    private readonly protocol: Protocol,
    private readonly script: BackendScript = WELL_BEHAVED,
    private readonly checks: BackendChecks | null = null,
  ) {}

  async start(): Promise<this> {
    this.#server = net.createServer((socket) => this.serve(socket));
    this.port = await listen(this.#server);
    return this;
  }

  private serve(socket: net.Socket): void {
    const tracked = this.#tracked;
    tracked.socket(socket);
    this.connections++;
    const protocol = this.protocol;
    const script = this.script;
    let replyIndex = 0;
    let stopped = false;
    let buffer: Buffer = Buffer.alloc(0);
    /** The command being assembled (IMAP literals keep it open), and how many literal bytes are due. */
    let command = '';
    let literal = 0;
    let lineNumber = 0;
    let tag = '';
    let loginDone = false;

    const send = (text: string) => {
      if (!socket.destroyed) socket.write(text, 'latin1');
    };
    const behave = (unit: string, complete: boolean): void => {
      switch (protocol) {
        case 'pop3':
          if (/^QUIT\b/i.test(unit)) {
            send('+OK bye\r\n');
            socket.end();
          } else send('+OK\r\n');
          return;
        case 'imap':
          if (!complete) send('+ go ahead\r\n');
          else if (/^\S* LOGOUT$/i.test(unit)) {
            send(`* BYE\r\n${tag} OK bye\r\n`);
            socket.end();
          } else send(`${tag} OK done\r\n`);
          return;
        case 'sieve':
          if (/^LOGOUT$/i.test(unit)) {
            send('OK "Logout completed."\r\n');
            socket.end();
          } else if (/^AUTHENTICATE /i.test(unit)) send('OK "Logged in."\r\n');
          else send('OK "done"\r\n');
          return;
        case 'smtp': {
          const verb = unit.slice(0, unit.indexOf(' ') < 0 ? undefined : unit.indexOf(' ')).toUpperCase();
          if (verb === 'EHLO') send('250-fuzz.backend\r\n250 PIPELINING\r\n');
          else if (verb === 'XCLIENT') send('220 fuzz.backend ready\r\n');
          else if (verb === 'AUTH') send('235 2.7.0 ok\r\n');
          else if (verb === 'QUIT') {
            send('221 bye\r\n');
            socket.end();
          } else send('250 ok\r\n');
          return;
        }
      }
    };
    const greet = () => {
      if (protocol === 'pop3') send('+OK fuzz backend ready\r\n');
      else if (protocol === 'imap') send('* OK fuzz backend ready\r\n');
      else if (protocol === 'sieve') send('"IMPLEMENTATION" "fuzz backend"\r\n"SASL" "PLAIN"\r\n"VERSION" "1.0"\r\nOK "fuzz backend ready"\r\n');
      else send('220 fuzz.backend ESMTP\r\n');
    };

    /** The next reply point: the greeting (`unit` null), a line, or an IMAP literal header. */
    const respond = (unit: string | null, complete: boolean) => {
      if (stopped) return;
      if (unit !== null) this.check(unit, complete, lineNumber, () => (loginDone = true), loginDone);
      const well = () => (unit === null ? greet() : behave(unit, complete));
      const index = replyIndex++;
      if (index < script.replies.length) {
        const spec = script.replies[index]!;
        if (spec === null) {
          well();
          return;
        }
        stopped = spec.then !== 'go';
        this.generated++;
        deliver(socket, tracked, Buffer.from(spec.bytes.replaceAll('{TAG}', tag), 'latin1'), spec.cuts, spec.paceMs, () => {
          if (spec.then === 'close') socket.end();
          else if (spec.then === 'reset') socket.resetAndDestroy();
        });
        return;
      }
      if (script.after !== 'behave' && index === script.replies.length) this.generated++;
      switch (script.after) {
        case 'behave':
          well();
          return;
        case 'close':
          stopped = true;
          socket.end();
          return;
        case 'silent':
          stopped = true;
          return;
        case 'burst': {
          stopped = true;
          const chunk = Buffer.alloc(16 * 1024, 0x61);
          for (let i = 0; i < 8 && !socket.destroyed; i++) socket.write(chunk);
          socket.end();
          return;
        }
      }
    };

    socket.on('data', (chunk: Buffer) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      for (;;) {
        if (literal > 0) {
          const take = Math.min(literal, buffer.length);
          command += buffer.subarray(0, take).toString('latin1');
          buffer = buffer.subarray(take);
          literal -= take;
          if (literal > 0) return;
        }
        const end = buffer.indexOf('\r\n');
        if (end < 0) return;
        const segment = buffer.subarray(0, end).toString('latin1');
        buffer = buffer.subarray(end + 2);
        const first = command === '';
        command += segment;
        // The tag the replies echo: what the proxy or the client sent, minus line breaks.
        if (first && protocol === 'imap') tag = (command.split(' ')[0] ?? '').replace(/[\r\n]/g, '');
        const header = protocol === 'imap' ? /\{(\d{1,5})\}$/.exec(segment) : null;
        if (header && Number(header[1]) <= 64 * 1024) {
          literal = Number(header[1]);
          command += '\n';
          respond(command, false);
          continue;
        }
        const unit = command;
        command = '';
        respond(unit, true);
        lineNumber++;
      }
    });
    respond(null, true);
  }

  /** The login as the proxy must send it; `unit` is one reply point. */
  private check(unit: string, complete: boolean, line: number, done: () => void, loginDone: boolean): void {
    const checks = this.checks;
    if (checks === null || loginDone) return;
    const fault = (what: string) => this.faults.push(`${this.protocol} backend login: ${what}: ${JSON.stringify(unit.slice(0, 200))}`);
    switch (this.protocol) {
      case 'pop3':
        if (line === 0 && !/^USER /.test(unit)) fault('first line is not USER');
        if (line === 1) {
          if (!/^PASS /.test(unit)) fault('second line is not PASS');
          done();
          this.logins++;
        }
        if (checks.credentials && line <= 1 && unit.includes('\0')) fault('NUL in the login');
        return;
      case 'imap': {
        // `tag LOGIN {n}` + n bytes + ` {m}` + m bytes + end of line: one command, three reply points.
        if (!complete) return;
        const head = /^\S* LOGIN \{(\d+)\}\n/.exec(unit);
        const afterUser = head === null ? -1 : head[0].length + Number(head[1]);
        const second = afterUser < 0 ? null : /^ \{(\d+)\}\n/.exec(unit.slice(afterUser));
        if (second === null || unit.length - afterUser - second[0].length !== Number(second[1])) fault('LOGIN is not two literals of their announced lengths');
        done();
        this.logins++;
        return;
      }
      case 'sieve': {
        // AUTHENTICATE "PLAIN" with the PLAIN message as a quoted base64 string.
        const plain = /^AUTHENTICATE "PLAIN" "([A-Za-z0-9+/]*={0,2})"$/.exec(unit);
        if (plain === null) fault('first line is not AUTHENTICATE "PLAIN" "<base64>"');
        // The password may hold any byte; the user, between the first two NULs, none.
        else if (checks.credentials && !/^\0[^\0]*\0/.test(Buffer.from(plain[1]!, 'base64').toString('latin1'))) fault('the PLAIN message is not NUL user NUL password');
        done();
        this.logins++;
        return;
      }
      case 'smtp':
        if (line === 0 && !/^(EHLO|HELO) \S+$/.test(unit)) fault('first line is not EHLO/HELO');
        if (line === 1 && checks.xclient) {
          if (!/^XCLIENT ADDR=[0-9A-Fa-f.:IPV6]+( LOGIN=(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})+)? NAME=\S+$/.test(unit)) fault('XCLIENT line');
        }
        if (line >= 1) {
          done();
          this.logins++;
        }
        return;
    }
  }

  async close(): Promise<void> {
    this.#tracked.closeAll();
    if (this.#server) await closeServer(this.#server);
  }
}
