/**
 * `protocol sieve;` and the `postern_sieve_*` directives (Postern extensions,
 * src/config/sieve-directives.ts): defaults, inheritance, and `-t` errors with file and line.
 */
import { describe, expect, it } from 'vitest';
import { DOVECOT_SIEVE_EXTENSIONS } from '../../../src/config/sieve-directives.js';
import { FILE, mail, parse, parseError } from './helpers.js';

const at = (line: number) => `in ${FILE}:${line}`;

describe('protocol sieve', () => {
  it('is accepted in a server block, with the defaults: plain, Dovecot\'s extensions, a 4k buffer', () => {
    const [server] = parse(mail('', 'server { listen 4190; protocol sieve; }')).servers;
    expect(server).toMatchObject({ protocol: 'sieve', sieveAuth: ['plain'], sieveClientBuffer: 4096 });
    expect(server!.sieveCapabilities).toEqual(DOVECOT_SIEVE_EXTENSIONS.split(' '));
    expect(server!.sieveCapabilities).toContain('enotify');
  });

  it('is never chosen by port: a server on 4190 without `protocol` is an unknown protocol, as nginx says', () => {
    expect(parseError(mail('', 'server { listen 4190; }'))).toBe(`unknown mail protocol for server ${at(4)}`);
  });

  it('the directives are inherited from mail and replaced by a server\'s own', () => {
    const text = mail(
      '  postern_sieve_auth plain login external;\n  postern_sieve_capabilities fileinto vacation;\n  postern_sieve_client_buffer 16k;',
      'server { listen 4190; protocol sieve; }\n  server { listen 4191; protocol sieve; postern_sieve_capabilities fileinto; postern_sieve_auth login; }',
    );
    const [inherited, own] = parse(text).servers;
    expect(inherited).toMatchObject({ sieveAuth: ['plain', 'login', 'external'], sieveCapabilities: ['fileinto', 'vacation'], sieveClientBuffer: 16384 });
    expect(own).toMatchObject({ sieveAuth: ['login'], sieveCapabilities: ['fileinto'], sieveClientBuffer: 16384 });
  });

  it('bad values are errors naming the file and line', () => {
    expect(parseError(mail('  postern_sieve_auth plain digest-md5;'))).toBe(`invalid value "digest-md5" ${at(3)}`);
    expect(parseError(mail('  postern_sieve_capabilities fileinto "two words";'))).toBe(
      `invalid value "two words" in "postern_sieve_capabilities" directive ${at(3)}`,
    );
    expect(parseError(mail('  postern_sieve_client_buffer 1.5k;'))).toBe(`"postern_sieve_client_buffer" directive invalid value ${at(3)}`);
    expect(parseError(mail('', 'server { listen 4190; protocol managesieve; }'))).toBe(`unknown protocol "managesieve" ${at(4)}`);
  });
});
