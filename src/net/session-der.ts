/**
 * The two fields Postern reads from a serialised TLS session (OpenSSL's SSL_SESSION_ASN1, as
 * `newSession` and `TLSSocket.getSession()` give it): SEQUENCE { version INTEGER, ssl_version
 * INTEGER, cipher OCTET STRING, session_id OCTET STRING, ... }.
 */

export interface SessionFields {
  /** 0x0303 for TLS 1.2, 0x0304 for TLS 1.3. */
  protocolVersion: number;
  id: Buffer;
}

export const TLS1_3_VERSION = 0x0304;

/** undefined when the bytes are not a session this reader understands. */
export function sessionFields(der: Buffer): SessionFields | undefined {
  try {
    let at = 0;
    /** Reads one tag and length; returns the value's bounds and leaves `at` at the value. */
    const header = (tag: number): number => {
      if (der[at] !== tag) throw new Error('unexpected tag');
      let length = der[at + 1]!;
      at += 2;
      if (length & 0x80) {
        const octets = length & 0x7f;
        if (octets === 0 || octets > 3) throw new Error('bad length');
        length = der.readUIntBE(at, octets);
        at += octets;
      }
      if (at + length > der.length) throw new Error('truncated');
      return length;
    };
    const value = (tag: number): Buffer => {
      const length = header(tag);
      at += length;
      return der.subarray(at - length, at);
    };
    header(0x30); // step into the SEQUENCE
    value(0x02); // version
    const protocol = value(0x02);
    value(0x04); // cipher
    const id = value(0x04);
    return { protocolVersion: protocol.readUIntBE(0, protocol.length), id: Buffer.from(id) };
  } catch {
    return undefined;
  }
}
