/**
 * Reading a configuration file: a parse error names the line and column and
 * never the text (the file holds secrets); a file holding secrets that every
 * user can read is refused, one its group can read is warned about; a good
 * file loads.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { ConfigError } from '../../src/actors/config.js';
import { loadConfigFile } from '../../src/daemon/config.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vfun-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SECRET = 'zq-the-secret-of-acme-7';
const good = JSON.stringify({ tenants: [{ id: 'acme', secret: SECRET, maxInstances: 2 }], functions: [{ name: 'crc32', kinds: { sw: { slots: 1, driver: 'crc32' } } }] }, null, 2);
let n = 0;
async function file(text: string, mode = 0o600): Promise<string> {
  const path = join(dir, `c${++n}.json`);
  await writeFile(path, text);
  await chmod(path, mode);
  return path;
}

describe('loadConfigFile', () => {
  test('a good file loads; 0600 is not warned about; with secrets inline, 0644 is refused and 0640 warned about where others can reach the file', async () => {
    await chmod(dir, 0o755); // every user may go through: the file's own mode decides
    try {
      for (const [mode, warned] of [
        [0o600, null],
        [0o640, /readable by its group \(mode 0640\): chmod 600 it/],
      ] as const) {
        const warnings: string[] = [];
        const config = await loadConfigFile(await file(good, mode), (l) => warnings.push(l));
        expect(config.tenants[0]!.id).toBe('acme');
        if (warned === null) expect(warnings).toEqual([]);
        else expect(warnings).toEqual([expect.stringMatching(warned)]);
      }
      const err = await loadConfigFile(await file(good, 0o644)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(/every user can read it \(mode 0644\): chmod 600 it, or move the secrets to secretFile/);
      expect((err as Error).message).not.toContain(SECRET);
    } finally {
      await chmod(dir, 0o700);
    }
    // In a directory only its owner may enter, nobody else reads it, whatever its mode.
    const warnings: string[] = [];
    expect((await loadConfigFile(await file(good, 0o644), (l) => warnings.push(l))).tenants[0]!.secret).toBe(SECRET);
    expect(warnings).toEqual([]);
  });

  test.prop([fc.integer({ min: 1, max: good.length - 1 }), fc.constantFrom('', ',', '}', 'x', '"')], { numRuns: 40 })(
    'a file cut or damaged anywhere is refused without echoing any of its text',
    async (at, insert) => {
      const text = good.slice(0, at) + insert + (insert === '' ? '' : good.slice(at));
      let parsed = true;
      try {
        JSON.parse(text);
      } catch {
        parsed = false;
      }
      fc.pre(!parsed);
      const err = await loadConfigFile(await file(text)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      const message = (err as Error).message;
      expect(message).toMatch(/is not valid JSON/);
      for (const fragment of [SECRET.slice(0, 6), 'acme', 'crc32', 'maxInstances']) expect(message).not.toContain(fragment);
    },
  );
});
