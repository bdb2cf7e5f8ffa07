/**
 * The JetStream journal adapter (docs/jetstream.md): what the rest of VirtFun
 * uses of it. Modules: subjects (subject and stream names), options (open
 * options, URLs, the policy state), streams (stream set-up and checks),
 * publish-queue (the pure publish state machine), reader (the verifying
 * reader), trace-sink (per-call traces), journal (the JetStreamJournal shell).
 */
export { JetStreamJournal } from './journal.js';
export { parseJetStreamUrl } from './options.js';
export type { JetStreamJournalListener, JetStreamJournalOptions, JetStreamJournalState } from './options.js';
export {
  DEFAULT_TRACE_STREAM,
  EVENT_SUBJECT_PREFIX,
  TRACE_SUBJECT_PREFIX,
  defaultEventStream,
  defaultHost,
  eventSubject,
  subjectToken,
  traceSubject,
} from './subjects.js';
export { TraceSink } from './trace-sink.js';
export type { TraceRecord, TraceSinkOptions, TraceSinkStats } from './trace-sink.js';
