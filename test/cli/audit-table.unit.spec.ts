/**
 * The audit table: by default every line fits 120 columns whatever the events
 * hold (generated events, hostile names included), times to the second;
 * `--wide` prints every value in full on one line; nothing a tenant sent can
 * reach the terminal as a control character. The same with a host column
 * first (`vfun audit --host`, hosts merged).
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { printAudit } from '../../src/cli/audit-stream.js';
import { printable, tableHead, tableRow, TABLE_WIDTH } from '../../src/cli/audit-table.js';
import { describeEvent } from '../../src/cli/audit.js';
import { sealEnvelope } from '../../src/events/chain.js';
import { eventOf, GENESIS_HASH, type Envelope, type PendingEvent } from '../../src/events/envelope.js';
import { pendingArb } from '../events/arbitraries.js';

function seal(list: readonly PendingEvent[], at = '2026-01-01T00:00:00.123Z', host = 'h'): Envelope[] {
  const out: Envelope[] = [];
  let prev = GENESIS_HASH;
  list.forEach((p, i) => {
    const env = sealEnvelope(p, { seq: i + 1, prevHash: prev, id: `e${i + 1}`, at, host });
    out.push(env);
    prev = env.hash;
  });
  return out;
}

const refused = (tenant: string, claimedApp: string): PendingEvent => ({
  event: { type: 'request.refused', data: { tenant, op: 'negotiate', reason: 'credential', detail: 'signature does not match the tenant secret', claimed: { app: claimedApp, fn: 'crc32' }, peer: { pid: 4242, uid: 1000 } } },
  scope: { tenant, app: null, fn: null, instance: null },
  causationId: null,
  correlationId: null,
});

describe('the audit table', () => {
  test.prop([fc.array(pendingArb, { minLength: 1, maxLength: 20 })])('every line of the default table fits 120 columns', async (list) => {
    let out = '';
    await printAudit(
      (async function* () {
        yield* seal(list);
      })(),
      () => true,
      'table',
      { kind: 'all' },
      async (t) => {
        out += t;
      },
    );
    for (const line of out.split('\n')) expect([...line].length).toBeLessThanOrEqual(TABLE_WIDTH);
    expect(out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  });

  /** Host names: valid ones up to the longest a name may be, and anything else (escaped). */
  const hostArb = fc.oneof(fc.stringMatching(/^[a-z][a-z0-9-]{0,63}$/), fc.string({ unit: 'binary', maxLength: 70 }));

  test.prop([fc.array(fc.tuple(hostArb, pendingArb), { minLength: 1, maxLength: 20 }), fc.constantFrom('fit' as const, 'wide' as const)])(
    'with a host column: every line of the default table fits 120 columns; --wide has each event on one line, its host in full',
    async (list, style) => {
      const envs = list.flatMap(([host, p]) => seal([p], '2026-01-01T00:00:00.123Z', host));
      let out = '';
      await printAudit(
        (async function* () {
          yield* envs;
        })(),
        () => true,
        'table',
        { kind: 'all' },
        async (t) => {
          out += t;
        },
        style,
        true,
      );
      const lines = out.split('\n');
      expect(lines[0]).toMatch(/^host +seq at /);
      if (style === 'fit') for (const line of lines) expect([...line].length).toBeLessThanOrEqual(TABLE_WIDTH);
      else {
        expect(lines).toHaveLength(envs.length + 4); // head, rule, a line per event, foot, ''
        envs.forEach((e, i) => expect(lines[i + 2]!.startsWith(`${printable(e.host)} `)).toBe(true));
      }
      expect(out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    },
  );

  it('cuts a long host name at its start to fit (names of a fleet differ at their end); the rows line up with the head', () => {
    const [env] = seal([refused('acme', 'billing')], '2026-01-01T00:00:00.123Z', 'a-host-with-a-long-name');
    const head = tableHead('fit', true).split('\n')[0]!;
    const row = tableRow(env!, 'fit', true).split('\n')[0]!;
    expect(row.startsWith('…long-name ')).toBe(true);
    expect(row.indexOf(' request.refused ')).toBe(head.indexOf(' type '));
    expect(tableRow(env!, 'wide', true).startsWith('a-host-with-a-long-name ')).toBe(true);
  });

  it('shortens to fit by default; --wide shows every value in full, on one line', () => {
    const long = 'a-tenant-with-a-rather-long-name';
    const [env] = seal([refused(long, 'an-app-name-that-goes-on-and-on')]);
    const fit = tableRow(env!);
    expect(fit).toContain('2026-01-01T00:00:00Z'); // to the second
    expect(fit).toContain('a-tenan…');
    expect(fit.split('\n').length).toBeGreaterThan(2); // what happened, wrapped
    const wide = tableRow(env!, 'wide');
    expect(wide.trimEnd().split('\n')).toHaveLength(1);
    expect(wide).toContain('2026-01-01T00:00:00.123Z');
    expect(wide).toContain(long);
    expect(wide.trimEnd().endsWith(` request.refused             ${describeEvent(eventOf(env!))}`)).toBe(true);
    expect(wide).toContain('claimed app an-app-name-that-goes-on-and-on, fn crc32; peer pid 4242 uid 1000');
    expect(tableHead('wide')).toMatch(/^ +seq at +tenant +app +fn +instance +type +what\n-+\n$/);
  });

  it('shows what a refused request claimed as text: escape sequences and wide characters escaped', () => {
    const [env] = seal([refused('acme', '\u001b[2J\u202ebill\u4e2d')]);
    for (const style of ['fit', 'wide'] as const) {
      const row = tableRow(env!, style);
      expect(row).not.toContain('\u001b');
      expect(row).not.toContain('\u202e');
    }
    expect(printable('\u001b[2J\u202ebill\u4e2d…é\n')).toBe('\\u{1b}[2J\\u{202e}bill\\u{4e2d}…é ');
  });
});
