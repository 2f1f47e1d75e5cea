/**
 * The session context's lifecycle rules, with a stand-in machine core: callbacks from the world
 * run only while the machine is live (`enter`), every failure ends in one close (`fail`), and the
 * close gives back every `worker_connections` slot the session held.
 */
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ConnectionEffect } from '../../../machines/types.js';
import { ConnectionLog, silentLogger } from '../../../src/log.js';
import type { SessionEnd } from '../../../src/log/session-events.js';
import { ConnectionBudget } from '../../../src/net/connection-budget.js';
import { SessionContext } from '../../../src/session/context.js';
import type { MachineCore } from '../../../src/session/machine-core.js';
import type { SessionOptions } from '../../../src/session/options.js';
import { serverConfig } from '../../integration/fixtures.js';

const sockets: net.Socket[] = [];
afterEach(() => sockets.splice(0).forEach((socket) => socket.destroy()));

function session() {
  const socket = new net.Socket();
  sockets.push(socket);
  const ended: SessionEnd[] = [];
  const budget = new ConnectionBudget(10);
  const options: SessionOptions = {
    server: serverConfig(),
    implicitTls: false,
    tls: null,
    auth: { request: () => new Promise(() => undefined) },
    logger: { debug() {}, info() {}, warn() {}, error() {}, fatal() {}, isLevelEnabled: () => false, flush() {} },
    budget,
    events: { opened() {}, tlsEstablished() {}, tlsFailed() {}, authAnswered() {}, backendLoggedIn() {}, ended: (end) => ended.push(end) },
  };
  const core = { over: false, start() {}, send: vi.fn(), frameMode: () => null, saslStep: () => null, stop: vi.fn(() => (core.over = true)) };
  const dispatched: ConnectionEffect[] = [];
  const context = new SessionContext(
    socket,
    options,
    new ConnectionLog(silentLogger(), '192.0.2.7'),
    { startedAt: Date.now(), tls: undefined, failure: undefined },
    undefined,
    (effect) => dispatched.push(effect),
    () => core as MachineCore,
  );
  return { context, core, ended, budget, dispatched };
}

describe('SessionContext', () => {
  it('runs a callback from the world while the machine is live, and not once it is over', () => {
    const { context, core } = session();
    const ran = vi.fn();
    expect(context.enter(ran)).toBe(true);
    expect(ran).toHaveBeenCalledTimes(1);
    core.over = true;
    expect(context.enter(ran)).toBe(false);
    expect(ran).toHaveBeenCalledTimes(1);
  });

  it('a callback that throws fails the session once: the machine stopped, one end reported, the slots given back', () => {
    const { context, core, ended, budget } = session();
    expect(context.takeSlot() && context.takeSlot()).toBe(true);
    expect(budget.used).toBe(2);
    context.enter(() => {
      throw new Error('boom');
    });
    expect(core.stop).toHaveBeenCalledTimes(1);
    expect(budget.used).toBe(0);
    expect(ended).toHaveLength(1);
    // Over now: a second fault (a late rejection, say) changes nothing.
    context.fail(new Error('late'));
    expect(core.stop).toHaveBeenCalledTimes(1);
    expect(ended).toHaveLength(1);
  });

  it('hands each effect to the dispatch table and each event to the machine', () => {
    const { context, core, dispatched } = session();
    context.effect({ type: 'log', level: 'info', message: 'x' });
    context.send({ type: 'client.closed' });
    expect(dispatched).toEqual([{ type: 'log', level: 'info', message: 'x' }]);
    expect(core.send).toHaveBeenCalledWith({ type: 'client.closed' });
  });
});
