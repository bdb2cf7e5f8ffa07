/**
 * The host end of the guest's "network" path: a Unix socket, wired by QEMU
 * to the virtio-serial port `vfun.net`, serving the same driver a vFunction
 * would, one framed request at a time. It exists to be measured against the
 * ivshmem window (the paper's comparison of shared memory with a network).
 *
 * Frames: request = u32 LE length + payload; reply = u32 LE status (0 ok,
 * 1 refused input, 2 driver fault, 3 too long) + u32 LE length + payload.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { rm } from 'node:fs/promises';
import { DriverInputError, type FunctionDriver } from '../drivers/driver.js';
import { createDriver, registerDriverFamily } from '../drivers/registry.js';
import { simulatorDrivers } from '../../simulator/drivers.js';

/** Longest request payload accepted (bytes); longer frames are answered status 3 and the connection closed. */
export const NET_MAX_PAYLOAD = 1 << 20;
export const NET_OK = 0;
export const NET_BAD_INPUT = 1;
export const NET_FAULT = 2;
export const NET_TOO_LONG = 3;

export interface NetPort {
  readonly path: string;
  /** Requests answered so far. */
  readonly served: () => number;
  close(): Promise<void>;
}

/** Start the port serving `driverName` (any registry name, the simulated devices' included). */
export async function startNetPort(path: string, driverName = 'factorial', resultCapacity = 64 * 1024): Promise<NetPort> {
  registerDriverFamily(simulatorDrivers);
  const driver: FunctionDriver = createDriver(driverName);
  await driver.init();
  const result = new Uint8Array(resultCapacity);
  let served = 0;
  const sockets = new Set<Socket>();
  const reply = (s: Socket, status: number, payload: Uint8Array): void => {
    const head = Buffer.alloc(8);
    head.writeUInt32LE(status, 0);
    head.writeUInt32LE(payload.byteLength, 4);
    s.write(Buffer.concat([head, payload]));
    served++;
  };
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let buf: Buffer = Buffer.alloc(0);
    s.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      while (buf.length >= 4) {
        const len = buf.readUInt32LE(0);
        if (len > NET_MAX_PAYLOAD) {
          reply(s, NET_TOO_LONG, new TextEncoder().encode(`request length ${len} exceeds ${NET_MAX_PAYLOAD} bytes`));
          s.end();
          return;
        }
        if (buf.length < 4 + len) break;
        const input = buf.subarray(4, 4 + len);
        buf = buf.subarray(4 + len);
        try {
          const n = driver.call(input, result);
          if (typeof n !== 'number') throw new Error('asynchronous drivers are not served on the net port');
          reply(s, NET_OK, result.subarray(0, n));
        } catch (e) {
          reply(s, e instanceof DriverInputError ? NET_BAD_INPUT : NET_FAULT, new TextEncoder().encode((e as Error).message));
        }
      }
    });
  });
  await rm(path, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  return {
    path,
    served: () => served,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await rm(path, { force: true });
      await driver.exit();
    },
  };
}
