import type { SaslStep } from '../../machines/connection.js';
import type { CommandEvent, ConnectionEvent, SaslInitial } from '../../machines/types.js';
import { decodeBase64Lenient, parseCramMd5, parseSaslPlain } from '../protocols/sasl.js';
import type { Command, Framed } from '../protocols/types.js';
import { Secret } from '../secret.js';

type SaslValue = { user?: string; password?: Secret };

/** Told nginx's info line when a SASL payload is refused (the session logs it). */
export interface SaslRejected {
  saslRejected(message: string): void;
}

const MECHANISM: Record<SaslStep, string> = { plain: 'PLAIN', loginUser: 'LOGIN', loginPassword: 'LOGIN', 'cram-md5': 'CRAM-MD5', external: 'EXTERNAL' };

/** Decode one base64 SASL payload as the given step expects it; `null` when it is not acceptable. */
function decodeSasl(step: SaslStep, payload: Secret, rejected?: SaslRejected): SaslValue | null {
  const decoded = decodeBase64Lenient(payload.reveal());
  if (decoded === null) {
    rejected?.saslRejected(`client sent invalid base64 encoding in AUTH ${MECHANISM[step]} command`);
    return null;
  }
  switch (step) {
    case 'plain': {
      const parsed = parseSaslPlain(decoded);
      // nginx's ngx_mail_auth_plain: no NUL before a login, or none after it.
      const first = decoded.indexOf(0);
      if (parsed === null) rejected?.saslRejected(`client sent invalid ${first < 0 || first + 1 >= decoded.length ? 'login' : 'password'} in AUTH PLAIN command`);
      return parsed;
    }
    case 'cram-md5': {
      const parsed = parseCramMd5(decoded);
      if (parsed === null) rejected?.saslRejected('client sent invalid CRAM-MD5 hash in AUTH CRAM-MD5 command');
      return parsed === null ? null : { user: parsed.user, password: parsed.digest };
    }
    case 'loginUser':
    case 'external':
      return { user: decoded.toString('latin1') };
    case 'loginPassword':
      return { password: new Secret(decoded.toString('latin1')) };
  }
}

/** The step an `AUTHENTICATE <mechanism> <initial>` initial response stands for. */
const INITIAL_STEP: Record<string, SaslStep> = { PLAIN: 'plain', LOGIN: 'loginUser', EXTERNAL: 'external' };

function decodeInitial(mechanism: string, initial: Secret, rejected?: SaslRejected): SaslInitial {
  const step = INITIAL_STEP[mechanism];
  const value = step === undefined ? null : decodeSasl(step, initial, rejected);
  return value === null ? { valid: false } : { valid: true, ...value };
}

/** A plain command as its machine event: `cmd.<kind>` with the command's other fields. */
function commandEvent<C extends Exclude<Command, { kind: 'authenticate' | 'saslResponse' }>>(command: C): CommandEvent {
  const { kind, ...rest } = command;
  // TypeScript cannot follow a template literal type through a spread; CommandEvent is derived from Command.
  return { type: `cmd.${kind}`, ...rest } as CommandEvent;
}

function eventOf(command: Command, rejected?: SaslRejected): ConnectionEvent {
  switch (command.kind) {
    case 'authenticate': {
      const { initialResponse, ...rest } = command;
      return {
        type: 'cmd.authenticate',
        ...rest,
        ...(initialResponse === undefined ? {} : { initial: decodeInitial(command.mechanism, initialResponse, rejected) }),
      };
    }
    case 'saslResponse':
      // Only reached when a SASL line arrives outside a SASL step, which the framer's mode prevents.
      return { type: 'sasl.invalid' };
    default:
      return commandEvent(command);
  }
}

/**
 * Turn one framed item into the machine event it stands for. SASL payloads are decoded here,
 * against the step the machine is waiting in, so that the machine (and its journal) only ever
 * holds opaque `Secret`s and plain user names. `rejected` hears nginx's line for a refused payload.
 */
export function toMachineEvent(item: Framed, saslStep: SaslStep | null, rejected?: SaslRejected): ConnectionEvent {
  switch (item.type) {
    case 'literalContinuation':
      return { type: 'input.literal' };
    case 'tooLong':
      return item.tag === undefined ? { type: 'input.tooLong' } : { type: 'input.tooLong', tag: item.tag };
    case 'command': {
      const { command } = item;
      if (command.kind === 'saslResponse' && saslStep !== null) {
        const value = decodeSasl(saslStep, command.response, rejected);
        return value === null ? { type: 'sasl.invalid' } : { type: 'sasl.response', ...value };
      }
      return eventOf(command, rejected);
    }
  }
}
