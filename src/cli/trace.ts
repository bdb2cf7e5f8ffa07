/**
 * `vfun trace validate <file>`: check a trace file (docs/traces.md) line by
 * line and against the computation protocol; exit 1 naming the line and the
 * field (or the call) of the first problem. `vfun trace export <file>
 * --format perfetto|csv [-o out]`: the same checks, then the trace in
 * another tool's format (trace-export.ts). `vfun trace import <file.csv>
 * --from csv [-o out.jsonl]`: another system's log as a trace
 * (trace-import.ts), written only once it validates. main.ts calls
 * registerTraceCommands(program).
 */
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ValidationError } from '../errors.js';
import { numberAtLeast } from '../util/arguments.js';
import { readTraceFile, type ReadTrace } from '../paper/trace-read.js';
import { checkTrace } from '../paper/trace-check.js';
import { checkView } from '../paper/traces.js';
import { EXPORT_FORMATS, exportTrace, type ExportFormat } from '../paper/trace-export.js';
import { IMPORT_COLUMNS, IMPORT_FORMATS, importCsv, TIME_UNITS, traceText, type CsvImportOptions, type TimeUnit } from '../paper/trace-import.js';
import { TRACE_CLOCKS } from '../paper/trace-format.js';

/** Read and check a trace file; throws a ValidationError naming the first problem. */
export function validateTraceFile(path: string): ReadTrace {
  if (!existsSync(path)) throw new ValidationError('<file>', `no file ${path}`);
  const t = readTraceFile(path);
  const view = checkView(t);
  checkTrace(view.header, view.calls, path);
  return t;
}

/** The one-line verdict on a valid trace (pure). */
export function formatValid(path: string, t: ReadTrace): string {
  const errors = t.calls.filter((c) => c.status === 'ERROR').length;
  const v0 = t.version === 0 ? ' (version 0, read as version 1)' : '';
  return `${path}: valid trace, version ${t.version}${v0}: ${t.calls.length} calls of ${t.header.fn} (${t.header.kind}, clock ${t.header.clock})${errors > 0 ? `, ${errors} ERROR` : ''}`;
}

/** What `vfun trace import` is given on its command line. */
export interface TraceImportCliOptions {
  from: string;
  output?: string;
  fn?: string;
  timeUnit: TimeUnit;
  t0Ns?: bigint;
  clock?: (typeof TRACE_CLOCKS)[number];
  instance?: string;
  work?: number;
  note?: string;
  delimiter?: string;
  ignoreUnknown?: boolean;
}

/** `--t0-ns`: decimal nanoseconds, up to 20 digits (a trace header's t0_ns). */
function t0Arg(v: string): bigint {
  if (!/^\d{1,20}$/.test(v.trim())) throw new InvalidArgumentError(`'${v}' is not an integer of 1 to 20 digits (ns).`);
  return BigInt(v.trim());
}

/** Import a CSV file as `vfun trace import` does: the trace's text, checked as `validate` checks a file. */
export function importTraceFile(file: string, o: TraceImportCliOptions): { text: string; calls: number } {
  if (!(IMPORT_FORMATS as readonly string[]).includes(o.from)) throw new ValidationError('--from', `'${o.from}' is not one of: ${IMPORT_FORMATS.join(', ')}`);
  if (!existsSync(file)) throw new ValidationError('<file>', `no file ${file}`);
  if (o.delimiter !== undefined && o.delimiter.length !== 1) throw new ValidationError('--delimiter', `'${o.delimiter}' is not one character`);
  if (o.output !== undefined && existsSync(o.output) && realpathSync(o.output) === realpathSync(file))
    throw new ValidationError('--output', `${o.output} is the CSV being imported: name another file (the log would be overwritten)`);
  const options: CsvImportOptions = {
    source: file,
    timeUnit: o.timeUnit,
    ...(o.fn !== undefined && { fn: o.fn }),
    ...(o.t0Ns !== undefined && { t0Ns: o.t0Ns }),
    ...(o.clock !== undefined && { clock: o.clock }),
    ...(o.instance !== undefined && { instance: o.instance }),
    ...(o.work !== undefined && { work: o.work }),
    ...(o.note !== undefined && { note: o.note }),
    ...(o.delimiter !== undefined && { delimiter: o.delimiter }),
    ...(o.ignoreUnknown === true && { ignoreUnknown: true }),
  };
  const trace = importCsv(readFileSync(file, 'utf8'), options);
  if (trace.calls.length === 0) throw new ValidationError('<file>', `${file} has a header row and no calls: nothing to import`);
  return { text: traceText(trace, o.output ?? file).text, calls: trace.calls.length };
}

