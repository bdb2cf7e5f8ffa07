/** Who can read a configuration: its mode and the directories above it. */
import { describe, expect } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { exposureOfModes } from '../../src/daemon/secrets.js';

const mode = fc.integer({ min: 0, max: 0o777 });

describe('exposureOfModes', () => {
  test('examples', () => {
    expect(exposureOfModes({ file: 0o600, dirs: [0o755, 0o755] })).toBeNull();
    expect(exposureOfModes({ file: 0o644, dirs: [0o755, 0o1777 & 0o777, 0o755] })).toBe('world');
    expect(exposureOfModes({ file: 0o644, dirs: [0o700, 0o755] })).toBeNull();
    expect(exposureOfModes({ file: 0o644, dirs: [0o750, 0o755] })).toBe('group');
    expect(exposureOfModes({ file: 0o640, dirs: [0o755] })).toBe('group');
    expect(exposureOfModes({ file: 0o640, dirs: [0o710, 0o755] })).toBe('group');
  });
  test.prop([mode, fc.array(mode, { minLength: 1, maxLength: 5 })])('world only with o+r on the file and o+x on every directory; never exposed without a read bit for group or others', (file, dirs) => {
    const e = exposureOfModes({ file, dirs });
    if (e === 'world') expect((file & 0o004) !== 0 && dirs.every((d) => (d & 0o001) !== 0)).toBe(true);
    if ((file & 0o044) === 0) expect(e).toBeNull();
    if (dirs.some((d) => (d & 0o011) === 0)) expect(e).toBeNull();
  });
});
