/**
 * The service protocol machine as the oracle of the real service. A service
 * runs in another process (test/dataplane/fixtures/oracle-service-proc.ts) on
 * a region file mapped by both; this test writes generated request words
 * straight into dataout (set, get, rst and garbage commands, right and wrong
 * seqs, lengths past the capacity, inputs that make the scripted driver
 * refuse, fault, return a bad length, crash its worker, or fail its next
 * reset), restarts the service now and then (sometimes with a word written
 * while no service ran), and after every step compares
 * what the service published in datain (state word, error code, result
 * length and bytes, counters) with what `serviceProtocolMachine` predicts
 * through the pure `transition()`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { initialTransition, transition, type SnapshotFrom } from 'xstate';
import { Command, ERROR_NAMES, IN, OUT, packWord, SEQ_MASK, Status, nextSeq, wordLow4, wordSeq } from '../../src/dataplane/layout.js';
import { mapFileRegion, type MappedRegion } from '../../src/dataplane/region-files.js';
import { I32, payloadView } from '../../src/dataplane/region.js';
import { MAX_ERROR_MESSAGE } from '../../src/dataplane/service.js';
import { requestEvent, serviceProtocolMachine, statusOf, type ServiceProtocolEvent } from '../../src/machines/service-protocol.js';
import { LineProcess } from '../support/line-process.js';
import { SCRIPT } from './fixtures/test-drivers.js';
import { hex } from './helpers.js';

const CAPACITY = 64;
type Snapshot = SnapshotFrom<typeof serviceProtocolMachine>;

/** One step of a run: a request word written into dataout, or a restart of the service. */
type Step =
  | {
      readonly kind: 'word';
      /** next: nextSeq of the service's last seq; same: that seq again (a rewrite, or a stale seq); jump: any seq. */
      readonly seq: 'next' | 'same' | { readonly jump: number };
      readonly cmd: number;
      /** The payload written; `over`: dataout.len past the capacity, else the payload's length. */
      readonly input: string;
      readonly over?: number;
    }
  /** A restart; `down`: a word written into dataout while no service ran. */
  | { readonly kind: 'restart'; readonly down?: number };

// A crash costs a new service thread (about 0.3 s here): rarer than the other outcomes.
const scriptByte = fc.oneof(
  { arbitrary: fc.constantFrom(SCRIPT.refuse, SCRIPT.fault, SCRIPT.overLength, SCRIPT.fill, SCRIPT.armResetFault, SCRIPT.armResetRefuse), weight: 12 },
  { arbitrary: fc.constantFrom(SCRIPT.crash, SCRIPT.armResetCrash), weight: 1 },
);
const input = fc.oneof(
  { arbitrary: fc.uint8Array({ maxLength: 12 }).map(hex), weight: 5 },
  { arbitrary: fc.tuple(scriptByte, fc.uint8Array({ maxLength: 4 })).map(([b, rest]) => hex(Uint8Array.of(b, ...rest))), weight: 2 },
  { arbitrary: fc.uint8Array({ minLength: CAPACITY, maxLength: CAPACITY }).map(hex), weight: 1 },
);
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 60,
    arbitrary: fc.record(
      {
        kind: fc.constant('word' as const),
        seq: fc.oneof(
          { arbitrary: fc.constant('next' as const), weight: 10 },
          { arbitrary: fc.constant('same' as const), weight: 1 },
          { arbitrary: fc.record({ jump: fc.oneof(fc.constant(SEQ_MASK), fc.nat({ max: SEQ_MASK })) }), weight: 1 },
        ),
        cmd: fc.oneof(
          { arbitrary: fc.constant<number>(Command.SET), weight: 6 },
          { arbitrary: fc.constant<number>(Command.GET), weight: 3 },
          { arbitrary: fc.constant<number>(Command.RST), weight: 2 },
          { arbitrary: fc.constantFrom(0, 4, 5, 9, 15), weight: 1 },
        ),
        input,
        over: fc.oneof(
          { arbitrary: fc.constant(undefined), weight: 12 },
          { arbitrary: fc.integer({ min: CAPACITY + 1, max: 0xffffffff }), weight: 1 },
        ),
      },
      { requiredKeys: ['kind', 'seq', 'cmd', 'input'] },
    ),
  },
  {
    weight: 1,
    arbitrary: fc.record(
      {
        kind: fc.constant('restart' as const),
        down: fc.oneof(fc.constant(0), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.tuple(fc.nat({ max: 3 }), fc.nat({ max: 15 })).map(([s, c]) => packWord(s, c))),
      },
      { requiredKeys: ['kind'] },
    ),
  },
);

