import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.js';
import { processAlive } from '../../src/util/process.js';
import { cleanConsoleLine, killAllVms, qemuArgs, runningVms, runVm, VmError, type VmSpec } from '../../src/vm/index.js';

let work: string;
let spec: VmSpec;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'vfun-qemu-'));
  await writeFile(join(work, 'vmlinuz'), 'k');
  await writeFile(join(work, 'initrd.gz'), 'i');
  spec = { kernel: join(work, 'vmlinuz'), initrd: join(work, 'initrd.gz'), ports: [] };
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** The value after `flag` each time it occurs. */
function values(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));
}

describe('qemuArgs', () => {
  it('boots kernel + initrd with the serial console on stdio and nothing else attached', () => {
    const args = qemuArgs({ kernel: '/k/vmlinuz', initrd: '/k/initrd.gz', ports: [] }, 'tcg');
    expect(values(args, '-accel')).toEqual(['tcg']);
    expect(values(args, '-cpu')).toEqual([]);
    expect(values(args, '-m')).toEqual(['256']);
    expect(values(args, '-smp')).toEqual(['1']);
    expect(values(args, '-kernel')).toEqual(['/k/vmlinuz']);
    expect(values(args, '-initrd')).toEqual(['/k/initrd.gz']);
    expect(values(args, '-append')).toEqual(['console=ttyS0 quiet panic=-1']);
    expect(values(args, '-serial')).toEqual(['stdio']);
    expect(values(args, '-nic')).toEqual(['none']);
    expect(args).toContain('-no-reboot');
    expect(args).toContain('-nodefaults');
    expect(values(args, '-device')).toEqual([]);
  });

  it('uses the host CPU under KVM and honours memory, cpus and append', () => {
    const args = qemuArgs({ kernel: 'k', initrd: 'i', memoryMiB: 512, cpus: 2, append: 'console=ttyS0 debug', ports: [] }, 'kvm');
    expect(values(args, '-accel')).toEqual(['kvm']);
    expect(values(args, '-cpu')).toEqual(['host']);
    expect(values(args, '-m')).toEqual(['512']);
    expect(values(args, '-smp')).toEqual(['2']);
    expect(values(args, '-append')).toEqual(['console=ttyS0 debug']);
  });

  it('maps the window file as an ivshmem-plain device and each port as a virtserialport on a socket chardev', () => {
    const args = qemuArgs(
      {
        kernel: 'k',
        initrd: 'i',
        window: { path: '/run/vfun/win,1.shm', bytes: 4 << 20 },
        ports: [
          { name: 'vfun.control', socketPath: '/run/vfun/control.sock' },
          { name: 'vfun.net', socketPath: '/tmp/a,b.sock' },
        ],
      },
      'tcg',
    );
    expect(values(args, '-object')).toEqual(['memory-backend-file,id=vfunwin,share=on,mem-path=/run/vfun/win,,1.shm,size=4194304']);
    expect(values(args, '-chardev')).toEqual(['socket,id=vfunport0,path=/run/vfun/control.sock,reconnect=1', 'socket,id=vfunport1,path=/tmp/a,,b.sock,reconnect=1']);
    expect(values(args, '-device')).toEqual([
      'ivshmem-plain,memdev=vfunwin',
      'virtio-serial-pci,id=vfunser',
      'virtserialport,bus=vfunser.0,nr=1,chardev=vfunport0,name=vfun.control',
      'virtserialport,bus=vfunser.0,nr=2,chardev=vfunport1,name=vfun.net',
    ]);
  });

  it('refuses what QEMU would reject or misparse, naming the field', () => {
    const bad: [Partial<VmSpec>, string][] = [
      [{ window: { path: '/w', bytes: 3 << 20 } }, 'window.bytes'],
      [{ window: { path: '/w', bytes: 1024 } }, 'window.bytes'],
      [{ ports: [{ name: 'a,b', socketPath: '/s' }] }, 'ports[0].name'],
      [{ ports: [{ name: 'x', socketPath: '/s' }, { name: 'x', socketPath: '/t' }] }, 'ports[1].name'],
      [{ memoryMiB: 0 }, 'memoryMiB'],
      [{ cpus: 1.5 }, 'cpus'],
      [{ append: 'a\nb' }, 'append'],
    ];
    for (const [patch, field] of bad) {
      let err: unknown;
      try {
        qemuArgs({ kernel: 'k', initrd: 'i', ports: [], ...patch }, 'tcg');
      } catch (e) {
        err = e;
      }
      expect(err, field).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).field).toBe(field);
    }
  });
});

