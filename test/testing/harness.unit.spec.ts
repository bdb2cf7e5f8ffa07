/**
 * virtfun/testing's harness and arbitraries, as an integrator's test uses
 * them: a host in one call serving built-in drivers, calls through the region,
 * the journal verified and replayed; generated control requests never break
 * vFunD; payload arbitraries respect a driver's metadata.
 */
import { crc32 } from 'node:zlib';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import {
  HARNESS_SECRET,
  HARNESS_TENANT,
  badPayloadArb,
  channelOpsArb,
  checkDriver,
  controlCommandArb,
  payloadArb,
  startHarness,
  workloadArb,
} from '../../src/api/testing.js';
import type { DriverMeta } from '../../src/drivers/driver.js';
import { Crc32Driver, FactorialDriver } from '../../src/drivers/software.js';

const u32 = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);

describe('startHarness', () => {
  it('serves the chosen drivers through the four phases and journals a chain that replays to the live state', async () => {
    await using h = await startHarness({ functions: { crc32: 'crc32', fact: 'factorial' } });
    const vf = await h.open('crc32');
    const data = new TextEncoder().encode('harness');
    expect(u32(vf.call(data))).toBe(crc32(data));
    const f = await h.open('fact');
    expect(f.call(new Uint8Array([5, 0, 0, 0]))[0]).toBe(120);
    expect(await vf.release()).toMatchObject({ calls: 1 });
    await f.release();
    const types = (await h.events()).map((e) => e.type);
    expect(types[0]).toBe('vfund.started');
    expect(types.filter((t) => t === 'instance.released')).toHaveLength(2);
    expect(await h.check()).toMatchObject({ chainValid: true, replayEqualsLive: true, divergence: null });
  });

  it('refuses an unknown driver naming the field, as vfun up does', async () => {
    await expect(startHarness({ functions: { f: 'no-such-driver' } })).rejects.toThrow(/functions\.0\.kinds\.sw\.driver: unknown driver 'no-such-driver'/);
  });

  it('keeps the journal valid under generated control requests, honest and hostile', async () => {
    await using h = await startHarness({ functions: { crc32: 'crc32' }, maxInstances: 3 });
    const tenants = [{ id: HARNESS_TENANT, secret: HARNESS_SECRET }];
    const instances: string[] = [];
    await fc.assert(
      fc.asyncProperty(fc.array(controlCommandArb(tenants, ['crc32']), { maxLength: 15 }), async (cmds) => {
        for (const c of cmds) {
          const creds = { tenant: c.tenant, credential: c.credential };
          const answer =
            c.op === 'negotiate'
              ? await h.vfund.negotiate({ ...creds, app: c.app, fn: c.fn, kind: c.kind })
              : instances.length === 0
                ? null
                : c.op === 'activate'
                  ? await h.vfund.activate({ ...creds, instance: instances[c.pick % instances.length]! })
                  : await h.vfund.release({ ...creds, instance: instances[c.pick % instances.length]! });
          if (answer === null) continue;
          if (answer.ok && 'instance' in answer && c.op === 'negotiate') instances.push(answer.instance);
          if (!answer.ok) expect(answer.detail.length).toBeGreaterThan(0);
          // A wrong secret is never granted anything.
          if (c.credential !== HARNESS_SECRET) expect(answer).toMatchObject({ ok: false, reason: 'credential' });
        }
      }),
      { numRuns: 20 },
    );
    expect(await h.check()).toMatchObject({ chainValid: true, replayEqualsLive: true });
  });
});

describe('checkDriver', () => {
  it('refuses what is not one driver definition, saying what to pass (a module default export is an array)', async () => {
    const arr = [] as unknown as Parameters<typeof checkDriver>[0];
    await expect(checkDriver(arr, { driverModules: [] })).rejects.toThrow(/checkDriver: the first argument must be one driver made by defineDriver; got an array .*import \{ reverse \}/);
  });
});

describe('payload arbitraries', () => {
  const crc = new Crc32Driver().meta;
  const fact: DriverMeta = new FactorialDriver().meta;

  test.prop([payloadArb(fact)])('payloadArb gives sizes the driver accepts', (p) => {
    expect(p.byteLength).toBe(4);
  });

  test.prop([badPayloadArb(fact, 4096)!])('badPayloadArb gives sizes the driver refuses and the region carries', (p) => {
    expect(p.byteLength).not.toBe(4);
    expect(p.byteLength).toBeLessThanOrEqual(4096);
  });

  it('badPayloadArb is null when every size up to the capacity is accepted', () => {
    expect(badPayloadArb({ ...crc, input: { minBytes: 0, maxBytes: 1 << 20 } }, 4096)).toBeNull();
  });

  test.prop([channelOpsArb(fact, { maxLength: 8 }), workloadArb({ crc32: crc, fact }, { maxCalls: 8, maxBytes: 64 })])(
    'channel operations and workloads carry inputs within the limits',
    (ops, calls) => {
      for (const o of ops) if (o.op === 'call' || o.op === 'set') expect(o.input.byteLength).toBe(4);
      for (const c of calls) expect(c.fn === 'fact' ? c.input.byteLength === 4 : c.input.byteLength <= 64).toBe(true);
    },
  );
});
