/**
 * What scripts/ensure-system-packages.mjs says when everything is installed: the packages and
 * versions it found (--group, --check), one short line for npm test's pretest.
 */
import { fc, it as prop } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { presentLine } from '../../scripts/system-packages-report.mjs';

const gpu = [
  { package: 'libvulkan1', version: '1.3.239.0-1' },
  { package: 'mesa-vulkan-drivers', version: '25.0.7-2~bpo12+1', minVersion: '24' },
];

describe('presentLine', () => {
  it('--group gpu: each package with its version and minimum, installed, nothing to do', () => {
    expect(presentLine(gpu, { group: 'gpu', check: false })).toBe('libvulkan1 1.3.239.0-1, mesa-vulkan-drivers 25.0.7-2~bpo12+1 (>= 24): installed, nothing to do');
    expect(presentLine(gpu, { group: 'gpu', check: true })).toBe('libvulkan1 1.3.239.0-1, mesa-vulkan-drivers 25.0.7-2~bpo12+1 (>= 24): present');
  });

  it('--check: one line listing what is present; a package dpkg does not know is named without a version', () => {
    expect(presentLine([{ package: 'nats-server', version: null }, ...gpu], { group: null, check: true })).toBe(
      'present: nats-server, libvulkan1 1.3.239.0-1, mesa-vulkan-drivers 25.0.7-2~bpo12+1 (>= 24)',
    );
  });

  it("npm test's pretest: one short line with the count", () => {
    expect(presentLine(gpu, { group: null, check: false })).toBe('system packages: all 2 present, nothing to do (--check lists them)');
  });

  const found = fc.array(
    fc.record({ package: fc.stringMatching(/^[a-z0-9][a-z0-9.+-]{1,20}$/), version: fc.option(fc.stringMatching(/^[0-9][0-9a-z.+~:-]{0,15}$/), { nil: null }) }),
    { minLength: 1, maxLength: 25 },
  );
  prop.prop([found, fc.option(fc.constantFrom('gpu'), { nil: null }), fc.boolean()])('one line, naming every package found whenever a group or --check asks', (ps, group, check) => {
    const line = presentLine(ps, { group, check });
    expect(line).not.toContain('\n');
    if (group !== null || check) for (const p of ps) expect(line).toContain(p.version === null ? p.package : `${p.package} ${p.version}`);
    else expect(line.length).toBeLessThan(80);
  });
});
