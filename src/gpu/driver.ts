/**
 * The GPU driver: a function of kind `hw` whose calls run as a WGSL compute
 * kernel (src/gpu/kernels) on this host's WebGPU device, with the kernel's
 * software twin (src/drivers/twins) as the reference and the fallback.
 *
 * - init (activation): find the adapter, open a device, compile the pipelines
 *   and allocate buffers for the largest input the region can carry, timed:
 *   `activation()` reports the adapter and the time. No adapter: init throws
 *   a DRIVER error with the reason (the function nacks, guests use software).
 * - call: the twin validates the input (a bad one is BAD_INPUT), the GPU
 *   computes. A lost device (Dawn's `device.lost`, or a run that fails
 *   because the device is gone) fails over to the twin: the call in flight
 *   is computed by the twin and answered normally, and so is every later
 *   call; one `failover` notice is sent, never one per call.
 * - cross-check (`crossCheck: N`): every Nth call is also computed by the
 *   twin and compared. On a mismatch a `mismatch` notice names the call and
 *   the difference, and the call answers the TWIN's result: a device that
 *   computed wrongly once is not trusted with that answer, and the twin is
 *   the reference the function's format is defined by. After
 *   MISMATCHES_BEFORE_FAILOVER mismatches the instance fails over for good.
 * - reset: nothing to clear (no state between calls). exit: free the
 *   prepared kernel and the device.
 *
 * For tests, VIRTFUN_WEBGPU_FAULTS (faults.ts) injects a device loss or a
 * corrupted result at a given call.
 */
import type { DriverActivation, DriverNotice } from '../domain/types.js';
import { checkInputSize, DriverInputError, type DriverContext, type DriverMeta, type FunctionDriver } from '../drivers/driver.js';
import { VirtFunError, messageOf } from '../errors.js';
import { corruptResult, corrupts, parseGpuFaults, WEBGPU_FAULTS_ENV, type GpuFaults } from './faults.js';
import type { GpuKernel, PreparedKernel } from './kernel.js';
import { identityOf, requestAdapter } from './webgpu.js';
import { loadShm } from '../native/shm.js';

/**
 * Mismatches after which an instance stops trusting its device and fails over to the twin (one
 * failover notice): a device that computes wrongly again and again is treated as lost, which also
 * bounds what one instance journals.
 */
export const MISMATCHES_BEFORE_FAILOVER = 10;

/** How long a failed run waits for Dawn to confirm the device is gone before it counts as a fault of its own. */
const LOSS_CONFIRM_MS = 1_000;

export class WebGpuDriver implements FunctionDriver {
  readonly meta: DriverMeta;
  private device: GPUDevice | null = null;
  private prepared: PreparedKernel | null = null;
  /** Largest input the prepared buffers take. */
  private maxInput = 0;
  private activated: DriverActivation | undefined;
  private readonly listeners: ((notice: DriverNotice) => void)[] = [];
  private faults: GpuFaults = {};
  /** Calls of this driver so far (the call in hand included), from 1. */
  private calls = 0;
  /** Why the device is gone, once it is: every call from then on runs on the twin. */
  private failedOver: string | null = null;
  /** exit() destroys the device: that loss is no failover. */
  private exiting = false;
  /** Cross-checked calls whose result differed from the twin's. */
  private mismatches = 0;
  /** The twin's result of a cross-checked call. */
  private expected = new Uint8Array(0);

  /** `crossCheck`: compare every Nth call (a positive integer) with the twin. */
  constructor(
    readonly kernel: GpuKernel,
    private readonly options: { readonly crossCheck?: number } = {},
  ) {
    const t = kernel.twin;
    const n = options.crossCheck;
    if (n !== undefined && !(Number.isInteger(n) && n >= 1)) throw new RangeError(`crossCheck ${n}: a positive integer`);
    this.meta = {
      name: `webgpu:${t.name}`,
      kind: 'hw',
      version: t.version,
      description: `${t.description} (WebGPU compute kernel)`,
      input: t.input,
      maxOutputBytes: t.maxOutputBytes,
    };
  }

