/**
 * Bounded waits of the JetStream adapter leave no timer behind (support.ts
 * `within`, the trace sink's close): a `vfun` command that closed its journal
 * exits at once instead of when a forgotten bound fires. On a fake clock.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { within } from '../../src/events/adapters/jetstream/support.js';
import { TraceSink } from '../../src/events/adapters/jetstream/trace-sink.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('within', () => {
  test('a promise that settles first: true, and its timer is cleared', async () => {
    await expect(within(Promise.resolve('x'), 60_000)).resolves.toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  test('a promise that does not settle: false once the time is up, not before', async () => {
    let settled: boolean | null = null;
    void within(new Promise(() => undefined), 1000).then((v) => (settled = v));
    await vi.advanceTimersByTimeAsync(999);
    expect(settled).toBe(null);
    await vi.advanceTimersByTimeAsync(1);
    expect(settled).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  test('a rejection passes through, and the timer is cleared', async () => {
    await expect(within(Promise.reject(new Error('boom')), 60_000)).rejects.toThrow('boom');
    expect(vi.getTimerCount()).toBe(0);
  });
});

/** A JetStream client whose publishes resolve (or never settle, `hang`), counted. */
function fakeJs(hang = false): { js: JetStreamClient; published: string[] } {
  const published: string[] = [];
  const js = {
    publish: (subject: string) => {
      published.push(subject);
      return hang ? new Promise(() => undefined) : Promise.resolve({ stream: 'VFUN_TRACE', seq: published.length, duplicate: false });
    },
  } as unknown as JetStreamClient;
  return { js, published };
}

describe('TraceSink.close', () => {
  test('with nothing pushed: returns at once and leaves no timer', async () => {
    const sink = new TraceSink(fakeJs().js, { host: 'h1', stream: 'VFUN_TRACE', ackTimeoutMs: 2000 });
    await sink.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  test('with records pushed: publishes them, returns once acknowledged, and leaves no timer', async () => {
    const { js, published } = fakeJs();
    const sink = new TraceSink(js, { host: 'h1', stream: 'VFUN_TRACE', ackTimeoutMs: 2000 });
    sink.push({ tenant: 'acme', app: 'a', fn: 'f', ns: 1 });
    sink.push({ tenant: 'acme', app: 'a', fn: 'f', ns: 2 });
    await sink.close();
    expect(published).toEqual(['vfun.trace.h1.acme.a.f']);
    expect(sink.stats).toMatchObject({ pushed: 2, published: 2, buffered: 0 });
    expect(vi.getTimerCount()).toBe(0);
  });

  test('a publish never acknowledged: close gives up after twice the ack timeout, not before', async () => {
    const sink = new TraceSink(fakeJs(true).js, { host: 'h1', stream: 'VFUN_TRACE', ackTimeoutMs: 2000 });
    sink.push({ tenant: 'acme', app: 'a', fn: 'f' });
    let closed = false;
    void sink.close().then(() => (closed = true));
    await vi.advanceTimersByTimeAsync(3999);
    expect(closed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(closed).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });
});
