/**
 * `npm run chaos -- --seconds N`: guests of several tenants call continuously
 * while guests and vFunD itself are killed (SIGKILL) at random and restarted.
 * At the end vFunD is stopped cleanly and the journal is checked: the hash
 * chain verifies, replay reproduces every decision, and no instance is left
 * without its release. Prints calls made, errors by kind, kills survived,
 * events journaled.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs, promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { openJournal } from '../src/events/adapters/open-journal.js';
import { verifyChain } from '../src/events/chain.js';
import type { Envelope } from '../src/events/envelope.js';
import { replayJournal } from '../src/actors/replay.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '20' }, guests: { type: 'string', default: '6' }, seed: { type: 'string' }, json: { type: 'boolean', default: false } } });
const seconds = Number(values.seconds);
const guestCount = Number(values.guests);
if (!(seconds > 0) || !(guestCount > 0)) {
  console.error('usage: chaos [--seconds N>0] [--guests N>0] [--seed S] [--json]');
  process.exit(2);
}
// A small seeded PRNG so a run can be repeated.
let seed = Number(values.seed ?? Date.now() % 2 ** 31) >>> 0;
const seedUsed = seed;
const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);

const here = fileURLToPath(new URL('.', import.meta.url));
const ts = import.meta.url.endsWith('.ts');
const CLI = join(here, ts ? '../dist/src/cli/main.js' : '../src/cli/main.js');
const GUEST = join(here, ts ? 'chaos/guest.ts' : 'chaos/guest.js');
const nodeArgs = (file: string) => (file.endsWith('.ts') ? ['--import', 'tsx', file] : [file]);

const TENANTS = ['t1', 't2', 't3'] as const;
const secretOf = (t: string) => `chaos-secret-of-${t}-0123456789`;
const root = await mkdtemp(join(tmpdir(), 'vfun-chaos-'));
const configPath = join(root, 'config.json');
await writeFile(
  configPath,
  JSON.stringify({
    tenants: TENANTS.map((id) => ({ id, secret: secretOf(id), maxInstances: 8 })),
    functions: [
      { name: 'factorial', kinds: { sw: { slots: 16, driver: 'factorial' } } },
      { name: 'fibonacci', kinds: { sw: { slots: 16, driver: 'fibonacci' } } },
    ],
  }),
);
const vroot = join(root, 'vf');

let vfund: ChildProcess | null = null;
async function startVfund(): Promise<void> {
  const child = spawn(process.execPath, [CLI, 'up', '--config', configPath, '--root', vroot], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()).includes('ready') && resolve());
    child.once('exit', (c) => reject(new Error(`vFunD exited (${c}) at start: ${stderr}`)));
  });
  vfund = child;
}

interface GuestState {
  child: ChildProcess;
  last: { calls: number; sessions: number; errors: Record<string, number> };
}
const totals = { calls: 0, sessions: 0, errors: {} as Record<string, number> };
const guests: GuestState[] = [];
function fold(g: GuestState): void {
  totals.calls += g.last.calls;
  totals.sessions += g.last.sessions;
  for (const [k, n] of Object.entries(g.last.errors)) totals.errors[k] = (totals.errors[k] ?? 0) + n;
}
function startGuest(i: number): GuestState {
  const tenant = TENANTS[i % TENANTS.length]!;
  const child = spawn(process.execPath, [...nodeArgs(GUEST), join(vroot, 'vmcli', tenant, 'control.sock'), tenant, `app${i}`, i % 2 ? 'fibonacci' : 'factorial'], {
    env: { ...process.env, VFUN_SECRET: secretOf(tenant) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const g: GuestState = { child, last: { calls: 0, sessions: 0, errors: {} } };
  child.stdout!.on('error', () => undefined); // a killed guest's pipe may reset
  createInterface({ input: child.stdout! })
    .on('line', (l) => {
      try {
        g.last = JSON.parse(l) as GuestState['last'];
      } catch {
        // a line cut by the kill
      }
    })
    .on('error', () => undefined);
  return g;
}

const kills = { guest: 0, vfund: 0 };
const exited = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;
const waitExit = (c: ChildProcess) => (exited(c) ? Promise.resolve() : new Promise((res) => c.once('exit', res)));
let guestCrashes = 0;
await startVfund();
for (let i = 0; i < guestCount; i++) guests.push(startGuest(i));
const end = performance.now() + seconds * 1000;
while (performance.now() < end) {
  await new Promise((r) => setTimeout(r, 300 + random() * 700));
  const r = random();
  if (r < 0.55) {
    const i = Math.floor(random() * guests.length);
    const g = guests[i]!;
    g.child.kill('SIGKILL');
    await waitExit(g.child);
    fold(g);
    guests[i] = startGuest(i);
    kills.guest++;
  } else if (r < 0.8) {
    vfund!.kill('SIGKILL');
    await waitExit(vfund!);
    kills.vfund++;
    await startVfund();
  }
  // A guest that died on its own (it should not) is counted and replaced.
  for (let i = 0; i < guests.length; i++) {
    if (exited(guests[i]!.child)) {
      guestCrashes++;
      fold(guests[i]!);
      guests[i] = startGuest(i);
    }
  }
  process.stderr.write(`\rchaos: ${Math.max(0, Math.round((end - performance.now()) / 1000))} s left, kills: ${kills.guest} guests, ${kills.vfund} vFunD  `);
}
process.stderr.write('\n');
for (const g of guests) {
  g.child.kill('SIGKILL');
  await waitExit(g.child);
  fold(g);
}
const stopped = new Promise((res) => vfund!.once('exit', res));
vfund!.kill('SIGTERM');
await stopped;

// The journal after all that.
const { journal } = await openJournal(`file:${join(vroot, 'admin', 'journal.ndjson')}`, { readOnly: true });
const events: Envelope[] = [];
for await (const e of journal.read()) events.push(e);
await journal.close();
const chain = await verifyChain(events);
const replay = await replayJournal(events);
const acked = new Set(events.filter((e) => e.type === 'negotiation.acked').map((e) => e.instance));
const released = new Set(events.filter((e) => e.type === 'instance.released').map((e) => e.instance));
const unreleased = [...acked].filter((i) => !released.has(i));
const byType: Record<string, number> = {};
for (const e of events) byType[e.type] = (byType[e.type] ?? 0) + 1;
const ids = new Set(events.map((e) => e.id));

const report = {
  seconds,
  seed: seedUsed,
  guests: guestCount,
  calls: totals.calls,
  sessions: totals.sessions,
  errors_by_kind: totals.errors,
  kills_survived: kills,
  guest_crashes: guestCrashes,
  events_journaled: events.length,
  events_by_type: byType,
  chain_verified: chain.ok,
  replay_divergence: replay.divergence === null ? null : replay.divergence.seq,
  duplicate_event_ids: events.length - ids.size,
  instances_never_released: unreleased.length,
  lost_events: chain.ok && replay.divergence === null && unreleased.length === 0 ? 0 : 'see fields above',
};
console.log(values.json ? JSON.stringify(report) : JSON.stringify(report, null, 2));
await rm(root, { recursive: true, force: true });
process.exit(chain.ok && replay.divergence === null && unreleased.length === 0 && ids.size === events.length ? 0 : 1);
