/** nginx's options as `postern` takes them: the configuration file and what changes how it is read. */
export interface MainOptions {
  /** `-c FILE` */
  config: string | undefined;
  /** `-g DIRECTIVES`: main-context directives read before the file. */
  globals: string | undefined;
  /** `-p PREFIX` */
  prefix: string | undefined;
  /** `-e FILE`: the error log when the configuration sets none. */
  errorLog: string | undefined;
  /** `--state-dir DIR` (the embedded default) */
  stateDir: string | undefined;
}
