/** Shared helpers for the data-plane tests. */
import { expect } from 'vitest';
import { DriverInputError } from '../../src/drivers/driver.js';
import { createDriver } from '../../src/drivers/registry.js';
import {
  ChannelClient,
  createSabRegion,
  sabChannel,
  ServiceError,
  startService,
  type ClientOptions,
  type SabRegion,
  type ServiceHandle,
  type StartServiceOptions,
} from '../../src/dataplane/index.js';
import { ErrorCode } from '../../src/dataplane/layout.js';

export const TEST_DRIVERS = new URL('./fixtures/test-drivers.ts', import.meta.url);

export interface Channel {
  readonly region: SabRegion;
  readonly service: ServiceHandle;
  readonly client: ChannelClient;
}

export async function openChannel(
  driver: string,
  capacity: number,
  service: Partial<Omit<StartServiceOptions, 'region' | 'driver'>> = {},
  client: ClientOptions = {},
): Promise<Channel> {
  const region = createSabRegion(capacity);
  const handle = await startService({ region, driver, ...service });
  return { region, service: handle, client: new ChannelClient(sabChannel(region), client) };
}

/** The expected outcome of one SET, computed by calling the driver directly in this thread. */
export type Outcome = { readonly ok: Uint8Array } | { readonly error: number };

export function reference(driverName: string, capacity: number) {
  const driver = createDriver(driverName);
  const out = new Uint8Array(capacity);
  return (input: Uint8Array): Outcome => {
    try {
      const n = driver.call(input, out);
      if (typeof n !== 'number') throw new Error('reference drivers are synchronous');
      return { ok: out.slice(0, n) };
    } catch (e) {
      return { error: e instanceof DriverInputError ? ErrorCode.BAD_INPUT : ErrorCode.DRIVER_FAULT };
    }
  };
}

/** Run `f`, expecting either the bytes of `expected.ok` or a ServiceError with `expected.error`. */
export function expectOutcome(f: () => Uint8Array, expected: Outcome): void {
  if ('ok' in expected) {
    expect(Buffer.from(f()).toString('hex')).toBe(Buffer.from(expected.ok).toString('hex'));
  } else {
    expectServiceError(f, expected.error);
  }
}

export function expectServiceError(f: () => unknown, code: number): ServiceError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ServiceError);
    const se = e as ServiceError;
    expect(se.code).toBe('SERVICE_ERROR');
    expect(se.errorName).toBe(Object.entries(ErrorCode).find(([, v]) => v === code)?.[0]);
    expect(se.errorCode).toBe(code);
    return se;
  }
  throw new Error(`expected a ServiceError ${code}, got a result`);
}

export const u32le = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
};

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
