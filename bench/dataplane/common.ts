/**
 * Shared pieces of the data-plane benchmark (bench/dataplane.ts): the message
 * every channel carries, latency summaries, and how the orchestrator starts
 * its child processes (the `.ts` sibling under tsx, the `.js` one from dist/).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { crc32 } from 'node:zlib';

/** The function every channel calls: the registry's `crc32` driver (cheap, so the channel dominates). */
export const DRIVER = 'crc32';
/** The default message: 64 payload bytes. */
export const DEFAULT_PAYLOAD = 64;
/** Payload sizes of the sweep. */
export const SWEEP_PAYLOADS = [64, 4096, 65536] as const;
/** Region capacity of every shared-memory channel (fits the largest sweep payload). */
export const CAPACITY = 65536;

/** The floor channel's file (floor.ts): word [0] is the ping-pong word, word [1] the stop flag (1: the echo exits). */
export const FLOOR_FILE_BYTES = 64;

/** The argument of a floor.ts child: the echo, or the client timing `calls` round trips. */
export interface FloorConfig {
  readonly path: string;
  readonly role: 'echo' | 'client';
  readonly calls?: number;
  readonly warmup?: number;
}

/** A deterministic payload of `n` bytes. */
export function makePayload(n: number): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (i * 31 + 7) & 0xff;
  return p;
}

/** The expected answer: CRC-32 of the payload as the driver writes it (u32 LE). */
export function expectedCrc(payload: Uint8Array): number {
  return crc32(payload) >>> 0;
}

/** Read the u32 LE result of a crc32 call. */
export function readU32(b: Uint8Array): number {
  return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
}

/** Latency summary of one measured channel (microseconds). */
export interface LatencySummary {
  readonly calls: number;
  readonly median_us: number;
  readonly p90_us: number;
  readonly p99_us: number;
  readonly p999_us: number;
  readonly max_us: number;
  readonly min_us: number;
  readonly mean_us: number;
  /** Calls per second over the timed loop (calls / elapsed, timing overhead included). */
  readonly rtt_per_s: number;
  readonly elapsed_s: number;
}

const round = (x: number, digits = 3): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/** Nearest-rank percentile of sorted samples. */
function pct(sorted: Float64Array, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const i = Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1));
  return sorted[i]!;
}

/** Summarise per-call samples (milliseconds, as performance.now() gives them) and the loop's elapsed time (ms). */
export function summarize(samplesMs: Float64Array, elapsedMs: number): LatencySummary {
  const s = Float64Array.from(samplesMs).sort();
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += s[i]!;
  const us = (ms: number): number => round(ms * 1000);
  return {
    calls: s.length,
    median_us: us(pct(s, 0.5)),
    p90_us: us(pct(s, 0.9)),
    p99_us: us(pct(s, 0.99)),
    p999_us: us(pct(s, 0.999)),
    max_us: us(s[s.length - 1] ?? NaN),
    min_us: us(s[0] ?? NaN),
    mean_us: us(sum / Math.max(1, s.length)),
    rtt_per_s: Math.round(s.length / (elapsedMs / 1000)),
    elapsed_s: round(elapsedMs / 1000, 4),
  };
}

/** Median cost of one `performance.now()` pair, in µs (the per-call timing overhead folded into every sample). */
export function timerOverheadUs(n = 200_000): number {
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    d[i] = performance.now() - t0;
  }
  return summarize(d, 1).median_us;
}

/** Run `fn` `warmup` times, then time every one of `calls` calls (ms samples); returns the summary. */
export function timeCalls(calls: number, warmup: number, fn: () => void): LatencySummary {
  for (let i = 0; i < warmup; i++) fn();
  const samples = new Float64Array(calls);
  const start = performance.now();
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    fn();
    samples[i] = performance.now() - t0;
  }
  const elapsed = performance.now() - start;
  return summarize(samples, elapsed);
}

// ---- child processes ----

/** The sibling module `name` of the same kind as this one (`.ts` under tsx, `.js` in dist/), and the node flags to run it. */
export function childCommand(name: string): { file: string; execArgv: string[] } {
  const isTs = import.meta.url.endsWith('.ts');
  const file = new URL(`./${name}${isTs ? '.ts' : '.js'}`, import.meta.url).pathname;
  return { file, execArgv: isTs ? ['--import', 'tsx'] : [] };
}

