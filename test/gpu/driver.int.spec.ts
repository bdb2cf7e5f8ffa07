/**
 * The GPU driver on this host's real WebGPU adapter (lavapipe in CI: `npm run
 * setup:gpu` installs it), behind a service as vFunD runs it: answers equal
 * to the software twin, the activation it reports, a device lost mid-run
 * (injected) failing over without losing a call and told once, a cross-check
 * catching an injected corruption, a host with WebGPU turned off refusing to
 * start the function with the reason; and its activation and notices reaching
 * vFunD's InstanceRuntime from a service worker (restarted or not) and from a
 * service process.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SabRuntime } from '../../src/actors/runtime-sab.js';
import { startServiceProcess } from '../../src/actors/service-process.js';
import { ChannelClient, createSabRegion, ErrorCode, sabChannel, startService, type ServiceHandle } from '../../src/dataplane/index.js';
import { ControlFile } from '../../src/dataplane/control-file.js';
import { closeFdRegion, createMemfdRegion } from '../../src/dataplane/region-fds.js';
import type { DriverNotice } from '../../src/domain/types.js';
import { saxpy } from '../../src/drivers/twins/saxpy.js';
import { connect } from '../../src/guest/connect.js';
import { WEBGPU_FAULTS_ENV } from '../../src/gpu/faults.js';
import { MISMATCHES_BEFORE_FAILOVER } from '../../src/gpu/driver.js';
import { probeAdapter, WEBGPU_ENV, type AdapterProbe } from '../../src/gpu/webgpu.js';
import { expectServiceError } from '../dataplane/helpers.js';
import { CRASH } from './fixtures/gpu-drivers.js';

const CAPACITY = 64 * 1024;

let probe: Extract<AdapterProbe, { ok: true }>;
beforeAll(async () => {
  const p = await probeAdapter();
  // Never skipped: a host that runs this tier must have an adapter.
  if (!p.ok) throw new Error(`no WebGPU adapter on this host, so the GPU driver cannot be tested: ${p.reason}. Run \`npm run setup:gpu\` (installs Mesa's lavapipe).`);
  probe = p;
});

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** Set an environment variable for the services started by this test (workers and processes copy the environment when they start). */
function withEnv(name: string, value: string): void {
  const before = process.env[name];
  process.env[name] = value;
  cleanup.push(() => {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  });
}

/** A saxpy input of n elements, values from a seeded generator (a varies too). */
function saxpyInput(n: number, seed: number): Uint8Array {
  const f = new Float32Array(1 + 2 * n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < f.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    f[i] = (s / 2 ** 32) * 200 - 100;
  }
  return new Uint8Array(f.buffer);
}

/** The twin's verdict on a result: null when it is one the twin accepts. */
function check(input: Uint8Array, actual: Uint8Array): string | null {
  const expected = new Uint8Array(saxpy.outputBytes(input));
  saxpy.compute(input, expected);
  return saxpy.compare(input, expected, actual);
}

async function serve(driver: string): Promise<{ service: ServiceHandle; client: ChannelClient; notices: DriverNotice[] }> {
  const region = createSabRegion(CAPACITY);
  const notices: DriverNotice[] = [];
  const service = await startService({ region, driver, onNotice: (n) => notices.push(n) });
  cleanup.push(() => service.stop());
  return { service, client: new ChannelClient(sabChannel(region)), notices };
}

