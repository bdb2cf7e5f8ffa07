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
import type { Rng } from './rng.js';

export type FaultKind = 'load-failure' | 'hang' | 'wrong-result' | 'reset';

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
