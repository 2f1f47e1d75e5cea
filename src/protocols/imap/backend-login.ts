import { lengthThroughLine, resumeAfterUpgrade, startsWith, upgradeAfterGreeting, type BackendLoginScript } from '../login-step.js';

/** `<tag> OK`, after at most one untagged line (as current nginx, 1.27.3+: e.g. `* CAPABILITY`). */
const taggedOk =
  (tag: string) =>
  (reply: string): 'ok' | 'more' | 'bad' => {
    const ok = `${tag} OK`;
    if (reply.startsWith(ok)) return 'ok';
    if (!reply.startsWith('* ')) return 'bad';
    const rest = reply.slice(reply.indexOf('\n') + 1);
    if (rest === '') return 'more';
    return rest.startsWith(ok) ? 'ok' : 'bad';
  };

/**
 * IMAP (nginx: ngx_mail_proxy_imap_handler): LOGIN with synchronising literals for both user
 * and password, reusing the client's tag; STARTTLS with that tag too.
 */
export const imapBackendLogin: BackendLoginScript = {
  steps: (target) => {
    const tag = target.tag ?? '';
    return [
      { check: startsWith('* OK'), send: () => `${tag} LOGIN {${target.user.length}}\r\n` },
      { check: startsWith('+'), send: () => `${target.user} {${target.password.length}}\r\n` },
      { check: startsWith('+'), send: () => `${target.password.reveal()}\r\n` },
      { check: taggedOk(tag) },
    ];
  },
  starttls: (target, steps) => {
    const tag = target.tag ?? '';
    return upgradeAfterGreeting(steps, (greeting) => [
      { check: greeting.check, send: () => `${tag} STARTTLS\r\n` },
      resumeAfterUpgrade(greeting, taggedOk(tag)),
    ]);
  },
  replyLength: (reply, target) => lengthThroughLine(reply, (line) => line.startsWith(`${target.tag ?? ''} `)),
};
