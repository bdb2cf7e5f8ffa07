/**
 * Worker-thread entry of an in-process service (started by service-host.ts).
 * Builds the driver by name (or from a driver module: its definition of that name, or its factory), checks the region,
 * runs driver.init, reports ready, serves until vFunD sets the stop flag,
 * then runs driver.exit and reports its final counters.
 *
 * Messages to the host: {type:'ready', activation?} | {type:'failed', code, message} |
 * {type:'notice', notice} (what the driver tells vFunD off the call path) |
 * {type:'stopped', stats, exitError?}.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { VirtFunError, messageOf } from '../errors.js';
import type { FunctionDriver } from '../drivers/driver.js';
import { createDriver, registerDriverFamily } from '../drivers/registry.js';
import { loadDriverModule, type DriverFactory } from '../drivers/modules.js';
import { simulatorDrivers } from '../../simulator/drivers.js';
import { webgpuDrivers } from '../gpu/drivers.js';
import type { DriverActivation, DriverNotice } from '../domain/types.js';
import { areaViews, sabOps, type ChannelAreas } from './region.js';
import { isMappableRegion, mapRegion, type MappableRegion } from './region-map.js';
import { ChannelService, type ServiceStats } from './service.js';
import { controlWords } from './control-file.js';
import type { WaitStrategy } from './wait.js';

export interface ServiceWorkerData {
  /** The region: two SharedArrayBuffers, or files / a window slot the worker maps itself (mapped buffers cannot be transferred). */
  readonly region: { readonly dataout: SharedArrayBuffer; readonly datain: SharedArrayBuffer } | MappableRegion;
  /** vFunD's control words (CONTROL in service.ts); never given to the client. A descriptor: a control file, mapped here. */
  readonly control: SharedArrayBuffer | { readonly fd: number };
  readonly driverName: string;
  /** Optional module (URL href): a driver module defining `driverName`, or one whose export `driverExport` (default `default`) is `(name) => FunctionDriver`. */
  readonly driverModule?: string;
  readonly driverExport?: string;
  /** vFunD's own record of the payload capacity. */
  readonly capacity: number;
  readonly strategy: WaitStrategy;
  readonly spinMicros?: number;
  readonly sliceMs?: number;
  /** Take over from a service that died (see ServiceLoopOptions.resume). */
  readonly resume?: boolean;
}

export type ServiceWorkerMessage =
  | { readonly type: 'ready'; readonly pid: number; readonly driver: string; readonly activation?: DriverActivation }
  | { readonly type: 'failed'; readonly code: string; readonly message: string }
  | { readonly type: 'notice'; readonly notice: DriverNotice }
  | { readonly type: 'stopped'; readonly stats: ServiceStats; readonly exitError?: string };

// The service builds the simulated devices' drivers (`sim-fpga:…`, `sim:<profile>:<fn>`) and the GPU's
// (`webgpu:<fn>`, loading WebGPU only when one is built) as well as the software ones.
registerDriverFamily(simulatorDrivers);
registerDriverFamily(webgpuDrivers);

const post = (m: ServiceWorkerMessage): void => parentPort?.postMessage(m);

/**
 * The driver of the module `data.driverModule`: the definition named `driverName` (a module of
 * `driverModules`, docs/writing-a-driver.md), else its factory export (the old form: `(name) => FunctionDriver`).
 */
async function buildDriver(data: ServiceWorkerData): Promise<FunctionDriver> {
  if (data.driverModule === undefined) return createDriver(data.driverName);
  const mod = await loadDriverModule(data.driverModule);
  const name = data.driverExport ?? 'default';
  if (data.driverExport === undefined) {
    const def = mod.definitions.find((d) => d.meta.name === data.driverName);
    if (def !== undefined) return def.create();
    if (mod.factory !== undefined) return mod.factory(data.driverName);
    throw new VirtFunError('DRIVER', `driver module ${data.driverModule} defines no driver '${data.driverName}' (it defines: ${mod.definitions.map((d) => d.meta.name).join(', ') || 'none'})`);
  }
  const factory = mod.namespace[name];
  if (typeof factory !== 'function') {
    throw new VirtFunError('DRIVER', `driver module ${data.driverModule} has no function export '${name}'`);
  }
  return (factory as DriverFactory)(data.driverName);
}

async function main(data: ServiceWorkerData): Promise<void> {
  let driver: FunctionDriver;
  let service: ChannelService;
  try {
    const r = data.region;
    const areas: ChannelAreas = isMappableRegion(r)
      ? mapRegion(r, 'service').areas
      : { dataout: areaViews(r.dataout), datain: areaViews(r.datain), ops: sabOps() };
    driver = await buildDriver(data);
    service = new ChannelService(areas, data.capacity, driver, controlWords(data.control), {
      strategy: data.strategy,
      ...(data.spinMicros !== undefined && { spinMicros: data.spinMicros }),
      ...(data.sliceMs !== undefined && { sliceMs: data.sliceMs }),
      ...(data.resume === true && { resume: true }),
    });
  } catch (e) {
    post({ type: 'failed', code: e instanceof VirtFunError ? e.code : 'SERVICE_ERROR', message: messageOf(e) });
    return;
  }
  // Notices travel as they come: postMessage does not wait for this thread's event loop, which the loop blocks between calls.
  driver.onNotice?.((notice) => post({ type: 'notice', notice }));
  let activation: DriverActivation | undefined;
  try {
    await driver.init({ capacity: data.capacity });
    activation = driver.activation?.();
  } catch (e) {
    post({ type: 'failed', code: 'DRIVER', message: `driver '${driver.meta.name}' init failed: ${messageOf(e)}` });
    return;
  }
  post({ type: 'ready', pid: process.pid, driver: driver.meta.name, ...(activation !== undefined && { activation }) });
  await service.run();
  let exitError: string | undefined;
  try {
    await driver.exit();
  } catch (e) {
    exitError = `driver '${driver.meta.name}' exit failed: ${messageOf(e)}`;
  }
  post({ type: 'stopped', stats: service.stats(), ...(exitError !== undefined && { exitError }) });
}

// A loop bug escapes as an uncaught error: the host sees the worker die and reports it.
await main(workerData as ServiceWorkerData);
