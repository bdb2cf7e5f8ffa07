/**
 * A guest client in C, written from docs/region-format.md alone, calls a
 * VirtFun service through the region files: the document is enough.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileRegion, type FileRegion } from '../../src/dataplane/region-files.js';
import { startService, type ServiceHandle } from '../../src/dataplane/service-host.js';

const exec = promisify(execFile);
const SRC = join(import.meta.dirname, '../../clients/c');

describe('C client (clients/c)', () => {
  let dir: string;
  let bin: string;
  let region: FileRegion;
  let service: ServiceHandle;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vfun-c-'));
    bin = join(dir, 'vfun-call');
    await exec('cc', ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-o', bin, join(SRC, 'vfun.c'), join(SRC, 'call.c')]);
    region = createFileRegion({ dataout: join(dir, 'dataout'), datain: join(dir, 'datain') }, 4096);
    service = await startService({ region, driver: 'factorial' });
  });
  afterAll(async () => {
    await service?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('calls factorial(51) through the mapped region, once and 10 000 times', async () => {
    expect((await exec(bin, [dir, '51'])).stdout.trim()).toBe('18284192274659147776');
    expect((await exec(bin, [dir, '20', '10000'])).stdout.trim()).toBe('2432902008176640000');
    expect(service.stats().calls).toBe(10_001);
  });

  it('gets the service error code for a refused argument, and the service goes on', async () => {
    expect((await exec(bin, [dir, '2000000'])).stdout.trim()).toBe('error 5'); // BAD_INPUT: n past the limit
    expect((await exec(bin, [dir, '10'])).stdout.trim()).toBe('3628800');
  });
});
