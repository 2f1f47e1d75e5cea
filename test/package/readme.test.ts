/**
 * The README's SMTP lines, run as written (the ports of the embedded default replaced by the
 * free ports this test's embedded default got): curl sends a message through Postern's SMTP
 * listener (STARTTLS, AUTH PLAIN) to the demo SMTP backend, and curl reads it back over IMAPS.
 */
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PORTS } from '../../src/embedded/default-config.js';
import { startEmbeddedDefault, type EmbeddedDefault } from '../../src/embedded/start.js';
import { silentLogger } from '../../src/log.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import { makeTempDir, run } from '../e2e/harness/proc.js';
import { requireBinaries } from '../e2e/harness/require.js';

requireBinaries(['curl']);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The shell lines of the README's first code block after `heading` (a line that starts the paragraph). */
function readmeBlock(heading: string): string[] {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf(heading);
  expect(at, `README has "${heading}"`).toBeGreaterThanOrEqual(0);
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at))![1]!;
  return block.split('\n').filter((line) => line.trim() !== '');
}

let dir: string;
let embedded: EmbeddedDefault;
let proxy: RunningProxy;
const ports = new Map<number, number>();

beforeAll(async () => {
  dir = await makeTempDir('readme');
  embedded = await startEmbeddedDefault(path.join(dir, 'state'));
  const written = embedded.config.servers.flatMap((server) => server.listens.map((listen) => listen.port));
  for (const server of embedded.config.servers) for (const listen of server.listens) listen.port = 0;
  proxy = await startProxy(embedded.config, { logger: silentLogger() });
  proxy.listeners.forEach((listener, i) => ports.set(written[i]!, listener.port));
});

afterAll(async () => {
  await proxy?.close();
  await embedded?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('README: send a message over SMTP, then read it over IMAP', () => {
  it('the lines as written deliver into demo\'s INBOX', async () => {
    const lines = readmeBlock('Send a message over SMTP');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toContain(`smtp://127.0.0.1:${DEFAULT_PORTS.smtp}`);
    expect(lines[2]).toContain(`imaps://127.0.0.1:${DEFAULT_PORTS.imaps}/`);
    const outputs: string[] = [];
    for (const line of lines) {
      const local = line.replace(/127\.0\.0\.1:(\d+)/g, (_, port: string) => `127.0.0.1:${ports.get(Number(port)) ?? port}`);
      const r = await run('bash', ['-c', local], { cwd: dir, timeoutMs: 20_000 });
      expect(r.code, `${line}\n${r.stderr}`).toBe(0);
      outputs.push(r.stdout);
    }
    expect(outputs[2]).toBe('From: me@example.org\r\nTo: demo@postern.invalid\r\nSubject: Hello through Postern\r\n\r\nSent over SMTP, read over IMAP.\r\n');
  });
});
