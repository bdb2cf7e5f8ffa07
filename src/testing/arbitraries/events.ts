/**
 * fast-check arbitraries for the journal's events (every type of the
 * catalogue, with hostile names: lone surrogates, controls, quotes), their
 * scopes and the batches vFunD hands its recorder. What VirtFun's own tests
 * of encoding, chaining and rendering use; for integrators' tools that read
 * or write journals.
 */
import * as fc from 'fast-check';
import type {
  AdminIdentity,
  ComputationStats,
  ConfigChanges,
  ConfigListChanges,
  FunctionConfig,
  Kind,
  NackReason,
  ReleaseReason,
  VFunDConfigSnapshot,
  VFunEvent,
} from '../../events/catalogue.js';
import type { PendingEvent, Scope } from '../../events/envelope.js';

/** Names: mostly plain ASCII, sometimes any code units (lone surrogates, controls, quotes). */
export const textArb = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 4 }) },
);
const nullableText = fc.option(textArb, { nil: null });
const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
/** A function kind: `hw` or `sw`. */
export const kindArb: fc.Arbitrary<Kind> = fc.constantFrom('hw', 'sw');
/** Every reason vFunD gives for a nack. */
export const nackReasonArb: fc.Arbitrary<NackReason> = fc.constantFrom(
  'credential',
  'quota',
  'unknown-function',
  'unrecognized-resource',
  'no-capacity',
  'bad-request',
  'unknown-instance',
  'not-owner',
  'wrong-phase',
  'driver-failed',
  'not-started',
  'already-held',
  'no-resources',
  'tenant-disabled',
  'draining',
  'device-unavailable',
);
/** Every reason an instance is released for. */
export const releaseReasonArb: fc.Arbitrary<ReleaseReason> = fc.constantFrom('client', 'failure', 'shutdown', 'recovery', 'lease', 'evicted', 'disabled', 'reconfigured');

const statsArb: fc.Arbitrary<ComputationStats> = fc.record({
  calls: fc.nat(),
  errors: fc.dictionary(fc.stringMatching(/^[A-Z_]{1,10}$/), fc.nat(), { maxKeys: 4, noNullPrototype: true }),
});

const functionArb: fc.Arbitrary<FunctionConfig> = fc.record({
  name: textArb,
  kinds: fc.record(
    {
      hw: fc.record({ slots: fc.nat(64), driver: textArb }),
      sw: fc.record({ slots: fc.nat(64), driver: textArb }),
    },
    { requiredKeys: [] },
  ),
});

const configArb: fc.Arbitrary<VFunDConfigSnapshot> = fc.record({
  tenants: fc.array(fc.record({ id: textArb, credentialDigest: hex64, maxInstances: fc.nat(16) }), { maxLength: 3 }),
  functions: fc.array(functionArb, { maxLength: 3 }),
  regionCapacity: fc.integer({ min: 1, max: 1 << 30 }),
});

/** The peer process of a control connection (SO_PEERCRED). */
const peerArb = fc.record({ pid: fc.integer({ min: 1, max: 4_194_304 }), uid: fc.nat(0xffff_fffe) });

/** Who took an admin action: a peer of the admin socket, a signal (SIGHUP), or a signed request over NATS. */
export const adminIdentityArb: fc.Arbitrary<AdminIdentity> = fc.oneof(
  fc.record({ via: fc.constant('admin-socket' as const), uid: fc.nat(0xffff_fffe), gid: fc.nat(0xffff_fffe), pid: fc.integer({ min: 1, max: 4_194_304 }), user: fc.option(textArb, { nil: null }) }),
  fc.record({ via: fc.constant('signal' as const), signal: fc.constantFrom('SIGHUP') }),
  fc.record({ via: fc.constant('nats' as const), subject: textArb, nonce: hex64 }),
);

const listChangesArb: fc.Arbitrary<ConfigListChanges> = fc.record({
  added: fc.array(textArb, { maxLength: 2 }),
  removed: fc.array(textArb, { maxLength: 2 }),
  changed: fc.array(
    fc.record({ name: textArb, fields: fc.array(fc.record({ field: textArb, from: fc.oneof(fc.nat(), textArb, fc.constant(null)), to: fc.oneof(fc.nat(), textArb, fc.constant(null)) }), { maxLength: 2 }) }),
    { maxLength: 2 },
  ),
});

const configChangesArb: fc.Arbitrary<ConfigChanges> = fc.record(
  {
    tenants: listChangesArb,
    functions: listChangesArb,
    devices: listChangesArb,
    regionCapacity: fc.record({ from: fc.integer({ min: 1, max: 1 << 30 }), to: fc.integer({ min: 1, max: 1 << 30 }) }),
  },
  { requiredKeys: ['tenants', 'functions', 'devices'] },
);

/** The operators' events (src/actors/admin.ts), with any names: for encoding and rendering, not for folding (see adminOpArb in the snapshot property test). */
export const adminEventArb: fc.Arbitrary<VFunEvent> = fc.oneof(
  fc.record({ type: fc.constant('admin.evicted' as const), data: fc.record({ instance: textArb, by: adminIdentityArb }) }),
  fc.record({ type: fc.constant('drain.changed' as const), data: fc.record({ tenant: nullableText, draining: fc.boolean(), by: adminIdentityArb }) }),
  fc.record({ type: fc.constant('tenant.disabled' as const), data: fc.record({ tenant: textArb, by: adminIdentityArb }) }),
  fc.record({ type: fc.constant('tenant.enabled' as const), data: fc.record({ tenant: textArb, by: adminIdentityArb }) }),
  fc.record({ type: fc.constant('config.reloaded' as const), data: fc.record({ config: configArb, changes: configChangesArb, by: adminIdentityArb }) }),
);

