/**
 * Who is at the other end of a control connection: the peer process as the
 * kernel tells it (SO_PEERCRED, read once when the connection is accepted),
 * and what a request that was refused claimed to be about (its app, function
 * and instance as sent, parsed even when its signature is bad, never trusted).
 */
import type { Socket } from 'node:net';
import type { ClaimedNames, PeerProcess } from '../events/catalogue.js';
import { loadShm } from '../native/shm.js';

/** The file descriptor of a connected net.Socket, or null when it has none (closed, not a local socket). */
export function socketFd(socket: Socket): number | null {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}

/**
 * The pid and uid of the process that connected `socket` (SO_PEERCRED), or
 * null when it cannot be told: no native addon, no descriptor, or the kernel
 * refused (the connection then goes on, unnamed).
 */
export function peerOf(socket: Socket): PeerProcess | null {
  const shm = loadShm();
  const fd = socketFd(socket);
  if (shm === null || fd === null) return null;
  try {
    const { pid, uid } = shm.peerCred(fd);
    return { pid, uid };
  } catch {
    return null;
  }
}

/**
 * The app, fn and instance a request names, as sent (strings only; a refused
 * request may be anything), or undefined when it names none of them.
 */
export function claimedNames(raw: unknown): ClaimedNames | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  const out: { app?: string; fn?: string; instance?: string } = {};
  for (const k of ['app', 'fn', 'instance'] as const) {
    const v = r[k];
    if (typeof v === 'string') out[k] = v;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}
