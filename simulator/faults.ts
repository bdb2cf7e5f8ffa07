/**
 * The fault plan of a device: rules saying which operations fail and how.
 *
 * - `load-failure` (per load): the bitstream does not load; the load rejects at the end of its time.
 * - `hang` (per call): the kernel never completes; the call fails with a timeout at its deadline.
 * - `wrong-result` (per call): the call completes, with bits flipped in the output.
 * - `reset` (per call, or at a time): the device resets; every slot loses its bitstream.
 *
 * A rule with a `probability` stays armed and fires on each matching
 * operation with that probability (a seeded draw), up to `count` times
 * (default: unlimited). A rule without one fires on the next `count`
 * (default 1) matching operations. `slot` and `fn` narrow the match; `at`
 * arms the rule from that time on. A `reset` without a probability is not a
 * rule: it happens at `at` (or at once).
 */
import type { SimClock, TimerHandle } from './clock.js';
import type { FaultProbabilities } from './profile.js';
import type { Rng } from './rng.js';

/**
 * The faults a plan can inject: a failed load, a hung call, a wrong result, a device reset (see the module's comment).
 */
export type FaultKind = 'load-failure' | 'hang' | 'wrong-result' | 'reset';

/**
 * One fault rule as given to `SimDevice.injectFault`: its kind, what it matches, when it is armed, how often it fires.
 */
export interface FaultSpec {
  readonly kind: FaultKind;
  /** Only operations on this slot. */
  readonly slot?: number;
  /** Only operations of this function. */
  readonly fn?: string;
  /** Clock time (ns) from which the rule is armed; for a one-off reset, when it happens. */
  readonly at?: number;
  /** Chance per matching operation, in [0, 1]. */
  readonly probability?: number;
  /** How many times the rule may fire (default 1 without a probability, unlimited with one). */
  readonly count?: number;
}

export interface FaultRule {
  readonly id: string;
  readonly spec: FaultSpec;
  remaining: number;
}

export interface FaultTarget {
  readonly slot: number;
  readonly fn: string;
  readonly now: number;
}

export class FaultPlan {
  private readonly rules: FaultRule[] = [];
  private nextId = 1;

  add(spec: FaultSpec): FaultRule {
    if (spec.probability !== undefined && !(spec.probability >= 0 && spec.probability <= 1)) {
      throw new RangeError(`fault probability must be in [0, 1], got ${spec.probability}`);
    }
    const rule: FaultRule = {
      id: `f${this.nextId++}`,
      spec,
      remaining: spec.count ?? (spec.probability === undefined ? 1 : Infinity),
    };
    this.rules.push(rule);
    return rule;
  }

  /** Allocate an id for a fault that is not a rule (a scheduled reset). */
  newId(): string {
    return `f${this.nextId++}`;
  }

  remove(id: string): boolean {
    const i = this.rules.findIndex((r) => r.id === id);
    if (i < 0) return false;
    this.rules.splice(i, 1);
    return true;
  }

  clear(): void {
    this.rules.length = 0;
  }

  get size(): number {
    return this.rules.length;
  }

  /**
   * The first rule of `kind` that fires for this operation, or null. Rules are
   * tried in insertion order; a probabilistic rule draws from `rng` only when
   * it matches, so the draws are a function of the operations and the plan.
   */
  fire(kind: FaultKind, target: FaultTarget, rng: Rng): FaultRule | null {
    for (let i = 0; i < this.rules.length; i++) {
      const rule = this.rules[i]!;
      const s = rule.spec;
      if (s.kind !== kind || rule.remaining <= 0) continue;
      if (s.slot !== undefined && s.slot !== target.slot) continue;
      if (s.fn !== undefined && s.fn !== target.fn) continue;
      if (s.at !== undefined && target.now < s.at) continue;
      if (s.probability !== undefined && !(rng.next() < s.probability)) continue;
      rule.remaining--;
      if (rule.remaining <= 0) this.rules.splice(i, 1);
      return rule;
    }
    return null;
  }
}

