import type { ProtocolChart } from '../../machines/dialogue.js';
import type { ResolverConfig, ServerConfig } from '../config/types.js';
import type { BackendLoginScript } from './login-step.js';
import type { CommandScanner } from './scanner.js';

/** What one connection of a protocol takes from its server block. */
export interface ProtocolSettings {
  /** The longest command (POP3: nginx's fixed 128 bytes; IMAP/SMTP: `*_client_buffer`). */
  clientBuffer: number;
  /** `*_auth` as configured. */
  authMethods: readonly string[];
  /** `*_capabilities` as configured. */
  capabilities: readonly string[];
  /** SMTP `smtp_greeting_delay` (0: greet at once). */
  greetingDelayMs: number;
  /** SMTP `proxy_smtp_auth`: the backend login uses AUTH PLAIN. */
  proxySmtpAuth: boolean;
  /** SMTP `resolver`: the client's name is looked up before the greeting. */
  resolver?: ResolverConfig;
}

/**
 * Everything one protocol knows, in one record (nginx's `ngx_mail_protocol_t`): its dialect
 * and pre-authentication dialogue (the part of the connection chart that is its own), how its
 * commands are scanned, what it takes from the configuration and how it logs in to a backend.
 * A protocol is a folder src/protocols/<name>/ whose index.ts exports one of these; the
 * registry (registry.ts) lists them. See docs/architecture.md, "How to add a protocol".
 */
export interface MailProtocol extends ProtocolChart {
  /** A scanner for one connection's commands, bounded by `bufferSize` bytes per command. */
  scanner(bufferSize: number): CommandScanner;
  settings(server: ServerConfig): ProtocolSettings;
  readonly backendLogin: BackendLoginScript;
}
