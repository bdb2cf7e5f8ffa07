/**
 * Which host wrote a journal: the writer's check of the last envelope, the
 * readers' check of every envelope (one host, or a previous name before it),
 * and the file journal URL's parameters.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { JournalHostError, VirtFunError } from '../../src/errors.js';
import { checkHosts, initialHostCheck, stepHostCheck, writerHostFault, type HostPolicy } from '../../src/events/host-check.js';
import { parseFileJournalUrl, parseSize } from '../../src/events/adapters/file/url.js';
import type { Envelope } from '../../src/events/envelope.js';

const stamp = (seq: number, host: string) => ({ seq, id: `e${seq}`, host });

describe('reader host check', () => {
  const hostArb = fc.constantFrom('new', 'old', 'other');
  test.prop([fc.array(hostArb, { maxLength: 30 }), fc.boolean()])(
    'a sequence passes iff it is old* new* (old only when previousHost is old); otherwise the error names the first seq that breaks it',
    (hosts, renamed) => {
      const policy: HostPolicy = renamed ? { host: 'new', previousHost: 'old' } : { host: 'new' };
      let state = initialHostCheck;
      let failedAt: number | null = null;
      for (const [i, host] of hosts.entries()) {
        const step = stepHostCheck(state, stamp(i + 1, host), policy);
        if (step.error !== null) {
          failedAt = i + 1;
          expect(step.error).toBeInstanceOf(JournalHostError);
          expect(step.error.seq).toBe(i + 1);
          expect(step.error.message).toMatch(new RegExp(`^seq ${i + 1} \\(event e${i + 1}\\) was written by host '${host}'`));
          break;
        }
        state = step.state;
      }
      // The model: the longest prefix of the form old* new*.
      let k = 0;
      if (renamed) while (k < hosts.length && hosts[k] === 'old') k++;
      while (k < hosts.length && hosts[k] === 'new') k++;
      expect(failedAt).toBe(k === hosts.length ? null : k + 1);
    },
  );

  test('checkHosts passes a good stream through and throws at the first envelope of another host', async () => {
    async function* source(): AsyncGenerator<Envelope> {
      for (const [i, host] of ['a', 'a', 'b', 'a'].entries()) yield stamp(i + 1, host) as Envelope;
    }
    const seen: number[] = [];
    const run = async () => {
      for await (const e of checkHosts(source(), { host: 'a' })) seen.push(e.seq);
    };
    await expect(run()).rejects.toThrow(/^seq 3 \(event e3\) was written by host 'b', not 'a'/);
    expect(seen).toEqual([1, 2]);
  });
});

describe('writer host check', () => {
  test('the last envelope must be this host\'s, or its previous name\'s when it was renamed', () => {
    expect(writerHostFault(null, { host: 'a' })).toBeNull();
    expect(writerHostFault(stamp(7, 'a'), { host: 'a' })).toBeNull();
    expect(writerHostFault(stamp(7, 'old'), { host: 'a', previousHost: 'old' })).toBeNull();
    const refused = writerHostFault(stamp(7, 'b'), { host: 'a' });
    expect(refused).toBeInstanceOf(JournalHostError);
    expect(refused?.seq).toBe(7);
    expect(refused?.message).toMatch(/its last event, seq 7 \(event e7\), was written by host 'b', not this host 'a'.*previousHost=b in the journal URL/);
    expect(writerHostFault(stamp(7, 'b'), { host: 'a', previousHost: 'old' })?.message).toMatch(/\(nor 'old', its name before\)/);
  });
});

describe('file journal URL', () => {
  test('path, host, previousHost and segment size; unknown or empty parameters are refused', () => {
    expect(parseFileJournalUrl('nats://x')).toBeNull();
    expect(parseFileJournalUrl('file:/var/j.ndjson')).toEqual({ path: '/var/j.ndjson' });
    expect(parseFileJournalUrl('file:///var/j.ndjson?host=n1&previousHost=n0&segment=8MiB')).toEqual({
      path: '/var/j.ndjson',
      host: 'n1',
      previousHost: 'n0',
      segmentBytes: 8 << 20,
    });
    expect(() => parseFileJournalUrl('file:/j?segments=1')).toThrow(/unknown parameter 'segments'/);
    expect(() => parseFileJournalUrl('file:/j?host=')).toThrow(/host is empty/);
    expect(() => parseFileJournalUrl('file:/j?segment=lots')).toThrow(VirtFunError);
  });

  test.prop([fc.integer({ min: 1, max: 1 << 20 }), fc.constantFrom(['', 1], ['B', 1], ['KiB', 1024], ['MiB', 1 << 20], ['GiB', 1 << 30])])('sizes with units', (n, [unit, factor]) => {
    expect(parseSize(`${n}${unit as string}`)).toBe(n * (factor as number));
  });

  test('not sizes', () => {
    for (const bad of ['', '0', '-1', '1.5MiB', '1 MiB', '1mib', '1TB', `${2 ** 60}GiB`]) expect(parseSize(bad), bad).toBeNull();
  });
});
