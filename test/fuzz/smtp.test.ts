/** Fuzzing SMTP through the real server in process: see test/fuzz/suite.ts and docs/testing.md ("Fuzzing"). */
import { fuzzProtocol } from './suite.js';

fuzzProtocol('smtp', 'test/fuzz/smtp.test.ts');
