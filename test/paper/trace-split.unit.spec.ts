/** Where a traced call's time goes (results.ts traceSplit): the service's part, the channel, beside host-host. */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { traceSplit, type Cell } from '../../src/paper/results.js';

const hh = (perCall: number): Cell => ({ fn: 'factorial', instance: '250K x 2k', domain: 'host-host', mean: perCall * 2000e-6, min: 0, max: 0, runs: 5, per_call_us: perCall });

describe('traceSplit', () => {
  it('splits each call into the service part (busy to done) and the channel, and compares the service with host-host', () => {
    const calls = [
      { set_us: 0, busy_us: 1, done_us: 81, get_us: 82 },
      { set_us: 82, busy_us: 83, done_us: 165, get_us: 166 },
    ];
    const s = traceSplit('factorial', '250K x 2k', calls, [hh(80)])!;
    expect(s).toMatchObject({ calls: 2, recorded_us: 83, service_us: 81, channel_us: 2, hh_per_call_us: 80 });
    expect(s.service_over_hh).toBeCloseTo(81 / 80, 12);
    expect(traceSplit('factorial', '250K x 2k', calls, [])!.service_over_hh).toBeNull();
    expect(traceSplit('factorial', '250K x 2k', [{ set_us: 0, busy_us: null, done_us: null, get_us: 5 }], [hh(80)])).toBeNull();
  });

  test.prop([fc.array(fc.record({ gap: fc.nat(100), toBusy: fc.nat(50), compute: fc.nat(1000), toGet: fc.nat(50) }), { minLength: 1, maxLength: 40 })])(
    'recorded = service + channel, the channel never negative for calls that keep the protocol',
    (xs) => {
      let t = 0;
      const calls = xs.map((x) => {
        const set = t + x.gap;
        const c = { set_us: set, busy_us: set + x.toBusy, done_us: set + x.toBusy + x.compute, get_us: set + x.toBusy + x.compute + x.toGet };
        t = c.get_us;
        return c;
      });
      const s = traceSplit('factorial', '250K x 2k', calls, [hh(10)])!;
      expect(s.service_us + s.channel_us).toBeCloseTo(s.recorded_us, 9);
      expect(s.channel_us).toBeGreaterThanOrEqual(-1e-9);
    },
  );
});
