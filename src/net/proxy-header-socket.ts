/**
 * `listen ... proxy_protocol`: read the PROXY header a connection starts with, within `timeout`,
 * before anything else happens to the socket (nothing is written to the client meanwhile).
 * What followed the header is put back into the socket for the session (or the TLS handshake).
 */
import type { Socket } from 'node:net';
import { ProxyHeaderReader, type ProxyAddresses } from './proxy-protocol.js';

export type ProxyHeaderOutcome =
  | { status: 'header'; addresses: ProxyAddresses | null }
  /** The connection is over: `log` (at `level`) says why, as nginx's error log would. */
  | { status: 'failed'; level: 'error' | 'info'; log: string };

const ACTION = 'while reading PROXY protocol';

export function readProxyHeaderFrom(socket: Socket, timeoutMs: number): Promise<ProxyHeaderOutcome> {
  return new Promise((resolve) => {
    const reader = new ProxyHeaderReader();
    const finish = (outcome: ProxyHeaderOutcome, rest?: Buffer) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.off('close', onClose);
      socket.pause();
      if (rest !== undefined && rest.length > 0) socket.unshift(rest);
      resolve(outcome);
    };
    const onData = (chunk: Buffer) => {
      const verdict = reader.push(chunk);
      if (verdict.status === 'header') finish({ status: 'header', addresses: verdict.addresses }, verdict.rest);
      else if (verdict.status === 'broken') finish({ status: 'failed', level: 'error', log: `${verdict.log} ${ACTION}` });
    };
    const onEnd = () => {
      const verdict = reader.end();
      finish({ status: 'failed', level: 'error', log: `${verdict.status === 'broken' ? verdict.log : 'broken header: ""'} ${ACTION}` });
    };
    const onError = (error: Error) => finish({ status: 'failed', level: 'info', log: `recv() failed (${error.message}) ${ACTION}` });
    const onClose = () => finish({ status: 'failed', level: 'info', log: `client closed connection ${ACTION}` });
    const timer = setTimeout(() => finish({ status: 'failed', level: 'info', log: `client timed out (110: Connection timed out) ${ACTION}` }), timeoutMs);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}
