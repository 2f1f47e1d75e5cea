import { fileURLToPath } from 'node:url';
import { parseConfigText } from '../../../src/config/index.js';
import type { MailConfig } from '../../../src/config/types.js';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/config/', import.meta.url));
export const fixture = (name: string): string => `${FIXTURES}${name}`;

/** The virtual file name used for inline configurations in tests. */
export const FILE = '/etc/postern/test.conf';

export const parse = (text: string): MailConfig => parseConfigText(text, FILE, { baseDir: '/etc/postern' });

/** A mail block around `body`, with a minimal valid server unless `servers` is given. */
export const mail = (body: string, servers = 'server { listen 110; }'): string =>
  `mail {\n  auth_http 127.0.0.1:9000/auth;\n${body}\n  ${servers}\n}\n`;

/** The message of the ConfigError `fn` throws. */
export function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected a configuration error');
}

export const parseError = (text: string): string => errorOf(() => parse(text));