/** The scripted driver as its documentation (fixtures/test-drivers.ts SCRIPT) describes it: its outcome per call. */
class ScriptedDriverModel {
  private armed: number | null = null;
  /** What call() does with `bytes`: an event for the machine (or a crash) and the result bytes. */
  call(bytes: Uint8Array): { event: ServiceProtocolEvent | 'crash'; result: Uint8Array } {
    const none = new Uint8Array(0);
    switch (bytes[0]) {
      case SCRIPT.refuse:
        return { event: { type: 'DRIVER_FAILED', refused: true }, result: none };
      case SCRIPT.fault:
        return { event: { type: 'DRIVER_FAILED', refused: false }, result: none };
      case SCRIPT.overLength:
        return { event: { type: 'DRIVER_DONE', len: CAPACITY + 1 }, result: none };
      case SCRIPT.crash:
        return { event: 'crash', result: none };
      case SCRIPT.fill:
        return { event: { type: 'DRIVER_DONE', len: CAPACITY }, result: new Uint8Array(CAPACITY).fill(SCRIPT.fill) };
      case SCRIPT.armResetFault:
      case SCRIPT.armResetRefuse:
      case SCRIPT.armResetCrash:
        this.armed = bytes[0];
    }
    const crc = new Uint8Array(4);
    new DataView(crc.buffer).setUint32(0, crc32(bytes), true);
    return { event: { type: 'DRIVER_DONE', len: 4 }, result: crc };
  }
  reset(): ServiceProtocolEvent | 'crash' {
    const a = this.armed;
    this.armed = null;
    if (a === SCRIPT.armResetFault) return { type: 'DRIVER_FAILED', refused: false };
    if (a === SCRIPT.armResetRefuse) return { type: 'DRIVER_FAILED', refused: true };
    if (a === SCRIPT.armResetCrash) return 'crash';
    return { type: 'DRIVER_DONE', len: 0 };
  }
  /** A restarted service builds a new driver. */
  restarted(): void {
    this.armed = null;
  }
}

/** The test's side of the region: raw words into dataout, datain read as the service published it. */
class RawClient {
  private readonly payloadOut: Uint8Array;
  private readonly payloadIn: Uint8Array;
  constructor(private readonly mapped: MappedRegion) {
    this.payloadOut = payloadView(mapped.areas.dataout, CAPACITY);
    this.payloadIn = payloadView(mapped.areas.datain, CAPACITY);
  }
  get req(): number {
    return Atomics.load(this.mapped.areas.dataout.i32, I32.req);
  }
  write(word: number, len: number, bytes: Uint8Array): void {
    const { dataout, datain, ops } = this.mapped.areas;
    this.payloadOut.set(bytes);
    dataout.dv.setUint32(OUT.len, len >>> 0, true);
    Atomics.store(dataout.i32, I32.req, word);
    if (Atomics.load(datain.i32, I32.serviceSleeping) === 1) ops.notify(dataout.i32, I32.req);
  }
  /**
   * Wait (at most `ms`) until datain shows the answer `want` predicts: its call count and then its
   * state word. The service stores the counters before the state word, so waiting for the count
   * alone can read the previous answer's word (seen once on a loaded machine: a BAD_SEQ answer
   * whose count was published and whose word was not yet).
   */
  awaitAnswer(want: { seq: number; status: number; calls: number }, ms: number): void {
    const { dataout, datain, ops } = this.mapped.areas;
    const wantWord = packWord(want.seq, want.status);
    const deadline = performance.now() + ms;
    Atomics.store(dataout.i32, I32.clientSleeping, 1);
    try {
      for (;;) {
        const w = Atomics.load(datain.i32, I32.state);
        const answered = w >>> 0 === wantWord >>> 0 && Atomics.load(datain.i32, I32.calls) >>> 0 === want.calls;
        const left = deadline - performance.now();
        if (answered || left <= 0) return;
        ops.wait(datain.i32, I32.state, w, Math.min(left, 20));
      }
    } finally {
      Atomics.store(dataout.i32, I32.clientSleeping, 0);
    }
  }
  published() {
    const { datain } = this.mapped.areas;
    const w = Atomics.load(datain.i32, I32.state);
    const len = datain.dv.getUint32(IN.len, true);
    return {
      seq: wordSeq(w),
      status: wordLow4(w),
      error: datain.dv.getUint32(IN.error, true),
      len,
      calls: Atomics.load(datain.i32, I32.calls) >>> 0,
      errorCounts: Array.from({ length: 8 }, (_, i) => Atomics.load(datain.i32, I32.errorCounts + i) >>> 0),
      bytes: this.payloadIn.slice(0, Math.min(len, CAPACITY)),
    };
  }
}

const STATUS_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(Status).map(([k, v]) => [v, k]));
const describeStatus = (s: { seq: number; status: number; error: number }): string =>
  `${STATUS_NAMES[s.status] ?? s.status} seq ${s.seq}${s.status === Status.ERROR ? ` ${ERROR_NAMES[s.error] ?? s.error}` : ''}`;

