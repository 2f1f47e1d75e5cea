/**
 * The ONE `mail { }` block given to both nginx 1.22.1 and Postern. Placeholders:
 * `{{auth}}` (auth_http host:port), `{{cert}}`, `{{key}}`, and `{{port:<ServerKey>}}`.
 *
 * `ssl_protocols TLSv1.2;` is set explicitly: nginx 1.22's default is
 * `TLSv1 TLSv1.1 TLSv1.2` while Postern follows today's nginx default `TLSv1.2 TLSv1.3`
 * (an intended difference), so without it the `Auth-SSL-Protocol` header would differ.
 */
import { SERVER_KEYS, type ServerKey } from './runner.js';

export const MAIL_BLOCK_TEMPLATE = `mail {
    server_name mx.test;
    auth_http {{auth}}/auth;
    auth_http_timeout 1s;

    ssl_certificate {{cert}};
    ssl_certificate_key {{key}};
    ssl_protocols TLSv1.2;

    server {
        listen 127.0.0.1:{{port:imap}};
        protocol imap;
        imap_client_buffer 1k;
    }
    server {
        listen 127.0.0.1:{{port:imapStarttls}};
        protocol imap;
        starttls on;
    }
    server {
        listen 127.0.0.1:{{port:imapStarttlsOnly}};
        protocol imap;
        starttls only;
    }
    server {
        listen 127.0.0.1:{{port:imaps}} ssl;
        protocol imap;
    }
    server {
        listen 127.0.0.1:{{port:pop3}};
        protocol pop3;
        pop3_auth plain apop cram-md5;
        max_errors 3;
    }
    server {
        listen 127.0.0.1:{{port:pop3Starttls}};
        protocol pop3;
        starttls on;
    }
    server {
        listen 127.0.0.1:{{port:pop3StarttlsOnly}};
        protocol pop3;
        starttls only;
    }
    server {
        listen 127.0.0.1:{{port:pop3s}} ssl;
        protocol pop3;
    }
}
`;

export interface MailBlockVars {
  auth: string;
  cert: string;
  key: string;
  ports: Record<ServerKey, number>;
}

export function fillMailBlock(template: string, v: MailBlockVars): string {
  const out = template.replace(/\{\{(auth|cert|key|port:([A-Za-z0-9]+))\}\}/g, (_m, what: string, key?: string) => {
    if (key !== undefined) {
      const p = v.ports[key as ServerKey];
      if (p === undefined) throw new Error(`mail block: no port for ${key}`);
      return String(p);
    }
    return what === 'auth' ? v.auth : what === 'cert' ? v.cert : v.key;
  });
  if (out.includes('{{')) throw new Error(`mail block: unfilled placeholder in ${out}`);
  return out;
}

export function portsFrom(list: number[]): Record<ServerKey, number> {
  return Object.fromEntries(SERVER_KEYS.map((k, i) => [k, list[i]!])) as Record<ServerKey, number>;
}
