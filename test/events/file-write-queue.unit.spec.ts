/**
 * The file journal's write queue (src/events/adapters/file/write-queue.ts) and read index
 * (read-index.ts), without a disk: the pure queue is driven the way the journal drives it
 * (journal.ts: cut, stat, write, fdatasync, probe, backoff) against a model file whose writes,
 * cuts and probes fail on demand, half-written lines included, through generated sequences of
 * appends (some fail-fast), attempts, another writer and close. After every step: the file's
 * durable bytes are exactly the resolved appends, in order, chained seq after seq; an append
 * resolves once, and only once its bytes are durable; a fail-fast append is refused only once no
 * byte of it can be left in the file; the outage is reported once when it starts and once when it
 * ends; the waiting bytes never pass their bound. Once the file system works again everything
 * accepted is written, or the queue is fenced and every append not durable rejected. The
 * file-backed behaviour is in file-journal.int.spec.ts and file-journal-full.int.spec.ts.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { ConcurrencyError, JournalUnavailableError } from '../../src/errors.js';
import { CHECKPOINT_EVERY, ReadIndex, START } from '../../src/events/adapters/file/read-index.js';
import {
  PROBE_MIN_BYTES,
  RETRY_FIRST_MS,
  RETRY_MAX_MS,
  UNAVAILABLE,
  admit,
  errorText,
  initialWriteState,
  isAvailable,
  isIdle,
  nextMove,
  queued,
  refusal,
  step,
  waitingEvents,
  writePlan,
  type AppendLine,
  type QueuedAppend,
  type WriteEffect,
  type WriteInput,
  type WriteQueueConfig,
  type WriteQueueState,
} from '../../src/events/adapters/file/write-queue.js';
import type { JournalAvailability } from '../../src/events/journal.js';

type State = WriteQueueState<number>;
const CONFIG: WriteQueueConfig = { groupCommitMs: 0, maxWaitingBytes: 1 << 20 };
const enospc = (): Error => Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });

/** What the model file system does on one attempt. */
interface Disk {
  /** Writes (and the probe) go through. */
  readonly write: boolean;
  /** When a write fails: how many of its bytes land first. */
  readonly partial: number;
  /** Cutting bytes back (truncate + fdatasync) works. */
  readonly cut: boolean;
}
const WORKS: Disk = { write: true, partial: 0, cut: true };

type Outcome = 'resolved' | Error;

/** The queue, a model of the journal file, and what the journal's appenders and listeners saw. */
class World {
  state: State;
  file = '';
  /** Bytes another writer appended (the file is theirs too from then on). */
  foreign = false;
  now = 1_000;
  readonly config: WriteQueueConfig;
  readonly appends = new Map<number, { readonly text: string; readonly failFast: boolean; outcome?: Outcome }>();
  /** Texts of the resolved appends, in the order they resolved. */
  resolvedText = '';
  readonly notes: JournalAvailability[] = [];
  readonly pauses: number[] = [];
  readonly committed: { offset: number; lines: readonly AppendLine[] }[] = [];
  private nextId = 0;

  constructor(config: WriteQueueConfig = CONFIG) {
    this.config = config;
    this.state = initialWriteState(0, null);
  }

  /** An append of `lines` lines of `len` bytes each, as FileJournal.append makes it; its id, or the refusal. */
  append(lines: number, len: number, failFast = false): number | Error {
    if (this.state.closing) return new Error('closed');
    const refused = refusal(this.state, failFast);
    if (refused !== null) return refused;
    const id = ++this.nextId;
    const base = this.state.tail?.seq ?? 0;
    let text = '';
    const ls: AppendLine[] = [];
    for (let i = 1; i <= lines; i++) {
      const line = `${base + i}|${id}|${'x'.repeat(len)}\n`;
      text += line;
      ls.push({ bytes: line.length, head: { seq: base + i, hash: `h${base + i}.${id}` } });
    }
    const a: QueuedAppend<number> = { text, bytes: text.length, failFast, lines: ls, payload: id };
    const admitted = admit(this.state, this.config, a);
    if (!admitted.ok) return admitted.error;
    this.state = admitted.state;
    this.appends.set(id, { text, failFast });
    this.check();
    return id;
  }

