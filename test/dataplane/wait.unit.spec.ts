import { describe, expect, it } from 'vitest';
import { sabWaitOps, Waiter, type WaitOps, type WaitStrategy } from '../../src/dataplane/index.js';

const strategies: WaitStrategy[] = ['spin', 'block', 'hybrid'];

function words(): { word: Int32Array; flag: Int32Array } {
  return { word: new Int32Array(new SharedArrayBuffer(64)), flag: new Int32Array(new SharedArrayBuffer(64)) };
}

describe('Waiter', () => {
  it('a spinner yields its core between looks once its first microseconds are spent, never before', () => {
    const { word, flag } = words();
    let yields = 0;
    const ops: WaitOps = { ...sabWaitOps, yield: () => void yields++ };
    const w = new Waiter(ops, { strategy: 'spin' });
    word[0] = 1;
    expect(w.waitChange(word, 0, 0, flag, 0, performance.now() + 1000)).toBe(true);
    expect(yields).toBe(0); // answered at once: no yield
    expect(w.waitChange(word, 0, 1, flag, 0, performance.now() + 3)).toBe(false);
    expect(yields).toBeGreaterThan(0); // 3 ms without an answer: it yielded
  });

  it('hybrid: a per-wait spin budget of 0 blocks at once (flag set before the first sleep); the default spins first', () => {
    const { word, flag } = words();
    const sleeps: number[] = [];
    const ops: WaitOps = {
      wait(i32, index, expected) {
        sleeps.push(flag[0]!);
        Atomics.store(i32, index, expected + 1); // "the peer" answers while we sleep
        return 'ok';
      },
      notify() {},
    };
    const w = new Waiter(ops, { strategy: 'hybrid', spinMicros: 1_000_000 });
    expect(w.waitChange(word, 0, 0, flag, 0, performance.now() + 10_000, undefined, 0)).toBe(true);
    expect(sleeps).toEqual([1]);
    expect(w.word).toBe(1);
    expect(flag[0]).toBe(0);
  });

  it.each(strategies)('%s: returns at once when the word already differs', (strategy) => {
    const { word, flag } = words();
    word[0] = 7;
    const w = new Waiter(sabWaitOps, { strategy });
    expect(w.waitChange(word, 0, 5, flag, 0, performance.now() + 1000)).toBe(true);
    expect(w.word).toBe(7);
    expect(flag[0]).toBe(0);
  });

  it.each(strategies)('%s: gives up at the deadline and leaves the sleeping flag clear', (strategy) => {
    const { word, flag } = words();
    const w = new Waiter(sabWaitOps, { strategy, spinMicros: 100, sliceMs: 2 });
    expect(w.waitChange(word, 0, 0, flag, 0, performance.now() + 5)).toBe(false);
    expect(flag[0]).toBe(0);
  });

  it('block: sets the flag before sleeping, re-checks, sleeps in slices, sees a change made while asleep', () => {
    const { word, flag } = words();
    const calls: { flag: number; timeout: number }[] = [];
    const ops: WaitOps = {
      wait(i32, index, expected, timeoutMs) {
        calls.push({ flag: flag[0]!, timeout: timeoutMs });
        if (calls.length === 3) Atomics.store(i32, index, expected + 1); // "another thread" writes
        return 'timed-out';
      },
      notify() {},
    };
    const w = new Waiter(ops, { strategy: 'block', sliceMs: 10 });
    expect(w.waitChange(word, 0, 0, flag, 0, performance.now() + 10_000)).toBe(true);
    expect(w.word).toBe(1);
    expect(calls).toHaveLength(3);
    for (const c of calls) {
      expect(c.flag).toBe(1);
      expect(c.timeout).toBeLessThanOrEqual(10);
    }
    expect(flag[0]).toBe(0);
  });

  it('block: a wake-up without a change returns false (the caller re-checks why)', () => {
    const { word, flag } = words();
    const ops: WaitOps = { wait: () => 'ok', notify() {} };
    const w = new Waiter(ops, { strategy: 'block' });
    expect(w.waitChange(word, 0, 0, flag, 0, performance.now() + 10_000)).toBe(false);
    expect(flag[0]).toBe(0);
  });

  it('hybrid: spins first, then blocks with the flag set', () => {
    const { word, flag } = words();
    let slept = 0;
    const ops: WaitOps = {
      wait(i32, index, expected) {
        slept++;
        expect(flag[0]).toBe(1);
        Atomics.store(i32, index, expected + 2);
        return 'not-equal';
      },
      notify() {},
    };
    const w = new Waiter(ops, { strategy: 'hybrid', spinMicros: 20 });
    expect(w.waitChange(word, 0, 0, flag, 0, performance.now() + 10_000)).toBe(true);
    expect(w.word).toBe(2);
    expect(slept).toBe(1);
  });

  it('spin never sleeps in the kernel', () => {
    const { word, flag } = words();
    const ops: WaitOps = {
      wait: () => {
        throw new Error('spin must not sleep');
      },
      notify() {},
    };
    expect(new Waiter(ops, { strategy: 'spin' }).waitChange(word, 0, 0, flag, 0, performance.now() + 2)).toBe(false);
  });

  it('validates its options', () => {
    expect(() => new Waiter(sabWaitOps, { strategy: 'x' as never })).toThrow(/strategy/);
    expect(() => new Waiter(sabWaitOps, { spinMicros: -1 })).toThrow(/spinMicros/);
    expect(() => new Waiter(sabWaitOps, { sliceMs: 0 })).toThrow(/sliceMs/);
  });
});