/** Write `text` to `path` whole or not at all: into a temporary file beside it, then renamed over it. */
function writeWhole(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Register `vfun trace`. */
export function registerTraceCommands(program: Command): void {
  const trace = program.command('trace').description('trace files (docs/traces.md)');
  trace
    .command('validate')
    .description('check a trace: every line against the schema (schemas/trace-v1.schema.json), then the computation protocol; exit 1 naming the line and the field')
    .argument('<file>', 'a trace file (JSON lines)')
    .option('--json', 'one JSON object: {"valid": true, ...} or {"valid": false, "error": ...}')
    .action((file: string, o: { json?: boolean }) => {
      try {
        const t = validateTraceFile(file);
        const errors = t.calls.filter((c) => c.status === 'ERROR').length;
        process.stdout.write((o.json === true ? JSON.stringify({ valid: true, file, version: t.version, fn: t.header.fn, kind: t.header.kind, calls: t.calls.length, errors }) : formatValid(file, t)) + '\n');
      } catch (e) {
        if (o.json !== true || !(e instanceof ValidationError)) throw e;
        process.stdout.write(JSON.stringify({ valid: false, file, error: e.message }) + '\n');
        process.exitCode = 1;
      }
    });
  trace
    .command('export')
    .description('a valid trace in another format: perfetto (Chrome trace-event JSON, opens in ui.perfetto.dev) or csv (one row per call)')
    .argument('<file>', 'a trace file (JSON lines)')
    .requiredOption('--format <format>', `one of: ${EXPORT_FORMATS.join(', ')}`)
    .option('-o, --output <path>', 'write here (its folder is created) instead of stdout')
    .action((file: string, o: { format: string; output?: string }) => {
      if (!(EXPORT_FORMATS as readonly string[]).includes(o.format)) throw new ValidationError('--format', `'${o.format}' is not one of: ${EXPORT_FORMATS.join(', ')}`);
      const text = exportTrace(validateTraceFile(file), o.format as ExportFormat);
      if (o.output === undefined) {
        process.stdout.write(text);
        return;
      }
      mkdirSync(dirname(o.output), { recursive: true });
      writeFileSync(o.output, text);
      process.stderr.write(`${file}: ${o.format} written to ${o.output}\n`);
    });
  trace
    .command('import')
    .description("another system's log as a trace (docs/traces.md, Importing): a CSV with a header row, one row per call; exit 1 naming the line and the column of a bad row, writing nothing")
    .argument('<file>', 'a CSV file')
    .requiredOption('--from <format>', `the file's format, one of: ${IMPORT_FORMATS.join(', ')}`)
    .option('-o, --output <path>', 'write the trace here (its folder is created; written whole or not at all) instead of stdout')
    .option('--fn <name>', "the header's function (default: the first row's fn column); rows naming another keep their own")
    .addOption(new Option('--time-unit <unit>', 'unit of time columns whose name has no _ns/_us/_ms/_s suffix').choices(TIME_UNITS).default('ns'))
    .addOption(new Option('--t0-ns <ns>', "the CSV's time (ns) that becomes the trace's 0 (default: its earliest)").argParser(t0Arg))
    .addOption(new Option('--clock <clock>', 'the clock of the CSV\'s times (default unspecified)').choices(TRACE_CLOCKS))
    .option('--instance <label>', "the header's instance label")
    .addOption(new Option('--work <n>', "the header's work: each call's whose work cell is empty").argParser(numberAtLeast(0)))
    .option('--note <text>', "the header's source (default: imported from <file>)")
    .option('--delimiter <char>', 'the field delimiter (default ,)')
    .option('--ignore-unknown', `skip columns other than: ${IMPORT_COLUMNS}`)
    .action((file: string, o: TraceImportCliOptions) => {
      const { text, calls } = importTraceFile(file, o);
      if (o.output === undefined) {
        process.stdout.write(text);
        return;
      }
      writeWhole(o.output, text);
      process.stderr.write(`${file}: ${calls} calls imported to ${o.output}\n`);
    });
}
