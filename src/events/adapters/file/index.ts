/**
 * The file journal adapter, vFunD's embedded default (docs/events.md, "File
 * journal"): what the rest of VirtFun uses of it. Modules: options (open
 * options, the open report), lines (the file as lines of bytes), open (writer
 * lock, torn-tail repair, the head), probe (the probe file while writes fail),
 * write-queue (the pure write queue: group commit, backoff, fail-fast,
 * availability), read-index (the good prefix and read checkpoints), reader
 * (the verifying reader, verifyFile), journal (the FileJournal shell).
 */
export { FileJournal } from './journal.js';
export { verifyFile } from './reader.js';
export type { FileJournalOptions, FileJournalOpenReport } from './options.js';
