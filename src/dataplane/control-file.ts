/**
 * vFunD's control area of one instance, as a small file in the instance's
 * service directory (`<root>/service/<tenant>/<app>/<fn>/control`, vFunD's,
 * 0600): the stop flag, the busy word the watchdog times, and the counters
 * (layout: CONTROL in service.ts). The service process maps it from a file
 * descriptor vFunD hands it at spawn; no tenant can name or open it.
 *
 * vFunD itself never maps it: it reads and writes the words with pread and
 * pwrite, so even a service that shrank the file could not make vFunD take a
 * SIGBUS (a short read is a clear error, not a crash). The file outlives the
 * service process and vFunD: a vFunD that starts after a crash reads the
 * counters of the instances it recovers from here (readControlFile).
 */
import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs';
import { ValidationError } from '../errors.js';
import { requireShm } from '../native/shm.js';
import type { LatencyHistogram } from './latency-histogram.js';
import { CONTROL, CONTROL_BYTES, CONTROL_COUNTER_BYTES, readControlLatency, readControlStats, type ServiceStats } from './service.js';

/** The control file of an instance, held open by vFunD. */
export class ControlFile {
  private readonly buf = Buffer.alloc(CONTROL_BYTES);
  private closed = false;

  private constructor(
    readonly path: string,
    readonly fd: number,
  ) {}

  /**
   * Create the file (exclusively, never through a symlink) and write its
   * zeroed words, so the blocks exist before any process maps it: a full
   * disk is an error here, not a SIGBUS in the service later.
   */
  static create(path: string): ControlFile {
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      const zero = Buffer.alloc(CONTROL_BYTES);
      let done = 0;
      while (done < CONTROL_BYTES) done += writeSync(fd, zero, done, CONTROL_BYTES - done, done);
      return new ControlFile(path, fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** The words as they are now (a copy); a short file reads as zeros past its end. */
  words(): Int32Array {
    this.buf.fill(0);
    if (!this.closed) readSync(this.fd, this.buf, 0, CONTROL_BYTES, 0);
    return new Int32Array(this.buf.buffer.slice(this.buf.byteOffset, this.buf.byteOffset + CONTROL_BYTES));
  }

  /** The counters the service keeps here. */
  stats(): ServiceStats {
    return readControlStats(this.words());
  }

  /** The latency histogram the service keeps here (all zeros once closed). */
  latency(): LatencyHistogram {
    return readControlLatency(this.words());
  }

  /** The busy word: seq + 1 of the call being computed, 0 when none. */
  busy(): number {
    return this.words()[CONTROL.busy]!;
  }

  /** Ask the service to leave its loop (it also gets a message; this is what a worker polls). */
  requestStop(): void {
    if (this.closed) return;
    const one = Buffer.alloc(4);
    one.writeInt32LE(1, 0);
    writeSync(this.fd, one, 0, 4, CONTROL.stop * 4);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

/**
 * The counters in a control file a vFunD that died left behind, or null when
 * they cannot be known (no file, a short or unreadable one): never a false 0.
 * A file of a vFunD before the latency histogram (CONTROL_COUNTER_BYTES long) still has them.
 */
export function readControlFile(path: string): ServiceStats | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return null;
  }
  try {
    const buf = Buffer.alloc(CONTROL_COUNTER_BYTES);
    const n = readSync(fd, buf, 0, CONTROL_COUNTER_BYTES, 0);
    if (n < CONTROL_COUNTER_BYTES) return null;
    return readControlStats(new Int32Array(buf.buffer, buf.byteOffset, CONTROL_COUNTER_BYTES / 4));
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/** A control area in a file, by descriptor (the worker maps the same descriptor). */
export interface ControlFd {
  readonly fd: number;
}

/** The control words over `control`: a SharedArrayBuffer, or a file descriptor mapped shared here. */
export function controlWords(control: SharedArrayBuffer | ControlFd): Int32Array {
  if (control instanceof SharedArrayBuffer) {
    if (control.byteLength < CONTROL_BYTES) throw new ValidationError('control', `${control.byteLength} bytes, at least ${CONTROL_BYTES}`);
    return new Int32Array(control);
  }
  const shm = requireShm();
  return new Int32Array(shm.mapFd(control.fd, CONTROL_BYTES, true));
}