describe('cleanConsoleLine', () => {
  it('strips terminal escapes (as SeaBIOS prints them), \\r and control characters', () => {
    expect(cleanConsoleLine('\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version 1.16.2)\r')).toBe('SeaBIOS (version 1.16.2)');
    expect(cleanConsoleLine('\x1bc\x1b[?7l\x1b[2JVFUN-VM-BOOT\r')).toBe('VFUN-VM-BOOT');
    expect(cleanConsoleLine('\x1b]0;title\x07a\x1b[1;31mred\x1b[m\tb\x00')).toBe('ared\tb');
    expect(cleanConsoleLine('plain ü ✓')).toBe('plain ü ✓');
  });
});

// runVm against stand-in QEMUs: shell scripts that behave like a guest on the console.
let scripts = 0;
async function fakeQemu(body: string): Promise<string> {
  const path = join(work, `qemu-${scripts++}`);
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}

const GUEST = `printf '\\033c\\033[?7l\\033[2JSeaBIOS\\r\\n'
printf '\\033c\\033[2JVFUN-VM-BOOT\\r\\n'
echo "args: $*"
printf 'VFUN-VM-EXIT 3\\r\\n[    1.8] reboot: Power down\\r\\npartial'`;

/** A QEMU that hangs under KVM (recording its pid) and boots under TCG. */
const kvmHangs = (pidFile: string) => `case "$*" in
  *"-accel kvm"*) echo $$ > ${pidFile}; printf 'SeaBIOS\\r\\n'; exec sleep 30 ;;
esac
${GUEST}`;

