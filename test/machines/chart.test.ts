/**
 * The chart's shape, as `postern machines` and the docs draw it: the transport is a region of its
 * own beside the dialogue, so the command dialogue exists once, whatever the transport.
 */
import { describe, expect, it } from 'vitest';
import type { AnyStateNode } from 'xstate';
import { connectionMachine } from '../../machines/connection.js';
import { toMermaid } from '../../src/diagram/export.js';

const ids = (node: AnyStateNode): string[] => [node.id, ...Object.values(node.states as Record<string, AnyStateNode>).flatMap(ids)];
const STATES = ids(connectionMachine.root);

describe('connection chart', () => {
  it('shows the states the world sees: greeting, plaintext, upgrading, secure, relaying', () => {
    for (const id of [
      'connection.preauth.dialogue.greeting',
      'connection.preauth.transport.plaintext',
      'connection.preauth.transport.upgrading',
      'connection.preauth.transport.secure',
      'connection.relaying',
    ]) {
      expect(STATES).toContain(id);
    }
    expect(connectionMachine.root.states['preauth']!.type).toBe('parallel');
  });

  it('builds the command dialogue once: one idle, one state per SASL step', () => {
    expect(STATES.filter((id) => id.endsWith('.idle'))).toEqual(['connection.preauth.dialogue.idle']);
    expect(STATES.filter((id) => id.endsWith('.saslPlain'))).toEqual(['connection.preauth.dialogue.saslPlain']);
  });

  it('draws an accepted STARTTLS into both regions: the transport upgrades, the dialogue waits for the handshake', () => {
    const diagram = toMermaid(connectionMachine);
    const starttls = diagram.split('\n').filter((line) => line.includes(': cmd.starttls [starttlsAllowed]'));
    expect(starttls).toEqual([
      '  connection_preauth_dialogue_idle --> connection_preauth_transport_upgrading : cmd.starttls [starttlsAllowed] / replyStarttlsOk, noteStarttls, startTls',
      '  connection_preauth_dialogue_idle --> connection_preauth_dialogue_handshake : cmd.starttls [starttlsAllowed] / replyStarttlsOk, noteStarttls, startTls',
    ]);
  });
});
