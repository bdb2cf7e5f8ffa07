/**
 * The harness's end of a hostile guest (attacker.ts): spawns it (as the
 * tenant's OS identity when it has one) and sends it requests, one JSON line
 * each. Used by `npm run chaos -- --hostile` and the hostile-tenant tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface AttackerOptions {
  readonly socket: string;
  readonly tenant: string;
  readonly secret: string;
  /** Run as this OS identity (the tenant's uid/gid; the harness must be root). */
  readonly identity?: { readonly uid: number; readonly gid: number };
  /** The attacker's call timeout (ms). */
  readonly callTimeoutMs?: number;
}

/** The attacker program next to this module: its compiled `.js`, also when this module runs from its TypeScript source. */
export function attackerProgram(): string {
  const here = fileURLToPath(import.meta.url);
  return here.endsWith('.ts') ? fileURLToPath(new URL('../../dist/bench/chaos/attacker.js', import.meta.url)) : fileURLToPath(new URL('./attacker.js', import.meta.url));
}

export class AttackerProcess {
  readonly child: ChildProcess;
  readonly ready: Promise<number>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private nextId = 1;
  private readonly waiting = new Map<number, (v: Record<string, unknown>) => void>();
  private stderr = '';

  constructor(opts: AttackerOptions) {
    this.child = spawn(process.execPath, [attackerProgram(), opts.socket, opts.tenant, String(opts.callTimeoutMs ?? 5000)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, VFUN_SECRET: opts.secret },
      ...(opts.identity && { uid: opts.identity.uid, gid: opts.identity.gid }),
    });
    this.child.stdin!.on('error', () => undefined); // killed: its pipe breaks
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    let onReady!: (pid: number) => void;
    this.ready = new Promise((resolve, reject) => {
      onReady = resolve;
      void this.exited.then((x) => reject(new Error(`attacker exited (${x.code ?? x.signal}) before ready: ${this.stderr}`)));
    });
    this.ready.catch(() => undefined);
    createInterface({ input: this.child.stdout! })
      .on('line', (line) => {
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line) as Record<string, unknown>;
        } catch {
          return;
        }
        if (msg.ready === true) onReady(msg.pid as number);
        else this.waiting.get(msg.id as number)?.(msg);
      })
      .on('error', () => undefined);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Send one request and wait for its answer; rejects if the attacker exits first or answers an error. */
  async request<T = Record<string, unknown>>(op: string, body: Record<string, unknown> = {}): Promise<T> {
    await this.ready;
    const id = this.nextId++;
    const answer = await new Promise<Record<string, unknown>>((resolve, reject) => {
      this.waiting.set(id, (v) => {
        this.waiting.delete(id);
        resolve(v);
      });
      void this.exited.then((x) => reject(new Error(`attacker exited (${x.code ?? x.signal}) during '${op}': ${this.stderr}`)));
      this.child.stdin!.write(JSON.stringify({ id, op, ...body }) + '\n');
    });
    if (typeof answer.error === 'string') throw new Error(`attacker '${op}': ${answer.error}`);
    return answer as T;
  }

  /** Send a signal to the attacker's own process. */
  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  /** End it: close its stdin (it exits once its current request is done), SIGKILL if it does not within 10 s. */
  async close(): Promise<void> {
    if (!this.alive) return;
    this.child.stdin!.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(t);
  }
}
