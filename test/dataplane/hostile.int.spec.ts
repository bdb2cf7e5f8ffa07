/**
 * The test acts as an adversarial client: it writes generated garbage straight
 * into dataout (whole area incl. header and control words, lengths past
 * capacity, unknown commands, seq jumps, torn writes where the payload
 * changes after the request word). The service must answer ERROR with the
 * right code whenever the request word changed, ignore it when it did not,
 * count every answer, never crash; afterwards a well-formed client that
 * resyncs gets correct results.
 */
import { fc, test } from '@fast-check/vitest';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import {
  areaBytes,
  Command,
  ERROR_NAMES,
  ErrorCode,
  HEADER_BYTES,
  I32,
  IN,
  nextSeq,
  OUT,
  packWord,
  SEQ_MASK,
  Status,
  wordLow4,
  wordSeq,
  type ErrorName,
} from '../../src/dataplane/index.js';
import { hex, openChannel, u32le, type Channel } from './helpers.js';
import { countOf } from '../../src/dataplane/latency-histogram.js';

/** The value `read` settles to within a second (the service times a call just after publishing its answer). */
function settled(read: () => number, expected: number): number {
  const deadline = performance.now() + 1000;
  let v = read();
  while (v !== expected && performance.now() < deadline) v = read();
  return v;
}

const CAPACITY = 64;

type Op =
  | { readonly kind: 'garbage'; readonly bytes: Uint8Array }
  | { readonly kind: 'same-word'; readonly junk: Uint8Array }
  | {
      readonly kind: 'request';
      readonly seqDelta: number;
      readonly cmd: number;
      readonly len: number | null; // null: the payload's length
      readonly payload: Uint8Array;
      readonly torn: Uint8Array | null;
      readonly headerJunk: Uint8Array | null;
    };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.uint8Array({ minLength: areaBytes(CAPACITY), maxLength: areaBytes(CAPACITY) }).map((bytes) => ({ kind: 'garbage' as const, bytes })) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: areaBytes(CAPACITY), maxLength: areaBytes(CAPACITY) }).map((junk) => ({ kind: 'same-word' as const, junk })) },
  {
    weight: 7,
    arbitrary: fc.record({
      kind: fc.constant('request' as const),
      seqDelta: fc.oneof(
        { weight: 5, arbitrary: fc.constant(0) },
        { weight: 2, arbitrary: fc.integer({ min: -3, max: 3 }) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: SEQ_MASK }) },
      ),
      cmd: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(Command.SET, Command.GET, Command.RST) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) }),
      len: fc.oneof(
        { weight: 5, arbitrary: fc.constant(null) },
        { weight: 1, arbitrary: fc.integer({ min: CAPACITY + 1, max: 0xffffffff }) },
        { weight: 1, arbitrary: fc.constantFrom(CAPACITY, CAPACITY + 1, 0xffffffff) },
      ),
      payload: fc.uint8Array({ maxLength: CAPACITY }),
      torn: fc.option(fc.uint8Array({ minLength: 1, maxLength: CAPACITY }), { freq: 4 }),
      headerJunk: fc.option(fc.uint8Array({ minLength: HEADER_BYTES, maxLength: HEADER_BYTES }), { freq: 4 }),
    }),
  },
);

interface Model {
  lastWord: number;
  lastSeq: number;
  result: Uint8Array | null;
  answers: number;
}

