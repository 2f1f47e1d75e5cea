/**
 * DEMO ONLY — the in-memory message store behind Postern's embedded default (`npm start` with no
 * configuration). A few fixed RFC 5322 messages per demo user, enough for curl, Python's
 * poplib/imaplib and imapflow to list and read mail through the proxy. Nothing is persisted and
 * nothing is ever really deleted: this is a demonstration backend, not a mail server.
 */

export interface DemoUser {
  user: string;
  password: string;
}

export interface DemoMessage {
  uid: number;
  /** The whole message as a binary (latin1) string, CRLF line ends, ending with CRLF. */
  raw: string;
  /** IMAP flags (`\Seen`, `\Flagged`, ...), shared by the user's sessions. */
  flags: Set<string>;
}

/** Normalise to CRLF line ends and a final CRLF; keep the UTF-8 bytes as a binary string. */
export function toRawMessage(text: string): string {
  const crlf = text.replace(/\r?\n/g, '\r\n');
  return Buffer.from(crlf.endsWith('\r\n') ? crlf : `${crlf}\r\n`, 'utf8').toString('latin1');
}

/** The header block including the empty line that ends it. */
export function headerOf(raw: string): string {
  const end = raw.indexOf('\r\n\r\n');
  return end < 0 ? raw : raw.slice(0, end + 4);
}

export function bodyOf(raw: string): string {
  return raw.slice(headerOf(raw).length);
}

/** First value of a header field (unfolded), '' when absent. */
export function headerField(raw: string, name: string): string {
  const lines = headerOf(raw).replace(/\r\n[ \t]+/g, ' ').split('\r\n');
  const prefix = `${name.toLowerCase()}:`;
  const line = lines.find((l) => l.toLowerCase().startsWith(prefix));
  return line === undefined ? '' : line.slice(prefix.length).trim();
}

const demoText = (n: number, user: string, subject: string, body: string[]): string =>
  [
    'From: Postern Demo <demo@postern.invalid>',
    `To: ${user} <${user}@postern.invalid>`,
    `Subject: ${subject}`,
    `Date: Mon, 2 Nov 2026 10:0${n}:00 +0000`,
    `Message-ID: <demo-${n}.${user}@postern.invalid>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    ...body,
  ].join('\r\n');

/** The fixed demo messages of a user. */
export function demoMessages(user: string): string[] {
  return [
    demoText(1, user, 'Welcome to Postern', [
      'This message comes from the DEMO mailbox of Postern\'s embedded default.',
      'It reached you through the proxy: Postern asked its auth service who you',
      'are, logged in to this demo backend for you, and now relays the bytes.',
    ]),
    demoText(2, user, 'Point Postern at your own servers', [
      'Write an nginx-style mail { } configuration with auth_http and your',
      'backends, then run: postern -c /path/to/mail.conf',
    ]),
    demoText(3, user, 'Dot-stuffing check', ['A line with a single dot follows:', '.', 'And one that starts with a dot:', '.hidden', 'The end.']),
  ];
}

export class DemoStore {
  readonly #users: readonly DemoUser[];
  readonly #messages: readonly string[] | undefined;
  readonly #boxes = new Map<string, DemoMessage[]>();

  constructor(users: readonly DemoUser[], messages?: readonly string[]) {
    this.#users = users;
    this.#messages = messages;
  }

  /** The user's mailbox when the password is right, else undefined. */
  login(user: string, password: string): DemoMessage[] | undefined {
    const account = this.#users.find((u) => u.user === user);
    if (account === undefined || account.password !== password) return undefined;
    return this.#box(user);
  }

  hasUser(user: string): boolean {
    return this.#users.some((u) => u.user === user);
  }

  /** Appends a message (CRLF text) to a demo user's INBOX, with the next UID (the demo SMTP backend's delivery). */
  deliver(user: string, raw: string): void {
    const box = this.#box(user);
    box.push({ uid: (box.at(-1)?.uid ?? 0) + 1, raw, flags: new Set<string>() });
  }

  #box(user: string): DemoMessage[] {
    let box = this.#boxes.get(user);
    if (box === undefined) {
      const texts = this.#messages ?? demoMessages(user);
      box = texts.map((text, i) => ({ uid: i + 1, raw: toRawMessage(text), flags: new Set<string>() }));
      this.#boxes.set(user, box);
    }
    return box;
  }
}
