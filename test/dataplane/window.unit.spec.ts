/**
 * The ivshmem window layout (docs/region-format.md §13): generated geometries
 * never place a slot outside the window, over the table or over another slot;
 * entries round-trip; a guest finds its instance from the window alone; a
 * header a guest must refuse is refused naming the field.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { areaBytes } from '../../src/dataplane/layout.js';
import {
  checkWindowHeader,
  ENTRY_BYTES,
  findEntry,
  initWindow,
  MAX_WINDOW_BYTES,
  minSlotBytes,
  PAGE,
  planWindow,
  publishEntry,
  readEntries,
  retractEntry,
  slotOffsets,
  SLOT_ACTIVE,
  SLOT_FREE,
  WIN,
  WINDOW_HEADER_BYTES,
  WINDOW_MAGIC,
} from '../../src/dataplane/window.js';
import { ValidationError } from '../../src/errors.js';

const geometry = fc
  .record({
    log2: fc.integer({ min: 16, max: 24 }),
    capacity: fc.integer({ min: 1, max: 256 * 1024 }),
    extraPages: fc.integer({ min: 0, max: 8 }),
  })
  .map(({ log2, capacity, extraPages }) => ({ windowBytes: 2 ** log2, capacity, slotBytes: minSlotBytes(capacity) + extraPages * PAGE }));

describe('window layout', () => {
  test.prop([geometry], { numRuns: 300 })('slots are page-aligned, inside the window, after the table, never overlapping', ({ windowBytes, capacity, slotBytes }) => {
    let plan;
    try {
      plan = planWindow(windowBytes, capacity, slotBytes);
    } catch (err) {
      // Only refused when not even one slot fits after the table.
      expect(err).toBeInstanceOf(ValidationError);
      expect(PAGE + slotBytes).toBeGreaterThan(windowBytes);
      return;
    }
    expect(plan.slotsOffset).toBeGreaterThanOrEqual(WINDOW_HEADER_BYTES + plan.slotCount * ENTRY_BYTES);
    const ranges: [number, number][] = [];
    for (let i = 0; i < plan.slotCount; i++) {
      const { dataoutOffset, datainOffset } = slotOffsets(plan, i);
      for (const off of [dataoutOffset, datainOffset]) {
        expect(off % PAGE).toBe(0);
        expect(off + areaBytes(capacity)).toBeLessThanOrEqual(windowBytes);
        ranges.push([off, off + areaBytes(capacity)]);
      }
    }
    ranges.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBeGreaterThanOrEqual(ranges[i - 1]![1]);
    // As many slots as fit: one more would not.
    const more = plan.slotCount + 1;
    expect(Math.ceil((WINDOW_HEADER_BYTES + more * ENTRY_BYTES) / PAGE) * PAGE + more * slotBytes).toBeGreaterThan(windowBytes);
  });

  it('refuses bad geometry naming the field and the limit', () => {
    expect(() => planWindow(3 * 1024 * 1024, 4096)).toThrow(/windowBytes: 3145728 must be a power of two/);
    expect(() => planWindow(2 * MAX_WINDOW_BYTES, 4096)).toThrow(/windowBytes/);
    expect(() => planWindow(1 << 20, 4096, 5000)).toThrow(/slotBytes: 5000 must be a positive multiple of 4096/);
    expect(() => planWindow(1 << 20, 65536, 4096)).toThrow(/slotBytes: 4096 is too small for two areas of capacity 65536/);
    expect(() => planWindow(1 << 16, 65536)).toThrow(/windowBytes: 65536 holds no slot/);
  });

  test.prop([fc.array(fc.record({ instance: fc.uuid(), app: fc.stringMatching(/^[a-z][a-z0-9_-]{0,62}$/), fn: fc.constantFrom('factorial', 'crc32', 'fibonacci') }), { minLength: 1, maxLength: 8 })])(
    'entries round-trip; a guest finds each instance from the window alone; release retracts',
    (owners) => {
      const plan = planWindow(1 << 20, 4096);
      const buf = new SharedArrayBuffer(plan.windowBytes);
      initWindow(buf, plan, 1234);
      expect(checkWindowHeader(buf)).toMatchObject({ magic: WINDOW_MAGIC, slotCount: plan.slotCount, vfundPid: 1234, generation: 0 });
      owners.forEach((o, slot) => {
        const e = publishEntry(buf, plan, slot, o);
        expect(e).toMatchObject({ ...o, slot, state: SLOT_ACTIVE, capacity: 4096, serial: 1, ...slotOffsets(plan, slot) });
      });
      for (const o of owners) expect(findEntry(buf, o.instance)?.instance).toBe(o.instance);
      retractEntry(buf, plan, 0);
      expect(findEntry(buf, owners[0]!.instance)).toBeNull();
      expect(readEntries(buf)[0]).toMatchObject({ state: SLOT_FREE, instance: '', serial: 1 });
      expect(checkWindowHeader(buf).generation).toBe(owners.length + 1);
      // Reusing the slot bumps its serial.
      expect(publishEntry(buf, plan, 0, owners[0]!).serial).toBe(2);
    },
  );

  test.prop([fc.constantFrom(...(Object.keys(WIN) as (keyof typeof WIN)[]).filter((k) => k !== 'generation' && k !== 'vfundPid')), fc.integer({ min: 1, max: 0xffff })])(
    'a damaged header is refused, naming what is wrong',
    (field, delta) => {
      const plan = planWindow(1 << 20, 4096);
      const buf = new SharedArrayBuffer(plan.windowBytes);
      initWindow(buf, plan, 1);
      const dv = new DataView(buf);
      const wide = field !== 'version' && field !== 'headerBytes';
      if (wide) dv.setUint32(WIN[field], (dv.getUint32(WIN[field], true) + delta) >>> 0, true);
      else dv.setUint16(WIN[field], (dv.getUint16(WIN[field], true) + delta) & 0xffff, true);
      if (field === 'slotsOffset' || field === 'slotBytes' || field === 'slotCount') {
        // Growing these can still fit (a guest just sees a different geometry); the window must stay consistent.
        try {
          const h = checkWindowHeader(buf);
          expect(h.slotsOffset + h.slotCount * h.slotBytes).toBeLessThanOrEqual(h.windowBytes);
        } catch (err) {
          expect((err as Error).message).toMatch(/^window: /);
        }
        return;
      }
      expect(() => checkWindowHeader(buf)).toThrow(/^window: /);
    },
  );

  it('an uninitialised window (all zeros) says so', () => {
    expect(() => checkWindowHeader(new ArrayBuffer(1 << 16))).toThrow(/magic is 0x00000000, expected 0x4e574656 \(not a VirtFun window, or not initialised yet\)/);
  });

  it('an entry name longer than 63 bytes is refused, naming the field', () => {
    const plan = planWindow(1 << 20, 4096);
    const buf = new SharedArrayBuffer(plan.windowBytes);
    initWindow(buf, plan, 1);
    expect(() => publishEntry(buf, plan, 0, { instance: 'i'.repeat(64), app: 'a', fn: 'f' })).toThrow(/instance: is 64 bytes, longer than the window entry's 63/);
  });
});

describe('polling waits (no wake-up crosses a VM)', () => {
  it('sleeps 100 µs for the first 5 ms, then doubles up to 1 ms while nothing happens, never past the deadline', async () => {
    const { pollingWaitOps, POLL_HOLD_MS } = await import('../../src/dataplane/window-wait.js');
    const asked: number[] = [];
    const started = performance.now();
    const ops = pollingWaitOps({
      wait: (_a, _i, _e, t) => {
        asked.push(t);
        // A fake sleep: past the hold after the first three looks.
        while (performance.now() - started < (asked.length >= 3 ? POLL_HOLD_MS + 1 : 0));
        return 'timed-out';
      },
      notify: () => undefined,
    });
    const i32 = new Int32Array(new SharedArrayBuffer(4));
    expect(ops.wait(i32, 0, 0, 20)).toBe('timed-out');
    expect(asked.slice(0, 3)).toEqual([0.1, 0.1, 0.1]);
    expect(asked.slice(3, 8)).toEqual([0.2, 0.4, 0.8, 1, 1]);
    expect(asked.every((t) => t <= 20)).toBe(true);
  });

  it("reports 'ok' as soon as the word changed, and passes a real wake-up through", async () => {
    const { pollingWaitOps } = await import('../../src/dataplane/window-wait.js');
    const i32 = new Int32Array(new SharedArrayBuffer(4));
    let polls = 0;
    const ops = pollingWaitOps({ wait: () => (++polls === 3 && Atomics.store(i32, 0, 7), 'timed-out'), notify: () => undefined });
    expect(ops.wait(i32, 0, 0, 10_000)).toBe('ok');
    expect(polls).toBe(3);
    const woken = pollingWaitOps({ wait: () => 'ok', notify: () => undefined });
    expect(woken.wait(i32, 0, 7, 10_000)).toBe('ok');
  });
});
