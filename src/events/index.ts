/**
 * Public API of the events feature: the catalogue, the envelope, the journal
 * port, canonical encoding, the hash chain, the recorder and the memory
 * journal. Adapters that do I/O (the file journal) are exported from the
 * package entry point, not from here, so this folder stays free of node:*.
 */
export * from './catalogue.js';
export * from './envelope.js';
export type { AppendOptions, Journal, JournalAvailability, JournalHead, ReadOptions } from './journal.js';
export {
  canonicalJson,
  encodeEnvelope,
  encodingOfText,
  hashEnvelope,
  sha256Hex,
  type EnvelopeEncoding,
} from './canonical.js';
export {
  chainFault,
  checkAppend,
  envelopeShapeFault,
  isHash,
  sealEnvelope,
  verifyChain,
  type ChainCheckOptions,
  type ChainFault,
  type ChainReport,
  type SealContext,
} from './chain.js';
export { Recorder, type RecorderOptions } from './recorder.js';
export { MemoryJournal } from './memory-journal.js';
