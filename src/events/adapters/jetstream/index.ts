/**
 * The JetStream journal adapter (docs/jetstream.md): what the rest of VirtFun
 * uses of it. Modules: subjects (subject and stream names), options (open
 * options, URLs, the policy state), streams (stream set-up and checks),
 * publish-queue (the pure publish state machine), reader (the verifying
 * reader), trace-sink (per-call traces), journal (the JetStreamJournal shell),
 * auth (credentials), server-config (a nats-server config with permissions),
 * stream-check (the stream check at open), damage, acks and acknowledge
 * (damaged messages and their acknowledgements).
 */
export { JetStreamJournal } from './journal.js';
export { acknowledgeDamage } from './acknowledge.js';
export { DamagedMessageError, type AcknowledgedDamage, type DamageAck } from './damage.js';
export { StreamConfigError, type StreamFault } from './stream-check.js';
export { natsServerConfig, permissionsOf, type NatsUser, type NatsServerConfigSpec } from './server-config.js';
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
