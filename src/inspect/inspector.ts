import { BlockList, isIP } from 'node:net';
import { createWebSocketInspector } from '@statelyai/inspect';
import type { InspectionEvent, Observer } from 'xstate';
import { encodeJournalLine } from '../journal/codec.js';
import type { SessionInspector } from '../session/session.js';

/**
 * A value as the journal writes it: secrets (passwords, SASL payloads, digests) become
 * `{"$secret":"redacted"}` by type, and the result is plain JSON data.
 */
export const redact = <T>(value: T): T => (value === undefined ? value : (JSON.parse(encodeJournalLine(value)) as T));

/**
 * Redact an XState inspection event before `@statelyai/inspect` converts it: that conversion
 * stringifies snapshots itself, so its own `sanitizeContext` would only ever see them after the
 * fact. Events and snapshots go through the journal codec here; `@xstate.actor` carries
 * the live snapshot, which the inspector's `sanitizeContext` (also the codec) handles.
 */
export function redactInspection(event: InspectionEvent): InspectionEvent {
  switch (event.type) {
    case '@xstate.event':
      return { ...event, event: redact(event.event) };
    case '@xstate.snapshot':
      return { ...event, event: redact(event.event), snapshot: redact(event.snapshot) };
    default:
      return event;
  }
}

/** `--inspect-client`: one address or a CIDR block, IPv4 or IPv6. */
export function clientFilter(spec: string): (ip: string) => boolean {
  const [address = '', prefix] = spec.split('/');
  const family = isIP(address);
  const bits = prefix === undefined ? undefined : Number(prefix);
  if (family === 0 || (bits !== undefined && (!/^\d+$/.test(prefix!) || bits > (family === 4 ? 32 : 128)))) {
    throw new Error(`invalid client address "${spec}" (an IP address or CIDR block)`);
  }
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const list = new BlockList();
  if (bits === undefined) list.addAddress(address, type);
  else list.addSubnet(address, bits, type);
  return (ip: string) => {
    const ipFamily = isIP(ip);
    return ipFamily !== 0 && list.check(ip, ipFamily === 4 ? 'ipv4' : 'ipv6');
  };
}

export interface SessionInspectorOptions {
  /** The relay's app URL (`InspectorRelay.appUrl`). */
  url: string;
  /** Inspect at most this many connections (the first ones that pass the client filter). */
  sessions: number;
  /** Only connections from this address or CIDR block. */
  client?: string;
}

export interface LiveSessionInspector extends SessionInspector {
  /** How many connections have been handed to the inspector. */
  inspected(): number;
  stop(): void;
}

/**
 * The app side of `postern --inspect`: one WebSocket to the relay, attached as the `inspect`
 * observer of the first `sessions` connections that match `client`; everything redacted.
 */
export function createSessionInspector(options: SessionInspectorOptions): LiveSessionInspector {
  const accepts = options.client === undefined ? () => true : clientFilter(options.client);
  const inspector = createWebSocketInspector({
    url: options.url,
    sanitizeEvent: redact,
    sanitizeContext: redact,
  });
  const observer: Observer<InspectionEvent> = {
    next: (event) => inspector.inspect.next?.(redactInspection(event)),
  };
  let count = 0;
  return {
    observerFor(clientIp) {
      if (count >= options.sessions || !accepts(clientIp)) return undefined;
      count += 1;
      return observer;
    },
    inspected: () => count,
    stop: () => inspector.stop(),
  };
}
