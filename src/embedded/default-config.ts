/**
 * The configuration `postern` runs with when no `-c FILE` is given: nginx syntax, loopback high
 * ports, STARTTLS offered, implicit TLS on the usual +10000 ports. Placeholders in `@...@` are
 * filled at start (certificate paths and the embedded auth service's port).
 */
export const DEFAULT_PORTS = { pop3: 10110, pop3s: 10995, imap: 10143, imaps: 10993, smtp: 10587 } as const;

export const DEFAULT_CONFIG_TEMPLATE = `# Postern's embedded default: a demo, on loopback only.
mail {
    server_name           localhost;
    auth_http             @AUTH_URL@;
    ssl_certificate       @CERTIFICATE@;
    ssl_certificate_key   @KEY@;
    starttls              on;
    pop3_auth             plain apop cram-md5;
    imap_auth             plain login cram-md5;
    smtp_auth             plain login;
    proxy_pass_error_message on;

    server {
        listen   127.0.0.1:${DEFAULT_PORTS.pop3};
        listen   127.0.0.1:${DEFAULT_PORTS.pop3s} ssl;
        protocol pop3;
    }

    server {
        listen   127.0.0.1:${DEFAULT_PORTS.imap};
        listen   127.0.0.1:${DEFAULT_PORTS.imaps} ssl;
        protocol imap;
    }

    # Submission: STARTTLS offered, AUTH PLAIN/LOGIN; the demo backend delivers to the demo INBOXes.
    server {
        listen   127.0.0.1:${DEFAULT_PORTS.smtp};
        protocol smtp;
    }
}
`;

export function renderDefaultConfig(values: { authUrl: string; certificate: string; key: string }): string {
  return DEFAULT_CONFIG_TEMPLATE.replace('@AUTH_URL@', values.authUrl)
    .replace('@CERTIFICATE@', JSON.stringify(values.certificate))
    .replace('@KEY@', JSON.stringify(values.key));
}
