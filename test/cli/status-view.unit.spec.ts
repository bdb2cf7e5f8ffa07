/**
 * `vfun status` as text (src/cli/status-view.ts): a HostStatus built from a folded vFunD state
 * (capacityOf, instancesOf) rendered at terminal widths; every line fits, 120 columns included,
 * names are cut with an ellipsis, numbers never, and narrow terminals lose the least needed columns.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { decide } from '../../src/actors/decide.js';
import { fold } from '../../src/actors/evolve.js';
import { initialState, type VFunDState } from '../../src/actors/state.js';
import type { VFunDCommand } from '../../src/actors/commands.js';
import { capacityOf, instancesOf, type HostStatus } from '../../src/daemon/status.js';
import { histogramOf } from '../../src/dataplane/latency-histogram.js';
import { fitTable, renderStatus, withoutCredentials } from '../../src/cli/status-view.js';
import { humanDuration, humanNs, truncate } from '../../src/cli/human.js';
import { SECRETS, testSnapshot } from '../actors/helpers.js';

function run(commands: VFunDCommand[], from: VFunDState = initialState): VFunDState {
  let s = from;
  for (const c of commands) s = fold(decide(c, s), s);
  return s;
}

const LONG_APP = 'an-application-name-far-too-long-for-any-column-of-a-terminal';
const creds = (tenant: keyof typeof SECRETS) => ({ tenant, credential: SECRETS[tenant] });

/** t1 holds fsw in computation (app `billing`) and fhw/hw waiting for activation; t2 holds fhw/sw with a long app name. */
function folded(): VFunDState {
  return run([
    { type: 'start', id: 'c0', host: 'h', config: testSnapshot },
    { type: 'negotiate', id: 'c1', ...creds('t1'), app: 'billing', fn: 'fsw', kind: 'sw' },
    { type: 'activate', id: 'c2', ...creds('t1'), instance: 'i1' },
    { type: 'activation-result', id: 'c3', instance: 'i1', ok: true, detail: '' },
    { type: 'negotiate', id: 'c4', ...creds('t1'), app: 'billing', fn: 'fhw', kind: 'hw' },
    { type: 'negotiate', id: 'c5', ...creds('t2'), app: LONG_APP, fn: 'fhw', kind: 'sw' },
  ]);
}

const latency = histogramOf([...Array.from({ length: 98 }, () => 1_500), 40_000, 2_000_000]);

function hostStatus(over: Partial<HostStatus> = {}, calls = 123_456): HostStatus {
  const state = folded();
  const instances = instancesOf(state, (id) =>
    id === 'i1'
      ? { calls, errors: 2, latency, servicePid: 4242, guest: { pid: 1234, uid: 1000 }, ageMs: 184_000 }
      : { calls: 0, errors: 0, latency: null, servicePid: null, guest: null, ageMs: 1_500 },
  );
  return {
    host: 'node-a.example',
    pid: 999,
    version: '0.1.0',
    startedAt: '2025-03-01T10:00:00.000Z',
    uptimeMs: 3 * 3_600_000 + 4 * 60_000,
    accepting: true,
    instances,
    ...capacityOf({ ...state, admin: { ...state.admin, disabledTenants: ['t3'], drainingTenants: ['t2'] } }),
    totals: [
      { tenant: 't1', fn: 'fsw', kind: 'sw', calls: calls + 10, errors: 2, latency },
      { tenant: 't2', fn: 'fhw', kind: 'sw', calls: 0, errors: 0, latency: null },
    ],
    journal: {
      backend: 'nats',
      url: 'nats://admin:s3cret@127.0.0.1:4222?stream=VFUN',
      head: 812,
      available: true,
      outboxDepth: 0,
      lastCheckpoint: { seq: 800, size: 800, at: '2025-03-01T12:59:00.000Z' },
    },
    ...over,
  };
}

const lines = (s: string): string[] => s.split('\n');
const widest = (s: string): number => Math.max(...lines(s).map((l) => [...l].length));

