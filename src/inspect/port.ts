/** The inspector relay's default port (`postern --inspect` without a value); its own module so that the CLI's usage text needs no WebSocket library. */
export const DEFAULT_INSPECT_PORT = 8080;
