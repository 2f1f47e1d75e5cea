// Regenerates the parts of docs/ that are derived from code: the machine diagram in
// docs/architecture.md and the directive reference docs/configuration.md.
// Run with `npm run docs`; tests fail when the committed docs are stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { machineDiagramSection, replaceSection, MACHINE_SECTION } from '../src/diagram/docs.js';
import { renderConfigurationReference } from '../src/config/reference.js';

const architecture = new URL('../docs/architecture.md', import.meta.url);
writeFileSync(architecture, replaceSection(readFileSync(architecture, 'utf8'), MACHINE_SECTION, machineDiagramSection()));
writeFileSync(new URL('../docs/configuration.md', import.meta.url), renderConfigurationReference());
console.log('docs/architecture.md and docs/configuration.md regenerated');
