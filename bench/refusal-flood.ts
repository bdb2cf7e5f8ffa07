/**
 * `npm run bench:flood -- --seconds N`: how fast one tenant can grow the journal by flooding its own
 * control socket with requests that are refused. Starts a real `vfun up` (two tenants, file
 * journal), floods tenant `flood`'s socket with malformed lines for N seconds from `--connections`
 * connections (each keeps `--window` lines unanswered, reads every answer, and reconnects at once
 * when vFunD closes it), then stops
 * vFunD with SIGTERM and reads the journal back.
 *
 *   flood_bytes_per_s      journal bytes of the flooding tenant's events (lines + newline) / N,
 *                          everything it caused until vFunD stopped (summaries, disconnections,
 *                          the summary that closes the flood)
 *   window_bytes_per_s     growth of the journal file during the N seconds / N
 *   events_by_type         the flooding tenant's events
 *   lines_sent, answers, disconnections
 *   chain_verified, replay_divergence
 *
 *   node dist/bench/refusal-flood.js [--seconds N] [--connections N] [--window N] [--line TEXT] [--json]
 *
 * --json: one JSON object on stdout, progress on stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { replayJournal } from '../src/actors/replay.js';
import { verifyChain } from '../src/events/chain.js';
import type { Envelope } from '../src/events/envelope.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '1' },
    line: { type: 'string', default: '{"op":"negotiate"}' },
    window: { type: 'string', default: '64' },
    json: { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const window = Number(values.window);
if (!(seconds > 0) || !(Number.isInteger(connections) && connections > 0) || !(Number.isInteger(window) && window > 0)) {
  console.error('usage: refusal-flood [--seconds N>0] [--connections N>0] [--window N>0] [--line TEXT] [--json]');
  process.exit(2);
}
const log = (msg: string): void => void process.stderr.write(`${msg}\n`);

const here = fileURLToPath(new URL('.', import.meta.url));
const CLI = join(here, import.meta.url.endsWith('.ts') ? '../dist/src/cli/main.js' : '../src/cli/main.js');
const root = await mkdtemp(join(tmpdir(), 'vfun-flood-'));
const configPath = join(root, 'config.json');
await writeFile(
  configPath,
  JSON.stringify({
    tenants: [
      { id: 'flood', secret: 'secret-of-the-flooding-tenant', maxInstances: 2 },
      { id: 'calm', secret: 'secret-of-the-calm-tenant-xyz', maxInstances: 2 },
    ],
    functions: [{ name: 'crc32', kinds: { sw: { slots: 4, driver: 'crc32' } } }],
  }),
  { mode: 0o600 }, // it holds the tenants' secrets: vFunD refuses one others can read
);
const vroot = join(root, 'vf');
const journalPath = join(vroot, 'admin', 'journal.ndjson');
const socketPath = join(vroot, 'vmcli', 'flood', 'control.sock');

const vfund: ChildProcess = spawn(process.execPath, [CLI, 'up', '--config', configPath, '--root', vroot], { stdio: ['ignore', 'pipe', 'pipe'] });
let stderr = '';
vfund.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
await new Promise<void>((resolve, reject) => {
  let out = '';
  vfund.stdout!.on('data', (d: Buffer) => (out += d.toString()).includes('ready') && resolve());
  vfund.once('exit', (c) => reject(new Error(`vFunD exited (${c}) at start: ${stderr}`)));
});
const sizeAtStart = (await stat(journalPath)).size;
const seqAtStart = (await readFile(journalPath, 'utf8')).split('\n').filter(Boolean).length;

const line = values.line.endsWith('\n') ? values.line : `${values.line}\n`;
const counts = { linesSent: 0, answers: 0, disconnections: 0, connects: 0 };
let flooding = true;
const open = new Set<Socket>();

/**
 * One flooding connection: keeps `--window` lines unanswered (as many as vFunD will take without
 * drowning in input it cannot parse), reads every answer, reconnects at once when vFunD closes it.
 */
function flood(): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(socketPath);
    open.add(s);
    let closedByUs = false;
    let outstanding = 0;
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      for (let i = d.indexOf('\n'); i >= 0; i = d.indexOf('\n', i + 1)) {
        counts.answers++;
        outstanding--;
      }
      pump();
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      open.delete(s);
      if (!closedByUs && flooding) counts.disconnections++;
      resolve(flooding ? flood() : undefined);
    });
    let connected = false;
    const pump = (): void => {
      if (!connected || s.destroyed) return;
      if (!flooding) {
        closedByUs = true;
        s.end();
        return;
      }
      const n = window - outstanding;
      if (n < Math.min(window, 16)) return;
      counts.linesSent += n;
      outstanding += n;
      s.write(line.repeat(n));
    };
    s.once('connect', () => {
      counts.connects++;
      connected = true;
      pump();
    });
  });
}

log(`refusal-flood: vFunD up (journal ${sizeAtStart} bytes); flooding tenant 'flood' for ${seconds} s from ${connections} connection(s) with ${JSON.stringify(values.line)}`);
const started = performance.now();
const floods = Array.from({ length: connections }, () => flood());
await new Promise((r) => setTimeout(r, seconds * 1000));
flooding = false;
const windowBytes = (await stat(journalPath)).size - sizeAtStart;
const elapsed = (performance.now() - started) / 1000;
for (const s of open) s.end();
await Promise.all(floods);
log(`refusal-flood: flood over after ${elapsed.toFixed(1)} s; stopping vFunD`);
const exited = new Promise((r) => vfund.once('exit', r));
vfund.kill('SIGTERM');
await exited;

const envs = (await readFile(journalPath, 'utf8'))
  .split('\n')
  .filter(Boolean)
  .map((l) => ({ env: JSON.parse(l) as Envelope, bytes: Buffer.byteLength(l) + 1 }));
const mine = envs.slice(seqAtStart).filter((e) => e.env.tenant === 'flood');
const byType: Record<string, number> = {};
for (const { env } of mine) byType[env.type] = (byType[env.type] ?? 0) + 1;
const floodBytes = mine.reduce((n, e) => n + e.bytes, 0);
const chain = await verifyChain(envs.map((e) => e.env));
const replay = await replayJournal(envs.map((e) => e.env));

const report = {
  seconds,
  connections,
  window,
  line: values.line,
  lines_sent: counts.linesSent,
  answers: counts.answers,
  disconnections: counts.disconnections,
  flood_events: mine.length,
  flood_bytes: floodBytes,
  flood_bytes_per_s: Math.round(floodBytes / seconds),
  window_bytes: windowBytes,
  window_bytes_per_s: Math.round(windowBytes / elapsed),
  events_by_type: byType,
  chain_verified: chain.ok,
  replay_divergence: replay.divergence === null ? null : replay.divergence.seq,
  meta: { date: new Date().toISOString(), node: process.version, cpus: cpus().length, loadavg_at_end: loadavg().map((l) => Math.round(l * 100) / 100) },
};
console.log(values.json ? JSON.stringify(report) : JSON.stringify(report, null, 2));
await rm(root, { recursive: true, force: true });
process.exit(chain.ok && replay.divergence === null ? 0 : 1);
