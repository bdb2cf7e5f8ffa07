/**
 * Passing fds over a Unix socket: a Node net server in this process answers
 * with sendFds on the accepted socket's fd; a child process (fd-peer) asks
 * with fetchFds, maps what it got, and shares bytes with us through it.
 * Every failure must leave the child with no fd it did not have before.
 */
import { fc, test } from '@fast-check/vitest';
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, linkSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FETCH_FDS_MAX, FETCH_LINE_MAX, MEMFD_REGION_SEALS, requireShm, SEND_FDS_MAX, shmAddonPath, type ShmAddon } from '../../src/native/shm.js';
import { FdPeer, type PeerError } from './fd-peer.js';

const LEN = 16 * 1024;

type Answer = (sock: Socket, request: string) => Promise<void> | void;

let shm: ShmAddon;
let addonPath: string;
let dir: string;
let socketPath: string;
let server: Server;
let answer: Answer = () => undefined;
const requests: string[] = [];
const serverErrors: unknown[] = [];
const sockets = new Set<Socket>();
let peer: FdPeer;
/** Memfds the server hands out, and their inode numbers. */
const regions: { fd: number; ino: number }[] = [];

type SysError = Error & { code?: string; syscall?: string };

function thrown(f: () => unknown): SysError {
  try {
    f();
  } catch (e) {
    return e as SysError;
  }
  throw new Error('expected an exception');
}

/** The fd libuv keeps under a net.Socket. */
function fdOf(sock: Socket): number {
  return (sock as unknown as { _handle: { fd: number } })._handle.fd;
}

/** sendFds to a client that may hang up first on purpose (it refused the answer): EPIPE/ECONNRESET are fine. */
function sendUnlessGone(sock: Socket, data: string, fds: number[]): void {
  try {
    shm.sendFds(fdOf(sock), data, fds);
  } catch (e) {
    if (!['EPIPE', 'ECONNRESET'].includes((e as SysError).code ?? '')) throw e;
  }
}

function write(sock: Socket, s: string): Promise<void> {
  return new Promise((resolve, reject) => sock.write(s, (e) => (e ? reject(e) : resolve())));
}

beforeAll(async () => {
  shm = requireShm();
  addonPath = shmAddonPath()!;
  dir = mkdtempSync(join(tmpdir(), 'vfun-fds-'));
  socketPath = join(dir, 'regions.sock');
  for (let i = 0; i < SEND_FDS_MAX; i++) {
    const fd = shm.memfdCreate(`region-${i}`, LEN);
    regions.push({ fd, ino: fstatSync(fd).ino });
  }
  // One request line per connection, answered by the current `answer`.
  server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let buf = '';
    const onData = (d: string): void => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      sock.off('data', onData);
      const request = buf.slice(0, nl);
      requests.push(request);
      new Promise((resolve) => resolve(answer(sock, request))).catch((e: unknown) => serverErrors.push(e));
    };
    sock.setEncoding('utf8').on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  peer = new FdPeer(addonPath);
  await peer.ready;
});

