/**
 * A GPU function through the four phases, for real: vFunD probes the host's
 * WebGPU adapter in a child process (device.probed), a hardware negotiation
 * takes one of the device's slots, activation compiles the pipelines in the
 * instance's service process (sandboxed, as every service) and journals the
 * adapter and the time, the calls go through the shared-memory channel and
 * agree with the software twin, and release frees it all. Then the ways it
 * goes wrong: no adapter (forced) nacks and the guest falls back; a device
 * lost mid-run fails over without losing a call, journaled once; a
 * cross-checked call whose result was corrupted is journaled as a mismatch.
 *
 * Needs a WebGPU adapter: Mesa's lavapipe >= 24 here (npm run setup:gpu). Fails, never skips, without one.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { VFunD } from '../../src/actors/vfund.js';
import { FileRuntime, type HostRegion } from '../../src/actors/runtime-files.js';
import { parseConfig, toSnapshot } from '../../src/actors/config.js';
import { MemoryJournal } from '../../src/events/memory-journal.js';
import { replayJournal } from '../../src/actors/replay.js';
import { connect } from '../../src/guest/connect.js';
import { VFunction } from '../../src/guest/vfunction.js';
import { probeDevices } from '../../src/gpu/probe-process.js';
import { KERNEL_TWINS } from '../../src/drivers/twins/index.js';
import { demoInput } from '../../src/cli/demo-gpu.js';
import type { Envelope } from '../../src/events/envelope.js';
import { counterIds, steppingClock } from '../actors/helpers.js';

const SECRET = 'gpu-int-test-secret-01';
let base: string;
const cleanup: (() => Promise<void>)[] = [];
const savedEnv = { ...process.env };
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'vfun-gpu-'));
});
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  for (const k of ['VIRTFUN_WEBGPU', 'VIRTFUN_WEBGPU_FAULTS']) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

function config(crossCheck?: number) {
  return toSnapshot(
    parseConfig({
      tenants: [{ id: 't', secret: SECRET, maxInstances: 8 }],
      functions: ['matmul', 'saxpy', 'crc32-batch'].map((name) => ({ name, kinds: { hw: { device: 'gpu0' }, sw: { slots: 4, driver: name } } })),
      regionCapacity: 64 * 1024,
      devices: [{ name: 'gpu0', type: 'webgpu', slots: 2, ...(crossCheck !== undefined && { crossCheck }) }],
    }),
  );
}

async function host(crossCheck?: number) {
  const root = await mkdtemp(join(base, 'r-'));
  const journal = new MemoryJournal();
  const runtime = await FileRuntime.create({ root });
  const d = await VFunD.start<HostRegion>({ journal, runtime, config: config(crossCheck), host: 'h', clock: steppingClock(), ids: counterIds(), probeDevices: (x) => probeDevices(x) });
  cleanup.push(async () => {
    await d.stop();
    await runtime.close();
  });
  const events = async (): Promise<Envelope[]> => {
    const out: Envelope[] = [];
    for await (const e of journal.read()) out.push(e);
    return out;
  };
  const open = (app: string, fn: string) => VFunction.open(d, (r) => connect(r), { tenant: 't', credential: SECRET, app, fn, kind: 'hw' });
  return { d, events, open };
}

const expectedOf = (fn: string, input: Uint8Array): Uint8Array => {
  const twin = KERNEL_TWINS[fn]!;
  const out = new Uint8Array(twin.outputBytes(input));
  twin.compute(input, out);
  return out;
};

describe('GPU functions under vFunD (WebGPU)', () => {
  it('the four phases on the adapter: probed, negotiated, activated (adapter and time journaled), computed like the twin, released', async () => {
    const { d, events, open } = await host();
    const probed = (await events()).find((e) => e.type === 'device.probed');
    expect(probed?.data, 'no WebGPU adapter on this host: run `npm run setup:gpu` (Mesa lavapipe >= 24)').toMatchObject({ device: 'gpu0', available: true });
    for (const fn of ['matmul', 'saxpy', 'crc32-batch']) {
      const vf = await open(`app-${fn}`, fn);
      expect({ kind: vf.kind, fellBack: vf.fellBack }).toEqual({ kind: 'hw', fellBack: false });
      const input = demoInput(fn);
      for (let i = 0; i < 3; i++) expect(KERNEL_TWINS[fn]!.compare(input, expectedOf(fn, input), vf.call(input))).toBeNull();
      const stats = await vf.release();
      expect(stats.calls).toBe(3);
    }
    const envs = await events();
    const acked = envs.filter((e) => e.type === 'activation.acked');
    expect(acked).toHaveLength(3);
    for (const e of acked) {
      expect(e.data).toMatchObject({ driver: { device: 'webgpu', adapter: { vendor: expect.any(String), software: expect.any(Boolean) } } });
      expect((e.data as { driver: { prepareMs: number } }).driver.prepareMs).toBeGreaterThan(0);
    }
    expect(Object.keys(d.snapshot.instances)).toEqual([]);
    expect((await replayJournal(envs)).divergence).toBeNull();
  });

  it('a host without a usable adapter (forced: VIRTFUN_WEBGPU=off) nacks device-unavailable; the guest falls back to the twin', async () => {
    process.env['VIRTFUN_WEBGPU'] = 'off';
    const { events, open } = await host();
    const vf = await open('app', 'saxpy');
    expect({ kind: vf.kind, fellBack: vf.fellBack }).toEqual({ kind: 'sw', fellBack: true });
    const input = demoInput('saxpy');
    expect(Buffer.from(vf.call(input))).toEqual(Buffer.from(expectedOf('saxpy', input)));
    await vf.release();
    const envs = await events();
    expect(envs.find((e) => e.type === 'device.probed')?.data).toMatchObject({ available: false, detail: expect.stringContaining('VIRTFUN_WEBGPU=off') });
    expect(envs.find((e) => e.type === 'negotiation.nacked')?.data).toMatchObject({ reason: 'device-unavailable', kind: 'hw', fn: 'saxpy' });
    expect(envs.find((e) => e.type === 'negotiation.acked')?.data).toMatchObject({ kind: 'sw', fallback: true });
  });

  it('a device lost mid-run: every call answered correctly on the twin, one device.failover; probed again, it takes new instances', async () => {
    process.env['VIRTFUN_WEBGPU_FAULTS'] = 'lose-device-at=5';
    const { d, events, open } = await host();
    const vf = await open('app', 'matmul');
    expect(vf.kind).toBe('hw');
    const input = demoInput('matmul');
    const expected = expectedOf('matmul', input);
    for (let i = 1; i <= 12; i++) expect(KERNEL_TWINS['matmul']!.compare(input, expected, vf.call(input)), `call ${i}`).toBeNull();
    // The notice travels from the service process after the call's answer; the probe after it runs in a child process.
    await vi.waitFor(async () => expect((await events()).filter((e) => e.type === 'device.probed')).toHaveLength(2), { timeout: 20_000 });
    await d.settled();
    const envs = await events();
    const failovers = envs.filter((e) => e.type === 'device.failover');
    expect(failovers).toHaveLength(1);
    expect(failovers[0]!.data).toMatchObject({ instance: vf.instance, device: 'gpu0' });
    // Only this instance's own device was destroyed: the adapter is there, the probe after the loss says so.
    expect(envs.filter((e) => e.type === 'device.probed').at(-1)!.data).toMatchObject({ device: 'gpu0', available: true });
    expect(envs.findIndex((e) => e.type === 'device.failover')).toBeLessThan(envs.findLastIndex((e) => e.type === 'device.probed'));
    process.env['VIRTFUN_WEBGPU_FAULTS'] = ''; // the service processes of later instances inherit it
    const next = await open('other', 'saxpy');
    expect({ kind: next.kind, fellBack: next.fellBack }).toEqual({ kind: 'hw', fellBack: false });
    expect((await vf.release()).calls).toBe(12);
    await next.release();
    expect((await replayJournal(await events())).divergence).toBeNull();
  });

  it('cross-check: a corrupted device result is journaled as a mismatch with its call number; the guest gets the twin’s result', async () => {
    process.env['VIRTFUN_WEBGPU_FAULTS'] = 'corrupt-at=3';
    const { d, events, open } = await host(1);
    const vf = await open('app', 'crc32-batch');
    const input = demoInput('crc32-batch');
    const expected = Buffer.from(expectedOf('crc32-batch', input));
    for (let i = 1; i <= 5; i++) expect(Buffer.from(vf.call(input)), `call ${i}`).toEqual(expected);
    await vi.waitFor(async () => expect((await events()).some((e) => e.type === 'crosscheck.mismatch')).toBe(true), { timeout: 10_000 });
    await d.settled();
    const mismatches = (await events()).filter((e) => e.type === 'crosscheck.mismatch');
    expect(mismatches.map((e) => e.data)).toEqual([expect.objectContaining({ instance: vf.instance, device: 'gpu0', call: 3 })]);
    await vf.release();
  });
});
