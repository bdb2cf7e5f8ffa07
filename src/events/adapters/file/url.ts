/**
 * The file journal's URL (docs/events.md, "File journal"):
 *   file:<path>[?host=<h>&previousHost=<h>&segment=<size>]   (or file:///abs/path?…)
 * A `?` in a file: URL starts its parameters. `host`: the host the journal
 * belongs to (checked; host-check.ts); `previousHost`: that host's name before
 * a rename; `segment`: the size past which the journal rotates into a new
 * segment at its next checkpoint (segments.ts), in bytes or with a unit
 * (`64MiB`, `512KiB`, `1GiB`, `1000000`). Unknown parameters are refused.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VirtFunError } from '../../../errors.js';

/** A file: journal URL, parsed. */
export interface FileJournalUrl {
  /** Absolute path of the active journal file. */
  readonly path: string;
  readonly host?: string;
  readonly previousHost?: string;
  readonly segmentBytes?: number;
}

const UNITS: Readonly<Record<string, number>> = { '': 1, B: 1, KiB: 1 << 10, MiB: 1 << 20, GiB: 1 << 30 };

/** Bytes of a size written `64MiB`, `512KiB`, `1GiB`, `4096B` or `4096`; null when it is not one. */
export function parseSize(text: string): number | null {
  const m = /^(\d+)(B|KiB|MiB|GiB)?$/.exec(text);
  if (m === null) return null;
  const bytes = Number(m[1]) * (UNITS[m[2] ?? ''] as number);
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : null;
}

/** Parses a `file:` journal URL; null when `url` is not one. JOURNAL_URL names a bad parameter. */
export function parseFileJournalUrl(url: string): FileJournalUrl | null {
  if (!url.startsWith('file:')) return null;
  const q = url.indexOf('?');
  const base = q === -1 ? url : url.slice(0, q);
  const path = base.startsWith('file://') ? fileURLToPath(base) : resolve(base.slice('file:'.length));
  if (base === 'file:' || base === 'file://') throw new VirtFunError('JOURNAL_URL', `journal URL '${url}' names no file`);
  const out: { path: string; host?: string; previousHost?: string; segmentBytes?: number } = { path };
  if (q === -1) return out;
  for (const [key, value] of new URLSearchParams(url.slice(q + 1))) {
    if (value === '') throw new VirtFunError('JOURNAL_URL', `journal URL '${url}': ${key} is empty`);
    switch (key) {
      case 'host':
        out.host = value;
        break;
      case 'previousHost':
        out.previousHost = value;
        break;
      case 'segment': {
        const bytes = parseSize(value);
        if (bytes === null) throw new VirtFunError('JOURNAL_URL', `journal URL '${url}': segment=${value} is not a size (e.g. 64MiB, 512KiB, 1GiB, 1048576)`);
        out.segmentBytes = bytes;
        break;
      }
      default:
        throw new VirtFunError('JOURNAL_URL', `journal URL '${url}': unknown parameter '${key}' (file: takes host, previousHost, segment)`);
    }
  }
  return out;
}
