/**
 * A child process that speaks JSON lines: for tests that need a second OS
 * process (a guest, an adversary, a service host). TypeScript fixtures run
 * through tsx, as the test sources do.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export class LineProcess {
  readonly child: ChildProcess;
  readonly ready: Promise<{ pid: number }>;
  private nextId = 1;
  private readonly waiting = new Map<number, (v: Record<string, unknown>) => void>();
  private stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  /** `fds`: descriptors the child inherits as its fds 3, 4, ...; `identity`: run as this uid/gid (the test runs as root). */
  constructor(fixture: URL, args: readonly string[], fds: readonly number[] = [], identity?: { readonly uid: number; readonly gid: number }) {
    this.child = spawn(process.execPath, ['--import', 'tsx', fixture.pathname, ...args], { stdio: ['pipe', 'pipe', 'pipe', ...fds], ...identity });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    const lines = createInterface({ input: this.child.stdout! });
    let onReady!: (v: { pid: number }) => void;
    this.ready = new Promise((resolve, reject) => {
      onReady = resolve;
      void this.exited.then((x) => reject(new Error(`${fixture.pathname} exited (${x.code ?? x.signal}) before ready: ${this.stderr}`)));
    });
    lines.on('line', (line) => {
      const msg = JSON.parse(line) as Record<string, unknown>;
      if (msg.ready === true) onReady({ pid: msg.pid as number });
      else this.waiting.get(msg.id as number)?.(msg);
    });
  }

  /** Send one request line and wait for the answer with the same id. */
  request<T extends Record<string, unknown>>(body: Record<string, unknown>): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, (v) => {
        this.waiting.delete(id);
        resolve(v as T);
      });
      void this.exited.then((x) => reject(new Error(`child exited (${x.code ?? x.signal}): ${this.stderr}`)));
      this.child.stdin!.write(JSON.stringify({ id, ...body }) + '\n');
    });
  }

  async close(): Promise<void> {
    this.child.stdin!.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }
}