describe('runVm', () => {
  it('follows the console: boot marker, exit status, cleaned lines including an unterminated last one', async () => {
    const seen: string[] = [];
    const listeners = () => ['SIGINT', 'SIGTERM', 'SIGHUP', 'exit'].map((e) => process.listenerCount(e));
    const before = listeners();
    let during: number[] = [];
    const run = await runVm(spec, {
      accel: 'tcg',
      qemu: await fakeQemu(GUEST),
      onLine: (l) => {
        seen.push(l);
        if (l === 'VFUN-VM-BOOT') during = listeners();
      },
    });
    // A library installs no process-wide handlers: the program does (src/vm/signals.ts).
    expect(during).toEqual(before);
    expect(listeners()).toEqual(before);
    expect(run.accel).toBe('tcg');
    expect(run.fallback).toBeUndefined();
    expect(run.exitStatus).toBe(3);
    expect(run.qemuExitCode).toBe(0);
    expect(run.lines[0]).toBe('SeaBIOS');
    expect(run.lines[1]).toBe('VFUN-VM-BOOT');
    expect(run.lines[2]).toMatch(/^args: -accel tcg .*-kernel .*vmlinuz/);
    expect(run.lines.slice(-2)).toEqual(['[    1.8] reboot: Power down', 'partial']);
    expect(seen).toEqual(run.lines);
    expect(run.bootMs).toBeGreaterThanOrEqual(0);
    expect(run.durationMs).toBeGreaterThanOrEqual(run.bootMs);
  });

  it('reports exitStatus null when the guest booted but never printed its exit line', async () => {
    const run = await runVm(spec, { accel: 'tcg', qemu: await fakeQemu('echo VFUN-VM-BOOT; echo "Kernel panic"') });
    expect(run.exitStatus).toBeNull();
  });

  it('fails with QEMU stderr when QEMU exits before the boot marker', async () => {
    const qemu = await fakeQemu(`echo "qemu-system-x86_64: -chardev socket,id=x: Failed to connect to '/nope.sock'" >&2; exit 1`);
    const err = await runVm(spec, { accel: 'tcg', qemu }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VmError);
    expect((err as VmError).reason).toBe('exited-before-boot');
    expect((err as VmError).code).toBe('VM');
    expect((err as Error).message).toMatch(/QEMU \(tcg\) exited with code 1 before the guest printed VFUN-VM-BOOT.*Failed to connect to '\/nope\.sock'/);
  });

  it('kills QEMU with SIGKILL at timeoutMs, saying whether the guest had booted', async () => {
    const pidFile = join(work, 'timeout.pid');
    const qemu = await fakeQemu(`echo $$ > ${pidFile}; trap '' TERM INT; echo VFUN-VM-BOOT; exec sleep 30`);
    const t0 = Date.now();
    const err = await runVm(spec, { accel: 'tcg', qemu, timeoutMs: 400 }).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(err).toBeInstanceOf(VmError);
    expect((err as VmError).reason).toBe('timeout');
    expect((err as Error).message).toMatch(/did not finish within 400 ms \(booted after \d+ ms\); QEMU was killed/);
    expect(processAlive(Number(await readFile(pidFile, 'utf8')))).toBe(false);
  });

  it("'auto' abandons a KVM guest that does not boot in time, kills it, and boots under TCG", async () => {
    const pidFile = join(work, 'kvm.pid');
    const kvmDevice = join(work, 'fake-kvm'); // a file that opens read-write stands in for /dev/kvm
    await writeFile(kvmDevice, '');
    const seen: string[] = [];
    const run = await runVm(spec, { qemu: await fakeQemu(kvmHangs(pidFile)), kvmDevice, bootTimeoutMs: 500, onLine: (l) => seen.push(l) });
    expect(run.accel).toBe('tcg');
    expect(run.fallback).toBe('the KVM guest printed no boot marker within 500 ms');
    expect(run.exitStatus).toBe(3);
    expect(run.lines[0]).toBe('SeaBIOS');
    expect(run.lines[1]).toBe('VFUN-VM-BOOT'); // only the attempt that ran
    expect(seen.filter((l) => l === 'SeaBIOS')).toHaveLength(2); // onLine saw both
    expect(run.durationMs).toBeGreaterThanOrEqual(500);
    expect(processAlive(Number(await readFile(pidFile, 'utf8')))).toBe(false);
  });

  it("'auto' falls back when QEMU cannot use KVM, and uses KVM when it boots", async () => {
    const kvmDevice = join(work, 'fake-kvm2');
    await writeFile(kvmDevice, '');
    const noKvm = await fakeQemu(`case "$*" in *"-accel kvm"*) echo "Could not access KVM kernel module: Permission denied" >&2; exit 1;; esac\n${GUEST}`);
    const a = await runVm(spec, { qemu: noKvm, kvmDevice });
    expect(a.accel).toBe('tcg');
    expect(a.fallback).toBe('QEMU with KVM exited before the guest booted: Could not access KVM kernel module: Permission denied');

    const b = await runVm(spec, { qemu: await fakeQemu(GUEST), kvmDevice });
    expect(b.accel).toBe('kvm');
    expect(b.fallback).toBeUndefined();
    expect(b.lines[2]).toMatch(/^args: -accel kvm -cpu host /);

    const c = await runVm(spec, { qemu: await fakeQemu(GUEST), kvmDevice: join(work, 'no-such-kvm') });
    expect(c.accel).toBe('tcg');
    expect(c.fallback).toMatch(/no-such-kvm cannot be opened \(ENOENT\)/);
  });

  it("'kvm' does not fall back: a stuck KVM boot is a boot-timeout error", async () => {
    const pidFile = join(work, 'kvm-only.pid');
    const err = await runVm(spec, { accel: 'kvm', qemu: await fakeQemu(kvmHangs(pidFile)), bootTimeoutMs: 300 }).catch((e: unknown) => e);
    expect((err as VmError).reason).toBe('boot-timeout');
    expect((err as Error).message).toMatch(/the guest \(kvm\) printed no VFUN-VM-BOOT within 300 ms; QEMU was killed; last console lines: SeaBIOS/);
    expect(processAlive(Number(await readFile(pidFile, 'utf8')))).toBe(false);
  });

  it('says how to install QEMU when it is missing', async () => {
    for (const qemu of [join(work, 'no-qemu'), 'qemu-system-none-such']) {
      const err = await runVm(spec, { accel: 'tcg', qemu }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VmError);
      expect((err as VmError).reason).toBe('not-installed');
      expect((err as VmError).code).toBe('VM');
      expect((err as Error).message).toMatch(/not found: install it with `apt-get install --no-install-recommends qemu-system-x86`/);
    }
  });

  it('refuses a missing kernel or initrd before starting anything', async () => {
    await expect(runVm({ ...spec, kernel: join(work, 'none') }, { accel: 'tcg', qemu: '/bin/false' })).rejects.toThrow(/kernel: cannot read/);
    await expect(runVm({ ...spec, initrd: join(work, 'none') }, { accel: 'tcg', qemu: '/bin/false' })).rejects.toThrow(/initrd: cannot read/);
  });

  it('an abort kills QEMU at once and rejects as interrupted, saying what the console showed', async () => {
    const pidFile = join(work, 'abort.pid');
    const qemu = await fakeQemu(`echo $$ > ${pidFile}; trap '' TERM INT; echo VFUN-VM-BOOT; exec sleep 30`);
    const abort = new AbortController();
    const t0 = Date.now();
    const err = await runVm(spec, { accel: 'tcg', qemu, signal: abort.signal, onLine: (l) => l === 'VFUN-VM-BOOT' && abort.abort() }).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(err).toBeInstanceOf(VmError);
    expect((err as VmError).reason).toBe('interrupted');
    expect((err as Error).message).toMatch(/the VM \(tcg\) was interrupted; QEMU was killed; last console lines: VFUN-VM-BOOT/);
    expect(processAlive(Number(await readFile(pidFile, 'utf8')))).toBe(false);
    expect(runningVms()).toBe(0);
  });

  it('an abort before the start starts no QEMU', async () => {
    const pidFile = join(work, 'abort-early.pid');
    const abort = new AbortController();
    abort.abort();
    const err = await runVm(spec, { accel: 'tcg', qemu: await fakeQemu(`echo $$ > ${pidFile}; ${GUEST}`), signal: abort.signal }).catch((e: unknown) => e);
    expect((err as VmError).reason).toBe('interrupted');
    await expect(readFile(pidFile, 'utf8')).rejects.toThrow(/ENOENT/);
  });

  it("'auto' aborted during the KVM attempt does not boot again under TCG", async () => {
    const pidFile = join(work, 'abort-kvm.pid');
    const tcgFile = join(work, 'abort-kvm.tcg');
    const kvmDevice = join(work, 'fake-kvm3');
    await writeFile(kvmDevice, '');
    const qemu = await fakeQemu(`case "$*" in *"-accel tcg"*) : > ${tcgFile} ;; esac\n${kvmHangs(pidFile)}`);
    const abort = new AbortController();
    const err = await runVm(spec, { qemu, kvmDevice, bootTimeoutMs: 30_000, signal: abort.signal, onLine: (l) => l === 'SeaBIOS' && abort.abort() }).catch((e: unknown) => e);
    expect((err as VmError).reason).toBe('interrupted');
    expect((err as VmError).accel).toBe('kvm');
    expect(processAlive(Number(await readFile(pidFile, 'utf8')))).toBe(false);
    await expect(readFile(tcgFile, 'utf8')).rejects.toThrow(/ENOENT/);
  });

  it('killAllVms kills every running QEMU of this process; their runs settle as QEMU died', async () => {
    const pids = [join(work, 'all-1.pid'), join(work, 'all-2.pid')];
    let booted = 0;
    let allBooted!: () => void;
    const both = new Promise<void>((r) => (allBooted = r));
    const onLine = (l: string) => l === 'VFUN-VM-BOOT' && ++booted === 2 && allBooted();
    const runs = await Promise.all(pids.map((p) => fakeQemu(`echo $$ > ${p}; echo VFUN-VM-BOOT; exec sleep 30`))).then((qemus) =>
      qemus.map((qemu) => runVm(spec, { accel: 'tcg', qemu, onLine })),
    );
    await both;
    expect(runningVms()).toBe(2);
    expect(killAllVms()).toBe(2);
    for (const run of await Promise.all(runs)) {
      expect(run.qemuExitCode).toBeNull(); // killed by a signal, after the guest booted
      expect(run.exitStatus).toBeNull();
    }
    expect(runningVms()).toBe(0);
    expect(killAllVms()).toBe(0);
    for (const p of pids) expect(processAlive(Number(await readFile(p, 'utf8')))).toBe(false);
  });
});
