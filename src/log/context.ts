/**
 * What nginx's mail log handler (ngx_mail_log_error, src/mail/ngx_mail_handler.c) appends to a
 * session's lines: ` while ACTION`, `, client: ADDR`, ` using starttls`, `, server: ADDR:PORT`,
 * `, login: "LOGIN"` once a login is known, `, upstream: ADDR:PORT` once the backend is chosen.
 * The session keeps one of these and updates it; the message text itself is passed through.
 */
export interface ConnectionContext {
  /** nginx's connection number (`*N`), monotonic per process. */
  readonly number: number;
  /** The client's address, without port. */
  readonly client: string;
  /** The listening address as written in `listen` (nginx's `addr_text`). */
  server: string | undefined;
  /** Set once STARTTLS/STLS succeeded. */
  starttls: boolean;
  login: string | undefined;
  upstream: string | undefined;
  /** nginx's `log->action`: what the connection was doing (`in http auth state`, ...). */
  action: string | undefined;
}

/** The suffix nginx writes after a session's message. */
export function contextSuffix(context: ConnectionContext): string {
  let text = context.action === undefined ? '' : ` while ${context.action}`;
  text += `, client: ${context.client}`;
  if (context.server === undefined) return text;
  text += `${context.starttls ? ' using starttls' : ''}, server: ${context.server}`;
  if (context.login === undefined || context.login === '') return text;
  text += `, login: "${context.login}"`;
  if (context.upstream === undefined) return text;
  return `${text}, upstream: ${context.upstream}`;
}

/** The fields of a context for structured (JSON) lines: the same facts, named. */
export function contextFields(context: ConnectionContext): Record<string, unknown> {
  const fields: Record<string, unknown> = { connection: context.number, client: context.client };
  if (context.server !== undefined) fields.server = context.server;
  if (context.starttls) fields.starttls = true;
  if (context.login !== undefined && context.login !== '') fields.login = context.login;
  if (context.upstream !== undefined) fields.upstream = context.upstream;
  if (context.action !== undefined) fields.action = context.action;
  return fields;
}

let counter = 0;

/**
 * nginx's connection counter (ngx_connection_counter): one number per accepted client, per
 * auth_http request and per upstream connection, as nginx counts every connection it makes.
 */
export const nextConnectionNumber = (): number => ++counter;
