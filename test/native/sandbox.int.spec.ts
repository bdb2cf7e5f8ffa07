/**
 * sandboxSelf in a child Node process with everything on: no_new_privs, not
 * dumpable, a parent-death signal and the seccomp deny list. The child
 * still does a service's work (timers, a worker thread, fs reads, fetching
 * and mapping a region, futex wake-ups), while every denied syscall fails
 * with EPERM - checked one by one by a small C program it runs - and
 * ftruncate in particular, from the main thread and from libuv's pool.
 */
import { execFile } from 'node:child_process';
import { closeSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUTEX_WOKEN, requireShm, shmAddonPath, type ShmAddon } from '../../src/native/shm.js';
import { FdPeer, type PeerError, wakeOneSleeper } from './fd-peer.js';

const run = promisify(execFile);
const PROBE_SRC = fileURLToPath(new URL('./fixtures/syscall-probe.c', import.meta.url));
const LEN = 16 * 1024;

/** The deny list of docs/native.md (x86_64 adds iopl and ioperm). */
const DENIED = [
  'ptrace', 'process_vm_readv', 'process_vm_writev', 'pidfd_getfd', 'process_madvise',
  'setns', 'unshare', 'mount', 'umount2', 'pivot_root', 'chroot', 'open_tree', 'move_mount', 'fsopen', 'fsconfig',
  'fsmount', 'fspick', 'mount_setattr',
  'swapon', 'swapoff', 'reboot', 'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module',
  'acct', 'settimeofday', 'clock_settime', 'adjtimex', 'clock_adjtime', 'quotactl', 'quotactl_fd',
  ...(process.arch === 'x64' ? ['iopl', 'ioperm'] : []),
  'bpf', 'perf_event_open', 'keyctl', 'add_key', 'request_key', 'userfaultfd', 'io_uring_setup', 'io_uring_enter',
  'io_uring_register', 'open_by_handle_at', 'name_to_handle_at',
  'ftruncate', 'truncate', 'fallocate',
];

let shm: ShmAddon;
let addonPath: string;
let dir: string;
let probe: string;
let server: Server;
let socketPath: string;
const sockets = new Set<Socket>();
/**
 * As root, the peers and the observer drop CAP_SYS_PTRACE (and so hold the
 * same capabilities): what is left to stop the observer is dumpability, as
 * for two processes of one ordinary user.
 */
const asPlainUser = process.getuid?.() === 0 ? ['setpriv', '--bounding-set=-sys_ptrace'] : [];

