/**
 * docs/events.md must not lie: its examples are a valid journal, one per
 * event type, and its golden vector is what the code computes.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { encodeEnvelope, sha256Hex } from '../../src/events/canonical.js';
import { EVENT_TYPES } from '../../src/events/catalogue.js';
import { verifyChain } from '../../src/events/chain.js';
import type { Envelope } from '../../src/events/envelope.js';

const doc = readFileSync(new URL('../../docs/events.md', import.meta.url), 'utf8');

describe('docs/events.md', () => {
  test('has one section per event type, each with an example of that type', () => {
    const sections = doc.split(/^### /m).slice(1);
    for (const type of EVENT_TYPES) {
      const section = sections.find((s) => s.startsWith(`\`${type}\``));
      expect(section, `section for ${type}`).toBeDefined();
      const example = /```jsonl\n(.*)\n```/.exec(section!);
      expect(example, `example for ${type}`).not.toBeNull();
      expect((JSON.parse(example![1]!) as Envelope).type).toBe(type);
    }
  });

  test('the examples, in seq order, are a valid journal of canonical lines', async () => {
    const lines = [...doc.matchAll(/```jsonl\n(.*)\n```/g)].map((m) => m[1]!);
    expect(lines).toHaveLength(EVENT_TYPES.length);
    const envs = lines.map((l) => JSON.parse(l) as Envelope).sort((a, b) => a.seq - b.seq);
    for (const env of envs) expect(lines).toContain(encodeEnvelope(env).canonical);
    const report = await verifyChain(envs);
    expect(report).toMatchObject({ ok: true, count: EVENT_TYPES.length });
  });

  test('every NackReason of the domain is documented in "Shared types", and nothing else is', () => {
    const source = readFileSync(new URL('../../src/domain/types.ts', import.meta.url), 'utf8');
    const union = /export type NackReason =([^;]*);/.exec(source)![1]!;
    const reasons = [...union.matchAll(/\| '([a-z-]+)'/g)].map((m) => m[1]!);
    expect(reasons).toContain('journal-unavailable');
    const paragraph = /^- `NackReason`: ([\s\S]*?)^- `ReleaseReason`/m.exec(doc)![1]!;
    const documented = [...new Set([...paragraph.matchAll(/`([a-z]+(?:-[a-z]+)*)`/g)].map((m) => m[1]!))];
    expect(documented.sort()).toEqual([...reasons].sort());
  });

  test('the golden vector', () => {
    const m = /Canonical encoding without `hash`:\n\n```\n(.*)\n```\n\nSHA-256 of it: `([0-9a-f]{64})`/.exec(doc);
    expect(m).not.toBeNull();
    expect(sha256Hex(m![1]!)).toBe(m![2]);
    expect(encodeEnvelope(JSON.parse(m![1]!) as object).canonical).toBe(m![1]);
  });
});
