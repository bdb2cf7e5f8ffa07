/**
 * `replay-trace` checks every recorded call against the service protocol
 * machine (src/paper/trace-check.ts): valid traces pass, whatever constant
 * offset separates the guest's and the service's clocks; each way a trace can
 * break the protocol is refused naming the call and what broke.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { replayTrace } from '../../src/paper/replay-trace.js';
import { checkTrace, clockOffset, resolution } from '../../src/paper/trace-check.js';
import { readTrace, type TraceCall, type TraceHeader } from '../../src/paper/traces.js';
import { ValidationError } from '../../src/errors.js';

/** A trace's start, ms since the epoch, as `bench paper --trace` records it (times then exact to 2^-12 ms). */
const T0_MS = 1_795_572_755_271.579;
const header = (calls: number, t0_ms = 0): TraceHeader => ({
  type: 'virtfun-trace',
  version: 1,
  fn: 'factorial',
  n: 51,
  reps: 250,
  instance: '250K x 2k',
  domain: 'guest-host',
  driver: 'paper-factorial',
  calls,
  t0_ms,
});

/** One call's times relative to its set: busy, done, get (guest clock); the service's shifted by `offset`. */
type Gaps = readonly [toBusy: number, compute: number, toGet: number, toNext: number];

/** A trace that keeps the protocol: each call sent after the previous answer was collected, service times inside. */
function trace(gaps: readonly Gaps[], offset = 0): TraceCall[] {
  let t = 0;
  return gaps.map(([toBusy, compute, toGet, toNext], i) => {
    const set = t;
    const busy = set + toBusy;
    const done = busy + compute;
    const get = done + toGet;
    t = get + toNext;
    return { i, set_us: set, busy_us: busy + offset, done_us: done + offset, get_us: get, in_bytes: 8, out_bytes: 8, status: 'DONE' };
  });
}
const STEADY: Gaps[] = Array.from({ length: 5 }, () => [2, 70, 1, 1] as const);

function refusal(calls: readonly TraceCall[], t0_ms = 0): string {
  try {
    checkTrace(header(calls.length, t0_ms), calls, 'x.jsonl');
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return (e as Error).message;
  }
  throw new Error('the trace was accepted');
}
const edit = (calls: readonly TraceCall[], i: number, change: Partial<TraceCall>): TraceCall[] => calls.map((c) => (c.i === i ? { ...c, ...change } : c));

