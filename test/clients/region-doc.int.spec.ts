/**
 * docs/region-format.md §14 must not lie: its constants are the code's, and its Python client,
 * taken from the document exactly as written, runs all four phases against a real vFunD
 * (startDaemon, as `vfun up` runs it): negotiate, activate, fetch the sealed region over a second
 * connection, one call, release.
 *
 * python3 is on every machine of this project (Debian's, at least 3.9: the example needs
 * `socket.recv_fds`). The example is run with `-I -S` (isolated mode, no site-packages), so
 * anything but Python's standard library would fail to import.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/actors/config.js';
import { startDaemon, type Daemon } from '../../src/daemon/index.js';
import { areaBytes, DATAIN_MAGIC, DATAOUT_MAGIC, LAYOUT_HASH, packWord, Status } from '../../src/dataplane/layout.js';
import { TOMBSTONE } from '../../src/dataplane/region-files.js';
import { F_SEAL_EXEC, F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK, MEMFD_REGION_SEALS } from '../../src/native/shm.js';

const exec = promisify(execFile);
const doc = readFileSync(new URL('../../docs/region-format.md', import.meta.url), 'utf8');
const section14 = doc.slice(doc.indexOf('\n## 14. '));
const SECRET = 'the python tenant secret, 16+ characters';

function pythonExample(): string {
  const blocks = [...section14.matchAll(/```python\n([\s\S]*?)\n```/g)].map((m) => m[1]!);
  expect(blocks).toHaveLength(1);
  return blocks[0]! + '\n';
}

describe('docs/region-format.md §5 and §14 against the code', () => {
  it('the CLOSED status and the tombstone word', () => {
    const row = /^\| CLOSED +\| (\d+) +\| .*`packWord\(0, CLOSED\)` \(the word `0x([0-9A-F]{8})`/m.exec(doc);
    expect(row).not.toBeNull();
    expect(Number(row![1])).toBe(Status.CLOSED);
    expect(Number.parseInt(row![2]!, 16)).toBe(packWord(0, Status.CLOSED));
    expect(Buffer.from(TOMBSTONE).readInt32LE(0)).toBe(packWord(0, Status.CLOSED));
  });

  it('the seals, their values, and F_GET_SEALS', () => {
    expect(section14).toContain(`\`F_SEAL_SHRINK\` (0x${F_SEAL_SHRINK.toString(16).padStart(4, '0')})`);
    expect(section14).toContain(`\`F_SEAL_GROW\` (0x${F_SEAL_GROW.toString(16).padStart(4, '0')})`);
    expect(section14).toContain(`\`F_SEAL_SEAL\` (0x${F_SEAL_SEAL.toString(16).padStart(4, '0')})`);
    expect(section14).toContain(`\`F_SEAL_EXEC\`, 0x${F_SEAL_EXEC.toString(16).padStart(4, '0')}`);
    expect(section14).toContain('`F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`');
    expect(MEMFD_REGION_SEALS).toBe(F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    expect(section14).toContain('`F_GET_SEALS` = 1034'); // linux/fcntl.h: F_LINUX_SPECIFIC_BASE (1024) + 10
  });

  it('the Python example uses the layout of the code', () => {
    const py = pythonExample();
    expect(py).toContain(`(magic, 1, 192, 0x${LAYOUT_HASH.toString(16).toUpperCase()}, capacity)`);
    expect(py).toContain(`(out, 0x${DATAOUT_MAGIC.toString(16).toUpperCase()}), (inn, 0x${DATAIN_MAGIC.toString(16).toUpperCase()})`);
    expect(py).toContain('return 192 + (capacity + 63) // 64 * 64');
    expect(areaBytes(65536)).toBe(192 + 65536);
    expect(py).toContain(`state & 0xF == ${Status.CLOSED}`);
  });
});

describe('the Python client of docs/region-format.md §14 against a real vFunD', () => {
  let dir: string;
  let script: string;
  let daemon: Daemon;
  let socket: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vfun-pydoc-'));
    script = join(dir, 'vfun_once.py');
    await writeFile(script, pythonExample(), { mode: 0o700 });
    const config = parseConfig({
      tenants: [{ id: 'acme', secret: SECRET, maxInstances: 2 }],
      functions: [
        { name: 'factorial', kinds: { sw: { slots: 2, driver: 'factorial' } } },
        { name: 'fibonacci', kinds: { sw: { slots: 2, driver: 'fibonacci' } } },
      ],
    });
    const root = join(dir, 'root');
    daemon = await startDaemon({ config, root, journal: `file:${join(root, 'admin', 'journal.ndjson')}`, log: () => undefined });
    socket = daemon.sockets.acme!;
  });

  afterAll(async () => {
    await daemon?.stop('test over');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** The example, isolated from site-packages and the environment, with the secret in VFUN_SECRET. */
  function runExample(args: readonly string[], secret = SECRET): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn('python3', ['-I', '-S', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', VFUN_SECRET: secret } });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  it('python3 is 3.9 or later', async () => {
    const { stdout } = await exec('python3', ['-c', 'import sys; print(sys.version_info >= (3, 9))']);
    expect(stdout.trim()).toBe('True');
  });

  it('negotiates, activates, fetches the sealed region, calls factorial(20) and fibonacci(93), releases', async () => {
    for (const [fn, n, want] of [
      ['factorial', '20', 2432902008176640000n],
      ['fibonacci', '93', 12200160415121876738n],
    ] as const) {
      const r = await runExample([socket, 'acme', 'pyapp', fn, n]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      // Parse the result as text: a u64 above 2^53 is not a JS number.
      const m = /^\{"instance": "([^"]+)", "result": (\d+), "stats": (\{.*\})\}\n$/.exec(r.stdout);
      expect(m, r.stdout).not.toBeNull();
      expect(BigInt(m![2]!)).toBe(want);
      expect(JSON.parse(m![3]!)).toEqual({ calls: 1, errors: {} });
      // vFunD journaled the four phases of that instance, and released it at the client's request.
      const events = (await readFile(daemon.journal.replace(/^file:/, ''), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; instance?: string; data: { reason?: string } })
        .filter((e) => e.instance === m![1]);
      expect(events.map((e) => e.type)).toEqual(['negotiation.acked', 'activation.started', 'activation.acked', 'instance.released']);
      expect(events.at(-1)!.data.reason).toBe('client');
    }
  });

  it('stops with the reason when vFunD refuses (a wrong secret)', async () => {
    const r = await runExample([socket, 'acme', 'pyapp', 'factorial', '5'], 'not the secret of this tenant');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/RuntimeError: negotiate refused: credential: signature does not match the tenant secret/);
  });
});
