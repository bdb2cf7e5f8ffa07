/**
 * Reading the journal file, verified (docs/events.md, "File journal"): the
 * journal's `read()` and `verifyFile`, which checks a file as it is on disk
 * without opening it as a journal. Every line is checked: terminated, an
 * envelope in canonical form, its hash, seq and prevHash continuity.
 */
import { open } from 'node:fs/promises';
import { JournalCorruptError } from '../../../errors.js';
import { chainFault, faultOf, type ChainReport } from '../../chain.js';
import type { Envelope } from '../../envelope.js';
import { initialHostCheck, stepHostCheck, type HostPolicy } from '../../host-check.js';
import type { JournalHead } from '../../journal.js';
import { nativeSha256Hex as sha256Hex } from '../native-hash.js';
import { decodeLine, scanLines } from './lines.js';
import type { ReadIndex } from './read-index.js';

function afterSeq(prev: JournalHead | null): string {
  return prev === null ? 'before the first event' : `after seq ${prev.seq}`;
}

/**
 * Envelopes of the file at `path` from `fromSeq`, up to byte `end`, streamed.
 * Reading starts at the index's last checkpoint before `fromSeq`; lines
 * checked at the index's frontier move it on. At the first bad line,
 * JournalCorruptError names the line and the seq it follows.
 */
export async function* readVerified(path: string, end: number, fromSeq: number, index: ReadIndex): AsyncGenerator<Envelope> {
  const start = index.startFor(fromSeq);
  const fh = await open(path, 'r');
  try {
    let prev = start.prev;
    let lineNo = start.line;
    for await (const lines of scanLines(fh, start.offset, end)) {
      for (const raw of lines) {
        lineNo++;
        let reason: string | null;
        let env: Envelope | null = null;
        if (!raw.terminated) {
          reason = 'has no trailing newline';
        } else {
          const d = decodeLine(raw.text);
          if (d.ok) {
            env = d.env;
            reason = chainFault(d.env, prev, { hash: sha256Hex, encoding: d.encoding, schema: false, shapeChecked: true });
          } else {
            reason = d.reason;
          }
        }
        if (reason !== null || env === null) {
          throw new JournalCorruptError(`${path}:${lineNo}`, `line ${lineNo} is damaged ${afterSeq(prev)}: ${reason ?? 'unreadable'}`);
        }
        prev = { seq: env.seq, hash: env.hash };
        index.checked(raw.offset, raw.bytes, lineNo, prev);
        if (env.seq >= fromSeq) yield env;
      }
    }
  } finally {
    await fh.close();
  }
}

/**
 * Verifies a journal file as it is on disk, without opening it as a journal
 * (nothing is cut or written). Checks every line: terminated, valid JSON, an
 * envelope in canonical form, then the chain rules of `verifyChain` (seq,
 * prevHash, hash, known type and version). The first bad line is reported
 * with its line number; `seq` is the bad envelope's own seq when it has one,
 * else the seq expected there. With `hosts`, an envelope of another host is
 * the first bad one too (host-check.ts).
 */
export async function verifyFile(path: string, hosts: HostPolicy | null = null): Promise<ChainReport> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    let prev: JournalHead | null = null;
    let hostState = initialHostCheck;
    let count = 0;
    let lineNo = 0;
    for await (const lines of scanLines(fh, 0, size)) {
      for (const raw of lines) {
        lineNo++;
        if (!raw.terminated) {
          return {
            ok: false,
            count,
            firstBad: faultOf(null, count + 1, 'has no trailing newline: a torn last record (opening the journal cuts it)', lineNo),
          };
        }
        const d = decodeLine(raw.text);
        if (!d.ok) return { ok: false, count, firstBad: faultOf(d.value, count + 1, d.reason, lineNo) };
        const reason = chainFault(d.env, prev, { hash: sha256Hex, encoding: d.encoding, shapeChecked: true });
        if (reason !== null) return { ok: false, count, firstBad: faultOf(d.env, count + 1, reason, lineNo) };
        if (hosts !== null) {
          const step = stepHostCheck(hostState, d.env, hosts);
          if (step.error !== null) return { ok: false, count, firstBad: faultOf(d.env, count + 1, step.error.message, lineNo) };
          hostState = step.state;
        }
        prev = { seq: d.env.seq, hash: d.env.hash };
        count++;
      }
    }
    return { ok: true, count, head: prev };
  } finally {
    await fh.close();
  }
}
