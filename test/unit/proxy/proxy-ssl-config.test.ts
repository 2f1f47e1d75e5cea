/**
 * The `postern_proxy_ssl*` extension directives in the configuration: defaults (nginx's
 * `proxy_ssl_*` ones), inheritance from `mail` to `server`, and the `-t` errors, with file and
 * line, for settings nginx would refuse and for files that do not load.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { parseConfigText } from '../../../src/config/index.js';
import { generateCa, removeDir, type Ca, type CertFiles } from '../../e2e/harness/index.js';

let dir: string;
let ca: Ca;
let client: CertFiles;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'postern-proxy-ssl-'));
  ca = await generateCa({ dir: join(dir, 'ca') });
  client = await ca.issue({ cn: 'postern-client', client: true });
  writeFileSync(join(dir, 'empty.pem'), 'not a certificate\n');
});
afterAll(async () => {
  await removeDir(dir);
});

const conf = (lines: string) => `mail {
    auth_http 127.0.0.1:9/auth;
${lines}
    server { listen 127.0.0.1:1110; protocol pop3; }
}
`;
const parse = (text: string) => parseConfigText(text, join(dir, 'test.conf'));
const errorOf = (text: string): string => {
  try {
    parse(text);
  } catch (error) {
    return (error as Error).message;
  }
  return 'no error';
};

describe('postern_proxy_ssl* settings', () => {
  it('defaults to nginx\'s proxy_ssl_* defaults: off, no verification, no SNI, TLSv1.2+, DEFAULT ciphers, session reuse', () => {
    const [server] = parse(conf('')).servers;
    expect(server!.proxySsl).toEqual({
      mode: 'off',
      verify: false,
      serverName: false,
      protocols: ['TLSv1.2', 'TLSv1.3'],
      ciphers: 'DEFAULT',
      sessionReuse: true,
      where: {},
    });
  });

  it('inherits from mail to server, resolves files against the configuration directory, keeps where each was written', () => {
    const text = `mail {
    auth_http 127.0.0.1:9/auth;
    postern_proxy_ssl starttls;
    postern_proxy_ssl_verify on;
    postern_proxy_ssl_trusted_certificate ca/ca.crt;
    postern_proxy_ssl_name backend.test;
    server { listen 127.0.0.1:1110; protocol pop3; }
    server { listen 127.0.0.1:1143; protocol imap; postern_proxy_ssl on; postern_proxy_ssl_server_name on;
             postern_proxy_ssl_certificate ${client.certPath}; postern_proxy_ssl_certificate_key ${client.keyPath};
             postern_proxy_ssl_protocols TLSv1.3; postern_proxy_ssl_ciphers HIGH; postern_proxy_ssl_session_reuse off; }
}
`;
    const [pop3, imap] = parse(text).servers;
    expect(pop3!.proxySsl).toMatchObject({ mode: 'starttls', verify: true, trustedCertificate: ca.certPath, name: 'backend.test', serverName: false });
    expect(pop3!.proxySsl.where['postern_proxy_ssl']).toEqual({ file: join(dir, 'test.conf'), line: 3 });
    expect(imap!.proxySsl).toMatchObject({
      mode: 'on',
      verify: true,
      name: 'backend.test',
      serverName: true,
      certificate: client.certPath,
      certificateKey: client.keyPath,
      protocols: ['TLSv1.3'],
      ciphers: 'HIGH',
      sessionReuse: false,
    });
    expect(imap!.proxySsl.where['postern_proxy_ssl']).toEqual({ file: join(dir, 'test.conf'), line: 8 });
  });

  it.each([
    ['postern_proxy_ssl maybe;', 'invalid value "maybe" in'],
    ['postern_proxy_ssl on; postern_proxy_ssl off;', '"postern_proxy_ssl" directive is duplicate in'],
    ['postern_proxy_ssl_verify yes;', 'invalid value "yes" in "postern_proxy_ssl_verify" directive, it must be "on" or "off" in'],
    ['postern_proxy_ssl_protocols TLSv9;', 'invalid value "TLSv9" in'],
    ['postern_proxy_ssl on; postern_proxy_ssl_verify on;', 'no "postern_proxy_ssl_trusted_certificate" for "postern_proxy_ssl_verify" in'],
    ['postern_proxy_ssl on;\n postern_proxy_ssl_trusted_certificate /nonexistent/ca.pem;', 'cannot load trusted certificate "/nonexistent/ca.pem": ENOENT in'],
    ['postern_proxy_ssl on;\n postern_proxy_ssl_trusted_certificate empty.pem;', 'no certificate found in'],
    ['postern_proxy_ssl on;\n postern_proxy_ssl_certificate /nonexistent/c.pem;', 'no "postern_proxy_ssl_certificate_key" is defined for certificate "/nonexistent/c.pem" in'],
    ['postern_proxy_ssl on;\n postern_proxy_ssl_certificate /nonexistent/c.pem; postern_proxy_ssl_certificate_key /nonexistent/k.pem;', 'cannot load certificate "/nonexistent/c.pem": ENOENT in'],
    ['postern_proxy_ssl on;\n postern_proxy_ssl_ciphers NOTACIPHER;', 'cannot use ciphers "NOTACIPHER"'],
  ])('%s -> %s FILE:LINE', (lines, message) => {
    const error = errorOf(conf(`    ${lines}`));
    expect(error).toContain(message);
    // The line of the directive at fault: the last line of the snippet.
    expect(error).toMatch(new RegExp(`test\\.conf:${2 + lines.split('\n').length}$`));
  });

  it('files are only loaded when TLS to the backend is on (as nginx)', () => {
    expect(errorOf(conf('    postern_proxy_ssl_trusted_certificate /nonexistent/ca.pem; postern_proxy_ssl_verify on;'))).toBe('no error');
  });

  it('postern -t reports a missing file with its file and line', async () => {
    const file = join(dir, 'check.conf');
    writeFileSync(file, conf('    postern_proxy_ssl starttls;\n    postern_proxy_ssl_trusted_certificate missing.pem;'));
    const lines: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    let code: number;
    try {
      code = await main(['-t', '-c', file]);
    } finally {
      spy.mockRestore();
    }
    expect(code).toBe(1);
    expect(lines[0]).toBe(`postern: [emerg] cannot load trusted certificate "${join(dir, 'missing.pem')}": ENOENT in ${file}:4\n`);
  });
});
