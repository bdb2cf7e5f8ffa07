/**
 * What the `vfun` command does when its stdout or stderr goes away.
 *
 * A reader that closes its end of a pipe (`vfun audit | head`) makes the next
 * write fail with EPIPE. A one-shot command has nothing more to say to it: it
 * exits quietly, status 0. The daemon (`vfun up`) must not stop for that (nor
 * for any other error of its output): it stops writing to that stream and goes
 * on serving. Its journal is the record of what it did, not its log.
 */

/** `exit`: one-shot commands (EPIPE on stdout exits 0). `carry-on`: the daemon. */
export type OnBrokenOutput = 'exit' | 'carry-on';

/** Past this many bytes waiting to be written (a reader that stopped reading), lines are dropped. */
const MAX_BACKLOG = 1 << 20;

let mode: OnBrokenOutput = 'exit';
let guarded = false;
const broken = new Set<NodeJS.WriteStream>();
const dropped = new Map<NodeJS.WriteStream, number>();

/** Install the handlers (once, at start-up). */
export function guardOutput(): void {
  if (guarded) return;
  guarded = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (mode === 'exit' && err.code === 'EPIPE') process.exit(0);
    broken.add(process.stdout);
    if (mode === 'exit') throw err;
  });
  // A closed stderr is never a reason to stop: what was to be said there is lost, the work is not.
  process.stderr.on('error', () => broken.add(process.stderr));
}

/** What a broken stdout does from now on. */
export function onBrokenOutput(m: OnBrokenOutput): void {
  mode = m;
}

function write(stream: NodeJS.WriteStream, line: string): void {
  if (broken.has(stream) || stream.destroyed) return;
  if (stream.writableLength > MAX_BACKLOG) {
    dropped.set(stream, (dropped.get(stream) ?? 0) + 1);
    return;
  }
  const lost = dropped.get(stream);
  if (lost !== undefined) {
    dropped.delete(stream);
    stream.write(`(${lost} log line(s) dropped: the reader of this stream was not reading)\n`);
  }
  stream.write(line + '\n');
}

/** A line on stdout, unless stdout is gone. */
export function say(line: string): void {
  write(process.stdout, line);
}

/** A line on stderr, unless stderr is gone. */
export function warn(line: string): void {
  write(process.stderr, line);
}