  dispatch(input: WriteInput): readonly WriteEffect<number>[] {
    const before = snapshot(this.state);
    const { state, effects } = step(this.state, input);
    expect(snapshot(this.state)).toEqual(before); // the given state never changes
    this.state = state;
    for (const fx of effects) {
      switch (fx.type) {
        case 'committed':
          this.committed.push(fx);
          break;
        case 'resolve':
          for (const a of fx.appends) this.settle(a.payload, 'resolved');
          break;
        case 'reject':
          for (const a of fx.appends) {
            if (fx.error instanceof JournalUnavailableError) {
              // Withdrawn: asked to fail fast, and no byte of it can be left in the file.
              expect(a.failFast).toBe(true);
              if (!this.foreign) expect(this.file.length).toBe(state.size);
            }
            this.settle(a.payload, fx.error as Error);
          }
          break;
        case 'notify':
          // Once when the outage starts, once when it ends (a fence may report a second start).
          if (fx.change.available) expect(this.notes.at(-1)?.available).toBe(false);
          expect(fx.change.waiting).toBe(waitingEvents(state));
          this.notes.push(fx.change);
          break;
      }
    }
    this.check();
    return effects;
  }

  private settle(id: number, outcome: Outcome): void {
    const a = this.appends.get(id)!;
    expect(a.outcome).toBeUndefined(); // settled once
    a.outcome = outcome;
    if (outcome === 'resolved') this.resolvedText += a.text;
  }

  /** One turn of the journal's flush loop with `disk` (journal.ts's flushLoop and attempt). */
  turn(disk: Disk): void {
    this.now += 10;
    const move = nextMove(this.state, this.config);
    if (move.type === 'stop') return;
    if (move.type === 'backoff') {
      this.pauses.push(move.ms);
      expect(move.holdsProcess).toBe(queued(this.state).length > 0);
      this.dispatch({ type: 'backoff' });
    }
    if (isIdle(this.state)) return;
    let bytes = 0;
    try {
      if (this.state.dirty) {
        if (!disk.cut) throw enospc();
        this.file = this.file.slice(0, this.state.size);
        this.dispatch({ type: 'cut' });
      }
      const plan = writePlan(this.state);
      if (plan.type === 'probe') {
        expect(plan.bytes).toBe(Math.max(PROBE_MIN_BYTES, this.state.failedBytes));
        if (!disk.write) throw enospc();
        this.dispatch({ type: 'probed', now: this.now });
        return;
      }
      if (this.file.length !== this.state.size) {
        this.dispatch({ type: 'fence', error: new ConcurrencyError('the journal file changed under its writer') });
        return;
      }
      bytes = plan.text.length;
      this.dispatch({ type: 'writing' });
      if (!disk.write) {
        this.file += plan.text.slice(0, Math.min(disk.partial, plan.text.length));
        throw enospc();
      }
      this.file += plan.text;
      this.dispatch({ type: 'written', count: plan.count, bytes, now: this.now });
    } catch (err) {
      let cut = !this.state.dirty;
      if (!cut && disk.cut) {
        this.file = this.file.slice(0, this.state.size);
        cut = true;
      }
      this.dispatch({ type: 'failed', error: err, bytes, cut, now: this.now });
    }
  }

  anotherWriter(): void {
    this.file += '9|other|x\n';
    this.foreign = true;
  }

  /** The file system works again: turns until the loop stops. */
  settleAll(): void {
    for (let i = 0; i < 50 && nextMove(this.state, this.config).type !== 'stop'; i++) this.turn(WORKS);
    expect(nextMove(this.state, this.config)).toEqual({ type: 'stop' });
  }

  check(): void {
    const s = this.state;
    const q = queued(s);
    // The durable bytes are exactly the resolved appends, chained seq after seq.
    expect(this.file.slice(0, s.size)).toBe(this.resolvedText);
    if (!s.dirty && !this.foreign) expect(this.file.length).toBe(s.size);
    const seqs = this.resolvedText.split('\n').slice(0, -1).map((l) => Number(l.split('|')[0]));
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(s.durable?.seq ?? 0).toBe(seqs.length);
    // Waiting: the queued appends, within their bound; the tail chains on the last of them.
    expect(s.waitingBytes).toBe(q.reduce((n, a) => n + a.bytes, 0));
    expect(s.waitingBytes).toBeLessThanOrEqual(this.config.maxWaitingBytes);
    expect(s.tail).toEqual(q.at(-1)?.lines.at(-1)?.head ?? s.durable);
    for (const a of q) expect(this.appends.get(a.payload)?.outcome).toBeUndefined();
    expect(isAvailable(s)).toBe(s.failure === null && s.outage === null && !s.closing);
    expect(s.retryDelay).toBeGreaterThanOrEqual(RETRY_FIRST_MS);
    expect(s.retryDelay).toBeLessThanOrEqual(RETRY_MAX_MS);
  }
}

