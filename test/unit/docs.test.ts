import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { machineDiagramSection, MACHINE_SECTION, readSection } from '../../src/diagram/docs.js';

describe('generated documentation', () => {
  it('docs/architecture.md carries the current machine diagram (run `npm run docs` to refresh)', () => {
    const text = readFileSync(new URL('../../docs/architecture.md', import.meta.url), 'utf8');
    expect(readSection(text, MACHINE_SECTION)).toBe(machineDiagramSection());
  });
});
