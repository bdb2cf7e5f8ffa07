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
import { capacityOf, instancesOf, type HostStatus, type InstanceStatus, type JournalStatus } from './status.js';

export interface LiveStatusOptions {
  readonly vfund: VFunD<unknown>;
  readonly journal: Journal;
  readonly host: string;
  readonly clock: Clock;
  /** The guest process that holds an instance, when its control socket knows (SO_PEERCRED). */
  readonly guestOf?: (instance: string) => InstanceStatus['guest'];
  /** Tenants an operator disabled, and whether vFunD admits new negotiations. */
  readonly disabledTenants?: () => ReadonlySet<string>;
  readonly accepting?: () => boolean;
}

/** Follows a running vFunD; `status()` builds its HostStatus. */
export class LiveStatus {
  private readonly startedAt: number;
  private readonly ackedAt = new Map<string, number>();
  private lastCheckpoint: JournalStatus['lastCheckpoint'] = null;
  private waiting = 0;
  private readonly unsubscribe: Array<() => void> = [];

  constructor(private readonly opts: LiveStatusOptions) {
    this.startedAt = opts.clock.now();
    this.unsubscribe.push(
      opts.vfund.subscribe((envelopes) => {
        for (const e of envelopes) {
          if (e.type === 'negotiation.acked') this.ackedAt.set(e.data.instance, Date.parse(e.at));
          else if (e.type === 'instance.released') this.ackedAt.delete(e.data.instance);
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
        errors: stats === undefined ? 0 : Object.values(stats.errors).reduce((a, b) => a + b, 0),
        latency: null,
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
      ...capacityOf(state, this.opts.disabledTenants?.()),
      totals: [],
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
