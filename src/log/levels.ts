/** nginx's eight error_log levels, most severe first (ngx_log.c's err_levels). */
export const LEVELS = ['emerg', 'alert', 'crit', 'error', 'warn', 'notice', 'info', 'debug'] as const;

export type Level = (typeof LEVELS)[number];

/** nginx's level number: emerg is 1, debug is 8 (a log takes lines whose number is at most its own). */
export const levelNumber = (level: Level): number => LEVELS.indexOf(level) + 1;

/** Whether a log set to `threshold` takes a line of `level`. */
export const passes = (level: Level, threshold: Level): boolean => levelNumber(level) <= levelNumber(threshold);
