// Regenerates the parts of docs/ that are derived from code: the machine diagram in
// docs/architecture.md (and, when the config module provides it, docs/configuration.md).
// Run with `npm run docs`; test/unit/docs.test.ts fails when the committed docs are stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { machineDiagramSection, replaceSection, MACHINE_SECTION } from '../src/diagram/docs.js';

const file = new URL('../docs/architecture.md', import.meta.url);
const text = readFileSync(file, 'utf8');
writeFileSync(file, replaceSection(text, MACHINE_SECTION, machineDiagramSection()));
console.log('docs/architecture.md: machine diagram regenerated');
