/**
 * Entry of a service process: one instance's service, in a process of its
 * own, so whatever kills it (a SIGBUS on a region its tenant truncated, a
 * native crash in a driver, the OOM killer of its tenant's memory limit)
 * costs that instance only, never vFunD nor another tenant.
 *
 * vFunD starts it (service-process.ts) with the control file as descriptor
 * CONTROL_FD and an IPC channel; the first message says what to serve. The
 * service runs in a worker thread of this process, supervised here as in
 * supervisor.ts (a driver that throws or hangs is restarted on the same
 * region); this thread stays free to take vFunD's messages. If vFunD goes
 * away (the channel closes) the service stops and the process exits.
 */
import { constants as osConstants } from 'node:os';
import { loadShm } from '../native/shm.js';
import { startService } from '../dataplane/service-host.js';
import { VirtFunError, messageOf } from '../errors.js';
import { CONTROL_FD, type FromService, type ToService } from './service-process-protocol.js';
import { supervise, type SupervisedService } from './supervisor.js';

// vFunD decides when a service stops: a Ctrl-C or a hang-up sent to the terminal's process group reaches
// this process too, and must not end an instance behind vFunD's back.
for (const sig of ['SIGINT', 'SIGHUP', 'SIGQUIT'] as const) process.on(sig, () => undefined);

const send = (m: FromService): Promise<void> =>
  new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send!(m, undefined, undefined, () => resolve());
  });

/** no_new_privs, not dumpable (no ptrace or /proc/<pid>/fd by same-uid processes), killed with vFunD, syscall deny list. */
function sandbox(allowFtruncate: boolean): boolean {
  const shm = loadShm();
  if (shm === null) return false;
  shm.sandboxSelf({ noNewPrivs: true, nonDumpable: true, parentDeathSignal: osConstants.signals.SIGKILL, denySyscalls: true, allowFtruncate });
  return true;
}

async function serve(init: Extract<ToService, { type: 'init' }>): Promise<void> {
  let service: SupervisedService;
  let sandboxed = false;
  try {
    if (init.sandbox) sandboxed = sandbox(init.allowFtruncate === true);
    service = await supervise(
      (resume) =>
        startService({
          region: init.region,
          driver: init.driver,
          resume,
          control: { fd: CONTROL_FD },
          onNotice: (notice) => void send({ type: 'notice', notice }),
          ...(init.driverModule !== undefined && { driverModule: init.driverModule }),
          ...(init.strategy !== undefined && { strategy: init.strategy }),
          ...(init.spinMicros !== undefined && { spinMicros: init.spinMicros }),
        }),
      {
        restarting: (attempt, backoffMs, detail) => void send({ type: 'restarting', attempt, backoffMs, detail }),
        gaveUp: (detail) => void send({ type: 'gave-up', detail }),
      },
      init.policy,
    );
  } catch (e) {
    await send({ type: 'failed', code: e instanceof VirtFunError ? e.code : 'SERVICE_ERROR', message: messageOf(e) });
    process.exit(1);
  }
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      try {
        const stats = await service.stop();
        await send({ type: 'stopped', stats });
      } finally {
        process.exit(0);
      }
    })());
  process.on('message', (m: ToService) => {
    if (m.type === 'stop') void stop();
  });
  onVFunDGone = () => void stop();
  if (!process.connected) onVFunDGone(); // vFunD went away while the service was starting
  const activation = service.current.activation;
  await send({ type: 'ready', pid: process.pid, sandboxed, ...(activation !== undefined && { activation }) });
}

/** What to do when vFunD goes away (the channel closes): stop the service once it runs; before, just leave. */
let onVFunDGone: () => void = () => process.exit(0);
process.once('disconnect', () => onVFunDGone());
process.once('message', (m: ToService) => {
  if (m.type === 'init') void serve(m);
  else process.exit(1);
});