/** Let the messages the service posted meanwhile arrive (the client blocks this thread while it calls). */
const settle = (ms = 200): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('the webgpu:saxpy driver behind a service', () => {
  it('answers every call as the software twin does (empty, odd and multi-workgroup sizes), and BAD_INPUT for a malformed input', async () => {
    const { service, client, notices } = await serve('webgpu:saxpy');
    const sizes = [0, 1, 7, 255, 256, 257, 1000, Math.floor((CAPACITY - 4) / 8)]; // the last: as large as the region takes
    for (const [i, n] of sizes.entries()) {
      const input = saxpyInput(n, i + 1);
      const out = client.call(input);
      expect(out.byteLength, `n=${n}`).toBe(4 * n);
      expect(check(input, out), `n=${n}`).toBeNull();
    }
    expectServiceError(() => client.call(new Uint8Array(9)), ErrorCode.BAD_INPUT); // 4 + 5 bytes: no whole element
    expect(check(saxpyInput(3, 9), client.call(saxpyInput(3, 9)))).toBeNull(); // and serves on
    await settle();
    expect(notices).toEqual([]);
    expect(service.stats().errors.BAD_INPUT).toBe(1);
  });

  it('reports its activation: the adapter this host offers (lavapipe here: software), and the time to prepare', async () => {
    const { service } = await serve('webgpu:saxpy');
    const a = service.activation;
    expect(a).toBeDefined();
    expect(a!.device).toBe('webgpu');
    expect(a!.adapter).toEqual(probe.identity);
    // Mesa's software Vulkan must say so: its figures say nothing about a real GPU.
    expect(a!.adapter.software).toBe(/llvmpipe|lavapipe|swiftshader/i.test(`${a!.adapter.device} ${a!.adapter.description}`));
    if (a!.adapter.vendor === 'mesa' && /llvmpipe/i.test(a!.adapter.description)) expect(a!.adapter.software).toBe(true);
    expect(a!.prepareMs).toBeGreaterThan(0);
    expect(a!.prepareMs).toBeLessThan(30_000);
  });

  it(`a device lost before call 5 (${WEBGPU_FAULTS_ENV}=lose-device-at=5): all 20 calls answered correctly, one failover notice`, async () => {
    withEnv(WEBGPU_FAULTS_ENV, 'lose-device-at=5');
    const { service, client, notices } = await serve('webgpu:saxpy');
    for (let i = 0; i < 20; i++) {
      const input = saxpyInput(100 + i, 50 + i);
      const out = client.call(input);
      expect(check(input, out), `call ${i + 1}`).toBeNull();
      await settle(i === 4 ? 100 : 0); // give the loss time to be noticed before the next calls too
    }
    await settle();
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({ type: 'failover', detail: expect.stringMatching(/webgpu:saxpy: device lost \(destroyed\).*software twin/) });
    expect(service.stats()).toMatchObject({ calls: 20 });
    expect(Object.values(service.stats().errors).every((n) => n === 0)).toBe(true);
  });

  it(`cross-check on every call with a corruption injected in call 3: one mismatch notice naming call 3, the twin's result answered`, async () => {
    withEnv(WEBGPU_FAULTS_ENV, 'corrupt-at=3');
    const { client, notices } = await serve('webgpu:saxpy?crossCheck=1');
    for (let i = 0; i < 6; i++) {
      const input = saxpyInput(64, 7 + i);
      expect(check(input, client.call(input)), `call ${i + 1}`).toBeNull();
    }
    await settle();
    expect(notices).toEqual([{ type: 'mismatch', call: 3, detail: expect.stringMatching(/^saxpy: element 0 is /) }]);
  });

  it(`a device wrong on every call: ${MISMATCHES_BEFORE_FAILOVER} mismatch notices, then one failover; every answer right, no cross-check after it`, async () => {
    withEnv(WEBGPU_FAULTS_ENV, 'corrupt-from=2');
    const { client, notices } = await serve('webgpu:saxpy?crossCheck=1');
    for (let i = 0; i < MISMATCHES_BEFORE_FAILOVER + 8; i++) {
      const input = saxpyInput(64, 3 + i);
      expect(check(input, client.call(input)), `call ${i + 1}`).toBeNull();
    }
    await settle();
    const mismatches = notices.filter((n) => n.type === 'mismatch');
    expect(mismatches.map((n) => (n.type === 'mismatch' ? n.call : 0))).toEqual(Array.from({ length: MISMATCHES_BEFORE_FAILOVER }, (_, i) => i + 2));
    expect(notices.filter((n) => n.type === 'failover')).toEqual([{ type: 'failover', detail: expect.stringMatching(/10 cross-checked calls differed from the software twin/) }]);
    expect(notices).toHaveLength(MISMATCHES_BEFORE_FAILOVER + 1);
  });

  it('cross-check every 2nd call without a fault: no notice (the twin accepts the GPU rounding)', async () => {
    const { client, notices } = await serve('webgpu:saxpy?crossCheck=2');
    for (let i = 0; i < 10; i++) client.call(saxpyInput(500 + i, 100 + i));
    await settle();
    expect(notices).toEqual([]);
  });

  it(`${WEBGPU_ENV}=off: the service does not start, and says why`, async () => {
    withEnv(WEBGPU_ENV, 'off');
    const region = createSabRegion(CAPACITY);
    await expect(startService({ region, driver: 'webgpu:saxpy' })).rejects.toMatchObject({
      code: 'DRIVER',
      message: expect.stringMatching(/webgpu:saxpy.*init failed: WebGPU is turned off on this host \(VIRTFUN_WEBGPU=off\)/),
    });
  });
});

