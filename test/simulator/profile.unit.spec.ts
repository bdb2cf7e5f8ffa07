import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.js';
import {
  figurePaths,
  loadProfile,
  loadProfileSync,
  parseProfile,
  profileNames,
  sourceFor,
  type DeviceProfile,
} from '../../simulator/index.js';
import { testProfile } from './helpers.js';

/** A deep copy of a valid profile, as plain JSON to break. */
function json(): Record<string, any> {
  return JSON.parse(JSON.stringify(testProfile()));
}

function fieldOf(value: unknown): string {
  try {
    parseProfile(value, 'test.json');
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    expect((e as ValidationError).code).toBe('VALIDATION');
    expect((e as Error).message).toContain('test.json');
    return (e as ValidationError).field;
  }
  throw new Error('the profile was accepted');
}

describe('shipped profiles', () => {
  it('are listed, load by name and by path, and give every figure a source', async () => {
    expect(profileNames()).toEqual(expect.arrayContaining(['alveo-u250', 'fast-launch']));
    for (const name of profileNames()) {
      const p: DeviceProfile = await loadProfile(name);
      expect(p.name).toBe(name);
      expect(loadProfileSync(`simulator/profiles/${name}.json`)).toEqual(p);
      for (const fig of figurePaths(p)) {
        const src = sourceFor(p.sources, fig);
        expect(src, fig).toBeDefined();
        expect(src!.length, fig).toBeGreaterThan(10);
      }
    }
  });
  it('alveo-u250 cites its measured figures and marks the rest as assumptions', () => {
    const p = loadProfileSync('alveo-u250');
    expect(sourceFor(p.sources, 'functions.crc32.transferNanosPerByte')).toMatch(/XRT/);
    expect(sourceFor(p.sources, 'functions.sha256.launchMicros')).toMatch(/tens of microseconds/);
    expect(sourceFor(p.sources, 'slots')).toMatch(/^assumption/);
    expect(sourceFor(p.sources, 'functions.sha256.bytesPerSecond')).toMatch(/^assumption/);
  });
  it('an unknown name lists the shipped profiles', async () => {
    await expect(loadProfile('no-such-device')).rejects.toThrow(/alveo-u250/);
  });
});

describe('validation errors name the field', () => {
  it('the test profile is valid', () => {
    expect(parseProfile(json()).slots).toBe(2);
  });
  it.each([
    ['a negative load time', (p: any) => (p.functions.crc32.loadMs = -1), 'functions.crc32.loadMs'],
    ['a missing launch cost', (p: any) => delete p.functions.sha256.launchMicros, 'functions.sha256.launchMicros'],
    ['a string transfer cost', (p: any) => (p.functions.crc32.transferNanosPerByte = '0.1'), 'functions.crc32.transferNanosPerByte'],
    ['an unknown kernel', (p: any) => (p.functions.crc32.kernel = 'md5'), 'functions.crc32.kernel'],
    ['zero slots', (p: any) => (p.slots = 0), 'slots'],
    ['a fractional slot count', (p: any) => (p.slots = 1.5), 'slots'],
    ['an unknown jitter kind', (p: any) => (p.functions.crc32.jitter.kind = 'gaussian'), 'functions.crc32.jitter.kind'],
    ['a probability above 1', (p: any) => (p.faults = { hang: 2 }), 'faults.hang'],
    ['a misspelt field', (p: any) => (p.functions.crc32.loadMS = 1), 'functions.crc32.loadMS'],
    ['a payload kernel without bytesPerSecond', (p: any) => {
      delete p.functions.crc32.bytesPerSecond;
      p.functions.crc32.itemsPerSecond = 1;
    }, 'functions.crc32.bytesPerSecond'],
    ['a loop kernel without itemsPerSecond', (p: any) => delete p.functions.factorial.itemsPerSecond, 'functions.factorial.itemsPerSecond'],
    ['a figure without a source', (p: any) => delete p.sources['functions.*.loadMs'], 'sources["functions.crc32.loadMs"]'],
    ['a source naming no figure', (p: any) => (p.sources['functions.crc33.loadMs'] = 'assumption: typo'), 'sources["functions.crc33.loadMs"]'],
    ['an empty source', (p: any) => (p.sources.slots = '  '), 'sources.slots'],
  ])('%s', (_what, breakIt, field) => {
    const p = json();
    breakIt(p);
    expect(fieldOf(p)).toBe(field);
  });
  it('a file that is not JSON is refused with its path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vfun-profile-'));
    const file = join(dir, 'bad.json');
    writeFileSync(file, '{ "name": ');
    expect(() => loadProfileSync(file)).toThrow(/bad\.json is not valid JSON/);
  });
});
