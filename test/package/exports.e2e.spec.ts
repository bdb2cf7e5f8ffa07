/**
 * The package as an integrator imports it: the entry points of package.json
 * "exports" (built dist/), from a project of their own that depends on
 * `virtfun`, type-checked with the compiler settings of a modern ESM project
 * and loaded by Node. Internals stay unreachable.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let project: string;

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'virtfun-consumer-'));
  mkdirSync(join(project, 'node_modules'));
  // What `npm install virtfun` gives a project: the package by name (its own dependencies resolve from its folder).
  symlinkSync(ROOT, join(project, 'node_modules', 'virtfun'), 'dir');
  symlinkSync(join(ROOT, 'node_modules', '@types'), join(project, 'node_modules', '@types'), 'dir');
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
});

afterAll(() => rmSync(project, { recursive: true, force: true }));

function node(code: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: project, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const ENTRIES = ['virtfun', 'virtfun/daemon', 'virtfun/journal', 'virtfun/dataplane', 'virtfun/simulator', 'virtfun/testing'] as const;

describe('the package entry points', () => {
  it('each loads in Node and exports what its audience needs, and no layout internals', () => {
    const r = node(`
      const out = {};
      for (const e of ${JSON.stringify(ENTRIES)}) out[e] = Object.keys(await import(e)).sort();
      console.log(JSON.stringify(out));`);
    expect(r.stderr).toBe('');
    const keys = JSON.parse(r.stdout) as Record<(typeof ENTRIES)[number], string[]>;
    expect(keys['virtfun']).toEqual(expect.arrayContaining(['VFunction', 'OffloadRefused', 'ControlClient', 'connect', 'ChannelClient', 'ErrorCode', 'VirtFunError']));
    expect(keys['virtfun/daemon']).toEqual(expect.arrayContaining(['VFunD', 'startDaemon', 'loadConfig', 'parseConfig', 'SabRuntime', 'FileRuntime', 'ControlServer', 'decide', 'evolve', 'replayJournal', 'createDriver']));
    expect(keys['virtfun/journal']).toEqual(expect.arrayContaining(['openJournal', 'FileJournal', 'JetStreamJournal', 'MemoryJournal', 'verifyChain', 'EVENT_TYPES', 'checkReceipt', 'parseReceipt', 'verifyCheckpoints', 'verifyInclusion', 'verifyConsistency']));
    expect(keys['virtfun/dataplane']).toEqual(expect.arrayContaining(['ChannelService', 'ChannelClient', 'startService', 'createSabRegion', 'createMemfdRegion', 'Status', 'ErrorCode']));
    expect(keys['virtfun/simulator']).toEqual(expect.arrayContaining(['SimDevice', 'VirtualClock', 'parseProfile']));
    expect(keys['virtfun/testing']).toEqual(expect.arrayContaining(['steppingClock', 'counterIds', 'MemoryJournal', 'lifecycleMachine', 'serviceProtocolMachine']));
    // Byte-layout internals and the guest's view of vFunD's state are not part of any entry.
    for (const internal of ['HDR', 'IN', 'OUT', 'packWord', 'wordSeq', 'LAYOUT_HASH', 'checkHeader', 'areaViews', 'I32']) {
      for (const e of ENTRIES) expect(keys[e], `${e} exports ${internal}`).not.toContain(internal);
    }
    for (const daemonOnly of ['VFunD', 'decide', 'FileJournal']) expect(keys['virtfun']).not.toContain(daemonOnly);
  });

  it('refuses a path inside the package that no entry point names', () => {
    const r = node(`await import('virtfun/dist/src/dataplane/layout.js')`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('type-checks a strict ESM consumer of every entry point (ErrorCode is the wire codes, a value)', () => {
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, types: ['node'] }, files: ['consumer.ts'] }),
    );
    writeFileSync(
      join(project, 'consumer.ts'),
      `import { ErrorCode, VFunction, VirtFunError, ChannelClient, type VirtFunErrorCode, type Kind } from 'virtfun';
import { VFunD, SabRuntime, parseConfig, toSnapshot, systemClock, randomIds, type InstanceState } from 'virtfun/daemon';
import { openJournal, type Envelope, type VFunEvent } from 'virtfun/journal';
import { ChannelService, Status, sabChannel, createSabRegion } from 'virtfun/dataplane';
import { VirtualClock, SimDevice } from 'virtfun/simulator';
import { steppingClock, counterIds, lifecycleMachine, MemoryJournal } from 'virtfun/testing';

const wire: number = ErrorCode.BAD_SEQ;
const code: VirtFunErrorCode = 'VALIDATION';
const kind: Kind = 'sw';
export const all = [wire, code, kind, VFunction, VirtFunError, ChannelClient, VFunD, SabRuntime, parseConfig, toSnapshot, systemClock, randomIds,
  openJournal, ChannelService, Status.DONE, sabChannel, createSabRegion, VirtualClock, SimDevice, steppingClock(), counterIds(), lifecycleMachine, new MemoryJournal()];
export type Types = [InstanceState, Envelope, VFunEvent];
`,
    );
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], { cwd: project, encoding: 'utf8', timeout: 120_000 });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  });
});
