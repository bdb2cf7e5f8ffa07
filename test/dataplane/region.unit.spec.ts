import { describe, expect, it } from 'vitest';
import { ValidationError, VirtFunError } from '../../src/errors.js';
import {
  areaBytes,
  areaViews,
  ChannelClient,
  checkHeader,
  createSabRegion,
  DATAIN_MAGIC,
  DATAOUT_MAGIC,
  HDR,
  HEADER_BYTES,
  I32,
  IN,
  LAYOUT_HASH,
  MAX_CAPACITY,
  OUT,
  packWord,
  readHeader,
  REGION_VERSION,
  sabChannel,
  Status,
} from '../../src/dataplane/index.js';

describe('createSabRegion', () => {
  it.each([0, -1, 1.5, Number.NaN, MAX_CAPACITY + 1])('refuses capacity %s naming the field and the limit', (c) => {
    let err: unknown;
    try {
      createSabRegion(c);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe('capacity');
    expect((err as Error).message).toContain(String(MAX_CAPACITY));
  });

  it('writes both headers and the initial state word', () => {
    const r = createSabRegion(1000);
    expect(r.dataout.byteLength).toBe(areaBytes(1000));
    expect(r.datain.byteLength).toBe(HEADER_BYTES + 1024);
    const out = readHeader(areaViews(r.dataout));
    const inn = readHeader(areaViews(r.datain));
    expect(out).toEqual({ magic: DATAOUT_MAGIC, version: REGION_VERSION, headerBytes: HEADER_BYTES, layoutHash: LAYOUT_HASH, capacity: 1000 });
    expect(inn).toEqual({ ...out, magic: DATAIN_MAGIC });
    expect(Atomics.load(new Int32Array(r.datain), I32.state)).toBe(packWord(0, Status.WAIT));
    expect(Atomics.load(new Int32Array(r.dataout), I32.req)).toBe(0);
    // magic spells the area's name in ASCII
    expect(Buffer.from(r.dataout, 0, 4).toString('latin1')).toBe('VFDO');
    expect(Buffer.from(r.datain, 0, 4).toString('latin1')).toBe('VFDI');
  });

  it('keeps client-written and service-written control words on separate cache lines', () => {
    const line = (off: number): number => Math.floor(off / 64);
    const outLines = new Set(Object.entries(OUT).filter(([k]) => k !== 'payload').map(([, v]) => line(v)));
    for (const [k, v] of Object.entries(IN)) if (k !== 'payload') expect(line(v)).toBeGreaterThan(0);
    expect([...outLines].every((l) => l > 0 && l < 3)).toBe(true);
    expect(OUT.payload % 64).toBe(0);
  });
});

describe('checkHeader', () => {
  const corrupt: [string, (dv: DataView) => void, RegExp][] = [
    ['magic', (dv) => dv.setUint32(HDR.magic, 0x12345678, true), /magic/],
    ['version', (dv) => dv.setUint16(HDR.version, REGION_VERSION + 1, true), /version/],
    ['headerBytes', (dv) => dv.setUint16(HDR.headerBytes, 64, true), /headerBytes/],
    ['layout hash', (dv) => dv.setUint32(HDR.layoutHash, (LAYOUT_HASH ^ 1) >>> 0, true), /layout hash/],
    ['capacity 0', (dv) => dv.setUint32(HDR.capacity, 0, true), /capacity/],
    ['capacity too large for the area', (dv) => dv.setUint32(HDR.capacity, 4096, true), /needs/],
  ];
  it.each(corrupt)('refuses a wrong %s with REGION', (_, mutate, msg) => {
    const r = createSabRegion(256);
    const area = areaViews(r.dataout);
    mutate(area.dv);
    expect(() => checkHeader(area, 'dataout')).toThrow(msg);
    try {
      checkHeader(area, 'dataout');
    } catch (e) {
      expect((e as VirtFunError).code).toBe('REGION');
    }
    // the client refuses the region too
    expect(() => new ChannelClient(sabChannel(r))).toThrow(VirtFunError);
  });

  it('refuses a capacity different from the expected one, and a datain area used as dataout', () => {
    const r = createSabRegion(256);
    expect(() => checkHeader(areaViews(r.datain), 'datain', 128)).toThrow(/capacity is 256, expected 128/);
    expect(() => checkHeader(areaViews(r.datain), 'dataout')).toThrow(/magic/);
    expect(() => new ChannelClient(sabChannel({ dataout: r.datain, datain: r.dataout }))).toThrow(/magic/);
  });

  it('refuses areas whose capacities disagree', () => {
    const a = createSabRegion(256);
    const b = createSabRegion(512);
    expect(() => new ChannelClient(sabChannel({ dataout: a.dataout, datain: b.datain }))).toThrow(/capacity is 512, expected 256/);
  });

  it('refuses an area too small for a header', () => {
    expect(() => areaViews(new SharedArrayBuffer(64))).toThrow(VirtFunError);
  });
});

describe('ChannelClient options', () => {
  it('validates timeoutMs, strategy and the input length', () => {
    const r = createSabRegion(16);
    expect(() => new ChannelClient(sabChannel(r), { timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => new ChannelClient(sabChannel(r), { strategy: 'yield' as never })).toThrow(/strategy/);
    const c = new ChannelClient(sabChannel(r), { timeoutMs: 10 });
    let err: unknown;
    try {
      c.call(new Uint8Array(17));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe('input');
    expect((err as Error).message).toMatch(/17 bytes exceeds the region capacity of 16 bytes/);
    expect(c.seq).toBe(0); // nothing was sent
  });
});

describe('docs/region-format.md', () => {
  it('states the layout hash and the string it is computed from, as layout.ts computes them', async () => {
    const { readFile } = await import('node:fs/promises');
    const doc = await readFile(new URL('../../docs/region-format.md', import.meta.url), 'utf8');
    const desc = /```\n(v1;hdr:[^\n]+)\n```/.exec(doc)?.[1];
    expect(desc).toBeDefined();
    let h = 0x811c9dc5;
    for (let i = 0; i < desc!.length; i++) {
      h ^= desc!.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    expect(h >>> 0).toBe(LAYOUT_HASH);
    expect(doc).toContain(`\`0x${LAYOUT_HASH.toString(16).toUpperCase()}\``);
    // every offset of layout.ts appears in the tables
    for (const [name, off] of [...Object.entries(HDR), ...Object.entries(OUT), ...Object.entries(IN)]) {
      expect(doc, name).toMatch(new RegExp(`\\|\\s*${off}\\s*\\|[^\\n]*\`${name}\``));
    }
  });
});