describe('renderStatus', () => {
  it('a header, the instances with p50/p99, slots, tenants (disabled and draining shown) and totals, in 120 columns', () => {
    const text = renderStatus(hostStatus(), { width: 120 });
    expect(widest(text)).toBeLessThanOrEqual(120);
    const [first, uptime, journal] = lines(text);
    expect(first).toBe('vFunD on node-a.example · pid 999 · virtfun 0.1.0 · accepting');
    expect(uptime).toBe('up 3 h 4 m (since 2025-03-01T10:00:00.000Z) · last checkpoint seq 800 at 2025-03-01T12:59:00.000Z');
    expect(journal).toBe('journal nats://127.0.0.1:4222?stream=VFUN · head 812 · outbox 0 · available');
    expect(text).not.toContain('s3cret');

    expect(text).toContain('instances (3)');
    const i1 = lines(text).find((l) => l.startsWith('i1 '))!;
    // 98 calls in (1448, 2048] ns: the median interpolates in that bucket; p99 in the 40 µs one.
    expect(i1).toMatch(/^i1\s+t1\s+billing\s+fsw\s+sw\s+computation\s+3 m 4 s\s+1234\/1000\s+123456\s+2\s+1\.\d µs\s+(3\d|4\d) µs$/);
    const i3 = lines(text).find((l) => l.startsWith('i3 '))!;
    expect(i3).toMatch(/^i3\s+t2\s+an-application-\S*…\s+fhw\s+sw\s+activation\.pending\s+1 s\s+-\s+0\s+0\s+-\s+-$/);
    const i2 = lines(text).find((l) => l.startsWith('i2 '))!;
    expect(i2).toMatch(/^i2\s+t1\s+billing\s+fhw\s+hw\s+activation\.pending\b/);

    expect(text).toMatch(/slots \(\d+\)\nfn\s+kind\s+device\s+used\s+free\s+slots/);
    expect(text).toMatch(/\nfhw\s+hw\s+-\s+1\s+1\s+2\n/);
    expect(text).toContain(['tenants (3)', 'tenant  instances  quota  state', 't1              2      2  enabled', 't2              1      3  draining', 't3              0      1  DISABLED'].join('\n'));
    expect(text).toMatch(/calls since start \(2\)\n.*\nt1\s+fsw\s+sw\s+123466\s+2\s+1\.\d µs/);
    expect(text).not.toContain('devices');
  });

  it('says when vFunD drains, when its journal is unavailable with an outbox, and when nothing is live', () => {
    const s = hostStatus({
      accepting: false,
      instances: [],
      totals: [],
      journal: { backend: 'file', url: 'file:/var/lib/virtfun/admin/journal.ndjson', head: null, available: false, outboxDepth: 17, lastCheckpoint: null },
      devices: [{ name: 'u250', inUse: 1, slots: 4, type: 'sim', available: true, detail: 'simulated, profile alveo-u250' }],
    });
    const text = renderStatus(s, { width: 120 });
    expect(lines(text)[0]).toBe('vFunD on node-a.example · pid 999 · virtfun 0.1.0 · DRAINING: no new negotiations');
    expect(lines(text)[1]).toContain('· last checkpoint none yet');
    expect(lines(text)[2]).toBe('journal file:/var/lib/virtfun/admin/journal.ndjson · head none (empty) · outbox 17 · UNAVAILABLE: no new negotiations');
    expect(text).toContain('instances: none');
    expect(text).toContain('calls since start: none');
    expect(text).toMatch(/devices \(1\)\ndevice\s+type\s+state\s+used\s+free\s+slots\s+adapter \/ why\nu250\s+sim\s+available\s+1\s+3\s+4\s+simulated, profile alveo-u250/);
  });

  test.prop([fc.integer({ min: 60, max: 240 }), fc.integer({ min: 0, max: 4_000_000_000 }), fc.string({ maxLength: 80 })])(
    'every line fits the width, from 60 columns up',
    (width, calls, host) => {
      const text = renderStatus(hostStatus({ host }, calls), { width });
      expect(widest(text)).toBeLessThanOrEqual(width);
      // The columns an operator cannot do without stay: the call counts whole, and p99.
      expect(text).toContain(String(calls));
      expect(lines(text).find((l) => l.startsWith('tenant'))).toBeDefined();
      expect(text).toMatch(/\bp99\b/);
    },
  );

  it('a narrow terminal drops the guest, age and errors columns before it cuts names further', () => {
    const text = renderStatus(hostStatus(), { width: 64 });
    const head = lines(text).find((l) => l.includes('phase'))!;
    expect(head).not.toContain('guest');
    expect(head).not.toContain('age');
    expect(head).toMatch(/tenant.*fn.*kind.*phase.*calls.*p99/);
    expect(widest(text)).toBeLessThanOrEqual(64);
  });

  it('a width that is not a number renders at 120', () => {
    expect(renderStatus(hostStatus(), { width: Number.NaN })).toBe(renderStatus(hostStatus(), { width: 120 }));
  });
});

describe('fitTable', () => {
  const columns = [{ head: 'a', min: 3 }, { head: 'b', min: 3 }, { head: 'n', min: Infinity, right: true, drop: 1 }];
  const rows = [['aaaaaaaaaa', 'bbbb', '12345']];

  it('cuts the column with the most room to spare, down to its minimum; never a number', () => {
    expect(lines(fitTable(columns, rows, 100))).toEqual(['a           b         n', 'aaaaaaaaaa  bbbb  12345']);
    expect(lines(fitTable(columns, rows, 16))).toEqual(['a    b         n', 'aa…  bbbb  12345']);
  });

  it('drops a droppable column when the minimums do not fit', () => {
    expect(lines(fitTable(columns, rows, 12)).map((l) => l.trimEnd())).toEqual(['a       b', 'aaaaa…  bbbb']);
  });
});

describe('humanised figures', () => {
  it('latencies and durations', () => {
    expect([850, 1_234, 35_400, 999_400, 4_100_000, 2.5e9].map(humanNs)).toEqual(['850 ns', '1.2 µs', '35 µs', '999 µs', '4.1 ms', '2.5 s']);
    expect(humanNs(Number.NaN)).toBe('-');
    expect([0, 999, 42_000, 184_000, 3 * 3_600_000 + 5 * 60_000, 3 * 86_400_000 + 4 * 3_600_000].map(humanDuration)).toEqual(['0 ms', '999 ms', '42 s', '3 m 4 s', '3 h 5 m', '3 d 4 h']);
    expect(truncate('abcdef', 4)).toBe('abc…');
    expect(truncate('abc', 4)).toBe('abc');
    expect(withoutCredentials('nats://u:p@h:4222,h2:4223')).toBe('nats://h:4222,h2:4223');
    expect(withoutCredentials('file:/a@b/journal')).toBe('file:/a@b/journal');
  });
});
