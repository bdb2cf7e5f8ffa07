/**
 * Running a guest in QEMU: a supervised run that builds the command line
 * (qemu-args.ts), follows the console for the markers /init prints
 * (qemu-console.ts), enforces boot and overall deadlines, and always kills
 * QEMU (SIGKILL) on timeout or when the caller's AbortSignal fires.
 *
 * This module installs no process-wide handlers: a program that must not
 * leave a VM behind when it is interrupted or exits calls `killAllVms` from
 * its own handlers (the `vfun` command: src/vm/signals.ts). QEMU also
 * runs under `setpriv --pdeathsig KILL` when util-linux has it, so the kernel
 * kills it if this process dies without running any handler.
 *
 * Accelerator: 'auto' tries KVM when /dev/kvm can be opened, and boots again
 * under TCG when the KVM guest has not printed its boot marker within the
 * boot timeout or QEMU gave up on KVM (on some hosts a KVM guest hangs before
 * the kernel prints anything). VmRun says which one ran and why KVM was not.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import { access } from 'node:fs/promises';
import { ValidationError, VirtFunError } from '../errors.js';
import { findQemu, kvmUnusable, QEMU_BINARY, QEMU_INSTALL_HINT, setpriv } from './host-tools.js';
import { BOOT_MARKER } from './initramfs.js';
import { qemuArgs, type Accel, type VmSpec } from './qemu-args.js';
import { ConsoleReader, lastLines } from './qemu-console.js';

/** How to run the guest. */
export interface VmRunOptions {
  /** Default 'auto' (KVM when usable, else or on a stuck KVM boot, TCG). */
  readonly accel?: 'auto' | Accel;
  /** How long a KVM guest gets to print its boot marker before it is abandoned (default 20 s). */
  readonly bootTimeoutMs?: number;
  /** Longest run of the attempt that boots the guest, from its QEMU start (default 120 s); QEMU is killed then. */
  readonly timeoutMs?: number;
  /** Every console line as it arrives (cleaned; lines of an abandoned KVM attempt included). */
  readonly onLine?: (line: string) => void;
  /** The QEMU binary (default qemu-system-x86_64 on PATH). */
  readonly qemu?: string;
  /** The KVM device probed by 'auto' (default /dev/kvm). */
  readonly kvmDevice?: string;
  /** Abort the run: QEMU is killed at once and runVm rejects with a VmError of reason 'interrupted'. */
  readonly signal?: AbortSignal;
}

/** What a guest run did. */
export interface VmRun {
  /** The accelerator the guest ran under. */
  readonly accel: Accel;
  /** Why KVM was not used (or was abandoned) under 'auto'. */
  readonly fallback?: string;
  /** The payload's status from `VFUN-VM-EXIT <status>`; null when the guest never printed it. */
  readonly exitStatus: number | null;
  /** Console lines of the attempt that ran, cleaned of \r and terminal escapes (the last MAX_KEPT_LINES or so). */
  readonly lines: string[];
  /** Wall time of the whole runVm call (a KVM attempt included). */
  readonly durationMs: number;
  /** From the start of the QEMU that ran to the boot marker. */
  readonly bootMs: number;
  /** QEMU's own exit code (null when killed by a signal). */
  readonly qemuExitCode: number | null;
  /** What QEMU wrote to stderr. */
  readonly stderr: string;
}

export type VmFailure = 'not-installed' | 'exited-before-boot' | 'boot-timeout' | 'timeout' | 'interrupted';

/** A VM that could not be started or did not finish: says which, with QEMU's stderr and the last console lines. */
export class VmError extends VirtFunError {
  override readonly name = 'VmError';
  readonly reason: VmFailure;
  readonly accel: Accel | undefined;
  readonly stderr: string;
  readonly lines: readonly string[];
  constructor(reason: VmFailure, message: string, details: { accel?: Accel; stderr?: string; lines?: readonly string[]; cause?: unknown } = {}) {
    super('VM', message, { cause: details.cause });
    this.reason = reason;
    this.accel = details.accel;
    this.stderr = details.stderr ?? '';
    this.lines = details.lines ?? [];
  }
}

