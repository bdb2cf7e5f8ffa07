/** Operators' commands on a journal the demo wrote: audit, audit verify, audit summary, replay. */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const vfun = (...args: string[]) => exec(process.execPath, [CLI, ...args]);

describe('vfun audit / replay', () => {
  let root: string;
  let journal: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'vfun-audit-'));
    journal = join(root, 'admin', 'journal.ndjson');
    await vfun('demo', '--root', root);
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('lists events as a table, and filters by tenant and type as ndjson', async () => {
    const table = await vfun('audit', '--root', root);
    expect(table.stdout).toContain('negotiation.acked');
    expect(table.stdout).toMatch(/\d+ events$/m);
    const { stdout } = await vfun('audit', '--root', root, '--tenant', 'globex', '--type', 'negotiation.nacked', '--format', 'ndjson');
    const rows = stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((r) => r.data.reason).sort()).toEqual(['credential', 'no-capacity', 'quota']);
    expect(rows.every((r) => r.tenant === 'globex')).toBe(true);
  });

  it('summarizes per tenant', async () => {
    const { stdout } = await vfun('audit', 'summary', '--root', root, '--format', 'json');
    const rows = JSON.parse(stdout) as { tenant: string; instances: number; fallbacks: number; nacks: Record<string, number>; security: number; errors: number }[];
    expect(rows.find((r) => r.tenant === 'globex')).toMatchObject({ instances: 2, fallbacks: 1, nacks: { 'no-capacity': 1, quota: 1, credential: 1 }, security: 1 });
    expect(rows.find((r) => r.tenant === 'acme')).toMatchObject({ instances: 3, errors: 1 });
  });

  it('summary takes the same filters; a tenant no event names is refused naming the tenants there are', async () => {
    const { stdout } = await vfun('audit', 'summary', '--root', root, '--tenant', 'globex', '--type', 'negotiation.nacked', '--type', 'negotiation.acked', '--format', 'json');
    expect(JSON.parse(stdout)).toEqual([expect.objectContaining({ tenant: 'globex', instances: 2, nacks: { 'no-capacity': 1, quota: 1, credential: 1 }, calls: 0 })]);
    for (const args of [['audit'], ['audit', 'summary']]) {
      await expect(vfun(...args, '--root', root, '--tenant', 'globexx')).rejects.toMatchObject({
        code: 1,
        stderr: expect.stringContaining("--tenant: no event of this journal names tenant 'globexx'; it holds tenants acme, globex"),
      });
    }
    const acked = (await vfun('audit', '--root', root, '--type', 'negotiation.acked', '--fn', 'sha256', '--format', 'ndjson')).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(acked.length).toBeGreaterThan(0);
    expect(acked.every((e) => e.type === 'negotiation.acked' && e.fn === 'sha256')).toBe(true);
    const one = acked[0].instance as string;
    const its = (await vfun('audit', '--root', root, '--instance', one, '--format', 'ndjson')).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(its.map((e) => e.type)).toEqual(expect.arrayContaining(['negotiation.acked', 'instance.released']));
    expect(its.every((e) => e.instance === one)).toBe(true);
  });

  it('replays to a stopped vFunD with nothing held and every decision reproduced', async () => {
    const { stdout } = await vfun('replay', '--root', root);
    expect(stdout).toContain('stopped');
    expect(stdout).toContain('tenant acme: 0 of 3 instances');
    expect(stdout).toContain('capacity sha256/hw: 0 of 1 slots in use');
    expect(stdout).toMatch(/decide reproduces all \d+ recorded decisions/);
  });

  it('verify passes, then fails naming the first bad event after one byte changes', async () => {
    expect((await vfun('audit', 'verify', '--root', root)).stdout).toMatch(/hash chain verified, \d+ events/);
    const text = await readFile(journal, 'utf8');
    const lines = text.split('\n');
    lines[5] = lines[5]!.replace('"acme"', '"acmf"');
    const copy = join(root, 'tampered.ndjson');
    await writeFile(copy, lines.join('\n'));
    await expect(vfun('audit', 'verify', '--journal', `file:${copy}`)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/chain BROKEN at seq 6 .*line 6/),
    });
    await expect(vfun('replay', '--journal', `file:${copy}`)).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('line 6') });
  });

  it('a complete last line with a bad hash is tampering: every reader exits 1 naming the line, the writer refuses it, nothing is cut', async () => {
    const lines = (await readFile(journal, 'utf8')).split('\n');
    const n = lines.length - 1; // the text ends with a newline
    lines[n - 1] = lines[n - 1]!.replace('"host":"', '"host":"x');
    const copy = join(root, 'bad-last.ndjson');
    const text = lines.join('\n');
    await writeFile(copy, text);
    const url = `file:${copy}`;
    for (const args of [['audit'], ['audit', 'summary'], ['replay']]) {
      await expect(vfun(...args, '--journal', url), args.join(' ')).rejects.toMatchObject({
        code: 1,
        stderr: expect.stringContaining(`line ${n} is damaged after seq ${n - 1}: hash `),
      });
    }
    await expect(vfun('audit', 'verify', '--journal', url)).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(new RegExp(`chain BROKEN at seq ${n} .*line ${n}`)) });
    await expect(vfun('demo', '--journal', url, '--root', join(root, 'other-root'))).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(new RegExp(`refusing to write to the journal: line ${n} \\(seq ${n}\\), its last complete line`)),
    });
    expect(await readFile(copy, 'utf8')).toBe(text);
  });

  it('a journal URL with host= of another host: readers exit 1 naming seq 1; with the journal\'s own host they pass', async () => {
    const own = JSON.parse((await readFile(journal, 'utf8')).split('\n')[0]!) as { host: string };
    for (const args of [['audit'], ['replay']]) {
      await expect(vfun(...args, '--journal', `file:${journal}?host=not-${own.host}`)).rejects.toMatchObject({
        code: 1,
        stderr: expect.stringContaining(`seq 1 (event `),
      });
    }
    await expect(vfun('audit', 'verify', '--journal', `file:${journal}?host=not-${own.host}`)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(new RegExp(`chain BROKEN at seq 1 .*line 1.*written by host '${own.host}', not 'not-${own.host}'`)),
    });
    expect((await vfun('audit', 'verify', '--journal', `file:${journal}?host=${own.host}`)).stdout).toMatch(/hash chain verified/);
  });

  it('takes the root and the journal from VFUN_ROOT and VFUN_JOURNAL; an option given wins', async () => {
    const env = (vars: Record<string, string>) => exec(process.execPath, [CLI, 'audit', '--format', 'ndjson', '--limit', '1'], { env: { ...process.env, ...vars } });
    const first = JSON.parse((await vfun('audit', '--root', root, '--format', 'ndjson', '--limit', '1')).stdout) as { id: string };
    expect(JSON.parse((await env({ VFUN_ROOT: root })).stdout)).toMatchObject({ id: first.id });
    expect(JSON.parse((await env({ VFUN_JOURNAL: `file:${journal}`, VFUN_ROOT: join(root, 'nothing-here') })).stdout)).toMatchObject({ id: first.id });
    const wins = exec(process.execPath, [CLI, 'audit', '--root', join(root, 'nothing-here')], { env: { ...process.env, VFUN_ROOT: root } });
    await expect(wins).rejects.toMatchObject({ stderr: expect.stringContaining('no journal at') });
  });

  it('refuses bad filters and a missing journal, naming the problem', async () => {
    await expect(vfun('audit', '--root', root, '--type', 'nope')).rejects.toMatchObject({ stderr: expect.stringContaining("--type: unknown event type 'nope'") });
    await expect(vfun('audit', '--root', root, '--format', 'xml')).rejects.toMatchObject({ stderr: expect.stringContaining('xml') });
    await expect(vfun('audit', '--root', join(root, 'nothing-here'))).rejects.toMatchObject({ stderr: expect.stringContaining('no journal at') });
  });
});
