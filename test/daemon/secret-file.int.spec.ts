/**
 * Tenants' secrets from files (`secretFile`): read at load, relative to the
 * configuration's directory; refused, naming the field, when missing, empty,
 * or readable by the group or others; exactly one of secret and secretFile.
 */
import { chmod, mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ConfigError, parseConfig, toSnapshot } from '../../src/actors/config.js';
import { credentialDigest } from '../../src/actors/decide.js';
import { loadConfigFile } from '../../src/daemon/config.js';

const SECRET = 'zq-the-secret-of-acme-7';
const fn = { name: 'crc32', kinds: { sw: { slots: 1, driver: 'crc32' } } };
let dir: string;
let n = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vfun-secretfile-'));
  await chmod(dir, 0o755);
  await mkdir(join(dir, 'secrets'), { mode: 0o700 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function secret(text: string, mode = 0o600): Promise<string> {
  const path = join(dir, 'secrets', `s${++n}`);
  await writeFile(path, text);
  await chmod(path, mode);
  return path;
}
async function config(tenant: Record<string, unknown>, mode = 0o644): Promise<string> {
  const path = join(dir, `c${++n}.json`);
  await writeFile(path, JSON.stringify({ tenants: [{ id: 'acme', maxInstances: 2, ...tenant }], functions: [fn] }));
  await chmod(path, mode);
  return path;
}
const refusal = async (path: string): Promise<string> => {
  const err = await loadConfigFile(path).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ConfigError);
  return (err as Error).message;
};

describe('secretFile', () => {
  test('read at load (its trailing newline cut), relative to the configuration; the configuration then holds no secret and may be 0644', async () => {
    const abs = await secret(`${SECRET}\n`);
    const warnings: string[] = [];
    const loaded = await loadConfigFile(await config({ secretFile: abs }), (l) => warnings.push(l));
    expect(loaded.tenants[0]!.secret).toBe(SECRET);
    expect(warnings).toEqual([]);
    const rel = await loadConfigFile(await config({ secretFile: `secrets/${abs.split('/').at(-1)}` }));
    expect(toSnapshot(rel).tenants[0]!.credentialDigest).toBe(credentialDigest(SECRET));
  });

  test('refused, naming the field and never the secret: missing, empty, too short, readable by the group or by others', async () => {
    expect(await refusal(await config({ secretFile: join(dir, 'secrets', 'nope') }))).toMatch(/tenants\.0\.secretFile: cannot read .*nope: ENOENT/);
    expect(await refusal(await config({ secretFile: await secret('') }))).toMatch(/tenants\.0\.secretFile: .* is empty/);
    expect(await refusal(await config({ secretFile: await secret('\n') }))).toMatch(/tenants\.0\.secretFile: .* is empty/);
    expect(await refusal(await config({ secretFile: await secret('short') }))).toMatch(/tenants\.0\.secretFile: .*at least 16 characters/);
    for (const [mode, who] of [[0o640, 'its group'], [0o604, 'every user'], [0o644, 'every user']] as const) {
      const m = await refusal(await config({ secretFile: await secret(SECRET, mode) }));
      expect(m).toContain(`tenants.0.secretFile: `);
      expect(m).toContain(`is readable by ${who} (mode 0${mode.toString(8)}): chmod 600 it`);
      expect(m).not.toContain(SECRET);
    }
    expect(await refusal(await config({ secretFile: join(dir, 'secrets') }))).toMatch(/tenants\.0\.secretFile: .* is not a regular file/);
  });

  test('exactly one of secret and secretFile (parsing, pure); a parsed secretFile is not a secret until loaded', async () => {
    const base = { id: 'acme', maxInstances: 1 };
    expect(() => parseConfig({ tenants: [base], functions: [fn] })).toThrow(/tenants\.0\.secret: give exactly one of secret, secretFile/);
    expect(() => parseConfig({ tenants: [{ ...base, secret: SECRET, secretFile: '/x' }], functions: [fn] })).toThrow(/tenants\.0\.secret: give exactly one of secret, secretFile/);
    expect(() => parseConfig({ tenants: [{ ...base, secretfile: '/x' }], functions: [fn] })).toThrow(/secretfile: unknown key \(did you mean 'secretFile'\?\)/);
    const parsed = parseConfig({ tenants: [{ ...base, secretFile: '/x' }], functions: [fn] });
    expect(() => toSnapshot(parsed)).toThrow(/tenants\.0\.secretFile: the secret was not read/);
  });
});
