/**
 * defineDriver: a good description becomes a DriverDefinition whose drivers
 * check their input size; any one field made bad is refused with a
 * ValidationError naming that field.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { defineDriver, isDriverDefinition, type DriverSpec } from '../../src/drivers/define.js';
import { DriverInputError } from '../../src/drivers/driver.js';
import { ValidationError } from '../../src/errors.js';
import { MAX_CAPACITY } from '../../src/dataplane/layout.js';

const good: DriverSpec = {
  name: 'echo',
  version: '1.0.0',
  description: 'the input, unchanged',
  input: { minBytes: 1, maxBytes: 16 },
  maxOutputBytes: 16,
  call: (input, output) => (output.set(input), input.length),
};

/** One field made bad: the spec, and the field the error must name. */
const badSpec: fc.Arbitrary<{ spec: Record<string, unknown>; field: RegExp }> = fc.oneof(
  fc.oneof(fc.constant(''), fc.constant('has space'), fc.constant('-lead'), fc.constant('a:b'), fc.string({ minLength: 64, maxLength: 80 }).map((s) => `x${s}`), fc.integer()).map((name) => ({ spec: { ...good, name }, field: /^driver\.name$/ })),
  fc.oneof(fc.constant('fw'), fc.constant(''), fc.integer()).map((kind) => ({ spec: { ...good, kind }, field: /^driver 'echo': kind$/ })),
  fc.constantFrom('version', 'description').chain((k) => fc.oneof(fc.constant(''), fc.constant(undefined), fc.integer(), fc.string({ minLength: 201, maxLength: 220 })).map((v) => ({ spec: { ...good, [k]: v }, field: new RegExp(`^driver 'echo': ${k}$`) }))),
  fc.oneof(fc.integer({ max: -1 }), fc.integer({ min: MAX_CAPACITY + 1 }), fc.double({ min: 0.1, max: 0.9 })).map((v) => ({ spec: { ...good, input: { minBytes: v, maxBytes: 16 } }, field: /^driver 'echo': input\.minBytes$/ })),
  fc.integer({ min: 0, max: 15 }).map((v) => ({ spec: { ...good, input: { minBytes: 16, maxBytes: v } }, field: /^driver 'echo': input\.maxBytes$/ })),
  fc.oneof(fc.integer({ max: -1 }), fc.integer({ min: MAX_CAPACITY + 1 }), fc.constant(Number.POSITIVE_INFINITY)).map((v) => ({ spec: { ...good, maxOutputBytes: v }, field: /^driver 'echo': maxOutputBytes$/ })),
  fc.constant({ spec: { ...good, call: undefined }, field: /^driver 'echo': call$/ }),
  fc.constant({ spec: { ...good, create: () => good }, field: /^driver 'echo': call$/ }),
  fc.constantFrom('init', 'reset', 'exit').map((k) => ({ spec: { ...good, [k]: 'not a function' }, field: new RegExp(`^driver 'echo': ${k}$`) })),
  fc.constantFrom('init', 'reset', 'exit').map((k) => ({ spec: { ...good, call: undefined, create: () => null, [k]: () => undefined }, field: new RegExp(`^driver 'echo': ${k}$`) })),
);

describe('defineDriver', () => {
  test.prop([badSpec])('refuses a spec with one bad field, naming that field', ({ spec, field }) => {
    let err: unknown = null;
    try {
      defineDriver(spec as unknown as DriverSpec);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toMatch(field);
  });

  it('makes a definition whose drivers check the input size before the call', async () => {
    const def = defineDriver(good);
    expect(isDriverDefinition(def)).toBe(true);
    expect(isDriverDefinition({ ...def })).toBe(true); // the brand is a registered symbol: any copy of the library
    expect(isDriverDefinition({ meta: def.meta, create: def.create })).toBe(false);
    expect(def.meta).toEqual({ name: 'echo', kind: 'sw', version: '1.0.0', description: 'the input, unchanged', input: { minBytes: 1, maxBytes: 16 }, maxOutputBytes: 16 });
    const d = await def.create();
    const out = new Uint8Array(16);
    expect(await d.call(new Uint8Array([7, 8]), out)).toBe(2);
    expect(() => d.call(new Uint8Array(17), out)).toThrow(DriverInputError);
    expect(() => d.call(new Uint8Array(0), out)).toThrow(/echo: input is 0 bytes, expected 1\.\.16/);
  });

  it('a DriverInputError of another copy of the library is still one (the service answers BAD_INPUT)', () => {
    const foreign = Object.assign(new Error('refused'), { [Symbol.for('virtfun.driver-input-error')]: true });
    expect(foreign instanceof DriverInputError).toBe(true);
    expect(new DriverInputError('x') instanceof DriverInputError).toBe(true);
    expect(new ValidationError('f', 'x') instanceof DriverInputError).toBe(false);
    expect(new Error('x') instanceof DriverInputError).toBe(false);
  });

  it('builds a fresh driver per instance from create, and refuses a create that returns no driver', async () => {
    let made = 0;
    const def = defineDriver({ ...good, call: undefined, create: () => (made++, { meta: good as never, init() {}, call: () => 0, reset() {}, exit() {} }) });
    await def.create();
    await def.create();
    expect(made).toBe(2);
    const bad = defineDriver({ ...good, call: undefined, create: () => ({}) as never });
    await expect(bad.create()).rejects.toThrow(ValidationError);
  });
});
