/**
 * What a tenant is told never names a host path: redactHostPaths, the filter
 * on every refusal detail vFunD sends over a control channel.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { redactHostPaths } from '../../src/control/protocol.js';

describe('redactHostPaths', () => {
  it('hides absolute paths wherever an error message puts them', () => {
    expect(redactHostPaths("EACCES: permission denied, open '/root/.vfun/vmcli/t/a/f/region.json'")).toBe("EACCES: permission denied, open '<host path>'");
    expect(redactHostPaths('cannot read /var/lib/virtfun/journal.ndjson: ENOSPC')).toBe('cannot read <host path> ENOSPC');
    expect(redactHostPaths('file:/srv/j.ndjson is unreachable')).toBe('file:<host path> is unreachable');
    expect(redactHostPaths('(at /usr/lib/node_modules/x.js)')).toBe('(at <host path>)');
  });

  it('leaves what is not a path alone', () => {
    for (const s of ['sha256/hw: 1 of 1 slots in use', 'factorial: input is 3 bytes, expected exactly 4', '1/2 done', 'a/b is not a name']) {
      expect(redactHostPaths(s)).toBe(s);
    }
  });

  const segment = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/);
  test.prop([fc.array(segment, { minLength: 1, maxLength: 6 }), fc.constantFrom(' ', "'", '"', '(', '=', ':', ''), fc.string({ maxLength: 20 })])(
    'no absolute path survives, whatever surrounds it',
    (parts, before, text) => {
      const path = '/' + parts.join('/');
      const out = redactHostPaths(`${text.replace(/\//g, '')}${text === '' ? '' : ' '}${before}${path} and more`);
      expect(out).not.toContain(path);
      expect(out).toContain('<host path>');
    },
  );
});
