/**
 * `bench paper --vm`: the guest-host and guest-net columns from inside a QEMU
 * guest, in one VM boot for the whole run. vFunD runs with a VM tenant whose
 * regions are slots of its ivshmem window and the paper's drivers
 * (vm-drivers.ts); the bench's TCP server (net-server.ts) runs once per
 * function on the host's loopback, which the guest reaches at 10.0.2.2
 * through its virtio-net NIC on QEMU's user network. The guest application
 * is the static C guest client (vfun-guest --paper, vm-guest.ts): under TCG a
 * Node guest would spend most of each call interpreting JavaScript on an
 * emulated CPU, so the C client keeps the guest's own cost per call to what
 * a native application pays. It times each run with the guest's clock and
 * reports it on the console.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { VFunDConfig } from '../actors/config.js';
import { verifyChain } from '../events/chain.js';
import type { Envelope } from '../events/envelope.js';
import { openJournal } from '../events/adapters/open-journal.js';
import { VirtFunError } from '../errors.js';
import { runGuestVm, type VmRunOptions } from '../vm/run.js';
import { USER_NET_HOST } from '../vm/user-net.js';
import { paperDriverName, type PaperFn } from './driver.js';
import type { ScaledInstance } from './instances.js';
import type { RawRun, VmLabel } from './results.js';
import { siblingUrl, startChild, type ChildHandle } from './spawn.js';
import { guestCommand, runsFromReports, vmFunctionName } from './vm-guest.js';

/** The VM options of `bench paper --vm` (those of `vfun vm run` that apply). */
export type PaperVmOptions = Pick<VmRunOptions, 'accel' | 'kernel' | 'modulesDir' | 'cacheDir' | 'memoryMiB' | 'timeoutMs' | 'bootTimeoutMs'>;

/** Default of the whole VM run's deadline with --vm, ms (the VM runs every guest-host and guest-net cell). */
export const PAPER_VM_TIMEOUT_MS = 4 * 3600 * 1000;
/** How long one call in the guest may take, ms (the paper's 500M x 1 is one long call). */
export const PAPER_VM_CALL_TIMEOUT_MS = 3600 * 1000;
/** The VM tenant's id. */
export const PAPER_VM_TENANT = 'paper-vm';
/** vFunD's journal, in the results folder. */
export const PAPER_VM_JOURNAL = join('vfund', 'journal.ndjson');

/** vFunD's configuration: one VM tenant, one function per paper function on the paper's drivers. */
export function paperVmConfig(fns: readonly PaperFn[], secret: string, driverModule: string): VFunDConfig {
  return {
    tenants: [{ id: PAPER_VM_TENANT, secret, maxInstances: 2, ivshmem: {} }],
    functions: fns.map((fn) => ({ name: vmFunctionName(fn), kinds: { sw: { slots: 1, driver: vmFunctionName(fn) } } })),
    regionCapacity: 4096,
    driverModules: [driverModule],
  };
}

export interface VmDomainsOptions {
  /** The results folder (vFunD's journal goes there). */
  readonly out: string;
  /** A scratch folder (vFunD's root). */
  readonly work: string;
  readonly fns: readonly PaperFn[];
  readonly instances: readonly ScaledInstance[];
  readonly runs: number;
  readonly vm: PaperVmOptions;
  readonly log: (line: string) => void;
  /** Stops the run early: QEMU is killed (runGuestVm's `signal`). */
  readonly signal?: AbortSignal;
  /** Each timed run the guest reports, as it arrives. */
  readonly onRun?: (what: string) => void;
}

/** Run the VM (see the module's comment); its runs (guest-host, guest-net) and its label for results.json. */
export async function runVmDomains(o: VmDomainsOptions): Promise<{ raw: RawRun[]; label: VmLabel }> {
  const servers: ChildHandle[] = [];
  try {
    const ports: Partial<Record<PaperFn, number>> = {};
    for (const fn of o.fns) {
      const server = startChild('net-server', { driver: paperDriverName(fn, null) });
      servers.push(server);
      ports[fn] = ((await server.next()) as { port: number }).port;
    }
    const plan = { fns: o.fns, instances: o.instances, runs: o.runs, host: USER_NET_HOST, ports, callTimeoutMs: PAPER_VM_CALL_TIMEOUT_MS };
    const journalFile = join(o.out, PAPER_VM_JOURNAL);
    await mkdir(dirname(journalFile), { recursive: true });
    const journal = `file:${journalFile}`;
    const result = await runGuestVm({
      ...o.vm,
      timeoutMs: o.vm.timeoutMs ?? PAPER_VM_TIMEOUT_MS,
      root: await mkdtemp(join(o.work, 'vfund-')),
      journal,
      config: paperVmConfig(o.fns, randomBytes(24).toString('hex'), fileURLToPath(siblingUrl('vm-drivers'))),
      userNet: true,
      ...(o.signal !== undefined && { signal: o.signal }),
      guestCmd: guestCommand(plan),
      log: o.log,
      onConsole: (line) => {
        if (line.startsWith('{"vfun":"paper"')) o.onRun?.(line);
        else if (line.startsWith('{"vfun":"error"')) o.log(`guest: ${line}`);
      },
    });
    if (result.exitStatus !== 0) {
      const tail = result.lines.slice(-8).join(' | ');
      throw new VirtFunError('VM', `the guest's paper loop exited with status ${result.exitStatus ?? 'unknown (no exit marker)'} under ${result.accel}: ${tail}`);
    }
    const raw = runsFromReports(result.reports, plan);
    const opened = await openJournal(journal, { readOnly: true });
    const events: Envelope[] = [];
    for await (const e of opened.journal.read()) events.push(e);
    await opened.journal.close();
    const chain = await verifyChain(events);
    return {
      raw,
      label: {
        accel: result.accel,
        emulated: result.accel === 'tcg',
        ...(result.fallback !== undefined && { fallback: result.fallback }),
        kernel: result.kernelRelease,
        guest: 'vfun-guest --paper (clients/c, static), timed with the guest clock (CLOCK_MONOTONIC)',
        guestHost: `a slot of vFunD's ivshmem window (tenant ${PAPER_VM_TENANT}, functions ${o.fns.map(vmFunctionName).join(', ')})`,
        guestNet: `TCP (Nagle off) through virtio-net and QEMU's user network to the bench's server, ${USER_NET_HOST} = the host's 127.0.0.1`,
        bootMs: Math.round(result.bootMs),
        durationMs: Math.round(result.durationMs),
        journal: relative(o.out, journalFile),
        chainVerified: chain.ok,
      },
    };
  } finally {
    for (const s of servers) {
      s.proc.kill('SIGTERM');
      await s.exited;
    }
  }
}
