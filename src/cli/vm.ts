/** `vfun vm run`: boot a guest VM that offloads to vFunD through ivshmem (src/vm/run.ts). */
import type { Command } from 'commander';
import { openJournal } from '../events/adapters/open-journal.js';
import { verifyChain } from '../events/chain.js';
import type { Envelope } from '../events/envelope.js';
import { ValidationError } from '../errors.js';
import { DEFAULT_GUEST_CMD, runGuestVm } from '../vm/run.js';
import { addVmOptions, vmOptionsFrom, type VmCliOptions } from '../vm/options.js';
import { journalUrl, withJournalOptions, type JournalOptions } from './journal-options.js';
import { guardVms } from '../vm/signals.js';

interface VmRunCliOptions extends JournalOptions, VmCliOptions {
  config?: string;
  tenant?: string;
  attach?: boolean;
  guestCmd: string;
  withNode?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export function registerVmCommands(program: Command): void {
  const vm = program.command('vm').description('guests in real virtual machines (QEMU + ivshmem + virtio-serial)');
  addVmOptions(
    withJournalOptions(
      vm
        .command('run')
        .description('start vFunD with a VM tenant, boot a Debian kernel with the window and control port, run the guest command, stop'),
    )
      .option('--config <file>', 'vFunD configuration with a tenant that has "ivshmem" (default: tenant "vm", fresh secret, software functions)')
      .option('--tenant <id>', 'the VM tenant (default: the first with "ivshmem")')
      .option('--attach', 'use the vFunD already running on --root (vfun up with the same --config) instead of starting one'),
    { memory: '256, 1024 with --with-node', timeout: '300' },
  )
    .option('--guest-cmd <sh>', 'shell command run in the guest', DEFAULT_GUEST_CMD)
    .option('--with-node', "also put this host's node and the guest library in the VM (node /opt/virtfun/dist/examples/vm-guest.js)")
    .option('--json', 'print one JSON result at the end instead of the summary')
    .option('--quiet', 'do not stream the guest console')
    .action(async (o: VmRunCliOptions) => {
      const say = (l: string) => (o.json ? console.error(l) : console.log(l));
      if (o.attach && o.config === undefined) throw new ValidationError('--attach', 'needs --config: the running vFunD\'s configuration (the VM tenant and its secret)');
      // Ctrl-C / SIGTERM / SIGHUP: QEMU is killed at once; the run then unwinds (vFunD stopped and
      // journaled, the initramfs with the tenant's secret removed) and we exit 130. Exiting any other
      // way kills QEMU too.
      const abort = new AbortController();
      const unguard = guardVms((signal) => {
        say(`vfun: ${signal}: stopping the VM and vFunD`);
        abort.abort();
      });
      let result: Awaited<ReturnType<typeof runGuestVm>> | undefined;
      try {
        result = await runGuestVm({
        root: o.root,
        journal: journalUrl(o),
        ...(o.config !== undefined && { configPath: o.config }),
        ...(o.tenant !== undefined && { tenant: o.tenant }),
        ...(o.attach === true && { attach: true }),
        ...vmOptionsFrom(o),
        guestCmd: o.guestCmd,
        ...(o.withNode === true && { withNode: true }),
        log: (l) => say(`vfun: ${l}`),
        ...(!o.quiet && { onConsole: (l: string) => say(`guest| ${l}`) }),
        signal: abort.signal,
      });
      } catch (err) {
        if (!abort.signal.aborted) throw err;
        say(`vfun: interrupted: ${(err as Error).message}`);
      } finally {
        unguard();
      }
      if (abort.signal.aborted || result === undefined) {
        process.exitCode = 130;
        return;
      }
      const { journal } = await openJournal(result.journal, { readOnly: true });
      const events: Envelope[] = [];
      for await (const e of journal.read()) events.push(e);
      const chain = await verifyChain(events);
      await journal.close();
      const mine = events.filter((e) => e.tenant === result.tenant).map((e) => e.type);
      const ok = result.exitStatus === 0;
      if (o.json) {
        console.log(
          JSON.stringify({
            ok,
            accel: result.accel,
            ...(result.fallback !== undefined && { fallback: result.fallback }),
            exitStatus: result.exitStatus,
            bootMs: Math.round(result.bootMs),
            durationMs: Math.round(result.durationMs),
            tenant: result.tenant,
            tenantEvents: mine,
            chainVerified: chain.ok,
            netServed: result.netServed,
            reports: result.reports,
          }),
        );
      } else {
        const accel = result.accel === 'tcg' ? 'TCG (software emulation: timings are not representative of hardware)' : 'KVM';
        console.log(`VM ran under ${accel}${result.fallback ? ` after falling back: ${result.fallback}` : ''}; booted in ${Math.round(result.bootMs)} ms, ran ${Math.round(result.durationMs)} ms`);
        console.log(`guest exit status ${result.exitStatus ?? 'unknown (no exit marker)'}`);
        console.log(`journal ${result.journal}: ${mine.length} events of tenant ${result.tenant} (${[...new Set(mine)].join(', ')}); hash chain ${chain.ok ? 'verified' : 'BROKEN'}`);
      }
      if (!ok || !chain.ok) process.exitCode = 1;
    });
}