beforeAll(async () => {
  shm = requireShm();
  addonPath = shmAddonPath()!;
  dir = mkdtempSync(join(tmpdir(), 'vfun-sandbox-'));
  probe = join(dir, 'syscall-probe');
  await run('cc', ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-o', probe, PROBE_SRC]);
  // A region server: every connection gets one fresh memfd with the line "region <len>".
  socketPath = join(dir, 'regions.sock');
  server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.once('data', () => {
      const fd = shm.memfdCreate('service-region', LEN);
      try {
        shm.sendFds((sock as unknown as { _handle: { fd: number } })._handle.fd, `region ${LEN}\n`, [fd]);
      } finally {
        closeSync(fd);
      }
      sock.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server?.close(resolve));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function code(a: { ok: boolean; error?: PeerError }): string {
  return a.ok ? 'OK' : (a.error?.code ?? a.error?.message ?? '?');
}

/** Open each path from a third process (same user, same capabilities); the error code or 'OK' per path. */
async function observe(paths: string[]): Promise<Record<string, string>> {
  const script = `const fs = require('node:fs'); const out = {};
for (const p of process.argv.slice(1)) { try { fs.closeSync(fs.openSync(p, 'r')); out[p] = 'OK'; } catch (e) { out[p] = e.code; } }
process.stdout.write(JSON.stringify(out));`;
  const argv = [...asPlainUser, process.execPath, '-e', script, ...paths];
  const { stdout } = await run(argv[0]!, argv.slice(1));
  return JSON.parse(stdout) as Record<string, string>;
}


describe('sandboxSelf with everything on, in a child Node process', () => {
  it('the child keeps working as a service while the deny list, no_new_privs and non-dumpability hold', async () => {
    const file = join(dir, 'scratch.txt');
    writeFileSync(file, 'twelve bytes');
    const region = shm.memfdCreate('stdio-region', LEN);
    const ab = shm.mapFd(region, LEN, true);
    const peer = new FdPeer(addonPath, { fds: [region], prefix: asPlainUser });
    const plain = new FdPeer(addonPath, { fds: [region], prefix: asPlainUser }); // the same, not sandboxed
    try {
      await Promise.all([peer.ready, plain.ready]);
      expect(code(await peer.request('truncatePath', { path: file, length: 12 }))).toBe('OK'); // allowed before
      await peer.call('sandbox', { opts: { noNewPrivs: true, nonDumpable: true, parentDeathSignal: 15, denySyscalls: true } });

      expect((await peer.call('sandboxState')).state).toEqual({ noNewPrivs: true, dumpable: false, parentDeathSignal: 15, seccomp: 2, ftruncateDenied: true });
      expect(await peer.call('procStatus')).toMatchObject({ NoNewPrivs: '1', Seccomp: '2', Seccomp_filters: '1' });

      // Resizing is refused from the main thread and from libuv's pool (the filter is on every thread).
      const { fd } = await peer.call<{ fd: number }>('open', { path: file });
      expect(code(await peer.request('ftruncate', { fd, length: 0 }))).toBe('EPERM');
      expect(code(await peer.request('truncatePath', { path: file, length: 1 }))).toBe('EPERM');
      expect(code(await peer.request('truncateAsync', { path: file, length: 2 }))).toBe('EPERM');
      expect(readFileSync(file, 'utf8')).toBe('twelve bytes');
      // A service cannot make regions either (memfdCreate sizes them with ftruncate), and leaks no fd trying.
      const fdsBefore = (await peer.call<{ count: number }>('fdCount')).count;
      const made = await peer.request('memfdCreate', { name: 'nope', length: 4096 });
      expect(made.ok ? 'OK' : made.error).toMatchObject({ code: 'EPERM', syscall: 'ftruncate' });
      expect((await peer.call<{ count: number }>('fdCount')).count).toBe(fdsBefore);

      // Timers, a worker thread (created after the filter: glibc falls back from clone3 to clone), fs reads.
      expect(await peer.call('timer', { ms: 20 })).toMatchObject({ ok: true });
      const { worker } = await peer.call<{ worker: Record<string, string> }>('worker', { file });
      expect(worker).toEqual({ fib93: '12200160415121876738', seccomp: '2', truncate: 'EPERM', read: 'twelve bytes' });

      // The service's own path: fetch a region over the socket, map it, share bytes; map fd 3 and wake it by futex.
      const fetched = await peer.call<{ line: string; fds: { map: number }[] }>('fetch', { path: socketPath, request: 'region\n', timeoutMs: 10_000, mapLength: LEN });
      expect(fetched.line).toBe(`region ${LEN}`);
      await peer.call('writeText', { map: fetched.fds[0]!.map, offset: 8, text: 'mapped in a sandbox' });
      expect((await peer.call<{ text: string }>('readText', { map: fetched.fds[0]!.map, offset: 8, length: 19 })).text).toBe('mapped in a sandbox');
      const { map } = await peer.call<{ map: number }>('mapFd', { fd: 3, length: LEN, writable: true });
      const waited = peer.call<{ result: number; value: number }>('futexWait', { map, byteOffset: 0, expected: 0, timeoutMs: 30_000 });
      await wakeOneSleeper(shm, ab, 0);
      expect(await waited).toMatchObject({ result: FUTEX_WOKEN, value: 0 });

      // Every denied syscall, one by one, from a program the child runs (it inherits the filter).
      const r = await peer.call<{ status: number; stdout: string; stderr: string }>('exec', { file: probe, args: [] });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const seen = JSON.parse(r.stdout) as Record<string, string>;
      for (const name of DENIED) expect(seen[name], name).toBe('EPERM');
      expect(seen.clone3).toBe('ENOSYS'); // glibc then uses clone, whose flags the filter reads
      expect(seen.clone_newuser).toBe('EPERM');
      if (process.arch === 'x64') expect(seen.x32_getpid).toBe('EPERM');
      expect(seen).toMatchObject({ getpid: 'OK', futex_bad: 'EINVAL', memfd_create: 'OK', fork: 'OK' });

      // From outside: a process of the same user (and capabilities) can open the plain peer's region
      // and memory through /proc, not the sandboxed one's.
      const paths = (pid: number) => [`/proc/${pid}/mem`, `/proc/${pid}/fd/3`];
      const seenOutside = await observe([...paths(peer.pid), ...paths(plain.pid)]);
      expect(seenOutside).toEqual({
        [`/proc/${peer.pid}/mem`]: 'EACCES',
        [`/proc/${peer.pid}/fd/3`]: 'EACCES',
        [`/proc/${plain.pid}/mem`]: 'OK',
        [`/proc/${plain.pid}/fd/3`]: 'OK',
      });
    } finally {
      shm.unmap(ab);
      closeSync(region);
      expect(await peer.close()).toEqual({ code: 0, signal: null });
      await plain.close();
    }
  });

  it('allowFtruncate (a GPU service): ftruncate works on files it may write, a sealed region still cannot be resized, the rest of the deny list holds', async () => {
    const file = join(dir, 'gpu-scratch.txt');
    writeFileSync(file, 'twelve bytes');
    const region = shm.memfdCreate('gpu-region', LEN); // size-sealed, as every region
    const peer = new FdPeer(addonPath, { fds: [region], prefix: asPlainUser });
    try {
      await peer.ready;
      await peer.call('sandbox', { opts: { noNewPrivs: true, nonDumpable: true, parentDeathSignal: 15, denySyscalls: true, allowFtruncate: true } });
      expect((await peer.call('sandboxState')).state).toMatchObject({ seccomp: 2, ftruncateDenied: false });
      // What Mesa's lavapipe does for its device memory: a file of its own (a memfd), grown with ftruncate.
      // The allowance is by syscall, not by file: any file the service may write, it may now resize.
      const { fd } = await peer.call<{ fd: number }>('open', { path: file });
      expect(code(await peer.request('ftruncate', { fd, length: 4 }))).toBe('OK');
      expect(readFileSync(file, 'utf8')).toBe('twel');
      // The region's seals still refuse any resize (the kernel's seals, not the filter).
      expect(code(await peer.request('ftruncate', { fd: 3, length: 0 }))).toBe('EPERM');
      expect(code(await peer.request('ftruncate', { fd: 3, length: LEN * 2 }))).toBe('EPERM');
      // Everything else on the deny list holds (the truncate syscall too; Node's truncate of a path is open + ftruncate).
      const r = await peer.call<{ status: number; stdout: string }>('exec', { file: probe, args: [] });
      const seen = JSON.parse(r.stdout) as Record<string, string>;
      for (const name of DENIED.filter((n) => n !== 'ftruncate')) expect(seen[name], name).toBe('EPERM');
      expect(seen['ftruncate']).not.toBe('EPERM');
      // memfdCreate stays refused: it reserves the region's blocks with fallocate.
      const made = await peer.request('memfdCreate', { name: 'nope', length: 4096 });
      expect(made.ok ? 'OK' : made.error).toMatchObject({ code: 'EPERM', syscall: 'fallocate' });
    } finally {
      closeSync(region);
      expect(await peer.close()).toEqual({ code: 0, signal: null });
    }
  });

  it('the parent-death signal ends the child when its parent dies', async () => {
    // middle (fds 3 = a pipe to us) spawns a grandchild that shares that pipe, sets SIGTERM as its
    // parent-death signal and lingers. The pipe reaches end-of-file only when both are gone; a
    // grandchild that outlived its parent would write "lingered" into it first.
    const middle = new FdPeer(addonPath, { fds: ['pipe'] });
    await middle.ready;
    const pipe = middle.child.stdio[3] as Readable;
    let seen = '';
    pipe.setEncoding('utf8').on('data', (d: string) => (seen += d));
    const eof = new Promise((resolve) => pipe.once('end', resolve));
    const { pid } = await middle.call<{ pid: number }>('spawnLinger', { signal: 15, lingerMs: 30_000 });
    expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(new RegExp(`^PPid:\\t${middle.pid}$`, 'm')); // alive, a child of middle
    void middle.request('exit', { code: 0 }).catch(() => undefined);
    expect(await middle.exited).toEqual({ code: 0, signal: null });
    await eof;
    expect(seen).toBe('');
  });

  it('checks its arguments before changing anything', async () => {
    const peer = new FdPeer(addonPath);
    try {
      await peer.ready;
      const before = (await peer.call('sandboxState')).state;
      const refused = async (opts: unknown) => {
        const r = await peer.request('sandbox', { opts });
        return r.ok ? 'accepted' : r.error.name;
      };
      expect(await refused({ denySyscalls: true })).toBe('TypeError'); // needs noNewPrivs
      expect(await refused({ noNewPrivs: true, parentDeathSignal: 65 })).toBe('RangeError');
      expect(await refused({ noNewPrivs: true, parentDeathSignal: 'TERM' })).toBe('TypeError');
      expect(await refused({ noNewPrivs: 'yes' })).toBe('TypeError');
      expect(await refused(null)).toBe('TypeError');
      expect((await peer.call('sandboxState')).state).toEqual(before);
      expect(await refused({})).toBe('accepted');
      expect((await peer.call('sandboxState')).state).toEqual(before);
      // no_new_privs set earlier is enough for the filter.
      expect(await refused({ noNewPrivs: true })).toBe('accepted');
      expect(await refused({ denySyscalls: true })).toBe('accepted');
      expect((await peer.call('sandboxState')).state).toMatchObject({ noNewPrivs: true, seccomp: 2 });
    } finally {
      await peer.close();
    }
  });
});
