/**
 * Regression (found by test/fuzz/config.test.ts): an IPv6 address with a zone (`fe80::1%lo`) in
 * brackets passed Node's isIPv6, then `new URL` threw a TypeError out of parseConfigText. nginx
 * 1.22.1's `-t` says "invalid IPv6 address" (checked on this machine); so does Postern now.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/index.js';
import { FILE, mail, parse } from './helpers.js';

function configError(text: string): ConfigError {
  try {
    parse(text);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a configuration error');
}

describe('IPv6 addresses with a zone are refused as nginx refuses them', () => {
  it('listen', () => {
    expect(configError(mail('', 'server { listen [fe80::1%lo]:110; }')).message).toBe(
      `invalid IPv6 address in "[fe80::1%lo]:110" of the "listen" directive in ${FILE}:4`,
    );
  });

  it('resolver', () => {
    expect(configError(mail('  resolver [fe80::1%lo];')).message).toBe(`invalid IPv6 address in resolver "[fe80::1%lo]" in ${FILE}:3`);
    // Without brackets nginx reads the part after the first colon as a port.
    expect(configError(mail('  resolver fe80::1%lo;')).message).toBe(`invalid port in resolver "fe80::1%lo" in ${FILE}:3`);
  });

  it('auth_http', () => {
    expect(configError(mail('  auth_http http://[fe80::1%eth0]:80/auth;')).message).toBe(
      `invalid IPv6 address in auth_http "[fe80::1%eth0]:80/auth" in ${FILE}:3`,
    );
  });

  it('an address without a zone still reads', () => {
    expect(parse(mail('  resolver [fe80::1]:5353;', 'server { listen [::1]:110; }')).servers[0]!.listens[0]!.host).toBe('::1');
  });
});
