import { describe, expect, it } from 'vitest';
import { ConfigError, formatConfigError, loadConfigFile } from '../../../src/config/index.js';
import { at, groups, verifyClientCases } from './error-cases.js';
import { errorOf, FILE, fixture, mail, parse, parseError } from './helpers.js';

describe('configuration errors are worded like nginx -t, with file and line', () => {
  for (const [group, cases] of Object.entries(groups)) {
    describe(group, () => {
      it.each(cases)('%s', (_name, text, message) => {
        expect(parseError(text)).toBe(message);
      });
    });
  }
});

describe('error details', () => {
  it('ConfigError carries file, line and the reason without the location', () => {
    let error: unknown;
    try {
      parse(mail('  frobnicate on;'));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ file: FILE, line: 3, reason: 'unknown directive "frobnicate"' });
    expect(formatConfigError(error)).toBe(`[emerg] unknown directive "frobnicate" ${at(3)}`);
  });

  it('recognised-but-later directives still check context and arguments first', () => {
    expect(parseError(mail('  xclient;'))).toBe(`invalid number of arguments in "xclient" directive ${at(3)}`);
    expect(parseError('resolver_timeout 5s;\nmail {}')).toBe(`"resolver_timeout" directive is not allowed here ${at(1)}`);
    expect(parseError(mail('', 'server { listen 110; ssl_session_cache a b c; }'))).toBe(
      `invalid number of arguments in "ssl_session_cache" directive ${at(4)}`,
    );
  });

  it('reports the first error in file order', () => {
    expect(parseError('mail {\n  frobnicate;\n  auth_http "x\n')).toBe(`unknown directive "frobnicate" ${at(2)}`);
  });

  it('checks servers in nginx module order: protocol, then certificates, then auth_http', () => {
    const text = 'mail {\n  server { listen 110; }\n  server { listen 143 ssl; }\n  server { listen 8000; }\n}\n';
    expect(parseError(text)).toBe(`unknown mail protocol for server ${at(4)}`);
    expect(parseError(text.replace('listen 8000;', 'listen 8000; protocol smtp;'))).toBe(
      `no "ssl_certificate" is defined for the "listen ... ssl" directive ${at(3)}`,
    );
  });

  it('checks a mail block when it closes, before what follows it', () => {
    expect(parseError('mail {\n  server { listen 110; }\n}\nfrobnicate;\n')).toBe(`no "auth_http" is defined for server ${at(2)}`);
  });
});

describe('errors in included files', () => {
  const bad = (name: string) => fixture(`bad/${name}`);

  it('a missing included file is reported at the include', () => {
    expect(errorOf(() => loadConfigFile(bad('include-missing.conf')))).toBe(
      `open() "${bad('does-not-exist.conf')}" failed (2: No such file or directory) in ${bad('include-missing.conf')}:2`,
    );
  });

  it('an error inside an included file names that file and its line', () => {
    expect(errorOf(() => loadConfigFile(bad('include-unknown.conf')))).toBe(`unknown directive "frobnicate" in ${bad('unknown-directive.inc')}:4`);
  });

  it('an included file cannot close the including block', () => {
    expect(errorOf(() => loadConfigFile(bad('include-stray.conf')))).toBe(`unexpected "}" in ${bad('stray-brace.conf')}:2`);
  });

  it('a block must end in the file it started in', () => {
    expect(errorOf(() => loadConfigFile(bad('include-open.conf')))).toBe(`unexpected end of file, expecting "}" in ${bad('open-block.conf')}:3`);
  });

  it('an include loop stops with an error instead of running out of files', () => {
    expect(errorOf(() => loadConfigFile(bad('loop.conf')))).toBe(
      `too deeply nested "include" of "loop.inc" (more than 32 levels) in ${bad('loop.inc')}:1`,
    );
  });

  it('a mask that matches nothing is not an error', () => {
    expect(parse(mail('  include /nonexistent/dir/*.conf;')).servers).toHaveLength(1);
  });
});

describe('ssl_verify_client needs ssl_client_certificate in TLS servers (nginx 1.22)', () => {
  it.each(verifyClientCases)('%s', (_name, text, message) => {
    expect(parseError(text)).toBe(message);
  });

  it('is not checked where TLS is not used, nor for optional_no_ca', () => {
    expect(parse(mail('  ssl_verify_client on;')).servers[0]!.ssl.verifyClient).toBe('on');
    expect(parse(mail('  ssl_certificate c.pem; ssl_certificate_key k.pem; ssl_verify_client optional_no_ca;', 'server { listen 993 ssl; }')).servers[0]!.ssl.verifyClient).toBe('optional_no_ca');
  });
});
