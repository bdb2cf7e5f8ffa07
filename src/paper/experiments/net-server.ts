/**
 * Child process of the payload sweep (guest-net): a payload function behind TCP loopback (Nagle
 * off), in the frames of net-protocol.ts. Prints {"ready":true,"port":P}; serves until SIGTERM; dies with its
 * parent.
 */
import { createServer, type Socket } from 'node:net';
import { dieWithParent } from '../spawn.js';
import { MAX_PAYLOAD_BYTES } from './options.js';
import { MAX_OUTPUT_BYTES, payloadDriver } from './payload.js';
import { FRAME_HEADER_BYTES, REPLY_HEADER_BYTES } from './net-protocol.js';

/** Configuration of the server (its one argument, JSON). */
export interface NetServerConfig {
  readonly fn: string;
}


dieWithParent();
const cfg = JSON.parse(process.argv[2] ?? '{}') as NetServerConfig;
const call = payloadDriver(cfg.fn);
const output = new Uint8Array(MAX_OUTPUT_BYTES);

function serve(sock: Socket): void {
  sock.setNoDelay(true);
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  let headerHave = 0;
  let body: Buffer | null = null;
  let bodyHave = 0;
  const answer = (payload: Buffer): void => {
    const reply = Buffer.alloc(REPLY_HEADER_BYTES + MAX_OUTPUT_BYTES);
    let n = 0;
    try {
      n = call(payload, output);
      reply.set(output.subarray(0, n), REPLY_HEADER_BYTES);
    } catch {
      reply.writeUInt32LE(1, 0);
    }
    reply.writeUInt32LE(n, 4);
    sock.write(reply.subarray(0, REPLY_HEADER_BYTES + n));
  };
  sock.on('data', (chunk: Buffer) => {
    let off = 0;
    while (off < chunk.length) {
      if (body === null) {
        const k = Math.min(FRAME_HEADER_BYTES - headerHave, chunk.length - off);
        chunk.copy(header, headerHave, off, off + k);
        headerHave += k;
        off += k;
        if (headerHave < FRAME_HEADER_BYTES) break;
        headerHave = 0;
        const len = header.readUInt32LE(0);
        if (len > MAX_PAYLOAD_BYTES) {
          sock.destroy();
          return;
        }
        body = Buffer.alloc(len);
        bodyHave = 0;
      }
      const k = Math.min(body.length - bodyHave, chunk.length - off);
      chunk.copy(body, bodyHave, off, off + k);
      bodyHave += k;
      off += k;
      if (bodyHave === body.length) {
        const b = body;
        body = null;
        answer(b);
      }
    }
  });
  sock.on('error', () => undefined);
}

const server = createServer({ noDelay: true }, serve);
process.on('SIGTERM', () => process.exit(0));
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(JSON.stringify({ ready: true, port: typeof a === 'object' && a !== null ? a.port : 0 }) + '\n');
});
