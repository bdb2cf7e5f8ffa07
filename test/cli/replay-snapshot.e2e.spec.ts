/** `vfun replay` and snapshots, through the command: from the latest snapshot, and a forged snapshot named by its seq. */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VFunD } from '../../src/actors/vfund.js';
import { encodeEnvelope } from '../../src/events/canonical.js';
import type { StateSnapshotTaken } from '../../src/events/catalogue.js';
import { sealEnvelope } from '../../src/events/chain.js';
import { eventOf, GENESIS_HASH, type Envelope } from '../../src/events/envelope.js';
import { MemoryJournal } from '../../src/events/memory-journal.js';
import { counterIds, RecordingRuntime, SECRETS, steppingClock, testSnapshot } from '../actors/helpers.js';

const exec = promisify(execFile);
const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const vfun = (...args: string[]) => exec(process.execPath, [CLI, ...args]);
const lines = (envs: readonly Envelope[]) => envs.map((e) => encodeEnvelope(e).canonical + '\n').join('');

describe('vfun replay with state snapshots', () => {
  let dir: string;
  let envs: Envelope[];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vfun-replay-snap-'));
    const journal = new MemoryJournal();
    const d = await VFunD.start({ journal, runtime: new RecordingRuntime(), config: testSnapshot, host: 'h', clock: steppingClock(), ids: counterIds(), snapshotEvery: 3 });
    const t1 = { tenant: 't1', credential: SECRETS.t1 };
    const a = await d.negotiate({ ...t1, app: 'a', fn: 'fsw', kind: 'sw' });
    if (a.ok) await d.activate({ ...t1, instance: a.instance });
    await d.negotiate({ ...t1, app: 'b', fn: 'fhw', kind: 'hw' });
    await d.settled();
    envs = [];
    for await (const e of journal.read()) envs.push(e);
    await writeFile(join(dir, 'honest.ndjson'), lines(envs));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('replays from the latest snapshot, and the whole history with every snapshot checked', async () => {
    const last = envs.findLast((e) => e.type === 'state.snapshot')!;
    const fast = await vfun('replay', '--journal', `file:${join(dir, 'honest.ndjson')}`, '--from-snapshot');
    expect(fast.stdout).toContain(`${envs.length - last.seq} events after the snapshot at seq ${last.seq}`);
    expect(fast.stdout).toMatch(/tenant t1: 2 of 2 instances/);
    const full = await vfun('replay', '--journal', `file:${join(dir, 'honest.ndjson')}`);
    expect(full.stdout).toMatch(new RegExp(`journal .*: ${envs.length} events, `));
    expect(full.stdout).toMatch(/decide reproduces all \d+ recorded decisions/);
  });

  it('names the seq of a snapshot that does not state the folded state, even re-chained (exit 1)', async () => {
    const at = envs.findIndex((e) => e.type === 'state.snapshot');
    const forged: Envelope[] = [];
    let prev = GENESIS_HASH;
    for (const [i, env] of envs.entries()) {
      let event = eventOf(env);
      if (i === at) {
        const data = (env as Envelope<StateSnapshotTaken>).data;
        event = { type: 'state.snapshot', data: { ...data, state: { ...data.state, instances: {} } } };
      }
      const sealed = sealEnvelope({ event, scope: env, causationId: env.causationId, correlationId: env.correlationId }, { seq: env.seq, prevHash: prev, id: env.id, at: env.at, host: env.host });
      forged.push(sealed);
      prev = sealed.hash;
    }
    await writeFile(join(dir, 'forged.ndjson'), lines(forged));
    expect((await vfun('audit', 'verify', '--journal', `file:${join(dir, 'forged.ndjson')}`)).stdout).toMatch(/hash chain verified/);
    await expect(vfun('replay', '--journal', `file:${join(dir, 'forged.ndjson')}`)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining(`DIVERGENCE at seq ${envs[at]!.seq} (snapshot`),
    });
  });
});
