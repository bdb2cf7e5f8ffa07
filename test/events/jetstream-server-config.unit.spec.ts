/**
 * The generated nats-server configuration and the journal URL's credentials,
 * without a server: who may publish what, and that no form of the URL puts a
 * password in the journal's printable URL or in an error.
 */
import { describe, expect, test } from 'vitest';
import { parseJetStreamUrl } from '../../src/events/adapters/jetstream/options.js';
import { resolveOptions } from '../../src/events/adapters/jetstream/options.js';
import { STREAM_CHANGES, natsServerConfig, permissionsOf } from '../../src/events/adapters/jetstream/server-config.js';

const pw = { kind: 'password', password: 's3cret' } as const;

describe('permissions', () => {
  test('vfund-<host>: its own subjects and stream; stream changes and acknowledgements denied', () => {
    const p = permissionsOf({ role: 'vfund', host: 'h1', credential: pw });
    expect(p.publish.allow).toContain('vfun.evt.h1.>');
    expect(p.publish.allow).toContain('vfun.trace.h1.>');
    expect(p.publish.allow).toContain('$JS.API.STREAM.CREATE.VFUN_EVT_h1');
    const streamCalls = p.publish.allow.filter((s) => s.startsWith('$JS.API.STREAM.'));
    expect(streamCalls.every((s) => /^\$JS\.API\.STREAM\.(INFO|CREATE|MSG\.GET)\.[A-Za-z0-9_-]+$/.test(s))).toBe(true);
    expect(p.publish.allow.some((s) => s.includes('>') && !s.startsWith('vfun.') && !s.startsWith('$JS.API.CONSUMER.CREATE.'))).toBe(false);
    expect(p.publish.allow.some((s) => s.startsWith('vfun.evt.') && !s.startsWith('vfun.evt.h1.'))).toBe(false);
    for (const change of STREAM_CHANGES) expect(p.publish.deny).toContain(change);
    expect(p.publish.deny).toContain('vfun.ack.>');
    expect(p.subscribe.allow).toEqual(['_INBOX.>']);
  });

  test('auditor: reads only', () => {
    const p = permissionsOf({ role: 'auditor', name: 'aud', credential: pw });
    expect(p.publish.allow.every((s) => s.startsWith('$JS.API.'))).toBe(true);
    expect(p.publish.allow.some((s) => /CREATE\.\*$|CREATE\.\*\.>$/.test(s) && s.includes('STREAM'))).toBe(false);
    expect(p.publish.deny).toEqual(expect.arrayContaining([...STREAM_CHANGES, '$JS.API.STREAM.CREATE.>', 'vfun.evt.>']));
  });

  test('the config: one account with JetStream, every user, nkey users by public key only', () => {
    const text = natsServerConfig({
      listen: '127.0.0.1:4222',
      users: [
        { role: 'vfund', host: 'h1', credential: pw },
        { role: 'admin', name: 'root', credential: { kind: 'nkey', publicKey: 'UABC' } },
      ],
    });
    expect(text).toContain('listen: "127.0.0.1:4222"');
    expect(text).toContain('user: "vfund-h1", password: "s3cret"');
    expect(text).toContain('nkey: "UABC"');
    expect(text).toMatch(/accounts \{\n {2}VFUN \{\n {4}jetstream: enabled/);
  });
});

describe('credentials in the journal URL', () => {
  test('user:pass@ is taken out of the servers; the printable URL never holds the password', () => {
    const o = parseJetStreamUrl('nats://vfund-h1:p%40ss@127.0.0.1:4222,127.0.0.2:4222?host=h1');
    expect(o).toMatchObject({ user: 'vfund-h1', pass: 'p@ss', servers: ['nats://127.0.0.1:4222', 'nats://127.0.0.2:4222'], host: 'h1' });
    const r = resolveOptions(o);
    expect(r.url).not.toContain('p@ss');
    expect(r.auth).toEqual({ kind: 'password', user: 'vfund-h1', pass: 'p@ss' });
    expect(() => parseJetStreamUrl('nats://u:topsecret@a:1?bogus=1')).toThrow(/'nats:\/\/u:\*\*\*@a:1\?bogus=1'/);
    expect(() => parseJetStreamUrl('nats://u:topsecret@a b:1')).not.toThrow(/topsecret/);
    expect(parseJetStreamUrl('nats://auditor@a:1?passwordFile=/etc/vfun/auditor.password')).toMatchObject({ user: 'auditor', passwordFile: '/etc/vfun/auditor.password' });
    expect(parseJetStreamUrl('nats://a:1?nkeySeed=/k.nk')).toMatchObject({ nkeySeedFile: '/k.nk' });
  });

  test('contradictory credentials are refused naming the option', () => {
    expect(() => resolveOptions({ host: 'h', user: 'u' })).toThrow(/pass: user u has no password/);
    expect(() => resolveOptions({ host: 'h', pass: 'x' })).toThrow(/user: a password needs a user name/);
    expect(() => resolveOptions({ host: 'h', user: 'u', pass: 'x', nkeySeedFile: '/k' })).toThrow(/nkeySeedFile/);
  });
});
