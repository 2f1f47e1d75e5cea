/** Fuzzing ManageSieve (`protocol sieve;`, a Postern extension) through the real server in process: see test/fuzz/suite.ts and docs/testing.md ("Fuzzing"). */
import { fuzzProtocol } from './suite.js';

fuzzProtocol('sieve', 'test/fuzz/sieve.test.ts');
