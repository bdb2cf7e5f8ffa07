/**
 * vFunD's end of the admin socket (`<root>/admin/admin.sock`). Two gates:
 * the socket's mode (0600, or 0660 with the admin group as its group, so only
 * those may connect), and each connection's peer, from SO_PEERCRED: root,
 * vFunD's user or a member of the admin group, else it is answered `refused`
 * and closed. Then each request line is checked: its shape, its signature
 * under the admin secret (when one is configured; without one the peer check
 * alone authorises), its time and nonce (never twice), and goes to the
 * handler with who asked. Refusals are logged for the operator, not journaled
 * (they changed nothing); every action the handler takes is journaled by vFunD.
 */
import { chmod, chown, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { AdminIdentity } from '../events/catalogue.js';
import type { Clock } from '../events/envelope.js';
import { requireShm } from '../native/shm.js';
import { peerRefusal, processGroups, userName, type Peer } from './access.js';
import { AdminGate, type AdminHandler } from './gate.js';
import { MAX_ADMIN_LINE, type AdminResponse } from './protocol.js';
import type { AdminSettings } from './settings.js';

export type { AdminHandler, AdminOutcome } from './gate.js';

/** Who asked, over the socket. */
export type SocketIdentity = Extract<AdminIdentity, { via: 'admin-socket' }>;

export interface AdminServerOptions {
  readonly path: string;
  /** The group and secret now (a reload may change them). */
  readonly settings: () => AdminSettings;
  readonly handler: AdminHandler;
  readonly clock: Clock;
  readonly log: (line: string) => void;
  readonly windowMs?: number;
  /** The gate to share with vFunD's other admin transports (default: one of its own). */
  readonly gate?: AdminGate;
  /** Test seam: the peer of a connection (default: SO_PEERCRED through the native addon). */
  readonly peerOf?: (socket: Socket) => Peer | null;
}

export class AdminServer {
  private readonly sockets = new Set<Socket>();
  /** The checks of every request (shared with the fleet's NATS `admin` endpoint: one nonce window). */
  readonly gate: AdminGate;
  private constructor(
    private readonly opts: AdminServerOptions,
    private readonly server: Server,
  ) {
    this.gate = opts.gate ?? new AdminGate({ settings: opts.settings, handler: opts.handler, clock: opts.clock, ...(opts.windowMs !== undefined && { windowMs: opts.windowMs }) });
  }

  /** Listen on `path` with the socket's access set from the settings. */
  static async start(opts: AdminServerOptions): Promise<AdminServer> {
    await rm(opts.path, { force: true });
    const server = createServer();
    const s = new AdminServer(opts, server);
    server.on('connection', (socket) => void s.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.path, () => resolve());
    });
    await s.applyAccess();
    return s;
  }

  get path(): string {
    return this.opts.path;
  }

  /**
   * Set the socket's mode and group from the settings: 0600, or 0660 with the admin group, whose
   * members then also need to reach it (the admin directory 0710 with that group, the root 0711).
   */
  async applyAccess(): Promise<void> {
    const { group } = this.opts.settings();
    const dir = dirname(this.opts.path);
    if (group === null) {
      await chmod(this.opts.path, 0o600);
      return;
    }
    await chown(this.opts.path, -1, group.gid);
    await chmod(this.opts.path, 0o660);
    await chown(dir, -1, group.gid);
    await chmod(dir, 0o710);
    await chmod(dirname(dir), 0o711);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.opts.path, { force: true });
  }

  private peerOf(socket: Socket): Peer | null {
    if (this.opts.peerOf) return this.opts.peerOf(socket);
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) return null;
    try {
      return requireShm().peerCred(fd);
    } catch {
      return null;
    }
  }

  private async serve(socket: Socket): Promise<void> {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.pause();
    const answer = (r: AdminResponse): void => {
      if (!socket.destroyed) socket.write(JSON.stringify(r) + '\n');
    };
    const peer = this.peerOf(socket);
    const why = peer === null ? 'the peer of the connection cannot be known (SO_PEERCRED)' : peerRefusal(peer, await processGroups(peer.pid), { daemonUid: process.getuid?.() ?? 0, group: this.opts.settings().group });
    if (why !== null || peer === null) {
      this.opts.log(`admin socket: refused a connection: ${why}`);
      answer({ ok: false, code: 'refused', detail: why ?? 'refused' });
      socket.end();
      return;
    }
    const by: SocketIdentity = { via: 'admin-socket', uid: peer.uid, gid: peer.gid, pid: peer.pid, user: await userName(peer.uid) };
    let buffer = '';
    let queue = Promise.resolve();
    socket.setEncoding('utf8');
    socket.on('data', (data: string) => {
      buffer += data;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        queue = queue.then(() => this.answer(line, by).then(answer, () => undefined));
      }
      if (buffer.length > MAX_ADMIN_LINE) {
        answer({ ok: false, code: 'malformed', detail: `request line longer than ${MAX_ADMIN_LINE} characters` });
        socket.end();
      }
    });
    socket.resume();
  }

  /** The answer to one request line from an authorised peer. */
  private answer(line: string, by: SocketIdentity): Promise<AdminResponse> {
    return this.gate.answer(line, {
      policy: 'when-configured',
      identity: () => by,
      refused: (code, detail) => this.opts.log(`admin socket: refused a request of uid ${by.uid} (pid ${by.pid}): ${code}: ${detail}`),
    });
  }
}
