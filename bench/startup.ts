/**
 * Start-up benchmark: how long `vfun up` (startDaemon) takes to be ready on a
 * large file journal, with a `state.snapshot` near its end (start-up folds
 * only what follows it) and without one (it folds the whole history).
 *
 *   with_snapshot_ms[]      startDaemon until it answers, one figure per run
 *   without_snapshot_ms[]   the same on the same journal without its snapshot
 *   events, snapshot_before_end, journal_bytes, generate_ms
 *
 * Each run starts from a fresh copy of the generated journal (a run appends
 * to it, and its stop may journal a snapshot). Nothing is asserted.
 *
 *   node dist/bench/startup.js [--json] [--events N] [--tail N] [--runs N]
 *
 * --json: one JSON object on stdout, progress on stderr. Target (issue 15):
 * under 2 s with a snapshot on 1M events.
 */
import { copyFile, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startDaemon } from '../src/daemon/start.js';
import { benchConfig, writeBenchJournal } from './startup-journal.js';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    events: { type: 'string', default: '1000000' },
    tail: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '2' },
  },
});
const EVENTS = Number(values.events);
const TAIL = Number(values.tail);
const RUNS = Number(values.runs);
if (!(EVENTS > 10 && TAIL >= 0 && TAIL < EVENTS && RUNS >= 1)) {
  console.error('usage: bench:startup [--json] [--events N>10] [--tail N<events] [--runs N>=1]');
  process.exit(2);
}
const log = (msg: string): void => {
  process.stderr.write(`${msg}\n`);
};

/** Milliseconds startDaemon takes on a copy of `journal`. */
async function timeStart(dir: string, journal: string, run: number): Promise<number> {
  const root = join(dir, `root-${run}`);
  await mkdir(join(root, 'admin'), { recursive: true, mode: 0o700 });
  const path = join(root, 'admin', 'journal.ndjson');
  await copyFile(journal, path);
  const t0 = performance.now();
  const daemon = await startDaemon({ config: benchConfig, journal: `file:${path}?host=bench-host`, root, log: () => undefined });
  const ms = performance.now() - t0;
  await daemon.stop('benchmark done');
  await rm(root, { recursive: true, force: true });
  return ms;
}

const dir = await mkdtemp(join(tmpdir(), 'vfun-bench-startup-'));
try {
  const withSnapshot = join(dir, 'with.ndjson');
  const withoutSnapshot = join(dir, 'without.ndjson');
  let t = performance.now();
  log(`writing a journal of ${EVENTS} events, a snapshot ${TAIL} events before its end ...`);
  const snapshotSeq = await writeBenchJournal({ path: withSnapshot, events: EVENTS, snapshotBeforeEnd: TAIL });
  const generateMs = performance.now() - t;
  log(`  ${(generateMs / 1000).toFixed(1)} s (snapshot at seq ${snapshotSeq})`);
  t = performance.now();
  await writeBenchJournal({ path: withoutSnapshot, events: EVENTS, snapshotBeforeEnd: null });
  log(`  and without a snapshot: ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const bytes = (await stat(withSnapshot)).size;
  const withMs: number[] = [];
  const withoutMs: number[] = [];
  for (let run = 1; run <= RUNS; run++) {
    withMs.push(await timeStart(dir, withSnapshot, run));
    log(`run ${run}: with a snapshot ${withMs.at(-1)!.toFixed(0)} ms`);
    withoutMs.push(await timeStart(dir, withoutSnapshot, run));
    log(`run ${run}: without ${withoutMs.at(-1)!.toFixed(0)} ms`);
  }
  const round = (xs: number[]) => xs.map((x) => Math.round(x));
  const result = { events: EVENTS, snapshot_before_end: TAIL, journal_bytes: bytes, generate_ms: Math.round(generateMs), with_snapshot_ms: round(withMs), without_snapshot_ms: round(withoutMs) };
  if (values.json) console.log(JSON.stringify(result));
  else {
    console.log(`vfun up on a file journal of ${EVENTS} events (${(bytes / 1e6).toFixed(0)} MB):`);
    console.log(`  with a snapshot ${TAIL} events before the end: ${result.with_snapshot_ms.join(', ')} ms`);
    console.log(`  without a snapshot (full fold):              ${result.without_snapshot_ms.join(', ')} ms`);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
