import { describe, expect, it } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { NS_PER_MS, RealClock, TimerQueue, VirtualClock, envelopeClock } from '../../simulator/index.js';
import { createRng } from '../../simulator/rng.js';

describe('TimerQueue', () => {
  test.prop([fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.boolean()), { maxLength: 200 })])(
    'pops live timers in (time, insertion) order',
    (entries) => {
      const q = new TimerQueue();
      const fired: number[] = [];
      const expected: { at: number; i: number }[] = [];
      entries.forEach(([at, cancel], i) => {
        const h = q.push(at, () => fired.push(i));
        if (cancel) h.cancel();
        else expected.push({ at, i });
      });
      expect(q.size).toBe(expected.length);
      for (let t = q.pop(); t !== undefined; t = q.pop()) t.fn();
      expected.sort((a, b) => a.at - b.at || a.i - b.i);
      expect(fired).toEqual(expected.map((e) => e.i));
      expect(q.size).toBe(0);
    },
  );
});

describe('VirtualClock', () => {
  it('fires timers in time order, ties in insertion order, and moves time only when driven', async () => {
    const c = new VirtualClock();
    const log: string[] = [];
    c.schedule(30, () => log.push(`a@${c.now()}`));
    c.schedule(10, () => log.push(`b@${c.now()}`));
    c.schedule(30, () => log.push(`c@${c.now()}`));
    c.schedule(10, () => log.push(`d@${c.now()}`));
    expect(c.now()).toBe(0);
    expect(c.pending).toBe(4);
    await c.advance(20);
    expect(log).toEqual(['b@10', 'd@10']);
    expect(c.now()).toBe(20);
    expect(await c.runUntilIdle()).toBe(2);
    expect(log).toEqual(['b@10', 'd@10', 'a@30', 'c@30']);
    expect(c.now()).toBe(30);
  });

  it('a cancelled timer does not fire; a past time fires at now', async () => {
    const c = new VirtualClock(100);
    const log: number[] = [];
    const h = c.schedule(150, () => log.push(1));
    c.schedule(5, () => log.push(c.now()));
    h.cancel();
    h.cancel();
    await c.runUntilIdle();
    expect(log).toEqual([100]);
  });

  it('runs promise continuations between timers: an await chain sees the virtual instant', async () => {
    const c = new VirtualClock();
    const seen: number[] = [];
    const worker = (async () => {
      for (let i = 0; i < 3; i++) {
        await c.sleep(1_000);
        seen.push(c.now());
      }
      return 'done';
    })();
    c.schedule(2_500, () => seen.push(-c.now()));
    expect(await c.run(worker)).toBe('done');
    expect(seen).toEqual([1_000, 2_000, -2_500, 3_000]);
  });

  it('run() reports a deadlock instead of hanging', async () => {
    const c = new VirtualClock();
    await expect(c.run(new Promise(() => {}))).rejects.toThrow(/deadlock/);
  });

  it('thousands of simulated seconds take milliseconds', async () => {
    const c = new VirtualClock();
    let n = 0;
    const tick = (): void => {
      n++;
      if (n < 5_000) c.schedule(c.now() + NS_PER_MS * 1_000, tick);
    };
    c.schedule(0, tick);
    const t0 = performance.now();
    await c.runUntilIdle();
    expect(c.now()).toBe(4_999 * 1e9);
    expect(performance.now() - t0).toBeLessThan(5_000);
  });

  it('envelopeClock maps device time onto epoch milliseconds', () => {
    const c = new VirtualClock(2_500_000);
    expect(envelopeClock(c, 1_700_000_000_000).now()).toBe(1_700_000_000_002);
  });
});

describe('RealClock', () => {
  it('sleeps at least the duration, sub-millisecond included, and fires in time order', async () => {
    const c = new RealClock();
    const t0 = c.now();
    await c.sleep(200_000); // 200 µs
    expect(c.now() - t0).toBeGreaterThanOrEqual(200_000);
    const log: string[] = [];
    const now = c.now();
    c.schedule(now + 3 * NS_PER_MS, () => log.push('late'));
    c.schedule(now + 50_000, () => log.push('early'));
    await c.sleep(4 * NS_PER_MS);
    expect(log).toEqual(['early', 'late']);
  });
});

describe('rng', () => {
  it('is deterministic per (seed, stream) and in range', () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(42, 1);
    const xs = Array.from({ length: 100 }, () => a.next());
    expect(Array.from({ length: 100 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 100 }, () => c.next())).not.toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  });
  it('is roughly uniform, and normal() has mean ~0 and variance ~1', () => {
    const r = createRng(7);
    const n = 20_000;
    let sum = 0;
    let sq = 0;
    let u = 0;
    for (let i = 0; i < n; i++) {
      const z = r.normal();
      sum += z;
      sq += z * z;
      u += r.next();
    }
    expect(Math.abs(sum / n)).toBeLessThan(0.05);
    expect(Math.abs(sq / n - 1)).toBeLessThan(0.05);
    expect(Math.abs(u / n - 0.5)).toBeLessThan(0.02);
  });
});

describe('RealClock timers', () => {
  it('a cancelled far timer does not keep the event loop armed', async () => {
    const c = new RealClock();
    const h = c.schedule(c.now() + 10 * 1e9, () => {
      throw new Error('must not fire');
    });
    h.cancel();
    expect((c as unknown as { armed: unknown }).armed).toBeNull();
  });
});