afterAll(async () => {
  await peer?.close();
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server?.close(resolve));
  for (const r of regions) closeSync(r.fd);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Fetched {
  line: string;
  fds: { fd: number; ino: number; size: number; seals: number; map?: number }[];
}

async function fetchInPeer(request: string, opts: { timeoutMs?: number; mapLength?: number; path?: string } = {}) {
  return peer.request('fetch', { path: opts.path ?? socketPath, request, timeoutMs: opts.timeoutMs ?? 10_000, mapLength: opts.mapLength });
}

async function peerFdCount(): Promise<number> {
  return (await peer.call<{ count: number }>('fdCount')).count;
}

/** Run `f` in the child expecting an error; the child must hold exactly the fds it held before. */
async function expectPeerError(request: string, opts: Parameters<typeof fetchInPeer>[1] = {}): Promise<PeerError> {
  const before = await peerFdCount();
  const r = await fetchInPeer(request, opts);
  expect(r.ok, JSON.stringify(r)).toBe(false);
  expect(await peerFdCount()).toBe(before);
  return (r as { ok: false; error: PeerError }).error;
}

describe('sendFds → fetchFds between this process and a child', () => {
  it('the child receives the line and both memfds, maps them, and each side sees what the other wrote', async () => {
    const [a, b] = [regions[0]!, regions[1]!];
    answer = (sock) => {
      shm.sendFds(fdOf(sock), 'ok 2 regions\n', [a.fd, b.fd]);
      sock.end();
    };
    const r = await fetchInPeer('regions tenant=acme\n', { mapLength: LEN });
    expect(r.ok, JSON.stringify(r)).toBe(true);
    const got = r as unknown as Fetched;
    expect(requests.at(-1)).toBe('regions tenant=acme');
    expect(got.line).toBe('ok 2 regions');
    expect(got.fds.map((f) => f.ino)).toEqual([a.ino, b.ino]);
    expect(got.fds.map((f) => f.size)).toEqual([LEN, LEN]);
    for (const f of got.fds) expect(f.seals & MEMFD_REGION_SEALS).toBe(MEMFD_REGION_SEALS);

    const abA = shm.mapFd(a.fd, LEN, true);
    const abB = shm.mapFd(b.fd, LEN, true);
    try {
      new Uint8Array(abA).set(Buffer.from('dataout from the server'), 0);
      const read = await peer.call<{ text: string }>('readText', { map: got.fds[0]!.map, offset: 0, length: 23 });
      expect(read.text).toBe('dataout from the server');
      await peer.call('writeText', { map: got.fds[1]!.map, offset: 4096, text: 'datain from the child' });
      expect(Buffer.from(abB, 4096, 21).toString()).toBe('datain from the child');
    } finally {
      shm.unmap(abA);
      shm.unmap(abB);
    }
    expect(serverErrors).toEqual([]);
  });

  it('an answer without fds gives fds: []', async () => {
    answer = async (sock) => {
      await write(sock, 'nack quota\n');
      sock.end();
    };
    const r = await fetchInPeer('regions\n');
    expect(r).toMatchObject({ ok: true, line: 'nack quota', fds: [] });
  });

  it('a line of exactly FETCH_LINE_MAX bytes is accepted; one byte more is ERR_LINE_TOO_LONG, and the fd that came with it is closed', async () => {
    const max = 'x'.repeat(FETCH_LINE_MAX);
    answer = (sock) => {
      shm.sendFds(fdOf(sock), max + '\n', [regions[2]!.fd]);
      sock.end();
    };
    const ok = await fetchInPeer('big\n');
    expect(ok.ok).toBe(true);
    expect((ok as unknown as Fetched).line).toBe(max);
    expect((ok as unknown as Fetched).fds.map((f) => f.ino)).toEqual([regions[2]!.ino]);

    answer = (sock) => {
      sendUnlessGone(sock, max + 'y\n', [regions[2]!.fd]);
      sock.end();
    };
    const e = await expectPeerError('bigger\n');
    expect(e.code).toBe('ERR_LINE_TOO_LONG');
    expect(e.message).toBe(`${socketPath}: the answer has no newline within 65537 bytes; lines over 65536 bytes are refused`);
  });

  it('a server that never answers: ETIMEDOUT after the deadline, not a hang', async () => {
    answer = () => undefined; // reads the request, says nothing
    const e = await expectPeerError('regions\n', { timeoutMs: 200 });
    expect(e.code).toBe('ETIMEDOUT');
    expect(e.syscall).toBe('poll');
    expect(e.message).toBe(
      `ETIMEDOUT: fetchFds '${socketPath}': the 200 ms deadline passed while waiting for the answer (0 bytes and 0 fds so far, no newline)`,
    );
  });

  it('a server that sends fds and then stalls before the newline: ETIMEDOUT, and the fds received are closed', async () => {
    answer = (sock) => shm.sendFds(fdOf(sock), 'partial', [regions[3]!.fd, regions[4]!.fd]);
    const e = await expectPeerError('regions\n', { timeoutMs: 200 });
    expect(e.code).toBe('ETIMEDOUT');
    expect(e.message).toContain('(7 bytes and 2 fds so far, no newline)');
  });

  it('a server that closes before the newline: ERR_NO_ANSWER, fds closed', async () => {
    answer = (sock) => {
      shm.sendFds(fdOf(sock), 'half a li', [regions[5]!.fd]);
      sock.end();
    };
    const e = await expectPeerError('regions\n');
    expect(e.code).toBe('ERR_NO_ANSWER');
    expect(e.message).toBe(`${socketPath}: the server closed the connection after 9 bytes without a newline`);
  });

  it(`more than ${FETCH_FDS_MAX} fds over one answer: ERR_TOO_MANY_FDS, all of them closed`, async () => {
    answer = (sock) => {
      const eight = regions.map((r) => r.fd);
      for (let i = 0; i * SEND_FDS_MAX <= FETCH_FDS_MAX; i++) sendUnlessGone(sock, `chunk ${i} `, eight);
      sendUnlessGone(sock, 'end\n', [regions[0]!.fd]);
      sock.end();
    };
    const e = await expectPeerError('regions\n');
    expect(e.code).toBe('ERR_TOO_MANY_FDS');
  });

  it('a child at its open-file limit: the kernel drops the fds (MSG_CTRUNC) and fetchFds says so', async () => {
    const limited = new FdPeer(addonPath, { prefix: ['prlimit', '--nofile=128:128'] });
    try {
      await limited.ready;
      const before = (await limited.call<{ count: number }>('fdCount')).count;
      await limited.call('exhaustFds'); // one free slot left: for fetchFds' socket
      answer = (sock) => {
        shm.sendFds(fdOf(sock), 'ok\n', [regions[0]!.fd, regions[1]!.fd]);
        sock.end();
      };
      const r = await limited.request('fetch', { path: socketPath, request: 'regions\n', timeoutMs: 10_000 });
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.error.code).toBe('ERR_FDS_TRUNCATED');
      expect(r.error.message).toMatch(/MSG_CTRUNC: this process is at its open-file limit, RLIMIT_NOFILE/);
      await limited.call('releaseFds');
      expect((await limited.call<{ count: number }>('fdCount')).count).toBe(before);
    } finally {
      await limited.close();
    }
  });

  it('no socket at the path: ENOENT; a socket nobody listens on: ECONNREFUSED', async () => {
    const missing = join(dir, 'missing.sock');
    const e1 = await expectPeerError('x\n', { path: missing });
    expect(e1).toMatchObject({ code: 'ENOENT', syscall: 'connect' });
    expect(e1.message).toBe(`ENOENT: connect to '${missing}': No such file or directory`);

    // A hard link keeps the socket inode after its server closes (and unlinks the original name).
    const gonePath = join(dir, 'gone.sock');
    const stale = join(dir, 'stale.sock');
    const gone = createServer();
    await new Promise<void>((resolve) => gone.listen(gonePath, resolve));
    linkSync(gonePath, stale);
    await new Promise((resolve) => gone.close(resolve));
    const e2 = await expectPeerError('x\n', { path: stale });
    expect(e2).toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect' });
  });

  it('fetchFds validates its arguments before connecting', () => {
    const call = shm.fetchFds as (...a: unknown[]) => unknown;
    expect(thrown(() => call(socketPath, 'no newline', 100))).toBeInstanceOf(TypeError);
    expect(thrown(() => call(socketPath, 'two\nlines\n', 100))).toBeInstanceOf(TypeError);
    expect(thrown(() => call(socketPath, '', 100))).toBeInstanceOf(TypeError);
    expect(thrown(() => call(socketPath, 'x\n', 0))).toBeInstanceOf(RangeError);
    expect(thrown(() => call(socketPath, 'x\n', Number.NaN))).toBeInstanceOf(RangeError);
    expect(thrown(() => call(socketPath, 'x\n', Number.POSITIVE_INFINITY))).toBeInstanceOf(RangeError);
    expect(thrown(() => call('/' + 'p'.repeat(107), 'x\n', 100))).toBeInstanceOf(RangeError);
    expect(thrown(() => call('', 'x\n', 100))).toBeInstanceOf(TypeError);
    expect(thrown(() => call('a\0b', 'x\n', 100))).toBeInstanceOf(TypeError);
  });
});

