/**
 * The model of a channel's client for the async tests: commands that run
 * either the synchronous or the async variant of call/set/get, and rst,
 * against the last result and the pending set the synchronous path defines.
 */
import { fc } from '@fast-check/vitest';
import { expect } from 'vitest';
import { VirtFunError } from '../../src/errors.js';
import { ErrorCode, ServiceError, type ChannelClient } from '../../src/dataplane/index.js';
import { hex, u32le, type Outcome } from './helpers.js';

/** What an operation gave: its bytes, a ServiceError's name, or another error's code. */
export type Got = { ok: string } | { service: string } | { thrown: string };

export async function outcome(f: () => Uint8Array | Promise<Uint8Array>): Promise<Got> {
  try {
    return { ok: hex(await f()) };
  } catch (e) {
    if (e instanceof ServiceError) return { service: e.errorName };
    if (e instanceof VirtFunError) return { thrown: e.code };
    throw e;
  }
}

export const expectedOf = (o: Outcome): Got => ('ok' in o ? { ok: hex(o.ok) } : { service: Object.entries(ErrorCode).find(([, v]) => v === o.error)![0] });

export interface Model {
  last: Uint8Array | null;
  pending: Uint8Array | null;
}
export interface Real {
  client: ChannelClient;
  ref: (input: Uint8Array) => Outcome;
}
const settle = (m: Model, o: Outcome): void => {
  m.last = 'ok' in o ? o.ok : null;
};

class CallCmd implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly input: Uint8Array,
    readonly async: boolean,
  ) {}
  check = (m: Readonly<Model>): boolean => m.pending === null;
  async run(m: Model, r: Real): Promise<void> {
    const o = r.ref(this.input);
    expect(await outcome(() => (this.async ? r.client.callAsync(this.input) : r.client.call(this.input)))).toEqual(expectedOf(o));
    settle(m, o);
  }
  toString = (): string => `${this.async ? 'callAsync' : 'call'}(${hex(this.input)})`;
}

class SetCmd implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly input: Uint8Array,
    readonly async: boolean,
  ) {}
  check = (m: Readonly<Model>): boolean => m.pending === null;
  async run(m: Model, r: Real): Promise<void> {
    if (this.async) await r.client.setAsync(this.input);
    else r.client.set(this.input);
    m.pending = this.input;
  }
  toString = (): string => `${this.async ? 'setAsync' : 'set'}(${hex(this.input)})`;
}

class GetCmd implements fc.AsyncCommand<Model, Real> {
  constructor(readonly async: boolean) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    const got = await outcome(() => (this.async ? r.client.getAsync() : r.client.get()));
    if (m.pending !== null) {
      const o = r.ref(m.pending);
      m.pending = null;
      expect(got).toEqual(expectedOf(o));
      settle(m, o);
    } else {
      expect(got).toEqual(m.last !== null ? { ok: hex(m.last) } : { service: 'NO_RESULT' });
    }
  }
  toString = (): string => (this.async ? 'getAsync()' : 'get()');
}

class RstCmd implements fc.AsyncCommand<Model, Real> {
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    r.client.rst();
    m.last = null;
    m.pending = null;
    return Promise.resolve();
  }
  toString = (): string => 'rst()';
}

/** Inputs of factorial: mostly numbers, some of the wrong size (BAD_INPUT). */
export const factorialInput = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 120 }).map(u32le) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 9 }).filter((b) => b.byteLength !== 4) }, // BAD_INPUT
);

/** Sequences of sync/async call, set, get and rst over `input`. */
export const mixedCommands = (input: fc.Arbitrary<Uint8Array>) =>
  fc.commands(
  [
    fc.tuple(input, fc.boolean()).map(([i, a]) => new CallCmd(i, a)),
    fc.tuple(input, fc.boolean()).map(([i, a]) => new SetCmd(i, a)),
    fc.boolean().map((a) => new GetCmd(a)),
    fc.constant(new RstCmd()),
  ],
  { maxCommands: 30 },
);

