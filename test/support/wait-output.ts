/**
 * Wait for a child process (`vfun up`, typically) to print a text on its
 * stdout; rejects, with what it printed, if it exits first.
 */
import type { ChildProcess } from 'node:child_process';

/** Resolves with everything printed so far once stdout contains `text`. */
export function waitFor(child: ChildProcess, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(text)) resolve(out);
    });
    child.once('exit', (code) => reject(new Error(`vfun up exited (${code}) before '${text}': ${out}`)));
  });
}
