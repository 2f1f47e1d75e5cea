/**
 * DEMO ONLY. The in-memory mailboxes behind Postern's embedded default: a few fixed messages per
 * demo user, enough for curl, Python's imaplib/poplib and imapflow to list and read mail.
 */
export interface DemoMessage {
  uid: number;
  /** The whole message, CRLF line ends. */
  text: string;
  deleted: boolean;
}

const message = (n: number, user: string, subject: string, body: string): string =>
  [
    `From: Postern Demo <demo@postern.invalid>`,
    `To: ${user}@postern.invalid`,
    `Subject: ${subject}`,
    `Date: Mon, 2 Nov 2026 10:0${n}:00 +0000`,
    `Message-ID: <demo-${n}.${user}@postern.invalid>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    ...body.split('\n'),
    '',
  ].join('\r\n');

export function demoMessages(user: string): DemoMessage[] {
  return [
    message(1, user, 'Welcome to Postern', 'This message comes from the demo mailbox of Postern\'s embedded default.\nIt went through the proxy to reach you.'),
    message(2, user, 'How this works', 'Postern asked its auth service who you are, logged in to this demo backend\nfor you, and now copies bytes between the two connections.'),
    message(3, user, 'Dot-stuffing test', 'A line with a single dot follows:\n.\nAnd one that starts with a dot:\n.hidden'),
  ].map((text, i) => ({ uid: i + 1, text, deleted: false }));
}

export class DemoStore {
  readonly #boxes = new Map<string, DemoMessage[]>();

  constructor(readonly users: ReadonlyArray<{ user: string; password: string }>) {}

  check(user: string, password: string): boolean {
    return this.users.some((u) => u.user === user && u.password === password);
  }

  mailbox(user: string): DemoMessage[] {
    let box = this.#boxes.get(user);
    if (!box) {
      box = demoMessages(user);
      this.#boxes.set(user, box);
    }
    return box;
  }
}
