/**
 * A strict reader of cpio "newc" archives (magic 070701), written from the
 * format the Linux kernel unpacks (Documentation/driver-api/early-userspace/
 * buffer-format.rst), so tests can check what src/vm/initramfs.ts writes
 * without a `cpio` program: GNU cpio is not installed on a fresh Debian, and
 * busybox's `cpio -tv` prints no device numbers.
 *
 * Record: a 110-byte ASCII header ("070701" and 13 fields of 8 hex digits:
 * ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor,
 * rdevminor, namesize, check), the name with its NUL (namesize counts it),
 * zero padding to a multiple of 4, the data (a symlink's data is its target),
 * zero padding to a multiple of 4. The record named TRAILER!!! ends the
 * archive; only zero bytes may follow it.
 *
 * Anything else is refused with the offset where it went wrong.
 */

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

export type NewcType = 'dir' | 'file' | 'symlink' | 'char' | 'block';

export interface NewcRecord {
  /** Byte offset of the record's header in the archive. */
  readonly offset: number;
  readonly name: string;
  readonly type: NewcType;
  readonly ino: number;
  /** The whole c_mode: file type and permission bits. */
  readonly mode: number;
  /** Permission bits only (mode & 0o7777). */
  readonly perm: number;
  readonly uid: number;
  readonly gid: number;
  readonly nlink: number;
  readonly mtime: number;
  readonly devmajor: number;
  readonly devminor: number;
  readonly rdevmajor: number;
  readonly rdevminor: number;
  readonly check: number;
  readonly data: Buffer;
}

const HEADER = 110;
const FIELDS = ['ino', 'mode', 'uid', 'gid', 'nlink', 'mtime', 'filesize', 'devmajor', 'devminor', 'rdevmajor', 'rdevminor', 'namesize', 'check'] as const;
const TYPES: ReadonlyMap<number, NewcType> = new Map([
  [S_IFDIR, 'dir'],
  [S_IFREG, 'file'],
  [S_IFLNK, 'symlink'],
  [S_IFCHR, 'char'],
  [S_IFBLK, 'block'],
]);

export class NewcFormatError extends Error {
  override readonly name = 'NewcFormatError';
  constructor(
    readonly offset: number,
    what: string,
  ) {
    super(`newc archive, offset ${offset}: ${what}`);
  }
}

const align4 = (n: number) => (n + 3) & ~3;

function zeros(archive: Buffer, from: number, to: number, what: string): void {
  for (let i = from; i < to; i++) if (archive[i] !== 0) throw new NewcFormatError(i, `${what} padding byte is 0x${archive[i]!.toString(16)}, not 0`);
}