describe('sendFds', () => {
  it('validates its arguments: 1..8 fds, non-empty data', () => {
    const call = shm.sendFds as (...a: unknown[]) => unknown;
    const fd = regions[0]!.fd;
    expect(thrown(() => call(fd, 'x', []))).toBeInstanceOf(RangeError);
    expect(thrown(() => call(fd, 'x', Array(SEND_FDS_MAX + 1).fill(fd)))).toBeInstanceOf(RangeError);
    expect(thrown(() => call(fd, '', [fd]))).toBeInstanceOf(RangeError);
    expect(thrown(() => call(fd, 'x', [-1]))).toBeInstanceOf(RangeError);
    expect(thrown(() => call(fd, 'x', fd))).toBeInstanceOf(TypeError);
    expect(thrown(() => call(fd, 42, [fd]))).toBeInstanceOf(TypeError);
  });

  it('on a file that is not a socket: ENOTSOCK from sendmsg', () => {
    const f = join(dir, 'not-a-socket');
    writeFileSync(f, '');
    const fd = openSync(f, 'r+');
    try {
      const e = thrown(() => shm.sendFds(fd, 'x\n', [regions[0]!.fd]));
      expect(e).toMatchObject({ code: 'ENOTSOCK', syscall: 'sendmsg' });
    } finally {
      closeSync(fd);
    }
  });

  it('to a client that has gone: EPIPE (no SIGPIPE)', async () => {
    answer = () => undefined;
    // Tried when the server reads the end of the stream: the client has closed both ways by then.
    const tried = new Promise<SysError>((resolve) => {
      server.once('connection', (s) => s.once('end', () => resolve(thrown(() => shm.sendFds(fdOf(s), 'too late\n', [regions[0]!.fd])))));
    });
    const c = createConnection(socketPath, () => c.write('bye\n', () => c.destroy()));
    const e = await tried;
    expect(['EPIPE', 'ECONNRESET']).toContain(e.code);
    expect(e.syscall).toBe('sendmsg');
  });

  it('to a client that reads nothing: ETIMEDOUT once the socket buffer stays full for 1000 ms', async () => {
    const accepted = new Promise<Socket>((resolve) => {
      answer = (sock) => resolve(sock);
    });
    const c = createConnection(socketPath, () => c.write('regions\n'));
    c.pause();
    const s = await accepted;
    const e = thrown(() => shm.sendFds(fdOf(s), 'z'.repeat(8 << 20), [regions[0]!.fd]));
    expect(e).toMatchObject({ code: 'ETIMEDOUT', syscall: 'poll' });
    expect(e.message).toMatch(/: the peer read nothing for 1000 ms: Connection timed out$/);
    c.destroy();
  });

  it('a message far larger than the socket buffer goes out in partial writes, in order, to a reading client', async () => {
    const big = Array.from({ length: 1 << 16 }, (_, i) => `${i.toString(36)},`).join('').repeat(6); // ~2.7 MB
    answer = (sock) => {
      shm.sendFds(fdOf(sock), big, [regions[0]!.fd]);
      sock.end();
    };
    const r = await peer.call<{ bytes: number; sha256: string }>('drain', { path: socketPath, request: 'all\n' });
    expect(r.bytes).toBe(Buffer.byteLength(big));
    expect(r.sha256).toBe(createHash('sha256').update(big).digest('hex'));
  });
});

