/**
 * Model-based property: random sequences of set/get/rst/call/callInto with
 * random inputs, through a real service worker, give what calling the driver
 * directly gives. Model: the last successful result, forgotten by rst and by
 * any ERROR answer; get() without a pending set re-delivers it (or NO_RESULT).
 */
import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { MAX_N } from '../../src/drivers/software.js';
import { ValidationError } from '../../src/errors.js';
import { ErrorCode, type ChannelClient } from '../../src/dataplane/index.js';
import { expectOutcome, expectServiceError, hex, openChannel, reference, u32le, type Channel, type Outcome } from './helpers.js';

const CAPACITY = 128;

interface Model {
  last: Uint8Array | null;
  pending: Uint8Array | null;
}
interface Real {
  client: ChannelClient;
  ref: (input: Uint8Array) => Outcome;
}

const settle = (m: Model, o: Outcome): void => {
  m.last = 'ok' in o ? o.ok : null;
};

class CallCmd implements fc.Command<Model, Real> {
  constructor(
    readonly input: Uint8Array,
    readonly into: boolean,
  ) {}
  check = (m: Readonly<Model>): boolean => m.pending === null;
  run(m: Model, r: Real): void {
    if (this.input.byteLength > CAPACITY) {
      expect(() => r.client.call(this.input)).toThrow(ValidationError); // refused client-side, nothing sent
      return;
    }
    const o = r.ref(this.input);
    if (this.into) {
      const out = new Uint8Array(CAPACITY);
      expectOutcome(() => out.slice(0, r.client.callInto(this.input, out)), o);
    } else {
      expectOutcome(() => r.client.call(this.input), o);
    }
    settle(m, o);
  }
  toString = (): string => `${this.into ? 'callInto' : 'call'}(${hex(this.input)})`;
}

class SetCmd implements fc.Command<Model, Real> {
  constructor(readonly input: Uint8Array) {}
  check = (m: Readonly<Model>): boolean => m.pending === null && this.input.byteLength <= CAPACITY;
  run(m: Model, r: Real): void {
    r.client.set(this.input);
    m.pending = this.input;
  }
  toString = (): string => `set(${hex(this.input)})`;
}

class GetCmd implements fc.Command<Model, Real> {
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    if (m.pending !== null) {
      const o = r.ref(m.pending);
      m.pending = null;
      expectOutcome(() => r.client.get(), o);
      settle(m, o);
    } else if (m.last !== null) {
      expect(hex(r.client.get())).toBe(hex(m.last));
    } else {
      expectServiceError(() => r.client.get(), ErrorCode.NO_RESULT);
    }
  }
  toString = (): string => 'get()';
}

class RstCmd implements fc.Command<Model, Real> {
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    r.client.rst();
    m.last = null;
    m.pending = null;
  }
  toString = (): string => 'rst()';
}

const numberInput = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 120 }).map(u32le) },
  { weight: 1, arbitrary: fc.constantFrom(MAX_N, MAX_N + 1, 0xffffffff).map(u32le) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 9 }).filter((b) => b.byteLength !== 4) }, // BAD_INPUT
);
const bytesInput = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: CAPACITY }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: CAPACITY + 1, maxLength: CAPACITY + 8 }) }, // too long
);

function commands(input: fc.Arbitrary<Uint8Array>) {
  return fc.commands(
    [
      fc.tuple(input, fc.boolean()).map(([i, into]) => new CallCmd(i, into)),
      input.map((i) => new SetCmd(i)),
      fc.constant(new GetCmd()),
      fc.constant(new RstCmd()),
    ],
    { maxCommands: 40 },
  );
}

const cases: [string, fc.Arbitrary<Uint8Array>][] = [
  ['crc32', bytesInput],
  ['sha256', bytesInput],
  ['factorial', numberInput],
  ['fibonacci', numberInput],
];

describe.each(cases)('channel model: %s', (driver, input) => {
  let ch: Channel;
  let ref: (input: Uint8Array) => Outcome;
  beforeAll(async () => {
    ch = await openChannel(driver, CAPACITY, {}, { timeoutMs: 10_000 });
    ref = reference(driver, CAPACITY);
  });
  afterAll(async () => {
    await ch.service.stop();
  });

  test.prop([commands(input)], { numRuns: 60 })('behaves as the driver called directly', (cmds) => {
    ch.client.rst(); // each run starts from a known state: no result, no pending set
    fc.modelRun(() => ({ model: { last: null, pending: null }, real: { client: ch.client, ref } }), cmds);
  });
});
