/**
 * The fleet without a server: what a host's row and metrics say of its
 * status, the table and the exit code of `vfun fleet status` (--expect),
 * which streams `vfun audit --host` reads, and what the generated
 * nats-server configuration lets a vFunD and an auditor do in the fleet.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { callsOf, fleetRowOf, fleetSubject, metricsOf, missingHosts } from '../../src/daemon/fleet.js';
import type { HostStatus } from '../../src/daemon/status.js';
import { expectedHosts, fleetReport, renderFleet } from '../../src/cli/fleet.js';
import { checkHostOption } from '../../src/cli/fleet-audit.js';
import { hostOfSubjects, selectHosts } from '../../src/events/adapters/jetstream/hosts.js';
import { defaultEventStream } from '../../src/events/adapters/jetstream/subjects.js';
import { fleetPermissionsOf, natsServerConfig } from '../../src/events/adapters/jetstream/server-config.js';

const NOW = Date.UTC(2026, 0, 1, 12);

function status(host: string, over: Partial<HostStatus> = {}): HostStatus {
  return {
    host,
    pid: 4242,
    version: '0.1.0',
    startedAt: new Date(NOW - 3_723_000).toISOString(),
    uptimeMs: 3_723_000,
    accepting: true,
    instances: [],
    slots: [
      { fn: 'crc32', kind: 'sw', inUse: 1, slots: 4, device: null },
      { fn: 'sha256', kind: 'hw', inUse: 0, slots: 1, device: 'fpga0' },
    ],
    devices: [],
    tenants: [],
    totals: [
      { tenant: 'acme', fn: 'crc32', kind: 'sw', calls: 1000, errors: 2, latency: null },
      { tenant: 'globex', fn: 'crc32', kind: 'sw', calls: 5, errors: 0, latency: null },
    ],
    journal: { backend: 'nats', url: 'nats://127.0.0.1:4222?host=' + host, head: 77, available: true, outboxDepth: 0, lastCheckpoint: { seq: 70, size: 69, at: new Date(NOW - 42_000).toISOString() } },
    ...over,
  };
}

describe('a host in the fleet', () => {
  it('its row: calls and errors summed over tenants, head, journal state, checkpoint age', () => {
    expect(fleetRowOf(status('node-1'), NOW)).toEqual({ host: 'node-1', pid: 4242, version: '0.1.0', uptimeMs: 3_723_000, instances: 0, calls: 1005, errors: 2, head: 77, available: true, checkpointAgeMs: 42_000 });
    const fresh = status('node-2', { journal: { ...status('x').journal, head: null, available: false, lastCheckpoint: null } });
    expect(fleetRowOf(fresh, NOW)).toMatchObject({ head: null, available: false, checkpointAgeMs: null });
  });

  it('its metrics: counters only', () => {
    expect(metricsOf(status('node-1'))).toEqual({ host: 'node-1', uptimeMs: 3_723_000, accepting: true, instances: 0, calls: 1005, errors: 2, slotsInUse: 1, slots: 5, journal: { head: 77, available: true, outboxDepth: 0 } });
    expect(callsOf(status('h', { totals: [] }))).toEqual({ calls: 0, errors: 0 });
    expect(fleetSubject('node-1', 'status')).toBe('vfun.svc.node-1.status');
  });
});

describe('vfun fleet status', () => {
  it('a table with one row per host, numbers right-aligned, and the count', () => {
    const text = renderFleet([fleetRowOf(status('node-1'), NOW), fleetRowOf(status('n2', { pid: 7, journal: { ...status('x').journal, available: false, lastCheckpoint: null } }), NOW)]);
    expect(text.split('\n')).toEqual([
      'host     pid  version  uptime   instances  calls  errors  head  journal      checkpoint',
      'node-1  4242  0.1.0    1 h 2 m          0   1005       2    77  ok           42 s ago',
      'n2         7  0.1.0    1 h 2 m          0   1005       2    77  UNAVAILABLE  none',
      '2 hosts',
      '',
    ]);
  });

  it('--expect: the hosts that did not answer are named and the exit code is 1; --json holds them too', () => {
    const ok = fleetReport([status('a'), status('b')], { expected: ['a', 'b'] }, NOW);
    expect(ok).toMatchObject({ err: '', exitCode: 0 });
    const gone = fleetReport([status('a')], { expected: expectedHosts(['a,b', 'c']) }, NOW);
    expect(gone).toMatchObject({ err: 'missing: b, c (expected, did not answer)\n', exitCode: 1 });
    expect(gone.out).not.toMatch(/^b /m);
    const json = JSON.parse(fleetReport([status('a')], { json: true, expected: ['a', 'b'] }, NOW).out);
    expect(json.missing).toEqual(['b']);
    expect(json.hosts.map((h: HostStatus) => h.host)).toEqual(['a']);
    expect(() => expectedHosts([' , '])).toThrow(/--expect/);
  });

  test.prop([fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 5 }), fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 5 })])('missing = expected not seen, in order', (expected, seen) => {
    const missing = missingHosts(expected, seen);
    expect(missing).toEqual(expected.filter((h) => !seen.includes(h)));
  });
});

describe('vfun audit --host', () => {
  it("a host's event stream is the one capturing exactly vfun.evt.<host>.>", () => {
    expect(hostOfSubjects(['vfun.evt.node-7.>'])).toBe('node-7');
    for (const s of [undefined, [], ['vfun.evt.a.>', 'vfun.evt.b.>'], ['vfun.trace.>'], ['vfun.evt.>'], ['vfun.evt.a.b.>'], ['vfun.evt.*.>']]) expect(hostOfSubjects(s)).toBeNull();
  });

  it("'*' selects every host; names select theirs, an unknown one its default stream", () => {
    const all = [{ host: 'a', stream: 'EVT_A' }, { host: 'b', stream: 'VFUN_EVT_b' }];
    expect(selectHosts(all, '*', defaultEventStream)).toEqual(all);
    expect(selectHosts(all, 'b, a,b', defaultEventStream)).toEqual([all[1], all[0]]);
    expect(selectHosts(all, 'c', defaultEventStream)).toEqual([{ host: 'c', stream: 'VFUN_EVT_c' }]);
    expect(() => checkHostOption('*')).not.toThrow();
    expect(() => checkHostOption('a,b-2')).not.toThrow();
    for (const bad of ['', 'a,,b', 'a b', 'a.*', '>']) expect(() => checkHostOption(bad)).toThrow(/--host/);
  });
});

describe('the fleet in the generated nats-server configuration', () => {
  const pw = { kind: 'password', password: 'x' } as const;
  it('a vFunD serves the vfun service on its own host only, and may only answer', () => {
    const p = fleetPermissionsOf({ role: 'vfund', host: 'h1', credential: pw });
    expect(p.publish.allow).toEqual([]);
    expect(p.subscribe.allow).toContain('vfun.svc.h1.>');
    expect(p.subscribe.allow.filter((s) => s.startsWith('vfun.'))).toEqual(['vfun.svc.h1.>']);
    expect(p.allowResponses).toBe(true);
  });

  it("an auditor asks: discovery and every host's status and metrics, nothing else of the fleet", () => {
    const p = fleetPermissionsOf({ role: 'auditor', name: 'aud', credential: pw });
    expect(p.publish.allow).toEqual(['$SRV.*.vfun', '$SRV.*.vfun.*', 'vfun.svc.*.status', 'vfun.svc.*.metrics']);
    expect(p.subscribe.allow).toEqual([]);
    expect(p.allowResponses).toBe(false);
  });

  it("only an admin user may publish to a host's admin endpoint: a vFunD and an auditor are denied it, and the config says so", () => {
    expect(fleetPermissionsOf({ role: 'admin', name: 'ops', credential: pw }).publish.allow).toEqual(['vfun.svc.*.admin']);
    expect(fleetPermissionsOf({ role: 'auditor', name: 'aud', credential: pw }).publish.deny).toEqual(['vfun.svc.*.admin']);
    expect(fleetPermissionsOf({ role: 'vfund', host: 'h1', credential: pw }).publish.deny).toEqual(['vfun.svc.*.admin']);
    const text = natsServerConfig({ users: [{ role: 'vfund', host: 'h1', credential: pw }, { role: 'auditor', name: 'aud', credential: pw }, { role: 'admin', name: 'ops', credential: pw }] });
    const publishOf = (label: string) => new RegExp(`# \\w+ ${label}\\n.*\\n +publish: (.*)`).exec(text)![1]!;
    expect(publishOf('aud')).toMatch(/deny: \[.*"vfun\.svc\.\*\.admin"\]/);
    expect(publishOf('vfund-h1')).toMatch(/deny: \[.*"vfun\.svc\.\*\.admin"\]/);
    expect(publishOf('ops')).not.toContain('deny');
    expect(publishOf('ops')).toContain('"vfun.svc.*.admin"');
  });

  it('the config carries both, allow_responses for vFunDs only', () => {
    const text = natsServerConfig({ users: [{ role: 'vfund', host: 'h1', credential: pw }, { role: 'auditor', name: 'aud', credential: pw }] });
    expect(text.match(/allow_responses: true/g)).toHaveLength(1);
    expect(text).toMatch(/subscribe: \{ allow: \["_INBOX\.>", "\$SRV\.PING", .*"vfun\.svc\.h1\.>"\] \}\n {10}allow_responses: true/);
    expect(text).toContain('"vfun.svc.*.status"');
  });
});
