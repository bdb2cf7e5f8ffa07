/**
 * The GPU drivers' names (`webgpu:<fn>[?crossCheck=N]`) parse back to what
 * built them and nothing else parses; the fault-injection variable is read
 * strictly. No adapter is needed: nothing here opens a device.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { MAX_CROSS_CHECK, webgpuDriverName, webgpuDriverParts, webgpuDrivers } from '../../src/gpu/drivers.js';
import { corruptResult, parseGpuFaults } from '../../src/gpu/faults.js';
import { WebGpuDriver } from '../../src/gpu/driver.js';

const fnName = fc.stringMatching(/^[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,2}$/);
const crossCheck = fc.option(fc.integer({ min: 1, max: MAX_CROSS_CHECK }), { nil: undefined });

describe('webgpu driver names', () => {
  test.prop([fnName, crossCheck])('round trip: the parts of a built name are what built it', (fn, n) => {
    const name = webgpuDriverName(fn, n === undefined ? {} : { crossCheck: n });
    expect(webgpuDriverParts(name)).toEqual(n === undefined ? { fn } : { fn, crossCheck: n });
  });

  test.prop([fc.string({ maxLength: 40 })])('garbage is refused: a string parses only if it is exactly a name built from its parts', (s) => {
    const parts = webgpuDriverParts(s);
    if (parts !== null) expect(webgpuDriverName(parts.fn, parts)).toBe(s);
  });

  test.prop([fnName, fc.constantFrom('', '?', '?crossCheck=', '?crossCheck=0', '?crossCheck=01', '?crossCheck=-1', '?crossCheck=1.5', '?crosscheck=2', '?crossCheck=2&x=1', '?crossCheck=1e3', ':x', ' ')])(
    'near misses are refused',
    (fn, tail) => {
      const name = tail === '' ? `webgpu:${fn}X` : `webgpu:${fn}${tail}`; // '': an upper-case letter
      expect(webgpuDriverParts(name)).toBeNull();
    },
  );

  it('other families and the software drivers are not webgpu drivers', () => {
    for (const s of ['saxpy', 'sim-fpga:crc32', 'sim:alveo:saxpy', 'webgpu:', 'webgpu', 'WEBGPU:saxpy', 'webgpu:-saxpy', 'webgpu:saxpy-']) {
      expect(webgpuDriverParts(s)).toBeNull();
    }
  });

  it('building a name refuses what no name can say', () => {
    expect(() => webgpuDriverName('Saxpy')).toThrow(RangeError);
    expect(() => webgpuDriverName('saxpy', { crossCheck: 0 })).toThrow(RangeError);
    expect(() => webgpuDriverName('saxpy', { crossCheck: 2.5 })).toThrow(RangeError);
    expect(() => webgpuDriverName('saxpy', { crossCheck: MAX_CROSS_CHECK + 1 })).toThrow(RangeError);
    expect(webgpuDriverParts(`webgpu:saxpy?crossCheck=${MAX_CROSS_CHECK + 1}`)).toBeNull();
  });

  it('the family offers the registered kernels and builds a driver of kind hw named webgpu:<fn>', () => {
    expect(webgpuDrivers.names()).toContain('webgpu:saxpy');
    expect(webgpuDrivers.has('webgpu:saxpy?crossCheck=10')).toBe(true);
    expect(webgpuDrivers.has('webgpu:no-such-kernel')).toBe(false);
    expect(webgpuDrivers.create('webgpu:no-such-kernel')).toBeUndefined();
    expect(webgpuDrivers.create('crc32')).toBeUndefined();
    const d = webgpuDrivers.create('webgpu:saxpy?crossCheck=7');
    expect(d).toBeInstanceOf(WebGpuDriver);
    expect(d!.meta).toMatchObject({ name: 'webgpu:saxpy', kind: 'hw' });
  });
});

describe('VIRTFUN_WEBGPU_FAULTS', () => {
  it('reads the faults, and nothing from an unset or empty variable', () => {
    expect(parseGpuFaults(undefined)).toEqual({});
    expect(parseGpuFaults('  ')).toEqual({});
    expect(parseGpuFaults('lose-device-at=5')).toEqual({ loseDeviceAt: 5 });
    expect(parseGpuFaults('corrupt-at=3, lose-device-at=9')).toEqual({ corruptAt: 3, loseDeviceAt: 9 });
  });

  it('refuses what it cannot read: a test must not pass on a fault silently ignored', () => {
    for (const v of ['lose-device-at', 'lose-device-at=0', 'lose-device-at=x', 'corrupt=3', 'corrupt-at=3,corrupt-at=4', 'corrupt-at=3,']) {
      expect(() => parseGpuFaults(v), v).toThrow(expect.objectContaining({ code: 'VALIDATION' }));
    }
  });

  test.prop([fc.uint8Array({ minLength: 1, maxLength: 64 })])('the injected corruption always changes the result', (bytes) => {
    const copy = bytes.slice();
    corruptResult(copy);
    expect(Buffer.compare(copy, bytes)).not.toBe(0);
  });
});
