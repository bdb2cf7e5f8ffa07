/**
 * The live side of `HostStatus` (status.ts): what vFunD's state does not
 * hold and a running daemon learns as it goes (when each instance was acked,
 * its latest checkpoint, how many events wait for the journal), gathered by
 * listening to vFunD and its journal, and read on demand.
 */
import type { VFunD } from '../actors/vfund.js';
import type { Journal } from '../events/journal.js';
import type { Clock } from '../events/envelope.js';
import { packageVersion } from '../util/version.js';
import type { ComputationStats, Kind } from '../domain/types.js';
import { mergeAll } from '../dataplane/latency-histogram.js';
import { capacityOf, instancesOf, type CallTotals, type HostStatus, type InstanceStatus, type JournalStatus, type LatencyHistogram } from './status.js';

/** Calls of one tenant, function and kind. */
interface Total {
  tenant: string;
  fn: string;
  kind: Kind;
  calls: number;
  errors: number;
  latency: LatencyHistogram | null;
}

export interface LiveStatusOptions {
  readonly vfund: VFunD<unknown>;
  readonly journal: Journal;
  readonly host: string;
  readonly clock: Clock;
  /** The guest process that holds an instance, when its control socket knows (SO_PEERCRED). */
  readonly guestOf?: (instance: string) => InstanceStatus['guest'];
  /** Whether vFunD admits new negotiations. */
  readonly accepting?: () => boolean;
}

/** Follows a running vFunD; `status()` builds its HostStatus. */
export class LiveStatus {
  private readonly startedAt: number;
  private readonly ackedAt = new Map<string, number>();
  /** Instances acked by this vFunD, and the counters of those it released, per `tenant/fn/kind`. */
  private readonly owners = new Map<string, { tenant: string; fn: string; kind: Kind }>();
  private readonly released = new Map<string, Total>();
  private lastCheckpoint: JournalStatus['lastCheckpoint'] = null;
  private waiting = 0;
  private readonly unsubscribe: Array<() => void> = [];

  constructor(private readonly opts: LiveStatusOptions) {
    this.startedAt = opts.clock.now();
    this.unsubscribe.push(
      opts.vfund.subscribe((envelopes) => {
        for (const e of envelopes) {
          if (e.type === 'negotiation.acked') {
            this.ackedAt.set(e.data.instance, Date.parse(e.at));
            this.owners.set(e.data.instance, { tenant: e.data.tenant, fn: e.data.fn, kind: e.data.kind });
          } else if (e.type === 'instance.released') {
            this.ackedAt.delete(e.data.instance);
            const owner = this.owners.get(e.data.instance);
            this.owners.delete(e.data.instance);
            if (owner !== undefined && e.data.stats !== null) {
              const t = this.total(owner);
              t.calls += e.data.stats.calls;
              t.errors += errorsOf(e.data.stats);
              // Its runtime is stopped but still known while this batch is told: its final histogram.
              t.latency = mergeAll([t.latency, opts.vfund.runtimeOf(e.data.instance)?.latency?.() ?? null]);
            }
          }
          else if (e.type === 'journal.checkpoint') this.lastCheckpoint = { seq: e.seq, size: e.data.size, at: e.at };
        }
      }),
    );
    const off = opts.journal.onAvailabilityChange?.((c) => (this.waiting = c.available ? 0 : c.waiting));
    if (off) this.unsubscribe.push(off);
  }

  /** Stop listening. */
  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }

  private total(key: { tenant: string; fn: string; kind: Kind }): Total {
    const k = `${key.tenant}/${key.fn}/${key.kind}`;
    let t = this.released.get(k);
    if (t === undefined) this.released.set(k, (t = { ...key, calls: 0, errors: 0, latency: null }));
    return t;
  }

  /** Per tenant, function and kind: what released instances counted plus what live ones count now (monotonic while vFunD runs). */
  private totals(live: readonly InstanceStatus[]): CallTotals[] {
    const out = new Map<string, Total>();
    for (const [k, t] of this.released) out.set(k, { ...t });
    for (const i of live) {
      if (!this.owners.has(i.id)) continue; // recovered from a previous vFunD: its calls are not this run's
      const k = `${i.tenant}/${i.fn}/${i.kind}`;
      const t = out.get(k) ?? { tenant: i.tenant, fn: i.fn, kind: i.kind, calls: 0, errors: 0, latency: null };
      t.calls += i.calls;
      t.errors += i.errors;
      t.latency = mergeAll([t.latency, i.latency]);
      out.set(k, t);
    }
    return [...out.values()];
  }

  status(): HostStatus {
    const { vfund, journal, clock } = this.opts;
    const now = clock.now();
    const state = vfund.snapshot;
    const instances = instancesOf(state, (id) => {
      const r = vfund.runtimeOf(id);
      const stats = r?.stats();
      const acked = this.ackedAt.get(id);
      return {
        calls: stats?.calls ?? 0,
        errors: stats === undefined ? 0 : errorsOf(stats),
        latency: r?.latency?.() ?? null,
        servicePid: r?.servicePid ?? null,
        guest: this.opts.guestOf?.(id) ?? null,
        ageMs: acked === undefined ? null : Math.max(0, now - acked),
      };
    });
    const available = journal.available?.() !== false;
    return {
      host: this.opts.host,
      pid: process.pid,
      version: packageVersion(),
      startedAt: new Date(this.startedAt).toISOString(),
      uptimeMs: Math.max(0, now - this.startedAt),
      accepting: this.opts.accepting?.() ?? true,
      instances,
      ...capacityOf(state),
      totals: this.totals(instances),
      journal: {
        backend: journal.url.slice(0, Math.max(0, journal.url.indexOf(':'))) || 'unknown',
        url: journal.url,
        head: vfund.head()?.seq ?? null,
        available,
        outboxDepth: available ? 0 : this.waiting,
        lastCheckpoint: this.lastCheckpoint,
      },
    };
  }
}

function errorsOf(stats: ComputationStats): number {
  return Object.values(stats.errors).reduce((a, b) => a + b, 0);
}
