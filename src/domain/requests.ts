/**
 * What a guest asks vFunD and what it answers, as both sides see it: the
 * guest library (in-process or over the control channel) and vFunD's actor.
 * Shapes only, low in the graph, so the guest never imports vFunD.
 */
import type { Kind, NackReason } from './types.js';

/** Who asks: a tenant and its secret, as presented. */
export interface Credentials {
  readonly tenant: string;
  /** The tenant's secret, as presented. Never journaled. */
  readonly credential: string;
}

/** A negotiation: a tenant's app asks for function `fn` in kind `kind`. */
export interface NegotiateRequest extends Credentials {
  readonly app: string;
  readonly fn: string;
  readonly kind: Kind;
  /** True when this is the software retry after a hardware nack. */
  readonly fallback?: boolean;
}

/** vFunD's answer to a request: what was asked for, or a nack with its reason. */
export type Answer<T> = ({ readonly ok: true } & T) | { readonly ok: false; readonly reason: NackReason; readonly detail: string };
