/**
 * The guest's serial console as QEMU prints it on stdout: decoded, split
 * into lines, cleaned of \r and terminal escapes, and followed for the
 * markers /init prints (initramfs.ts): when the guest booted, and the exit
 * status of its payload.
 */
import { StringDecoder } from 'node:string_decoder';
import { BOOT_MARKER, EXIT_MARKER } from './initramfs.js';

/** ConsoleReader.lines keeps the last this many console lines (onLine sees them all). */
export const MAX_KEPT_LINES = 10_000;

// ESC [ ... final (CSI), ESC ] ... BEL/ST (OSC), other two/three-byte escapes, and the remaining C0 controls but tab.
const TERMINAL_ESCAPES = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -/]*[0-~]?)|\x9b[0-?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f]/g;

/** A console line without \r, terminal escape sequences or other control characters. */
export function cleanConsoleLine(raw: string): string {
  return raw.replace(TERMINAL_ESCAPES, '');
}

const EXIT_LINE = new RegExp(`${EXIT_MARKER} (-?\\d+)`);

/** The last `n` non-blank lines of `text`, trimmed and joined with ' | ' (for error messages). */
export function lastLines(text: string | readonly string[], n: number): string {
  const lines = (typeof text === 'string' ? text.split('\n') : [...text]).map((l) => l.trim()).filter((l) => l !== '');
  return lines.slice(-n).join(' | ');
}

/**
 * Reads one QEMU's console output: `write` each chunk of its stdout, `end`
 * when it closed. Keeps the last MAX_KEPT_LINES or so cleaned lines, notes
 * the time of the boot marker and the status of the exit marker, and hands
 * every line to `onLine` (an observer that throws is ignored).
 */
export class ConsoleReader {
  /** Cleaned lines so far (the last MAX_KEPT_LINES or so). */
  readonly lines: string[] = [];
  /** Milliseconds from `t0` to the boot marker; undefined until it is printed. */
  bootMs: number | undefined;
  /** The payload's status from `VFUN-VM-EXIT <status>`; null until it is printed. */
  exitStatus: number | null = null;
  private partial = '';
  private readonly decoder = new StringDecoder('utf8');

  /** `t0`: the `performance.now()` QEMU started at. */
  constructor(
    private readonly t0: number,
    private readonly onLine?: (line: string) => void,
  ) {}

  /** A chunk of QEMU's stdout. */
  write(chunk: Buffer): void {
    this.partial += this.decoder.write(chunk);
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) >= 0) {
      this.line(this.partial.slice(0, nl));
      this.partial = this.partial.slice(nl + 1);
    }
  }

  /** QEMU's stdout closed: an unterminated last line counts too. */
  end(): void {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest !== '') this.line(rest);
  }

  private line(raw: string): void {
    const l = cleanConsoleLine(raw);
    const lines = this.lines;
    lines.push(l);
    if (lines.length > MAX_KEPT_LINES + 1000) lines.splice(0, lines.length - MAX_KEPT_LINES);
    if (this.bootMs === undefined && l.includes(BOOT_MARKER)) this.bootMs = Math.round(performance.now() - this.t0);
    const m = EXIT_LINE.exec(l);
    if (m) this.exitStatus = Number(m[1]);
    try {
      this.onLine?.(l);
    } catch {
      // a throwing observer must not take down the supervision of QEMU
    }
  }
}
