/** Fuzzing POP3 through the real server in process: see test/fuzz/suite.ts and docs/testing.md ("Fuzzing"). */
import { fuzzProtocol } from './suite.js';

fuzzProtocol('pop3', 'test/fuzz/pop3.test.ts');
