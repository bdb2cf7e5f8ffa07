/**
 * A recorded trace (traces.ts) checked against the service protocol machine
 * (src/machines/service-protocol.ts) before `replay-trace` uses it. Each call
 * is a SET the guest sent (set_us) and whose answer it collected (get_us); the
 * service took it (busy_us: the driver started) and finished it (done_us). The
 * four moments of every call, in time order, are replayed as the protocol's
 * events: the service's through the machine, the guest's as checks of what
 * the machine says the service had published by then. A trace that breaks the
 * protocol (done before busy, get before set, a request sent before the
 * previous answer was collected, an answer collected before the service gave
 * it, a DONE the service never computed) is refused with a ValidationError
 * naming the call and what broke.
 *
 * Guest and service times come from two processes' clocks, which agree to
 * within a constant offset (`performance.timeOrigin` is taken once per
 * process). Orders across the two processes are checked up to one such
 * offset, estimated from the trace, and to within the precision of the
 * recorded times (`resolution`): the trace is refused only when no single
 * offset makes them consistent. Orders within one process are exact.
 */
import { initialTransition, type SnapshotFrom } from 'xstate';
import { pureStep } from '../machines/pure-step.js';
import { ValidationError } from '../errors.js';
import { Command, ERROR_NAMES, nextSeq, packWord, Status, wordSeq } from '../dataplane/layout.js';
import { requestEvent, serviceProtocolMachine, statusOf, type ServiceProtocolEvent } from '../machines/service-protocol.js';
import type { TraceCall, TraceHeader } from './traces.js';

type Snapshot = SnapshotFrom<typeof serviceProtocolMachine>;

/** The four moments of a call, in protocol order (the order of equal times). */
const MOMENTS = ['send', 'take', 'finish', 'collect'] as const;
type Moment = (typeof MOMENTS)[number];

interface TimedMoment {
  /** On the guest's clock, µs. */
  readonly at: number;
  readonly call: number;
  readonly moment: Moment;
}

/** The protocol machine's transition (XState's, with one inert scope: machines/pure-step.ts). */
const protocolStep = pureStep(serviceProtocolMachine, {});

const r3 = (x: number): number => Math.round(x * 1000) / 1000;
const STATUS_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(Status).map(([k, v]) => [v, k]));

/** The error for call `i` of trace `source`. */
function refusal(source: string, i: number, what: string): ValidationError {
  return new ValidationError('trace', `${source}: call ${i}: ${what}`);
}

/** Format checks of each call line: types, index, the service's times both present or both absent. */
function checkFields(source: string, header: TraceHeader, calls: readonly TraceCall[]): void {
  const bad = (i: number, what: string): never => {
    throw refusal(source, i, what);
  };
  if (header.calls !== calls.length) throw new ValidationError('trace', `${source}: the header announces ${header.calls} calls, the file has ${calls.length}`);
  calls.forEach((c, i) => {
    if (c.i !== i) bad(i, `line ${i + 2} has i ${String(c.i)}, expected ${i} (calls in order, from 0)`);
    for (const k of ['set_us', 'get_us'] as const) if (typeof c[k] !== 'number' || !Number.isFinite(c[k])) bad(i, `${k} is ${String(c[k])}, not a number`);
    for (const k of ['busy_us', 'done_us'] as const) if (c[k] !== null && (typeof c[k] !== 'number' || !Number.isFinite(c[k]))) bad(i, `${k} is ${String(c[k])}, not a number or null`);
    if ((c.busy_us === null) !== (c.done_us === null)) bad(i, `busy_us is ${String(c.busy_us)} and done_us ${String(c.done_us)}: the service records both or neither`);
    for (const k of ['in_bytes', 'out_bytes'] as const) if (!Number.isInteger(c[k]) || c[k] < 0) bad(i, `${k} is ${String(c[k])}, not a byte count`);
    if (c.status !== 'DONE' && c.status !== 'ERROR') bad(i, `status is ${String(c.status)}, not DONE or ERROR`);
  });
}

/**
 * How finely the times of a trace were recorded, µs: times are ms since the
 * epoch in doubles (traces.ts), exact to one unit in the last place, which at
 * today's dates is 2^-12 ms (0.24 µs).
 */
export function resolution(header: TraceHeader, calls: readonly TraceCall[]): number {
  const lastMs = Math.abs(header.t0_ms) + Math.max(0, ...calls.map((c) => c.get_us)) / 1000;
  return lastMs === 0 ? 0 : 2 ** (Math.floor(Math.log2(lastMs)) - 52) * 1000;
}

/**
 * The offset of the service's clock from the guest's (µs, service - guest) that
 * orders set <= busy and done <= get, to within `slack`, in as many calls as
 * possible: each call allows the offsets [done - get - slack, busy - set +
 * slack]; the middle of the stretch most calls allow is taken (every call's,
 * when one offset fits them all). The calls it does not fit are then refused.
 */
