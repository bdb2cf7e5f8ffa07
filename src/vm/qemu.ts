/**
 * Running a guest in QEMU: the command line (kernel + initramfs, an optional
 * ivshmem-plain window backed by a host file, virtio-serial ports whose host
 * ends are existing Unix socket listeners, the serial console on stdout) and
 * a supervised run that follows the console for the markers /init prints
 * (initramfs.ts), enforces boot and overall deadlines, and always kills QEMU
 * (SIGKILL) on timeout or when this process is interrupted.
 *
 * Accelerator: 'auto' tries KVM when /dev/kvm can be opened, and boots again
 * under TCG when the KVM guest has not printed its boot marker within the
 * boot timeout or QEMU gave up on KVM (on some hosts a KVM guest hangs before
 * the kernel prints anything). VmRun says which one ran and why KVM was not.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import { access, open, readFile } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { ValidationError, VirtFunError } from '../errors.js';
import { BOOT_MARKER, EXIT_MARKER } from './initramfs.js';

export type Accel = 'kvm' | 'tcg';

export interface VmPort {
  /** virtio-serial port name (the guest sees it in /sys/class/virtio-ports/<dev>/name). */
  readonly name: string;
  /** Host end: a Unix socket that is already listening; QEMU connects to it. */
  readonly socketPath: string;
}

export interface VmSpec {
  /** The kernel image (bzImage). */
  readonly kernel: string;
  /** The gzip'd cpio initramfs. */
  readonly initrd: string;
  /** Guest memory in MiB (default 256). */
  readonly memoryMiB?: number;
  /** Virtual CPUs (default 1). */
  readonly cpus?: number;
  /** Kernel command line (default DEFAULT_APPEND). */
  readonly append?: string;
  /** Shared window: a host file mapped as the BAR2 of an ivshmem-plain PCI device (1af4:1110). */
  readonly window?: { readonly path: string; readonly bytes: number };
  /** virtio-serial ports. */
  readonly ports: readonly VmPort[];
}

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
}

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

export type VmFailure = 'not-installed' | 'exited-before-boot' | 'boot-timeout' | 'timeout';

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

export const DEFAULT_APPEND = 'console=ttyS0 quiet panic=-1';
export const DEFAULT_MEMORY_MIB = 256;
export const DEFAULT_BOOT_TIMEOUT_MS = 20_000;
export const DEFAULT_VM_TIMEOUT_MS = 120_000;
export const QEMU_BINARY = 'qemu-system-x86_64';
const INSTALL = 'install it with `apt-get install --no-install-recommends qemu-system-x86` (or run `node scripts/ensure-system-packages.mjs` in a checkout)';
const STDERR_CAP = 64 * 1024;
/** VmRun.lines keeps the last this many console lines (onLine sees them all). */
export const MAX_KEPT_LINES = 10_000;
const PORT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** A value inside a QEMU `-opt key=value,...` list: commas are doubled. */
export function qemuOpt(value: string): string {
  return value.replace(/,/g, ',,');
}

/** The QEMU command line (without the binary) for `spec` under `accel`. Validates the spec. */
export function qemuArgs(spec: VmSpec, accel: Accel): string[] {
  const memory = spec.memoryMiB ?? DEFAULT_MEMORY_MIB;
  const cpus = spec.cpus ?? 1;
  if (!Number.isInteger(memory) || memory < 32 || memory > 1 << 20) throw new ValidationError('memoryMiB', `${memory} is not an integer in 32..${1 << 20}`);
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > 64) throw new ValidationError('cpus', `${cpus} is not an integer in 1..64`);
  if (spec.kernel === '') throw new ValidationError('kernel', 'is empty');
  if (spec.initrd === '') throw new ValidationError('initrd', 'is empty');
  const append = spec.append ?? DEFAULT_APPEND;
  if (append.includes('\n') || append.includes('\0')) throw new ValidationError('append', 'must be one line');

  const args = ['-accel', accel];
  if (accel === 'kvm') args.push('-cpu', 'host');
  args.push(
    '-m', String(memory),
    '-smp', String(cpus),
    '-nodefaults',
    '-no-user-config',
    '-display', 'none',
    '-serial', 'stdio',
    '-nic', 'none',
    '-no-reboot',
    '-kernel', spec.kernel,
    '-initrd', spec.initrd,
    '-append', append,
  );
  if (spec.window !== undefined) {
    const { path, bytes } = spec.window;
    if (!Number.isInteger(bytes) || bytes < 4096 || bytes > 2 ** 40 || !Number.isInteger(Math.log2(bytes))) {
      throw new ValidationError('window.bytes', `${bytes} must be a power of two from 4096 (ivshmem BAR size)`);
    }
    if (path === '') throw new ValidationError('window.path', 'is empty');
    args.push(
      '-object', `memory-backend-file,id=vfunwin,share=on,mem-path=${qemuOpt(path)},size=${bytes}`,
      '-device', 'ivshmem-plain,memdev=vfunwin',
    );
  }
  if (spec.ports.length > 0) {
    const names = new Set<string>();
    args.push('-device', 'virtio-serial-pci,id=vfunser');
    spec.ports.forEach((p, i) => {
      if (!PORT_NAME.test(p.name)) throw new ValidationError(`ports[${i}].name`, `'${p.name}' must be 1-63 of [A-Za-z0-9._-], starting with a letter or digit`);
      if (names.has(p.name)) throw new ValidationError(`ports[${i}].name`, `'${p.name}' is used twice`);
      names.add(p.name);
      if (p.socketPath === '') throw new ValidationError(`ports[${i}].socketPath`, 'is empty');
      args.push(
        '-chardev', `socket,id=vfunport${i},path=${qemuOpt(p.socketPath)},reconnect=1`,
        '-device', `virtserialport,bus=vfunser.0,nr=${i + 1},chardev=vfunport${i},name=${p.name}`,
      );
    });
  }
  return args;
}

