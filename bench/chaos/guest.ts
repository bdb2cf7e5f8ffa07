/**
 * A chaos guest: loops through all four phases against its tenant's control
 * socket for ever, counting calls and errors by kind; reconnects after any
 * failure (vFunD killed, service restarted...). Prints a JSON line of counters
 * every 250 ms: {"calls":N,"sessions":N,"errors":{"CHANNEL_CLOSED":1,...}}.
 *
 *   VFUN_SECRET=... node chaos/guest.js <socket> <tenant> <app> <fn> [callsPerSession] [callTimeoutMs]
 *
 * Without callsPerSession (or with 'random') each session makes 200..2200 calls;
 * the call timeout defaults to 2000 ms.
 */
import { ControlClient } from '../../src/guest/control-client.js';
import { connect } from '../../src/guest/connect.js';
import { VFunction, OffloadRefused } from '../../src/guest/vfunction.js';
import { ServiceError } from '../../src/dataplane/client.js';
import { VirtFunError } from '../../src/errors.js';

const [socket, tenant, app, fn, perSession, timeout] = process.argv.slice(2) as [string, string, string, string, string?, string?];
const callsPerSession = perSession === undefined || perSession === 'random' ? null : Number(perSession);
const callTimeoutMs = timeout === undefined ? 2000 : Number(timeout);
const secret = process.env.VFUN_SECRET ?? '';
const counters = { calls: 0, sessions: 0, errors: {} as Record<string, number> };
const count = (k: string) => (counters.errors[k] = (counters.errors[k] ?? 0) + 1);
setInterval(() => process.stdout.write(JSON.stringify(counters) + '\n'), 250);

const input = new Uint8Array(new Uint32Array([20]).buffer);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (;;) {
  let control: ControlClient | null = null;
  try {
    control = await ControlClient.connect(socket);
    const vf = await VFunction.open(control, (r) => connect(r, { timeoutMs: callTimeoutMs }), { tenant, credential: secret, app, fn, kind: 'sw' });
    counters.sessions++;
    const n = callsPerSession ?? 200 + Math.floor(Math.random() * 2000);
    for (let i = 0; i < n; i++) {
      try {
        vf.call(input);
        counters.calls++;
      } catch (e) {
        if (e instanceof ServiceError) count(e.errorName);
        else throw e;
      }
      if (i % 100 === 0) await sleep(0); // let the counters out
    }
    await vf.release();
  } catch (e) {
    count(e instanceof OffloadRefused ? `refused:${e.reason}` : e instanceof VirtFunError ? e.code : 'other');
    await sleep(50);
  } finally {
    control?.close();
  }
}
