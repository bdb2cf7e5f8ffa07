/**
 * The hostile tenants of `npm run chaos -- --hostile`: each drives a hostile
 * guest (attacker.ts) through random attacks, one after the other, until told
 * to stop. Every attack is a real one (docs: test/daemon/hostile-*.e2e.spec.ts
 * make the same ones one by one): its outcome is checked as it happens (a
 * resize that is not refused, a link vFunD followed, a release refused...),
 * and what vFunD must journal for it is remembered, to be checked against the
 * journal at the end (`checkCauses`).
 */
import { AttackerProcess } from './attacker-client.js';

export const ATTACKS = ['resize', 'garbage', 'tree', 'guest-kill', 'guest-stop', 'service-kill', 'flood', 'quota', 'disconnect'] as const;
export type AttackKind = (typeof ATTACKS)[number];

/** What the journal must say of an attacker's instance. */
export interface Expectation {
  readonly instance: string;
  readonly attack: string;
  /** `instance.released` reason. */
  readonly reason: 'client' | 'lease' | 'failure';
  /** `service.failed` cause.signal, when the attack killed the service. */
  readonly signal?: string;
}

export interface HostileTally {
  /** Attacks made, by kind (service-kill by signal). */
  readonly attacks: Record<string, number>;
  /** Outcomes that were not what containment promises, with what was seen. */
  readonly unexpected: { attack: string; detail: string }[];
  readonly expectations: Expectation[];
}

export interface HostileTenantOptions {
  readonly socket: string;
  readonly tenant: string;
  readonly secret: string;
  readonly identity?: { readonly uid: number; readonly gid: number };
  /** Functions the attacks open instances of. */
  readonly fns: readonly string[];
  readonly random: () => number;
  readonly tally: HostileTally;
}

