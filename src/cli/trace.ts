/**
 * `vfun trace validate <file>`: check a trace file (docs/traces.md) line by
 * line and against the computation protocol; exit 1 naming the line and the
 * field (or the call) of the first problem. `vfun trace export <file>
 * --format perfetto|csv [-o out]`: the same checks, then the trace in
 * another tool's format (trace-export.ts). main.ts calls
 * registerTraceCommands(program).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { ValidationError } from '../errors.js';
import { readTraceFile, type ReadTrace } from '../paper/trace-read.js';
import { checkTrace } from '../paper/trace-check.js';
import { checkView } from '../paper/traces.js';
import { EXPORT_FORMATS, exportTrace, type ExportFormat } from '../paper/trace-export.js';

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
}
