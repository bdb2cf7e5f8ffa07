/**
 * Drives test/native/fixtures/fd-peer.mjs: a second OS process that loads the
 * same addon and runs one operation per request line. Optional extra fds are
 * handed to the child as fds 3, 4, ... (its stdio array).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { ShmAddon } from '../../src/native/shm.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/fd-peer.mjs', import.meta.url));

export interface PeerError {
  code?: string;
  syscall?: string;
  message: string;
  name: string;
}

export type PeerAnswer = { ok: true; [k: string]: unknown } | { ok: false; error: PeerError };

export class FdPeer {
  readonly child: ChildProcess;
  readonly ready: Promise<number>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private nextId = 1;
  private readonly waiting = new Map<number, (v: PeerAnswer) => void>();
  private stderr = '';

  /**
   * `fds`: handed to the child as fds 3, 4, ... (numbers, or 'pipe').
   * `prefix`: a command that runs node, e.g. ['prlimit', '--fsize=1048576'].
   */
  constructor(addonPath: string, opts: { fds?: readonly (number | 'pipe')[]; prefix?: readonly string[] } = {}) {
    const argv = [...(opts.prefix ?? []), process.execPath, FIXTURE, addonPath];
    this.child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe', ...(opts.fds ?? [])] });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    let onReady!: (pid: number) => void;
    this.ready = new Promise((resolve, reject) => {
      onReady = resolve;
      void this.exited.then((x) => reject(new Error(`fd-peer exited (${x.code ?? x.signal}) before ready: ${this.stderr}`)));
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as { ready?: boolean; pid?: number; id?: number } & PeerAnswer;
      if (msg.ready === true) onReady(msg.pid!);
      else this.waiting.get(msg.id!)?.(msg);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Send one request and wait for its answer (ok or a structured error). */
  request(op: string, args: Record<string, unknown> = {}): Promise<PeerAnswer> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (v) => {
        this.waiting.delete(id);
        resolve(v);
      });
      void this.exited.then((x) => reject(new Error(`fd-peer exited (${x.code ?? x.signal}) during ${op}: ${this.stderr}`)));
      this.child.stdin!.write(JSON.stringify({ id, op, ...args }) + '\n');
    });
  }

  /** Like request, but an error answer rejects; returns the answer's fields. */
  async call<T = Record<string, unknown>>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const a = await this.request(op, args);
    if (!a.ok) throw Object.assign(new Error(`fd-peer ${op}: ${a.error.message}`), { code: a.error.code, syscall: a.error.syscall });
    return a as unknown as T;
  }

  /** End stdin (the child exits when its queue drains); SIGKILL if it lingers. */
  async close(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.stdin!.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    const x = await this.exited;
    clearTimeout(t);
    return x;
  }

  stderrText(): string {
    return this.stderr;
  }
}

/**
 * FUTEX_WAKE the word at `byteOffset` of `ab` (word unchanged) until it wakes
 * one waiter: resolves once a process sleeping on it was woken by us. Needs
 * no access to the sleeper's /proc entries (a non-dumpable one hides them).
 */
export async function wakeOneSleeper(shm: ShmAddon, ab: ArrayBuffer, byteOffset: number): Promise<void> {
  while (shm.futexWake(ab, byteOffset, 1) !== 1) await sleep(5);
}
