/**
 * A Duplex over a character device, for a control channel that is a
 * virtio-serial port (/dev/vportNpM) in a VM rather than a Unix socket.
 * net.Socket refuses such an fd (not a pipe, TCP or TTY), and a blocking read
 * would sit in libuv's thread pool, where process exit then waits for it
 * forever. So: one fd opened O_NONBLOCK (a virtio port opens once), read and
 * written synchronously, and read again every millisecond while idle.
 */
import { closeSync, constants as fsc, openSync, readSync, writeSync } from 'node:fs';
import { Duplex } from 'node:stream';
import { VirtFunError } from '../errors.js';

/** How long an idle reader waits before looking at the device again (ms). */
export const CHAR_DEVICE_POLL_MS = 1;

/**
 * Open the character device at `path` (a virtio-serial port) as a Duplex a ControlClient can speak over.
 * Throws VirtFunError CHANNEL_CLOSED when it cannot be opened (EBUSY: another process holds the port).
 */
export function openCharDevice(path: string): Duplex {
  let fd: number;
  try {
    fd = openSync(path, fsc.O_RDWR | fsc.O_NONBLOCK | fsc.O_NOCTTY);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EBUSY' ? 'another process holds this port (a virtio-serial port opens once at a time)' : e.message;
    throw new VirtFunError('CHANNEL_CLOSED', `cannot open the control port ${path}: ${why}`, { cause: err });
  }
  const buf = Buffer.alloc(64 * 1024);
  let timer: NodeJS.Timeout | undefined;
  const again = (e: unknown): boolean => (e as NodeJS.ErrnoException).code === 'EAGAIN';
  return new Duplex({
    read() {
      if (timer !== undefined) return;
      const poll = (): void => {
        timer = undefined;
        let n: number;
        try {
          n = readSync(fd, buf, 0, buf.length, null);
        } catch (e) {
          if (again(e)) {
            timer = setTimeout(poll, CHAR_DEVICE_POLL_MS);
            return;
          }
          this.destroy(e as Error);
          return;
        }
        if (n === 0) this.push(null);
        else if (this.push(Buffer.from(buf.subarray(0, n)))) timer = setTimeout(poll, 0);
      };
      poll();
    },
    write(chunk: Buffer, _enc, cb) {
      let off = 0;
      const step = (): void => {
        try {
          while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
          cb();
        } catch (e) {
          if (again(e)) setTimeout(step, CHAR_DEVICE_POLL_MS);
          else cb(e as Error);
        }
      };
      step();
    },
    final(cb) {
      this.push(null);
      cb();
    },
    destroy(err, cb) {
      if (timer !== undefined) clearTimeout(timer);
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      cb(err);
    },
  });
}
