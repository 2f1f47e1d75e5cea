/** Fuzzing IMAP through the real server in process: see test/fuzz/suite.ts and docs/testing.md ("Fuzzing"). */
import { fuzzProtocol } from './suite.js';

fuzzProtocol('imap', 'test/fuzz/imap.test.ts');
