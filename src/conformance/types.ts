/**
 * Types of the property-based conformance suite: options, scripts (what the client sends),
 * executions (what came back) and the report.
 */

/** The protocols the suite has a grammar for (ManageSieve: RFC 5804, for `protocol sieve;` servers). */
export const CONFORMANCE_PROTOCOLS = ['pop3', 'imap', 'smtp', 'sieve'] as const;
export type Protocol = (typeof CONFORMANCE_PROTOCOLS)[number];
export const isConformanceProtocol = (name: string): name is Protocol => (CONFORMANCE_PROTOCOLS as readonly string[]).includes(name);
export type TlsMode = 'none' | 'starttls' | 'implicit';
export type StarttlsMode = 'on' | 'off' | 'only';

export interface Credentials {
  user: string;
  password: string;
}

export const PROPERTY_IDS = [
  'one-reply-per-command',
  'reply-grammar',
  'no-reply-across-tls',
  'starttls-only-refuses-auth',
  'split-invariance',
  'max-errors-closes',
  'quit-closes',
  'login-reaches-backend',
] as const;
export type PropertyId = (typeof PROPERTY_IDS)[number];

export type ProgressEvent =
  | { type: 'property-start'; property: PropertyId; number: number; runs: number }
  | { type: 'run'; property: PropertyId; run: number; ok: boolean }
  | { type: 'property-end'; property: PropertyId; result: PropertyResult };

export interface ConformanceOptions {
  /** The mail proxy under test. */
  target: { host: string; port: number; servername?: string };
  protocol: Protocol;
  /** How the listener speaks TLS: plaintext only, STARTTLS/STLS offered, or implicit TLS. */
  tls: TlsMode;
  /** The listener's `starttls` setting (default: `on` for tls `starttls`, else `off`). */
  starttlsMode?: StarttlsMode;
  /** Good logins that reach a backend (property 8 is skipped without them). */
  users?: Credentials[];
  /** Runs per property (default 25). */
  runs?: number;
  /** fast-check seed (default: random); printed in the report. */
  seed?: number;
  /** fast-check replay path of a counterexample (use together with `properties` and `seed`). */
  path?: string;
  /** Only these properties (ids or numbers 1-8); default all. */
  properties?: Array<PropertyId | number>;
  /** Upper bound for one run (one connection), default 10000 ms. */
  timeoutMs?: number;
  /** Wait for one reply at most this long (default min(5000, timeoutMs)). */
  replyTimeoutMs?: number;
  /** How long to wait for the server to close after QUIT or the last allowed error (default 2000 ms). */
  closeTimeoutMs?: number;
  /** The server's `max_errors` (default 5). */
  maxErrors?: number;
  /** Bytes the client pipelines at most before authentication (default: POP3 120, else 1000). */
  pipelineBudget?: number;
  /**
   * Number of requests the auth service has seen so far (a test auth server hook); property 4
   * then also checks that no auth request was made before TLS.
   */
  authProbe?: () => number | Promise<number>;
  /** Property 8: the successful login reply must also match this (e.g. the backend's own text). */
  backendLoginReply?: RegExp;
  /** Extra transcript normalisation for property 5 (applied after the built-in rules). */
  normalize?: (line: string) => string;
  /**
   * Time budget per property for the search and shrinking (default 60000 ms). A failure found is
   * kept; a property stopped by it before `runs` runs is `incomplete`, never `passed`.
   */
  propertyBudgetMs?: number;
  /**
   * Known nginx quirks (src/conformance/quirks.ts) fail their property too (default false: they
   * are counted and reported as known nginx quirks, and only other problems fail).
   */
  strict?: boolean;
  onProgress?: (event: ProgressEvent) => void;
}

/** Options with defaults applied. */
export interface Context {
  target: { host: string; port: number; servername?: string };
  protocol: Protocol;
  tls: TlsMode;
  starttlsMode: StarttlsMode;
  users: Credentials[];
  runs: number;
  seed: number;
  path: string | undefined;
  timeoutMs: number;
  replyTimeoutMs: number;
  closeTimeoutMs: number;
  quietMs: number;
  chunkGapMs: number;
  maxErrors: number;
  pipelineBudget: number;
  authProbe: (() => number | Promise<number>) | undefined;
  backendLoginReply: RegExp | undefined;
  normalize: ((line: string) => string) | undefined;
  propertyBudgetMs: number;
  strict: boolean;
}

// ---------------------------------------------------------------------------------------
// Scripts

/** A line whose text is computed from the reply to the previous line (CRAM-MD5 response). */
export interface DynamicLine {
  kind: 'cram-md5';
  user: string;
  password: string;
}

/** One line the client sends. Strings are binary strings (latin1, one char per byte). */
export interface ClientLine {
  /** Bytes without the terminator. For dynamic lines: a placeholder of the same role. */
  text: string;
  eol: '\r\n' | '\n';
  /** A reply is expected for this line (false only inside a LITERAL+ command). */
  awaitsReply: boolean;
  /** The client must see this line's reply before it sends anything else (SASL step, `{N}` literal). */
  mustWait: boolean;
  dynamic?: DynamicLine;
  /** Shown in transcripts instead of `text` (long or computed lines). */
  label?: string;
}

