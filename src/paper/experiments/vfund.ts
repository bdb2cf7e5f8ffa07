/**
 * A real vFunD for the experiments that go through one (concurrency, noisy-neighbour): started as
 * `vfun up` starts it (startDaemon: a file journal, one control socket per tenant, regions as
 * sealed memory, each instance's service in a process of its own), with the tenants and payload
 * functions an experiment names. Stopping it checks its journal: the hash chain, and how many
 * instances went through negotiation, activation and release.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../actors/config.js';
import { startDaemon, type Daemon } from '../../daemon/start.js';
import { openJournal } from '../../events/adapters/open-journal.js';
import { verifyChain } from '../../events/chain.js';
import { eventOf, type Envelope } from '../../events/envelope.js';
import type { PayloadFn } from './options.js';

/** One tenant of the experiment's vFunD. */
export interface ExperimentTenant {
  readonly id: string;
  readonly maxInstances: number;
}

/** What the journal of the run says, as results.json records it. */
export interface JournalSummary {
  /** The journal's copy in the results folder. */
  readonly file: string;
  readonly events: number;
  readonly chainValid: boolean;
  /** negotiation.acked, activation.acked and instance.released events: one each per guest that went through the four phases. */
  readonly negotiated: number;
  readonly activated: number;
  readonly released: number;
}

/** A running vFunD of an experiment. */
export interface ExperimentVfund {
  readonly daemon: Daemon;
  /** The control socket of a tenant. */
  socket(tenant: string): string;
  /** The secret of a tenant (a fixed test value: this vFunD lives for one run, in a private folder). */
  secret(tenant: string): string;
  /** Stop vFunD, copy its journal to `out/journal.ndjson` and check it. */
  stop(out: string): Promise<JournalSummary>;
}

/** The secret of a tenant of an experiment's vFunD. */
export function experimentSecret(tenant: string): string {
  return `experiment tenant ${tenant}: not a production secret`;
}

/** Start vFunD in `root` with these tenants and functions (4 + every instance's slots); its region capacity holds `maxPayload`. */
export async function startExperimentVfund(o: { root: string; tenants: readonly ExperimentTenant[]; fns: readonly PayloadFn[]; maxPayload: number }): Promise<ExperimentVfund> {
  const slots = o.tenants.reduce((s, t) => s + t.maxInstances, 0);
  const config = parseConfig({
    tenants: o.tenants.map((t) => ({ id: t.id, secret: experimentSecret(t.id), maxInstances: t.maxInstances })),
    functions: [...new Set(o.fns)].map((fn) => ({ name: fn, kinds: { sw: { slots, driver: fn } } })),
    regionCapacity: Math.max(64 * 1024, o.maxPayload),
  });
  mkdirSync(join(o.root, 'admin'), { recursive: true, mode: 0o700 });
  const journalFile = join(o.root, 'admin', 'journal.ndjson');
  const daemon = await startDaemon({ config, root: o.root, journal: `file:${journalFile}`, log: () => undefined });
  return {
    daemon,
    socket: (t) => {
      const s = daemon.sockets[t];
      if (s === undefined) throw new Error(`no tenant ${t}`);
      return s;
    },
    secret: experimentSecret,
    async stop(out) {
      await daemon.stop('experiment done');
      const copy = join(out, 'journal.ndjson');
      copyFileSync(journalFile, copy);
      const { journal } = await openJournal(`file:${copy}`, { readOnly: true });
      const envelopes: Envelope[] = [];
      try {
        for await (const e of journal.read()) envelopes.push(e);
      } finally {
        await journal.close();
      }
      const types = envelopes.map((e) => eventOf(e).type);
      const count = (t: string): number => types.filter((x) => x === t).length;
      return {
        file: 'journal.ndjson',
        events: envelopes.length,
        chainValid: (await verifyChain(envelopes)).ok,
        negotiated: count('negotiation.acked'),
        activated: count('activation.acked'),
        released: count('instance.released'),
      };
    },
  };
}
