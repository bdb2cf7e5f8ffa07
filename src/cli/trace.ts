/**
 * `vfun trace validate <file>`: check a trace file (docs/traces.md) line by
 * line and against the computation protocol; exit 1 naming the line and the
 * field (or the call) of the first problem. main.ts calls
 * registerTraceCommands(program).
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { ValidationError } from '../errors.js';
import { readTraceFile, type ReadTrace } from '../paper/trace-read.js';
import { checkTrace } from '../paper/trace-check.js';
import { checkView } from '../paper/traces.js';

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
}
