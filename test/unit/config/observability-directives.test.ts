import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/index.js';

const parse = (text: string) => parseConfigText(text, '/etc/postern/x.conf');
const error = (text: string): string => {
  try {
    parse(text);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('no error');
};

describe('issue 14 directives', () => {
  it('postern_access_log: path (relative to the main file), text by default, json, off; inherited from the mail block', () => {
    const config = parse(
      'mail { auth_http a; postern_access_log logs/access.log; server { listen 110; } server { listen 143; postern_access_log /a.json json; } server { listen 25; protocol smtp; postern_access_log off; } }',
    );
    expect(config.servers.map((s) => s.accessLog)).toEqual([{ path: '/etc/postern/logs/access.log', format: 'text' }, { path: '/a.json', format: 'json' }, undefined]);
    expect(error('mail { auth_http a; postern_access_log /a.log xml; server { listen 110; } }')).toBe('invalid log format "xml" in /etc/postern/x.conf:1');
  });

  it('postern_metrics_listen: at the top level or in the mail block, once', () => {
    expect(parse('postern_metrics_listen 127.0.0.1:9145;\nmail { auth_http a; server { listen 110; } }').metricsListen).toEqual({ host: '127.0.0.1', port: 9145, text: '127.0.0.1:9145' });
    expect(parse('mail { auth_http a; postern_metrics_listen [::1]:9145; server { listen 110; } }').metricsListen).toEqual({ host: '::1', port: 9145, text: '[::1]:9145' });
    expect(parse('mail { auth_http a; server { listen 110; } }').metricsListen).toBeUndefined();
    expect(error('postern_metrics_listen 127.0.0.1:9145;\nmail { auth_http a; postern_metrics_listen 127.0.0.1:9146; server { listen 110; } }')).toBe(
      '"postern_metrics_listen" directive is duplicate in /etc/postern/x.conf:2',
    );
    expect(error('postern_metrics_listen 127.0.0.1;\nmail { auth_http a; server { listen 110; } }')).toBe('no port in "127.0.0.1" of the "postern_metrics_listen" directive in /etc/postern/x.conf:1');
    expect(error('mail { auth_http a; server { listen 110; postern_metrics_listen 127.0.0.1:9145; } }')).toMatch(/^"postern_metrics_listen" directive is not allowed here/);
  });

  it('postern_log_format: text or json, top level only', () => {
    expect(parse('postern_log_format json;\nmail { auth_http a; server { listen 110; } }').logFormat).toBe('json');
    expect(parse('mail { auth_http a; server { listen 110; } }').logFormat).toBeUndefined();
    expect(error('postern_log_format yaml;\nmail { auth_http a; server { listen 110; } }')).toBe(
      'invalid value "yaml" in "postern_log_format" directive, it must be "text" or "json" in /etc/postern/x.conf:1',
    );
    expect(error('mail { auth_http a; postern_log_format json; server { listen 110; } }')).toMatch(/^"postern_log_format" directive is not allowed here/);
  });
});
