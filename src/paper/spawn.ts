/**
 * Child processes of the paper benchmark: the sibling module of the same kind
 * as this one (`.ts` under tsx in tests, `.js` from dist/), one JSON argument,
 * JSON lines on stdout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { loadShm } from '../native/shm.js';

/** Environment variable naming the bench process's pid to its children (dieWithParent checks it). */
export const PARENT_PID_ENV = 'VFUN_BENCH_PARENT_PID';

/**
 * Called first thing by a child of the benchmark: the kernel sends it SIGKILL when the bench
 * process dies (prctl PR_SET_PDEATHSIG through the native addon), however the bench process dies
 * (an EPIPE on its stdout, a signal, a crash), so no guest is left spinning a core. A parent that
 * died before the signal was armed is caught by comparing process.ppid with the pid the parent
 * passed: the child exits at once. Without the addon (the benchmark refuses to run then) only that
 * check is done.
 */
export function dieWithParent(env: NodeJS.ProcessEnv = process.env): void {
  loadShm()?.sandboxSelf({ parentDeathSignal: osConstants.signals.SIGKILL });
  const want = Number(env[PARENT_PID_ENV]);
  if (Number.isInteger(want) && want > 0 && process.ppid !== want) process.exit(1);
}

export const IS_TS = import.meta.url.endsWith('.ts');

/** URL of the sibling module `name` (no extension) of the running kind. */
export function siblingUrl(name: string): URL {
  return new URL(`./${name}${IS_TS ? '.ts' : '.js'}`, import.meta.url);
}

export interface ChildHandle {
  readonly proc: ChildProcess;
  /** Resolves with the next JSON line (rejects if the child exits first). */
  next(): Promise<unknown>;
  /** Exit code (or signal name). */
  readonly exited: Promise<number | string>;
  /** The child's stderr so far (for error messages). */
  stderr(): string;
}

export function startChild(name: string, config: unknown): ChildHandle {
  const file = fileURLToPath(siblingUrl(name));
  const proc = spawn(process.execPath, [...(IS_TS ? ['--import', 'tsx'] : []), file, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, [PARENT_PID_ENV]: String(process.pid) },
  });
  let err = '';
  proc.stderr!.on('data', (b: Buffer) => {
    err += b.toString();
    if (err.length > 20_000) err = err.slice(-10_000);
  });
  const queue: unknown[] = [];
  const waiting: { res: (v: unknown) => void; rej: (e: Error) => void }[] = [];
  let ended: Error | null = null;
  const rl = createInterface({ input: proc.stdout! });
  let rlClosed = false;
  rl.once('close', () => (rlClosed = true));
  rl.on('line', (line) => {
    const t = line.trim();
    if (!t.startsWith('{')) return;
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch {
      return;
    }
    const w = waiting.shift();
    if (w) w.res(v);
    else queue.push(v);
  });
  const exited = new Promise<number | string>((res) => {
    proc.once('error', (e) => {
      ended = e;
      res(-1);
    });
    proc.once('exit', (code, signal) => res(code ?? signal ?? -1));
  });
  void exited.then((code) => {
    // Lines may still be in readline's buffer at 'exit': settle waiters after it closes.
    const settle = (): void => {
      ended ??= new Error(`${name} exited (${code}) ${err.trim() ? `: ${err.trim().split('\n').slice(-5).join(' | ')}` : 'without output'}`);
      for (const w of waiting.splice(0)) w.rej(ended);
    };
    if (rlClosed) settle();
    else rl.once('close', settle);
  });
  return {
    proc,
    exited,
    stderr: () => err,
    next: () => {
      if (queue.length > 0) return Promise.resolve(queue.shift());
      if (ended !== null) return Promise.reject(ended);
      return new Promise((res, rej) => waiting.push({ res, rej }));
    },
  };
}
