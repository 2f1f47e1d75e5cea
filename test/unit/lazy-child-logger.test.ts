import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { LazyChildLogger } from '../../src/log.js';

/** A pino logger at `level` whose JSON lines land in `lines`. */
function capture(level: string) {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level }, sink), lines };
}

describe('LazyChildLogger', () => {
  it('makes no child while nothing passes the level', () => {
    const { logger, lines } = capture('warn');
    const child = vi.spyOn(logger, 'child');
    const bindings = vi.fn(() => ({ client: '192.0.2.1' }));
    const log = new LazyChildLogger(logger, bindings);
    log.info('client closed connection');
    log.debug({ bytes: 3 }, 'discarded');
    expect(child).not.toHaveBeenCalled();
    expect(bindings).not.toHaveBeenCalled();
    expect(lines).toEqual([]);
  });

  it('writes lines that pass the level with the bindings, from one child made once', () => {
    const { logger, lines } = capture('info');
    const child = vi.spyOn(logger, 'child');
    const log = new LazyChildLogger(logger, () => ({ client: '192.0.2.1', protocol: 'imap' }));
    log.debug('not written');
    log.info('client closed connection');
    log.error({ login: 'alice' }, 'backend refused');
    expect(child).toHaveBeenCalledTimes(1);
    expect(lines.map(({ msg, client, protocol, login }) => ({ msg, client, protocol, login }))).toEqual([
      { msg: 'client closed connection', client: '192.0.2.1', protocol: 'imap', login: undefined },
      { msg: 'backend refused', client: '192.0.2.1', protocol: 'imap', login: 'alice' },
    ]);
    expect(log.child()).toBe(child.mock.results[0]!.value);
  });
});
