import { ConfigError } from '../config/index.js';
import { TlsSetupError } from '../net/tls.js';

/**
 * One `[emerg]` line: the message of an error Postern words itself (configuration, TLS set-up,
 * and whatever `worded` names), the stack of anything else.
 */
export function describeFailure(error: unknown, worded: ReadonlyArray<abstract new (...args: never[]) => Error> = []): string {
  if (error instanceof ConfigError || error instanceof TlsSetupError || worded.some((kind) => error instanceof kind)) return `[emerg] ${(error as Error).message}`;
  return `[emerg] ${(error as Error).stack ?? String(error)}`;
}
