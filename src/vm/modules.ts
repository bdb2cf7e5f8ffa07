/**
 * Kernel modules for the guest initramfs. busybox insmod loads one file and
 * does not resolve dependencies, and Debian's kernel package ships no
 * modules.dep, so the load order is worked out here: each .ko names its
 * dependencies in its `.modinfo` ELF section (`depends=a,b`), and
 * resolveModules walks them depth-first so dependencies come first.
 * Module names use `-` and `_` interchangeably; both spellings match.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { VirtFunError } from '../errors.js';
import { elfFields } from './elf.js';

export interface ResolvedModule {
  /** Canonical module name (`_` form), e.g. `virtio_pci`. */
  readonly name: string;
  /** Absolute path of the .ko (or .ko.gz) file. */
  readonly path: string;
}

/** `virtio-pci` and `virtio_pci` are the same module. */
export function moduleName(name: string): string {
  return name.replace(/\.ko(\.gz|\.xz|\.zst)?$/, '').replace(/-/g, '_');
}

/**
 * The key=value strings of a module's `.modinfo` section. Reads the ELF
 * section table (ELF32/ELF64, either byte order); for anything that is not a
 * well-formed ELF file it scans the whole buffer for NUL-separated `key=value`
 * strings, which is what the section holds.
 */
export function readModinfo(ko: Buffer): Map<string, string[]> {
  const section = modinfoSection(ko) ?? ko;
  const out = new Map<string, string[]>();
  for (const s of section.toString('latin1').split('\0')) {
    const m = /^([a-z_][a-z0-9_.]*)=(.*)$/s.exec(s);
    if (!m) continue;
    const [, key, value] = m as unknown as [string, string, string];
    const list = out.get(key);
    if (list) list.push(value);
    else out.set(key, [value]);
  }
  return out;
}

/** The module names in `depends=` (empty when it has none). */
export function moduleDepends(ko: Buffer): string[] {
  const values = readModinfo(ko).get('depends') ?? [];
  return values.flatMap((v) => v.split(',')).map((s) => s.trim()).filter((s) => s !== '').map(moduleName);
}

function modinfoSection(b: Buffer): Buffer | undefined {
  const elf = elfFields(b);
  if (elf === null) return undefined;
  const { is64, u16, u32, word: addr } = elf;
  try {
    const shoff = addr(is64 ? 0x28 : 0x20);
    const shentsize = u16(is64 ? 0x3a : 0x2e);
    const shnum = u16(is64 ? 0x3c : 0x30);
    const shstrndx = u16(is64 ? 0x3e : 0x32);
    const sh = (i: number) => {
      const o = shoff + i * shentsize;
      return { name: u32(o), offset: addr(o + (is64 ? 0x18 : 0x10)), size: addr(o + (is64 ? 0x20 : 0x14)) };
    };
    if (shstrndx >= shnum) return undefined;
    const strtab = sh(shstrndx);
    for (let i = 0; i < shnum; i++) {
      const s = sh(i);
      const at = strtab.offset + s.name;
      const end = b.indexOf(0, at);
      if (end < 0) continue;
      if (b.toString('latin1', at, end) === '.modinfo') {
        if (s.offset + s.size > b.length) return undefined;
        return b.subarray(s.offset, s.offset + s.size);
      }
    }
  } catch {
    return undefined; // truncated or odd: fall back to scanning
  }
  return undefined;
}

/** Read a module file, decompressing `.ko.gz`; `.ko.xz`/`.ko.zst` are refused by name. */
export async function readModuleFile(path: string): Promise<Buffer> {
  if (/\.ko\.(xz|zst)$/.test(path)) {
    throw new VirtFunError('VM', `${path}: xz/zstd-compressed modules are not supported (use a kernel whose modules are plain .ko or .ko.gz)`);
  }
  const raw = await readFile(path);
  return path.endsWith('.gz') ? gunzipSync(raw) : raw;
}

/** Every module file under `<modulesDir>/kernel`, by canonical name. */
export async function indexModules(modulesDir: string): Promise<Map<string, string>> {
  const index = new Map<string, string>();
  const root = join(modulesDir, 'kernel');
  let entries;
  try {
    entries = await readdir(root, { recursive: true, withFileTypes: true });
  } catch (err) {
    throw new VirtFunError('VM', `no kernel modules at ${root}: ${(err as Error).message}`, { cause: err });
  }
  for (const e of entries) {
    if (!e.isFile() || !/\.ko(\.gz|\.xz|\.zst)?$/.test(e.name)) continue;
    const name = moduleName(e.name);
    // parentPath (Node 20.12+) / path (older 20.x): the directory the entry is in.
    const dir = (e as { parentPath?: string }).parentPath ?? (e as unknown as { path: string }).path;
    if (!index.has(name)) index.set(name, join(dir, e.name));
  }
  return index;
}

/** Names listed in modules.builtin: compiled into the kernel, nothing to load. */
async function builtinModules(modulesDir: string): Promise<Set<string>> {
  try {
    const text = await readFile(join(modulesDir, 'modules.builtin'), 'utf8');
    return new Set(text.split('\n').filter((l) => l !== '').map((l) => moduleName(l.slice(l.lastIndexOf('/') + 1))));
  } catch {
    return new Set();
  }
}

/**
 * The modules to insmod, in load order (every module after all it depends
 * on), each once, for the requested names and their dependencies. Modules
 * listed in modules.builtin are skipped. A name found neither as a .ko nor as
 * built-in is an error naming it (and who needed it).
 */
export async function resolveModules(modulesDir: string, names: readonly string[]): Promise<ResolvedModule[]> {
  const index = await indexModules(modulesDir);
  const builtin = await builtinModules(modulesDir);
  const order: ResolvedModule[] = [];
  const done = new Set<string>();
  const visiting = new Set<string>();

  const visit = async (name: string, neededBy: string | undefined): Promise<void> => {
    if (done.has(name)) return;
    if (visiting.has(name)) {
      throw new VirtFunError('VM', `kernel module ${name} depends on itself (cycle through ${[...visiting].join(' -> ')})`);
    }
    const path = index.get(name);
    if (path === undefined) {
      if (builtin.has(name)) {
        done.add(name);
        return;
      }
      const who = neededBy === undefined ? '' : ` (needed by ${neededBy})`;
      throw new VirtFunError('VM', `kernel module ${name}${who} not found under ${join(modulesDir, 'kernel')}`);
    }
    visiting.add(name);
    for (const dep of moduleDepends(await readModuleFile(path))) await visit(dep, name);
    visiting.delete(name);
    done.add(name);
    order.push({ name, path });
  };

  for (const n of names) await visit(moduleName(n), undefined);
  return order;
}
