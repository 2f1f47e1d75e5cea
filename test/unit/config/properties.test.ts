/**
 * Property tests for the configuration reader. fast-check prints the seed and the shrunk
 * counterexample on failure; replay with `{ seed, path }` in the options.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { ConfigError, parseConfigText } from '../../../src/config/index.js';
import { Lexer, type Statement } from '../../../src/config/lexer.js';

const NUM_RUNS = 200;

function statements(text: string): Statement[] {
  const lexer = new Lexer(text, '/p.conf');
  const out: Statement[] = [];
  for (let st = lexer.next(); ; st = lexer.next()) {
    out.push(st);
    if (st.kind === 'eof') return out;
  }
}

/** Characters that matter to the lexer, plus ordinary ones. */
const lexerChar = fc.constantFrom('a', 'b', ' ', '\t', '\n', '\r', ';', '{', '}', '"', "'", '\\', '#', '$', ')', 'n', 't');

describe('config reader properties', () => {
  test.prop([fc.string({ unit: fc.constantFrom('a', ' ', '"', "'", '\\', '\n', 'n', 't', '$', '{', '}', ';', '#', 'é') })], { numRuns: NUM_RUNS })(
    'any string survives double quoting with \\" and \\\\ escaped',
    (value) => {
      const quoted = `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
      const [first] = statements(`a ${quoted};`);
      expect(first).toMatchObject({ kind: 'directive', args: ['a', value] });
    },
  );

  test.prop([fc.string({ unit: fc.constantFrom('a', ' ', '"', "'", '\\', '\n', ';') })], { numRuns: NUM_RUNS })(
    'any string survives single quoting with \\\' and \\\\ escaped',
    (value) => {
      const quoted = `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
      const [first] = statements(`a ${quoted};`);
      expect(first).toMatchObject({ kind: 'directive', args: ['a', value] });
    },
  );

  test.prop([fc.array(fc.tuple(fc.stringMatching(/^[a-z_]{1,8}$/), fc.nat({ max: 3 })), { minLength: 1, maxLength: 20 })], { numRuns: NUM_RUNS })(
    'a statement carries the line of its terminator',
    (items) => {
      let text = '';
      const expected: number[] = [];
      for (const [word, newlines] of items) {
        text += `${word}${'\n'.repeat(newlines)};`;
        expected.push(text.split('\n').length);
      }
      const lines = statements(text).flatMap((s) => (s.kind === 'directive' ? [s.line] : []));
      expect(lines).toEqual(expected);
    },
  );

  test.prop([fc.string({ unit: lexerChar, maxLength: 60 })], { numRuns: 1000 })('arbitrary text gives statements or a ConfigError, nothing else', (text) => {
    try {
      statements(text);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
    }
  });

  const fragment = fc.constantFrom(
    'mail {', 'server {', '}', 'listen 110;', 'listen 143 ssl;', 'auth_http 127.0.0.1;', 'protocol imap;', 'starttls on;',
    'ssl on;', 'ssl_certificate c;', 'ssl_certificate_key k;', 'timeout 5s;', 'events {', 'http {', 'include /nonexistent/*.conf;',
    'pop3_auth plain apop;', 'error_log stderr;', 'xclient on;', '"', ';', '{', '#', '\n',
  );
  test.prop([fc.array(fragment, { maxLength: 25 })], { numRuns: 1000 })('arbitrary configurations give a MailConfig or a ConfigError with a line', (parts) => {
    try {
      const config = parseConfigText(parts.join(' '), '/p.conf', { baseDir: '/' });
      for (const server of config.servers) {
        expect(server.listens.length).toBeGreaterThan(0);
        expect(['pop3', 'imap', 'smtp']).toContain(server.protocol);
      }
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).line).toBeGreaterThan(0);
      expect((error as ConfigError).message).toMatch(/ in \/p\.conf:\d+$/);
    }
  });
});
