/**
 * vFunD's log: structured records (a level, a message, fields) written by
 * pino as JSON lines, or as readable lines on a terminal (`prettyLine`).
 *
 * A daemon is given either a pino-like `Logger` or a plain line function (the
 * older form, kept for integrators and tests): `daemonLog` turns either into
 * a `DaemonLog`, whose `record` goes to the structured log only and whose
 * `say` also reaches the plain lines (the start-up summary `vfun up` prints on
 * stdout, word for word what it always printed).
 */
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

/** The levels vFunD logs at, least to most severe (pino's names). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `json`: one JSON object a line; `pretty`: time, level, message, key=value (for a terminal). */
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** One thing vFunD says: its level, its message, and fields for machines (tenant, instance, seq...). */
export interface LogRecord {
  readonly level: LogLevel;
  readonly msg: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

type LogMethod = (fields: object, msg: string) => void;

/** What vFunD needs of a logger: pino's methods, `(fields, msg)`. A pino logger is one. */
export type Logger = { readonly [L in LogLevel]: LogMethod };

/** The older form of a daemon's log: one plain line at a time. */
export type LineLog = (line: string) => void;

/** True for a pino-like logger (an object with the level methods), false for a line function. */
export function isLogger(log: Logger | LineLog): log is Logger {
  return typeof log === 'object' && log !== null && LOG_LEVELS.every((l) => typeof (log as Logger)[l] === 'function');
}

/** Where vFunD's records go. */
export interface DaemonLog {
  /** To the structured log only. */
  record(r: LogRecord): void;
  /** To the structured log, and its message to the plain lines (the start-up summary, the messages vFunD always printed). */
  say(r: LogRecord): void;
  /** A line function for parts that still log lines (the checkpointer): each line a record at `level`. */
  lines(level: LogLevel, fields?: Readonly<Record<string, unknown>>): LineLog;
}

/** A record, briefly. */
export function rec(level: LogLevel, msg: string, fields: Readonly<Record<string, unknown>> = {}): LogRecord {
  return { level, msg, fields };
}

/**
 * Where a daemon's `log` (and `console`, plain lines besides a logger) send records: a logger takes every
 * record; a line function takes the messages of `say` above debug, as before structured logs.
 */
export function daemonLog(log: Logger | LineLog, console?: LineLog): DaemonLog {
  const logger = isLogger(log) ? log : null;
  const plain = logger === null ? (log as LineLog) : console;
  const record = (r: LogRecord) => logger?.[r.level](r.fields, r.msg);
  const say = (r: LogRecord) => {
    record(r);
    if (plain !== undefined && r.level !== 'debug' && r.level !== 'trace') plain(r.msg);
  };
  return { record, say, lines: (level, fields = {}) => (line) => say(rec(level, line, fields)) };
}

/** How `vfun up` logs: the least level written, the format, and where each finished line goes. */
export interface LoggerOptions {
  readonly level: LogLevel;
  readonly format: LogFormat;
  /** One line, without its newline (e.g. `warn` of src/cli/output.ts: stderr, unless stderr is gone). */
  readonly write: (line: string) => void;
}

/** A pino logger writing JSON lines (time ISO-8601 UTC, level by name, msg, fields) or their `prettyLine`. */
export function createLogger(o: LoggerOptions): PinoLogger {
  const destination: DestinationStream = {
    write: (chunk: string) => {
      for (const line of chunk.split('\n')) if (line !== '') o.write(o.format === 'pretty' ? prettyLine(line) : line);
    },
  };
  return pino(
    {
      level: o.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // `err` is ours already ({code, message}; the stack only at debug): not pino's Error serializer.
      serializers: { err: (e: unknown) => e },
    },
    destination,
  );
}

/** The keys every JSON line has, shown in a pretty line's head rather than as fields. */
const HEAD_KEYS = new Set(['time', 'level', 'msg', 'pid', 'hostname']);

/**
 * A JSON log line as one readable line: `time LEVEL message key=value ...` (values with spaces,
 * quotes or `=` quoted; objects as JSON). A line that is not a JSON object is returned as it is.
 */
export function prettyLine(json: string): string {
  let o: unknown;
  try {
    o = JSON.parse(json);
  } catch {
    return json;
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return json;
  const r = o as Record<string, unknown>;
  const level = typeof r['level'] === 'string' ? r['level'].toUpperCase() : String(r['level'] ?? '');
  const fields = Object.entries(r)
    .filter(([k, v]) => !HEAD_KEYS.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${prettyValue(v)}`);
  return [String(r['time'] ?? ''), level.padEnd(5), oneLine(String(r['msg'] ?? '')), ...fields].join(' ').trimEnd();
}

/** A message of several lines (a configuration's problems) on one: `first: a; b`. */
function oneLine(msg: string): string {
  return msg.replace(/:\s*[\r\n]+\s*/, ': ').replace(/\s*[\r\n]+\s*/g, '; ');
}

function prettyValue(v: unknown): string {
  if (typeof v === 'string') return v === '' || /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  if (typeof v === 'object' && v !== null) return JSON.stringify(v);
  return String(v);
}
