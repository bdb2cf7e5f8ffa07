/**
 * Model-based properties of the simulated device, over generated workloads on
 * the VirtualClock (see workload.ts), with faults injected.
 */
import { describe, expect, it } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { SimDeviceError, kernelUnit, type DeviceEvent, type FunctionProfile } from '../../simulator/index.js';
import { expected } from './helpers.js';
import { runWorkload, workloadArb, type CallRecord, type Workload } from './workload.js';

/** The jitter-free cost, term by term, from the profile's figures (written independently of model.ts). */
function minimumNs(fp: FunctionProfile, rec: CallRecord, outBytes: number): number {
  const up = (x: number): number => Math.ceil(x - 1e-6);
  const work = kernelUnit(fp.kernel) === 'bytes' ? rec.input.byteLength : new DataView(rec.input.buffer).getUint32(0, true);
  const rate = fp.bytesPerSecond ?? fp.itemsPerSecond!;
  return (
    up(rec.input.byteLength * fp.transferNanosPerByte) +
    up(fp.launchMicros * 1_000) +
    up((work * 1e9) / rate) +
    up(outBytes * fp.transferNanosPerByte)
  );
}

/**
 * Replay the timeline as a journal reader would, checking: a load only takes
 * a slot nobody holds; one call runs per slot at a time; every accepted call
 * ends exactly once, by its deadline; release leaves nothing behind.
 */
function replay(timeline: readonly DeviceEvent[], slots: number): string[] {
  const bad: string[] = [];
  const holder: (string | null)[] = Array<string | null>(slots).fill(null);
  const running: (string | null)[] = Array<string | null>(slots).fill(null);
  const reloads = new Map<string, boolean>();
  const open = new Map<string, { deadline: number; slot: number }>();
  for (const e of timeline) {
    const d = e.detail;
    const s = e.slot ?? -1;
    const at = `#${e.seq} ${e.kind} t=${e.t} slot=${s}`;
    switch (e.kind) {
      case 'load-start':
        if (d.reload === true) {
          if (holder[s] !== d.handle) bad.push(`${at}: reload by ${d.handle} of a slot held by ${holder[s]}`);
        } else {
          if (holder[s] !== null) bad.push(`${at}: ${d.handle} loads a slot held by ${holder[s]}`);
          holder[s] = d.handle as string;
        }
        reloads.set(d.handle as string, d.reload === true);
        break;
      case 'load-failed':
        if (holder[s] !== d.handle) bad.push(`${at}: failed load of ${d.handle}, slot held by ${holder[s]}`);
        if (reloads.get(d.handle as string) !== true) holder[s] = null;
        break;
      case 'release':
        if (holder[s] !== d.handle) bad.push(`${at}: release by ${d.handle}, slot held by ${holder[s]}`);
        if (running[s] !== null || [...open.values()].some((c) => c.slot === s)) bad.push(`${at}: calls remain after release`);
        holder[s] = null;
        break;
      case 'call-accepted':
        open.set(d.call as string, { deadline: d.deadline as number, slot: s });
        break;
      case 'call-start':
        if (running[s] !== null) bad.push(`${at}: ${d.call} starts while ${running[s]} runs`);
        running[s] = d.call as string;
        break;
      case 'call-done':
      case 'call-error': {
        const c = open.get(d.call as string);
        if (c === undefined) bad.push(`${at}: ${d.call} ends but is not open`);
        else if (e.t > c.deadline) bad.push(`${at}: ${d.call} ends after its deadline ${c.deadline}`);
        open.delete(d.call as string);
        if (running[s] === d.call) running[s] = null;
        else if (e.kind === 'call-done') bad.push(`${at}: ${d.call} completes without running`);
        break;
      }
      default:
        break;
    }
  }
  if (open.size > 0) bad.push(`calls never ended: ${[...open.keys()].join(', ')}`);
  return bad;
}

