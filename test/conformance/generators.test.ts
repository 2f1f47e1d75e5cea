/**
 * What the generators draw. A script the suite calls "malformed" must be one: nginx 1.22.1
 * (ngx_mail_auth_login_username in src/mail/ngx_mail_handler.c) decodes "=" to an empty user
 * name and asks for the password, so after AUTHENTICATE LOGIN it opens a password step, and a
 * command pipelined behind it was read as the password: the one-reply property then failed on
 * nginx and Postern alike (seed 2095741108).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { malformedSaslStart } from '../../src/conformance/generators/common.js';

describe('malformedSaslStart', () => {
  const mechanisms = ['AUTH PLAIN', 'AUTH LOGIN', 'AUTH CRAM-MD5', 'AUTHENTICATE "LOGIN"', 'LOGIN'];
  const drawn = fc.sample(malformedSaslStart(mechanisms), { numRuns: 5000, seed: 1 });

  it('never draws "=" (an empty user name) for LOGIN', () => {
    expect(drawn.filter(([m, r]) => /LOGIN/.test(m) && r === '=')).toEqual([]);
  });

  it('still draws "=" for PLAIN and CRAM-MD5, and every other invalid line for LOGIN', () => {
    expect(new Set(drawn.filter(([m]) => !/LOGIN/.test(m)).map(([, r]) => r))).toContain('=');
    expect(new Set(drawn.filter(([m]) => /LOGIN/.test(m)).map(([, r]) => r))).toEqual(new Set(['!!!', '*', 'a', '@@@@', 'dGVzd A==', '%%']));
  });
});