describe("the driver's activation and notices reach vFunD's InstanceRuntime", () => {
  it('in process (SabRuntime): notices keep flowing from a restarted service', async () => {
    withEnv(WEBGPU_FAULTS_ENV, 'corrupt-at=1'); // every incarnation's first call
    const runtime = await new SabRuntime({
      driverModule: new URL('./fixtures/gpu-drivers.ts', import.meta.url),
      policy: { maxRestarts: 3, windowMs: 60_000, backoffMs: 20, maxBackoffMs: 100, callDeadlineMs: 10_000 },
    }).activate({ instance: 'i1', tenant: 't', app: 'a', fn: 'saxpy', kind: 'hw', driver: 'webgpu:saxpy?crossCheck=1', capacity: CAPACITY });
    cleanup.push(() => runtime.stop());
    expect(runtime.activation).toMatchObject({ device: 'webgpu', adapter: probe.identity });
    const notices: DriverNotice[] = [];
    const restarts: string[] = [];
    runtime.onNotice!((n) => notices.push(n));
    runtime.onRestart((_a, _b, detail) => restarts.push(detail));
    const client = new ChannelClient(sabChannel(runtime.region), { timeoutMs: 500 });
    expect(check(saxpyInput(10, 1), client.call(saxpyInput(10, 1)))).toBeNull();
    expect(() => client.call(new Uint8Array([CRASH]))).toThrow(expect.objectContaining({ code: 'CHANNEL_TIMEOUT' })); // the worker died under the call
    await expect.poll(() => runtime.stats().errors.DRIVER_FAULT ?? 0, { timeout: 30_000 }).toBe(1); // the restarted service answered it
    client.resync();
    expect(check(saxpyInput(10, 2), client.call(saxpyInput(10, 2)))).toBeNull();
    await settle();
    expect(restarts).toHaveLength(1);
    expect(notices).toEqual([
      { type: 'mismatch', call: 1, detail: expect.any(String) },
      { type: 'mismatch', call: 1, detail: expect.any(String) },
    ]);
  });

  describe('in a service process', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'vfun-gpu-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('the process inherits the environment (the fault), reports the activation with ready, and sends the failover notice', async () => {
      withEnv(WEBGPU_FAULTS_ENV, 'lose-device-at=2');
      const region = createMemfdRegion(CAPACITY, 'gpu');
      const control = ControlFile.create(join(dir, 'gpu.control'));
      cleanup.push(() => closeFdRegion(region), () => control.close());
      const notices: DriverNotice[] = [];
      // Unsandboxed: lavapipe grows a memfd with ftruncate, which the sandbox's deny list refuses.
      const svc = await startServiceProcess(
        { region, driver: 'webgpu:saxpy', control, sandbox: false },
        { restarting: () => undefined, failed: (d) => notices.push({ type: 'failover', detail: `FAILED ${d}` }), notice: (n) => notices.push(n) },
      );
      cleanup.push(() => svc.stop());
      expect(svc.activation).toMatchObject({ device: 'webgpu', adapter: probe.identity });
      const client = connect(region);
      cleanup.push(() => client.close());
      for (let i = 0; i < 5; i++) {
        const input = saxpyInput(33, i + 1);
        expect(check(input, client.call(input)), `call ${i + 1}`).toBeNull();
      }
      await expect.poll(() => notices.length, { timeout: 10_000 }).toBe(1);
      await settle();
      expect(notices).toEqual([{ type: 'failover', detail: expect.stringContaining('device lost') }]);
      expect(control.stats().calls).toBe(5);
    });

    it('sandboxed (the seccomp deny list refuses ftruncate, which lavapipe needs): the function does not start, and says why, instead of crashing', async () => {
      const region = createMemfdRegion(CAPACITY, 'gpu-sbx');
      const control = ControlFile.create(join(dir, 'gpu-sbx.control'));
      cleanup.push(() => closeFdRegion(region), () => control.close());
      const start = startServiceProcess({ region, driver: 'webgpu:saxpy', control }, { restarting: () => undefined, failed: () => undefined });
      if (!probe.identity.software) {
        await (await start).stop(); // a GPU's own driver is not known to need ftruncate
        return;
      }
      await expect(start).rejects.toMatchObject({ code: 'DRIVER', message: expect.stringContaining("needs ftruncate, which this service's sandbox denies") });
    });
  });
});
