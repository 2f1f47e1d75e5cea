/**
 * Normalisation of server lines for property 5: values that legitimately change between two
 * connections (salts, timestamps, timings, session ids) become placeholders.
 */

const NGINX_SALT = /<\d+\.\d+@[^<>\s]*>/g;
const DOVECOT_APOP = /<[0-9a-f]+\.[0-9a-f]+\.[0-9a-f]+\.[0-9A-Za-z+/=]+@[^<>\s]*>/g;
const B64_TOKEN = /(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])/g;
const MONTHS = 'Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec';

const RULES: Array<[RegExp, string]> = [
  [new RegExp(`(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?\\d{1,2} (?:${MONTHS}) \\d{4} \\d{2}:\\d{2}(?::\\d{2})? [+-]\\d{4}(?: \\([A-Z]+\\))?`, 'g'), '<DATE>'],
  [new RegExp(`\\d{1,2}-(?:${MONTHS})-\\d{4} \\d{2}:\\d{2}:\\d{2} [+-]\\d{4}`, 'g'), '<DATE>'],
  [/\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?/g, '<DATE>'],
  // Dovecot command timings: "(0.001 + 0.000 + 0.002 secs)."
  [/ \(\d+\.\d+(?: \+ \d+\.\d+)* secs\)/g, ' (<TIMING>)'],
  [/session=<[^>]*>/g, 'session=<SID>'],
  [/\bUIDVALIDITY \d+/g, 'UIDVALIDITY <N>'],
  [/\bUIDNEXT \d+/g, 'UIDNEXT <N>'],
];

function saltLike(token: string): boolean {
  if (token.length % 4 !== 0) return false;
  const decoded = Buffer.from(token, 'base64').toString('latin1');
  return /^<[^<>\s]+@[^<>\s]*>$/.test(decoded);
}

/** Normalises one line; `extra` (the caller's hook) runs last. */
export function normalizeLine(line: string, extra?: (line: string) => string): string {
  let out = line.replace(NGINX_SALT, '<SALT>').replace(DOVECOT_APOP, '<SALT>');
  out = out.replace(B64_TOKEN, (t) => (saltLike(t) ? '<B64SALT>' : t));
  for (const [re, r] of RULES) out = out.replace(re, r);
  return extra ? extra(out) : out;
}