  async init(context?: DriverContext): Promise<void> {
    this.faults = parseGpuFaults(process.env[WEBGPU_FAULTS_ENV]);
    const r = await requestAdapter();
    if ('error' in r) throw new VirtFunError('DRIVER', r.error);
    if (identityOf(r.adapter).software && ftruncateDenied()) {
      // Seen with Mesa 25: lavapipe backs device memory with a memfd it grows with ftruncate; denied, it crashes (SIGSEGV).
      throw new VirtFunError('DRIVER', `${this.meta.name}: the software adapter (${r.adapter.info.description}) needs ftruncate, which this service's sandbox denies (a GPU function in a VM tenant's window slot keeps the full deny list: docs/gpu.md)`);
    }
    let device: GPUDevice;
    try {
      device = await r.adapter.requestDevice({ label: this.meta.name });
    } catch (e) {
      throw new VirtFunError('DRIVER', `the adapter gave no device: ${messageOf(e)}`, { cause: e });
    }
    this.device = device;
    void device.lost.then((info) => {
      if (!this.exiting) this.failOver(`device lost (${info.reason}): ${info.message || 'no message'}`);
    });
    const twin = this.kernel.twin;
    const deviceMax = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
    this.maxInput = Math.min(twin.input.maxBytes, context?.capacity ?? twin.input.maxBytes, deviceMax);
    const t0 = performance.now();
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    try {
      this.prepared = await this.kernel.prepare(device, this.maxInput);
    } catch (e) {
      await this.exit();
      throw new VirtFunError('DRIVER', `${this.meta.name}: preparing the kernel failed: ${messageOf(e)}`, { cause: e });
    }
    const errors = [await device.popErrorScope(), await device.popErrorScope()].filter((x) => x !== null);
    if (errors.length > 0) {
      await this.exit();
      throw new VirtFunError('DRIVER', `${this.meta.name}: preparing the kernel failed: ${errors.map((x) => x.message).join('; ')}`);
    }
    this.activated = { device: 'webgpu', adapter: identityOf(r.adapter), prepareMs: performance.now() - t0 };
  }

  activation(): DriverActivation | undefined {
    return this.activated;
  }

  onNotice(listener: (notice: DriverNotice) => void): void {
    this.listeners.push(listener);
  }

  call(input: Uint8Array, output: Uint8Array): number | Promise<number> {
    const twin = this.kernel.twin;
    checkInputSize(this.meta, input);
    const n = twin.outputBytes(input);
    if (n > output.byteLength) throw new DriverInputError(`${this.meta.name}: the result is ${n} bytes, the region holds ${output.byteLength}`);
    const call = ++this.calls;
    if (this.failedOver !== null) return twin.compute(input, output);
    const device = this.device;
    const prepared = this.prepared;
    if (device === null || prepared === null) throw new VirtFunError('DRIVER', `${this.meta.name}: called before init or after exit`);
    if (input.byteLength > this.maxInput) {
      throw new DriverInputError(`${this.meta.name}: input is ${input.byteLength} bytes, the device's buffers take at most ${this.maxInput}`);
    }
    if (call === this.faults.loseDeviceAt) device.destroy(); // injected: Dawn reports the loss itself
    return this.onDevice(call, device, prepared, input, output, n);
  }

  private async onDevice(call: number, device: GPUDevice, prepared: PreparedKernel, input: Uint8Array, output: Uint8Array, n: number): Promise<number> {
    const twin = this.kernel.twin;
    let written: number;
    try {
      written = await prepared.run(input, output);
    } catch (e) {
      if (!(await this.gone(device))) throw e;
      return twin.compute(input, output);
    }
    if (this.failedOver !== null) return twin.compute(input, output); // lost while this call ran: its result cannot be trusted
    if (corrupts(this.faults, call)) corruptResult(output.subarray(0, written)); // injected
    const every = this.options.crossCheck;
    if (every === undefined || call % every !== 0) return written;
    if (this.expected.byteLength < n) this.expected = new Uint8Array(n);
    const expected = this.expected.subarray(0, twin.compute(input, this.expected));
    const diff = twin.compare(input, expected, output.subarray(0, written));
    if (diff === null) return written;
    this.notify({ type: 'mismatch', call, detail: diff });
    if (++this.mismatches >= MISMATCHES_BEFORE_FAILOVER) this.failOver(`${this.mismatches} cross-checked calls differed from the software twin: the device's results are not trusted`);
    output.set(expected);
    return expected.byteLength;
  }

  /** Whether `device` is gone (Dawn resolves `lost` soon after a run fails for that reason). */
  private async gone(device: GPUDevice): Promise<boolean> {
    if (this.failedOver !== null) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), LOSS_CONFIRM_MS)));
    try {
      return await Promise.race([device.lost.then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private failOver(why: string): void {
    if (this.failedOver !== null) return;
    this.failedOver = why;
    this.notify({ type: 'failover', detail: `${this.meta.name}: ${why}; the call in flight and every later call run on the software twin` });
  }

  private notify(notice: DriverNotice): void {
    for (const l of this.listeners) {
      try {
        l(notice);
      } catch {
        // a listener's failure is not the call's
      }
    }
  }

  reset(): void {}

  exit(): void {
    this.exiting = true;
    this.prepared?.destroy();
    this.prepared = null;
    this.device?.destroy();
    this.device = null;
  }
}

/** Whether this process runs under a service sandbox whose deny list includes ftruncate (a service not started for a GPU). */
function ftruncateDenied(): boolean {
  return loadShm()?.sandboxState().ftruncateDenied === true;
}