export const DEFAULT_BOOT_TIMEOUT_MS = 20_000;
export const DEFAULT_VM_TIMEOUT_MS = 120_000;
const STDERR_CAP = 64 * 1024;

// QEMU processes of this process running now (what killAllVms kills).
const live = new Set<ChildProcess>();

/**
 * Kill (SIGKILL) every QEMU that runVm started in this process and that is
 * still running; their runs then settle as QEMU exits. Synchronous, so a
 * process can call it from its 'exit' handler. Returns how many were killed.
 */
export function killAllVms(): number {
  let n = 0;
  for (const c of live) if (c.kill('SIGKILL')) n++;
  return n;
}

/** How many QEMU processes started by runVm are running in this process. */
export function runningVms(): number {
  return live.size;
}

/**
 * Boot the guest and wait until QEMU exits. Resolves when the guest booted
 * (printed BOOT_MARKER) and QEMU exited by itself; rejects with a VmError when
 * QEMU is missing, exits before the marker, runs past a deadline or the run is
 * aborted (QEMU is killed with SIGKILL before the promise settles).
 */
export async function runVm(spec: VmSpec, opts: VmRunOptions = {}): Promise<VmRun> {
  const started = performance.now();
  const mode = opts.accel ?? 'auto';
  if (mode !== 'auto' && mode !== 'kvm' && mode !== 'tcg') throw new ValidationError('accel', `'${String(mode)}' is not auto, kvm or tcg`);
  const bootTimeoutMs = opts.bootTimeoutMs ?? DEFAULT_BOOT_TIMEOUT_MS;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_VM_TIMEOUT_MS;
  for (const [field, v] of [['bootTimeoutMs', bootTimeoutMs], ['timeoutMs', timeoutMs]] as const) {
    if (!Number.isFinite(v) || v <= 0) throw new ValidationError(field, `${v} must be a positive number of milliseconds`);
  }
  qemuArgs(spec, 'tcg'); // validate before looking for anything
  for (const [field, path] of [['kernel', spec.kernel], ['initrd', spec.initrd]] as const) {
    await access(path, fsc.R_OK).catch((err: unknown) => {
      throw new ValidationError(field, `cannot read ${path}: ${(err as Error).message}`, { cause: err });
    });
  }
  const name = opts.qemu ?? QEMU_BINARY;
  const qemu = await findQemu(name);
  if (qemu === undefined) throw new VmError('not-installed', `${name} not found: ${QEMU_INSTALL_HINT}`);
  const base = { qemu, timeoutMs, onLine: opts.onLine, signal: opts.signal };
  const finish = (a: AttemptResult, accel: Accel, fallback?: string): VmRun => ({
    accel,
    ...(fallback === undefined ? {} : { fallback }),
    exitStatus: a.exitStatus,
    lines: a.lines,
    durationMs: Math.round(performance.now() - started),
    bootMs: a.bootMs,
    qemuExitCode: a.code,
    stderr: a.stderr,
  });

  if (mode === 'tcg') return finish(await attempt(spec, 'tcg', base), 'tcg');
  if (mode === 'kvm') return finish(await attempt(spec, 'kvm', { ...base, bootTimeoutMs }), 'kvm');

  const kvmDevice = opts.kvmDevice ?? '/dev/kvm';
  const kvmProblem = await kvmUnusable(kvmDevice);
  let fallback: string;
  if (kvmProblem !== undefined) {
    fallback = kvmProblem;
  } else {
    try {
      return finish(await attempt(spec, 'kvm', { ...base, bootTimeoutMs }), 'kvm');
    } catch (err) {
      if (!(err instanceof VmError) || (err.reason !== 'boot-timeout' && err.reason !== 'exited-before-boot')) throw err;
      fallback =
        err.reason === 'boot-timeout'
          ? `the KVM guest printed no boot marker within ${bootTimeoutMs} ms`
          : `QEMU with KVM exited before the guest booted${err.stderr.trim() === '' ? '' : `: ${lastLines(err.stderr, 3)}`}`;
    }
  }
  return finish(await attempt(spec, 'tcg', base), 'tcg', fallback);
}