export type CommandKind =
  | 'noop'
  | 'capability'
  | 'starttls'
  | 'quit'
  | 'auth'
  | 'login'
  | 'followup'
  | 'bad'
  | 'malformed'
  | 'overlong'
  | 'other';

export interface Command {
  kind: CommandKind;
  lines: ClientLine[];
  /** IMAP: the tag this command's completion carries ('' = the server cannot see a tag). */
  tag?: string;
  /** auth/login: whether the credentials are the good ones. */
  credentials?: 'good' | 'bad' | 'malformed' | 'none';
  /** STARTTLS only (property 3): lines sent in the same write right behind it. */
  injected?: ClientLine[];
}

export type ScriptEnd =
  | { kind: 'none' }
  /** Send `partial` (an incomplete line, may be empty), then close (`abort`: RST-like destroy, else FIN). */
  | { kind: 'disconnect'; partial: string; abort: boolean };

export interface Script {
  commands: Command[];
  /** Per flattened line: send the next line in the same burst (ignored after a mustWait line). */
  pipeline: boolean[];
  /** Per flattened line: cut points inside the line's bytes, each in [0, 9999] (fraction x 10000). */
  splits: number[][];
  end: ScriptEnd;
  /** After the last reply, wait for the server to close (QUIT, max_errors). */
  awaitClose?: boolean;
}

// ---------------------------------------------------------------------------------------
// Executions

export interface ReceivedLine {
  text: string;
  /** '\r\n', '\n' or '' (a partial line at EOF). */
  eol: string;
  /** Sequence number of the receive event that brought its first byte. */
  seq: number;
  tls: boolean;
}

/** A client line that expects a reply, with what came back. */
export interface Exchange {
  command: number;
  line: ClientLine;
  /** The line as sent (dynamic lines resolved). */
  sent: string;
  /** Sequence number of the send event that completed the line; -1 if never fully sent. */
  sentSeq: number;
  /** Sequence number of the first send event carrying bytes of the line. */
  startSeq: number;
  /**
   * Sequence number of the send event that carried the end of the line's first word and the
   * space after it (the whole line if it has no space): a server reading word by word has its
   * verb from then on; -1 if never sent.
   */
  verbSeq: number;
  reply: ReceivedLine[];
  /** The reply was complete per the protocol grammar. */
  complete: boolean;
}

export type Note =
  | { seq: number; kind: 'tls'; text: string }
  | { seq: number; kind: 'tls-failed'; text: string }
  | { seq: number; kind: 'closed'; text: string }
  | { seq: number; kind: 'timeout'; text: string }
  | { seq: number; kind: 'write-error'; text: string }
  | { seq: number; kind: 'client-close'; text: string };

export interface Execution {
  greeting: ReceivedLine[];
  greetingComplete: boolean;
  exchanges: Exchange[];
  /** Lines that belong to no command: surplus replies, data after STARTTLS's reply, ... */
  extra: Array<ReceivedLine & { where: string }>;
  /** The server closed the connection (EOF or reset) before the client did. */
  serverClosed: boolean;
  notes: Note[];
  /** Chronological transcript with C:/S:/*: prefixes. */
  transcript: string[];
  /** The run was cut short by its time budget. */
  timedOut: boolean;
}

// ---------------------------------------------------------------------------------------
// Report

export interface PropertyFailure {
  message: string;
  /**
   * The counterexample classes of the problems (`problemClass`: each message with its quoted
   * values and numbers blanked), sorted and unique: what two servers' failures are compared by.
   */
  classes: string[];
  transcript: string[];
  seed: number;
  path: string;
  shrinks: number;
}

/** How often a known nginx quirk (src/conformance/quirks.ts) was seen while a property ran. */
export interface QuirkTally {
  /** The quirk's class, e.g. `imap-empty-tag-echoed`. */
  id: string;
  title: string;
  reference: string;
  /** Runs of the search in which it was seen (shrinking runs are not counted). */
  runs: number;
  /** Reply lines that were it, over those runs. */
  occurrences: number;
  /** The first occurrence's problem text. */
  example: string;
}

export interface PropertyResult {
  id: PropertyId;
  number: number;
  title: string;
  /**
   * `incomplete`: neither a counterexample nor the asked number of runs (stopped by
   * `propertyBudgetMs`); it is not a pass.
   */
  status: 'passed' | 'failed' | 'skipped' | 'incomplete';
  skipReason?: string;
  /** Why the property is incomplete. */
  incompleteReason?: string;
  /** Runs made (for a failure: up to and including the first failing one). */
  runs: number;
  durationMs: number;
  failure?: PropertyFailure;
  /** The search was cut by `propertyBudgetMs` before reaching `runs`. */
  interrupted?: boolean;
  /** Known nginx quirks seen and tolerated (absent when none was seen, or with `strict`). */
  quirks?: QuirkTally[];
}

export interface ConformanceReport {
  target: { host: string; port: number };
  protocol: Protocol;
  tls: TlsMode;
  starttlsMode: StarttlsMode;
  seed: number;
  runsPerProperty: number;
  results: PropertyResult[];
  passed: number;
  failed: number;
  skipped: number;
  incomplete: number;
  /** Known nginx quirks were tolerated (false with `strict`). */
  quirksTolerated: boolean;
  durationMs: number;
}
