/**
 * Fault injection for the GPU driver's tests, and for nothing else: the
 * environment variable VIRTFUN_WEBGPU_FAULTS, read by the driver at init,
 * makes a real device misbehave on a given call so the failover and
 * cross-check paths can be exercised on any adapter (lavapipe in CI).
 *
 * - `lose-device-at=N`: destroy the device just before call N; the loss
 *   arrives through Dawn's own `device.lost` promise, as a real one would.
 * - `corrupt-at=N`: flip a bit of the GPU's result of call N, before the
 *   cross-check looks at it;
 * - `corrupt-from=N`: the same for call N and every later call (a device
 *   that computes wrongly for good).
 *
 * Entries are separated by commas: `lose-device-at=5,corrupt-at=3`. An unset
 * or empty variable injects nothing; anything else that does not parse is
 * refused (a test must not pass because its fault was silently ignored).
 */
import { ValidationError } from '../errors.js';

export const WEBGPU_FAULTS_ENV = 'VIRTFUN_WEBGPU_FAULTS';

/** The faults to inject, by call number (calls of one driver, counted from 1). */
export interface GpuFaults {
  readonly loseDeviceAt?: number;
  readonly corruptAt?: number;
  readonly corruptFrom?: number;
}

const KEYS: Readonly<Record<string, keyof GpuFaults>> = {
  'lose-device-at': 'loseDeviceAt',
  'corrupt-at': 'corruptAt',
  'corrupt-from': 'corruptFrom',
};

/** Whether call `call` is one whose result is to be corrupted. */
export function corrupts(faults: GpuFaults, call: number): boolean {
  return call === faults.corruptAt || (faults.corruptFrom !== undefined && call >= faults.corruptFrom);
}

/** Parse a VIRTFUN_WEBGPU_FAULTS value; throws ValidationError naming what it cannot read. */
export function parseGpuFaults(value: string | undefined): GpuFaults {
  const faults: { -readonly [K in keyof GpuFaults]: number } = {};
  const text = value?.trim() ?? '';
  if (text === '') return faults;
  for (const entry of text.split(',')) {
    const m = /^\s*([a-z-]+)=(\d{1,9})\s*$/.exec(entry);
    const key = m ? KEYS[m[1]!] : undefined;
    const at = m ? Number(m[2]) : 0;
    if (key === undefined || at < 1) {
      throw new ValidationError(WEBGPU_FAULTS_ENV, `'${entry}' is not one of ${Object.keys(KEYS).map((k) => `${k}=<call ≥ 1>`).join(', ')}`);
    }
    if (faults[key] !== undefined) throw new ValidationError(WEBGPU_FAULTS_ENV, `'${Object.keys(KEYS).find((k) => KEYS[k] === key)}' is given twice`);
    faults[key] = at;
  }
  return faults;
}

/** Flip a bit of a result (the exponent's high bit of an f32 first word; any bit of an integer): the corruption `corrupt-at` injects. */
export function corruptResult(result: Uint8Array): void {
  if (result.byteLength === 0) return;
  const i = Math.min(3, result.byteLength - 1);
  result[i] = result[i]! ^ 0x40;
}
