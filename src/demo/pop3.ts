import type { Socket } from 'node:net';
import { LineReader } from './lines.js';
import type { DemoMessage, DemoStore } from './store.js';

/** DEMO ONLY. A minimal POP3 server (RFC 1939) over the demo store. */
export function servePop3(socket: Socket, store: DemoStore): void {
  let user: string | null = null;
  let box: DemoMessage[] | null = null;
  const send = (text: string) => socket.write(`${text}\r\n`, 'latin1');
  const live = () => (box ?? []).filter((m) => !m.deleted);
  const find = (arg: string | undefined): DemoMessage | undefined => {
    const n = Number(arg);
    const m = box?.[n - 1];
    return Number.isInteger(n) && m && !m.deleted ? m : undefined;
  };
  const size = (m: DemoMessage) => Buffer.byteLength(m.text, 'latin1');
  const stuffed = (text: string) => text.split('\r\n').map((l) => (l.startsWith('.') ? `.${l}` : l)).join('\r\n');

  send('+OK Postern DEMO mailbox (POP3) ready');
  new LineReader(socket, (line) => {
    const [verb = '', ...args] = line.split(' ');
    const command = verb.toUpperCase();
    if (command === 'QUIT') {
      // A demo keeps its messages for the next visitor: deletions end with the session.
      for (const m of box ?? []) m.deleted = false;
      send('+OK bye');
      socket.end();
      return;
    }
    if (command === 'CAPA') return send('+OK\r\nUSER\r\nUIDL\r\nTOP\r\n.');
    if (command === 'NOOP') return send('+OK');
    if (box === null) {
      if (command === 'USER' && args.length > 0) {
        user = args.join(' ');
        return send('+OK');
      }
      if (command === 'PASS' && user !== null) {
        if (!store.check(user, args.join(' '))) return send('-ERR [AUTH] invalid login or password');
        box = store.mailbox(user);
        return send(`+OK demo mailbox of ${user} ready`);
      }
      return send('-ERR not logged in');
    }
    switch (command) {
      case 'STAT':
        return send(`+OK ${live().length} ${live().reduce((sum, m) => sum + size(m), 0)}`);
      case 'LIST':
      case 'UIDL': {
        const value = (m: DemoMessage) => (command === 'LIST' ? size(m) : `demo-${m.uid}`);
        if (args[0] !== undefined) {
          const m = find(args[0]);
          return send(m ? `+OK ${args[0]} ${value(m)}` : '-ERR no such message');
        }
        const lines = box.flatMap((m, i) => (m.deleted ? [] : [`${i + 1} ${value(m)}`]));
        return send(['+OK', ...lines, '.'].join('\r\n'));
      }
      case 'RETR':
      case 'TOP': {
        const m = find(args[0]);
        if (!m) return send('-ERR no such message');
        let text = m.text;
        if (command === 'TOP') {
          const [head = '', body = ''] = text.split('\r\n\r\n');
          text = `${head}\r\n\r\n${body.split('\r\n').slice(0, Number(args[1] ?? 0)).join('\r\n')}`;
        }
        return send(`+OK ${size(m)} octets\r\n${stuffed(text.replace(/\r\n$/, ''))}\r\n.`);
      }
      case 'DELE': {
        const m = find(args[0]);
        if (!m) return send('-ERR no such message');
        m.deleted = true;
        return send('+OK marked');
      }
      case 'RSET':
        for (const m of box) m.deleted = false;
        return send('+OK');
      default:
        return send('-ERR unknown command');
    }
  });
}
