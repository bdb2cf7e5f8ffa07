/**
 * The probe: while writes fail and nothing waits to be written, a file beside
 * the journal, `<journal>.probe`, is written, fdatasync'd and removed to tell
 * when the journal's file system takes writes again. Opening for writing
 * removes one a crash left behind.
 */
import { open, rm } from 'node:fs/promises';

/** The file written and removed to probe the journal's file system. */
export function probePath(journal: string): string {
  return `${journal}.probe`;
}

/** Writes `bytes` spaces into the probe file beside `journal`, fdatasync'd, then removes it. Throws what the write throws. */
export async function writeProbe(journal: string, bytes: number): Promise<void> {
  const path = probePath(journal);
  const fh = await open(path, 'w', 0o600);
  try {
    await fh.write(Buffer.alloc(bytes, 0x20), 0, null, 0);
    await fh.datasync();
  } finally {
    await fh.close().catch(() => undefined);
    await rm(path, { force: true }).catch(() => undefined);
  }
}