/** What the service published equals what the machine predicts (result bytes: those of the held result). */
function expectAgreement(client: RawClient, snap: Snapshot, result: Uint8Array, at: string): void {
  const want = statusOf(snap);
  const got = client.published();
  const where = `${at}: the machine (${String(snap.value)}) predicts ${describeStatus(want)}, the service published ${describeStatus(got)}`;
  expect({ seq: got.seq, status: got.status, calls: got.calls, errorCounts: got.errorCounts }, where).toEqual({
    seq: want.seq,
    status: want.status,
    calls: want.calls,
    errorCounts: want.errorCounts,
  });
  if (want.status === Status.DONE) {
    expect(got.len, `${where}: datain.len`).toBe(want.len);
    expect(hex(got.bytes), `${where}: result bytes`).toBe(hex(result.subarray(0, want.len ?? 0)));
  } else if (want.status === Status.ERROR) {
    expect(got.error, `${where}: datain.error`).toBe(want.error);
    expect(got.len, `${where}: error message length`).toBeLessThanOrEqual(Math.min(MAX_ERROR_MESSAGE, CAPACITY));
  }
}

let root: string;
let host: LineProcess;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'vfun-oracle-'));
  host = new LineProcess(new URL('./fixtures/oracle-service-proc.ts', import.meta.url), [root, String(CAPACITY)]);
  await host.ready;
});
afterAll(async () => {
  await host?.close();
  await rm(root, { recursive: true, force: true });
});

/** Longest wait for an answer the machine predicts. */
const ANSWER_MS = 3000;
/** How long a word the service must not hear is given to be (wrongly) answered. */
const UNHEARD_MS = 10;

describe('service protocol machine as the oracle of the service', () => {
  test.prop([fc.array(step, { minLength: 1, maxLength: 50, size: 'max' })], { numRuns: 60 })(
    'a service in another process publishes, after every step, what the machine predicts',
    async (steps) => {
      const paths = await host.request<{ dataout: string; datain: string }>({ op: 'open' });
      const mapped = mapFileRegion({ capacity: CAPACITY, dataoutPath: paths.dataout, datainPath: paths.datain }, 'client');
      const client = new RawClient(mapped);
      const driver = new ScriptedDriverModel();
      let [snap] = initialTransition(serviceProtocolMachine, { capacity: CAPACITY });
      /** Bytes of the result the service holds (what a DONE must show). */
      let result: Uint8Array = new Uint8Array(0);
      const restart = async (at: string, down?: number): Promise<void> => {
        if (down !== undefined) {
          await host.request({ op: 'stop' });
          client.write(down, 0, new Uint8Array(0));
        }
        await host.request({ op: 'restart' });
        driver.restarted();
        [snap] = transition(serviceProtocolMachine, snap, { type: 'RESTART', req: client.req });
        expectAgreement(client, snap, result, `${at}, then a restart`);
      };
      try {
        expectAgreement(client, snap, result, 'fresh region');
        for (const [i, s] of steps.entries()) {
          const at = `step ${i} ${JSON.stringify(s)}`;
          if (s.kind === 'restart') {
            await restart(at, s.down);
            continue;
          }
          const last = snap.context.lastSeq;
          const seq = s.seq === 'next' ? nextSeq(last) : s.seq === 'same' ? last : s.seq.jump;
          const bytes = new Uint8Array(Buffer.from(s.input, 'hex'));
          const len = s.over ?? bytes.byteLength;
          const word = packWord(seq, s.cmd);
          client.write(word, len, bytes);
          const before = snap;
          [snap] = transition(serviceProtocolMachine, snap, requestEvent(word, len));
          if (snap === before) {
            // Not a new word: the service must not answer it.
            await new Promise((r) => setTimeout(r, UNHEARD_MS));
            expectAgreement(client, snap, result, `${at} (not heard)`);
            continue;
          }
          if (snap.matches('busy') || snap.matches('resetting')) {
            const outcome = snap.matches('busy') ? driver.call(bytes.subarray(0, len)) : { event: driver.reset(), result: new Uint8Array(0) };
            if (outcome.event === 'crash') {
              const exit = await host.request<{ exitCode: number }>({ op: 'exited' });
              expect(exit, `${at}: the scripted driver ends its worker`).toMatchObject({ exitCode: 9 });
              expectAgreement(client, snap, result, `${at} (crashed)`);
              await restart(at);
              continue;
            }
            [snap] = transition(serviceProtocolMachine, snap, outcome.event);
            if (snap.matches('done') && snap.context.hasResult) result = outcome.result;
          }
          client.awaitAnswer(statusOf(snap), ANSWER_MS);
          expectAgreement(client, snap, result, at);
        }
      } finally {
        mapped.unmap();
      }
    },
    // 5-14 s on a quiet or moderately busy 2-core machine; a minute or more when the rest of the int
    // tier and other jobs compete for the cores (each restart starts a worker, each step waits for a
    // process that spins for its core).
    300_000,
  );
});
