/**
 * `vfun bench experiment`'s options: defaults, --quick, and bad input refused naming the flag and
 * its limit, from options.ts and through commander (fast-check properties; a failure prints its seed).
 */
import { fc, test } from '@fast-check/vitest';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.js';
import { registerExperimentCommand } from '../../src/paper/experiments/cli.js';
import {
  DEFAULT_GUESTS,
  DEFAULT_SIZES,
  experimentOptionsFrom,
  MAX_PAYLOAD_BYTES,
  MAX_PROCESSES,
  parseCountList,
  parseSize,
  parseSizeList,
  QUICK_CALLS,
  QUICK_SIZES,
} from '../../src/paper/experiments/options.js';

const NOW = new Date('2026-03-04T05:06:07.891Z');

/** The error `vfun bench experiment …args` gives on the command line ('' when it parses). */
function cliError(args: string[]): string {
  const program = new Command('vfun').exitOverride();
  let error = '';
  const quiet = { writeErr: (s: string) => (error += s), writeOut: () => undefined };
  program.configureOutput(quiet);
  const bench = program.command('bench').exitOverride().configureOutput(quiet);
  registerExperimentCommand(bench);
  for (const c of bench.commands) c.exitOverride().configureOutput(quiet).action(() => undefined);
  try {
    program.parse(['bench', 'experiment', ...args], { from: 'user' });
  } catch {
    // commander's exit, with the message in `error`
  }
  return error;
}

describe('sizes', () => {
  it('reads bytes and binary units', () => {
    expect(parseSize('64', '--payload')).toBe(64);
    expect(parseSize('4K', '--payload')).toBe(4096);
    expect(parseSize('64KiB', '--payload')).toBe(65536);
    expect(parseSize('1M', '--payload')).toBe(1048576);
    expect(parseSizeList('1M, 16,1k,16')).toEqual([16, 1024, 1048576]);
  });

  test.prop([fc.integer({ min: 1, max: MAX_PAYLOAD_BYTES }), fc.constantFrom(['', 1], ['K', 1024], ['M', 1024 * 1024])])('a size in range reads back as its bytes', (n, [unit, k]) => {
    const v = Math.max(1, Math.floor(n / k));
    expect(parseSize(`${v}${unit}`, '--sizes')).toBe(v * k);
  });

  test.prop([fc.oneof(fc.string(), fc.constantFrom('0', '17M', '1G', '-4', '1.5K', 'K', '4 KB B'))])('anything else is refused naming the flag and the limit', (s) => {
    let ok: number | null = null;
    try {
      ok = parseSize(s, '--hammer-payload');
    } catch (e) {
      expect(e).toBeInstanceOf(ValidationError);
      expect((e as ValidationError).field).toBe('--hammer-payload');
      expect((e as Error).message).toMatch(/^--hammer-payload: .*(size like|16 MiB)/);
      return;
    }
    // what parses is a plain size in range
    expect(s.trim()).toMatch(/^\d+\s*[a-zA-Z]*$/);
    expect(ok).toBeGreaterThanOrEqual(1);
    expect(ok).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
  });

  it('refuses an empty list', () => {
    expect(() => parseSizeList(' , ')).toThrow(/--sizes: the list is empty/);
  });
});

describe('numbers of guests', () => {
  test.prop([fc.array(fc.integer({ min: 1, max: MAX_PROCESSES }), { minLength: 1, maxLength: 10 })])('a list reads back sorted, each once', (ns) => {
    expect(parseCountList(ns.join(','))).toEqual([...new Set(ns)].sort((a, b) => a - b));
  });

  test.prop([fc.constantFrom('0', '65', 'two', '1.5', '-1', '1,,x')])('out of range or not an integer: refused naming --guests', (s) => {
    expect(() => parseCountList(s)).toThrow(/^--guests: .*(from 1 to 64|not an integer)/);
  });
});

describe('experimentOptionsFrom', () => {
  it('gives each experiment its defaults, and smaller ones with --quick', () => {
    const sweep = experimentOptionsFrom('payload-sweep', {}, NOW);
    expect(sweep).toMatchObject({ experiment: 'payload-sweep', fn: 'sha256', sizes: DEFAULT_SIZES, calls: 1000, warmup: 200, quick: false, seed: 1 });
    expect(sweep.out).toMatch(/results\/payload-sweep-2026-03-04T05-06-07Z$/);
    expect(experimentOptionsFrom('payload-sweep', { quick: true }, NOW)).toMatchObject({ sizes: QUICK_SIZES, calls: QUICK_CALLS['payload-sweep'], warmup: 20 });
    expect(experimentOptionsFrom('concurrency', {}, NOW)).toMatchObject({ guests: DEFAULT_GUESTS, payload: 64, fn: 'sha256' });
    expect(experimentOptionsFrom('noisy-neighbour', {}, NOW)).toMatchObject({ fn: 'crc32', payload: 64, hammers: 1, hammerFn: 'sha256', hammerPayload: 256 * 1024, calls: 5000 });
  });

  it("refuses another experiment's flags, naming them", () => {
    expect(() => experimentOptionsFrom('payload-sweep', { guests: [2] })).toThrow(/^--guests: is an option of concurrency, not of payload-sweep/);
    expect(() => experimentOptionsFrom('concurrency', { sizes: [16] })).toThrow(/^--sizes: /);
    expect(() => experimentOptionsFrom('payload-sweep', { hammers: 2 })).toThrow(/^--hammers: /);
    expect(() => experimentOptionsFrom('concurrency', { hammerPayload: 2 })).toThrow(/^--hammer-payload: /);
  });

  it('refuses an unknown experiment or function, naming the argument', () => {
    expect(() => experimentOptionsFrom('sweep', {})).toThrow(/^<name>: 'sweep' is not an experiment: payload-sweep, concurrency, noisy-neighbour/);
    expect(() => experimentOptionsFrom('payload-sweep', { fn: 'md5' })).toThrow(/^--fn: 'md5' is not one of sha256, crc32/);
    expect(() => experimentOptionsFrom('noisy-neighbour', { hammerFn: 'factorial' })).toThrow(/^--hammer-fn: /);
  });

  test.prop([fc.integer({ min: -5, max: 0 })])('refuses calls below 1 and hammers out of range', (n) => {
    expect(() => experimentOptionsFrom('concurrency', { calls: n })).toThrow(/^--calls: .* from 1 /);
    expect(() => experimentOptionsFrom('noisy-neighbour', { hammers: n })).toThrow(/^--hammers: .* from 1 to 64/);
  });
});

describe('the command line', () => {
  it('parses a good command', () => {
    expect(cliError(['payload-sweep', '--quick', '--sizes', '16,1K'])).toBe('');
    expect(cliError(['concurrency', '--guests', '1,3', '--payload', '1K'])).toBe('');
  });

  it.each([
    [['sweep'], /'sweep' is invalid for argument 'name'.*payload-sweep, concurrency, noisy-neighbour/s],
    [['payload-sweep', '--sizes', '16,17M'], /--sizes <list>.*'16,17M' is invalid.*--sizes: 17M is .*16 MiB/s],
    [['concurrency', '--guests', '0'], /'0' is invalid.*--guests: '0' is not an integer from 1 to 64/s],
    [['noisy-neighbour', '--hammers', 'x'], /'x' is invalid.*not an integer >= 1/s],
    [['payload-sweep', '--calls', '-3'], /'-3' is invalid/],
  ])('%j is refused naming the flag', (args, message) => {
    expect(cliError(args)).toMatch(message);
  });
});
