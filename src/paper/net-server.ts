/**
 * Child process of `bench paper` (guest-net): the same driver behind TCP
 * loopback (Nagle off). Fixed frames: request = the 8-byte invocation
 * argument, reply = [status u32 LE (0 ok, 1 error), result u64 LE].
 * Prints {"ready":true,"port":P}; serves one client after another until SIGTERM.
 */
import { createServer, type Socket } from 'node:net';
import { createPaperDriver, INPUT_BYTES } from './driver.js';
import { dieWithParent } from './spawn.js';

dieWithParent();
const cfg = JSON.parse(process.argv[2] ?? '{}') as { driver: string };
const driver = createPaperDriver(cfg.driver);
await driver.init();

function serve(sock: Socket): void {
  sock.setNoDelay(true);
  const req = Buffer.alloc(INPUT_BYTES);
  let have = 0;
  const reply = Buffer.alloc(12);
  const result = reply.subarray(4);
  sock.on('data', (chunk: Buffer) => {
    let off = 0;
    while (off < chunk.length) {
      const k = Math.min(INPUT_BYTES - have, chunk.length - off);
      chunk.copy(req, have, off, off + k);
      have += k;
      off += k;
      if (have < INPUT_BYTES) break;
      have = 0;
      try {
        driver.call(req, result);
        reply.writeUInt32LE(0, 0);
      } catch {
        reply.writeUInt32LE(1, 0);
      }
      sock.write(Buffer.from(reply));
    }
  });
  sock.on('error', () => undefined);
}

const server = createServer({ noDelay: true }, serve);
process.on('SIGTERM', () => {
  void Promise.resolve(driver.exit()).finally(() => process.exit(0));
});
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  const port = typeof a === 'object' && a !== null ? a.port : 0;
  process.stdout.write(JSON.stringify({ ready: true, port }) + '\n');
});
