/**
 * `npm run chaos -- --seconds N`: guests of several tenants call continuously
 * while guests and vFunD itself are killed (SIGKILL) at random and restarted.
 * At the end vFunD is stopped cleanly and the journal is checked: the hash
 * chain verifies, replay reproduces every decision, and no instance is left
 * without its release. Prints calls made, errors by kind, kills survived,
 * events journaled.
 *
 * `--hostile`: no one kills anything from outside. Honest tenants' guests call
 * continuously while hostile tenants (chaos/hostile.ts) attack in a loop: they
 * resize and scribble over their regions, tamper with their branch of the tree,
 * signal their own guests and services, flood their sockets, take their whole
 * quota, disconnect mid-call. Prints the honest guests' errors (must be 0), the
 * attacks made by kind, what vFunD journaled for them, vFunD restarts (must be
 * 0: it never died), and the same journal checks. `--as <user>` gives the
 * hostile tenants that OS user (vFunD must run as root), so their services run
 * as it; without it they run as vFunD's own user.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { openJournal } from '../src/events/adapters/open-journal.js';
import { verifyChain } from '../src/events/chain.js';
import type { Envelope } from '../src/events/envelope.js';
import { replayJournal } from '../src/actors/replay.js';
import { checkCauses, HostileTenant, type HostileTally } from './chaos/hostile.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    guests: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean', default: false },
    hostile: { type: 'boolean', default: false },
    'hostile-tenants': { type: 'string', default: '2' },
    as: { type: 'string' },
  },
});
const hostile = values.hostile;
const seconds = Number(values.seconds);
const guestCount = Number(values.guests ?? (hostile ? '4' : '6'));
const hostileCount = hostile ? Number(values['hostile-tenants']) : 0;
if (!(seconds > 0) || !(guestCount > 0) || !(hostileCount >= 0) || (values.as !== undefined && !hostile)) {
  console.error('usage: chaos [--seconds N>0] [--guests N>0] [--seed S] [--json] [--hostile [--hostile-tenants N] [--as <user>]]');
  process.exit(2);
}
/** The hostile tenants' OS identity (--as). */
let identity: { uid: number; gid: number } | undefined;
if (values.as !== undefined) {
  if (process.getuid?.() !== 0) {
    console.error('chaos: --as needs root (vFunD runs the hostile services as that user)');
    process.exit(2);
  }
  const id = (flag: string) => Number(execFileSync('id', [flag, values.as!], { encoding: 'utf8' }).trim());
  identity = { uid: id('-u'), gid: id('-g') };
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
const HOSTILE = Array.from({ length: hostileCount }, (_, i) => `h${i + 1}`);
const secretOf = (t: string) => `chaos-secret-of-${t}-0123456789`;
const root = await mkdtemp(join(tmpdir(), 'vfun-chaos-'));
if (identity) await chmod(root, 0o711); // the hostile user reaches its socket below it
const configPath = join(root, 'config.json');
// Enough slots for every quota at once: a hostile tenant holding its whole quota is no capacity problem for the others.
const slots = Math.max(16, 3 * hostileCount + guestCount + 2);
await writeFile(
  configPath,
  JSON.stringify({
    tenants: [
      ...TENANTS.map((id) => ({ id, secret: secretOf(id), maxInstances: 8 })),
      ...HOSTILE.map((id) => ({ id, secret: secretOf(id), maxInstances: 3, ...identity })),
    ],
    functions: [
      { name: 'factorial', kinds: { sw: { slots, driver: 'factorial' } } },
      { name: 'fibonacci', kinds: { sw: { slots, driver: 'fibonacci' } } },
    ],
  }),
  { mode: 0o600 }, // it holds the tenants' secrets: vFunD refuses one others can read
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
  // Under attack the machine is loaded: an honest call may wait longer than 2 s without anything being wrong.
  const extra = hostile ? ['random', '10000'] : [];
  const child = spawn(process.execPath, [...nodeArgs(GUEST), join(vroot, 'vmcli', tenant, 'control.sock'), tenant, `app${i}`, i % 2 ? 'fibonacci' : 'factorial', ...extra], {
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
/** vFunD exits nobody asked for (hostile mode): it is restarted, and it counts against containment. */
const vfundDeaths: { code: number | null; signal: string | null }[] = [];
const tally: HostileTally = { attacks: {}, unexpected: [], expectations: [] };
await startVfund();
for (let i = 0; i < guestCount; i++) guests.push(startGuest(i));
const end = performance.now() + seconds * 1000;
const attackers = HOSTILE.map(
  (t) => new HostileTenant({ socket: join(vroot, 'vmcli', t, 'control.sock'), tenant: t, secret: secretOf(t), ...(identity && { identity }), fns: ['factorial', 'fibonacci'], random, tally }),
);
const attacking = attackers.map((a) => a.run(() => performance.now() >= end));
while (performance.now() < end) {
  if (hostile) {
    await new Promise((r) => setTimeout(r, 250));
    if (exited(vfund!)) {
      vfundDeaths.push({ code: vfund!.exitCode, signal: vfund!.signalCode });
      await startVfund();
    }
  } else {
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
  }
  // A guest that died on its own (it should not) is counted and replaced.
  for (let i = 0; i < guests.length; i++) {
    if (exited(guests[i]!.child)) {
      guestCrashes++;
      fold(guests[i]!);
      guests[i] = startGuest(i);
    }
  }
  const left = Math.max(0, Math.round((end - performance.now()) / 1000));
  const attacks = Object.values(tally.attacks).reduce((a, b) => a + b, 0);
  process.stderr.write(
    hostile ? `\rchaos: ${left} s left, ${attacks} attacks, vFunD restarts: ${vfundDeaths.length}  ` : `\rchaos: ${left} s left, kills: ${kills.guest} guests, ${kills.vfund} vFunD  `,
  );
}
// The attacks under way run to their end; then the hostile guests go (vFunD releases what they held).
await Promise.all(attacking);
for (const a of attackers) await a.close();
if (hostile && exited(vfund!)) {
  vfundDeaths.push({ code: vfund!.exitCode, signal: vfund!.signalCode });
  await startVfund();
}
process.stderr.write('\n');
for (const g of guests) {
  g.child.kill('SIGKILL');
  await waitExit(g.child);
  fold(g);
}
const stopped = new Promise<number | null>((res) => vfund!.once('exit', (code) => res(code)));
vfund!.kill('SIGTERM');
const vfundExit = await stopped;

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

// Service processes of this root still alive after vFunD stopped (its fd 4 is a control file under the root):
// there must be none, whatever was killed when.
const orphans = await waitNoOrphans(vroot);

const journalOk = chain.ok && replay.divergence === null && unreleased.length === 0 && ids.size === events.length && orphans.length === 0;
const journalFields = {
  events_journaled: events.length,
  events_by_type: byType,
  chain_verified: chain.ok,
  replay_divergence: replay.divergence === null ? null : replay.divergence.seq,
  duplicate_event_ids: events.length - ids.size,
  instances_never_released: unreleased.length,
  orphan_service_processes: orphans.length,
  lost_events: chain.ok && replay.divergence === null && unreleased.length === 0 ? 0 : 'see fields above',
};
let ok = journalOk;
let report: Record<string, unknown>;
if (hostile) {
  const causes = checkCauses(events as unknown as Parameters<typeof checkCauses>[0], tally.expectations);
  const honestErrors = Object.values(totals.errors).reduce((a, b) => a + b, 0);
  const attacksTotal = Object.values(tally.attacks).reduce((a, b) => a + b, 0);
  const hostileEvents: Record<string, number> = {};
  for (const e of events) if (e.tenant !== null && HOSTILE.includes(e.tenant)) hostileEvents[e.type] = (hostileEvents[e.type] ?? 0) + 1;
  ok &&= honestErrors === 0 && guestCrashes === 0 && vfundDeaths.length === 0 && vfundExit === 0 && tally.unexpected.length === 0 && causes.missing.length === 0;
  report = {
    mode: 'hostile',
    seconds,
    seed: seedUsed,
    honest_tenants: TENANTS.length,
    honest_guests: guestCount,
    hostile_tenants: HOSTILE.length,
    hostile_identity: identity ? `${values.as} (uid ${identity.uid})` : "vFunD's own user",
    honest_calls: totals.calls,
    honest_sessions: totals.sessions,
    honest_errors: totals.errors,
    honest_errors_total: honestErrors,
    honest_guest_crashes: guestCrashes,
    attacks_total: attacksTotal,
    attacks_by_kind: tally.attacks,
    attack_outcomes_unexpected: tally.unexpected.length,
    unexpected_examples: tally.unexpected.slice(0, 5),
    causes_journaled: causes.journaled,
    causes_missing: causes.missing.length,
    causes_missing_examples: causes.missing.slice(0, 5),
    hostile_events_by_type: hostileEvents,
    vfund_restarts: vfundDeaths.length,
    vfund_deaths: vfundDeaths,
    vfund_exit: vfundExit,
    ...journalFields,
  };
} else {
  report = {
    seconds,
    seed: seedUsed,
    guests: guestCount,
    calls: totals.calls,
    sessions: totals.sessions,
    errors_by_kind: totals.errors,
    kills_survived: kills,
    guest_crashes: guestCrashes,
    ...journalFields,
  };
}
console.log(values.json ? JSON.stringify(report) : JSON.stringify(report, null, 2));
await rm(root, { recursive: true, force: true });
process.exit(ok ? 0 : 1);

/** Pids of live processes holding a control file under `root` as their fd 4 (service processes). */
function serviceProcessesOf(root: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/fd/4`).startsWith(root + '/')) pids.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

/** Service processes left under `root`, after giving the last ones a few seconds to go. */
async function waitNoOrphans(root: string): Promise<number[]> {
  for (let i = 0; i < 50; i++) {
    const left = serviceProcessesOf(root);
    if (left.length === 0) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
  return serviceProcessesOf(root);
}