export function clockOffset(calls: readonly TraceCall[], slack = 0): number {
  const edges: { x: number; d: 1 | -1 }[] = [];
  for (const c of calls) {
    if (c.busy_us === null || c.done_us === null) continue;
    const lo = c.done_us - c.get_us - slack;
    const hi = c.busy_us - c.set_us + slack;
    if (lo <= hi) edges.push({ x: lo, d: 1 }, { x: hi, d: -1 });
  }
  if (edges.length === 0) return 0;
  edges.sort((a, b) => a.x - b.x || b.d - a.d); // at equal offsets, openings first: the spans are closed
  let open = 0;
  let best = -1;
  let from = 0;
  let to = 0;
  for (const [k, e] of edges.entries()) {
    open += e.d;
    if (e.d === 1 && open > best) {
      best = open;
      from = e.x;
      to = edges[k + 1]!.x; // an opening is always followed by an edge (its own closing at least)
    }
  }
  return (from + to) / 2;
}

/** Which moments a pass replays, and how it moves the service's times onto the guest's clock. */
interface Pass {
  readonly guest: boolean;
  readonly service: boolean;
  /** Service minus guest clock, µs: subtracted from the service's times (0 when only one side is replayed). */
  readonly offset: number;
  /** With both sides: how far a service time may cross its own call's set or get (the times' resolution). */
  readonly slack: number;
}

/** The moments of a pass in time order (equal times: call order, then protocol order). */
function momentsOf(calls: readonly TraceCall[], pass: Pass): TimedMoment[] {
  const out: TimedMoment[] = [];
  let lastService = -Infinity;
  for (const [call, c] of calls.entries()) {
    if (pass.guest) out.push({ at: c.set_us, call, moment: 'send' }, { at: c.get_us, call, moment: 'collect' });
    if (!pass.service) continue;
    if (c.busy_us !== null && c.done_us !== null) {
      let take = r3(c.busy_us - pass.offset);
      let finish = r3(c.done_us - pass.offset);
      if (pass.guest) {
        // Within the resolution of the times, a service time just across its own call's set or get
        // is taken as on it (and a done that was not before its busy stays not before it).
        const inOrder = finish >= take;
        if (take < c.set_us && take >= c.set_us - pass.slack) take = c.set_us;
        if (finish > c.get_us && finish <= c.get_us + pass.slack) finish = c.get_us;
        if (inOrder) finish = Math.max(finish, take);
      }
      out.push({ at: take, call, moment: 'take' }, { at: finish, call, moment: 'finish' });
      lastService = Math.max(lastService, c.done_us - pass.offset);
    } else {
      // Not recorded: on the guest's clock, taken as sent and answered as collected; on the service's alone, after the call before.
      out.push({ at: pass.guest ? c.set_us : lastService, call, moment: 'take' }, { at: pass.guest ? c.get_us : lastService, call, moment: 'finish' });
    }
  }
  return out.sort((a, b) => a.at - b.at || a.call - b.call || MOMENTS.indexOf(a.moment) - MOMENTS.indexOf(b.moment));
}

/**
 * Check every call of a trace against the service protocol; throws a
 * ValidationError (field `trace`) naming `source`, the first call that breaks
 * it and how. When the times of one process are out of order, that process's
 * moments are replayed alone on its own clock: the service's through the
 * machine (its status sequence: busy, then done or error, one call at a time),
 * the guest's through its one-request-at-a-time rule. Then all moments, on the
 * guest's clock, go through both.
 */
export function checkTrace(header: TraceHeader, calls: readonly TraceCall[], source = 'trace'): void {
  checkFields(source, header, calls);
  const timed = calls.some((c) => c.busy_us !== null);
  const untimedDone = timed ? calls.find((c) => c.busy_us === null && c.status === 'DONE') : undefined;
  if (untimedDone !== undefined) {
    throw refusal(source, untimedDone.i, `DONE without the service's busy_us/done_us while other calls have them: the service answers DONE only to a SET it computed`);
  }
  const run = (pass: Pass): void => new TraceFold(source, calls, pass).run(momentsOf(calls, pass));
  // A break within one process is replayed on that process's clock alone first: named as such,
  // whatever the clock offset (and never hidden by the resolution the joint pass allows).
  if (!inOrderWithinEachProcess(calls)) {
    run({ guest: false, service: timed, offset: 0, slack: 0 });
    run({ guest: true, service: false, offset: 0, slack: 0 });
  }
  const slack = resolution(header, calls);
  run({ guest: true, service: true, offset: clockOffset(calls, slack), slack });
}

/** set <= get <= next set (the guest), busy <= done <= next busy (the service): what the single-clock passes replay. */
function inOrderWithinEachProcess(calls: readonly TraceCall[]): boolean {
  let lastGet = -Infinity;
  let lastDone = -Infinity;
  for (const c of calls) {
    if (c.set_us < lastGet || c.get_us < c.set_us) return false;
    lastGet = c.get_us;
    if (c.busy_us === null || c.done_us === null) continue;
    if (c.busy_us < lastDone || c.done_us < c.busy_us) return false;
    lastDone = c.done_us;
  }
  return true;
}

