/**
 * What scripts/ensure-system-packages.mjs says when it has nothing to do (pure, so the unit tier
 * checks it without dpkg or apt-get): the packages it found, with their installed versions and the
 * minimum a package needs.
 *
 * - `--group g`: `libvulkan1 1.3.239.0-1, mesa-vulkan-drivers 25.0.7-2~bpo12+1 (>= 24): installed, nothing to do`
 * - `--check`: `present: nats-server 2.9.10-1, qemu-system-x86 1:7.2+dfsg-7, …` (every package it checks)
 * - neither (npm test's pretest): one short line, `system packages: all 22 present, nothing to do (--check lists them)`
 */

/** One package as found: its installed version (null where dpkg does not know it) and its minimum, if any. */
const item = (p) => `${p.package}${p.version ? ` ${p.version}` : ''}${p.minVersion ? ` (>= ${p.minVersion})` : ''}`;

/**
 * The line said when every package checked is present.
 * @param {readonly { package: string; version: string | null; minVersion?: string }[]} found
 * @param {{ group: string | null; check: boolean }} options
 * @returns {string}
 */
export function presentLine(found, { group, check }) {
  const list = found.map(item).join(', ');
  if (group !== null) return `${list}: ${check ? 'present' : 'installed, nothing to do'}`;
  if (check) return `present: ${list}`;
  return `system packages: all ${found.length} present, nothing to do (--check lists them)`;
}
