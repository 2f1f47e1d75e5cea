/**
 * The model test's oracle: what a client must receive, byte for byte, for each path the planner
 * drives (test/model/model.test.ts). It is written without the connection machine, from nginx
 * 1.22.1's mail handlers (src/mail/ngx_mail_{pop3,imap,smtp}_handler.c, ngx_mail_parse.c,
 * ngx_mail_auth_http_module.c) and the transcripts in the behaviour reference (§3–§6, §8.4, §11,
 * §17), plus the differences Postern documents in docs/nginx-migration.md (CR/LF/NUL refused in
 * POP3 credentials; an APOP/CRAM-MD5 digest is never the backend password). ManageSieve, which
 * nginx lacks, is written from RFC 5804 and Dovecot 2.3's managesieve-login wording (what
 * docs/extensions.md promises): capability lines then `OK "text"`, `NO`/`BYE` with quoted text,
 * quoted SASL challenges, BYE wherever the server closes. It knows nothing of
 * states, guards or events: it reads the driver's actions (client lines, TLS, the auth service's
 * answers, the backend's behaviour, timers) and keeps nginx's own session facts (the mail state,
 * TLS, the error count, the IMAP tag, the SMTP MAIL FROM). So a machine that decides wrong
 * (a dropped guard, a wrong reply, a missing close) fails the model test even though the planner
 * took its paths from that same machine.
 *
 * Commands are parsed as nginx's parsers read the shapes model.ts sends (atoms separated by one
 * space, a trailing IMAP literal header). A step nginx could not take where the oracle is (a line
 * while it authenticates, an auth answer with no credentials complete, a handshake without
 * STARTTLS, a backend result with no backend) throws an OracleError: the path itself is wrong.
 */
import type { AuthOutcome } from '../../machines/types.js';
import type { Action } from './model.js';

export class OracleError extends Error {}

/** What the oracle needs to know of the server the driver talks to (its real ServerConfig values). */
export interface OracleServer {
  protocol: 'pop3' | 'imap' | 'smtp' | 'sieve';
  starttls: 'off' | 'on' | 'only';
  implicitTls: boolean;
  /** pop3_auth / imap_auth / smtp_auth. */
  authMethods: readonly string[];
  /** pop3_capabilities / imap_capabilities / smtp_capabilities. */
  capabilities: readonly string[];
  serverName: string;
  maxErrors: number;
  /** The command buffer: POP3 128 bytes, else imap_client_buffer / smtp_client_buffer / postern_sieve_client_buffer. */
  bufferSize: number;
  greetingDelay: boolean;
}

/** An expected transcript: literal text, or the connection's salt `<RANDOM.TIME@server_name>` (plain or base64). */
export type Segment = { text: string } | { salt: 'plain' | 'base64' };

/** The credentials the fake backends of model.test.ts accept (POP3 USER/PASS, IMAP LOGIN). */
const BACKEND_USER = 'test@example.com';
const BACKEND_PASSWORD = 'secret';

type SaslStep = 'plain' | 'loginUser' | 'loginPassword' | 'cram-md5' | 'external';
type Mode = { kind: 'start' } | { kind: 'user'; login: string } | { kind: 'sasl'; step: SaslStep; login?: string };
type Phase =
  | { kind: 'connecting' }
  | { kind: 'greetingDelay' }
  | { kind: 'command' }
  | { kind: 'upgrading' }
  | { kind: 'authenticating' }
  | { kind: 'authFailed'; reply: string }
  | { kind: 'authRetry' }
  | { kind: 'backend'; user: string; password: string | null; method: Method }
  | { kind: 'relaying' }
  | { kind: 'closed' };
type Method = 'plain' | 'apop' | 'cram-md5' | 'external' | 'none';

interface Credentials {
  method: Method;
  login: string;
  /** The client's password (plain methods); a digest or nothing otherwise. */
  password: string;
}

const decode64 = (text: string): string | null => {
  if (!/^[A-Za-z0-9+/]*=*$/.test(text)) return null;
  const data = text.replace(/=.*$/, '');
  if (data.length % 4 === 1) return null;
  return Buffer.from(data, 'base64').toString('latin1');
};

const SIEVE_INVALID = 'Error in MANAGESIEVE command received by server.';

/**
 * A ManageSieve command line as RFC 5804 §4 writes it: a verb, then strings separated by one
 * space, each quoted (`\"` and `\\` escapes) or a literal (`{N+}` CRLF N bytes); null when the
 * line is not that shape (the verb is returned upper-cased, the strings unquoted).
 */
