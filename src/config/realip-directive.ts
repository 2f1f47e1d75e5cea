/**
 * `set_real_ip_from address | CIDR | unix:;` (ngx_mail_realip_module, mail and server context,
 * repeatable; a server with any replaces the mail block's list): the senders whose PROXY protocol
 * header names the client. Checked as ngx_mail_realip_from checks it.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { ApplyContext, DirectiveSpec } from './directive-spec.js';
import type { RealIpSource } from './types.js';
import { ipBytes } from '../net/ip-text.js';

/** ngx_atoi: decimal digits only, at least one. */
const decimal = (text: string): number | null => (/^\d+$/.test(text) ? Number(text) : null);

function realIpSource(ctx: ApplyContext): RealIpSource[] {
  const value = ctx.args[0] ?? '';
  if (value === 'unix:') return [{ kind: 'unix' }];
  const slash = value.indexOf('/');
  const address = slash < 0 ? value : value.slice(0, slash);
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
  const bits = family === 'ipv4' ? 32 : 128;
  const prefix = slash < 0 ? bits : decimal(value.slice(slash + 1));
  if (family === null || prefix === null || prefix > bits) {
    // nginx then resolves the text as a host name; Postern resolves none (docs/nginx-migration.md).
    ctx.fail(`host not found in set_real_ip_from "${value}"`);
  }
  const bytes = ipBytes(address)!;
  if (hasLowBits(bytes, prefix!)) ctx.warn(`low address bits of ${value} are meaningless`);
  return [{ kind: 'cidr', family: family!, address, prefix: prefix! }];
}

/** Whether the address has bits set below the prefix (ngx_ptocidr's NGX_DONE). */
function hasLowBits(bytes: Uint8Array, prefix: number): boolean {
  return bytes.some((byte, i) => {
    const kept = Math.max(0, Math.min(8, prefix - 8 * i));
    const mask = (0xff << (8 - kept)) & 0xff;
    return (byte & ~mask & 0xff) !== 0;
  });
}

export const realIpDirective: DirectiveSpec = {
  name: 'set_real_ip_from',
  contexts: ['mail', 'server'],
  arity: 'take1',
  syntax: 'address | CIDR | unix:',
  store: 'append',
  parse: realIpSource,
  merge: 'replace',
  supported: true,
  description:
    'Trusted senders of PROXY protocol headers (`listen ... proxy_protocol`): from these, the header\'s source address and port become the client\'s (`Client-IP`, XCLIENT `ADDR=`, log lines, the PROXY line to the backend). Repeatable.',
  postern: 'Host names are not resolved: a value that is no address or CIDR is refused (`host not found in set_real_ip_from`), where nginx would resolve it. `unix:` is accepted and never matches (Postern listens on TCP only).',
};