describe('hostile dataout', () => {
  let ch: Channel;
  let out: { bytes: Uint8Array; i32: Int32Array; dv: DataView };
  let inn: { bytes: Uint8Array; i32: Int32Array; dv: DataView };
  beforeAll(async () => {
    ch = await openChannel('crc32', CAPACITY, {}, { timeoutMs: 10_000 });
    out = { bytes: new Uint8Array(ch.region.dataout), i32: new Int32Array(ch.region.dataout), dv: new DataView(ch.region.dataout) };
    inn = { bytes: new Uint8Array(ch.region.datain), i32: new Int32Array(ch.region.datain), dv: new DataView(ch.region.datain) };
  });
  afterAll(async () => {
    const stats = await ch.service.stop();
    expect(stats.calls).toBeGreaterThan(0);
  });

  /** Wait until the service has published answer number `calls`, then until the state word is `word`. */
  function awaitAnswer(calls: number, word: number): void {
    const deadline = performance.now() + 5000;
    while ((Atomics.load(inn.i32, I32.calls) >>> 0) < calls || Atomics.load(inn.i32, I32.state) !== word) {
      if (performance.now() > deadline) {
        throw new Error(
          `no answer: calls ${Atomics.load(inn.i32, I32.calls)} (want ${calls}), state seq ${wordSeq(Atomics.load(inn.i32, I32.state))} status ${wordLow4(Atomics.load(inn.i32, I32.state))}, want seq ${wordSeq(word)} status ${wordLow4(word)}`,
        );
      }
    }
  }

  /** Store a request word as a client would (release), waking the service if it sleeps. */
  function storeWord(w: number): void {
    Atomics.store(out.i32, I32.req, w);
    if (Atomics.load(inn.i32, I32.serviceSleeping) === 1) Atomics.notify(out.i32, I32.req);
  }

  function writeAllButWord(bytes: Uint8Array): void {
    out.bytes.set(bytes.subarray(0, OUT.req));
    out.bytes.set(bytes.subarray(OUT.req + 4), OUT.req + 4);
  }

  function apply(op: Op, m: Model): void {
    const before = ch.service.stats(); // before any write: the service may answer at once
    let w: number;
    let torn = false;
    if (op.kind === 'garbage') {
      // Everything but the request word, then the word itself in one atomic store (a byte-wise
      // copy would let the service see, and rightly answer, half-written words).
      writeAllButWord(op.bytes);
      w = new DataView(op.bytes.buffer, op.bytes.byteOffset).getInt32(OUT.req, true);
      storeWord(w);
    } else if (op.kind === 'same-word') {
      w = m.lastWord;
      writeAllButWord(op.junk);
      storeWord(w);
      // nothing to wait for: the next op (or the final check) sees any spurious answer in the counters
      return;
    } else {
      if (op.headerJunk) writeAllButWord(op.headerJunk); // header (incl. capacity) and control lines
      out.bytes.set(op.payload, OUT.payload);
      out.dv.setUint32(OUT.len, op.len ?? op.payload.byteLength, true);
      const seq = (nextSeq(m.lastSeq) + op.seqDelta) & SEQ_MASK;
      w = packWord(seq, op.cmd);
      storeWord(w);
      if (op.torn) {
        out.bytes.set(op.torn, OUT.payload); // torn write: payload changes under the service
        torn = true;
      }
    }
    if (w === m.lastWord) return; // unchanged word: the service must ignore it

    // What the service must answer (model of the validation order).
    const seq = wordSeq(w);
    const cmd = wordLow4(w);
    const expectedSeq = nextSeq(m.lastSeq);
    const len = out.dv.getUint32(OUT.len, true);
    const payload = out.bytes.slice(OUT.payload, OUT.payload + Math.min(len, CAPACITY));
    m.lastWord = w;
    m.lastSeq = seq;
    let code: number = ErrorCode.NONE;
    if (seq !== expectedSeq) code = ErrorCode.BAD_SEQ;
    else if (cmd !== Command.SET && cmd !== Command.GET && cmd !== Command.RST) code = ErrorCode.BAD_COMMAND;
    else if (len > CAPACITY) code = ErrorCode.BAD_LENGTH;
    else if (cmd === Command.GET && m.result === null) code = ErrorCode.NO_RESULT;

    m.answers++;
    awaitAnswer(before.calls + 1, packWord(seq, code === ErrorCode.NONE ? Status.DONE : Status.ERROR));
    const after = ch.service.stats();
    expect(inn.dv.getUint32(IN.error, true)).toBe(code);
    const outLen = inn.dv.getUint32(IN.len, true);
    expect(outLen).toBeLessThanOrEqual(CAPACITY);
    const result = inn.bytes.slice(IN.payload, IN.payload + outLen);
    if (code !== ErrorCode.NONE) {
      const name = ERROR_NAMES[code] as ErrorName;
      expect(after.errors[name]).toBe(before.errors[name] + 1);
      expect(new TextDecoder().decode(result).length).toBeGreaterThan(0); // a message
      m.result = null;
      return;
    }
    if (cmd === Command.SET) {
      expect(outLen).toBe(4);
      if (!torn) expect(hex(result)).toBe(hex(u32le(crc32(payload))));
      m.result = result;
    } else if (cmd === Command.GET) {
      expect(hex(result)).toBe(hex(m.result!));
    } else {
      expect(outLen).toBe(0);
      m.result = null;
    }
  }

  test.prop([fc.array(opArb, { minLength: 1, maxLength: 25 })], { numRuns: 150 })(
    'the service answers with the right code, counts, survives; a resynced client works after',
    (ops) => {
      const good = ch.client;
      good.resync();
      good.rst();
      const m: Model = {
        lastWord: Atomics.load(out.i32, I32.req),
        lastSeq: good.seq,
        result: null,
        answers: 0,
      };
      const start = ch.service.stats().calls;
      const timed = settled(() => countOf(ch.service.latency()), start);
      for (const op of ops) apply(op, m);

      // A well-formed client resyncs to the service's ack seq and gets correct results.
      expect(good.resync()).toBe(wordSeq(Atomics.load(inn.i32, I32.state)));
      const data = new Uint8Array([1, 2, 3, 4, 5, 6, 7]);
      expect(hex(good.call(data))).toBe(hex(u32le(crc32(data))));
      expect(hex(good.get())).toBe(hex(u32le(crc32(data))));
      // exactly one answer per changed request word, plus the two above
      expect(ch.service.stats().calls).toBe(start + m.answers + 2);
      // and each of them timed in the latency histogram of the control area, which no client reaches
      expect(settled(() => countOf(ch.service.latency()), timed + m.answers + 2)).toBe(timed + m.answers + 2);
    },
  );
});