describe('trace check', () => {
  it('accepts a trace that keeps the protocol, the committed one included', () => {
    expect(() => checkTrace(header(5), trace(STEADY))).not.toThrow();
    const committed = readTrace(new URL('../fixtures/traces/v0-factorial-250Kx2k.jsonl', import.meta.url).pathname);
    expect(() => checkTrace(committed.header, committed.calls)).not.toThrow();
    // Its service clock runs 0.49..0.98 µs ahead of the guest's (a done_us after its get_us shows it).
    expect(clockOffset(committed.calls)).toBeGreaterThan(0.48);
    expect(clockOffset(committed.calls)).toBeLessThan(0.98);
  });

  it('accepts a trace without the service side, and requests refused before the driver (ERROR without busy/done)', () => {
    const guestOnly = trace(STEADY).map((c) => ({ ...c, busy_us: null, done_us: null }));
    expect(() => checkTrace(header(5), guestOnly)).not.toThrow();
    const refused = edit(trace(STEADY), 2, { busy_us: null, done_us: null, status: 'ERROR' });
    expect(() => checkTrace(header(5), refused)).not.toThrow();
    const failed = edit(trace(STEADY), 2, { status: 'ERROR' });
    expect(() => checkTrace(header(5), failed)).not.toThrow();
  });

  it.each([
    ['done before busy', edit(trace(STEADY), 2, { busy_us: 200, done_us: 160 }), 'x.jsonl: call 2: breaks the computation protocol: done before busy: done_us 160 < busy_us 200'],
    ['get before set', edit(trace(STEADY), 3, { get_us: 200 }), 'call 3: breaks the computation protocol: get before set: get_us 200 < set_us 222'],
    ['a request sent before the last answer was collected', edit(trace(STEADY), 3, { set_us: 210 }), 'call 3: breaks the computation protocol: sent (set_us 210) before the answer to call 2 was collected (get_us 221): one request at a time'],
    // The other calls put the service's clock 0.5 µs off the guest's (each allows -1..2 µs).
    ['an answer collected before the service finished it', edit(trace(STEADY), 1, { get_us: 100 }), "call 1: breaks the computation protocol: the guest collected its answer (get_us 100) before the service finished (done_us 146) (service clock taken as 0.5 µs off the guest's)"],
    ['the service busy before the request was sent', edit(trace(STEADY), 4, { busy_us: 294.5 }), "call 4: breaks the computation protocol: the service went busy (busy_us 294.5) before the guest sent the request (set_us 296) (service clock taken as 0.5 µs off the guest's)"],
    ['the service busy with a call while still computing the one before', edit(trace(STEADY), 3, { busy_us: 215 }), 'call 3: breaks the computation protocol: the service went busy (busy_us 215) while still computing call 2 (done_us 220)'],
    ['the service busy with calls out of order', edit(trace(STEADY), 3, { busy_us: 149 }), 'call 3: breaks the computation protocol: the service went busy (busy_us 149) before it took call 2 (busy_us 150)'],
    ['an answer collected before the service went busy with it', edit(trace(STEADY), 2, { busy_us: 223, done_us: 223.5 }), "call 2: breaks the computation protocol: the guest collected its answer (get_us 221) before the service went busy with it (busy_us 223) (service clock taken as 0.5 µs off the guest's)"],
    ['DONE that the service never computed', edit(trace(STEADY), 1, { busy_us: null, done_us: null }), 'call 1: DONE without the service\'s busy_us/done_us while other calls have them'],
  ])('refuses %s', (_, calls, message) => {
    expect(refusal(calls)).toContain(message);
  });

  it.each([
    ['busy without done', edit(trace(STEADY), 1, { done_us: null }), 'call 1: busy_us is 76 and done_us null: the service records both or neither'],
    ['calls out of order', edit(trace(STEADY), 1, { i: 7 }), 'call 1: line 3 has i 7, expected 1'],
    ['a status that is not one', edit(trace(STEADY), 0, { status: 'BUSY' as 'DONE' }), 'call 0: status is BUSY, not DONE or ERROR'],
    ['a negative byte count', edit(trace(STEADY), 0, { out_bytes: -1 }), 'call 0: out_bytes is -1, not a byte count'],
    ['a time that is not a number', edit(trace(STEADY), 4, { set_us: 'soon' as unknown as number }), 'call 4: set_us is soon, not a number'],
  ])('refuses a malformed call: %s', (_, calls, message) => {
    expect(refusal(calls)).toContain(message);
  });

  it('takes orders across the two processes to within the resolution of the recorded times', () => {
    const committed = readTrace(new URL('../fixtures/traces/v0-factorial-250Kx2k.jsonl', import.meta.url).pathname);
    expect(resolution(committed.header, committed.calls)).toBe(0.244140625);
    // Calls that pin the offset at 0.5 µs: the service goes busy as the guest sends, and is done as it collects.
    const tight = trace(Array.from({ length: 5 }, () => [0, 70, 0, 1] as const), 0.5);
    // Call 2's service went busy 0.001 µs before the guest sent, on the guest's clock: within 0.24 µs, accepted.
    const near = edit(tight, 2, { busy_us: 142.499 });
    expect(() => checkTrace(header(5, T0_MS), near)).not.toThrow();
    // Recorded with a finer clock (times near 0 ms), the same trace is refused.
    expect(refusal(near)).toContain('call 2: breaks the computation protocol: the service went busy (busy_us 142.499) before the guest sent the request (set_us 142)');
    // 1 µs before: beyond the resolution, refused.
    expect(() => checkTrace(header(5, T0_MS), edit(tight, 2, { busy_us: 141.5 }))).toThrow('call 2: breaks the computation protocol: the service went busy (busy_us 141.5)');
  });

  it('refuses a header that announces another number of calls', () => {
    expect(() => checkTrace(header(6), trace(STEADY), 'x.jsonl')).toThrow('x.jsonl: the header announces 6 calls, the file has 5');
  });

  it('replay-trace refuses a broken trace file before re-timing it, naming the file and the call', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vfun-trace-'));
    try {
      const file = join(dir, 'trace-broken.jsonl');
      const calls = edit(trace(STEADY), 2, { busy_us: 200, done_us: 160 });
      await writeFile(file, [header(5), ...calls].map((l) => JSON.stringify(l)).join('\n') + '\n');
      // Within one line: refused on read, naming the line and the field (src/paper/trace-read.ts).
      await expect(replayTrace({ trace: file, device: 'alveo-u250', out: dir })).rejects.toThrow(`trace: ${file}: line 4: done_ns: 160000 is before busy_ns 200000 (done before busy)`);
      // Across calls: refused by the protocol check, naming the call.
      await writeFile(file, [header(5), ...edit(trace(STEADY), 3, { set_us: 200 })].map((l) => JSON.stringify(l)).join('\n') + '\n');
      await expect(replayTrace({ trace: file, device: 'alveo-u250', out: dir })).rejects.toThrow(`trace: ${file}: call 3: breaks the computation protocol: sent (set_us 200) before the answer to call 2 was collected`);
      await writeFile(file, JSON.stringify(header(5)) + '\n{"i":0,\n');
      await expect(replayTrace({ trace: file, device: 'alveo-u250', out: dir })).rejects.toThrow(`trace: ${file}: line 2 is not JSON`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  const gaps = fc.array(
    fc.tuple(fc.double({ min: 0.5, max: 50, noNaN: true }), fc.double({ min: 0, max: 500, noNaN: true }), fc.double({ min: 0.5, max: 50, noNaN: true }), fc.double({ min: 0, max: 50, noNaN: true })),
    { minLength: 3, maxLength: 40 },
  );
  const round = (calls: TraceCall[]): TraceCall[] =>
    calls.map((c) => ({ ...c, set_us: r3(c.set_us), busy_us: r3(c.busy_us!), done_us: r3(c.done_us!), get_us: r3(c.get_us) }));
  const r3 = (x: number): number => Math.round(x * 1000) / 1000;

  test.prop([gaps, fc.double({ min: -5000, max: 5000, noNaN: true })])('accepts any trace that keeps the protocol, whatever the offset between the two clocks', (g, offset) => {
    expect(() => checkTrace(header(g.length, T0_MS), round(trace(g, offset)))).not.toThrow();
  });

  // Orders within one process hold whatever the clocks: breaking one is always refused, naming the call.
  const breaks = [
    { name: 'done before busy', at: 0, apply: (c: TraceCall[], k: number) => edit(c, k, { done_us: c[k]!.busy_us! - 1 }), says: 'done before busy' },
    { name: 'get before set', at: 0, apply: (c: TraceCall[], k: number) => edit(c, k, { get_us: c[k]!.set_us - 1 }), says: 'get before set' },
    { name: 'sent before collected', at: 1, apply: (c: TraceCall[], k: number) => edit(c, k + 1, { set_us: c[k]!.get_us - 0.25 }), says: 'one request at a time' },
    { name: 'busy before the previous done', at: 1, apply: (c: TraceCall[], k: number) => edit(c, k + 1, { busy_us: c[k]!.done_us! - 0.25 }), says: 'the service went busy' },
  ] as const;
  test.prop([gaps, fc.double({ min: -5000, max: 5000, noNaN: true }), fc.nat(), fc.constantFrom(...breaks)])(
    'refuses a trace that breaks an order within one process, naming the call',
    (g, offset, pick, b) => {
      const calls = round(trace(g, offset));
      const k = pick % (calls.length - 1);
      // With times as a real trace records them (exact to 0.24 µs): a break of 0.25 µs within one process is still seen.
      const message = refusal(b.apply(calls, k), T0_MS);
      expect(message).toContain(`call ${k + b.at}: breaks the computation protocol: `);
      expect(message).toContain(b.says);
    },
  );
});
