/**
 * Error classes with stable codes. Every error VirtFun throws on purpose is a
 * `VirtFunError`: `code` is machine-readable and stable, `message` says what
 * was wrong (naming the field and the limit where there is one), `cause` keeps
 * the underlying error.
 */
export type VirtFunErrorCode =
  | 'VALIDATION'
  | 'CONFIG'
  | 'JOURNAL_CORRUPT'
  | 'JOURNAL_CLOSED'
  | 'JOURNAL_URL'
  /** Another process writes this journal (one writer per journal). */
  | 'JOURNAL_LOCKED'
  /** The journal cannot take events right now (a full disk, an I/O error, another writer); vFunD is fail-closed. */
  | 'JOURNAL_UNAVAILABLE'
  /** A journal's envelopes name another host than the one expected (src/events/host-check.ts). */
  | 'JOURNAL_HOST'
  | 'CONCURRENCY'
  | 'CHANNEL_TIMEOUT'
  | 'CHANNEL_CLOSED'
  /** A synchronous channel operation while async ones are queued or running on the same channel. */
  | 'CHANNEL_BUSY'
  | 'CHANNEL_PROTOCOL'
  | 'SERVICE_ERROR'
  | 'REGION'
  /** The host could not back something an activation needs (memory or disk full, a resource limit). */
  | 'RESOURCES'
  | 'DRIVER'
  /** A driver module (`driverModules`, docs/writing-a-driver.md) cannot be resolved, loaded, or defines no usable driver. */
  | 'DRIVER_MODULE'
  /** A virtual machine could not be prepared or run (QEMU, kernel, initramfs, guest client). */
  | 'VM'
  | 'NACK'
  /** vFunD's checkpoint signing key is missing, unreadable or exposed. */
  | 'CHECKPOINT_KEY'
  /** vFunD's admin socket refused a request (`reason` says why: src/admin/protocol.ts). */
  | 'ADMIN';

/**
 * The base class of every error VirtFun throws on purpose: `code` says what kind of failure it is (match
 * on it rather than on the message, which is for people); `cause` keeps the underlying error.
 */
export class VirtFunError extends Error {
  override readonly name: string = 'VirtFunError';
  /** What kind of failure (see VirtFunErrorCode). */
  readonly code: VirtFunErrorCode;
  constructor(code: VirtFunErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Input that breaks a rule: names the field and the limit. */
export class ValidationError extends VirtFunError {
  override readonly name = 'ValidationError';
  readonly field: string;
  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super('VALIDATION', `${field}: ${message}`, options);
    this.field = field;
  }
}

/** A journal whose bytes are damaged somewhere other than a torn tail. */
export class JournalCorruptError extends VirtFunError {
  override readonly name = 'JournalCorruptError';
  readonly location: string;
  constructor(location: string, message: string, options?: { cause?: unknown }) {
    super('JOURNAL_CORRUPT', `${location}: ${message}`, options);
    this.location = location;
  }
}

/** Two writers raced for the same position in the journal. */
export class ConcurrencyError extends VirtFunError {
  override readonly name = 'ConcurrencyError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONCURRENCY', message, options);
  }
}

/** A journal already has a writer: opening it for writing is refused. Names the holder when it can. */
export class JournalLockedError extends VirtFunError {
  override readonly name = 'JournalLockedError';
  /** Pid of the process holding the lock, when the lock file names one. */
  readonly holder: number | null;
  /** The lock file. */
  readonly lockPath: string;
  constructor(message: string, holder: number | null, lockPath: string, options?: { cause?: unknown }) {
    super('JOURNAL_LOCKED', message, options);
    this.holder = holder;
    this.lockPath = lockPath;
  }
}

/**
 * The journal cannot take events now; nothing was stored. The message never
 * names a host path (it may reach a tenant); `cause` keeps the underlying error.
 */
export class JournalUnavailableError extends VirtFunError {
  override readonly name = 'JournalUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('JOURNAL_UNAVAILABLE', message, options);
  }
}

/** vFunD's checkpoint key cannot be used (a private key group- or world-readable, a malformed file): names the path. */
export class CheckpointKeyError extends VirtFunError {
  override readonly name = 'CheckpointKeyError';
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('CHECKPOINT_KEY', `${path}: ${message}`, options);
    this.path = path;
  }
}

/**
 * A journal written by another host than the one expected: refused for
 * writing when its last envelope names another host, reported by readers at
 * the first envelope of another host (its seq in `seq`).
 */
export class JournalHostError extends VirtFunError {
  override readonly name = 'JournalHostError';
  /** The seq of the envelope of another host. */
  readonly seq: number;
  constructor(seq: number, message: string, options?: { cause?: unknown }) {
    super('JOURNAL_HOST', message, options);
    this.seq = seq;
  }
}

/** The message of something thrown: an Error's message, anything else as a string. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** vFunD's admin socket said no: `reason` is its AdminErrorCode (refused, credential, unknown-instance, config, …). */
export class AdminRefusedError extends VirtFunError {
  override readonly name = 'AdminRefusedError';
  constructor(
    readonly reason: string,
    readonly detail: string,
  ) {
    super('ADMIN', `vFunD refused: ${reason}: ${detail}`);
  }
}

/**
 * No vFunD answers on a root's admin socket. `code` is what connecting to it gave: ENOENT (no
 * socket: no vFunD runs with that root) or ECONNREFUSED (a socket that nobody listens on: a vFunD
 * that died).
 */
export class NoDaemonError extends Error {
  override readonly name = 'NoDaemonError';
  constructor(
    readonly code: 'ENOENT' | 'ECONNREFUSED',
    readonly root: string,
    readonly socket: string,
  ) {
    super(`no vFunD is running with root ${root} (no admin socket at ${socket}${code === 'ECONNREFUSED' ? ' that answers' : ''})`);
  }
}

/**
 * No vFunD answers admin requests on a host's `admin` endpoint of the fleet (`vfun.svc.<host>.admin`):
 * no vFunD of that host is registered, or it has no admin secret (then it serves no such endpoint).
 */
export class NoAdminEndpointError extends VirtFunError {
  override readonly name = 'NoAdminEndpointError';
  constructor(
    readonly host: string,
    readonly subject: string,
  ) {
    super('ADMIN', `no vFunD of host ${host} answers admin requests on ${subject}: none is registered in this fleet, or it has no admin secret (admin.secret / admin.secretFile)`);
  }
}
