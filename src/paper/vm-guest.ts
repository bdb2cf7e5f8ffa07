/**
 * `bench paper --vm`, the guest's side as the host sees it (pure): the shell
 * command the VM runs (the static C guest client's paper loop, vfun-guest
 * --paper, once per function: through its window slot, then over TCP through
 * the guest's virtio-net to the benchmark's server) and the parsing of what
 * the guest reports on its console, one `{"vfun":"paper",…}` line per timed
 * run, into the bench's runs. A report that is malformed, out of range,
 * duplicated, missing or with a wrong result is refused naming the field.
 */
import { z } from 'zod';
import { ValidationError, VirtFunError } from '../errors.js';
import { expected, PAPER_N, type PaperFn } from './driver.js';
import type { ScaledInstance } from './instances.js';
import type { RawRun } from './results.js';

/** How the guest reaches vFunD's window (ivshmem) and the net server (tcp), and the domain each path measures. */
export const VIA_DOMAIN = { ivshmem: 'guest-host', tcp: 'guest-net' } as const;
export type Via = keyof typeof VIA_DOMAIN;

/** The vFunD function (and driver) of a paper function: `paper-factorial`, `paper-fibonacci`. */
export function vmFunctionName(fn: PaperFn): `paper-${PaperFn}` {
  return `paper-${fn}`;
}

/** What the guest runs. */
export interface VmGuestPlan {
  readonly fns: readonly PaperFn[];
  readonly instances: readonly ScaledInstance[];
  readonly runs: number;
  /** The host's address as the guest sees it (10.0.2.2 on QEMU's user network). */
  readonly host: string;
  /** The net server's port of each function. */
  readonly ports: Readonly<Partial<Record<PaperFn, number>>>;
  /** How long one call may take before the guest gives up, ms. */
  readonly callTimeoutMs: number;
}

/** The guest's shell command: one vfun-guest --paper per function, stopping at the first that fails. */
export function guestCommand(p: VmGuestPlan): string {
  if (p.fns.length === 0) throw new ValidationError('fns', 'no function');
  if (p.instances.length === 0) throw new ValidationError('instances', 'no instance');
  const list = p.instances.map((i) => `${i.runReps}x${i.iterations}`).join(',');
  return p.fns
    .map((fn) => {
      const port = p.ports[fn];
      if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65535) throw new ValidationError(`ports.${fn}`, `${String(port)} is not a TCP port`);
      return `vfun-guest --paper ${vmFunctionName(fn)} --paper-n ${PAPER_N[fn]} --instances ${list} --runs ${p.runs} --tcp ${p.host}:${port} --timeout-ms ${Math.round(p.callTimeoutMs)} || exit $?`;
    })
    .join('\n');
}

const PaperLine = z.object({
  vfun: z.literal('paper'),
  via: z.enum(['ivshmem', 'tcp']),
  fn: z.enum(['paper-factorial', 'paper-fibonacci']),
  instance: z.number().int().min(0),
  run: z.number().int().min(0),
  ns: z.number().int().positive(),
  calls: z.number().int().positive(),
  result: z.string().regex(/^\d{1,20}$/, 'must be a decimal u64'),
});
export type PaperLine = z.infer<typeof PaperLine>;

/** One report line, or ValidationError naming `reports[index].<field>`. */
export function parsePaperLine(line: unknown, index: number): PaperLine {
  const r = PaperLine.safeParse(line);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = issue.path.length === 0 ? `reports[${index}]` : `reports[${index}].${issue.path.map(String).join('.')}`;
  throw new ValidationError(field, issue.message);
}

/**
 * The guest's reports as the bench's runs (domains guest-host and guest-net), checked against the
 * plan: every (function, path, instance, run) exactly once, calls = the instance's iterations, the
 * result f(n) mod 2^64. The guest's own `{"vfun":"error"}` lines come first, as a VirtFunError.
 */
export function runsFromReports(reports: readonly Record<string, unknown>[], plan: Pick<VmGuestPlan, 'fns' | 'instances' | 'runs'>): RawRun[] {
  const errors = reports.filter((r) => r['vfun'] === 'error');
  if (errors.length > 0) {
    const say = (e: Record<string, unknown>): string => [e['fn'], e['phase'], e['detail']].filter((x) => typeof x === 'string').join(': ');
    throw new VirtFunError('VM', `the guest failed: ${errors.map(say).join('; ')}`);
  }
  const out: RawRun[] = [];
  const seen = new Set<string>();
  reports.forEach((rep, index) => {
    if (rep['vfun'] !== 'paper') return;
    const l = parsePaperLine(rep, index);
    const fn = l.fn.slice('paper-'.length) as PaperFn;
    const at = (f: string): string => `reports[${index}].${f}`;
    if (!plan.fns.includes(fn)) throw new ValidationError(at('fn'), `'${l.fn}' was not asked for (${plan.fns.map(vmFunctionName).join(', ')})`);
    const inst = plan.instances[l.instance];
    if (inst === undefined) throw new ValidationError(at('instance'), `${l.instance} is out of range 0..${plan.instances.length - 1}`);
    if (l.run >= plan.runs) throw new ValidationError(at('run'), `${l.run} is out of range 0..${plan.runs - 1}`);
    if (l.calls !== inst.iterations) throw new ValidationError(at('calls'), `${l.calls}, expected ${inst.iterations} (instance ${inst.label})`);
    const want = expected(fn, PAPER_N[fn]).toString();
    if (l.result !== want) throw new ValidationError(at('result'), `${l.result}, expected ${fn}(${PAPER_N[fn]}) mod 2^64 = ${want}`);
    const key = `${fn} ${l.via} ${l.instance} ${l.run}`;
    if (seen.has(key)) throw new ValidationError(at('run'), `run ${l.run} of ${fn} ${inst.label} via ${l.via} is reported twice`);
    seen.add(key);
    out.push({ fn, instance: inst.label, domain: VIA_DOMAIN[l.via], run: l.run, seconds: l.ns / 1e9, reps: inst.runReps, iterations: inst.iterations, result: l.result });
  });
  for (const fn of plan.fns)
    for (const via of ['ivshmem', 'tcp'] as const)
      for (const [k, inst] of plan.instances.entries())
        for (let run = 0; run < plan.runs; run++)
          if (!seen.has(`${fn} ${via} ${k} ${run}`)) throw new ValidationError('reports', `no run ${run} of ${fn} ${inst.label} via ${via}: the guest stopped early`);
  return out;
}
