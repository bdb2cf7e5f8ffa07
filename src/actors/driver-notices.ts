/**
 * What vFunD takes from a service about its driver, checked before it is
 * journaled: a service process runs host code on a tenant's bytes, so what it
 * sends over its IPC channel is treated as hostile like everything else a
 * tenant can reach. A malformed notice or activation is dropped (and said so
 * by the caller), strings are clipped, and an instance whose service sends
 * more notices than an honest driver ever would is reclaimed as faulty
 * instead of filling the journal.
 */
import type { AdapterIdentity, DriverActivation, DriverNotice } from '../domain/types.js';

/** Longest `detail` journaled from a notice, in characters. */
export const NOTICE_DETAIL_MAX = 512;
/** Longest adapter string (vendor, architecture, device, description) journaled, in characters. */
export const ADAPTER_FIELD_MAX = 256;
/**
 * Notices one instance's service may send. An honest GPU driver sends one failover and at most
 * MISMATCHES_BEFORE_FAILOVER mismatches (src/gpu/driver.ts); past this, the service is faulty.
 */
export const MAX_NOTICES_PER_INSTANCE = 64;

const clip = (s: string, max: number): string => (s.length > max ? `${s.slice(0, max)}…` : s);
const isText = (v: unknown): v is string => typeof v === 'string';

/** A notice as vFunD journals it, or null when `raw` is not one. */
export function checkNotice(raw: unknown): DriverNotice | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const n = raw as Record<string, unknown>;
  if (!isText(n['detail'])) return null;
  const detail = clip(n['detail'], NOTICE_DETAIL_MAX);
  if (n['type'] === 'failover') return { type: 'failover', detail };
  const call = n['call'];
  if (n['type'] === 'mismatch' && typeof call === 'number' && Number.isSafeInteger(call) && call >= 1) return { type: 'mismatch', call, detail };
  return null;
}

/** A driver's activation as vFunD journals it, or undefined when `raw` is not one. */
export function checkActivation(raw: unknown): DriverActivation | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const a = raw as Record<string, unknown>;
  const adapter = a['adapter'] as Record<string, unknown> | null | undefined;
  const prepareMs = a['prepareMs'];
  if (!isText(a['device']) || typeof prepareMs !== 'number' || !Number.isFinite(prepareMs) || prepareMs < 0) return undefined;
  if (typeof adapter !== 'object' || adapter === null || typeof adapter['software'] !== 'boolean') return undefined;
  const fields = ['vendor', 'architecture', 'device', 'description'] as const;
  if (!fields.every((f) => isText(adapter[f]))) return undefined;
  const identity = Object.fromEntries(fields.map((f) => [f, clip(adapter[f] as string, ADAPTER_FIELD_MAX)])) as Omit<AdapterIdentity, 'software'>;
  return { device: clip(a['device'], ADAPTER_FIELD_MAX), adapter: { ...identity, software: adapter['software'] }, prepareMs };
}
