/**
 * Directory and file witnesses, and `openWitness` for a `--witness` value
 * (src/events/witness.ts describes the layouts).
 */
import { appendFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ValidationError } from '../../errors.js';
import { originSafe, type Witness } from '../witness.js';
import { kvWitness } from './witness-kv.js';

/** A directory witness: one file per checkpoint. */
export function directoryWitness(dir: string): Witness {
  return {
    url: `dir:${dir}`,
    async put(origin, size, note) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFile(join(dir, `${originSafe(origin)}-${size}.checkpoint`), note, { mode: 0o600 });
    },
    async notes() {
      const names = (await readdir(dir)).filter((n) => n.endsWith('.checkpoint'));
      const sizeOf = (n: string) => Number(/-(\d+)\.checkpoint$/.exec(n)?.[1] ?? 0);
      names.sort((a, b) => sizeOf(a) - sizeOf(b) || a.localeCompare(b));
      return Promise.all(names.map((n) => readFile(join(dir, n), 'utf8')));
    },
    close: async () => undefined,
  };
}

/** A file witness: NDJSON lines `{"size":n,"note":"…"}`, appended. */
export function fileWitness(path: string): Witness {
  return {
    url: `file:${path}`,
    async put(_origin, size, note) {
      await appendFile(path, `${JSON.stringify({ size, note })}\n`, { mode: 0o600 });
    },
    async notes() {
      const text = await readFile(path, 'utf8');
      const out: string[] = [];
      text.split('\n').forEach((line, i) => {
        if (line === '') return;
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          throw new ValidationError(`${path}:${i + 1}`, 'not a JSON line');
        }
        const note = (value as { note?: unknown }).note;
        if (typeof note !== 'string') throw new ValidationError(`${path}:${i + 1}`, 'expected {"size":n,"note":"…"}');
        out.push(note);
      });
      return out;
    },
    close: async () => undefined,
  };
}

/** The witness a `--witness` value names: nats://… a key-value bucket, a directory, or a file. */
export async function openWitness(spec: string): Promise<Witness> {
  if (/^nats:\/\//.test(spec)) {
    return kvWitness(spec);
  }
  if (spec === '') throw new ValidationError('--witness', 'expected a path or a nats:// URL');
  const isDir = spec.endsWith('/') || (await stat(spec).then((s) => s.isDirectory(), () => false));
  return isDir ? directoryWitness(spec) : fileWitness(spec);
}
