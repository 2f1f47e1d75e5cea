/**
 * The pure parts of the nginx-tests runner (scripts/nginx-tests/): how a test's nginx.conf is
 * split between nginx and Postern, how prove's output is read, and which files count as a
 * regression. The wrapper as a process is tested in test/e2e/nginx-tests-wrapper.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ConfigSplitError, mainErrorLog, splitConfig, splitGlobals } from '../../../scripts/nginx-tests/config-split.js';
import { parseProve, summary } from '../../../scripts/nginx-tests/tap.js';
import { formatTable, regressed, verdict, type Comparison } from '../../../scripts/nginx-tests/compare.js';

const PIDS = { nginxPid: '/t/wrapped-nginx.pid', posternPid: '/t/wrapped-postern.pid' };

// The shape of nginx-tests' configurations after Test::Nginx expanded %%TEST_GLOBALS%%.
const CONF = `pid /tmp/nginx-test-x/nginx.pid;
error_log /tmp/nginx-test-x/error.log debug;
load_module /usr/lib/nginx/modules/ngx_mail_module.so;

daemon off;

events {
}

mail {
    auth_http  http://127.0.0.1:8080/mail/auth;   # a } in a comment
    server {
        listen     127.0.0.1:8143;
        protocol   imap;
        imap_client_buffer "a { quoted } brace";
    }
}

http {
    server {
        listen 127.0.0.1:8080;
        location = /mail/auth {
            set $userpass "\${http_auth_user}:$http_auth_pass";
            if ($userpass = 'te\\\\"st@example.com:se\\\\"cret') { set $reply OK; }
            add_header Auth-Status $reply;
            return 204;
        }
    }
}
`;

describe('splitConfig', () => {
  const split = splitConfig(CONF, PIDS);

  it('gives nginx everything but the mail block, with its own pid file', () => {
    expect(split.nginx).not.toContain('mail {');
    expect(split.nginx).not.toContain('8143');
    expect(split.nginx).toContain('http {');
    expect(split.nginx).toContain("if ($userpass = 'te\\\\\"st@example.com:se\\\\\"cret') { set $reply OK; }");
    expect(split.nginx).toContain('events {\n}');
    expect(split.nginx.startsWith('pid "/t/wrapped-nginx.pid";\nerror_log /tmp/nginx-test-x/error.log debug;')).toBe(true);
    // What is left after the cut is the text around it, unchanged.
    expect(split.nginx.replace('pid "/t/wrapped-nginx.pid";', 'pid /tmp/nginx-test-x/nginx.pid;')).toBe(CONF.replace(/mail \{[\s\S]*?\n\}/, ''));
  });

  it('gives Postern the whole file with its own pid file, error_log untouched', () => {
    expect(split.postern).toBe(CONF.replace('pid /tmp/nginx-test-x/nginx.pid;', 'pid "/t/wrapped-postern.pid";'));
    expect(split.hasMail).toBe(true);
    expect(split.pid).toBe('/tmp/nginx-test-x/nginx.pid');
  });

  it('finds only top-level mail blocks and pid statements', () => {
    const text = 'http { mail { } pid x; }\nmail{server{listen 1;}}pid   "/a b/p.pid"  ;';
    const result = splitConfig(text, PIDS);
    expect(result.nginx).toBe('http { mail { } pid x; }\npid   "/t/wrapped-nginx.pid"  ;');
    expect(result.pid).toBe('/a b/p.pid');
  });

  it('a file without mail or pid is passed through', () => {
    const result = splitConfig('events {}\n', PIDS);
    expect(result).toEqual({ nginx: 'events {}\n', postern: 'events {}\n', hasMail: false, pid: undefined });
  });

  it('refuses unbalanced braces and a second pid', () => {
    expect(() => splitConfig('mail {', PIDS)).toThrow(ConfigSplitError);
    expect(() => splitConfig('}', PIDS)).toThrow(ConfigSplitError);
    expect(() => splitConfig('pid a; pid b;', PIDS)).toThrow(/duplicate/);
  });
});

describe('mainErrorLog (Postern\'s -g: a file with http { } keeps its error_log for nginx otherwise)', () => {
  it('the first top-level error_log, its arguments quoted; none inside blocks', () => {
    expect(mainErrorLog('events { }\nhttp { error_log /t/http.log; }\nerror_log /t/error.log debug;\nerror_log /t/second.log;')).toBe('"/t/error.log" "debug"');
    expect(mainErrorLog('http { error_log /t/http.log; }')).toBeUndefined();
  });
});

describe('splitGlobals (-g)', () => {
  it('replaces pid and keeps the rest', () => {
    expect(splitGlobals('pid /t/nginx.pid; error_log /t/error.log debug;', '/t/p')).toEqual({ pid: '/t/nginx.pid', globals: 'pid "/t/p"; error_log /t/error.log debug;' });
    expect(splitGlobals('daemon off;', '/t/p')).toEqual({ pid: undefined, globals: 'daemon off;' });
  });
});

// Verbatim shapes of `prove -v` output.
const PASS = `mail_imap.t ..
1..5
ok 1 - greeting
ok 2 - untagged capability # TODO not yet
not ok 3 - login after capability # TODO not yet
ok 4 - no alerts
ok 5 - no sanitizer errors
ok
All tests successful.
Result: PASS
`;
const FAIL = `mail_ssl_session_reuse.t ..
1..4
ok 1 - session
not ok 2 - session reused
ok 3 # skip no TLSv1.3
ok 4 - no alerts
Result: FAIL
`;
const DIED = `mail_proxy_protocol.t ..
Dubious, test returned 255 (wstat 65280, 0xff00)
No subtests run
Result: FAIL
`;
const SKIPPED = `mail_x.t .. skipped: no socket_ssl available
1..0 # SKIP no socket_ssl available
Result: NOTESTS
`;

describe('parseProve', () => {
  it('counts passes, failures, TODOs and skips', () => {
    expect(parseProve(PASS)).toEqual({ planned: 5, skipAll: undefined, passed: 3, failed: [], todoPassed: ['2 untagged capability'], todoFailed: 1, skipped: 0, verdict: 'PASS' });
    expect(parseProve(FAIL)).toMatchObject({ planned: 4, passed: 2, failed: ['2 session reused'], skipped: 1, verdict: 'FAIL' });
    expect(summary(parseProve(PASS))).toBe('5/5');
    expect(summary(parseProve(FAIL))).toBe('3/4');
  });

  it('tells a file that died or skipped itself', () => {
    expect(summary(parseProve(DIED))).toBe('died before its plan');
    expect(summary(parseProve(`1..30\nok 1 - a\nResult: FAIL\n`))).toBe('1/30, died after 1');
    expect(summary(parseProve(SKIPPED))).toBe('skipped (no socket_ssl available)');
  });
});

describe('comparison', () => {
  const row = (nginx: string, postern: string, posternRefusal?: string): Comparison => ({ file: 'f.t', nginx: parseProve(nginx), postern: parseProve(postern), posternRefusal });

  it('a file that passes on nginx and not on Postern is a regression, named with its failures', () => {
    expect(regressed(row(PASS, FAIL))).toBe(true);
    expect(verdict(row(PASS, FAIL))).toBe('**Postern fails**: fails: 2 session reused');
    expect(verdict(row(PASS, DIED, 'invalid parameter "proxy_protocol" in x:12'))).toBe('**Postern fails**: invalid parameter "proxy_protocol" in x:12');
  });

  it('equal, better, or failing alike are not regressions', () => {
    const nginxTodoFailed = PASS.replace('ok 2 - untagged capability # TODO', 'not ok 2 - untagged capability # TODO');
    expect(verdict(row(nginxTodoFailed, PASS))).toBe('equal; TODO passed only on Postern: 2 untagged capability');
    expect(verdict(row(PASS, PASS))).toBe('equal');
    expect(verdict(row(FAIL, PASS))).toBe('passes on Postern only');
    expect(verdict(row(FAIL, FAIL))).toBe('fails alike on both');
    expect(verdict(row(SKIPPED, SKIPPED))).toBe('skipped on both');
    for (const r of [row(PASS, PASS), row(FAIL, PASS), row(FAIL, FAIL), row(SKIPPED, SKIPPED)]) expect(regressed(r)).toBe(false);
  });

  it('the table has a row per file and the totals', () => {
    const table = formatTable([row(PASS, PASS), { ...row(PASS, FAIL), file: 'g.t' }]);
    expect(table.split('\n')).toEqual([
      '| file | nginx 1.22.1 | Postern | comparison |',
      '|---|---|---|---|',
      '| f.t | 5/5 | 5/5 | equal |',
      '| g.t | 5/5 | 3/4 | **Postern fails**: fails: 2 session reused |',
      '',
      '2 files (10 tests planned on nginx): 1 pass on both, 1 pass on nginx only.',
    ]);
  });
});