/** The records of `archive` up to (not including) TRAILER!!!, in archive order. */
export function readNewc(archive: Buffer): NewcRecord[] {
  const out: NewcRecord[] = [];
  let at = 0;
  for (;;) {
    if (at + HEADER > archive.length) throw new NewcFormatError(at, `truncated header (${archive.length - at} bytes left) before TRAILER!!!`);
    const magic = archive.toString('latin1', at, at + 6);
    if (magic !== '070701') throw new NewcFormatError(at, `magic is ${JSON.stringify(magic)}, not "070701"`);
    const f = {} as Record<(typeof FIELDS)[number], number>;
    FIELDS.forEach((field, i) => {
      const text = archive.toString('latin1', at + 6 + 8 * i, at + 14 + 8 * i);
      if (!/^[0-9a-fA-F]{8}$/.test(text)) throw new NewcFormatError(at + 6 + 8 * i, `c_${field} is ${JSON.stringify(text)}, not 8 hex digits`);
      f[field] = parseInt(text, 16);
    });
    const nameStart = at + HEADER;
    if (f.namesize < 2) throw new NewcFormatError(at, `c_namesize ${f.namesize} leaves no name`);
    const nameEnd = nameStart + f.namesize;
    if (nameEnd > archive.length) throw new NewcFormatError(at, `name runs past the end of the archive`);
    if (archive[nameEnd - 1] !== 0) throw new NewcFormatError(nameEnd - 1, 'name is not NUL-terminated within c_namesize');
    const nameBytes = archive.subarray(nameStart, nameEnd - 1);
    if (nameBytes.includes(0)) throw new NewcFormatError(nameStart, 'name holds a NUL before its end');
    const name = nameBytes.toString('utf8');
    const dataStart = align4(nameEnd);
    zeros(archive, nameEnd, Math.min(dataStart, archive.length), 'name');
    if (name === 'TRAILER!!!') {
      if (f.filesize !== 0) throw new NewcFormatError(at, `TRAILER!!! has c_filesize ${f.filesize}`);
      zeros(archive, nameEnd, archive.length, 'trailing');
      return out;
    }
    const dataEnd = dataStart + f.filesize;
    if (dataEnd > archive.length) throw new NewcFormatError(at, `${name}: c_filesize ${f.filesize} runs past the end of the archive`);
    const next = align4(dataEnd);
    if (next > archive.length) throw new NewcFormatError(dataEnd, `${name}: data padding runs past the end of the archive`);
    zeros(archive, dataEnd, next, `${name}: data`);
    const type = TYPES.get(f.mode & S_IFMT);
    if (type === undefined) throw new NewcFormatError(at, `${name}: c_mode 0o${f.mode.toString(8).padStart(6, '0')} is not a directory, file, symlink or device`);
    out.push({
      offset: at,
      name,
      type,
      ino: f.ino,
      mode: f.mode,
      perm: f.mode & 0o7777,
      uid: f.uid,
      gid: f.gid,
      nlink: f.nlink,
      mtime: f.mtime,
      devmajor: f.devmajor,
      devminor: f.devminor,
      rdevmajor: f.rdevmajor,
      rdevminor: f.rdevminor,
      check: f.check,
      data: Buffer.from(archive.subarray(dataStart, dataEnd)),
    });
    at = next;
  }
}

/** What an unpacked tree holds at one path (the shape tests compare). */
export type Unpacked =
  | { readonly type: 'dir'; readonly mode: number }
  | { readonly type: 'file'; readonly mode: number; readonly data: Buffer }
  | { readonly type: 'symlink'; readonly target: string }
  | { readonly type: 'char' | 'block'; readonly mode: number; readonly major: number; readonly minor: number };

/**
 * The tree the kernel would unpack from `archive`, keyed by path. Refuses what
 * the kernel's unpacker would not do in one pass: a name twice, an absolute or
 * dot-dot path, an entry whose parent directory has not come before it.
 */
export function unpackNewc(archive: Buffer): Map<string, Unpacked> {
  const out = new Map<string, Unpacked>();
  for (const r of readNewc(archive)) {
    if (r.name.startsWith('/') || r.name.split('/').some((c) => c === '' || c === '.' || c === '..')) {
      throw new NewcFormatError(r.offset, `${JSON.stringify(r.name)} is not a plain relative path`);
    }
    if (out.has(r.name)) throw new NewcFormatError(r.offset, `${r.name} appears twice`);
    const slash = r.name.lastIndexOf('/');
    if (slash > 0 && out.get(r.name.slice(0, slash))?.type !== 'dir') {
      throw new NewcFormatError(r.offset, `${r.name} comes before its directory ${r.name.slice(0, slash)}`);
    }
    switch (r.type) {
      case 'dir':
        out.set(r.name, { type: 'dir', mode: r.perm });
        break;
      case 'file':
        out.set(r.name, { type: 'file', mode: r.perm, data: r.data });
        break;
      case 'symlink':
        out.set(r.name, { type: 'symlink', target: r.data.toString('utf8') });
        break;
      default:
        out.set(r.name, { type: r.type, mode: r.perm, major: r.rdevmajor, minor: r.rdevminor });
    }
  }
  return out;
}
