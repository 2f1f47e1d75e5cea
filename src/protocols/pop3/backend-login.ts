import { lengthThroughLine, resumeAfterUpgrade, startsWith, upgradeAfterGreeting, type BackendLoginScript } from '../login-step.js';

/** POP3 (nginx: ngx_mail_proxy_pop3_handler): USER/PASS whatever the client used; the PASS reply is what the client sees first. */
export const pop3BackendLogin: BackendLoginScript = {
  steps: (target) => [
    { check: startsWith('+OK'), send: () => `USER ${target.user}\r\n` },
    { check: startsWith('+OK'), send: () => `PASS ${target.password.reveal()}\r\n` },
    { check: startsWith('+OK') },
  ],
  starttls: (_target, steps) =>
    upgradeAfterGreeting(steps, (greeting) => [{ check: greeting.check, send: () => 'STLS\r\n' }, resumeAfterUpgrade(greeting, startsWith('+OK'))]),
  // A one-line reply.
  replyLength: (reply) => lengthThroughLine(reply, () => true),
};
