import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.js';
import { DriverInputError } from '../../src/drivers/driver.js';
import { FactorialDriver, FibonacciDriver } from '../../src/drivers/software.js';
import { paperOptionsFrom, registerPaperCommands } from '../../src/paper/cli.js';
import { parseInstance, parseInstances, PAPER_INSTANCES, scaleInstance } from '../../src/paper/instances.js';
import { createPaperDriver, encodeInput, expected, PAPER_N, readU64 } from '../../src/paper/driver.js';

describe('paper drivers', () => {
  const out = new Uint8Array(8);
  it.each([
    ['factorial', new FactorialDriver()],
    ['fibonacci', new FibonacciDriver()],
  ] as const)('paper-%s computes what the plain driver does, whatever the repetitions', (fn, plain) => {
    const n = PAPER_N[fn];
    const plainIn = new Uint8Array(4);
    new DataView(plainIn.buffer).setUint32(0, n, true);
    const ref = new Uint8Array(8);
    plain.call(plainIn, ref);
    for (const reps of [1, 7]) {
      expect(createPaperDriver(`paper-${fn}`).call(encodeInput(n, reps), out)).toBe(8);
      expect(readU64(out)).toBe(readU64(ref));
    }
    expect(readU64(ref)).toBe(expected(fn, n));
    // the simulated FPGA computes the same value
    expect(createPaperDriver(`paper-sim:fast-launch:${fn}`).call(encodeInput(n, 3), out)).toBe(8);
    expect(readU64(out)).toBe(readU64(ref));
  });

  it('refuses bad arguments and bad names', () => {
    expect(() => createPaperDriver('paper-factorial').call(encodeInput(51, 0), out)).toThrow(DriverInputError);
    expect(() => createPaperDriver('paper-factorial').call(new Uint8Array(4), out)).toThrow(/exactly 8/);
    expect(() => createPaperDriver('paper-sqrt')).toThrow(/paper-factorial/);
    expect(() => createPaperDriver('paper-sim:no-such-device:factorial')).toThrow();
  });
});

describe('instances', () => {
  it("parses the paper's notation", () => {
    expect(parseInstance('250Kx2k')).toMatchObject({ reps: 250_000, iterations: 2000, label: '250K x 2k' });
    expect(parseInstance('500 x 1M')).toMatchObject({ reps: 500, iterations: 1_000_000 });
    expect(PAPER_INSTANCES.map((i) => i.reps * i.iterations)).toEqual(Array(5).fill(500_000_000));
    expect(parseInstances('5Mx100,5Kx100k').map((i) => i.paper)).toEqual([true, false]);
    expect(scaleInstance(parseInstance('500x1M'), 1000).runReps).toBe(1);
    expect(scaleInstance(parseInstance('250Kx2k'), 1000).runReps).toBe(250);
    expect(() => parseInstance('5x')).toThrow(/instances/);
  });
});

describe('command line', () => {
  function run(args: string[]): { error: string } {
    const program = new Command('vfun').exitOverride();
    let error = '';
    program.configureOutput({ writeErr: (s) => (error += s), writeOut: () => undefined });
    registerPaperCommands(program);
    for (const c of program.commands) {
      c.exitOverride().configureOutput({ writeErr: (s) => (error += s), writeOut: () => undefined });
      for (const cc of c.commands) cc.exitOverride().configureOutput({ writeErr: (s) => (error += s), writeOut: () => undefined });
    }
    try {
      program.parse(args, { from: 'user' });
    } catch (e) {
      error += (e as Error).message;
    }
    return { error };
  }

  it.each([
    [['bench', 'paper', '--scale', 'abc'], '--scale'],
    [['bench', 'paper', '--scale', '0.5'], '--scale'],
    [['bench', 'paper', '--runs', '0'], '--runs'],
    [['bench', 'paper', '--instances', '5x'], '--instances'],
    [['bench', 'paper', '--functions', 'sqrt'], '--functions'],
    [['bench', 'paper', '--device', 'no-such-device'], '--device'],
    [['bench', 'paper', '--strategy', 'sleepy'], '--strategy'],
    [['bench', 'paper', '--until-stable', '--stable-width', '0'], '--stable-width'],
    [['bench', 'paper', '--until-stable', '--max-runs', '0'], '--max-runs'],
    [['replay-trace', 'x.jsonl'], '--device'],
    [['replay-trace', 'x.jsonl', '--device', 'alveo-u250', '--launch-us', '-3'], '--launch-us'],
  ])('%j names %s', (args, option) => {
    expect(run(args).error).toContain(option);
  });

  it.each([
    [['--stable-width', '0.05'], '--stable-width', '--until-stable'],
    [['--max-runs', '9'], '--max-runs', '--until-stable'],
    [['--accel', 'tcg'], '--accel', '--vm'],
    [['--memory', '512'], '--memory', '--vm'],
    [['--kernel', '/boot/vmlinuz'], '--kernel', '--vm'],
  ])('refuses %j without the option it belongs to, before running anything', async (args, flag, needs) => {
    const program = new Command('vfun').exitOverride();
    registerPaperCommands(program);
    const err = await program.parseAsync(['bench', 'paper', ...args, '-o', '/nonexistent/never-made'], { from: 'user' }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(ValidationError);
    expect(err!.message).toContain(flag);
    expect(err!.message).toContain(`only applies with ${needs}`);
  });

  it('rejects contradictions and picks the documented defaults', () => {
    expect(() => paperOptionsFrom({ full: true, quick: true })).toThrow(/--full and --quick/);
    expect(() => paperOptionsFrom({ full: true, scale: 10 })).toThrow(/--scale/);
    const d = paperOptionsFrom({});
    expect(d).toMatchObject({ scale: 1000, runs: 5, device: 'alveo-u250' });
    expect(d.instances.map((i) => i.label)).toEqual(['500M x 1', '50M x 10', '5M x 100', '500K x 1k', '250K x 2k', '5K x 100k']);
    expect(paperOptionsFrom({ full: true }).instances.map((i) => i.label)).toContain('500 x 1M');
    expect(paperOptionsFrom({ fpga: false }).device).toBeNull();
    expect(d.untilStable).toBeNull();
    expect(paperOptionsFrom({ untilStable: true }).untilStable).toEqual({ maxRelWidth: 0.02, maxRuns: 50 });
    expect(paperOptionsFrom({ untilStable: true, stableWidth: 0.1, maxRuns: 9 }).untilStable).toEqual({ maxRelWidth: 0.1, maxRuns: 9 });
  });
});