/** The state as plain data (the log as its queued appends: the buffer past its end is nobody's). */
function snapshot(s: State): unknown {
  return JSON.parse(JSON.stringify({ ...s, log: queued(s), failure: s.failure?.message ?? null }));
}

type Op =
  | { readonly op: 'append'; readonly lines: number; readonly len: number; readonly failFast: boolean }
  | { readonly op: 'turn'; readonly disk: Disk }
  | { readonly op: 'anotherWriter' }
  | { readonly op: 'close' };

const diskArb: fc.Arbitrary<Disk> = fc.record({ write: fc.boolean(), partial: fc.nat({ max: 120 }), cut: fc.boolean() });
const baseOps: fc.WeightedArbitrary<Op>[] = [
  { weight: 4, arbitrary: fc.record({ op: fc.constant('append' as const), lines: fc.integer({ min: 1, max: 3 }), len: fc.nat({ max: 40 }), failFast: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('turn' as const), disk: diskArb }) },
];
const opsArb = (...extra: fc.WeightedArbitrary<Op>[]): fc.Arbitrary<Op[]> => fc.array(fc.oneof(...baseOps, ...extra), { maxLength: 120 });
const configArb: fc.Arbitrary<WriteQueueConfig> = fc.record({ groupCommitMs: fc.constantFrom(0, 5), maxWaitingBytes: fc.integer({ min: 60, max: 2000 }) });

function run(w: World, ops: readonly Op[]): void {
  for (const o of ops) {
    if (o.op === 'append') w.append(o.lines, o.len, o.failFast);
    else if (o.op === 'turn') w.turn(o.disk);
    else if (o.op === 'anotherWriter') w.anotherWriter();
    else w.dispatch({ type: 'close' });
  }
}

describe('file journal write queue (generated)', () => {
  test.prop([configArb, opsArb({ weight: 1, arbitrary: fc.constant({ op: 'close' } as const) })], { numRuns: 300 })(
    'one writer: what is accepted is written once, in order, and resolves once durable; only fail-fast appends are refused, never once written',
    (config, ops) => {
      const w = new World(config);
      run(w, ops);
      w.settleAll();
      expect(w.state.failure).toBeNull();
      expect(queued(w.state)).toEqual([]);
      for (const a of w.appends.values()) {
        if (a.outcome === 'resolved') continue;
        expect(a.failFast).toBe(true);
        expect(a.outcome).toBeInstanceOf(JournalUnavailableError);
        expect(w.file).not.toContain(a.text);
      }
      // Every outage that started ended, unless close() stopped the probing with nothing queued.
      if (!w.state.closing) expect(w.state.outage).toBeNull();
      expect(w.notes.at(-1)?.available ?? true).toBe(w.state.outage === null);
      expect(w.state.groupCommits).toBe(w.committed.length);
    },
  );

  test.prop([configArb, opsArb({ weight: 1, arbitrary: fc.constant({ op: 'anotherWriter' } as const) })], { numRuns: 300 })(
    'another writer: never written after; the queue is fenced, what is not durable rejects, and so does every later append',
    (config, ops) => {
      const w = new World(config);
      run(w, ops);
      w.settleAll();
      const failure = w.state.failure;
      if (failure === null) {
        expect([...w.appends.values()].every((a) => a.outcome === 'resolved' || a.failFast)).toBe(true);
        return;
      }
      expect(failure).toBeInstanceOf(ConcurrencyError);
      expect(w.foreign).toBe(true);
      expect(w.notes.at(-1)).toEqual({ available: false, reason: failure.message, waiting: 0 });
      for (const a of w.appends.values()) if (a.outcome !== 'resolved' && !a.failFast) expect(a.outcome).toBe(failure);
      expect(w.append(1, 3)).toBe(failure);
      expect(w.append(1, 3, true)).toBe(failure);
      expect(nextMove(w.state, w.config)).toEqual({ type: 'stop' });
    },
  );
});

