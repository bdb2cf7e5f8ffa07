/**
 * A minimal simulated FPGA function: a software kernel behind a device that
 * adds a per-call launch latency and a per-byte transfer cost, in real time
 * (busy-waiting, as a polling host driver would). Its kind is `hw`, and the
 * number of slots vFunD may hand out comes from the configuration.
 *
 * The default figures are ASSUMPTIONS of the order of published XRT kernel
 * launch costs (tens of microseconds) and PCIe Gen3 x8 DMA (~6 GB/s).
 */
import type { DriverMeta, FunctionDriver } from '../src/drivers/driver.js';

export interface DeviceTiming {
  /** Fixed cost of one kernel launch, in microseconds. */
  readonly launchMicros: number;
  /** Host<->device transfer cost, in nanoseconds per byte moved (input + output). */
  readonly transferNanosPerByte: number;
}

export const DEFAULT_TIMING: DeviceTiming = { launchMicros: 20, transferNanosPerByte: 0.16 };

export class SimulatedDeviceDriver implements FunctionDriver {
  readonly meta: DriverMeta;
  constructor(
    private readonly kernel: FunctionDriver,
    private readonly timing: DeviceTiming = DEFAULT_TIMING,
  ) {
    this.meta = {
      ...kernel.meta,
      name: `sim-fpga:${kernel.meta.name}`,
      kind: 'hw',
      description: `${kernel.meta.description} (simulated FPGA: ${timing.launchMicros} µs launch, ${timing.transferNanosPerByte} ns/B)`,
    };
  }
  init(): void | Promise<void> {
    return this.kernel.init();
  }
  call(input: Uint8Array, output: Uint8Array): number | Promise<number> {
    const start = performance.now();
    const n = this.kernel.call(input, output);
    const cost = this.timing.launchMicros / 1000 + (input.byteLength * this.timing.transferNanosPerByte) / 1e6;
    if (typeof n === 'number') {
      busyUntil(start + cost);
      return n;
    }
    return n.then((v) => {
      busyUntil(start + cost);
      return v;
    });
  }
  reset(): void | Promise<void> {
    return this.kernel.reset();
  }
  exit(): void | Promise<void> {
    return this.kernel.exit();
  }
}

function busyUntil(deadlineMs: number): void {
  while (performance.now() < deadlineMs) {
    /* the host driver polls the device's completion register */
  }
}
