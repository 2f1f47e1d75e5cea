import type { ConnectionEffect } from '../../machines/types.js';
import { authenticate } from './auth-request.js';
import { connectBackend, startRelay } from './backend-handoff.js';
import type { SessionContext } from './context.js';
import { forgetTlsSession, startTls } from './tls-upgrade.js';

type EffectType = ConnectionEffect['type'];
type Handler<T extends EffectType> = (effect: Extract<ConnectionEffect, { type: T }>, session: SessionContext) => void;

/**
 * What the runtime does for each effect the machine emits, one handler per kind. Each runs inside
 * the machine core's containment (a throw fails this connection) and only while the machine is
 * live (the core passes nothing after `close`).
 */
export const EFFECT_HANDLERS: { readonly [T in EffectType]: Handler<T> } = {
  reply: (effect, session) => {
    if (effect.text !== '') session.reply(effect.text);
  },
  startTls: (_effect, session) => startTls(session),
  authenticate: (effect, session) => authenticate(effect.request, session),
  connectBackend: (effect, session) => connectBackend(effect.target, session),
  startRelay: (_effect, session) => startRelay(session),
  log: (effect, session) => session.log[effect.level](effect.message),
  forgetTlsSession: (_effect, session) => forgetTlsSession(session),
  close: (effect, session) => session.close(effect.reason),
};

export function runEffect(effect: ConnectionEffect, session: SessionContext): void {
  (EFFECT_HANDLERS[effect.type] as Handler<EffectType>)(effect, session);
}
