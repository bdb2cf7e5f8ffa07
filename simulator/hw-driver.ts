/**
 * A `FunctionDriver` of kind `hw` on one slot of a SimDevice: what a service
 * runs when vFunD hands an instance the hardware version of a function.
 *
 *   init()  -> load the function's bitstream into a slot (takes loadMs)
 *   call()  -> a device call on that slot (async; time simulated on the device's clock)
 *   reset() -> re-initialize: load again if the slot or its bitstream was lost
 *   exit()  -> release the slot
 *
 * With a RealClock the calls take (about) the simulated time for real, for
 * demos and benchmarks; with a VirtualClock they complete as the test drives
 * the clock.
 */
import type { DriverMeta, FunctionDriver } from '../src/drivers/driver.js';
import { VirtFunError } from '../src/errors.js';
import { RealClock, type RealClockOptions } from './clock.js';
import { SimDevice, type SlotHandle } from './device.js';
import { StaleHandleError, UnknownFunctionError } from './errors.js';
import { kernelMeta } from './kernels.js';
import { functionProfile, loadProfileSync, type DeviceProfile } from './profile.js';

/** Options of a `SimulatedFpgaDriver`: the slot it loads into and the deadline of its calls. */
export interface SimulatedFpgaDriverOptions {
  /** Slot to load into (default `'auto'`: the lowest free one). */
  readonly slot?: number | 'auto';
  /** Deadline of each call, in µs (default: the device's). */
  readonly deadlineMicros?: number;
}

export class SimulatedFpgaDriver implements FunctionDriver {
  readonly meta: DriverMeta;
  private handle: SlotHandle | null = null;

  constructor(
    readonly device: SimDevice,
    readonly fn: string,
    private readonly options: SimulatedFpgaDriverOptions = {},
  ) {
    const fp = functionProfile(device.profile, fn);
    if (fp === undefined) throw new UnknownFunctionError(fn, device.functions());
    const km = kernelMeta(fp.kernel);
    this.meta = {
      name: `sim-fpga:${fn}`,
      kind: 'hw',
      version: km.version,
      description: `${km.description} (simulated on ${device.profile.name}: ${fp.launchMicros} µs launch, ${fp.transferNanosPerByte} ns/B)`,
      input: km.input,
      maxOutputBytes: km.maxOutputBytes,
    };
  }

  /** The slot this driver holds, or null before init / after exit. */
  get slot(): SlotHandle | null {
    return this.handle;
  }

  async init(): Promise<void> {
    if (this.handle !== null) return;
    this.handle = await this.device.load(this.options.slot ?? 'auto', this.fn);
  }

  async call(input: Uint8Array, output: Uint8Array): Promise<number> {
    const handle = this.handle;
    if (handle === null) throw new VirtFunError('DRIVER', `${this.meta.name}: call before init`);
    const options = this.options.deadlineMicros === undefined ? {} : { deadlineMicros: this.options.deadlineMicros };
    const r = await this.device.call(handle, input, output, options);
    return r.bytes;
  }

  async reset(): Promise<void> {
    const handle = this.handle;
    if (handle === null) return this.init();
    const info = this.device.inspect(handle.slot);
    if (info.holder !== handle.id) {
      // the slot was taken away (released by number, or closed): get one again
      this.handle = null;
      return this.init();
    }
    if (info.state === 'unloaded') this.handle = await this.device.reload(handle);
    // ready: the kernels keep no state between calls, nothing to clear
  }

  async exit(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    if (handle === null || this.device.isClosed) return;
    try {
      await this.device.release(handle);
    } catch (e) {
      if (!(e instanceof StaleHandleError)) throw e;
    }
  }
}

export interface RealtimeDeviceOptions extends RealClockOptions {
  /** Seed of jitter and fault draws (default 1). */
  readonly seed?: number;
  readonly defaultDeadlineMicros?: number;
  /** Keep the timeline in memory (default false: it grows with every call). */
  readonly recordTimeline?: boolean;
}

/** A device on a RealClock, from a profile or a shipped profile's name / a profile file's path. */
export function createRealtimeDevice(profile: DeviceProfile | string, options: RealtimeDeviceOptions = {}): SimDevice {
  const p = typeof profile === 'string' ? loadProfileSync(profile) : profile;
  return new SimDevice({
    profile: p,
    clock: new RealClock(options.spinMicros === undefined ? {} : { spinMicros: options.spinMicros }),
    seed: options.seed ?? 1,
    recordTimeline: options.recordTimeline ?? false,
    ...(options.defaultDeadlineMicros === undefined ? {} : { defaultDeadlineMicros: options.defaultDeadlineMicros }),
  });
}
