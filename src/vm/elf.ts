/**
 * Just enough ELF to read a header's fields: the class (32/64-bit) and byte
 * order decide every offset and width. Used to check that busybox is static
 * (program headers: elfInterpreter) and to find a kernel module's `.modinfo` (sections).
 */

export interface ElfFields {
  readonly is64: boolean;
  u16(offset: number): number;
  u32(offset: number): number;
  /** An address or offset: 8 bytes in a 64-bit file, 4 in a 32-bit one. */
  word(offset: number): number;
}

/** Readers for an ELF file's fields, or null when `b` is not ELF. */
export function elfFields(b: Buffer): ElfFields | null {
  if (b.length < 52 || b.readUInt32BE(0) !== 0x7f454c46) return null;
  const is64 = b[4] === 2;
  const le = b[5] === 1;
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  return {
    is64,
    u16: (o) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o)),
    u32,
    word: (o) => (is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(o)),
  };
}

/** The PT_INTERP path of an ELF file, undefined when it has none, false when it is not ELF. */
export function elfInterpreter(b: Buffer): string | undefined | false {
  const elf = elfFields(b);
  if (elf === null) return false;
  const { is64, u16, u32, word } = elf;
  const phoff = word(is64 ? 0x20 : 0x1c);
  const phentsize = u16(is64 ? 0x36 : 0x2a);
  const phnum = u16(is64 ? 0x38 : 0x2c);
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (o + phentsize > b.length) return false;
    if (u32(o) !== 3) continue; // PT_INTERP
    const off = word(o + (is64 ? 0x08 : 0x04));
    const size = word(o + (is64 ? 0x20 : 0x10));
    if (off + size > b.length) return '(unreadable)';
    return b.toString('latin1', off, off + size).replace(/\0+$/, '');
  }
  return undefined;
}
