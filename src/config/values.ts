/**
 * Value syntaxes of nginx directives: numbers, sizes, times, flags. Each parser returns `null`
 * where nginx's would return NGX_ERROR; the caller words the error like nginx.
 */

/** Largest value we accept anywhere (nginx allows up to 2^63-1; JavaScript numbers stop here). */
const MAX = Number.MAX_SAFE_INTEGER;

/** `ngx_atoi`: decimal digits only, at least one. */
export function parseNumber(text: string): number | null {
  if (!/^[0-9]+$/.test(text)) return null;
  const n = Number(text);
  return n > MAX ? null : n;
}

/** `ngx_parse_size`: bytes with an optional `k`/`K` (1024) or `m`/`M` (1024*1024) suffix. */
export function parseSize(text: string): number | null {
  const unit = text.slice(-1);
  const scale = unit === 'k' || unit === 'K' ? 1024 : unit === 'm' || unit === 'M' ? 1024 * 1024 : 1;
  const digits = scale === 1 ? text : text.slice(0, -1);
  const n = parseNumber(digits);
  if (n === null || n * scale > MAX) return null;
  return n * scale;
}

const SECOND_UNITS: Record<string, number> = {
  y: 365 * 24 * 3600,
  M: 30 * 24 * 3600,
  w: 7 * 24 * 3600,
  d: 24 * 3600,
  h: 3600,
  m: 60,
  s: 1,
};
/** Order in which units must appear (each at most once, larger first). */
const UNIT_ORDER = ['y', 'M', 'w', 'd', 'h', 'm', 's', 'ms'];

/**
 * `ngx_parse_time`: a sum like `1h 30m`, `90s`, `500ms`, `2d12h`; a bare number means seconds.
 * Units: `ms` (only for millisecond values), `s`, `m`, `h`, `d`, `w`, and for second values
 * also `M` (30 days) and `y` (365 days); each unit at most once, larger units first.
 * Returns milliseconds (`unit: 'ms'`) or seconds (`unit: 's'`).
 */
export function parseTime(text: string, unit: 'ms' | 's'): number | null {
  let step = unit === 's' ? -1 : UNIT_ORDER.indexOf('M');
  let total = 0;
  let value = 0;
  let valid = false;
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch >= '0' && ch <= '9') {
      value = value * 10 + (ch.charCodeAt(0) - 48);
      if (value > MAX) return null;
      valid = true;
      i++;
      continue;
    }
    i++;
    let name: string;
    if (ch === 'm' && text[i] === 's') {
      if (unit === 's') return null;
      name = 'ms';
      i++;
    } else if (ch === ' ') {
      name = 's';
    } else if (ch in SECOND_UNITS) {
      name = ch;
    } else {
      return null;
    }
    const order = UNIT_ORDER.indexOf(name);
    if (order <= step) return null;
    step = ch === ' ' ? UNIT_ORDER.length : order;
    const scale = name === 'ms' ? 1 : SECOND_UNITS[name]! * (unit === 'ms' ? 1000 : 1);
    total += value * scale;
    if (total > MAX) return null;
    value = 0;
    while (text[i] === ' ') i++;
  }
  if (!valid) return null;
  total += value * (unit === 'ms' ? 1000 : 1);
  return total > MAX ? null : total;
}

/** `on`/`off`, case-insensitive like `ngx_conf_set_flag_slot`. */
export function parseFlag(text: string): boolean | null {
  const lower = text.toLowerCase();
  return lower === 'on' ? true : lower === 'off' ? false : null;
}