interface AttemptResult {
  readonly exitStatus: number | null;
  readonly lines: string[];
  readonly bootMs: number;
  readonly code: number | null;
  readonly stderr: string;
}

interface AttemptOptions {
  readonly qemu: string;
  readonly timeoutMs: number;
  readonly bootTimeoutMs?: number;
  readonly onLine: ((line: string) => void) | undefined;
  readonly signal: AbortSignal | undefined;
}

/** One QEMU under `accel`, from its start to its exit (or its kill). */
async function attempt(spec: VmSpec, accel: Accel, o: AttemptOptions): Promise<AttemptResult> {
  const args = qemuArgs(spec, accel);
  const wrapper = await setpriv();
  const [cmd, argv] = wrapper === null ? [o.qemu, args] : [wrapper, ['--pdeathsig', 'KILL', '--', o.qemu, ...args]];
  if (o.signal?.aborted) throw new VmError('interrupted', `the VM (${accel}) was interrupted before QEMU started`, { accel });
  const t0 = performance.now();

  return new Promise<AttemptResult>((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);

    const reader = new ConsoleReader(t0, o.onLine);
    const lines = reader.lines;
    let stderr = '';
    let failure: VmError | undefined;
    child.stdout!.on('data', (d: Buffer) => reader.write(d));
    child.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < STDERR_CAP) stderr += d.toString('utf8');
    });

    const fail = (e: VmError) => {
      if (failure !== undefined) return;
      failure = e;
      child.kill('SIGKILL');
    };
    const details = () => {
      const parts: string[] = [];
      if (lines.length > 0) parts.push(`last console lines: ${lastLines(lines, 5)}`);
      if (stderr.trim() !== '') parts.push(`QEMU stderr: ${lastLines(stderr, 5)}`);
      return parts.length === 0 ? '' : `; ${parts.join('; ')}`;
    };
    const timers: NodeJS.Timeout[] = [];
    if (o.bootTimeoutMs !== undefined) {
      timers.push(
        setTimeout(() => {
          if (reader.bootMs !== undefined) return;
          fail(
            new VmError('boot-timeout', `the guest (${accel}) printed no ${BOOT_MARKER} within ${o.bootTimeoutMs} ms; QEMU was killed${details()}`, {
              accel,
              stderr,
              lines,
            }),
          );
        }, o.bootTimeoutMs),
      );
    }
    timers.push(
      setTimeout(() => {
        const state = reader.bootMs === undefined ? 'never booted' : `booted after ${reader.bootMs} ms`;
        fail(new VmError('timeout', `the VM (${accel}) did not finish within ${o.timeoutMs} ms (${state}); QEMU was killed${details()}`, { accel, stderr, lines }));
      }, o.timeoutMs),
    );
    const onAbort = () => fail(new VmError('interrupted', `the VM (${accel}) was interrupted; QEMU was killed${details()}`, { accel, stderr, lines }));
    o.signal?.addEventListener('abort', onAbort, { once: true });

    let settled = false;
    const done = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      o.signal?.removeEventListener('abort', onAbort);
      live.delete(child);
      reader.end();
      const bootMs = reader.bootMs;
      if (spawnError !== undefined) {
        const missing = (spawnError as NodeJS.ErrnoException).code === 'ENOENT';
        reject(new VmError(missing ? 'not-installed' : 'exited-before-boot', missing ? `${cmd} not found: ${QEMU_INSTALL_HINT}` : `cannot start ${o.qemu}: ${spawnError.message}`, { accel, cause: spawnError }));
      } else if (failure !== undefined) {
        reject(failure);
      } else if (bootMs === undefined) {
        const how = code !== null ? `with code ${code}` : `on ${signal ?? 'a signal'}`;
        reject(new VmError('exited-before-boot', `QEMU (${accel}) exited ${how} before the guest printed ${BOOT_MARKER}${details()}`, { accel, stderr, lines }));
      } else {
        resolve({ exitStatus: reader.exitStatus, lines, bootMs, code, stderr });
      }
    };
    child.once('error', (err) => {
      // spawn failed (no 'close' follows when there is no process)
      if (child.pid === undefined) done(null, null, err);
    });
    child.once('close', (code, signal) => done(code, signal));
  });
}
