/**
 * The actions of `vfun audit`, `vfun audit summary` and `vfun replay`, reading
 * the journal as a stream (nothing gathered into an array first): the audit
 * list through audit-stream.ts, the summary a batch at a time, replay folding
 * as it reads, from the latest snapshot with `--from-snapshot`.
 */
import { replayJournal, type ReplayReport } from '../actors/replay.js';
import { usableSnapshot } from '../actors/restore.js';
import { stateOfSnapshot } from '../actors/snapshot.js';
import { capacityReport, initialState, liveInstances, stepOfInstance } from '../actors/state.js';
import { readFromLast } from '../events/journal.js';
import type { Envelope } from '../events/envelope.js';
import type { Journal } from '../events/journal.js';
import { ValidationError } from '../errors.js';
import { ed25519Verify } from '../events/adapters/checkpoint-key.js';
import { checkedAgainstCheckpoints } from '../events/checkpoint-verify.js';
import { verifierKey } from './checkpoint-commands.js';
import { auditPredicate, formatSummary, summarize, type AuditFilter, type AuditFormat, type TenantSummary } from './audit.js';
import { printAudit, streamSink, windowOf, type Window } from './audit-stream.js';
import { abortOnSignals, checkFollowWindow, followerOf, latch, printFollowing, readThenFollow } from './audit-follow.js';
import type { TableStyle } from './audit-table.js';
import { warn } from './output.js';
import { journalUrl, openForReading, type JournalOptions } from './journal-options.js';
import { hostChecked, newTally, pendingNote, withoutPending, withPending } from './read-journal.js';

/**
 * Runs `use` on the journal opened for reading, and closes it. Its reads are
 * checked against the journal's signed checkpoints as they pass (with the
 * public key `audit verify` uses by default, when there is one): a journal
 * rewritten with recomputed hashes fails here too.
 */
async function withJournal<T>(o: JournalOptions, use: (journal: Journal, raw: RawReader) => Promise<T>): Promise<T> {
  const key = await verifierKey(o);
  const { journal } = await openForReading(o);
  const check = (source: AsyncIterable<Envelope>) => checkedAgainstCheckpoints(source, { key, verify: ed25519Verify, location: journal.url });
  const checked: Journal = {
    url: journal.url,
    head: () => journal.head(),
    append: (envs, options) => journal.append(envs, options),
    close: () => journal.close(),
    read: (options) => check(hostChecked(journal.read(options), o)),
    readFromLast: async (type) => {
      const found = await readFromLast(journal, type);
      return found === null ? null : check(hostChecked(found, o));
    },
  };
  try {
    return await use(checked, { journal, check: (source) => check(hostChecked(source, o)) });
  } finally {
    await journal.close();
  }
}

/** The journal as opened (unchecked), and the checks `withJournal` puts on its reads, for a stream of one's own. */
interface RawReader {
  readonly journal: Journal;
  readonly check: (source: AsyncIterable<Envelope>) => AsyncIterable<Envelope>;
}

/** `vfun audit`: the events that match, streamed; `--limit` / `--tail`; `--follow`; `--wide`. */
export async function auditCommand(o: JournalOptions & AuditFilter & { format: AuditFormat; limit?: string; tail?: string; follow?: boolean; wide?: boolean }): Promise<void> {
  const match = auditPredicate(o, (l) => warn(`vfun: ${l}`));
  const window = windowOf(o);
  const style = o.wide === true ? 'wide' : 'fit';
  if (o.follow === true) return followAudit(o, match, window, style);
  const tenants = new Set<string>();
  // The events waiting in the outbox come after the journal's, marked pending.
  await withJournal(o, (journal) => printAudit(tenantsSeen(withPending(journal.read(), o), tenants), match, o.format, window, streamSink(process.stdout), style));
  unknownTenant(o.tenant, tenants);
}

/**
 * `vfun audit --follow`: what matches, then each new match as it is journaled,
 * until SIGINT or SIGTERM. A --tenant no event names yet is said on stderr
 * once caught up (it may come): following goes on.
 */
