/**
 * Signed checkpoints as an operator and a tenant use them: `vfun demo` with witnesses (a directory,
 * a file, a NATS key-value bucket on a real nats-server), `vfun audit verify --witness --pubkey`,
 * `audit pubkey`, `audit prove` and `audit check-proof`, and forgeries of the file journal.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeEnvelope, hashEnvelope } from '../../src/events/canonical.js';
import { GENESIS_HASH } from '../../src/events/envelope.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';

const exec = promisify(execFile);
const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const vfun = (...args: string[]) => exec(process.execPath, [CLI, ...args]);

/** Re-seals journal lines from index `from` on with recomputed seq, prevHash and hash (a forger without the key). */
function rechain(lines: Record<string, unknown>[], from: number): string {
  const out = lines.slice(0, from);
  for (const l of lines.slice(from)) {
    const { hash: _old, ...rest } = l;
    const unsealed = { ...rest, seq: out.length + 1, prevHash: (out.at(-1)?.['hash'] as string | undefined) ?? GENESIS_HASH };
    out.push({ ...unsealed, hash: hashEnvelope(unsealed) });
  }
  return `${out.map((l) => encodeEnvelope(l).canonical).join('\n')}\n`;
}

describe('vfun checkpoints, witnesses and receipts', () => {
  let root: string;
  let nats: NatsServer;
  let witnesses: string[];
  const journal = () => join(root, 'admin', 'journal.ndjson');
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'vfun-cp-'));
    nats = await startNatsServer();
    witnesses = [join(root, 'witness') + '/', join(root, 'witness.ndjson'), nats.url];
    await vfun('demo', '--root', root, '--backend', 'sab', ...witnesses.flatMap((w) => ['--witness', w]));
    await vfun('demo', '--root', root, '--backend', 'sab', ...witnesses.flatMap((w) => ['--witness', w]));
  });
  afterAll(async () => {
    await nats?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('journals checkpoints that verify against the key and the three witnesses', async () => {
    const names = await readdir(join(root, 'witness'));
    expect(names.length).toBeGreaterThanOrEqual(2);
    for (const n of names) expect(n).toMatch(/^[A-Za-z0-9._-]+_vfund-\d+\.checkpoint$/);
    const { stdout } = await vfun('audit', 'verify', '--root', root, ...witnesses.flatMap((w) => ['--witness', w]));
    expect(stdout).toMatch(/hash chain verified/);
    expect(stdout).toMatch(/2 checkpoint\(s\), the last covers seqs 1\.\.\d+; 0 event\(s\) not yet covered/);
    expect(stdout).toMatch(/every checkpoint is signed by \S+\/vfund and matches the events before it/);
    expect(stdout).toMatch(/consistent with 6 witnessed checkpoint\(s\)/);
  });

  it('prints the public key; a receipt checks offline, a changed one does not', async () => {
    const pub = join(root, 'admin', 'checkpoint.pub');
    expect((await vfun('audit', 'pubkey', '--root', root)).stdout).toBe(await readFile(pub, 'utf8'));
    const receipt = join(root, 'receipt.json');
    await vfun('audit', 'prove', '2', '--root', root, '-o', receipt);
    expect((await vfun('audit', 'check-proof', receipt, '--pubkey', pub)).stdout).toMatch(/VALID: event seq 2 \(negotiation\.acked/);
    const r = JSON.parse(await readFile(receipt, 'utf8')) as { envelope: { tenant: string } };
    r.envelope.tenant = 'globex';
    await writeFile(receipt, JSON.stringify(r));
    await expect(vfun('audit', 'check-proof', receipt, '--pubkey', pub)).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/INVALID: the envelope's hash .* the event was changed/) });
  });

  it('catches a re-chained tail, and stripped checkpoints against the witness', async () => {
    const lines = (await readFile(journal(), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const i = lines.findIndex((l) => l['type'] === 'negotiation.nacked' && l['tenant'] === 'globex');
    const changed = lines.map((l, k) => (k === i ? { ...l, tenant: 'acme', data: { ...(l['data'] as object), tenant: 'acme' } } : l));
    const tail = join(root, 'tail.ndjson');
    await writeFile(tail, rechain(changed, i));
    await expect(vfun('audit', 'verify', '--root', root, '--journal', `file:${tail}`)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/CHECKPOINT FAILURE: checkpoint at seq \d+ \(size \d+\): its root [0-9a-f]+ is not the tree of the events before it/),
    });
    const stripped = join(root, 'stripped.ndjson');
    await writeFile(stripped, rechain(lines.filter((l) => l['type'] !== 'journal.checkpoint'), 0));
    expect((await vfun('audit', 'verify', '--root', root, '--journal', `file:${stripped}`)).stdout).toMatch(/0 checkpoint\(s\)/);
    await expect(vfun('audit', 'verify', '--root', root, '--journal', `file:${stripped}`, '--witness', witnesses[0]!)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/CHECKPOINT FAILURE: witness dir:.*: checkpoint of size \d+: the journal (is not consistent|has only)/),
    });
  });

  it('refuses to start with a private key others can read, naming the path and mode', async () => {
    const key = join(root, 'admin', 'checkpoint.key');
    await chmod(key, 0o644);
    await expect(vfun('demo', '--root', root, '--backend', 'sab')).rejects.toMatchObject({ stderr: expect.stringContaining(`${key}: the checkpoint private key is readable by others (mode 0644)`) });
    await chmod(key, 0o600);
  });
});
