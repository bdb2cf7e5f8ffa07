/**
 * Bench child: the service side of the `uds` / `tcp` baselines. Runs the same
 * driver as the shared-memory service behind a length-prefixed framing
 * (request: u32 LE length + payload; answer: u32 LE length + result) and
 * prints `{"ready":true,"port":P}` once listening. Exits when its client
 * disconnects or on SIGTERM.
 *
 *   node bench/dataplane/socket-server.js '{"kind":"tcp"}' | '{"kind":"uds","path":"/tmp/x.sock"}'
 */
import { createServer, type Socket } from 'node:net';
import { createDriver } from '../../src/drivers/registry.js';
import { CAPACITY, DRIVER } from './common.js';

export interface SocketServerConfig {
  readonly kind: 'uds' | 'tcp';
  /** Socket path for `uds`. */
  readonly path?: string;
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as SocketServerConfig;
const driver = createDriver(DRIVER);
await driver.init();

function serve(sock: Socket): void {
  sock.setNoDelay(true);
  const frame = Buffer.alloc(4 + CAPACITY); // one request being assembled
  let have = 0;
  const answer = Buffer.alloc(4 + 64);
  const result = answer.subarray(4);
  sock.on('data', (chunk: Buffer) => {
    let off = 0;
    while (off < chunk.length) {
      if (have < 4) {
        const n = Math.min(4 - have, chunk.length - off);
        chunk.copy(frame, have, off, off + n);
        have += n;
        off += n;
        if (have < 4) break;
      }
      const len = frame.readUInt32LE(0);
      if (len > CAPACITY) {
        sock.destroy(new Error(`request of ${len} bytes exceeds ${CAPACITY}`));
        return;
      }
      const need = 4 + len - have;
      const n = Math.min(need, chunk.length - off);
      chunk.copy(frame, have, off, off + n);
      have += n;
      off += n;
      if (have < 4 + len) break;
      const rlen = driver.call(frame.subarray(4, 4 + len), result) as number;
      answer.writeUInt32LE(rlen, 0);
      sock.write(answer.subarray(0, 4 + rlen));
      have = 0;
    }
  });
  sock.on('error', () => undefined);
  sock.on('close', () => process.exit(0));
}

const server = createServer({ noDelay: true }, serve);
process.on('SIGTERM', () => process.exit(0));
if (cfg.kind === 'uds') {
  if (!cfg.path) throw new Error('uds needs a path');
  server.listen(cfg.path, () => process.stdout.write(JSON.stringify({ ready: true }) + '\n'));
} else {
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    const port = typeof a === 'object' && a !== null ? a.port : 0;
    process.stdout.write(JSON.stringify({ ready: true, port }) + '\n');
  });
}
