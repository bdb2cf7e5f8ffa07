/**
 * A refused request says who: `request.refused` carries the app, function and
 * instance the request named (as claimed: its signature may be bad) and the
 * pid and uid of the process at the other end of the connection
 * (SO_PEERCRED), and `vfun audit` shows them. A real daemon (startDaemon),
 * real sockets, the real file journal.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/actors/config.js';
import { describeEvent } from '../../src/cli/audit.js';
import { startDaemon, type Daemon } from '../../src/daemon/index.js';
import { eventOf, type Envelope } from '../../src/events/envelope.js';
import type { RequestRefused } from '../../src/events/catalogue.js';
import { ControlClient } from '../../src/guest/control-client.js';

const SECRET = 'the refused tenant secret, 16+ characters';

describe('refusals name the claimed app/fn and the peer process', () => {
  let dir: string;
  let daemon: Daemon;
  let journalPath: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vfun-refusal-peer-'));
    const config = parseConfig({
      tenants: [{ id: 'acme', secret: SECRET, maxInstances: 2 }],
      functions: [{ name: 'crc32', kinds: { sw: { slots: 2, driver: 'crc32' } } }],
    });
    const root = join(dir, 'root');
    journalPath = join(root, 'admin', 'journal.ndjson');
    daemon = await startDaemon({ config, root, journal: `file:${journalPath}`, log: () => undefined });
  });

  afterAll(async () => {
    await daemon?.stop('test over');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const refusals = async (): Promise<Envelope<RequestRefused>[]> =>
    (await readFile(journalPath, 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Envelope)
      .filter((e): e is Envelope<RequestRefused> => e.type === 'request.refused');

  it('a bad signature: the names it claims and this process as the peer; bad JSON: the peer alone', async () => {
    const me = { pid: process.pid, uid: process.getuid!() };
    const c = await ControlClient.connect(daemon.sockets.acme!);
    const bad = await c.negotiate({ tenant: 'acme', credential: 'not the secret of acme, at all', app: 'billing', fn: 'crc32', kind: 'sw' });
    expect(bad).toMatchObject({ ok: false, reason: 'credential' });
    const stolen = await c.release({ tenant: 'acme', credential: 'not the secret of acme, at all', instance: 'i77' });
    expect(stolen).toMatchObject({ ok: false, reason: 'credential' });
    expect(await c.sendRaw('this is not json')).toMatchObject({ ok: false, reason: 'malformed' });
    c.close();

    const [neg, rel, junk] = await refusals();
    expect(neg!.data).toEqual({
      tenant: 'acme',
      op: 'negotiate',
      reason: 'credential',
      detail: 'signature does not match the tenant secret',
      claimed: { app: 'billing', fn: 'crc32' },
      peer: me,
    });
    // Claimed names stay in the event's data: the envelope's scope is what vFunD checked (the channel's tenant).
    expect(neg).toMatchObject({ tenant: 'acme', app: null, fn: null, instance: null });
    expect(rel!.data).toMatchObject({ op: 'release', claimed: { instance: 'i77' }, peer: me });
    expect(junk!.data).toMatchObject({ reason: 'malformed', peer: me });
    expect(junk!.data.claimed).toBeUndefined();

    expect(describeEvent(eventOf(neg!))).toBe(
      `negotiate refused, credential: signature does not match the tenant secret; claimed app billing, fn crc32; peer pid ${me.pid} uid ${me.uid}`,
    );
  });
});