/** The standing rules of a profile's fault probabilities (those above 0), in a fixed order. */
export function profileFaultSpecs(p: FaultProbabilities | undefined): FaultSpec[] {
  const base = p ?? {};
  const fromProfile: [FaultKind, number | undefined][] = [
    ['load-failure', base.loadFailure],
    ['hang', base.hang],
    ['wrong-result', base.wrongResult],
    ['reset', base.reset],
  ];
  const specs: FaultSpec[] = [];
  for (const [kind, probability] of fromProfile) if (probability !== undefined && probability > 0) specs.push({ kind, probability });
  return specs;
}

/** Why the device reset: a fault rule that fired during a call, or a reset injected at a time. */
export type FaultResetCause = 'injected' | 'fault';

/** What a device gives its faults: its clock, its mailbox, and a way to reset it. */
export interface FaultHost {
  readonly clock: SimClock;
  /** Run `work` in the device's mailbox. */
  post(work: () => void): void;
  /** Reset the device now (called from the mailbox; does nothing once the device is closed). */
  reset(cause: FaultResetCause, rule: string): void;
}

/**
 * The faults of one device: its plan of rules, the seeded draws that decide
 * them, and the resets scheduled on its clock. Every draw goes through one
 * RNG stream, in the order the device asks, so a seed fixes every fault.
 */
export class DeviceFaults {
  private readonly plan = new FaultPlan();
  private readonly resetTimers = new Map<string, TimerHandle>();

  constructor(
    private readonly host: FaultHost,
    private readonly rng: Rng,
    standing: readonly FaultSpec[] = [],
  ) {
    for (const spec of standing) this.plan.add(spec);
  }

  /** Add a rule, or schedule a one-off reset (a `reset` without a probability); returns its id. */
  inject(spec: FaultSpec): string {
    if (spec.kind !== 'reset' || spec.probability !== undefined) return this.plan.add(spec).id;
    const id = this.plan.newId();
    if (spec.at === undefined) {
      this.host.post(() => this.host.reset('injected', id));
      return id;
    }
    this.scheduleReset(id, spec.at, 'injected', id);
    return id;
  }

  /** Remove a rule or cancel a scheduled reset; false when `id` is neither. */
  remove(id: string): boolean {
    const timer = this.resetTimers.get(id);
    if (timer !== undefined) {
      timer.cancel();
      this.resetTimers.delete(id);
      return true;
    }
    return this.plan.remove(id);
  }

  /** Drop every rule and scheduled reset (the profile's standing rules too). */
  clear(): void {
    for (const t of this.resetTimers.values()) t.cancel();
    this.resetTimers.clear();
    this.plan.clear();
  }

  /** The rule of `kind` that fires for this operation, or null (see FaultPlan.fire). */
  fire(kind: FaultKind, target: FaultTarget): FaultRule | null {
    return this.plan.fire(kind, target, this.rng);
  }

  /** A reset rule fired during a call lasting `durationNs` from `now`: schedule the reset at a drawn time within it; returns that time. */
  resetDuring(rule: FaultRule, callId: string, now: number, durationNs: number): number {
    const at = now + Math.floor(this.rng.next() * durationNs);
    this.scheduleReset(`${rule.id}@${callId}`, at, 'fault', rule.id);
    return at;
  }

  /** A wrong-result fault: flip bits of one drawn byte of `output[0, bytes)`. */
  corrupt(output: Uint8Array, bytes: number): void {
    if (bytes <= 0) return;
    const at = this.rng.nextU32() % bytes;
    output[at] = output[at]! ^ (1 + (this.rng.nextU32() % 255));
  }

  private scheduleReset(key: string, at: number, cause: FaultResetCause, rule: string): void {
    this.resetTimers.set(
      key,
      this.host.clock.schedule(at, () =>
        this.host.post(() => {
          if (this.resetTimers.delete(key)) this.host.reset(cause, rule);
        }),
      ),
    );
  }
}