export interface Child<T> {
  readonly proc: ChildProcess;
  /** The first JSON line the child prints on stdout. */
  readonly first: Promise<T>;
  /** Every later JSON line, in order (resolves at exit). */
  readonly rest: Promise<unknown[]>;
  /** Exit code (or signal name). */
  readonly exited: Promise<number | string>;
}

/** Start a bench child (`name` in this folder) with one JSON argument; stderr is passed through. */
/** `fds`: descriptors the child inherits as its fds 3, 4, ... */
export function startChild<T>(name: string, config: unknown, fds: readonly number[] = []): Child<T> {
  const { file, execArgv } = childCommand(name);
  const proc = spawn(process.execPath, [...execArgv, file, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'inherit', ...fds] });
  const lines: unknown[] = [];
  let resolveFirst!: (v: T) => void;
  let rejectFirst!: (e: Error) => void;
  const first = new Promise<T>((res, rej) => {
    resolveFirst = res;
    rejectFirst = rej;
  });
  const rl = createInterface({ input: proc.stdout! });
  rl.on('line', (line) => {
    const t = line.trim();
    if (t === '') return;
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch {
      process.stderr.write(`[${name}] ${line}\n`);
      return;
    }
    lines.push(v);
    if (lines.length === 1) resolveFirst(v as T);
  });
  const exited = new Promise<number | string>((res) => {
    proc.once('exit', (code, signal) => {
      res(code ?? signal ?? -1);
    });
    proc.once('error', (e) => {
      rejectFirst(e);
      res(-1);
    });
  });
  const rest = exited.then((code) => {
    if (lines.length === 0) rejectFirst(new Error(`${name} exited (${code}) without output`));
    return lines.slice(1);
  });
  return { proc, first, rest, exited };
}

/** Run a child to completion and return its single JSON result; rejects on a non-zero exit. */
export async function runChild<T>(name: string, config: unknown, fds: readonly number[] = []): Promise<T> {
  const c = startChild<T>(name, config, fds);
  const [result, code] = await Promise.all([c.first, c.exited]);
  if (code !== 0) throw new Error(`${name} exited with ${code}`);
  return result;
}

// ---- CPU accounting (Linux): how much of the machine others used while a channel ran ----

const CLK_TCK = 100; // USER_HZ on Linux
const MIN_METER_MS = 250;

/** Busy and steal time of all CPUs from /proc/stat, in ms; null off Linux. */
function systemCpuMs(): { busy: number; steal: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
    return { busy: ((user + nice + system + irq + softirq) * 1000) / CLK_TCK, steal: (steal * 1000) / CLK_TCK };
  } catch {
    return null;
  }
}

/** CPU time (user + system) a live process has used so far, in ms (0 if unreadable). */
export function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** This process's CPU time so far (all threads), in ms. */
export function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export interface ForeignLoad {
  /**
   * CPU used by processes other than the benchmark's while the channel was
   * measured (start-up of its processes included), in cores: 0.5 = half a core
   * on average. A noisy-neighbour hint (10 ms jiffies), null when the window was too short.
   */
  readonly foreign_cores: number | null;
  /** Steal time over the same window (the hypervisor ran someone else), in cores. */
  readonly steal_cores: number | null;
}

/**
 * Start measuring how much CPU the rest of the machine uses: all CPUs' busy
 * time (/proc/stat) minus this process's CPU time and `end`'s `othersMs`, the
 * CPU time of the benchmark's other processes over the window (children
 * started inside it report their total).
 */
export function cpuMeter(): { end(othersMs: number): ForeignLoad } {
  const t0 = performance.now();
  const sys0 = systemCpuMs();
  const self0 = selfCpuMs();
  return {
    end(othersMs: number): ForeignLoad {
      const wall = performance.now() - t0;
      const sys1 = systemCpuMs();
      const ours = selfCpuMs() - self0 + othersMs;
      // Jiffies are 10 ms: below a quarter of a second the figure would be noise.
      if (sys0 === null || sys1 === null || wall < MIN_METER_MS) return { foreign_cores: null, steal_cores: null };
      const r2 = (x: number): number => Math.round(x * 100) / 100;
      return {
        foreign_cores: r2(Math.max(0, sys1.busy - sys0.busy - ours) / wall),
        steal_cores: r2((sys1.steal - sys0.steal) / wall),
      };
    },
  };
}