/** One pass through a trace's moments: the machine for the service, dataout and the call in flight for the guest. */
class TraceFold {
  private snap: Snapshot;
  /** The largest payload the trace shows: a request refused before the driver stands as one past it. */
  private readonly capacity: number;
  /** The call whose request word is in dataout, -1 before the first. */
  private written = -1;
  /** The call sent and not yet collected, or null. */
  private outstanding: number | null = null;

  constructor(
    private readonly source: string,
    private readonly calls: readonly TraceCall[],
    private readonly pass: Pass,
  ) {
    this.capacity = Math.max(1, ...calls.map((c) => Math.max(c.in_bytes, c.out_bytes)));
    [this.snap] = initialTransition(serviceProtocolMachine, { capacity: this.capacity });
  }

  run(moments: readonly TimedMoment[]): void {
    for (const m of moments) this[m.moment](m.call);
  }

  private fail(call: number, what: string): never {
    throw refusal(this.source, call, `breaks the computation protocol: ${what}`);
  }

  /** For orders across the two processes: the clock offset they were checked with. */
  private clockNote(): string {
    return this.pass.offset === 0 ? '' : ` (service clock taken as ${r3(this.pass.offset)} µs off the guest's)`;
  }

  private step(e: ServiceProtocolEvent): Snapshot {
    const before = this.snap;
    this.snap = protocolStep(this.snap, e);
    return before;
  }

  /** Call i has seq i + 1 (only differences matter: the channel's earlier calls are not in the trace). */
  private seq(call: number): number {
    return nextSeq(call);
  }

  private computing(i: number): boolean {
    return this.snap.matches('busy') && this.snap.context.lastSeq === this.seq(i);
  }

  private send(i: number): void {
    const c = this.calls[i]!;
    if (this.outstanding !== null) {
      const p = this.calls[this.outstanding]!;
      this.fail(i, `sent (set_us ${c.set_us}) before the answer to call ${p.i} was collected (get_us ${p.get_us}): one request at a time`);
    }
    this.written = i;
    this.outstanding = i;
  }

  private take(i: number): void {
    const c = this.calls[i]!;
    if (this.pass.guest && this.written !== i) {
      this.fail(i, `the service went busy (busy_us ${String(c.busy_us)}) before the guest sent the request (set_us ${c.set_us})${this.clockNote()}`);
    }
    const refused = c.busy_us === null && c.status === 'ERROR';
    const before = this.step(requestEvent(packWord(this.seq(i), Command.SET), refused ? this.capacity + 1 : c.in_bytes));
    if (refused ? wordSeq(this.snap.context.stateWord) === this.seq(i) : this.computing(i)) return;
    const j = this.snap.context.lastSeq - 1; // the call the service took last
    const p = this.calls[j];
    if (this.snap === before) this.fail(i, `the service went busy (busy_us ${String(c.busy_us)}) while still computing call ${j} (done_us ${String(p?.done_us)})`);
    this.fail(i, `the service went busy (busy_us ${String(c.busy_us)}) before it took call ${i - 1} (busy_us ${String(this.calls[i - 1]?.busy_us)})`);
  }

  private finish(i: number): void {
    const c = this.calls[i]!;
    if (c.busy_us === null) {
      // Not recorded: a SET answered DONE was computed; one answered ERROR was refused when taken.
      if (c.status === 'DONE') this.step({ type: 'DRIVER_DONE', len: c.out_bytes });
      return;
    }
    // Finishing before taking (done_us and busy_us shift by the same offset) is done before busy.
    if (!this.computing(i)) this.fail(i, `done before busy: done_us ${String(c.done_us)} < busy_us ${c.busy_us}`);
    this.step(c.status === 'DONE' ? { type: 'DRIVER_DONE', len: c.out_bytes } : { type: 'DRIVER_FAILED', refused: false });
  }

  private collect(i: number): void {
    const c = this.calls[i]!;
    if (this.outstanding !== i) this.fail(i, `get before set: get_us ${c.get_us} < set_us ${c.set_us}`);
    this.outstanding = null;
    if (!this.pass.service) return;
    const want = packWord(this.seq(i), c.status === 'DONE' ? Status.DONE : Status.ERROR);
    const word = this.snap.context.stateWord;
    if (word === want) return;
    if (word === packWord(this.seq(i), Status.BUSY)) {
      this.fail(i, `the guest collected its answer (get_us ${c.get_us}) before the service finished (done_us ${String(c.done_us)})${this.clockNote()}`);
    }
    if (wordSeq(word) !== this.seq(i) && c.busy_us !== null) {
      this.fail(i, `the guest collected its answer (get_us ${c.get_us}) before the service went busy with it (busy_us ${c.busy_us})${this.clockNote()}`);
    }
    const p = statusOf(this.snap);
    const got = p.status === Status.ERROR ? `ERROR ${ERROR_NAMES[p.error] ?? p.error}` : (STATUS_NAMES[p.status] ?? String(p.status));
    this.fail(i, `recorded ${c.status}, but by get_us ${c.get_us} the service had published ${got} for seq ${p.seq}, not ${c.status} for seq ${this.seq(i)}${this.clockNote()}`);
  }
}
