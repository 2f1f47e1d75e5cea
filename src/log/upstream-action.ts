/**
 * nginx's `log->action` while it logs in to the backend (src/mail/ngx_mail_proxy_module.c): set
 * as each line is sent, so that a timeout says what the backend did not answer
 * (`upstream timed out (110: Connection timed out) while sending user name to upstream`).
 * Derived from the line sent and the action before it.
 */
export function upstreamActionAfter(line: string, previous: string | undefined): string {
  const upper = line.slice(0, 16).toUpperCase();
  if (upper.startsWith('USER ')) return 'sending user name to upstream';
  if (upper.startsWith('PASS ')) return 'sending password to upstream';
  if (upper.startsWith('XCLIENT ')) return 'sending XCLIENT to upstream';
  if (upper.startsWith('HELO ') || upper.startsWith('EHLO ')) {
    return previous === 'sending XCLIENT to upstream' ? 'sending client HELO/EHLO to upstream' : 'sending HELO/EHLO to upstream';
  }
  if (upper.startsWith('AUTH ')) return 'sending AUTH to upstream';
  if (upper.startsWith('MAIL FROM:')) return 'sending MAIL FROM to upstream';
  if (upper.startsWith('RCPT TO:')) return 'sending RCPT TO to upstream';
  if (/^\S+ LOGIN /.test(upper)) return 'sending LOGIN command to upstream';
  // IMAP's literals: the user name after LOGIN, the password after the user name.
  if (previous === 'sending LOGIN command to upstream') return 'sending user name to upstream';
  if (previous === 'sending user name to upstream') return 'sending password to upstream';
  // STLS/STARTTLS to a backend (postern_proxy_ssl starttls): nginx has no such step.
  return 'sending STARTTLS to upstream';
}