// ESC [ ... final (CSI), ESC ] ... BEL/ST (OSC), other two/three-byte escapes, and the remaining C0 controls but tab.
const TERMINAL_ESCAPES = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -/]*[0-~]?)|\x9b[0-?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f]/g;

/** A console line without \r, terminal escape sequences or other control characters. */
export function cleanConsoleLine(raw: string): string {
  return raw.replace(TERMINAL_ESCAPES, '');
}

const EXIT_LINE = new RegExp(`${EXIT_MARKER} (-?\\d+)`);

/**
 * Boot the guest and wait until QEMU exits. Resolves when the guest booted
 * (printed BOOT_MARKER) and QEMU exited by itself; rejects with a VmError when
 * QEMU is missing, exits before the marker, or runs past a deadline (QEMU is
 * killed with SIGKILL before the promise settles).
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
  const qemu = await findQemu(opts.qemu ?? QEMU_BINARY);
  const base = { qemu, timeoutMs, onLine: opts.onLine };
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

/** Why `device` cannot be used for KVM, or undefined when it opens read-write. */
async function kvmUnusable(device: string): Promise<string | undefined> {
  try {
    const fh = await open(device, 'r+');
    await fh.close();
  } catch (err) {
    return `${device} cannot be opened (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
  // A /dev/kvm on a CPU that advertises no hardware virtualisation (seen in sandboxed VMs) lets
  // QEMU start, but the guest stops during kernel decompression: do not wait out the boot timeout.
  if (device === '/dev/kvm') {
    const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => null);
    if (cpuinfo !== null && !/^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo)) {
      return '/dev/kvm exists but the CPU advertises neither vmx nor svm in /proc/cpuinfo (no hardware virtualisation: a KVM guest would hang early)';
    }
  }
  return undefined;
}

async function findQemu(name: string): Promise<string> {
  const candidates = isAbsolute(name) || name.includes('/') ? [name] : (process.env.PATH ?? '/usr/bin:/bin').split(delimiter).filter((d) => d !== '').map((d) => join(d, name));
  for (const c of candidates) {
    if (await access(c, fsc.X_OK).then(() => true, () => false)) return c;
  }
  throw new VmError('not-installed', `${name} not found: ${INSTALL}`);
}

let setprivPath: string | null | undefined;
/** util-linux setpriv, to give QEMU a parent-death signal (so it dies even if this process is SIGKILLed). */
async function setpriv(): Promise<string | null> {
  if (setprivPath === undefined) {
    setprivPath = null;
    for (const p of ['/usr/bin/setpriv', '/bin/setpriv']) {
      if (await access(p, fsc.X_OK).then(() => true, () => false)) {
        setprivPath = p;
        break;
      }
    }
  }
  return setprivPath;
}

// QEMU processes running now: killed if this process is interrupted or exits.
const live = new Set<ChildProcess>();
const TERM_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function killLive(): void {
  for (const c of live) c.kill('SIGKILL');
}

function onTerminate(signal: NodeJS.Signals): void {
  killLive();
  uninstallHandlers();
  // We were the only listener: do what the signal would have done.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installHandlers(): void {
  for (const s of TERM_SIGNALS) process.on(s, onTerminate);
  process.on('exit', killLive);
}

function uninstallHandlers(): void {
  for (const s of TERM_SIGNALS) process.off(s, onTerminate);
  process.off('exit', killLive);
}

interface AttemptResult {
  readonly exitStatus: number | null;
  readonly lines: string[];
  readonly bootMs: number;
  readonly code: number | null;
  readonly stderr: string;
}

function lastLines(text: string | readonly string[], n: number): string {
  const lines = (typeof text === 'string' ? text.split('\n') : [...text]).map((l) => l.trim()).filter((l) => l !== '');
  return lines.slice(-n).join(' | ');
}

async function attempt(
  spec: VmSpec,
  accel: Accel,
  o: { qemu: string; timeoutMs: number; bootTimeoutMs?: number; onLine: ((line: string) => void) | undefined },
): Promise<AttemptResult> {
  const args = qemuArgs(spec, accel);
  const wrapper = await setpriv();
  const [cmd, argv] = wrapper === null ? [o.qemu, args] : [wrapper, ['--pdeathsig', 'KILL', '--', o.qemu, ...args]];
  const t0 = performance.now();

  return new Promise<AttemptResult>((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    if (live.size === 0) installHandlers();
    live.add(child);

    const lines: string[] = [];
    let stderr = '';
    let partial = '';
    let bootMs: number | undefined;
    let exitStatus: number | null = null;
    let failure: VmError | undefined;
    const decoder = new StringDecoder('utf8');

    const line = (raw: string) => {
      const l = cleanConsoleLine(raw);
      lines.push(l);
      if (lines.length > MAX_KEPT_LINES + 1000) lines.splice(0, lines.length - MAX_KEPT_LINES);
      if (bootMs === undefined && l.includes(BOOT_MARKER)) bootMs = Math.round(performance.now() - t0);
      const m = EXIT_LINE.exec(l);
      if (m) exitStatus = Number(m[1]);
      try {
        o.onLine?.(l);
      } catch {
        // a throwing observer must not take down the supervision of QEMU
      }
    };
    const feed = (text: string) => {
      partial += text;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        line(partial.slice(0, nl));
        partial = partial.slice(nl + 1);
      }
    };
    child.stdout!.on('data', (d: Buffer) => feed(decoder.write(d)));
    child.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < STDERR_CAP) stderr += d.toString('utf8');
    });

    const fail = (e: VmError) => {
      if (failure !== undefined) return;
      failure = e;
      child.kill('SIGKILL');
    };
    const timers: NodeJS.Timeout[] = [];
    if (o.bootTimeoutMs !== undefined) {
      timers.push(
        setTimeout(() => {
          if (bootMs !== undefined) return;
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
        const state = bootMs === undefined ? 'never booted' : `booted after ${bootMs} ms`;
        fail(new VmError('timeout', `the VM (${accel}) did not finish within ${o.timeoutMs} ms (${state}); QEMU was killed${details()}`, { accel, stderr, lines }));
      }, o.timeoutMs),
    );
    const details = () => {
      const parts: string[] = [];
      if (lines.length > 0) parts.push(`last console lines: ${lastLines(lines, 5)}`);
      if (stderr.trim() !== '') parts.push(`QEMU stderr: ${lastLines(stderr, 5)}`);
      return parts.length === 0 ? '' : `; ${parts.join('; ')}`;
    };

    let settled = false;
    const done = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      live.delete(child);
      if (live.size === 0) uninstallHandlers();
      const rest = partial + decoder.end();
      partial = '';
      if (rest !== '') line(rest);
      if (spawnError !== undefined) {
        const missing = (spawnError as NodeJS.ErrnoException).code === 'ENOENT';
        reject(new VmError(missing ? 'not-installed' : 'exited-before-boot', missing ? `${cmd} not found: ${INSTALL}` : `cannot start ${o.qemu}: ${spawnError.message}`, { accel, cause: spawnError }));
      } else if (failure !== undefined) {
        reject(failure);
      } else if (bootMs === undefined) {
        const how = code !== null ? `with code ${code}` : `on ${signal ?? 'a signal'}`;
        reject(new VmError('exited-before-boot', `QEMU (${accel}) exited ${how} before the guest printed ${BOOT_MARKER}${details()}`, { accel, stderr, lines }));
      } else {
        resolve({ exitStatus, lines, bootMs, code, stderr });
      }
    };
    child.once('error', (err) => {
      // spawn failed (no 'close' follows when there is no process)
      if (child.pid === undefined) done(null, null, err);
    });
    child.once('close', (code, signal) => done(code, signal));
  });
}
