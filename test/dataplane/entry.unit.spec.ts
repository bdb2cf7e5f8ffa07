import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { workerEntry } from '../../src/util/entry.js';

describe('workerEntry', () => {
  it('gives a .js caller its .js sibling and no extra flags', () => {
    const e = workerEntry('file:///app/dist/src/dataplane/service-host.js', './service-worker.js');
    expect(e.url.href).toBe('file:///app/dist/src/dataplane/service-worker.js');
    expect(e.module.href).toBe(e.url.href);
    expect(e.execArgv).toEqual([]);
  });

  it('gives a .ts caller its .ts sibling through a bootstrap that registers tsx', () => {
    const e = workerEntry(import.meta.url, './fixtures/hello.js');
    expect(e.module.href).toBe(new URL('./fixtures/hello.ts', import.meta.url).href);
    expect(e.url.protocol).toBe('data:');
    expect(decodeURIComponent(e.url.href)).toContain(e.module.href);
  });

  it('accepts a relPath without suffix', () => {
    expect(workerEntry('file:///a/b.ts', './c').module.href).toBe('file:///a/c.ts');
    expect(workerEntry('file:///a/b.js', '../c.ts').module.href).toBe('file:///c.js');
  });

  it('runs a TypeScript worker under vitest', async () => {
    const e = workerEntry(import.meta.url, './fixtures/hello.js');
    const w = new Worker(e.url, { workerData: 41, execArgv: [...process.execArgv, ...e.execArgv] });
    try {
      const msg = await new Promise((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      });
      expect(msg).toBe('hello 42');
    } finally {
      await w.terminate();
    }
  });
});
