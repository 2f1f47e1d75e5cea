import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MailConfig } from '../config/types.js';
import { errnoText } from './errno.js';

/** Where `pid` points when the configuration has none (nginx's compiled-in path needs root). */
export const SYSTEM_PID_FILE = '/run/postern.pid';

/**
 * The pid file of a run: the `pid` directive's, else `<state dir>/postern.pid` for the embedded
 * default (no configuration file, no root needed) and /run/postern.pid for `-c FILE`.
 */
export function pidFileFor(config: MailConfig | null, stateDir: string): { path: string; configured: boolean } {
  if (config?.pidFile !== undefined) return { path: config.pidFile, configured: true };
  return { path: config === null ? join(stateDir, 'postern.pid') : SYSTEM_PID_FILE, configured: false };
}

export class PidFileError extends Error {}

/** Writes `<pid>\n`, as nginx does. */
export function writePidFile(path: string, pid = process.pid): void {
  try {
    writeFileSync(path, `${pid}\n`);
  } catch (error) {
    throw new PidFileError(`open() "${path}" failed ${errnoText(error as NodeJS.ErrnoException)}`);
  }
}

/** Removes the pid file if it still names this process (a newer instance may have taken it over). */
export function removePidFile(path: string, pid = process.pid): void {
  try {
    if (readFileSync(path, 'utf8').trim() === String(pid)) unlinkSync(path);
  } catch {
    // Already gone, or never written.
  }
}

/** The process id a pid file holds; errors worded like nginx's `-s`. */
export function readPidFile(path: string): number {
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch (error) {
    throw new PidFileError(`open() "${path}" failed ${errnoText(error as NodeJS.ErrnoException)}`);
  }
  const trimmed = text.replace(/[\r\n]+$/, '');
  if (!/^\d+$/.test(trimmed) || Number(trimmed) === 0) throw new PidFileError(`invalid PID number "${trimmed}" in "${path}"`);
  return Number(trimmed);
}
