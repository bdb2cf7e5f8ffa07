/**
 * A small tmpfs of our own, to fill for real: the full-disk tests put a
 * journal on it, fill it with a filler file until the kernel says ENOSPC, and
 * delete the filler to give the space back. Mounting needs root (CI runs as
 * root).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, open, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface Tmpfs {
  readonly dir: string;
  /** Writes a filler file until the file system is full (the kernel answers ENOSPC). Returns its size. */
  fill(): Promise<number>;
  /** Deletes the filler: the space is back. */
  unfill(): Promise<void>;
  unmount(): Promise<void>;
}

export async function mountTmpfs(bytes: number): Promise<Tmpfs> {
  if (process.getuid?.() !== 0) throw new Error('this test mounts a tmpfs to fill it: it needs root (CI runs as root)');
  const dir = await mkdtemp(join(tmpdir(), 'vfun-tmpfs-'));
  await exec('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', dir]);
  const filler = join(dir, 'filler');
  return {
    dir,
    async fill() {
      const fh = await open(filler, 'a');
      const chunk = Buffer.alloc(64 << 10, 0x66);
      let size = 0;
      try {
        for (;;) size += (await fh.write(chunk, 0, chunk.length, null)).bytesWritten;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      } finally {
        await fh.close();
      }
      return size;
    },
    unfill: () => rm(filler, { force: true }),
    async unmount() {
      // Lazy: detached at once even if a test that failed left a file open (freed when it closes).
      await exec('umount', ['-l', dir]);
      await rmdir(dir);
    },
  };
}
