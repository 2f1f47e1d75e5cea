/**
 * The Postern extension `postern_ssl_sni_certificate name certificate key;`: on TLS listeners of
 * a server, a client that sends SNI with a matching name gets this certificate instead of the
 * server's `ssl_certificate`. nginx's mail proxy has no SNI. See docs/extensions.md.
 */
import { configPath, type ApplyContext, type DirectiveSpec } from './directive-spec.js';
import { normaliseServerName } from '../net/sni.js';
import type { SniCertificate } from './types.js';

function sniCertificate(ctx: ApplyContext): SniCertificate[] {
  if (ctx.args.length !== 3) ctx.fail(`invalid number of arguments in "${ctx.spec.name}" directive`);
  const [pattern, certificate, key] = ctx.args as [string, string, string];
  const bare = pattern.startsWith('*.') ? pattern.slice(2) : pattern.startsWith('.') ? pattern.slice(1) : pattern;
  if (normaliseServerName(bare) === null || bare.includes('*')) ctx.fail(`invalid server name "${pattern}"`);
  return [{ pattern: pattern.toLowerCase(), certificate: configPath(ctx, certificate), key: configPath(ctx, key), where: ctx.where }];
}

export const sniDirective: DirectiveSpec = {
  name: 'postern_ssl_sni_certificate',
  contexts: ['mail', 'server'],
  arity: '2more',
  syntax: 'name certificate key',
  store: 'append',
  parse: sniCertificate,
  merge: 'replace',
  supported: true,
  description:
    'Postern extension: a certificate and key served to TLS clients whose SNI server name matches `name` (exact, `*.example.com` or `.example.com`; exact names first, then the longest wildcard); other clients get `ssl_certificate`. Repeatable.',
  postern:
    'A Postern extension, not an nginx directive (nginx\'s mail proxy has no SNI). Every name of a server shares its protocols, ciphers, client-certificate settings and session tickets, so a resumed session never skips a check another name would make.',
};
