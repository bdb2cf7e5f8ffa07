/**
 * fast-check arbitraries for the control requests guests send vFunD
 * (negotiate, activate, release), honest and hostile: wrong secrets, names
 * that break the rules (too long, controls, lone surrogates), instances that
 * are someone else's. What a model-based test of vFunD, or of a tool in
 * front of it, feeds the control port.
 */
import * as fc from 'fast-check';
import type { Kind } from '../../domain/types.js';
import { NAME_MAX } from '../../util/names.js';

/** A tenant as the arbitraries know it: its id and its real secret. */
export interface TenantSecret {
  readonly id: string;
  readonly secret: string;
}

/** One control request; `pick` chooses among the instances acked so far (modulo their count). */
export type ControlCommand =
  | { readonly op: 'negotiate'; readonly tenant: string; readonly credential: string; readonly app: string; readonly fn: string; readonly kind: Kind }
  | { readonly op: 'activate'; readonly tenant: string; readonly credential: string; readonly pick: number }
  | { readonly op: 'release'; readonly tenant: string; readonly credential: string; readonly pick: number };

/** Names that a rule refuses: empty, too long, a path, controls, a lone surrogate. */
export const badNameArb: fc.Arbitrary<string> = fc.oneof(
  fc.constant(''),
  fc.string({ minLength: NAME_MAX + 1, maxLength: NAME_MAX + 40 }).map((s) => s.padEnd(NAME_MAX + 1, 'x')),
  fc.constantFrom('../etc', 'a/b', '.hidden', 'tab\tname', 'nul\0name', '\ud800', 'émoji-😀', '-dash-first'),
);

/** A name the rules accept (letters, digits, '-', '_', starting with a letter or digit). */
export const goodNameArb: fc.Arbitrary<string> = fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,15}$/);

/**
 * Control requests from the given tenants for the given functions: mostly well formed, with wrong
 * secrets, unknown functions and bad names mixed in (about one in five).
 */
export function controlCommandArb(tenants: readonly TenantSecret[], functions: readonly string[]): fc.Arbitrary<ControlCommand> {
  if (tenants.length === 0 || functions.length === 0) throw new RangeError('controlCommandArb: give at least one tenant and one function');
  const who = fc.record({
    t: fc.constantFrom(...tenants),
    goodSecret: fc.nat(9).map((n) => n !== 0),
  }).map(({ t, goodSecret }) => ({ tenant: t.id, credential: goodSecret ? t.secret : `wrong-${t.secret}` }));
  const name = (good: fc.Arbitrary<string>) => fc.oneof({ weight: 9, arbitrary: good }, { weight: 1, arbitrary: badNameArb });
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .record({ who, app: name(goodNameArb), fn: name(fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...functions) }, { weight: 1, arbitrary: goodNameArb })), kind: fc.constantFrom<Kind>('sw', 'hw') })
        .map(({ who, app, fn, kind }) => ({ op: 'negotiate' as const, ...who, app, fn, kind })),
    },
    { weight: 3, arbitrary: fc.record({ who, pick: fc.nat() }).map(({ who, pick }) => ({ op: 'activate' as const, ...who, pick })) },
    { weight: 2, arbitrary: fc.record({ who, pick: fc.nat() }).map(({ who, pick }) => ({ op: 'release' as const, ...who, pick })) },
  );
}
