/**
 * The Postern extension directives of `protocol sieve;` (ManageSieve, RFC 5804; nginx has no
 * such protocol), shaped like nginx's `imap_auth`, `imap_capabilities` and `imap_client_buffer`.
 * See docs/extensions.md.
 */
import type { ApplyContext, DirectiveSpec } from './directive-spec.js';
import { parseSize } from './values.js';

const NOT_NGINX = 'A Postern extension, not an nginx directive: nginx refuses it (`unknown directive`). See docs/extensions.md.';

/** Dovecot Pigeonhole 2.3's default `managesieve_sieve_capability` (Debian 12), as clients see it there. */
export const DOVECOT_SIEVE_EXTENSIONS =
  'fileinto reject envelope encoded-character vacation subaddress comparator-i;ascii-numeric relational regex imap4flags copy include ' +
  'variables body enotify environment mailbox date index ihave duplicate mime foreverypart extracttext';

/** Each argument one Sieve extension name: printable, no space (the capability is a space-separated list). */
function extensions(ctx: ApplyContext): string[] {
  for (const word of ctx.args) {
    if (!/^[\x21-\x7e]+$/.test(word)) ctx.fail(`invalid value "${word}" in "${ctx.spec.name}" directive`);
  }
  return [...ctx.args];
}

const size = (ctx: ApplyContext): number => parseSize(ctx.args[0] ?? '') ?? ctx.failDirective('invalid value');

export const sieveDirectives: readonly DirectiveSpec[] = [
  { name: 'postern_sieve_auth', contexts: ['mail', 'server'], arity: '1more', syntax: 'method ...', default: 'plain', store: 'bitmask',
    keywords: ['plain', 'login', 'cram-md5', 'external'], merge: 'inherit', supported: true, postern: NOT_NGINX,
    description: 'Postern extension: SASL mechanisms listed to ManageSieve clients (`plain login cram-md5 external`); AUTHENTICATE PLAIN and LOGIN are always accepted, as with `imap_auth`.' },
  { name: 'postern_sieve_capabilities', contexts: ['mail', 'server'], arity: '1more', syntax: 'extension ...', default: DOVECOT_SIEVE_EXTENSIONS,
    defaultText: "Dovecot's default list (`fileinto reject envelope ... extracttext`)", store: 'append', parse: extensions, merge: 'replace', supported: true,
    postern: NOT_NGINX,
    description: 'Postern extension: the Sieve extensions in the ManageSieve `"SIEVE"` capability before login (with `enotify`, `"NOTIFY" "mailto"` too); list the backend\'s, which clients see after login.' },
  { name: 'postern_sieve_client_buffer', contexts: ['mail', 'server'], arity: 'take1', syntax: 'size', default: '4k', store: 'once', parse: size,
    merge: 'inherit', supported: true, postern: NOT_NGINX, description: 'Postern extension: largest ManageSieve command before login, literals included.' },
];