const requestRef = { tenant: textArb, app: textArb, fn: textArb, kind: kindArb };

/** A device's adapter as a driver reports it. */
export const adapterArb = fc.record({ vendor: textArb, architecture: textArb, device: textArb, description: textArb, software: fc.boolean() });
/** What a GPU driver's activation took. */
export const driverActivationArb = fc.record({ device: fc.constant('webgpu'), adapter: adapterArb, prepareMs: fc.double({ min: 0, max: 1e6, noNaN: true }) });

/** Any event of the catalogue, with any names. */
export const eventArb: fc.Arbitrary<VFunEvent> = fc.oneof(
  fc.record({ type: fc.constant('vfund.started' as const), data: fc.record({ host: textArb, config: configArb }) }),
  fc.record({ type: fc.constant('vfund.stopped' as const), data: fc.record({ reason: textArb }) }),
  fc.record({
    type: fc.constant('negotiation.acked' as const),
    data: fc.record({ ...requestRef, instance: textArb, fallback: fc.boolean() }),
  }),
  fc.record({
    type: fc.constant('negotiation.nacked' as const),
    data: fc.record({ ...requestRef, reason: nackReasonArb, detail: textArb }),
  }),
  fc.record({ type: fc.constant('activation.started' as const), data: fc.record({ instance: textArb, capacity: fc.nat() }) }),
  fc.record({ type: fc.constant('activation.acked' as const), data: fc.record({ instance: textArb, capacity: fc.nat(), driver: driverActivationArb }, { requiredKeys: ['instance', 'capacity'] }) }),
  fc.record({ type: fc.constant('device.probed' as const), data: fc.record({ device: textArb, available: fc.boolean(), adapter: adapterArb, detail: textArb }, { requiredKeys: ['device', 'available', 'detail'] }) }),
  fc.record({ type: fc.constant('device.failover' as const), data: fc.record({ instance: textArb, device: textArb, detail: textArb }) }),
  fc.record({ type: fc.constant('crosscheck.mismatch' as const), data: fc.record({ instance: textArb, device: textArb, call: fc.integer({ min: 1, max: 2 ** 40 }), detail: textArb }) }),
  fc.record({
    type: fc.constant('activation.nacked' as const),
    data: fc.record({ instance: textArb, reason: nackReasonArb, detail: textArb }),
  }),
  fc.record({ type: fc.constant('service.failed' as const), data: fc.record({ instance: textArb, detail: textArb }) }),
  fc.record({
    type: fc.constant('instance.released' as const),
    data: fc.record({ instance: textArb, reason: releaseReasonArb, stats: statsArb }),
  }),
  fc.record({
    type: fc.constant('release.nacked' as const),
    data: fc.record({ instance: textArb, tenant: textArb, reason: nackReasonArb, detail: textArb }),
  }),
  fc.record({
    type: fc.constant('refusals.suppressed' as const),
    data: fc.record({
      tenant: textArb,
      from: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      to: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      counts: fc.dictionary(nackReasonArb, fc.nat(), { maxKeys: 4, noNullPrototype: true }),
      total: fc.nat(),
      disconnections: fc.nat(),
      ended: fc.boolean(),
    }),
  }),
  fc.record({
    type: fc.constant('control.disconnected' as const),
    data: fc.record({ tenant: textArb, refusals: fc.nat(), suppressed: fc.nat(), detail: textArb, peer: peerArb }, { requiredKeys: ['tenant', 'refusals', 'suppressed', 'detail'] }),
  }),
  fc.record({
    type: fc.constant('request.refused' as const),
    data: fc.record(
      {
        tenant: textArb,
        op: textArb,
        reason: nackReasonArb,
        detail: textArb,
        claimed: fc.record({ app: textArb, fn: textArb, instance: textArb }, { requiredKeys: [] }),
        peer: peerArb,
      },
      { requiredKeys: ['tenant', 'op', 'reason', 'detail'] },
    ),
  }),
  adminEventArb,
);

/** What an event is about (tenant, app, function, instance; each may be null). */
export const scopeArb: fc.Arbitrary<Scope> = fc.record({
  tenant: nullableText,
  app: nullableText,
  fn: nullableText,
  instance: nullableText,
});

/** An event as vFunD hands it to the recorder, with its scope and causation. */
export const pendingArb: fc.Arbitrary<PendingEvent> = fc.record({
  event: eventArb,
  scope: scopeArb,
  causationId: nullableText,
  correlationId: nullableText,
});

/** Batches as vFunD hands them to the recorder: each non-empty. */
export const batchesArb = (maxBatches = 6, maxBatchSize = 4): fc.Arbitrary<PendingEvent[][]> =>
  fc.array(fc.array(pendingArb, { minLength: 1, maxLength: maxBatchSize }), { maxLength: maxBatches });

/** A simple, fixed pending event for example-based tests. */
export function pending(n: number): PendingEvent {
  return {
    event: { type: 'activation.started', data: { instance: `i-${n}`, capacity: 4096 } },
    scope: { tenant: 't1', app: 'app', fn: 'crc32', instance: `i-${n}` },
    causationId: `cmd-${n}`,
    correlationId: `i-${n}`,
  };
}
