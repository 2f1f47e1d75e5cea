import type { AuthOutcome, AuthRequest } from '../../machines/types.js';
import { nextConnectionNumber } from '../log/context.js';
import type { SessionContext } from './context.js';

/** `authenticate`: one auth_http request, a connection of the worker's pool too; its answer goes to the machine. */
export function authenticate(request: AuthRequest, session: SessionContext): void {
  const { options, log } = session;
  if (!session.takeSlot()) {
    queueMicrotask(() => session.send({ type: 'auth.result', outcome: { status: 'error', reason: options.budget.exhaustedMessage } }));
    return;
  }
  const proxyProtocol = options.client?.proxyProtocol;
  // nginx's auth_http request is a connection of its own, with its own number.
  nextConnectionNumber();
  log.context.login = request.user;
  log.context.action = 'in http auth state';
  const asked = performance.now();
  options.auth
    .request(proxyProtocol === undefined ? request : { ...request, proxyProtocol }, session.signal())
    .then((outcome) => {
      session.releaseSlot();
      // A session that ended meanwhile aborted the request: nothing to report.
      session.enter(() => answered(session, outcome, (performance.now() - asked) / 1000));
    })
    .catch((error: unknown) => session.fail(error));
}

/** The auth service's answer, logged in nginx's words, then told to the machine. */
function answered(session: SessionContext, outcome: AuthOutcome, seconds: number): void {
  const { options, log } = session;
  options.events?.authAnswered(outcome.status === 'wait' ? 'ok' : outcome.status, seconds);
  if (outcome.status === 'error') {
    session.logError(outcome.reason);
    session.facts.failure = 'auth_error';
  } else if (outcome.status === 'fail') log.write('info', `client login failed: "${outcome.text}"`);
  log.context.action = 'in auth state';
  session.send({ type: 'auth.result', outcome });
}
