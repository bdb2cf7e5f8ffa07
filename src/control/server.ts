/**
 * vFunD's end of a tenant's control channel. Every refusal (malformed line,
 * wrong tenant, bad signature, replay) is answered; within the tenant's refusal
 * limit it is journaled as a `request.refused` security event before it is
 * answered, past it only counted and journaled as a `refusals.suppressed`
 * summary per period, and a connection that keeps flooding is closed
 * (src/actors/refusal-limiter.ts). Authenticated requests go to vFunD, whose
 * answer (ack or nack, journaled by vFunD) goes back to the guest.
 */
import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { Clock } from '../events/envelope.js';
import type { NackReason } from '../domain/types.js';
import type { VFunD } from '../actors/vfund.js';
import { phaseOfInstance, stepOfInstance } from '../actors/state.js';
import type { HostRegion } from '../actors/runtime-files.js';
import { isFdRegion } from '../dataplane/region-fds.js';
import {
  DEFAULT_REFUSAL_LIMITS,
  flush,
  forget,
  initialLimiter,
  nextDeadline,
  refuse,
  tick,
  type DisconnectEffect,
  type LimiterEffect,
  type LimiterState,
  type RefusalLimits,
} from '../actors/refusal-limiter.js';
import { isWindowRegion } from '../dataplane/region-window.js';
import { requireShm } from '../native/shm.js';
import type { ClaimedNames, PeerProcess } from '../events/catalogue.js';
import { claimedNames, peerOf } from './peer.js';
import { DEFAULT_WINDOW_MS, MAX_LINE, NONCE, NonceWindow, macMatches, redactHostPaths, type ControlRequest, type ControlResponse } from './protocol.js';
import { requestSchema } from './request-schema.js';

/** Lines read from a connection and not yet answered: past this, vFunD stops reading it until it catches up. */
const MAX_PENDING_LINES = 256;
/** Answer bytes the guest has not read yet: past this, vFunD stops reading its requests until it does. */
const MAX_UNREAD_ANSWER_BYTES = 256 * 1024;
/** A connection closed for flooding gets this long to take its last answers before it is cut. */
const FLOOD_CLOSE_GRACE_MS = 1000;

/** Options of `ControlServer.start`: the vFunD it serves, the tenant, where its socket goes, and the replay window. */
export interface ControlServerOptions {
  /** The vFunD authenticated requests go to. */
  readonly vfund: VFunD<HostRegion>;
  /** The tenant this channel belongs to, with its secret (the HMAC key requests are checked with). */
  readonly tenant: { readonly id: string; readonly secret: string };
  /** Where the Unix socket is created (mode 0600; a stale file there is removed). */
  readonly socketPath: string;
  /** Checks requests' times and times refusal periods. */
  readonly clock: Clock;
  /** How far a request's time may be from the clock, ms (default DEFAULT_WINDOW_MS); nonces are remembered that long. */
  readonly windowMs?: number;
  /** Called after the socket is created, before it listens for guests (e.g. chown to the tenant's uid). */
  readonly onSocket?: (path: string) => Promise<void>;
  /** How many of the tenant's refusals are journaled one by one (default DEFAULT_REFUSAL_LIMITS). */
  readonly refusals?: RefusalLimits;
}

/**
 * vFunD's end of one tenant's control channel (see the module's comment): a Unix socket that checks each
 * request's signature, time and nonce, passes it to vFunD, and answers. A connection is the lease of
 * the instances negotiated over it: when it closes without releasing them, vFunD journals `client.lost`.
 */
export class ControlServer {
  private readonly nonces: NonceWindow;
  private readonly sockets = new Set<Socket>();
  /** Instances negotiated over each connection and not yet released: the connection is their lease. */
  private readonly leases = new Map<Socket, Set<string>>();
  /** The process at the other end of each connection, read at accept (SO_PEERCRED); absent when it cannot be told. */
  private readonly peers = new Map<Socket, PeerProcess>();
  private closing = false;
  /** The tenant's refusal limiter: one for all its connections, so reconnecting does not refill it. */
  private readonly limits: RefusalLimits;
  private limiter: LimiterState;
  private timer: NodeJS.Timeout | null = null;
  private timerAt: number | null = null;
  private nextConnection = 1;
  private readonly connectionIds = new Map<Socket, string>();
  private readonly connections = new Map<string, Socket>();
  /** Connections closed for flooding: what they still send is dropped unread. */
  private readonly cut = new WeakSet<Socket>();
  private constructor(
    private opts: ControlServerOptions,
    private readonly server: Server,
  ) {
    this.limits = opts.refusals ?? DEFAULT_REFUSAL_LIMITS;
    this.nonces = new NonceWindow(opts.windowMs ?? DEFAULT_WINDOW_MS);
    this.limiter = initialLimiter(this.limits, opts.clock.now());
  }

