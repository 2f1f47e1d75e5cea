export { createFramer } from './framer.js';
export {
  asciiUpper,
  classifyAuthenticate,
  decodeBase64Lenient,
  encodeBase64,
  parseCramMd5,
  parseSaslPlain,
} from './sasl.js';
export type { Command, CommandFramer, CommandKind, FrameMode, Framed } from './types.js';
