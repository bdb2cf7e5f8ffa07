/**
 * Admin requests over NATS without a server: the gate the admin socket and the fleet's `admin`
 * endpoint share (signature required always over NATS, even when vFunD has no secret; one nonce
 * window for both), the identity journaled for a NATS request, and how the audit table says it.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { AdminGate, signatureRefusal, type AdminHandler, type GateCall } from '../../src/admin/gate.js';
import { adminRequestOf } from '../../src/admin/client.js';
import { describeAdminEvent, describeIdentity } from '../../src/admin/describe.js';
import { answerAdminMessage, natsIdentity } from '../../src/daemon/fleet-admin.js';
import type { AdminIdentity, AdminEvicted } from '../../src/events/catalogue.js';
import type { AdminSettings } from '../../src/admin/settings.js';

const SECRET = 'the admin secret, 16+ characters';
const NOW = Date.UTC(2026, 0, 1, 12);
const clock = { now: () => NOW };

function gateWith(settings: AdminSettings) {
  const calls: { op: string; by: AdminIdentity }[] = [];
  const handler: AdminHandler = async (op, _args, by) => {
    calls.push({ op, by });
    return { ok: true, result: op };
  };
  return { gate: new AdminGate({ settings: () => settings, handler, clock }), calls };
}

const refusals: string[] = [];
const over = (policy: GateCall['policy'], by: AdminIdentity = { via: 'signal', signal: 'test' }): GateCall => ({ policy, identity: () => by, refused: (code) => refusals.push(code) });
const line = (secret: string | undefined, ts = NOW) => JSON.stringify(adminRequestOf('drain', {}, secret, ts));

describe('signatureRefusal', () => {
  it('over the socket, no secret: the peer check alone authorises; over NATS no secret means no action', () => {
    const unsigned = adminRequestOf('drain', {}, undefined, NOW);
    expect(signatureRefusal(unsigned, null, 'when-configured')).toBeNull();
    expect(signatureRefusal(unsigned, null, 'always')).toMatch(/no admin secret/);
    expect(signatureRefusal(adminRequestOf('drain', {}, SECRET, NOW), null, 'always')).toMatch(/no admin secret/);
  });

  test.prop([fc.constantFrom('when-configured' as const, 'always' as const), fc.string({ minLength: 16, maxLength: 40 })])('with a secret, only a request signed with it passes, whatever the transport', (policy, other) => {
    fc.pre(other !== SECRET);
    expect(signatureRefusal(adminRequestOf('evict', { instance: 'i1' }, SECRET, NOW), SECRET, policy)).toBeNull();
    expect(signatureRefusal(adminRequestOf('evict', { instance: 'i1' }, other, NOW), SECRET, policy)).toMatch(/does not match/);
    expect(signatureRefusal(adminRequestOf('evict', { instance: 'i1' }, undefined, NOW), SECRET, policy)).toMatch(/not signed/);
  });
});

describe('AdminGate', () => {
  it('hands a signed request to the handler with the identity the transport gives, and refuses it again (one window for all transports)', async () => {
    const { gate, calls } = gateWith({ group: null, secret: SECRET });
    const request = line(SECRET);
    const nonce = (JSON.parse(request) as { nonce: string }).nonce;
    const viaNats: GateCall = { policy: 'always', identity: (req) => natsIdentity('vfun.svc.h1.admin', req.nonce), refused: () => undefined };
    expect(await gate.answer(request, viaNats)).toEqual({ ok: true, op: 'drain', result: 'drain', nonce });
    expect(calls).toEqual([{ op: 'drain', by: { via: 'nats', subject: 'vfun.svc.h1.admin', nonce } }]);
    expect(await gate.answer(request, over('when-configured'))).toMatchObject({ ok: false, code: 'replayed', nonce });
    expect(calls).toHaveLength(1);
  });

  it('refuses with the socket\'s codes: unsigned or badly signed (credential), stale (replayed), not a request (malformed); the handler never runs', async () => {
    const { gate, calls } = gateWith({ group: null, secret: SECRET });
    refusals.length = 0;
    expect(await gate.answer(line(undefined), over('always'))).toMatchObject({ ok: false, code: 'credential' });
    expect(await gate.answer(line('another secret, 16+ characters'), over('always'))).toMatchObject({ ok: false, code: 'credential' });
    expect(await gate.answer(line(SECRET, NOW - 120_000), over('always'))).toMatchObject({ ok: false, code: 'replayed' });
    expect(await gate.answer('{"v":1,"op":"drain"', over('always'))).toMatchObject({ ok: false, code: 'malformed' });
    expect(refusals).toEqual(['credential', 'credential', 'replayed', 'malformed']);
    expect(calls).toEqual([]);
  });

  it('without a secret (a reload removed it): NATS requests are all refused, socket requests pass', async () => {
    const { gate, calls } = gateWith({ group: null, secret: null });
    expect(await gate.answer(line(SECRET), over('always'))).toMatchObject({ ok: false, code: 'credential' });
    expect(await gate.answer(line(undefined), over('when-configured'))).toMatchObject({ ok: true });
    expect(calls).toHaveLength(1);
  });
});

describe('a NATS message to the admin endpoint', () => {
  const msg = (text: string) => ({ subject: 'vfun.svc.h1.admin', data: new TextEncoder().encode(text), string: () => text });
  it('is answered through the gate with the nats identity; one too long is malformed', async () => {
    const { gate, calls } = gateWith({ group: null, secret: SECRET });
    const logged: string[] = [];
    const admin = { gate, settings: () => ({ group: null, secret: SECRET }) };
    expect(await answerAdminMessage(msg(line(SECRET)), admin, (l) => logged.push(l))).toMatchObject({ ok: true, op: 'drain' });
    expect(calls[0]!.by).toMatchObject({ via: 'nats', subject: 'vfun.svc.h1.admin' });
    expect(await answerAdminMessage(msg(' '.repeat(5000)), admin, (l) => logged.push(l))).toMatchObject({ ok: false, code: 'malformed' });
    expect(await answerAdminMessage(msg(line(undefined)), admin, (l) => logged.push(l))).toMatchObject({ ok: false, code: 'credential' });
    expect(logged).toEqual([expect.stringMatching(/^fleet admin: refused a request on vfun\.svc\.h1\.admin: malformed: /), expect.stringMatching(/: credential: the request is not signed/)]);
  });
});

describe('the audit table', () => {
  it('names a NATS request by its subject and nonce', () => {
    const by = natsIdentity('vfun.svc.h1.admin', '0123456789abcdef');
    expect(describeIdentity(by)).toBe('NATS vfun.svc.h1.admin request 0123456789abcdef');
    const e = { type: 'admin.evicted', data: { instance: 'i7', by } } as AdminEvicted;
    expect(describeAdminEvent(e)).toBe('i7 evicted by NATS vfun.svc.h1.admin request 0123456789abcdef');
  });
});
