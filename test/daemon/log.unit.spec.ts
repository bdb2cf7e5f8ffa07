/** vFunD's log: pino JSON lines, their readable form, and the older line functions still taking what they took. */
import { describe, expect } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { createLogger, daemonLog, isLogger, prettyLine, rec } from '../../src/daemon/log.js';
import { startFailureRecords } from '../../src/daemon/start-failure.js';
import { ConfigError } from '../../src/actors/config.js';

describe('createLogger', () => {
  test('json: one JSON object a line, with time (ISO-8601 UTC), level by name, msg and the fields', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', format: 'json', write: (l) => lines.push(l) });
    logger.warn({ event: 'request.refused', tenant: 'acme', reason: 'credential' }, 'request refused: credential');
    logger.debug({}, 'not written at info');
    expect(lines).toHaveLength(1);
    const o = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(o).toMatchObject({ level: 'warn', msg: 'request refused: credential', event: 'request.refused', tenant: 'acme', reason: 'credential', pid: process.pid });
    expect(new Date(o['time'] as string).toISOString()).toBe(o['time']);
  });

  test('an `err` field is written as given (code and message), not through an Error serializer adding a stack', () => {
    const lines: string[] = [];
    createLogger({ level: 'info', format: 'json', write: (l) => lines.push(l) }).error({ err: { code: 'CONFIG', message: 'bad' } }, 'vFunD did not start: bad');
    expect(JSON.parse(lines[0]!)).toMatchObject({ err: { code: 'CONFIG', message: 'bad' } });
    expect(Object.keys((JSON.parse(lines[0]!) as { err: object }).err)).toEqual(['code', 'message']);
  });

  test('pretty: time, level, message, key=value on one line', () => {
    const lines: string[] = [];
    createLogger({ level: 'debug', format: 'pretty', write: (l) => lines.push(l) }).debug({ tenant: 'acme', detail: 'two words' }, 'hello');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z DEBUG hello tenant=acme detail="two words"$/);
  });
});

describe('prettyLine', () => {
  test.prop([fc.dictionary(fc.stringMatching(/^[a-z][a-zA-Z0-9.]{0,10}$/).filter((k) => !['time', 'level', 'msg', 'pid', 'hostname'].includes(k)), fc.oneof(fc.string(), fc.integer(), fc.boolean())), fc.string()])(
    'one line whatever the fields and the message hold',
    (fields, msg) => {
      const line = prettyLine(JSON.stringify({ time: '2024-01-01T00:00:00.000Z', level: 'info', msg, ...fields }));
      expect(line.startsWith('2024-01-01T00:00:00.000Z INFO')).toBe(true);
      expect(line).not.toMatch(/[\n\r]/);
      for (const k of Object.keys(fields)) expect(line).toContain(` ${k}=`);
    },
  );
  test('a message of several lines reads as one', () => {
    expect(prettyLine(JSON.stringify({ time: 't', level: 'error', msg: 'invalid configuration:\n  a: x\n  b: y' }))).toBe('t ERROR invalid configuration: a: x; b: y');
  });
  test('a line that is not a JSON object is left as it is', () => {
    expect(prettyLine('plain text')).toBe('plain text');
    expect(prettyLine('[1,2]')).toBe('[1,2]');
  });
});

describe('daemonLog', () => {
  test('a line function takes the messages of `say` above debug, as it always did; records go nowhere', () => {
    const lines: string[] = [];
    const out = daemonLog((l) => lines.push(l));
    out.say(rec('info', 'vFunD up'));
    out.say(rec('debug', 'quiet'));
    out.record(rec('warn', 'client lost'));
    out.lines('warn')('checkpoint failed: x');
    expect(lines).toEqual(['vFunD up', 'checkpoint failed: x']);
  });
  test('a logger takes every record with its fields; the console beside it takes the messages of `say`', () => {
    const got: Array<[string, object, string]> = [];
    const logger = Object.fromEntries(['trace', 'debug', 'info', 'warn', 'error', 'fatal'].map((l) => [l, (f: object, m: string) => got.push([l, f, m])]));
    expect(isLogger(logger as never)).toBe(true);
    const lines: string[] = [];
    const out = daemonLog(logger as never, (l) => lines.push(l));
    out.say(rec('info', 'ready', { pid: 1 }));
    out.record(rec('warn', 'client lost', { tenant: 't' }));
    expect(got).toEqual([['info', { pid: 1 }, 'ready'], ['warn', { tenant: 't' }, 'client lost']]);
    expect(lines).toEqual(['ready']);
  });
});

describe('startFailureRecords', () => {
  test('one error record with the code and the message; the stack only at debug', () => {
    const [error, debug] = startFailureRecords(new ConfigError(['tenants.0.secret: too short']));
    expect(error).toMatchObject({ level: 'error', fields: { err: { code: 'CONFIG', message: expect.stringContaining('tenants.0.secret') } } });
    expect(JSON.stringify(error)).not.toContain('    at ');
    expect(debug).toMatchObject({ level: 'debug', fields: { err: { stack: expect.stringContaining('at ') } } });
    expect(startFailureRecords(Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' }))[0]!.fields).toMatchObject({ err: { code: 'EADDRINUSE' } });
    expect(startFailureRecords('odd')).toEqual([expect.objectContaining({ fields: expect.objectContaining({ err: { code: 'INTERNAL', message: 'odd' } }) })]);
  });
});
