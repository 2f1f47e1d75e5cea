import { parseConfigText } from '../config/index.js';
import type { MailConfig } from '../config/types.js';
import { startEmbeddedAuthService } from '../auth/embedded-service.js';
import { startDemoMailbox } from '../demo/mailbox.js';
import { ensureSelfSignedCertificate } from './certificate.js';
import { DEFAULT_PORTS, renderDefaultConfig } from './default-config.js';

/** What `postern` prints once the embedded default listens: the demo users and a first command. */
export const embeddedDefaultBanner = (): string[] => [
  `embedded default running: demo users ${DEMO_USERS.map((u) => `${u.user}:${u.password}`).join(', ')}`,
  `try: curl -k --ssl-reqd imaps://127.0.0.1:${DEFAULT_PORTS.imaps}/INBOX -u demo:demo`,
];

/** The demo accounts of the embedded default (documented in the README). */
export const DEMO_USERS = [
  { user: 'demo', password: 'demo' },
  { user: 'alice', password: 'wonderland' },
];

export interface EmbeddedDefault {
  config: MailConfig;
  /** The default configuration made afresh (a reload): the certificate files are read again, or remade if removed. */
  reloadConfig(): Promise<MailConfig>;
  close(): Promise<void>;
}

/**
 * Everything `postern` needs to run with no configuration file: a demo mailbox (POP3, IMAP and
 * an SMTP backend that delivers into it, in memory), an auth_http service that knows the demo users, a self-signed certificate in the
 * state folder, and the default configuration pointing at them.
 */
export async function startEmbeddedDefault(stateDir: string, options: { authFailureWaitSeconds?: number } = {}): Promise<EmbeddedDefault> {
  const mailbox = await startDemoMailbox({ host: '127.0.0.1', pop3Port: 0, imapPort: 0, smtpPort: 0, users: DEMO_USERS });
  const auth = await startEmbeddedAuthService({
    host: '127.0.0.1',
    port: 0,
    users: DEMO_USERS,
    ...(options.authFailureWaitSeconds === undefined ? {} : { failureWaitSeconds: options.authFailureWaitSeconds }),
    backend: {
      pop3: { host: '127.0.0.1', port: mailbox.pop3Port },
      imap: { host: '127.0.0.1', port: mailbox.imapPort },
      smtp: { host: '127.0.0.1', port: mailbox.smtpPort! },
    },
  });
  const makeConfig = async (): Promise<MailConfig> => {
    const certificate = await ensureSelfSignedCertificate(stateDir);
    const text = renderDefaultConfig({ authUrl: auth.url, certificate: certificate.certificate, key: certificate.key });
    return parseConfigText(text, '<embedded default>');
  };
  let config: MailConfig;
  try {
    config = await makeConfig();
  } catch (error) {
    await auth.close();
    await mailbox.close();
    throw error;
  }
  return {
    config,
    reloadConfig: makeConfig,
    close: async () => {
      await auth.close();
      await mailbox.close();
    },
  };
}
