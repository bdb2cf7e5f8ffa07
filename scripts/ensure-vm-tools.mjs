#!/usr/bin/env node
// Before the VM tests: they boot a real guest, which needs Debian's QEMU (qemu-system-x86) and a
// statically linked busybox for the initramfs (busybox-static; the plain busybox package is dynamic).
// Install what is missing when we can (root with apt-get); otherwise stop with the one command to run.
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/** An ELF file without a PT_INTERP program header (statically linked). */
function isStaticElf(path) {
  let b;
  try {
    const fd = openSync(path, 'r');
    b = Buffer.alloc(4096);
    readSync(fd, b, 0, b.length, 0);
    closeSync(fd);
  } catch {
    return false;
  }
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) return false; // ELF64 little-endian
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (o + 4 > b.length) return false;
    if (b.readUInt32LE(o) === 3) return false; // PT_INTERP: dynamically linked
  }
  return true;
}

const missing = () => [
  ...(has('qemu-system-x86_64') ? [] : ['qemu-system-x86']),
  ...(['/usr/bin/busybox', '/bin/busybox'].some(isStaticElf) ? [] : ['busybox-static']),
];

const need = missing();
if (need.length === 0) process.exit(0);
const command = `apt-get install --no-install-recommends ${need.join(' ')}`;
const root = typeof process.getuid === 'function' && process.getuid() === 0;
if (root && has('apt-get')) {
  console.error(`${need.join(' and ')} missing: installing from Debian packages (${command})`);
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...need], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (missing().length === 0) process.exit(0);
  } catch {
    // fall through to the message
  }
}
console.error(`The VM tests need ${need.join(' and ')}. Run:\n\n    sudo ${command}\n`);
process.exit(1);
