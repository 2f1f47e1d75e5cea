import { inspect } from 'node:util';

/** CR and LF end a protocol command line; NUL cuts it short (C strings) or splits SASL PLAIN's fields. */
export const hasCrLfOrNul = (text: string): boolean => /[\r\n\0]/.test(text);

/**
 * A value that must never reach a log, a journal or the inspector: passwords, SASL payloads,
 * digests, private keys. Serialising it (JSON, util.inspect, template strings) yields a fixed
 * marker; only `reveal()` gives the bytes, and only code that talks to the auth service or the
 * backend calls it.
 */
export class Secret {
  static readonly MARKER = '[secret]';
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  get length(): number {
    return this.#value.length;
  }

  /** Whether the value holds CR, LF or NUL: a fact the connection machine acts on, without the value. */
  get hasCrLfOrNul(): boolean {
    return hasCrLfOrNul(this.#value);
  }

  toJSON(): string {
    return Secret.MARKER;
  }

  toString(): string {
    return Secret.MARKER;
  }

  [inspect.custom](): string {
    return Secret.MARKER;
  }
}

export const secret = (value: string): Secret => new Secret(value);
