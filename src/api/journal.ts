/**
 * `virtfun/journal`: every control decision vFunD makes, as typed events in
 * hash-chained envelopes (docs/events.md), and the journals that keep them:
 * the embedded file journal (the default), NATS JetStream, and memory.
 */

// The catalogue and the envelope
export { EVENT_TYPES, SCHEMA_VERSION, isEventType, isSecurityEvent, ACTIVATION_FAILURES, SECURITY_REASONS } from '../events/catalogue.js';
export type {
  VFunEvent,
  VFunEventType,
  Event,
  VFunDStarted,
  VFunDStopped,
  NegotiationAcked,
  NegotiationNacked,
  ActivationStarted,
  ActivationAcked,
  ActivationNacked,
  ServiceFailed,
  ServiceRestarted,
  ClientLost,
  InstanceReleased,
  ReleaseNacked,
  RequestRefused,
  RefusalsSuppressed,
  ControlDisconnected,
  VFunDConfigSnapshot,
  TenantConfig,
  FunctionConfig,
  FunctionKindConfig,
  DeviceConfig,
  Kind,
  NackReason,
  ReleaseReason,
  ComputationStats,
  ServiceExitCause,
} from '../events/catalogue.js';
export { eventOf, HOST_SCOPE, GENESIS_HASH } from '../events/envelope.js';
export type { Envelope, PendingEvent, Scope, Clock, IdSource } from '../events/envelope.js';

// Journals
export type { AppendOptions, Journal, JournalAvailability, JournalHead, ReadOptions } from '../events/journal.js';
export { openJournal, journalPath, JOURNAL_SCHEMES } from '../events/adapters/open-journal.js';
export type { OpenedJournal, OpenJournalOptions } from '../events/adapters/open-journal.js';
export { FileJournal, verifyFile } from '../events/adapters/file/index.js';
export type { FileJournalOptions, FileJournalOpenReport, VerifyFileOptions, Segment } from '../events/adapters/file/index.js';
export { checkHosts, writerHostFault, type HostPolicy } from '../events/host-check.js';
export { JetStreamJournal, TraceSink, parseJetStreamUrl } from '../events/adapters/jetstream/index.js';
export { MemoryJournal } from '../events/memory-journal.js';

// Checking a journal
export { verifyChain } from '../events/chain.js';
export type { ChainReport, ChainFault, ChainCheckOptions } from '../events/chain.js';
export { canonicalJson, hashEnvelope, sha256Hex } from '../events/canonical.js';

// Checkpoints, witnesses and receipts (docs/proofs.md): what a tenant or an auditor needs to check
// vFunD's signed tree heads and an event's receipt in their own program.
export { eventLeafHash, leafHash, nodeHash, treeHead, inclusionProof, verifyInclusion, consistencyProof, verifyConsistency, MerkleBuilder } from '../events/merkle.js';
export type { ProofCheck, Frontier } from '../events/merkle.js';
export { journalOrigin, encodeCheckpoint, parseCheckpoint, verifyCheckpoint } from '../events/checkpoint.js';
export type { Checkpoint, CheckpointCheck } from '../events/checkpoint.js';
export { parseVerifierKey, encodeVerifierKey, openNote } from '../events/signed-note.js';
export type { NoteVerifier, NoteSigner, Ed25519Verify, NoteOpen } from '../events/signed-note.js';
export { ed25519Verify, readVerifierKeyFile } from '../events/adapters/checkpoint-key.js';
export { RECEIPT_FORMAT, makeReceipt, parseReceipt, checkReceipt } from '../events/receipt.js';
export type { Receipt, ReceiptCheck } from '../events/receipt.js';
export { verifyCheckpoints, checkedAgainstCheckpoints } from '../events/checkpoint-verify.js';
export type { CheckpointReport, CheckpointVerifyOptions, WitnessNotes } from '../events/checkpoint-verify.js';
