/**
 * vFunD's configuration: tenants (with their secrets), functions (which
 * kinds, how many slots, which driver), region capacity. Validated with zod;
 * a bad configuration is refused with a ConfigError listing every field that
 * is wrong and why. `toSnapshot` turns it into what is journaled (secrets
 * replaced by their SHA-256).
 */
import { z } from 'zod';
import type { VFunDConfigSnapshot } from '../events/catalogue.js';
import { MAX_CAPACITY } from '../dataplane/layout.js';
import { hasDriver, driverNames } from '../drivers/registry.js';
import { VirtFunError } from '../errors.js';
import { credentialDigest } from './decide.js';
import { NAME_MAX, NAME_PATTERN } from '../util/names.js';

const name = z
  .string()
  .min(1)
  .max(NAME_MAX)
  .regex(NAME_PATTERN, "only letters, digits, '-' and '_', starting with a letter or digit");

const kindConfig = z.object({
  slots: z.number().int().min(1).max(4096),
  driver: z.string().refine(hasDriver, { error: (iss) => `unknown driver '${String(iss.input)}'; known: ${driverNames().join(', ')}` }),
});

export const configSchema = z
  .object({
    tenants: z
      .array(
        z.object({
          id: name,
          secret: z.string().min(16, 'must be at least 16 characters').max(1024),
          maxInstances: z.number().int().min(1).max(4096),
          /** OS identity of the tenant's guests (needs vFunD to run as root). */
          uid: z.number().int().min(1).max(0x7fffffff).optional(),
          gid: z.number().int().min(1).max(0x7fffffff).optional(),
        }).refine((t) => (t.uid === undefined) === (t.gid === undefined), { message: 'give both uid and gid, or neither', path: ['gid'] }),
      )
      .min(1),
    functions: z
      .array(
        z
          .object({
            name,
            kinds: z.object({ hw: kindConfig.optional(), sw: kindConfig.optional() }),
          })
          .refine((f) => f.kinds.hw || f.kinds.sw, { message: 'needs at least one of kinds.hw, kinds.sw', path: ['kinds'] }),
      )
      .min(1),
    regionCapacity: z.number().int().min(64).max(MAX_CAPACITY).default(64 * 1024),
  })
  .superRefine((c, ctx) => {
    for (const [list, key] of [
      [c.tenants.map((t) => t.id), 'tenants'],
      [c.functions.map((f) => f.name), 'functions'],
    ] as const) {
      list.forEach((v, i) => {
        if (list.indexOf(v) !== i) ctx.addIssue({ code: 'custom', path: [key, i], message: `duplicate name '${v}'` });
      });
    }
  });

export type VFunDConfig = z.input<typeof configSchema>;
export type ValidConfig = z.output<typeof configSchema>;

export class ConfigError extends VirtFunError {
  override readonly name = 'ConfigError';
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('CONFIG', `invalid configuration:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

/** Validate a configuration (e.g. parsed from a file). Throws ConfigError naming each bad field. */
export function parseConfig(input: unknown): ValidConfig {
  const r = configSchema.safeParse(input);
  if (r.success) return r.data;
  throw new ConfigError(r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`));
}

/** What vFunD journals in vfund.started: secrets become digests. */
export function toSnapshot(config: ValidConfig): VFunDConfigSnapshot {
  return {
    tenants: config.tenants.map((t) => ({ id: t.id, credentialDigest: credentialDigest(t.secret), maxInstances: t.maxInstances })),
    functions: config.functions.map((f) => ({
      name: f.name,
      kinds: {
        ...(f.kinds.hw ? { hw: { slots: f.kinds.hw.slots, driver: f.kinds.hw.driver } } : {}),
        ...(f.kinds.sw ? { sw: { slots: f.kinds.sw.slots, driver: f.kinds.sw.driver } } : {}),
      },
    })),
    regionCapacity: config.regionCapacity,
  };
}
