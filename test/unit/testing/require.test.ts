/**
 * The test suites' own guard (test/e2e/harness/require.ts): a missing binary fails the file with
 * what to install, and the reference nginx must be 1.22.1 (`nginx -v`), never silently another.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MissingBinaryError, nginxVersionOf, nginxVersionProblem, referenceNginxProblem, REFERENCE_NGINX_VERSION, requireBinaries } from '../../e2e/harness/require.js';

const dir = mkdtempSync(join(tmpdir(), 'postern-require-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in `nginx` that prints `text` to stderr for `-v`, as nginx does. */
function fakeNginx(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\nprintf '%s\\n' '${text}' >&2\n`);
  chmodSync(path, 0o755);
  return path;
}

describe('requireBinaries', () => {
  it('a missing binary throws, naming the path and what to install', () => {
    expect(() => requireBinaries(['/nonexistent/postern-test-tool'])).toThrow(MissingBinaryError);
    expect(() => requireBinaries(['/nonexistent/postern-test-tool'])).toThrow('missing /nonexistent/postern-test-tool: run `bash .ci/run` or `apt-get install -y');
  });

  it('the installed nginx is the reference 1.22.1 with its mail module (this machine)', () => {
    const found = requireBinaries(['nginx']);
    expect(found).toEqual({ nginx: '/usr/sbin/nginx', 'nginx-mail': '/usr/lib/nginx/modules/ngx_mail_module.so' });
    expect(referenceNginxProblem('/usr/sbin/nginx')).toBeNull();
  });
});

describe('the reference nginx version', () => {
  it('reads `nginx -v`', () => {
    expect(REFERENCE_NGINX_VERSION).toBe('1.22.1');
    expect(nginxVersionOf('nginx version: nginx/1.22.1\n')).toBe('1.22.1');
    expect(nginxVersionOf('nginx version: nginx/1.24.0 (Ubuntu)\n')).toBe('1.24.0');
    expect(nginxVersionOf('sh: nginx: not found')).toBeNull();
  });

  it('another version is refused with what to install', () => {
    expect(nginxVersionProblem('/usr/sbin/nginx', 'nginx version: nginx/1.22.1')).toBeNull();
    expect(nginxVersionProblem('/usr/sbin/nginx', 'nginx version: nginx/1.27.3')).toBe(
      "/usr/sbin/nginx is nginx/1.27.3, but the reference these tests compare with is nginx/1.22.1: install Debian 12 (bookworm)'s nginx 1.22.1 with `bash .ci/run` or `apt-get install -y nginx libnginx-mod-mail`",
    );
  });

  it('runs the binary: a newer nginx, or something that is not nginx, is not the reference', () => {
    expect(referenceNginxProblem(fakeNginx('nginx-1.22.1', 'nginx version: nginx/1.22.1'))).toBeNull();
    expect(referenceNginxProblem(fakeNginx('nginx-1.26.2', 'nginx version: nginx/1.26.2'))).toMatch(/is nginx\/1\.26\.2, but the reference .* is nginx\/1\.22\.1/);
    expect(referenceNginxProblem(fakeNginx('not-nginx', 'hello'))).toMatch(/-v` printed "hello", but the reference/);
  });
});