type Opened = { instance?: string; refused?: string };
type LoopEnd = { ok: number; errors: Record<string, number>; ended: string };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class HostileTenant {
  private attacker: AttackerProcess | null = null;
  private n = 0;
  constructor(private readonly o: HostileTenantOptions) {}

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.o.random() * xs.length)]!;
  }

  private unexpected(attack: string, detail: unknown): void {
    this.o.tally.unexpected.push({ attack, detail: typeof detail === 'string' ? detail : JSON.stringify(detail) });
  }

  private async guest(): Promise<AttackerProcess> {
    if (this.attacker?.alive) return this.attacker;
    this.attacker = new AttackerProcess({ socket: this.o.socket, tenant: this.o.tenant, secret: this.o.secret, ...(this.o.identity && { identity: this.o.identity }) });
    await this.attacker.ready;
    return this.attacker;
  }

  /** Attack until `stop()` says so; each attack runs to its end. */
  async run(stop: () => boolean): Promise<void> {
    while (!stop()) {
      const kind = this.pick(ATTACKS);
      try {
        await this.attack(kind);
      } catch (e) {
        this.unexpected(kind, (e as Error).message.slice(0, 300));
        // Whatever state the guest is in, start from a new one (vFunD releases what it held: its lease).
        await this.attacker?.close();
        this.attacker = null;
      }
    }
  }

  async close(): Promise<void> {
    await this.attacker?.close();
  }

  private async open(a: AttackerProcess, attack: string, fn: string = this.pick(this.o.fns)): Promise<string | null> {
    const r = await a.request<Opened>('open', { app: `${attack}${this.n++}`, fn });
    if (r.instance === undefined) {
      this.unexpected(attack, `open refused: ${r.refused}`);
      return null;
    }
    return r.instance;
  }

  private expectReleased(instance: string, attack: string, reason: Expectation['reason'], signal?: string): void {
    this.o.tally.expectations.push({ instance, attack, reason, ...(signal !== undefined && { signal }) });
  }

  /** Release what the guest holds; each release must be the guest's own (reason client). */
  private async release(a: AttackerProcess, attack: string, instances: readonly string[]): Promise<void> {
    const r = await a.request<{ released: Record<string, { calls?: number; error?: string }> }>('release');
    for (const i of instances) {
      if (r.released[i]?.calls === undefined) this.unexpected(attack, { release: i, got: r.released[i] });
      else this.expectReleased(i, attack, 'client');
    }
  }

  private async attack(kind: AttackKind): Promise<void> {
    const a = await this.guest();
    const count = (k: string) => (this.o.tally.attacks[k] = (this.o.tally.attacks[k] ?? 0) + 1);
    switch (kind) {
      case 'resize': {
        const i = await this.open(a, kind);
        if (!i) return;
        count(kind);
        const r = await a.request<{ bytes: number; attempts: Record<string, string>; sizes: Record<string, number[]> }>('resize');
        const wrong = Object.entries(r.attempts).filter(([what, got]) => got !== (/range/.test(what) ? 'EOPNOTSUPP' : 'EPERM'));
        if (wrong.length > 0 || Object.values(r.sizes).some(([x, y]) => x !== r.bytes || y !== r.bytes)) this.unexpected(kind, { wrong, sizes: r.sizes });
        const c = await a.request<{ ok: number }>('calls', { n: 50 });
        if (c.ok !== 50) this.unexpected(kind, { callsAfter: c });
        return this.release(a, kind, [i]);
      }
      case 'garbage': {
        const i = await this.open(a, kind);
        if (!i) return;
        count(kind);
        await a.request('garbage', { rounds: 100 + Math.floor(this.o.random() * 300), datain: this.o.random() < 0.5, punch: this.o.random() < 0.3 });
        return this.release(a, kind, [i]);
      }
      case 'tree': {
        const fn = this.pick(this.o.fns);
        const i = await this.open(a, kind, fn);
        if (!i) return;
        count(kind);
        const t = await a.request<{ attempts: Record<string, string>; decoy: string; after: { ok: number } }>('tree', { variant: this.o.random() < 0.5 ? 'file' : 'symlink' });
        if (t.after.ok !== 5) this.unexpected(kind, { callsAfter: t.after });
        if (this.o.identity) {
          // With a uid of its own, the tenant may change the files it owns, nothing else.
          const allowed = new Set(['region.json overwrite', 'region.json chmod 000', 'control.sock chmod 000', 'control.sock chmod back']);
          const wrong = Object.entries(t.attempts).filter(([what, got]) => got === 'ok' && !allowed.has(what));
          if (wrong.length > 0) this.unexpected(kind, { allowed: wrong });
        }
        await this.release(a, kind, [i]);
        // vFunD removed the instance's names: it must not have followed a link the tenant put in their place.
        const d = await a.request<{ canary: boolean }>('decoy', { path: t.decoy, fn });
        if (!d.canary) this.unexpected(kind, 'vFunD deleted through a link the tenant put in place of its directory');
        return;
      }
      case 'guest-kill': {
        const i = await this.open(a, kind);
        if (!i) return;
        count(kind);
        await a.request('loop');
        a.signal('SIGKILL');
        await a.exited;
        this.attacker = null;
        return this.expectReleased(i, kind, 'lease');
      }
      case 'guest-stop': {
        const i = await this.open(a, kind);
        if (!i) return;
        count(kind);
        await a.request('loop');
        a.signal('SIGSTOP');
        await sleep(200 + this.o.random() * 800);
        a.signal('SIGCONT');
        const before = (await a.request<{ ok: number }>('loopStats')).ok;
        for (let k = 0; k < 100 && (await a.request<{ ok: number }>('loopStats')).ok <= before; k++) await sleep(50);
        if ((await a.request<{ ok: number }>('loopStats')).ok <= before) this.unexpected(kind, 'no call went through after SIGCONT');
        return this.release(a, kind, [i]);
      }
      case 'service-kill': {
        const i = await this.open(a, kind);
        if (!i) return;
        const signal = this.pick(['SIGKILL', 'SIGSEGV', 'SIGBUS'] as const);
        count(`service-kill ${signal}`);
        await a.request('loop');
        const k = await a.request<{ result: string }>('kill', { signal });
        if (k.result !== 'ok') this.unexpected(kind, { kill: k });
        const end = await a.request<LoopEnd>('loopWait');
        if (end.ended !== 'CHANNEL_CLOSED') this.unexpected(kind, { loop: end });
        await a.request('release'); // refused (the instance is gone): only lets go of the descriptors
        return this.expectReleased(i, kind, 'failure', signal);
      }
      case 'flood': {
        const i = await this.open(a, kind);
        if (!i) return;
        count(kind);
        const f = await a.request<{ cut: boolean; byReason: Record<string, number> }>('flood', { lines: 1000 + Math.floor(this.o.random() * 3000) });
        if (!f.cut) {
          this.unexpected(kind, { notCut: f.byReason });
          return this.release(a, kind, [i]);
        }
        return this.expectReleased(i, kind, 'lease');
      }
      case 'quota': {
        count(kind);
        const q = await a.request<{ instances: string[]; refused: string | null }>('quota', { app: `quota${this.n++}-`, fn: this.pick(this.o.fns) });
        if (q.refused !== 'quota') this.unexpected(kind, q);
        return this.release(a, kind, q.instances);
      }
      case 'disconnect': {
        const i = await this.open(a, kind);
        if (!i) return;
        count(kind);
        await a.request('loop');
        const d = await a.request<{ loop: LoopEnd | null }>('disconnect');
        if (d.loop?.ended !== 'CHANNEL_CLOSED') this.unexpected(kind, d);
        return this.expectReleased(i, kind, 'lease');
      }
    }
  }
}

interface JournalEvent {
  readonly type: string;
  readonly data: { readonly instance?: string; readonly reason?: string; readonly cause?: { readonly signal: string | null } };
}

/** Check what the journal says of each attacker instance against what its attack must have caused. */
export function checkCauses(events: readonly JournalEvent[], expectations: readonly Expectation[]): { journaled: Record<string, number>; missing: { expectation: Expectation; found: string[] }[] } {
  const byInstance = new Map<string, JournalEvent[]>();
  for (const e of events) {
    const i = e.data.instance;
    if (i === undefined) continue;
    (byInstance.get(i) ?? byInstance.set(i, []).get(i)!).push(e);
  }
  const journaled: Record<string, number> = {};
  const missing: { expectation: Expectation; found: string[] }[] = [];
  for (const x of expectations) {
    const life = byInstance.get(x.instance) ?? [];
    const released = life.find((e) => e.type === 'instance.released');
    const failed = life.find((e) => e.type === 'service.failed');
    const lost = life.find((e) => e.type === 'client.lost');
    const ok =
      released?.data.reason === x.reason &&
      (x.signal === undefined || failed?.data.cause?.signal === x.signal) &&
      (x.reason !== 'lease' || lost !== undefined);
    if (!ok) {
      missing.push({ expectation: x, found: life.map((e) => `${e.type}${e.data.reason ? `(${e.data.reason})` : ''}${e.data.cause ? `(${e.data.cause.signal})` : ''}`) });
      continue;
    }
    const key = x.signal !== undefined ? `service.failed ${x.signal}` : x.reason === 'lease' ? 'client.lost' : 'released by the guest';
    journaled[key] = (journaled[key] ?? 0) + 1;
  }
  return { journaled, missing };
}