// Lines of any content and length up to the limit, 0..8 fds, cut by the
// server into random chunks (fds on any of them, up to the one with the
// newline): fetchFds always gives back the exact line and every fd in order.
const lineArb = fc
  .oneof(
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: 1, max: FETCH_LINE_MAX }), fc.constantFrom('a', 'é', '€', '😀', '\r', '\0'))
        .map(([bytes, c]) => c.repeat(Math.max(1, Math.floor(bytes / Buffer.byteLength(c))))),
    },
  )
  .map((s) => s.replaceAll('\n', ' '))
  .filter((s) => Buffer.from(s).toString() === s && Buffer.byteLength(s) <= FETCH_LINE_MAX); // well-formed UTF-16 only

const planArb = fc.record({
  line: lineArb,
  nfds: fc.integer({ min: 0, max: SEND_FDS_MAX }),
  cuts: fc.array(fc.nat(), { maxLength: 6 }),
  placement: fc.array(fc.nat(), { minLength: SEND_FDS_MAX, maxLength: SEND_FDS_MAX }),
});

describe('reassembly (property)', () => {
  test.prop([planArb], { numRuns: 80 })('any line, 0..8 fds, any chunking: the exact line and all fds, in order', async (plan) => {
    const points = Array.from(plan.line + '\n');
    const cuts = [...new Set(plan.cuts.map((c) => 1 + (c % points.length)))].filter((c) => c < points.length).sort((x, y) => x - y);
    const bounds = [0, ...cuts, points.length];
    const chunks = bounds.slice(1).map((end, i) => points.slice(bounds[i], end).join(''));
    const fdsOf = chunks.map(() => [] as number[]);
    for (let i = 0; i < plan.nfds; i++) fdsOf[plan.placement[i]! % chunks.length]!.push(i);
    const expectedInos = fdsOf.flat().map((i) => regions[i]!.ino);

    answer = async (sock) => {
      const fd = fdOf(sock);
      for (let k = 0; k < chunks.length; k++) {
        if (fdsOf[k]!.length > 0)
          shm.sendFds(
            fd,
            chunks[k]!,
            fdsOf[k]!.map((i) => regions[i]!.fd),
          );
        else await write(sock, chunks[k]!);
      }
      sock.end();
    };
    const r = await fetchInPeer('regions\n');
    expect(r.ok, JSON.stringify(r).slice(0, 500)).toBe(true);
    const got = r as unknown as Fetched;
    expect(got.line).toBe(plan.line);
    expect(got.fds.map((f) => f.ino)).toEqual(expectedInos);
  });

  it('left the child no fd after all those runs', async () => {
    const before = await peerFdCount();
    answer = (sock) => {
      shm.sendFds(fdOf(sock), 'ok\n', [regions[0]!.fd]);
      sock.end();
    };
    expect((await fetchInPeer('regions\n')).ok).toBe(true);
    expect(await peerFdCount()).toBe(before);
    expect(serverErrors).toEqual([]);
  });
});
