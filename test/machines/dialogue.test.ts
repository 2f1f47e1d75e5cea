/**
 * The protocol dialogues grafted onto the chart: every name they use must exist, so that a
 * misspelt line, guard or update stops the build of the chart instead of surfacing when a client
 * happens to take that transition.
 */
import { not } from 'xstate';
import { describe, expect, it } from 'vitest';
import { checkChart, connectionMachine, SKELETON_DIALOGUE_STATES } from '../../machines/connection.js';
import { check, note, say, type ProtocolChart } from '../../machines/dialogue.js';
import { mailProtocols } from '../../src/protocols/registry.js';

const known = {
  guards: Object.keys(connectionMachine.implementations.guards),
  actions: Object.keys(connectionMachine.implementations.actions),
  states: SKELETON_DIALOGUE_STATES,
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

  it('knows the skeleton dialogue states: the greeting, the STARTTLS handshake, idle and every SASL step', () => {
    expect(SKELETON_DIALOGUE_STATES).toEqual(
      expect.arrayContaining(['greeting', 'handshake', 'greetingDelay', 'idle', 'saslPlain', 'saslLoginUser', 'saslLoginPassword', 'saslCramMd5', 'saslExternal']),
    );
    // The protocols' own states (POP3's after USER) are not the skeleton's.
    for (const protocol of Object.values(mailProtocols)) {
      for (const name of Object.keys(protocol.dialogue.states ?? {})) expect(SKELETON_DIALOGUE_STATES).not.toContain(name);
    }
  });

  it.each(['greeting', 'handshake', 'idle', 'saslPlain', 'saslLoginPassword'])('refuses a command state named %s (it would replace the skeleton\'s)', (name) => {
    const chart: ProtocolChart = {
      ...mailProtocols.pop3,
      dialogue: { ...mailProtocols.pop3.dialogue, states: { ...mailProtocols.pop3.dialogue.states, [name]: { on: { 'cmd.noop': { actions: 'replyOk' } } } } },
    };
    expect(() => checkChart(chart, known)).toThrow(`protocol pop3: command state "${name}" is one of the skeleton's`);
  });
});
