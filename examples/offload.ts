#!/usr/bin/env node
/**
 * A guest application driving its own lifecycle, in its own process: it
 * negotiates (falling back to software if the hardware is full), activates,
 * computes through the mapped region and releases, all through its tenant's
 * control socket. The tenant secret comes from the environment (VFUN_SECRET)
 * and only signs requests; it is never sent.
 *
 *   VFUN_SECRET=... node dist/examples/offload.js --socket <root>/vmcli/<tenant>/control.sock \
 *       --tenant acme --app billing --fn factorial [--kind hw|sw] [--arg 51] [--calls N]
 *
 * Prints one JSON line: phases seen, instance, kind, result of the last call, stats at release.
 */
import { parseArgs } from 'node:util';
import { ControlClient } from '../src/guest/control-client.js';
import { connect } from '../src/guest/connect.js';
import { VFunction, OffloadRefused } from '../src/guest/vfunction.js';

const { values } = parseArgs({
  options: {
    socket: { type: 'string' },
    tenant: { type: 'string' },
    app: { type: 'string' },
    fn: { type: 'string' },
    kind: { type: 'string', default: 'hw' },
    arg: { type: 'string', default: '51' },
    calls: { type: 'string', default: '1' },
  },
});
const secret = process.env.VFUN_SECRET;
if (!values.socket || !values.tenant || !values.app || !values.fn || !secret || (values.kind !== 'hw' && values.kind !== 'sw')) {
  console.error('usage: VFUN_SECRET=... offload --socket S --tenant T --app A --fn F [--kind hw|sw] [--arg N|text] [--calls N]');
  process.exit(2);
}
const input = /^\d+$/.test(values.arg) ? new Uint8Array(new Uint32Array([Number(values.arg)]).buffer) : new TextEncoder().encode(values.arg);

const control = await ControlClient.connect(values.socket);
const phases: string[] = [];
try {
  const vf = await VFunction.open(control, (r) => connect(r), {
    tenant: values.tenant,
    credential: secret,
    app: values.app,
    fn: values.fn,
    kind: values.kind,
    onPhase: (p) => phases.push(p),
  });
  let result: Uint8Array = new Uint8Array(0);
  for (let i = 0; i < Number(values.calls); i++) result = vf.call(input);
  const shown = result.byteLength === 8 ? new DataView(result.buffer, result.byteOffset).getBigUint64(0, true).toString() : Buffer.from(result).toString('hex');
  const stats = await vf.release();
  console.log(JSON.stringify({ pid: process.pid, phases, instance: vf.instance, kind: vf.kind, fellBack: vf.fellBack, result: shown, stats }));
} catch (err) {
  if (!(err instanceof OffloadRefused)) throw err;
  console.log(JSON.stringify({ pid: process.pid, phases, refused: { phase: err.phase, reason: err.reason, detail: err.detail } }));
  process.exitCode = 3;
} finally {
  control.close();
}