describe('file journal write queue (examples)', () => {
  it('appends queued before a write share it: one group commit, resolved in order, lines committed from the old size', () => {
    const w = new World();
    const a = w.append(2, 5) as number;
    const b = w.append(1, 5) as number;
    expect(waitingEvents(w.state)).toBe(3);
    expect(nextMove(w.state, CONFIG)).toEqual({ type: 'write' });
    w.turn(WORKS);
    expect(w.state.groupCommits).toBe(1);
    expect(w.appends.get(a)?.outcome).toBe('resolved');
    expect(w.appends.get(b)?.outcome).toBe('resolved');
    expect(w.committed).toEqual([{ type: 'committed', offset: 0, lines: expect.any(Array) }]);
    expect(w.committed[0]!.lines.map((l) => l.head.seq)).toEqual([1, 2, 3]);
    expect(w.state.durable?.seq).toBe(3);
    expect(w.notes).toEqual([]);
  });

  it('gathers for groupCommitMs before each write when set', () => {
    const w = new World({ ...CONFIG, groupCommitMs: 7 });
    w.append(1, 1);
    expect(nextMove(w.state, w.config)).toEqual({ type: 'gather', ms: 7 });
  });

  it('refuses an append past the bound on waiting bytes, storing nothing', () => {
    const w = new World({ ...CONFIG, maxWaitingBytes: 30 });
    w.append(1, 10);
    const before = w.state;
    const refused = w.append(1, 20);
    expect(refused).toBeInstanceOf(JournalUnavailableError);
    expect((refused as Error).message).toBe(`${UNAVAILABLE}: 15 bytes already wait to be written (at most 30)`);
    expect(w.state).toBe(before);
  });

  it('a failed write is an outage: cut back, reported once, retried with backoff doubling to 1 s, reported over once written', () => {
    const w = new World();
    const id = w.append(1, 50) as number;
    w.turn({ write: false, partial: 20, cut: true });
    expect(w.file).toBe('');
    expect(w.notes).toEqual([{ available: false, reason: 'ENOSPC: no space left on device', waiting: 1 }]);
    expect(refusal(w.state, true)).toBeInstanceOf(JournalUnavailableError);
    expect(refusal(w.state, false)).toBeNull();
    for (let i = 0; i < 7; i++) w.turn({ write: false, partial: 0, cut: true });
    expect(w.pauses).toEqual([50, 100, 200, 400, 800, 1000, 1000]);
    expect(w.notes).toHaveLength(1);
    const since = w.state.outage!.since;
    w.turn(WORKS);
    expect(w.appends.get(id)?.outcome).toBe('resolved');
    expect(w.notes.at(-1)).toEqual({ available: true, reason: null, waiting: 0, outageMs: w.now - since });
    expect(w.state.retryDelay).toBe(RETRY_FIRST_MS);
    expect(w.state.failedBytes).toBe(0);
  });

  it('with nothing waiting, probes with the failed write\'s size (at least 4 KiB), the timer holding no process', () => {
    const w = new World();
    const ff = w.append(1, 5000, true) as number;
    w.turn({ write: false, partial: 0, cut: true });
    expect(w.appends.get(ff)?.outcome).toBeInstanceOf(JournalUnavailableError);
    expect(queued(w.state)).toEqual([]);
    expect(nextMove(w.state, CONFIG)).toEqual({ type: 'backoff', ms: 50, holdsProcess: false });
    expect(writePlan(w.state)).toEqual({ type: 'probe', bytes: w.state.failedBytes });
    expect(w.state.failedBytes).toBeGreaterThan(PROBE_MIN_BYTES);
    w.turn(WORKS);
    expect(w.state.outage).toBeNull();
    expect(writePlan(w.state)).toEqual({ type: 'probe', bytes: PROBE_MIN_BYTES });
  });

  it('closing stops a probe with nothing queued, but not the writing of what waits', () => {
    const w = new World();
    w.append(1, 5, true);
    w.turn({ write: false, partial: 0, cut: true });
    w.dispatch({ type: 'close' });
    expect(isIdle(w.state)).toBe(true);
    const v = new World();
    const id = v.append(1, 5) as number;
    v.turn({ write: false, partial: 0, cut: true });
    v.dispatch({ type: 'close' });
    expect(isAvailable(v.state)).toBe(false);
    v.settleAll();
    expect(v.appends.get(id)?.outcome).toBe('resolved');
  });

  it('a fail-fast append whose bytes could not be cut stays until they are, then is refused', () => {
    const w = new World();
    const ff = w.append(1, 10, true) as number;
    w.turn({ write: false, partial: 5, cut: false });
    expect(w.state.dirty).toBe(true);
    expect(w.appends.get(ff)?.outcome).toBeUndefined();
    w.file = w.file.slice(0, w.state.size);
    const effects = w.dispatch({ type: 'cut' });
    expect(effects).toEqual([{ type: 'reject', appends: [expect.objectContaining({ payload: ff })], error: expect.any(JournalUnavailableError) }]);
    expect(((effects[0] as { error: Error }).error.cause as Error).message).toBe('ENOSPC: no space left on device');
  });

  it('a fail-fast append followed by a waiting one stays: the waiting one chains on it', () => {
    const w = new World();
    const ff = w.append(1, 10, true) as number;
    const waits = w.append(1, 10) as number;
    w.turn({ write: false, partial: 0, cut: true });
    expect(w.appends.get(ff)?.outcome).toBeUndefined();
    w.turn(WORKS);
    expect(w.appends.get(ff)?.outcome).toBe('resolved');
    expect(w.appends.get(waits)?.outcome).toBe('resolved');
  });

  it('the tail goes back to the last append kept when fail-fast appends are withdrawn', () => {
    const w = new World();
    w.append(1, 1);
    w.turn(WORKS);
    w.append(2, 1);
    w.append(1, 1, true);
    w.append(1, 1, true);
    expect(w.state.tail?.seq).toBe(5);
    w.turn({ write: false, partial: 0, cut: true });
    expect(w.state.tail?.seq).toBe(3);
    expect(w.state.tail).toEqual(queued(w.state).at(-1)!.lines.at(-1)!.head);
  });

  it('a fence rejects everything queued with its error, reports unavailable with nothing waiting, and refuses every later append', () => {
    const w = new World();
    const a = w.append(1, 3) as number;
    w.anotherWriter();
    w.turn(WORKS);
    const failure = w.state.failure!;
    expect(failure).toBeInstanceOf(ConcurrencyError);
    expect(w.appends.get(a)?.outcome).toBe(failure);
    expect(w.notes).toEqual([{ available: false, reason: failure.message, waiting: 0 }]);
    expect(w.state.tail).toBe(w.state.durable);
    expect(refusal(w.state, false)).toBe(failure);
    expect(isIdle(w.state)).toBe(true);
  });

  it('keeps a long queue in one buffer and copies it down once most of it is written', () => {
    let s: State = initialWriteState(0, null);
    const line = (seq: number): AppendLine => ({ bytes: 2, head: { seq, hash: `h${seq}` } });
    for (let i = 1; i <= 3000; i++) {
      const r = admit(s, CONFIG, { text: 'x\n', bytes: 2, failFast: false, lines: [line(i)], payload: i });
      if (!r.ok) throw r.error;
      s = r.state;
    }
    const buf = s.log.buf;
    s = step(s, { type: 'written', count: 1000, bytes: 2000, now: 0 }).state;
    expect(s.log.buf).toBe(buf);
    s = step(s, { type: 'written', count: 1000, bytes: 2000, now: 0 }).state;
    expect(s.log.buf).not.toBe(buf);
    expect(queued(s).map((a) => a.payload)).toEqual(Array.from({ length: 1000 }, (_, i) => 2001 + i));
    expect(s.durable?.seq).toBe(2000);
  });

  it('names a system error by its code', () => {
    expect(errorText(enospc())).toBe('ENOSPC: no space left on device');
    expect(errorText(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }))).toBe('EIO: i/o error');
    expect(errorText(new Error('plain'))).toBe('plain');
    expect(errorText('text')).toBe('text');
  });
});

