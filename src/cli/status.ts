/**
 * `vfun status [--json]` and `vfun top`: what a running vFunD says about
 * itself (src/daemon/status.ts), asked through its admin socket and rendered
 * by status-view.ts. The transport is given to `registerStatusCommands`
 * (`fetchStatus(root)`): the admin client in production, a daemon of their
 * own in tests.
 *
 * `top` refreshes in the terminal (clear screen, one frame per interval at
 * the terminal's width) until `q` or ctrl-C; when stdout is not a terminal it
 * prints one frame per interval, a blank line between two. A daemon that
 * cannot be reached is one line on stderr and exit status 1, not a stack.
 */
import { resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Command } from 'commander';
import type { HostStatus } from '../daemon/status.js';
import { integerAtLeast, numberAtLeast } from '../util/arguments.js';
import { DEFAULT_FLEET_TIMEOUT_MS, fleetStatusCommand } from './fleet.js';
import { rootOption } from './journal-options.js';
import { say, warn } from './output.js';
import { DEFAULT_WIDTH, renderStatus } from './status-view.js';

/** Asks the vFunD of a root for its status (over its admin socket). */
export type FetchStatus = (root: string) => Promise<HostStatus>;

/** Seconds between two frames of `vfun top` by default. */
export const DEFAULT_INTERVAL_S = 2;

/** Clear the screen and go home. */
const CLEAR = '\x1b[H\x1b[2J';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';

/**
 * The line an operator reads when no vFunD answers for `root` (no socket, or
 * nobody listening on it, or not allowed to talk to it); null for any other
 * error, which is not about reaching the daemon.
 */
export function unreachableMessage(err: unknown, root: string): string | null {
  const e = err as NodeJS.ErrnoException & { address?: unknown };
  const at = typeof e?.address === 'string' ? e.address : resolve(root, 'admin');
  const dir = resolve(root);
  switch (e?.code) {
    case 'ENOENT':
      return `no vFunD is running with root ${dir} (no admin socket at ${at})`;
    case 'ECONNREFUSED':
      return `no vFunD is running with root ${dir} (nothing listens on its admin socket at ${at})`;
    case 'EACCES':
    case 'EPERM':
      return `cannot talk to the vFunD of root ${dir}: its admin socket at ${at} is for root and the admin group`;
    default:
      return null;
  }
}

/** Say why the daemon cannot be reached and set exit status 1; rethrow anything else. */
function reportUnreachable(err: unknown, root: string): void {
  const line = unreachableMessage(err, root);
  if (line === null) throw err;
  warn(`vfun: ${line}`);
  process.exitCode = 1;
}

export interface TopOptions {
  /** Between two frames, in ms. */
  readonly intervalMs: number;
  /** A terminal: each frame replaces the last (clear screen); otherwise frames follow each other. */
  readonly tty: boolean;
  /** Columns to render at, read before each frame (a terminal may be resized). */
  readonly width: () => number;
  readonly write: (text: string) => void;
  /** Stops the loop (q, ctrl-C, SIGTERM). */
  readonly signal: AbortSignal;
  /** Stop after this many frames (default: until the signal). */
  readonly frames?: number;
}

/** One frame of `vfun top`: the status, and in a terminal how to leave. */
export function topFrame(status: HostStatus, o: Pick<TopOptions, 'tty' | 'intervalMs'>, width: number): string {
  const body = renderStatus(status, { width });
  return o.tty ? `${CLEAR}${body}\n\nrefreshing every ${o.intervalMs / 1000} s · q or ctrl-C to quit\n` : `${body}\n\n`;
}

/** Fetch and render a frame every interval until the signal (or `frames`); a failed fetch rejects. */
export async function runTop(fetch: () => Promise<HostStatus>, o: TopOptions): Promise<number> {
  let shown = 0;
  while (!o.signal.aborted) {
    const status = await fetch();
    if (o.signal.aborted) break;
    o.write(topFrame(status, o, o.width()));
    shown++;
    if (o.frames !== undefined && shown >= o.frames) break;
    await delay(o.intervalMs, undefined, { signal: o.signal }).catch(() => undefined);
  }
  return shown;
}


/** Leave `top` on q, ctrl-C (the terminal is raw: it sends 0x03, not SIGINT) or SIGINT/SIGTERM; returns the undo. */
function stopKeys(abort: () => void): () => void {
  const stdin = process.stdin;
  const onSignal = (): void => abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let raw = false;
  const onData = (b: Buffer): void => {
    if (b.includes(0x71) || b.includes(0x51) || b.includes(0x03)) abort(); // q, Q, ctrl-C
  };
  if (stdin.isTTY) {
    stdin.setRawMode(true);
    raw = true;
    stdin.on('data', onData);
    stdin.resume();
  }
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (raw) {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
    }
  };
}

/**
 * Add `vfun status [--json] [--root]` and `vfun top [--interval <s>] [--root]`
 * to `program`, asking the daemon through `fetchStatus`.
 */
export function registerStatusCommands(program: Command, fetchStatus: FetchStatus): void {
  program
    .command('status')
    .description('what the running vFunD holds: instances (calls, errors, p50/p99 latency), slots, quotas, journal, uptime')
    .addOption(rootOption('VirtFun data root of the vFunD to ask'))
    .option('--json', 'the whole status as JSON (instance ids uncut, latency histograms)')
    .option('--fleet <nats-url>', 'every vFunD registered on this NATS instead, one row per host (as `vfun fleet status`)')
    .option('--timeout <ms>', 'with --fleet: how long discovery and each host may take to answer', integerAtLeast(1), DEFAULT_FLEET_TIMEOUT_MS)
    .option('--expect <hosts>', 'with --fleet: hosts that must answer (comma-separated, repeatable); the missing ones are named and the exit code is 1', (v: string, prev: string[] = []) => [...prev, v])
    .action(async (o: { root: string; json?: boolean; fleet?: string; timeout: number; expect?: string[] }) => {
      if (o.fleet !== undefined) {
        await fleetStatusCommand({ fleet: o.fleet, timeout: o.timeout, ...(o.json !== undefined && { json: o.json }), ...(o.expect !== undefined && { expect: o.expect }) });
        return;
      }
      let status: HostStatus;
      try {
        status = await fetchStatus(o.root);
      } catch (err) {
        reportUnreachable(err, o.root);
        return;
      }
      say(o.json === true ? JSON.stringify(status, null, 2) : renderStatus(status, { width: process.stdout.isTTY ? process.stdout.columns : DEFAULT_WIDTH }));
    });

  program
    .command('top')
    .description('vfun status, refreshed in the terminal until q or ctrl-C (one frame per interval when stdout is not a terminal)')
    .addOption(rootOption('VirtFun data root of the vFunD to ask'))
    .option('--interval <s>', 'seconds between two refreshes', numberAtLeast(0.1), DEFAULT_INTERVAL_S)
    .action(async (o: { root: string; interval: number }) => {
      const ac = new AbortController();
      const tty = process.stdout.isTTY === true;
      const undo = stopKeys(() => ac.abort());
      if (tty) process.stdout.write(HIDE_CURSOR);
      try {
        await runTop(() => fetchStatus(o.root), {
          intervalMs: o.interval * 1000,
          tty,
          width: () => (tty ? process.stdout.columns : DEFAULT_WIDTH),
          write: (t) => process.stdout.write(t),
          signal: ac.signal,
        });
      } catch (err) {
        reportUnreachable(err, o.root);
      } finally {
        undo();
        if (tty) process.stdout.write(SHOW_CURSOR);
      }
    });
}
