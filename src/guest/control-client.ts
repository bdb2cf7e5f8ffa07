/**
 * The guest's end of its tenant's control channel (src/control): a
 * ControlPort over a Unix socket, so VFunction.open works the same from any
 * process. The credential passed with each request is the HMAC key: it signs
 * the request and is never sent.
 */
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { connect as netConnect, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { openCharDevice } from './char-device.js';
import { createInterface } from 'node:readline';
import type { ComputationStats, Kind } from '../domain/types.js';
import type { Answer, Credentials, NegotiateRequest } from '../domain/requests.js';
import { closeSync } from 'node:fs';
import type { FdRegion } from '../dataplane/region-fds.js';
import { Worker } from 'node:worker_threads';
import { requireShm } from '../native/shm.js';
import { workerEntry } from '../util/entry.js';
import type { FetchFdsJob, FetchFdsResult } from './fetch-fds-worker.js';
import { lookupWindowRegion, type WindowRegion } from '../dataplane/region-window.js';
import { VirtFunError } from '../errors.js';
import { PROTOCOL_VERSION, sign, type ControlResponse, type UnsignedRequest } from '../control/protocol.js';
import type { ControlPort } from './vfunction.js';

/** Options of `ControlClient.connect`. */
export interface ControlClientOptions {
  /**
   * For a guest in a VM: its window as it sees it (the ivshmem device's
   * `resource2`, or the backing file on the host). Activations answered with
   * a window slot are looked up there.
   */
  readonly window?: string;
}

interface Pending {
  /** The request's nonce, when known: an answer carrying another nonce is stale and skipped. */
  readonly nonce: string | undefined;
  readonly resolve: (r: ControlResponse) => void;
}

export class ControlClient implements ControlPort<FdRegion | WindowRegion> {
  private readonly pending: Pending[] = [];
  private closedError: Error | null = null;

  private constructor(
    private readonly socket: Duplex,
    private readonly options: ControlClientOptions = {},
    /** The Unix socket's path (null for a port): where sealed regions are fetched. */
    private readonly socketPath: string | null = null,
  ) {
    createInterface({ input: socket })
      .on('line', (line) => this.onLine(line))
      .on('error', () => undefined); // a reset socket: 'close' below answers what is pending
    socket.on('close', () => {
      this.closedError ??= new VirtFunError('CHANNEL_CLOSED', 'the control channel closed');
      for (const p of this.pending.splice(0)) p.resolve({ ok: false, reason: 'not-started', detail: this.closedError.message });
    });
  }

  private onLine(line: string): void {
    let r: ControlResponse;
    try {
      r = JSON.parse(line) as ControlResponse;
    } catch {
      return; // not an answer (noise on a port): vFunD only writes JSON lines
    }
    const head = this.pending[0];
    // An answer to a request of an earlier process on a shared port (a VM's virtio-serial port
    // outlives the processes that use it): not ours.
    if (head === undefined || (r.nonce !== undefined && head.nonce !== undefined && r.nonce !== head.nonce)) return;
    this.pending.shift();
    head.resolve(r);
  }

  /**
   * Connect to a tenant's control channel: its Unix socket
   * (`<root>/vmcli/<tenant>/control.sock`), or, inside a VM, the
   * virtio-serial port wired to it (a character device, see `findVirtioPort`).
   */
  static async connect(path: string, options: ControlClientOptions = {}): Promise<ControlClient> {
    const st = await stat(path).catch((e: NodeJS.ErrnoException) => {
      throw new VirtFunError('CHANNEL_CLOSED', `cannot reach the control channel at ${path}: ${e.message}`, { cause: e });
    });
    if (st.isCharacterDevice()) return new ControlClient(openCharDevice(path), options);
    const socketPath = path;
    return new Promise((resolve, reject) => {
      const s = netConnect(socketPath);
      s.once('connect', () => {
        s.off('error', reject);
        s.on('error', () => undefined);
        resolve(new ControlClient(s, options, socketPath));
      });
      s.once('error', (e) => reject(new VirtFunError('CHANNEL_CLOSED', `cannot reach the control channel at ${socketPath}: ${e.message}`, { cause: e })));
    });
  }

  /** Send a request exactly as given (already signed or not): for tests and tools. */
  sendRaw(line: string): Promise<ControlResponse> {
    if (this.closedError) return Promise.reject(this.closedError);
    let nonce: string | undefined;
    try {
      const n = (JSON.parse(line) as { nonce?: unknown }).nonce;
      if (typeof n === 'string') nonce = n;
    } catch {
      // not JSON: sent as is (tests of the server's refusals)
    }
    return new Promise((resolve) => {
      this.pending.push({ nonce, resolve });
      this.socket.write(line.endsWith('\n') ? line : line + '\n');
    });
  }

  /** Sign and send (answers carrying another request's nonce are skipped, see onLine). */
  request(body: UnsignedRequest, secret: string): Promise<ControlResponse> {
    return this.sendRaw(JSON.stringify(sign(body, secret)));
  }

  private base(c: Credentials) {
    return { v: PROTOCOL_VERSION, tenant: c.tenant, nonce: randomBytes(16).toString('hex'), ts: Date.now() } as const;
  }

  /** Sign and send a negotiation (see ControlPort.negotiate); a closed channel answers a `not-started` nack. */
  async negotiate(req: NegotiateRequest): Promise<Answer<{ instance: string; kind: Kind }>> {
    const r = await this.request(
      { ...this.base(req), op: 'negotiate', app: req.app, fn: req.fn, kind: req.kind, ...(req.fallback !== undefined && { fallback: req.fallback }) },
      req.credential,
    );
    return r.ok ? (r.op === 'negotiate' ? { ok: true, instance: r.instance, kind: r.kind } : unexpected(r.op)) : r;
  }

  /**
   * Sign and send an activation; on success, fetch the region: its sealed memfds (fetchRegion), or its
   * slot in this client's ivshmem window (checked against the answer). Throws VirtFunError
   * CHANNEL_PROTOCOL when the answer and the window disagree, or a window region came without one.
   */
  async activate(req: Credentials & { instance: string }): Promise<Answer<{ instance: string; region: FdRegion | WindowRegion; capacity: number }>> {
    const r = await this.request({ ...this.base(req), op: 'activate', instance: req.instance }, req.credential);
    if (!r.ok) return r;
    if (r.op !== 'activate') return unexpected(r.op);
    if (!('window' in r.region)) return { ok: true, instance: r.instance, capacity: r.capacity, region: await this.fetchRegion(req) };
    if (this.options.window === undefined) {
      throw new VirtFunError('CHANNEL_PROTOCOL', `vFunD placed ${r.instance} in an ivshmem window, and this client was not given one (ControlClient.connect(path, { window }))`);
    }
    const region = lookupWindowRegion(this.options.window, r.instance);
    const w = r.region.window;
    if (region.slot !== w.slot || region.dataoutOffset !== w.dataoutOffset || region.datainOffset !== w.datainOffset || region.capacity !== r.capacity) {
      throw new VirtFunError('CHANNEL_PROTOCOL', `window entry of ${r.instance} (slot ${region.slot} at ${region.dataoutOffset}/${region.datainOffset}) differs from the activation answer (slot ${w.slot} at ${w.dataoutOffset}/${w.datainOffset})`);
    }
    return { ok: true, instance: r.instance, capacity: r.capacity, region };
  }

  /**
   * The two sealed memfds of an active instance (op `region`), over a
   * connection of their own to the control socket: the answer carries them as
   * SCM_RIGHTS (docs/region-format.md §14). The exchange blocks a thread, so
   * it runs in a worker: this process's event loop stays free (it may be
   * vFunD's own). The caller owns the descriptors (connect() closes them once
   * mapped).
   */
  async fetchRegion(req: Credentials & { instance: string }, timeoutMs = 10_000): Promise<FdRegion> {
    if (this.socketPath === null) throw new VirtFunError('CHANNEL_PROTOCOL', `vFunD handed ${req.instance} over as sealed memory, which a port cannot carry`);
    requireShm(); // a clear error here when the addon is missing
    const line = JSON.stringify(sign({ ...this.base(req), op: 'region', instance: req.instance }, req.credential)) + '\n';
    const job: FetchFdsJob = { socketPath: this.socketPath, line, timeoutMs };
    const entry = workerEntry(import.meta.url, './fetch-fds-worker.js');
    const got = await new Promise<FetchFdsResult>((resolve, reject) => {
      const w = new Worker(entry.url, { workerData: job });
      w.once('message', resolve);
      w.once('error', reject);
      w.once('exit', (code) => reject(new VirtFunError('CHANNEL_CLOSED', `fetching the region of ${req.instance} ended without an answer (worker exit ${code})`)));
    });
    if (!got.ok) throw new VirtFunError('CHANNEL_CLOSED', `cannot fetch the region of ${req.instance} from ${this.socketPath}: ${got.message}`);
    const { fds } = got;
    const close = () => fds.forEach((fd) => closeSync(fd));
    let r: ControlResponse;
    try {
      r = JSON.parse(got.line) as ControlResponse;
    } catch {
      close();
      throw new VirtFunError('CHANNEL_PROTOCOL', `the answer to op 'region' is not JSON`);
    }
    if (!r.ok) {
      close();
      throw new VirtFunError('CHANNEL_PROTOCOL', `vFunD did not hand over the region of ${req.instance}: ${r.reason} (${r.detail})`);
    }
    if (r.op !== 'region' || fds.length !== 2 || r.instance !== req.instance) {
      close();
      throw new VirtFunError('CHANNEL_PROTOCOL', `the answer to op 'region' carried ${fds.length} descriptors (want 2) for ${r.op === 'region' ? r.instance : r.op}`);
    }
    return { capacity: r.capacity, dataoutFd: fds[0]!, datainFd: fds[1]!, received: true };
  }

  /** Sign and send a release (see ControlPort.release). */
  async release(req: Credentials & { instance: string }): Promise<Answer<{ stats: ComputationStats }>> {
    const r = await this.request({ ...this.base(req), op: 'release', instance: req.instance }, req.credential);
    return r.ok ? (r.op === 'release' ? { ok: true, stats: r.stats } : unexpected(r.op)) : r;
  }

  /** Close the control connection; requests still pending are answered with a `not-started` nack. */
  close(): void {
    this.socket.end();
    if (!(this.socket instanceof Socket)) this.socket.destroy(); // a port: let go of the fd now
  }
}

function unexpected(op: string): never {
  throw new VirtFunError('CHANNEL_PROTOCOL', `control channel answered a '${op}' to another request`);
}