async function followAudit(o: JournalOptions & AuditFilter & { format: AuditFormat }, match: (e: Envelope) => boolean, window: Window, style: TableStyle): Promise<void> {
  checkFollowWindow(window);
  const stop = abortOnSignals();
  try {
    await withJournal(o, async (_checked, raw) => {
      const follower = await followerOf(raw.journal, stop.signal);
      const caughtUp = latch();
      const tenants = new Set<string>();
      const source = raw.check(readThenFollow(raw.journal, follower.follow, () => caughtUp.open()));
      try {
        await printFollowing(tenantsSeen(source, tenants), caughtUp, match, o.format, window, streamSink(process.stdout), style, () => {
          if (o.tenant !== undefined && !tenants.has(o.tenant)) console.error(`no event of this journal names tenant '${o.tenant}' yet: following`);
        });
      } finally {
        follower.close();
      }
    });
  } finally {
    stop.undo();
  }
}

/** The envelopes of `source`, noting each tenant named. */
async function* tenantsSeen<E extends Envelope>(source: AsyncIterable<E>, into: Set<string>): AsyncGenerator<E> {
  for await (const e of source) {
    if (e.tenant !== null) into.add(e.tenant);
    yield e;
  }
}

/**
 * A --tenant that no event of the journal names is more likely a typo than a
 * quiet tenant: ValidationError naming the tenants it does hold (exit 1).
 */
function unknownTenant(tenant: string | undefined, seen: ReadonlySet<string>): void {
  if (tenant === undefined || seen.has(tenant)) return;
  const known = [...seen].sort();
  throw new ValidationError('--tenant', `no event of this journal names tenant '${tenant}'; it holds ${known.length === 0 ? 'no tenant event' : `tenants ${known.join(', ')}`}`);
}

/** Rows of two summaries of the same tenant added up: numbers summed, records of numbers summed key by key. */
export function mergeSummary(a: TenantSummary, b: TenantSummary): TenantSummary {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const mine = out[k];
    if (typeof v === 'number' && typeof mine === 'number') out[k] = mine + v;
    else if (typeof v === 'object' && v !== null && typeof mine === 'object' && mine !== null) {
      const sum: Record<string, number> = { ...(mine as Record<string, number>) };
      for (const [kk, n] of Object.entries(v as Record<string, number>)) sum[kk] = (sum[kk] ?? 0) + n;
      out[k] = sum;
    } else if (mine === undefined) out[k] = v;
  }
  return out as unknown as TenantSummary;
}

/** The envelopes of `source` that `match`. */
export async function* matching(source: AsyncIterable<Envelope>, match: (e: Envelope) => boolean): AsyncGenerator<Envelope> {
  for await (const e of source) if (match(e)) yield e;
}

/** Events summarized per batch of this many, the batches' rows added up. */
const SUMMARY_BATCH = 10_000;

/** The summary of a stream of envelopes, holding one batch at a time. */
export async function summarizeStream(source: AsyncIterable<Envelope>): Promise<TenantSummary[]> {
  const rows = new Map<string, TenantSummary>();
  let batch: Envelope[] = [];
  const flush = () => {
    for (const r of summarize(batch)) {
      const had = rows.get(r.tenant);
      rows.set(r.tenant, had === undefined ? r : mergeSummary(had, r));
    }
    batch = [];
  };
  for await (const e of source) {
    batch.push(e);
    if (batch.length >= SUMMARY_BATCH) flush();
  }
  flush();
  return [...rows.values()].sort((a, b) => a.tenant.localeCompare(b.tenant));
}

/** `vfun audit summary`. */
export async function summaryCommand(o: JournalOptions & AuditFilter & { format: AuditFormat }): Promise<void> {
  const match = auditPredicate(o, (l) => warn(`vfun: ${l}`));
  const tally = newTally();
  const tenants = new Set<string>();
  const rows = await withJournal(o, async (journal) => summarizeStream(matching(tenantsSeen(withoutPending(withPending(journal.read(), o, tally)), tenants), match)));
  unknownTenant(o.tenant, tenants);
  console.log(formatSummary(rows, o.format));
  const waiting = pendingNote(tally);
  if (waiting !== null) console.error(`summary of the journal only: ${waiting}`);
}