describe('SimDevice model (VirtualClock, faults injected)', () => {
  test.prop([workloadArb], { numRuns: 300 })('invariants hold for every workload', async (w) => {
    const run = await runWorkload(w);
    const profile = run.device.profile;
    expect(run.violations).toEqual([]);
    expect(replay(run.timeline, w.slots)).toEqual([]);

    const corrupted = new Set(
      run.timeline.filter((e) => e.kind === 'fault' && e.detail.fault === 'wrong-result').map((e) => e.detail.call),
    );
    for (const c of run.calls) {
      // every call settled, and by its deadline (a refused call settles at once)
      expect(c.settledAt).toBeDefined();
      expect(c.settledAt!).toBeLessThanOrEqual(c.issuedAt + c.deadlineNs);
      if (c.error !== undefined) {
        expect(c.error).toBeInstanceOf(SimDeviceError);
        continue;
      }
      const r = c.result!;
      // no call completes sooner than the profile allows
      expect(r.startedAt).toBeGreaterThanOrEqual(r.acceptedAt);
      expect(r.endedAt - r.startedAt).toBeGreaterThanOrEqual(minimumNs(profile.functions[r.fn]!, c, r.bytes));
      // results are exact unless a wrong-result fault hit this call
      const want = expected(c.kernel, c.input);
      const same = Buffer.from(c.out.subarray(0, r.bytes)).equals(Buffer.from(want));
      expect(same).toBe(!corrupted.has(r.callId));
    }
    // calls of one instance (one handle) complete in order, one at a time
    const byHandle = new Map<string, CallRecord[]>();
    for (const c of run.calls) if (c.result) byHandle.set(c.handle.id, [...(byHandle.get(c.handle.id) ?? []), c]);
    for (const list of byHandle.values()) {
      for (let i = 1; i < list.length; i++) expect(list[i]!.result!.startedAt).toBeGreaterThanOrEqual(list[i - 1]!.result!.endedAt);
    }
    // nothing remains: every slot free, no timer pending
    expect(run.device.capacity()).toEqual({ slots: w.slots, free: w.slots, loaded: Array(w.slots).fill(null) });
    for (let s = 0; s < w.slots; s++) expect(run.device.inspect(s)).toMatchObject({ queued: 0, running: null });
    expect(run.clock.pending).toBe(0);
  });

  it('the generated workloads exercise every outcome (the properties are not vacuous)', async () => {
    const seen = new Set<string>();
    for (const w of fc.sample(workloadArb, { numRuns: 200, seed: 3 })) {
      const run = await runWorkload(w);
      for (const c of run.calls) seen.add(c.result ? 'done' : c.error instanceof SimDeviceError ? c.error.deviceCode : 'other');
      for (const e of run.timeline) if (e.kind === 'fault') seen.add(`fault:${e.detail.fault}`);
    }
    expect([...seen].sort()).toEqual(
      ['DEVICE_RESET', 'NOT_LOADED', 'RELEASED', 'TIMEOUT', 'done', 'fault:hang', 'fault:load-failure', 'fault:reset', 'fault:wrong-result'].sort(),
    );
  });
});

describe('determinism', () => {
  test.prop([workloadArb], { numRuns: 100 })('the same seed gives the same timeline, event for event', async (w) => {
    const a = await runWorkload(w);
    const b = await runWorkload(w);
    expect(b.timeline).toEqual(a.timeline);
    expect(b.outcomes).toEqual(a.outcomes);
  });

  test.prop([workloadArb], { numRuns: 100 })('another seed gives another timeline (when there is jitter and anything was loaded)', async (w) => {
    fc.pre(w.jitter.fraction > 0);
    const a = await runWorkload(w);
    fc.pre(a.timeline.some((e) => e.kind === 'load-start'));
    const b = await runWorkload({ ...w, seed: w.seed + 1 });
    expect(b.timeline).not.toEqual(a.timeline);
  });

  test.prop([fc.integer()], { numRuns: 20 })('a fixed workload over many seeds gives distinct timelines', async (seed) => {
    const w: Workload = {
      seed,
      slots: 2,
      faults: {},
      jitter: { kind: 'lognormal', fraction: 0.1, sigma: 0.5 },
      actions: [
        { at: 0, inst: 0, body: { op: 'load', fn: 'sha256', slot: 'auto' } },
        { at: 30_000, inst: 0, body: { op: 'call', sizes: [1_000, 2_000], deadlineMicros: 2_000, thenRelease: false } },
      ],
    };
    const a = await runWorkload(w);
    const b = await runWorkload({ ...w, seed: seed ^ 0x5555 });
    expect(a.timeline.map((e) => e.kind)).toEqual(b.timeline.map((e) => e.kind));
    expect(a.timeline).not.toEqual(b.timeline);
  });
});