function parseSieveLine(text: string): { verb: string; strings: string[] } | null {
  const verb = /^[A-Za-z]+/.exec(text)?.[0];
  if (verb === undefined) return null;
  const upper = verb.toUpperCase();
  if (!['CAPABILITY', 'NOOP', 'LOGOUT', 'STARTTLS', 'AUTHENTICATE'].includes(upper)) return null;
  const strings: string[] = [];
  let rest = text.slice(verb.length);
  while (rest.length > 0) {
    const quoted = /^ "((?:[^"\\\r\n\0]|\\["\\])*)"/.exec(rest);
    if (quoted) {
      strings.push(quoted[1]!.replace(/\\(["\\])/g, '$1'));
      rest = rest.slice(quoted[0].length);
      continue;
    }
    const literal = /^ \{(\d+)\+?\}\r\n/.exec(rest);
    if (literal && rest.length >= literal[0].length + Number(literal[1])) {
      strings.push(rest.slice(literal[0].length, literal[0].length + Number(literal[1])));
      rest = rest.slice(literal[0].length + Number(literal[1]));
      continue;
    }
    return null;
  }
  return strings.length > 2 ? null : { verb: upper, strings };
}

/** A ManageSieve SASL response: one quoted string (`"*"` cancels); anything else is not base64. */
const sieveSaslResponse = (text: string): string => /^"([^"\\]*)"$/.exec(text)?.[1] ?? '!';

export class Oracle {
  readonly segments: Segment[] = [];
  private phase: Phase;
  private mode: Mode = { kind: 'start' };
  private tls: boolean;
  private errors = 0;
  /** IMAP: the tag of the LOGIN/AUTHENTICATE being handled. */
  private tag = '';
  /** SMTP: a MAIL FROM is given (nginx keeps it across a failed auth). */
  private mailFrom = false;
  private credentials: Credentials | null = null;
  /** An IMAP literal announced and not sent (the model ends its paths there). */
  private literalPending = false;

  constructor(private readonly server: OracleServer) {
    this.tls = false;
    if (server.implicitTls) this.phase = { kind: 'connecting' };
    else if (server.greetingDelay) this.phase = { kind: 'greetingDelay' };
    else {
      this.phase = { kind: 'command' };
      this.greet();
    }
  }

  get closed(): boolean {
    return this.phase.kind === 'closed';
  }

  /** Where the dialogue is, for failure messages. */
  describe(): string {
    const mode = this.mode.kind === 'sasl' ? `sasl ${this.mode.step}` : this.mode.kind;
    return `${this.phase.kind}${this.phase.kind === 'command' ? ` (${mode})` : ''}${this.tls ? ', TLS' : ''}, ${this.errors} error(s)`;
  }

  apply(action: Action): void {
    const { phase } = this;
    if (phase.kind === 'closed') throw new OracleError(`${action.kind} after the connection was closed`);
    switch (action.kind) {
      case 'close':
        // Whatever the proxy was doing, a client that hangs up gets nothing more.
        this.phase = { kind: 'closed' };
        return;
      case 'line':
        return this.onLine(action.text);
      case 'literal':
        return this.onLiteral(action.text);
      case 'tlsHandshake':
        return this.onHandshake();
      case 'tlsGarbage':
        if (phase.kind !== 'connecting' && phase.kind !== 'upgrading') throw new OracleError('a failed handshake outside a handshake');
        // nginx closes without a word (nginx 1.22.1, src/mail/).
        this.phase = { kind: 'closed' };
        return;
      case 'auth':
        return this.onAuth(action.outcome);
      case 'backend':
        return this.onBackend(action.result);
      case 'backendQuit':
        return this.onBackendQuit();
      case 'wait':
        return this.onTimer();
    }
  }

  // ---- what the client receives -------------------------------------------------------------

  private send(text: string): void {
    this.segments.push({ text });
  }

  private close(): void {
    this.phase = { kind: 'closed' };
  }

  private greet(): void {
    const { protocol, authMethods, serverName } = this.server;
    if (protocol === 'pop3') {
      // The salt is in the greeting when APOP or CRAM-MD5 may use it (nginx 1.22.1, src/mail/).
      if (authMethods.includes('apop') || authMethods.includes('cram-md5')) {
        this.send('+OK POP3 ready ');
        this.segments.push({ salt: 'plain' });
        this.send('\r\n');
      } else this.send('+OK POP3 ready\r\n');
    } else if (protocol === 'imap') this.send('* OK IMAP4 ready\r\n');
    else if (protocol === 'sieve') this.send(`${this.sieveCapabilities()}OK "ManageSieve ready."\r\n`);
    else this.send(`220 ${serverName} ESMTP ready\r\n`);
  }

  /**
   * ManageSieve's capability lines (RFC 5804 §1.7), in Dovecot's order: IMPLEMENTATION, SIEVE,
   * NOTIFY (with enotify), SASL (empty while TLS is still required), STARTTLS (while offered), VERSION.
   */
  private sieveCapabilities(): string {
    const { capabilities, authMethods } = this.server;
    const mechanisms = [['plain', 'PLAIN'], ['login', 'LOGIN'], ['cram-md5', 'CRAM-MD5'], ['external', 'EXTERNAL']]
      .filter(([method]) => authMethods.includes(method!))
      .map(([, name]) => name!);
    const lines = ['"IMPLEMENTATION" "Postern"', `"SIEVE" "${capabilities.join(' ')}"`];
    if (capabilities.includes('enotify')) lines.push('"NOTIFY" "mailto"');
    lines.push(`"SASL" "${this.tlsRequired ? '' : mechanisms.join(' ')}"`);
    if (this.starttlsAllowed) lines.push('"STARTTLS"');
    lines.push('"VERSION" "1.0"');
    return lines.map((line) => `${line}\r\n`).join('');
  }

  private invalid(tag?: string): string {
    switch (this.server.protocol) {
      case 'pop3':
        return '-ERR invalid command\r\n';
      case 'imap':
        return `${tag ?? '*'} BAD invalid command\r\n`;
      case 'smtp':
        return '500 5.5.1 Invalid command\r\n';
      case 'sieve':
        return `NO "${SIEVE_INVALID}"\r\n`;
    }
  }

  private internalError(): void {
    this.send(
      {
        pop3: '-ERR internal server error\r\n',
        imap: '* BAD internal server error\r\n',
        smtp: '451 4.3.2 Internal server error\r\n',
        sieve: 'BYE (TRYLATER) "Internal server error."\r\n',
      }[this.server.protocol],
    );
    this.close();
  }

  /** `starttls only` before TLS: nothing that carries credentials (ngx_mail_starttls_only). */
  private get tlsRequired(): boolean {
    return this.server.starttls === 'only' && !this.tls;
  }

  private get starttlsAllowed(): boolean {
    return this.server.starttls !== 'off' && !this.tls;
  }

  private pop3Capa(inUserState: boolean): string {
    const { capabilities, authMethods } = this.server;
    const sasl = ['SASL'];
    if (authMethods.includes('plain')) sasl.push('PLAIN', 'LOGIN');
    if (authMethods.includes('cram-md5')) sasl.push('CRAM-MD5');
    if (authMethods.includes('external')) sasl.push('EXTERNAL');
    let lines: string[];
    // ngx_mail_pop3_capa(s, c, stls): after USER the plain list, whatever the TLS state.
    if (!inUserState && this.tlsRequired) lines = [...capabilities.filter((c) => c.toUpperCase() !== 'USER'), 'STLS'];
    else if (!inUserState && this.server.starttls === 'on' && !this.tls) lines = [...capabilities, sasl.join(' '), 'STLS'];
    else lines = [...capabilities, sasl.join(' ')];
    return ['+OK Capability list follows', ...lines, '.'].map((l) => `${l}\r\n`).join('');
  }

  private pop3AuthList(): string {
    const { authMethods } = this.server;
    const lines = ['+OK methods supported:', 'PLAIN', 'LOGIN'];
    if (authMethods.includes('cram-md5')) lines.push('CRAM-MD5');
    if (authMethods.includes('external')) lines.push('EXTERNAL');
    return [...lines, '.'].map((l) => `${l}\r\n`).join('');
  }

  private imapCapability(tag: string): string {
    const { capabilities, authMethods } = this.server;
    const auth = [['plain', 'AUTH=PLAIN'], ['login', 'AUTH=LOGIN'], ['cram-md5', 'AUTH=CRAM-MD5'], ['external', 'AUTH=EXTERNAL']]
      .filter(([method]) => authMethods.includes(method!))
      .map(([, item]) => item!);
    let items: string[];
    if (this.tlsRequired) items = [...capabilities, 'STARTTLS', 'LOGINDISABLED'];
    else if (this.server.starttls === 'on' && !this.tls) items = [...capabilities, ...auth, 'STARTTLS'];
    else items = [...capabilities, ...auth];
    return `* CAPABILITY ${items.join(' ')}\r\n${tag} OK completed\r\n`;
  }

  private smtpEhlo(): string {
    const { capabilities, authMethods, serverName } = this.server;
    const mechanisms = [['plain', 'PLAIN'], ['login', 'LOGIN'], ['cram-md5', 'CRAM-MD5'], ['external', 'EXTERNAL']]
      .filter(([method]) => authMethods.includes(method!))
      .map(([, name]) => name!);
    const items = [serverName, ...capabilities];
    if (!this.tlsRequired && mechanisms.length > 0) items.push(`AUTH ${mechanisms.join(' ')}`);
    if (this.starttlsAllowed) items.push('STARTTLS');
    return items.map((item, i) => `250${i === items.length - 1 ? ' ' : '-'}${item}\r\n`).join('');
  }

  /** A SASL challenge: `+ ` (POP3, IMAP) or `334 ` (SMTP) and its text; ManageSieve's is a quoted string. */
  private challenge(text: string | 'salt'): void {
    const { protocol } = this.server;
    const prefix = protocol === 'smtp' ? '334 ' : protocol === 'sieve' ? '"' : '+ ';
    const suffix = protocol === 'sieve' ? '"\r\n' : '\r\n';
    if (text === 'salt') {
      this.send(prefix);
      this.segments.push({ salt: 'base64' });
      this.send(suffix);
    } else this.send(`${prefix}${text}${suffix}`);
  }

  // ---- client lines -------------------------------------------------------------------------

  private onLiteral(text: string): void {
    if (this.phase.kind !== 'command' || this.server.protocol !== 'imap') throw new OracleError(`literal ${text} outside the IMAP dialogue`);
    if (!/\{\d+\}$/.test(text)) throw new OracleError(`not a literal header: ${text}`);
    // The parser invites the literal before the command is complete (NGX_IMAP_NEXT).
    this.send('+ OK\r\n');
    this.literalPending = true;
  }

  private onLine(text: string): void {
    const { phase } = this;
    if (this.literalPending) throw new OracleError('a line after an unfinished literal (the model never drives one)');
    if (phase.kind === 'greetingDelay') {
      // ngx_mail_smtp_invalid_pipelining: whatever came before the greeting is refused.
      this.send('503 5.5.0 Improper use of SMTP command pipelining\r\n');
      this.close();
      return;
    }
    if (phase.kind !== 'command') throw new OracleError(`a client line while ${phase.kind} (nginx does not read then)`);
    // A line (with its CRLF) longer than the buffer: the invalid reply and a close, not counted.
    // ManageSieve closes with BYE (RFC 5804 §1.3), in Dovecot's words.
    if (text.length + 2 > this.server.bufferSize) {
      if (this.server.protocol === 'sieve') this.send('BYE "Input buffer full, aborting"\r\n');
      else this.send(this.invalid(this.server.protocol === 'imap' ? text.split(' ')[0] : undefined));
      this.close();
      return;
    }
    if (this.mode.kind === 'sasl') return this.onSaslLine(this.mode, this.server.protocol === 'sieve' ? sieveSaslResponse(text) : text);
    switch (this.server.protocol) {
      case 'pop3':
        return this.pop3(text);
      case 'imap':
        return this.imap(text);
      case 'smtp':
        return this.smtp(text);
      case 'sieve':
        return this.sieve(text);
    }
  }

  /** A parse-level invalid command: counted towards max_errors (ngx_mail_read_command). */
  private counted(tag?: string, quit = false): void {
    this.errors += 1;
    this.mode = { kind: 'start' };
    const closing = quit || this.errors >= this.server.maxErrors;
    // ManageSieve says BYE where it closes (RFC 5804 §1.3); Dovecot's words when max_errors is reached.
    if (closing && this.server.protocol === 'sieve') this.send(quit ? `BYE "${SIEVE_INVALID}"\r\n` : 'BYE "Too many invalid MANAGESIEVE commands."\r\n');
    else this.send(this.invalid(tag));
    if (closing) this.close();
  }

  /** A handler-level refusal: the invalid reply, back to the start, not counted. */
  private refused(tag?: string): void {
    this.mode = { kind: 'start' };
    this.send(this.invalid(tag));
  }

  /** Postern's hardening (docs/nginx-migration.md): POP3 credentials with CR, LF or NUL are refused before the auth service. */
  private unsafe(login: string, password: string): boolean {
    if (this.server.protocol === 'sieve') return login.includes('\0');
    return this.server.protocol === 'pop3' && /[\r\n\0]/.test(login + password);
  }

  private authenticate(credentials: Credentials): void {
    if (this.unsafe(credentials.login, credentials.password)) {
      this.refused(this.tag || undefined);
      return;
    }
    this.credentials = credentials;
    this.mode = { kind: 'start' };
    this.phase = { kind: 'authenticating' };
  }

  private pop3(text: string): void {
    const [verb = '', ...args] = text.split(' ');
    const upper = verb.toUpperCase();
    const known = ['USER', 'PASS', 'APOP', 'QUIT', 'CAPA', 'AUTH', 'NOOP', 'STLS'];
    if (verb.length !== 4 || !/^[A-Za-z]+$/.test(verb) || !known.includes(upper)) return this.counted();
    // USER and PASS take the rest of the line, spaces included.
    const rest = text.slice(verb.length + 1);
    if (this.mode.kind === 'user') {
      switch (upper) {
        case 'PASS':
          if (rest === '') return this.refused();
          return this.authenticate({ method: 'plain', login: this.mode.login, password: rest });
        case 'CAPA':
          return this.send(this.pop3Capa(true));
        case 'QUIT':
          this.send('+OK\r\n');
          return this.close();
        case 'NOOP':
          return this.send('+OK\r\n');
        default:
          return this.refused();
      }
    }
    switch (upper) {
      case 'USER':
        if (this.tlsRequired || rest === '') return this.refused();
        this.mode = { kind: 'user', login: rest };
        return this.send('+OK\r\n');
      case 'CAPA':
        return this.send(this.pop3Capa(false));
      case 'APOP':
        if (this.tlsRequired || args.length !== 2 || !this.server.authMethods.includes('apop')) return this.refused();
        return this.authenticate({ method: 'apop', login: args[0]!, password: args[1]! });
      case 'AUTH':
        if (this.tlsRequired) return this.refused();
        if (args.length === 0) return this.send(this.pop3AuthList());
        return this.saslStart(args);
      case 'QUIT':
        this.send('+OK\r\n');
        return this.close();
      case 'NOOP':
        return this.send('+OK\r\n');
      case 'STLS':
        if (!this.starttlsAllowed) return this.refused();
        return this.startTls('+OK\r\n');
      default:
        // PASS before USER.
        return this.refused();
    }
  }

  private imap(text: string): void {
    const [tag = '', verb = '', ...args] = text.split(' ');
    if (!/^[A-Za-z0-9._-]{1,32}$/.test(tag)) return this.counted();
    const known = ['LOGIN', 'LOGOUT', 'CAPABILITY', 'NOOP', 'STARTTLS', 'AUTHENTICATE'];
    // An invalid command whose line ends with a non-synchronising literal also ends the session.
    if (!known.includes(verb.toUpperCase())) return this.counted(tag, /\{\d+\+\}$/.test(text));
    switch (verb.toUpperCase()) {
      case 'LOGIN':
        if (this.tlsRequired || args.length !== 2 || args[0] === '') return this.refused(tag);
        this.tag = tag;
        return this.authenticate({ method: 'plain', login: args[0]!, password: args[1]! });
      case 'LOGOUT':
        this.send(`* BYE\r\n${tag} OK completed\r\n`);
        return this.close();
      case 'CAPABILITY':
        return this.send(this.imapCapability(tag));
      case 'NOOP':
        return this.send(`${tag} OK completed\r\n`);
      case 'STARTTLS':
        if (!this.starttlsAllowed) return this.refused(tag);
        return this.startTls(`${tag} OK completed\r\n`);
      default:
        if (this.tlsRequired) return this.refused(tag);
        this.tag = tag;
        return this.saslStart(args);
    }
  }

  private smtp(text: string): void {
    const [verb = '', ...args] = text.split(' ');
    const upper = verb.toUpperCase();
    const known = ['HELO', 'EHLO', 'AUTH', 'QUIT', 'NOOP', 'MAIL', 'RSET', 'RCPT', 'VRFY', 'EXPN', 'HELP', 'STARTTLS'];
    if (!/^[A-Za-z]+$/.test(verb) || !known.includes(upper)) return this.counted();
    const noneEnabled = this.server.authMethods.includes('none');
    switch (upper) {
      case 'HELO':
      case 'EHLO':
        if (args.length !== 1) return this.send('501 5.5.4 Invalid argument\r\n');
        this.mailFrom = false;
        return this.send(upper === 'HELO' ? `250 ${this.server.serverName}\r\n` : this.smtpEhlo());
      case 'AUTH':
        if (this.tlsRequired) return this.refused();
        if (args.length === 0) return this.send('501 5.5.4 Invalid argument\r\n');
        return this.saslStart(args);
      case 'QUIT':
        this.send('221 2.0.0 Bye\r\n');
        return this.close();
      case 'NOOP':
        return this.send('250 2.0.0 OK\r\n');
      case 'RSET':
        this.mailFrom = false;
        return this.send('250 2.0.0 OK\r\n');
      case 'MAIL':
        // ngx_mail_smtp_mail: only with `smtp_auth none`; one MAIL per transaction.
        if (!noneEnabled) return this.send('530 5.7.1 Authentication required\r\n');
        if (this.mailFrom) return this.send('503 5.5.1 Bad sequence of commands\r\n');
        if (args.length === 0) return this.send('501 5.5.4 Invalid argument\r\n');
        this.mailFrom = true;
        return this.send('250 2.0.0 OK\r\n');
      case 'RCPT':
        if (!this.mailFrom) return this.send('503 5.5.1 Bad sequence of commands\r\n');
        if (args.length === 0) return this.send('501 5.5.4 Invalid argument\r\n');
        return this.authenticate({ method: 'none', login: '', password: '' });
      case 'STARTTLS':
        if (!this.starttlsAllowed) return this.refused();
        // RFC 3207: everything learnt before STARTTLS is forgotten.
        this.mailFrom = false;
        return this.startTls('220 2.0.0 Start TLS\r\n');
      default:
        // VRFY, EXPN, HELP: parsed, then refused (not counted).
        return this.refused();
    }
  }

  /**
   * ManageSieve before login (RFC 5804 §2): a verb (letters) and up to two strings, quoted or
   * literal (`{N+}` CRLF bytes); anything else is an invalid command, counted. An unknown verb
   * whose line announces a literal closes the connection (its bytes must never be read as commands).
   */
  private sieve(text: string): void {
    const parsed = parseSieveLine(text);
    if (parsed === null) return this.counted(undefined, /\{\d+\+?\}$/.test(text));
    const { verb, strings } = parsed;
    switch (verb) {
      case 'CAPABILITY':
        if (strings.length > 0) return this.counted();
        return this.send(`${this.sieveCapabilities()}OK "Capability completed."\r\n`);
      case 'NOOP':
        if (strings.length > 1) return this.counted();
        return this.send(strings.length === 0 ? 'OK "NOOP Completed"\r\n' : `OK (TAG "${strings[0]}") "Done"\r\n`);
      case 'LOGOUT':
        if (strings.length > 0) return this.counted();
        this.send('OK "Logout completed."\r\n');
        return this.close();
      case 'STARTTLS':
        if (strings.length > 0) return this.counted();
        if (!this.starttlsAllowed) return this.refused();
        return this.startTls('OK "Begin TLS negotiation now."\r\n');
      case 'AUTHENTICATE':
        if (strings.length === 0) return this.counted();
        // RFC 5804 §1.3: the response code says why.
        if (this.tlsRequired) return this.send('NO (ENCRYPT-NEEDED) "Plaintext authentication disallowed on non-secure (SSL/TLS) connections."\r\n');
        return this.saslStart(strings);
      default:
        return this.counted(undefined, /\{\d+\+?\}$/.test(text));
    }
  }

  /** `AUTH`/`AUTHENTICATE <mechanism> [initial]` (ngx_mail_auth_parse and the protocol's auth handler). */
  private saslStart(args: string[]): void {
    const tag = this.server.protocol === 'imap' ? this.tag : undefined;
    const [mechanism = '', initial, ...extra] = args;
    const enabled = (method: string) => this.server.authMethods.includes(method);
    if (extra.length > 0) return this.refused(tag);
    switch (mechanism.toUpperCase()) {
      case 'PLAIN':
        if (initial === undefined) {
          this.mode = { kind: 'sasl', step: 'plain' };
          return this.challenge('');
        }
        return this.plain(initial);
      case 'LOGIN':
        if (initial === undefined) {
          this.mode = { kind: 'sasl', step: 'loginUser' };
          return this.challenge('VXNlcm5hbWU6');
        }
        {
          const login = decode64(initial);
          if (login === null) return this.refused(tag);
          this.mode = { kind: 'sasl', step: 'loginPassword', login };
          return this.challenge('UGFzc3dvcmQ6');
        }
      case 'CRAM-MD5':
        if (!enabled('cram-md5') || initial !== undefined) return this.refused(tag);
        this.mode = { kind: 'sasl', step: 'cram-md5' };
        return this.challenge('salt');
      case 'EXTERNAL':
        if (!enabled('external')) return this.refused(tag);
        if (initial === undefined) {
          this.mode = { kind: 'sasl', step: 'external' };
          return this.challenge('VXNlcm5hbWU6');
        }
        return this.external(initial);
      default:
        return this.refused(tag);
    }
  }

  private plain(encoded: string): void {
    const tag = this.server.protocol === 'imap' ? this.tag : undefined;
    const decoded = decode64(encoded);
    // authzid NUL authcid NUL password; both NULs needed (ngx_mail_auth_plain).
    const first = decoded?.indexOf('\0') ?? -1;
    const second = first < 0 ? -1 : decoded!.indexOf('\0', first + 1);
    if (decoded === null || second < 0) return this.refused(tag);
    this.authenticate({ method: 'plain', login: decoded.slice(first + 1, second), password: decoded.slice(second + 1) });
  }

  private external(encoded: string): void {
    const tag = this.server.protocol === 'imap' ? this.tag : undefined;
    const login = decode64(encoded);
    if (login === null) return this.refused(tag);
    this.authenticate({ method: 'external', login, password: '' });
  }

  private onSaslLine(mode: Extract<Mode, { kind: 'sasl' }>, text: string): void {
    const tag = this.server.protocol === 'imap' ? this.tag : undefined;
    switch (mode.step) {
      case 'plain':
        return this.plain(text);
      case 'external':
        return this.external(text);
      case 'loginUser': {
        const login = decode64(text);
        if (login === null) {
          // IMAP: untagged and unstarred (nginx quirk, src/mail/ngx_mail_imap_module.c).
          this.mode = { kind: 'start' };
          return this.send(this.server.protocol === 'imap' ? 'BAD invalid command\r\n' : this.invalid());
        }
        this.mode = { kind: 'sasl', step: 'loginPassword', login };
        return this.challenge('UGFzc3dvcmQ6');
      }
      case 'loginPassword': {
        const password = decode64(text);
        if (password === null) return this.refused(tag);
        return this.authenticate({ method: 'plain', login: mode.login ?? '', password });
      }
      case 'cram-md5': {
        const decoded = decode64(text);
        const space = decoded?.indexOf(' ') ?? -1;
        if (decoded === null || space < 0 || decoded.length - space - 1 !== 32) return this.refused(tag);
        return this.authenticate({ method: 'cram-md5', login: decoded.slice(0, space), password: decoded.slice(space + 1) });
      }
    }
  }

  private startTls(reply: string): void {
    this.send(reply);
    this.mode = { kind: 'start' };
    this.phase = { kind: 'upgrading' };
  }

  private onHandshake(): void {
    const { phase } = this;
    if (phase.kind === 'connecting') {
      this.tls = true;
      if (this.server.greetingDelay) this.phase = { kind: 'greetingDelay' };
      else {
        this.phase = { kind: 'command' };
        this.greet();
      }
      return;
    }
    if (phase.kind !== 'upgrading') throw new OracleError('a TLS handshake without STARTTLS');
    // No new greeting after STARTTLS: the server waits for the next command (nginx 1.22.1, src/mail/).
    // ManageSieve speaks first again: its capabilities as they are over TLS (RFC 5804 §2.2).
    this.tls = true;
    this.phase = { kind: 'command' };
    if (this.server.protocol === 'sieve') this.send(`${this.sieveCapabilities()}OK "TLS negotiation successful."\r\n`);
  }

  // ---- the auth service, the backend, timers ------------------------------------------------

  private onAuth(outcome: AuthOutcome): void {
    if (this.phase.kind !== 'authenticating') throw new OracleError(`the auth service answered while ${this.phase.kind}: no credentials were complete`);
    const credentials = this.credentials!;
    const { protocol } = this.server;
    switch (outcome.status) {
      case 'ok': {
        const user = outcome.user ?? credentials.login;
        // The backend password: Auth-Pass, or the client's own plain password (never a digest).
        const password = outcome.password?.reveal() ?? (credentials.method === 'plain' && credentials.password !== '' ? credentials.password : null);
        if (protocol !== 'smtp' && password === null) return this.internalError();
        this.phase = { kind: 'backend', user, password, method: credentials.method };
        return;
      }
      case 'fail': {
        const reply =
          protocol === 'pop3'
            ? `-ERR ${outcome.text}\r\n`
            : protocol === 'imap'
              ? `${this.tag} NO ${outcome.text}\r\n`
              : protocol === 'sieve'
                ? `NO "${outcome.text}"\r\n`
                : `${outcome.errorCode ?? '535 5.7.0'} ${outcome.text}\r\n`;
        this.credentials = null;
        if ((outcome.waitSeconds ?? 0) > 0) {
          this.phase = { kind: 'authFailed', reply };
          return;
        }
        this.send(reply);
        return this.close();
      }
      case 'wait':
        this.phase = { kind: 'authRetry' };
        return;
      case 'error':
        return this.internalError();
    }
  }

  private onBackend(result: 'ready' | 'refused' | 'rejects'): void {
    const { phase } = this;
    if (phase.kind !== 'backend') throw new OracleError(`a backend result while ${phase.kind}`);
    const { protocol } = this.server;
    if (result === 'refused') return this.internalError();
    if (result === 'rejects') {
      // proxy_pass_error_message on: the backend's refusal verbatim, then the close. The driver
      // makes POP3/IMAP refuse a wrong password and SMTP greet with 554.
      this.send(
        {
          pop3: '-ERR unknown command PASS\r\n',
          imap: `${this.tag} NO bad login\r\n`,
          smtp: '554 5.3.2 fake smtp server refuses service\r\n',
          sieve: 'NO "Authentication failed."\r\n',
        }[protocol],
      );
      return this.close();
    }
    if (protocol !== 'smtp' && (phase.user !== BACKEND_USER || phase.password !== BACKEND_PASSWORD)) {
      throw new OracleError(`the backend would refuse ${JSON.stringify(phase.user)} / ${JSON.stringify(phase.password)}, yet the path has it accept`);
    }
    // POP3/IMAP/ManageSieve: the backend's reply to the login; SMTP: 235 from the proxy, or the backend's RCPT reply.
    if (protocol === 'pop3') this.send('+OK pass ok\r\n');
    else if (protocol === 'imap') this.send(`${this.tag} OK login ok\r\n`);
    else if (protocol === 'sieve') this.send('OK "Logged in."\r\n');
    else this.send(phase.method === 'none' ? '250 2.1.0 Ok\r\n' : '235 2.0.0 OK\r\n');
    this.phase = { kind: 'relaying' };
  }

  /** The client logs out through the relay; the fake backend answers and hangs up. */
  private onBackendQuit(): void {
    if (this.phase.kind !== 'relaying') throw new OracleError(`a relayed LOGOUT/QUIT while ${this.phase.kind}`);
    const { protocol } = this.server;
    this.send({ pop3: '+OK quit ok\r\n', imap: '* BYE\r\nz OK logout ok\r\n', smtp: '221 2.0.0 bye\r\n', sieve: 'OK "Logout completed."\r\n' }[protocol]);
    this.close();
  }

  /** The timer that fires first where the dialogue is (the driver shortens `timeout` and `auth_http_timeout` for timer paths). */
  private onTimer(): void {
    const { phase } = this;
    switch (phase.kind) {
      case 'greetingDelay':
        this.phase = { kind: 'command' };
        return this.greet();
      case 'connecting':
      case 'command':
      case 'upgrading':
        // `timeout` before authentication: a silent close.
        return this.close();
      case 'authenticating':
        // auth_http_timeout.
        return this.internalError();
      case 'authFailed':
        // Auth-Wait is over: the failure reply, and the dialogue starts over (nginx keeps MAIL FROM).
        this.send(phase.reply);
        this.mode = { kind: 'start' };
        this.phase = { kind: 'command' };
        return;
      case 'authRetry':
        this.phase = { kind: 'authenticating' };
        return;
      case 'backend':
        // `timeout` guards the backend login: the internal-error line.
        return this.internalError();
      case 'relaying':
        throw new OracleError('a timer while relaying (proxy_timeout is 24h here)');
    }
  }
}

/**
 * Whether `received` is `segments` (`whole`) or begins with them; salts must all be the one
 * `<RANDOM.TIME@server_name>` of the connection, plain or in base64.
 */
export function matches(segments: readonly Segment[], received: string, serverName: string, whole: boolean): boolean {
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const source = segments.map((s) => ('text' in s ? escape(s.text) : s.salt === 'plain' ? '(<\\d+\\.\\d+@[^>]+>)' : '([A-Za-z0-9+/]+={0,2})')).join('');
  const match = new RegExp(`^${source}${whole ? '$' : ''}`).exec(received);
  if (match === null) return false;
  const salts = segments.filter((s) => !('text' in s)).map((s, i) => (s as { salt: string }).salt === 'plain' ? match[i + 1]! : Buffer.from(match[i + 1]!, 'base64').toString('latin1'));
  const salt = new RegExp(`^<\\d+\\.\\d+@${escape(serverName)}>$`);
  return salts.every((s) => salt.test(s) && s === salts[0]);
}

/** The expected transcript as text (salts as `<SALT>` / `<B64SALT>`), for failure messages. */
export function render(segments: readonly Segment[]): string {
  return segments.map((s) => ('text' in s ? s.text : s.salt === 'plain' ? '<SALT>' : '<B64SALT>')).join('');
}
