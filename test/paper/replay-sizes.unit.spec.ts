/**
 * replay-trace re-times each call with its own sizes and work through the
 * device profile's model (src/paper/replay-trace.ts): the hand-written trace
 * of docs/traces.md replays, its 64 KiB SHA-256 call predicted with the
 * transfer and throughput of 64 KiB, its ERROR call kept an error; the same
 * seed gives the same predictions; -o into a missing folder creates it.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callCost } from '../../simulator/model.js';
import { functionProfile, loadProfileSync } from '../../simulator/profile.js';
import { replayTrace, type ReplayCall } from '../../src/paper/replay-trace.js';

const DOC_TRACE = /```jsonl\n([\s\S]*?)```/.exec(readFileSync(new URL('../../docs/traces.md', import.meta.url), 'utf8'))![1]!;

describe('replay-trace with per-call sizes', () => {
  let dir = '';
  let trace = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vfun-replay-'));
    trace = join(dir, 'trace-doc.jsonl');
    await writeFile(trace, DOC_TRACE);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('predicts a 64 KiB SHA-256 call with the transfer and throughput of 64 KiB, an 8-byte one with almost only the launch', async () => {
    const r = await replayTrace({ trace, device: 'alveo-u250', out: join(dir, 'new', 'nested') });
    const fp = functionProfile(loadProfileSync('alveo-u250'), 'sha256')!;
    const perCall = (JSON.parse(await readFile(r.files.json, 'utf8')) as { per_call: ReplayCall[] }).per_call;
    const [small, large, failed] = perCall as [ReplayCall, ReplayCall, ReplayCall];
    const floor = (inB: number, outB: number): number => callCost(fp, inB, outB, inB).totalNs / 1000;
    // The jitter-free model cost is a lower bound; the profile's jitter is a few per cent of it.
    expect(small.device_us).toBeGreaterThanOrEqual(floor(8, 32) - 0.001);
    expect(small.device_us).toBeLessThan(floor(8, 32) * 2);
    expect(large.device_us).toBeGreaterThanOrEqual(floor(65536, 32) - 0.001);
    expect(large.device_us).toBeLessThan(floor(65536, 32) * 2);
    expect(large.device_us - small.device_us).toBeGreaterThan(200); // 64 KiB at 300 MB/s: 218 µs
    expect(large).toMatchObject({ in_bytes: 65536, out_bytes: 32, work: 65536, status: 'DONE' });
    // The ERROR call stays an error: its recorded time is its prediction.
    expect(failed).toMatchObject({ status: 'ERROR', recorded_us: 2.3, predicted_us: 2.3 });
    expect(r.errors).toBe(1);
    expect(r.files.json.startsWith(join(dir, 'new', 'nested'))).toBe(true);
  });

  it('gives the same predictions for the same seed, others for another', async () => {
    const run = async (seed: number): Promise<ReplayCall[]> => {
      const r = await replayTrace({ trace, device: 'alveo-u250', out: dir, seed });
      expect(r.seed).toBe(seed);
      return (JSON.parse(await readFile(r.files.json, 'utf8')) as { per_call: ReplayCall[] }).per_call;
    };
    const a = await run(7);
    expect(await run(7)).toEqual(a);
    expect((await run(8)).map((c) => c.device_us)).not.toEqual(a.map((c) => c.device_us));
  });

  it('refuses a call whose work nothing says, for a function that does not count bytes, naming its line', async () => {
    const file = join(dir, 'trace-nowork.jsonl');
    const lines = DOC_TRACE.trim().split('\n').slice(0, 2);
    lines[0] = lines[0]!.replace('"sha256"', '"factorial"').replace('"calls":3', '"calls":1');
    await writeFile(file, lines.join('\n') + '\n');
    await expect(replayTrace({ trace: file, device: 'alveo-u250', out: dir })).rejects.toThrow(`${file}: line 2: work: missing, and the header has no work either (the device function counts items`);
  });
});
