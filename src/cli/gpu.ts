/**
 * `vfun gpu info` (this host's WebGPU adapter and GPU functions; exit 1
 * without an adapter) and `vfun sim calibrate --device webgpu` (a simulator
 * profile measured from it). main.ts calls registerGpuCommands(program).
 */
import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { integerAtLeast } from '../util/arguments.js';
import { calibrateWebGpu, DEFAULT_REPS, type Calibration } from '../gpu/calibrate.js';
import { formatGpuInfo, gpuInfo } from '../gpu/info.js';

/** `vfun sim calibrate`'s report as text (pure). */
export function formatCalibration(c: Calibration, file: string | null): string {
  const lines = [
    `profile ${c.profile.name}${file !== null ? ` written to ${file}` : ''}`,
    ...(c.softwareLabel !== null ? [`adapter: ${c.softwareLabel}`] : []),
    `transfer: ${c.fit.transferNanosPerByte.toPrecision(4)} ns/B (from ${c.fit.transferKernel})`,
    '',
    '| function | load ms | launch µs | ops/µs | jitter |',
    '|---|---:|---:|---:|---:|',
    ...c.fit.kernels.map(
      (k) =>
        `| ${k.name} | ${k.loadMs.toFixed(2)} | ${k.launchMicros.toFixed(1)} | ${k.computeResolved ? (k.opsPerSecond / 1e6).toPrecision(4) : 'not resolved'} | ${k.jitterFraction.toFixed(3)} |`,
    ),
    ...c.skipped.map((s) => `not measured: ${s.name}: ${s.reason}`),
  ];
  return lines.join('\n');
}

function deviceArg(v: string): 'webgpu' {
  if (v !== 'webgpu') throw new InvalidArgumentError(`'${v}': the only device to calibrate from is webgpu`);
  return v;
}

export function registerGpuCommands(program: Command): void {
  const gpu = program.command('gpu').description("this host's WebGPU adapter and the GPU functions");
  gpu
    .command('info')
    .description('the adapter (identity, limits, software or not), the GPU functions, Dawn load and adapter probe times; exit 1 without an adapter')
    .option('--json', 'one JSON object')
    .action(async (o: { json?: boolean }) => {
      const info = await gpuInfo();
      process.stdout.write((o.json ? JSON.stringify(info, null, 2) : formatGpuInfo(info)) + '\n');
      if (!info.ok) process.exitCode = 1;
    });

  const sim = program.commands.find((c) => c.name() === 'sim') ?? program.command('sim').description('the device simulator');
  sim
    .command('calibrate')
    .description("measure launch overhead, transfer and throughput of every GPU function on this host's adapter and write a simulator profile (docs/simulator.md)")
    .addOption(new Option('--device <device>', 'the device to measure: webgpu').argParser(deviceArg).makeOptionMandatory())
    .option('-o, --out <file>', 'write the profile there (default: print it)')
    .addOption(new Option('--reps <n>', `timed calls per size (default ${DEFAULT_REPS})`).argParser(integerAtLeast(1)))
    .option('--json', 'the profile and the fitted figures as one JSON object on stdout')
    .action(async (o: { device: 'webgpu'; out?: string; reps?: number; json?: boolean }) => {
      const command = ['vfun', ...process.argv.slice(2)].join(' ');
      const c = await calibrateWebGpu({ command, ...(o.reps !== undefined && { reps: o.reps }), log: (s) => process.stderr.write(s + '\n') });
      const profileJson = JSON.stringify(c.profile, null, 2) + '\n';
      if (o.out !== undefined) writeFileSync(o.out, profileJson);
      if (o.json) {
        process.stdout.write(JSON.stringify({ file: o.out ?? null, adapter: c.adapter, softwareLabel: c.softwareLabel, fit: c.fit, skipped: c.skipped, profile: c.profile }, null, 2) + '\n');
      } else {
        process.stdout.write((o.out === undefined ? profileJson : '') + formatCalibration(c, o.out ?? null) + '\n');
      }
    });
}