describe('file journal read index', () => {
  const at = (seq: number): { seq: number; hash: string } => ({ seq, hash: `h${seq}` });

  it('follows lines committed at its frontier, keeps a checkpoint every 1024 events, and starts a read at the last one before fromSeq', () => {
    const index = new ReadIndex();
    const n = CHECKPOINT_EVERY * 2 + 10;
    index.committed(0, Array.from({ length: n }, (_, i) => ({ bytes: 10, head: at(i + 1) })));
    expect(index.frontier).toEqual({ offset: n * 10, line: n, prev: at(n) });
    expect(index.startFor(1)).toBe(START);
    expect(index.startFor(CHECKPOINT_EVERY)).toBe(START);
    expect(index.startFor(CHECKPOINT_EVERY + 1)).toEqual({ offset: CHECKPOINT_EVERY * 10, line: CHECKPOINT_EVERY, prev: at(CHECKPOINT_EVERY) });
    expect(index.startFor(n)).toEqual({ offset: CHECKPOINT_EVERY * 20, line: CHECKPOINT_EVERY * 2, prev: at(CHECKPOINT_EVERY * 2) });
  });

  it('does not move for lines past a gap nobody checked', () => {
    const index = new ReadIndex();
    index.committed(100, [{ bytes: 10, head: at(5) }]);
    index.checked(50, 10, 3, at(3));
    expect(index.frontier).toBe(START);
    index.checked(0, 10, 1, at(1));
    expect(index.frontier).toEqual({ offset: 10, line: 1, prev: at(1) });
  });
});
