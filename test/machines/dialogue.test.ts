/**
 * The protocol dialogues grafted onto the chart: every name they use must exist, so that a
 * misspelt line, guard or update stops the build of the chart instead of surfacing when a client
 * happens to take that transition.
 */
import { not } from 'xstate';
import { describe, expect, it } from 'vitest';
import { checkChart, connectionMachine } from '../../machines/connection.js';
import { check, note, say, type ProtocolChart } from '../../machines/dialogue.js';
import { mailProtocols } from '../../src/protocols/registry.js';

const known = {
  guards: Object.keys(connectionMachine.implementations.guards),
  actions: Object.keys(connectionMachine.implementations.actions),
};

const withIdle = (idle: ProtocolChart['dialogue']['idle']): ProtocolChart => ({
  ...mailProtocols.smtp,
  dialogue: { ...mailProtocols.smtp.dialogue, idle },
});

describe('checkChart', () => {
  it.each(Object.values(mailProtocols))('accepts the $name dialogue as registered', (protocol) => {
    expect(() => checkChart(protocol, known)).not.toThrow();
  });

  it.each([
    ['a line the dialect lacks', { 'cmd.rset': { actions: say('okay') } }, /no line "okay"/],
    ['an update the dialogue lacks', { 'cmd.rset': { actions: note('forget') } }, /no dialogue update "forget"/],
    ['a guard of its own it lacks', { 'cmd.rset': { guard: check('nope'), actions: say('ok') } }, /no dialogue guard "nope"/],
    ['the same inside not()', { 'cmd.rset': { guard: not(check('nope')), actions: say('ok') } }, /no dialogue guard "nope"/],
    ['an unknown skeleton guard', { 'cmd.rset': { guard: 'speaksSmtp', actions: say('ok') } }, /unknown guard "speaksSmtp"/],
    ['an unknown skeleton action', { 'cmd.rset': { actions: 'replyHelo' } }, /unknown action "replyHelo"/],
  ])('refuses %s', (_name, idle, message) => {
    expect(() => checkChart(withIdle(idle), known)).toThrow(message);
  });
});
