/**
 * The file journal adapter, vFunD's embedded default (docs/events.md, "File
 * journal"): what the rest of VirtFun uses of it. Modules: options (open
 * options, the open report), url (the file: URL and its parameters), lines
 * (the file as lines of bytes), open (writer lock, torn-tail repair, the
 * damaged-last-line refusal, the host check, the head), probe (the probe file
 * while writes fail), write-queue (the pure write queue: group commit,
 * backoff, fail-fast, availability), read-index (the good prefix and read
 * checkpoints), segments (closed segments: names, listing, read plans),
 * rotate (closing the active file as a segment), reader (the verifying
 * reader across segments, verifyFile), journal (the FileJournal shell).
 */
export { FileJournal } from './journal.js';
export { verifyFile, type VerifyFileOptions } from './reader.js';
export { DEFAULT_SEGMENT_BYTES, type Segment } from './segments.js';
export type { FileJournalOptions, FileJournalOpenReport } from './options.js';
