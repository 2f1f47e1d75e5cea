/**
 * Normalisation of transcripts for differential comparison (nginx vs Postern, or runs
 * against different backends). Every rule replaces a volatile token with a stable
 * placeholder; apply the same options to both sides, then compare with `diffLines`.
 */

export interface NormalizeOptions {
  /** Host names to replace by `HOST` (e.g. the server_name, os.hostname()). */
  hosts?: string[];
  /** Port numbers to replace by `PORT` (only when written as host:port or `port N`). */
  ports?: number[];
  /** Replace nginx/Dovecot APOP and CRAM-MD5 salts and their base64 (default true). */
  salts?: boolean;
  /** Replace dates/times (RFC 5322, IMAP INTERNALDATE, ISO 8601, nginx log stamps) (default true). */
  timestamps?: boolean;
  /** Replace the contents of Dovecot's CAPABILITY lists / response codes (default false). */
  capabilities?: boolean;
  /** Replace Dovecot session ids, pids and UIDVALIDITY/UIDL values (default true). */
  dovecot?: boolean;
  /** Extra [pattern, replacement] rules applied last. */
  extra?: Array<[RegExp, string]>;
}

/** nginx salt: `<RANDOM.TIME@server_name>`; Dovecot APOP: `<hex.hex.hex.hex@host>`. */
const NGINX_SALT = /<\d+\.\d+@[^<>\s]*>/g;
const DOVECOT_APOP = /<[0-9a-f]+\.[0-9a-f]+\.[0-9a-f]+\.[0-9A-Za-z+/=]+@[^<>\s]*>/g;
const B64_TOKEN = /(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])/g;

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function looksLikeSaltB64(token: string): boolean {
  if (token.length % 4 !== 0) return false;
  const decoded = Buffer.from(token, 'base64').toString('latin1');
  return /^<\d+\.\d+@[^<>\s]*>$/.test(decoded) || /^<[0-9a-f]+\.[0-9a-f]+\.[0-9a-f]+\.[^<>\s]+@[^<>\s]*>$/.test(decoded);
}

const MONTHS = 'Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec';
const DAYS = 'Mon|Tue|Wed|Thu|Fri|Sat|Sun';
const TIMESTAMP_RULES: Array<[RegExp, string]> = [
  // RFC 5322: "Mon, 01 Jan 2024 10:00:00 +0000"
  [new RegExp(`(?:(?:${DAYS}), )?\\d{1,2} (?:${MONTHS}) \\d{4} \\d{2}:\\d{2}(?::\\d{2})? [+-]\\d{4}(?: \\([A-Z]+\\))?`, 'g'), '<DATE>'],
  // IMAP INTERNALDATE: "01-Jan-2024 10:00:00 +0000"
  [new RegExp(`\\d{1,2}-(?:${MONTHS})-\\d{4} \\d{2}:\\d{2}:\\d{2} [+-]\\d{4}`, 'g'), '<DATE>'],
  // ISO 8601
  [/\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?/g, '<DATE>'],
  // nginx error.log: "2024/01/01 10:00:00"
  [/\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}/g, '<DATE>'],
];

const DOVECOT_RULES: Array<[RegExp, string]> = [
  [/session=<[^>]*>/g, 'session=<SID>'],
  // Dovecot appends command timings to tagged replies: "(0.001 + 0.000 + 0.002 secs)."
  [/ \(\d+\.\d+(?: \+ \d+\.\d+)* secs\)/g, ' (<TIMING>)'],
  [/\bUIDVALIDITY \d+/g, 'UIDVALIDITY <N>'],
  [/\bUIDNEXT \d+/g, 'UIDNEXT <N>'],
  [/\bMODSEQ \(\d+\)/g, 'MODSEQ (<N>)'],
  [/\bHIGHESTMODSEQ \d+/g, 'HIGHESTMODSEQ <N>'],
  [/\b(imap|pop3|imap-login|pop3-login|auth)\(([^)]*)\)<\d+><[^>]*>/g, '$1($2)<PID><SID>'],
  // POP3 UIDL lines "1 000000017e5a2b3c"
  [/^(\+OK )?(\d+) [0-9A-Fa-f]{16}$/gm, '$1$2 <UIDL>'],
];

/** Normalises one text (a line or a whole transcript). */
export function normalize(text: string, opts: NormalizeOptions = {}): string {
  let out = text;
  if (opts.salts ?? true) {
    out = out.replace(NGINX_SALT, '<SALT>').replace(DOVECOT_APOP, '<SALT>');
    out = out.replace(B64_TOKEN, (tok) => (looksLikeSaltB64(tok) ? '<B64SALT>' : tok));
  }
  if (opts.timestamps ?? true) for (const [re, r] of TIMESTAMP_RULES) out = out.replace(re, r);
  if (opts.dovecot ?? true) for (const [re, r] of DOVECOT_RULES) out = out.replace(re, r);
  if (opts.capabilities) {
    out = out.replace(/\[CAPABILITY [^\]]*\]/g, '[CAPABILITY <CAPS>]');
    out = out.replace(/^(\S+: )?\* CAPABILITY .*$/gm, '$1* CAPABILITY <CAPS>');
  }
  for (const h of [...(opts.hosts ?? [])].sort((a, b) => b.length - a.length)) {
    if (h) out = out.replace(new RegExp(`(?<![A-Za-z0-9-])${escapeRe(h)}(?![A-Za-z0-9-])`, 'g'), 'HOST');
  }
  for (const p of opts.ports ?? []) {
    out = out.replace(new RegExp(`(:|\\bport )${p}(?!\\d)`, 'g'), '$1PORT');
  }
  for (const [re, r] of opts.extra ?? []) out = out.replace(re, r);
  return out;
}

/** Normalises each line of a transcript. */
export function normalizeLines(lines: string[], opts: NormalizeOptions = {}): string[] {
  return lines.map((l) => normalize(l, opts));
}

export interface LineDiff {
  index: number;
  left: string | undefined;
  right: string | undefined;
}

/** Line-by-line differences (after normalisation with the same options). */
export function diffLines(left: string[], right: string[], opts?: NormalizeOptions): LineDiff[] {
  const a = opts ? normalizeLines(left, opts) : left;
  const b = opts ? normalizeLines(right, opts) : right;
  const out: LineDiff[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) out.push({ index: i, left: a[i], right: b[i] });
  }
  return out;
}

/** Human-readable report of `diffLines` (empty string when equal). */
export function formatDiff(diffs: LineDiff[], names: [string, string] = ['nginx', 'postern']): string {
  return diffs
    .map((d) => `#${d.index}\n  ${names[0]}: ${JSON.stringify(d.left)}\n  ${names[1]}: ${JSON.stringify(d.right)}`)
    .join('\n');
}
