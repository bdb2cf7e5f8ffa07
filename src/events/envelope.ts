/**
 * The envelope every journaled event travels in (DESIGN.md, "Journal").
 * Ids and timestamps come from an injected `Clock` and `IdSource`, so core
 * logic never reads the wall clock or a random source itself.
 */
import type { VFunEvent } from './catalogue.js';

/** Time source, injected. Milliseconds since the Unix epoch. */
export interface Clock {
  /** The current time, in milliseconds since the Unix epoch. */
  now(): number;
}

/** Id source, injected. Must return a fresh, unique string on every call. */
export interface IdSource {
  /** A fresh id, never returned before by this source. */
  next(): string;
}

/** Who an event is about. `null` for host-wide events (vfund.started ...). */
export interface Scope {
  readonly tenant: string | null;
  readonly app: string | null;
  readonly fn: string | null;
  readonly instance: string | null;
}

/** The scope of host-wide events (vfund.started, journal.checkpoint, …): about no tenant, app, function or instance. */
export const HOST_SCOPE: Scope = { tenant: null, app: null, fn: null, instance: null };

/** Hash of "nothing before": the prevHash of the first event of a journal. */
export const GENESIS_HASH = '0'.repeat(64);

/** A sealed event as stored in a journal. */
export type Envelope<E extends VFunEvent = VFunEvent> = E extends VFunEvent
  ? {
      /** Unique id (from the IdSource); also the JetStream msg-id. */
      readonly id: string;
      readonly type: E['type'];
      /** Schema version of `data`. */
      readonly v: number;
      /** ISO-8601 UTC timestamp (from the Clock). */
      readonly at: string;
      /** Host whose vFunD journaled the event. */
      readonly host: string;
      readonly tenant: string | null;
      readonly app: string | null;
      readonly fn: string | null;
      readonly instance: string | null;
      /** Position in the journal, 1-based, gap-free. */
      readonly seq: number;
      /** Id of the command (request) that caused this event. */
      readonly causationId: string | null;
      /** Id grouping every event of one conversation (e.g. one instance's lifecycle). */
      readonly correlationId: string | null;
      /** `hash` of the previous event, or GENESIS_HASH. */
      readonly prevHash: string;
      /** SHA-256 (hex) of the canonical encoding of every other field. */
      readonly hash: string;
      readonly data: E['data'];
    }
  : never;

/** An event as vFunD hands it to the recorder: not yet stamped nor chained. */
export interface PendingEvent {
  readonly event: VFunEvent;
  readonly scope: Scope;
  readonly causationId: string | null;
  readonly correlationId: string | null;
}

/** The unsealed event of an envelope. */
export function eventOf(env: Envelope): VFunEvent {
  return { type: env.type, data: env.data } as VFunEvent;
}
