/**
 * The messages between vFunD and one service process (service-process.ts on
 * vFunD's side, service-process-main.ts in the child), over Node's IPC
 * channel (JSON). The control file travels as the child's file descriptor
 * CONTROL_FD, a sealed-memory region as REGION_FDS; nothing the guest can
 * write is on this channel.
 */
import type { MappableRegion } from '../dataplane/region-map.js';
import type { ServiceStats } from '../dataplane/service.js';
import type { WaitStrategy } from '../dataplane/wait.js';
import type { SupervisionPolicy } from './supervisor.js';
import type { DriverActivation, DriverNotice } from '../domain/types.js';

/** The child's descriptor of the control file (after stdin, stdout, stderr and the IPC channel). */
export const CONTROL_FD = 4;
/** The child's descriptors of a sealed-memory region's areas, when it is one. */
export const REGION_FDS = { dataoutFd: 5, datainFd: 6 } as const;

/** vFunD to the service process. */
export type ToService =
  | {
      readonly type: 'init';
      readonly region: MappableRegion;
      readonly driver: string;
      readonly driverModule?: string;
      readonly strategy?: WaitStrategy;
      readonly spinMicros?: number;
      readonly policy?: SupervisionPolicy;
      /** Apply the sandbox (no_new_privs, not dumpable, parent-death signal, syscall deny list). */
      readonly sandbox: boolean;
      /** With the sandbox: leave ftruncate allowed (a GPU driver's own memfds; see SandboxOptions.allowFtruncate). */
      readonly allowFtruncate?: boolean;
    }
  | { readonly type: 'stop' };

/** The service process to vFunD. */
export type FromService =
  | { readonly type: 'ready'; readonly pid: number; readonly sandboxed: boolean; readonly activation?: DriverActivation }
  | { readonly type: 'failed'; readonly code: string; readonly message: string }
  | { readonly type: 'restarting'; readonly attempt: number; readonly backoffMs: number; readonly detail: string }
  | { readonly type: 'gave-up'; readonly detail: string }
  /** What the driver tells vFunD off the call path (from any incarnation of the service). */
  | { readonly type: 'notice'; readonly notice: DriverNotice }
  | { readonly type: 'stopped'; readonly stats: ServiceStats };
