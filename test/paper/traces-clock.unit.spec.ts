import { describe, expect, it } from 'vitest';
import { nowNs } from '../../src/paper/traces.js';

describe('nowNs', () => {
  it('reads CLOCK_MONOTONIC (process.hrtime), as integer nanoseconds, never going back', () => {
    let last = 0;
    for (let i = 0; i < 1000; i++) {
      const before = Number(process.hrtime.bigint());
      const t = nowNs();
      const after = Number(process.hrtime.bigint());
      expect(Number.isInteger(t)).toBe(true);
      // The origin is calibrated once per process; its error is far below 50 µs.
      expect(t).toBeGreaterThanOrEqual(before - 50_000);
      expect(t).toBeLessThanOrEqual(after + 50_000);
      expect(t).toBeGreaterThanOrEqual(last);
      last = t;
    }
  });
});