/**
 * The replay, from the first event or (`fromSnapshot`) from the latest
 * snapshot; `from`: the seq it started at. `more` appends what follows the
 * journal (the outbox's pending events).
 */
async function replayOf(journal: Journal, fromSnapshot: boolean, more: (source: AsyncIterable<Envelope>) => AsyncIterable<Envelope>): Promise<ReplayReport & { from: number }> {
  if (!fromSnapshot) return { ...(await replayJournal(more(journal.read()))), from: 1 };
  const tail = await readFromLast(journal, 'state.snapshot');
  if (tail === null) return { ...(await replayJournal(more(journal.read()), initialState)), from: 1 };
  const it = tail[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done === true || !usableSnapshot(first.value)) {
    await it.return?.();
    throw new ValidationError('--from-snapshot', `the latest snapshot${first.done === true ? '' : ` (seq ${first.value.seq})`} cannot be read by this build: replay without --from-snapshot`);
  }
  const snapshot = first.value;
  // The snapshot's envelope is the head when nothing follows it: the outbox continues after it.
  const rest: AsyncIterable<Envelope> = { [Symbol.asyncIterator]: () => it };
  async function* fromSnapshotOn(): AsyncGenerator<Envelope> {
    yield snapshot;
    yield* rest;
  }
  const after = more(fromSnapshotOn())[Symbol.asyncIterator]();
  await after.next(); // the snapshot itself: its state is where the fold starts
  return { ...(await replayJournal({ [Symbol.asyncIterator]: () => after }, stateOfSnapshot(snapshot.data))), from: snapshot.seq };
}

/** `vfun replay [--from-snapshot]`: fold, print the state, re-run decide; exit 1 on a divergence. */
export async function replayCommand(o: JournalOptions & { format: 'text' | 'json'; fromSnapshot?: boolean }): Promise<void> {
  // Events waiting in the outbox were decided: folded after the journal's, so what they released is not shown live.
  const tally = newTally();
  const report = await withJournal(o, (journal) => replayOf(journal, o.fromSnapshot === true, (source) => withPending(source, o, tally)));
  const waiting = pendingNote(tally);
  if (waiting !== null) console.error(`replay: ${waiting}; folded after the journal's ${tally.journal} events`);
  const s = report.state;
  if (o.format === 'json') {
    console.log(JSON.stringify({ ...report, capacity: capacityReport(s) }, null, 2));
  } else {
    const from = report.from > 1 ? ` after the snapshot at seq ${report.from}` : '';
    console.log(`journal ${journalUrl(o)}: ${report.events} events${from}, ${report.commands} commands`);
    console.log(`vFunD on ${s.host ?? '(never started)'}: ${s.running ? 'running (no vfund.stopped yet)' : 'stopped'}`);
    for (const t of s.config?.tenants ?? []) {
      const held = liveInstances(s).filter((i) => i.tenant === t.id);
      console.log(`  tenant ${t.id}: ${held.length} of ${t.maxInstances} instances${held.length ? `: ${held.map((i) => `${i.id} ${i.app}/${i.fn}/${i.kind} ${stepOfInstance(i)}`).join(', ')}` : ''}`);
    }
    for (const c of capacityReport(s)) console.log(`  capacity ${c.fn}/${c.kind}: ${c.inUse} of ${c.slots} slots in use`);
    if (report.divergence === null) console.log(`decide reproduces all ${report.commands} recorded decisions`);
  }
  if (report.divergence !== null) {
    const d = report.divergence;
    console.error(
      `DIVERGENCE at seq ${d.seq} (${d.command}, causation ${d.causationId ?? '-'}):\n  recorded:   ${JSON.stringify(d.recorded)}\n  recomputed: ${JSON.stringify(d.recomputed)}`,
    );
    process.exitCode = 1;
  }
}
