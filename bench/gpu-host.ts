/**
 * The full VirtFun path for bench:gpu: a vFunD with its journal in a
 * temporary folder, a WebGPU device `gpu0` with every GPU function on it, and
 * this process as the guest: it negotiates and activates a function in
 * hardware and calls it through the shared-memory channel (sealed memfd
 * regions, the service in a process of its own), as any guest would.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, toSnapshot } from '../src/actors/config.js';
import { FileRuntime, type HostRegion } from '../src/actors/runtime-files.js';
import { VFunD } from '../src/actors/vfund.js';
import { openJournal } from '../src/events/adapters/open-journal.js';
import { connect } from '../src/guest/connect.js';
import { VFunction } from '../src/guest/vfunction.js';
import { gpuKernelNames } from '../src/gpu/kernels/index.js';
import { MAX_CAPACITY } from '../src/dataplane/layout.js';
import { randomIds, systemClock } from '../src/util/system.js';

const SECRET = 'bench-gpu-secret-0001';

export interface GpuHost {
  /** A hardware instance of `fn` (throws when it falls back to software: the column would lie). */
  open(fn: string): Promise<VFunction>;
  stop(): Promise<void>;
}

/** Start the host; its regions carry inputs and results up to `capacity` bytes. */
export async function startGpuHost(capacity: number): Promise<GpuHost> {
  const root = await mkdtemp(join(tmpdir(), 'vfun-bench-gpu-'));
  const regionCapacity = Math.min(MAX_CAPACITY, Math.max(64 * 1024, Math.ceil(capacity / 4096) * 4096));
  const config = toSnapshot(
    parseConfig({
      tenants: [{ id: 'bench', secret: SECRET, maxInstances: 4 }],
      functions: gpuKernelNames().map((name) => ({ name, kinds: { hw: { device: 'gpu0' } } })),
      regionCapacity,
      devices: [{ name: 'gpu0', type: 'webgpu', slots: 2 }],
    }),
  );
  const { journal } = await openJournal(`file:${join(root, 'journal.ndjson')}`, { host: 'bench' });
  const runtime = await FileRuntime.create({ root });
  const vfund = await VFunD.start<HostRegion>({ journal, runtime, config, host: 'bench', clock: systemClock, ids: randomIds });
  let app = 0;
  return {
    async open(fn) {
      const vf = await VFunction.open(vfund, (r) => connect(r), { tenant: 'bench', credential: SECRET, app: `a${++app}`, fn, kind: 'hw', fallback: false });
      if (vf.kind !== 'hw') throw new Error(`${fn}: not in hardware`);
      return vf;
    },
    async stop() {
      await vfund.stop('bench finished');
      await runtime.close();
      await journal.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}
