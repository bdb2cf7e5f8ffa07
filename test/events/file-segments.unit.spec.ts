/**
 * The file journal's segments, without a disk: names, what is missing, the
 * read plan over any layout with archived segments, the rotation rule.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { missingError, missingRanges, parseSegmentName, planRead, segmentPath, shouldRotate, type Segment } from '../../src/events/adapters/file/segments.js';

/** A journal of `sizes.length` closed segments of those sizes, then an active file of `active` events; `archived[i]`: segment i is not here. */
const layoutArb = fc
  .array(fc.tuple(fc.integer({ min: 1, max: 5 }), fc.boolean()), { maxLength: 6 })
  .chain((segs) => fc.record({ segs: fc.constant(segs), active: fc.integer({ min: 0, max: 4 }), fromSeq: fc.integer({ min: 1, max: 40 }) }));

function build(segs: readonly (readonly [number, boolean])[], active: number): { present: Segment[]; all: Segment[]; activeFirst: number | null; head: number } {
  const all: Segment[] = [];
  let next = 1;
  for (const [size] of segs) {
    all.push({ path: segmentPath('/j/journal.ndjson', next, next + size - 1), first: next, last: next + size - 1 });
    next += size;
  }
  const present = all.filter((_, i) => !segs[i]![1]);
  return { present, all, activeFirst: active === 0 ? null : next, head: next + active - 1 };
}

describe('segments', () => {
  test('names sort in seq order and parse back; other names are not segments', () => {
    const p = segmentPath('/var/j/journal.ndjson', 1, 1234);
    expect(p).toBe('/var/j/journal.ndjson.000000000001-000000001234');
    expect(parseSegmentName('journal.ndjson', p.slice('/var/j/'.length))).toEqual({ first: 1, last: 1234 });
    for (const other of ['journal.ndjson', 'journal.ndjson.lock', 'journal.ndjson.probe', 'journal.ndjson.5-4', 'journal.ndjson.0-3', 'journal.ndjsonx.1-2', 'other.ndjson.1-2', 'journal.ndjson.1-2.gz']) {
      expect(parseSegmentName('journal.ndjson', other), other).toBeNull();
    }
  });

  test.prop([layoutArb])('a read from fromSeq is planned iff every seq from fromSeq on is here; it reads exactly the present segments holding fromSeq or later', ({ segs, active, fromSeq }) => {
    const { present, all, activeFirst, head } = build(segs, active);
    const here = new Set<number>();
    for (const s of present) for (let q = s.first; q <= s.last; q++) here.add(q);
    for (let q = activeFirst ?? head + 1; q <= head; q++) here.add(q);
    // Missing: every seq up to the head that is not here (seqs after the last segment with an empty active file are not known).
    const knownEnd = activeFirst === null ? (present.at(-1)?.last ?? 0) : head;
    const missing = missingRanges(present, activeFirst).flatMap((r) => Array.from({ length: r.to - r.from + 1 }, (_, i) => r.from + i));
    expect(missing).toEqual(Array.from({ length: knownEnd }, (_, i) => i + 1).filter((q) => !here.has(q)));
    const plan = planRead(present, activeFirst, fromSeq);
    const needed = missing.filter((q) => q >= fromSeq);
    expect(plan.ok).toBe(needed.length === 0);
    if (plan.ok) {
      expect(plan.segments).toEqual(present.filter((s) => s.last >= fromSeq));
      const i = present.findIndex((s) => s.last >= fromSeq);
      const previous = i > 0 ? present[i - 1]! : i === -1 ? (present.at(-1) ?? null) : null;
      const nextFirst = i === -1 ? activeFirst : present[i]!.first;
      expect(plan.before).toEqual(previous !== null && previous.last + 1 === nextFirst ? previous : null);
    } else {
      expect(plan.missing.from <= needed[0]! && needed[0]! <= plan.missing.to).toBe(true);
      expect(all.some((s) => s.first <= plan.missing.from && plan.missing.from <= s.last)).toBe(true);
      const message = missingError('/j/journal.ndjson', plan, fromSeq).message;
      expect(message).toMatch(new RegExp(`seqs? ${plan.missing.from}(\\.\\.${plan.missing.to})? (is|are) not here, needed to read from seq ${fromSeq}`));
      if (plan.firstPresent !== null) expect(message).toContain(`read from seq ${plan.firstPresent} on`);
    }
  });

  test.prop([fc.nat({ max: 1 << 20 }), fc.integer({ min: 1, max: 1 << 20 }), fc.boolean()])('rotation: only after a checkpoint, once the active file has reached the segment size', (size, segmentBytes, checkpoint) => {
    expect(shouldRotate(size, segmentBytes, checkpoint)).toBe(checkpoint && size >= segmentBytes);
  });
});
