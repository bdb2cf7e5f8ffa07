/**
 * A function whose driver comes from a driver module (`driverModules`),
 * served end to end by both runtimes: a guest call returns the module's
 * answer, a DriverInputError is BAD_INPUT, rst reaches the driver's reset,
 * and the service process of the cross-process runtime is still sandboxed.
 * The module is TypeScript, loaded by the Node running the test.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VFunD } from '../../src/actors/vfund.js';
import { SabRuntime } from '../../src/actors/runtime-sab.js';
import { FileRuntime, type HostRegion } from '../../src/actors/runtime-files.js';
import { toSnapshot, type LoadedConfig } from '../../src/actors/config.js';
import { loadConfig } from '../../src/daemon/config.js';
import { MemoryJournal } from '../../src/events/memory-journal.js';
import { ChannelClient, ServiceError } from '../../src/dataplane/client.js';
import { sabChannel, type SabRegion } from '../../src/dataplane/region.js';
import { isFdRegion } from '../../src/dataplane/region-fds.js';
import { LineProcess } from '../support/line-process.js';
import { counterIds, steppingClock } from './helpers.js';

const SECRET = 'driver-modules-secret';
const creds = { tenant: 't', credential: SECRET };
let root: string;
let loaded: LoadedConfig;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'vfun-drvmod-'));
  loaded = await loadConfig(
    {
      tenants: [{ id: 't', secret: SECRET, maxInstances: 4 }],
      functions: [
        { name: 'reverse', kinds: { sw: { slots: 2, driver: 'reverse-test' } } },
        { name: 'tally', kinds: { sw: { slots: 2, driver: 'tally-test' } } },
        { name: 'crc32', kinds: { sw: { slots: 2, driver: 'crc32' } } },
      ],
      driverModules: [fileURLToPath(new URL('../drivers/fixtures/reverse-drivers.ts', import.meta.url))],
    },
    root,
  );
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const hex = (b: Uint8Array | number[]) => Buffer.from(b).toString('hex');

describe('a driver module served by SabRuntime (worker threads)', () => {
  it('answers calls from the module, BAD_INPUT for a DriverInputError, rst resets its state; built-ins still work', async () => {
    const runtime = new SabRuntime({ driverModules: loaded.driverModuleUrls });
    const d = await VFunD.start<SabRegion>({ journal: new MemoryJournal(), runtime, config: toSnapshot(loaded), host: 'h', clock: steppingClock(), ids: counterIds() });
    try {
      const open = async (fn: string) => {
        const n = await d.negotiate({ ...creds, app: 'a', fn, kind: 'sw' });
        if (!n.ok) throw new Error(n.detail);
        const a = await d.activate({ ...creds, instance: n.instance });
        if (!a.ok) throw new Error(a.detail);
        return new ChannelClient(sabChannel(a.region), { timeoutMs: 10_000 });
      };
      const reverse = await open('reverse');
      expect(hex(reverse.call(new Uint8Array([1, 2, 3, 4])))).toBe('04030201');
      const err = (() => {
        try {
          reverse.call(new Uint8Array([0xff, 1]));
          return null;
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(ServiceError);
      expect((err as ServiceError).errorName).toBe('BAD_INPUT');
      expect(hex(reverse.call(new Uint8Array([9, 8])))).toBe('0809');
      const tally = await open('tally');
      tally.call(new Uint8Array(3));
      expect(hex(tally.call(new Uint8Array(2)))).toBe('05000000');
      tally.rst();
      expect(hex(tally.call(new Uint8Array(1)))).toBe('01000000');
      const crc = await open('crc32');
      expect(hex(crc.call(new TextEncoder().encode('123456789')))).toBe('2639f4cb');
    } finally {
      await d.stop();
    }
  });
});

describe('a driver module served by FileRuntime (service processes)', () => {
  it('answers a guest in another process, BAD_INPUT for a DriverInputError, in a sandboxed service process', async () => {
    const tree = await mkdtemp(join(root, 'r-'));
    const runtime = await FileRuntime.create({ root: tree, driverModules: loaded.driverModuleUrls });
    const d = await VFunD.start<HostRegion>({ journal: new MemoryJournal(), runtime, config: toSnapshot(loaded), host: 'h', clock: steppingClock(), ids: counterIds() });
    let guest: LineProcess | undefined;
    try {
      const n = await d.negotiate({ ...creds, app: 'a', fn: 'reverse', kind: 'sw' });
      if (!n.ok) throw new Error(n.detail);
      const a = await d.activate({ ...creds, instance: n.instance });
      if (!a.ok) throw new Error(a.detail);
      if (!isFdRegion(a.region)) throw new Error('expected a sealed-memory region');
      guest = new LineProcess(new URL('../dataplane/fixtures/guest-proc.ts', import.meta.url), ['fd:3,4', 'hybrid', '10000'], [a.region.dataoutFd, a.region.datainFd]);
      await guest.ready;
      const r = await guest.request<{ results: { ok?: string; error?: string }[] }>({
        ops: [
          ['call', '0a0b0c'],
          ['call', 'ff00'],
          ['call', '01'],
        ],
      });
      expect(r.results).toEqual([{ ok: '0c0b0a' }, { error: 'BAD_INPUT' }, { ok: '01' }]);
      // The service process that imported the module runs under the sandbox (no_new_privs, a seccomp filter).
      const { pid } = JSON.parse(await readFile(join(tree, 'service', 't', 'a', 'reverse', 'service.json'), 'utf8')) as { pid: number };
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
      expect(status).toMatch(/^Seccomp:\s+2$/m);
    } finally {
      await guest?.close();
      await d.stop();
      await runtime.close();
    }
  });
});