  /** Create the socket at `opts.socketPath` and listen; resolves once guests can connect. */
  static async start(opts: ControlServerOptions): Promise<ControlServer> {
    await rm(opts.socketPath, { force: true });
    const server = createServer();
    const cs = new ControlServer(opts, server);
    server.on('connection', (s) => cs.serve(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.socketPath, () => resolve());
    });
    await chmod(opts.socketPath, 0o600);
    await opts.onSocket?.(opts.socketPath);
    return cs;
  }

  /** A configuration reload changed the tenant's secret: requests are checked against the new one from now on. */
  setSecret(secret: string): void {
    this.opts = { ...this.opts, tenant: { ...this.opts.tenant, secret } };
  }

  /** The socket's path. */
  get path(): string {
    return this.opts.socketPath;
  }

  /**
   * The guest process holding `instance`: the peer of the connection it was
   * negotiated over (its lease), or null when no open connection of this
   * channel holds it or its peer could not be told.
   */
  guestOf(instance: string): PeerProcess | null {
    for (const [socket, held] of this.leases) if (held.has(instance)) return this.peers.get(socket) ?? null;
    return null;
  }

  /**
   * Stop serving: journal the summary of a refusal flood still open, close every connection (not a lost
   * client: vFunD's own shutdown releases what they hold) and remove the socket.
   */
  async close(): Promise<void> {
    this.closing = true; // vFunD's own shutdown releases what is held: not a lost client
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // A flood still open ends here: its last summary is journaled before vFunD stops.
    const step = flush(this.limiter, this.limits, this.opts.clock.now());
    this.limiter = step.state;
    // (A vFunD already stopped, or a journal already closed, cannot take it: closing goes on.)
    await Promise.all(step.effects.filter((e) => e.type === 'summary').map((e) => this.journalEffect(e).catch(() => undefined)));
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.opts.socketPath, { force: true });
  }

  private serve(socket: Socket): void {
    const id = `c${this.nextConnection++}`;
    this.connectionIds.set(socket, id);
    this.connections.set(id, socket);
    this.sockets.add(socket);
    this.leases.set(socket, new Set());
    const peer = peerOf(socket);
    if (peer !== null) this.peers.set(socket, peer);
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.peers.delete(socket);
      this.connections.delete(id);
      this.connectionIds.delete(socket);
      this.limiter = forget(this.limiter, id);
      const held = this.leases.get(socket);
      this.leases.delete(socket);
      if (this.closing || !held) return;
      const tenant = this.opts.tenant.id;
      for (const instance of held) {
        if (Object.hasOwn(this.opts.vfund.snapshot.instances, instance)) {
          void this.opts.vfund.clientLost(
            instance,
            this.cut.has(socket)
              ? `vFunD closed the control connection of tenant '${tenant}' for flooding it with refused requests; ${instance} was held over it`
              : `the control connection of tenant '${tenant}' closed without releasing ${instance}: its guest is gone`,
          );
        }
      }
    });
    socket.on('error', () => socket.destroy());
    let buffer = '';
    // After an overlong line: drop input up to its end, then go on. The connection (the lease of
    // every instance negotiated over it: for a VM, all of the VM's) survives one bad line.
    let discarding = false;
    const tooLong = `request line longer than ${MAX_LINE} characters: dropped up to its end`;
    let queue = Promise.resolve();
    // Back-pressure: a guest that sends faster than vFunD answers, or does not read its answers,
    // is not read until it catches up, so its requests never pile up in vFunD's memory.
    let pending = 0;
    const gate = (): void => {
      if (socket.destroyed || this.cut.has(socket)) return;
      const hold = pending >= MAX_PENDING_LINES || socket.writableLength >= MAX_UNREAD_ANSWER_BYTES;
      if (hold && !socket.isPaused()) socket.pause();
      else if (!hold && socket.isPaused()) socket.resume();
    };
    socket.on('drain', gate);
    const handle = (job: () => Promise<void>): void => {
      pending++;
      queue = queue
        .then(() => (this.closing || this.cut.has(socket) ? undefined : job()))
        .catch(() => undefined) // an answer that could not be given: the connection goes on
        .finally(() => {
          pending--;
          gate();
        });
    };
    socket.setEncoding('utf8');
    socket.on('data', (data: string) => {
      if (this.cut.has(socket)) return;
      let chunk = data;
      if (discarding) {
        const end = chunk.indexOf('\n');
        if (end < 0) return;
        discarding = false;
        chunk = chunk.slice(end + 1);
      }
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        handle(() => (line.length > MAX_LINE ? this.refuse(socket, '?', 'malformed', tooLong) : this.answer(socket, line)));
      }
      if (buffer.length > MAX_LINE) {
        buffer = '';
        discarding = true;
        handle(() => this.refuse(socket, '?', 'malformed', tooLong));
      }
      gate();
    });
  }

  private async answer(socket: Socket, line: string): Promise<void> {
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      return this.refuse(socket, '?', 'malformed', 'request is not valid JSON');
    }
    const op = typeof (raw as { op?: unknown })?.op === 'string' ? (raw as { op: string }).op : '?';
    // Every answer echoes the request's nonce (when it has a well-formed one), so a guest that shares
    // a long-lived channel (a VM's virtio-serial port) can tell its answer from a stale one.
    const n = (raw as { nonce?: unknown })?.nonce;
    const nonce = typeof n === 'string' && NONCE.test(n) ? n : undefined;
    const reply = (answer: ControlResponse): void => {
      // What vFunD says to a tenant never names a host path (the journal keeps the full detail for operators).
      const r = answer.ok ? answer : { ...answer, detail: redactHostPaths(answer.detail) };
      if (!socket.destroyed) socket.write(JSON.stringify(nonce === undefined ? r : { ...r, nonce }) + '\n');
    };
    const claimed = claimedNames(raw);
    const refuse = (reason: NackReason, detail: string) => this.refuse(socket, op, reason, detail, nonce, claimed);
    const parsed = requestSchema.safeParse(raw);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`).join('; ');
      return refuse('malformed', problems);
    }
    const req: ControlRequest = parsed.data;
    const { id: tenant, secret } = this.opts.tenant;
    if (req.tenant !== tenant) {
      return refuse('not-owner', `request names tenant '${req.tenant.slice(0, 63)}' on the control channel of '${tenant}'`);
    }
    if (!macMatches(req, secret)) return refuse('credential', 'signature does not match the tenant secret');
    const replayed = this.nonces.check(req.nonce, req.ts, this.opts.clock.now());
    if (replayed !== null) return refuse('replayed', replayed);

    const creds = { tenant, credential: secret };
    const d = this.opts.vfund;
    try {
      switch (req.op) {
        case 'negotiate': {
          const a = await d.negotiate({ ...creds, app: req.app, fn: req.fn, kind: req.kind, ...(req.fallback !== undefined && { fallback: req.fallback }) });
          if (a.ok) {
            if (socket.destroyed) void d.clientLost(a.instance, `the guest of tenant '${tenant}' left before its negotiation was answered`);
            else this.leases.get(socket)?.add(a.instance);
          }
          return reply(a.ok ? { ok: true, op: 'negotiate', instance: a.instance, kind: a.kind } : a);
        }
        case 'activate': {
          const a = await d.activate({ ...creds, instance: req.instance });
          return reply(
            a.ok
              ? { ok: true, op: 'activate', instance: a.instance, capacity: a.capacity, region: describeRegion(a.region) }
              : a,
          );
        }
        case 'region':
          return await this.handOverRegion(socket, req.instance, nonce, reply);
        case 'release': {
          const a = await d.release({ ...creds, instance: req.instance });
          if (a.ok) this.leases.get(socket)?.delete(req.instance);
          return reply(a.ok ? { ok: true, op: 'release', stats: a.stats } : a);
        }
      }
    } catch (err) {
      // vFunD could not decide (e.g. the journal is unreachable): the guest is told, nothing was acked.
      return reply({ ok: false, reason: 'not-started', detail: `vFunD could not journal the decision: ${(err as Error).message}` });
    }
  }

  /**
   * The answer to op `region`: the instance's two sealed memfds, with the
   * answer line, by sendmsg on the socket (nothing else is written to it
   * meanwhile). Only to the tenant that holds the instance, while it is active.
   */
  private async handOverRegion(socket: Socket, instance: string, nonce: string | undefined, reply: (r: ControlResponse) => void): Promise<void> {
    const d = this.opts.vfund;
    const inst = Object.hasOwn(d.snapshot.instances, instance) ? d.snapshot.instances[instance] : undefined;
    const region = inst?.tenant === this.opts.tenant.id ? d.region(instance) : undefined;
    if (inst === undefined || inst.tenant !== this.opts.tenant.id) return reply({ ok: false, reason: 'unknown-instance', detail: `no live instance ${instance.slice(0, 64)} of tenant '${this.opts.tenant.id}'` });
    // The lifecycle decides the phase: a region exists from computation on.
    if (phaseOfInstance(inst) !== 'computation') {
      return reply({ ok: false, reason: 'wrong-phase', detail: `${instance} is in ${stepOfInstance(inst)}: its region is handed over in computation` });
    }
    if (region === undefined || !isFdRegion(region)) return reply({ ok: false, reason: 'wrong-phase', detail: `${instance} lives in the VM's window: it has no sealed memory to hand over` });
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (socket.destroyed || typeof fd !== 'number' || fd < 0) return;
    if (socket.writableLength > 0) await new Promise((r) => socket.once('drain', r));
    const answer: ControlResponse = { ok: true, op: 'region', instance, capacity: region.capacity, ...(nonce !== undefined && { nonce }) };
    try {
      requireShm().sendFds(fd, JSON.stringify(answer) + '\n', [region.dataoutFd, region.datainFd]);
    } catch {
      socket.destroy(); // part of the answer may have gone: this connection cannot go on
    }
  }

  /**
   * Answer a refusal. Within the tenant's refusal limit it is journaled first (`request.refused`);
   * past it, it is only counted for the period's summary. Either way the guest gets its answer:
   * a client on a shared channel waits for the answer to each request, and answering costs no journal.
   */
  private async refuse(socket: Socket, op: string, reason: NackReason, detail: string, nonce?: string, claimed?: ClaimedNames): Promise<void> {
    const answer = (): void => {
      if (!socket.destroyed) socket.write(JSON.stringify({ ok: false, reason, detail, ...(nonce !== undefined && { nonce }) } satisfies ControlResponse) + '\n');
    };
    const step = refuse(this.limiter, this.limits, this.opts.clock.now(), this.connectionIds.get(socket) ?? '?', reason);
    this.limiter = step.state;
    if (step.verdict === 'suppress') {
      answer(); // before a disconnection this very refusal may decide
      this.carryOut(step.effects);
      return;
    }
    this.carryOut(step.effects); // summaries of periods that ended before this refusal come first
    try {
      const peer = this.peers.get(socket);
      await this.opts.vfund.refuse({ tenant: this.opts.tenant.id, op, reason, detail, ...(claimed && { claimed }), ...(peer && { peer }) });
    } finally {
      answer();
    }
  }

  /** Carry out what the limiter decided, in order (vFunD journals in the order it is asked), and re-arm the timer. */
  private carryOut(effects: readonly LimiterEffect[]): void {
    for (const e of effects) {
      if (e.type === 'summary') void this.journalEffect(e).catch(() => undefined);
      else this.disconnect(e);
    }
    this.schedule();
  }

  private journalEffect(e: LimiterEffect): Promise<void> {
    const tenant = this.opts.tenant.id;
    if (e.type === 'summary') {
      const iso = (ms: number) => new Date(ms).toISOString();
      return this.opts.vfund.summarizeRefusals({ tenant, from: iso(e.from), to: iso(e.to), counts: { ...e.counts }, total: e.total, disconnections: e.disconnections, ended: e.ended });
    }
    const why =
      e.rule === 'suppressed'
        ? `more than ${this.limits.disconnectAfter} of its refusals were past the limit within one flood`
        : `it had refusals past the limit in ${this.limits.disconnectIntervals} periods of ${this.limits.summaryIntervalMs / 1000} s in a row`;
    const socket = this.connections.get(e.connection);
    const peer = socket === undefined ? undefined : this.peers.get(socket);
    return this.opts.vfund.disconnected({ tenant, refusals: e.refusals, suppressed: e.suppressed, detail: `control connection of tenant '${tenant}' closed: ${why}`, ...(peer && { peer }) });
  }

  /**
   * Close a connection that keeps flooding: journal it (the first of a period; later ones are
   * counted in its summary), stop reading it, let it take the answers already written, cut it.
   * Its 'close' then releases what it held, as for any guest that is gone (lease).
   */
  private disconnect(e: DisconnectEffect): void {
    const socket = this.connections.get(e.connection);
    if (!socket || this.cut.has(socket)) return;
    this.cut.add(socket);
    if (e.journal) void this.journalEffect(e).catch(() => undefined);
    socket.end();
    socket.resume(); // what it still sends is dropped unread, and its end is seen at once
    const timer = setTimeout(() => socket.destroy(), FLOOD_CLOSE_GRACE_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  }

  /** Wake up at the end of the limiter's open period (its summary is due then, even if nothing else comes). */
  private schedule(): void {
    const deadline = this.closing ? null : nextDeadline(this.limiter);
    if (deadline === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = deadline;
    if (deadline === null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = null;
      const step = tick(this.limiter, this.limits, this.opts.clock.now());
      this.limiter = step.state;
      this.carryOut(step.effects);
    }, Math.max(1, deadline - this.opts.clock.now()));
    this.timer.unref();
  }
}

/** What the guest is told about its region: never a host path. Sealed memory comes with op `region`; a VM's slot is in its window. */
function describeRegion(r: HostRegion): Extract<ControlResponse, { op: 'activate' }>['region'] {
  return isWindowRegion(r) ? { window: { slot: r.slot, dataoutOffset: r.dataoutOffset, datainOffset: r.datainOffset } } : { memfd: true };
}
