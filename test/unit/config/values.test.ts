import { describe, expect, it } from 'vitest';
import { parseFlag, parseNumber, parseSize, parseTime } from '../../../src/config/values.js';

describe('config values', () => {
  it('parses times in milliseconds like ngx_parse_time', () => {
    expect(parseTime('60s', 'ms')).toBe(60_000);
    expect(parseTime('60', 'ms')).toBe(60_000);
    expect(parseTime('0', 'ms')).toBe(0);
    expect(parseTime('500ms', 'ms')).toBe(500);
    expect(parseTime('24h', 'ms')).toBe(86_400_000);
    expect(parseTime('1h 30m', 'ms')).toBe(5_400_000);
    expect(parseTime('1d2h3m4s5ms', 'ms')).toBe(((24 + 2) * 3600 + 3 * 60 + 4) * 1000 + 5);
    expect(parseTime('2w', 'ms')).toBe(14 * 86_400_000);
    expect(parseTime('1m30s', 'ms')).toBe(90_000);
  });

  it('rejects malformed times, unit order violations and M/y for millisecond values', () => {
    for (const bad of ['', 's', '1x', '1s1m', '1s1s', '1y', '1M', '-1s', '1.5s', '1ms1s', 'on']) {
      expect(parseTime(bad, 'ms'), bad).toBeNull();
    }
  });

  it('parses times in seconds, where y and M are allowed and ms is not', () => {
    expect(parseTime('1y', 's')).toBe(365 * 86400);
    expect(parseTime('1M', 's')).toBe(30 * 86400);
    expect(parseTime('10', 's')).toBe(10);
    expect(parseTime('5ms', 's')).toBeNull();
  });

  it('parses sizes with k/K and m/M', () => {
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize('4k')).toBe(4096);
    expect(parseSize('64K')).toBe(65536);
    expect(parseSize('1m')).toBe(1048576);
    expect(parseSize('2M')).toBe(2097152);
    for (const bad of ['', 'k', '1g', '1G', '1.5k', '-1', '1 k', '1kb']) expect(parseSize(bad), bad).toBeNull();
  });

  it('parses numbers and flags', () => {
    expect(parseNumber('5')).toBe(5);
    expect(parseNumber('007')).toBe(7);
    expect(parseNumber('')).toBeNull();
    expect(parseNumber('5x')).toBeNull();
    expect(parseNumber('-5')).toBeNull();
    expect(parseFlag('on')).toBe(true);
    expect(parseFlag('OFF')).toBe(false);
    expect(parseFlag('yes')).toBeNull();
  });
});
