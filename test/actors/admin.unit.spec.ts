/**
 * The pure parts of steering: who may use the admin socket, what a reload changed, and what a
 * reload may not change without a restart.
 */
import { describe, expect, it } from 'vitest';
import { configChanges, noChanges } from '../../src/actors/admin.js';
import { parseConfig } from '../../src/actors/config.js';
import { peerRefusal } from '../../src/admin/access.js';
import { restartNeeded } from '../../src/daemon/reload.js';
import { testConfig, testSnapshot } from './helpers.js';

describe('peerRefusal', () => {
  const rule = { daemonUid: 990, group: { name: 'vfun-admin', gid: 2000 } };
  it('admits root, vFunD\'s user and members of the admin group (primary or supplementary)', () => {
    expect(peerRefusal({ pid: 1, uid: 0, gid: 0 }, [], rule)).toBeNull();
    expect(peerRefusal({ pid: 1, uid: 990, gid: 990 }, [], rule)).toBeNull();
    expect(peerRefusal({ pid: 1, uid: 1000, gid: 2000 }, [], rule)).toBeNull();
    expect(peerRefusal({ pid: 1, uid: 1000, gid: 1000 }, [27, 2000], rule)).toBeNull();
  });
  it('refuses anyone else, naming who and who may', () => {
    expect(peerRefusal({ pid: 42, uid: 1000, gid: 1000 }, [27], rule)).toBe(
      "uid 1000 (pid 42) may not use vFunD's admin socket: only root, vFunD's user (uid 990) and members of group 'vfun-admin' (gid 2000) may",
    );
    expect(peerRefusal({ pid: 42, uid: 1000, gid: 2000 }, [], { daemonUid: 990, group: null })).toContain('no admin group is configured');
  });
});

describe('configChanges', () => {
  it('is empty for the same configuration', () => {
    expect(noChanges(configChanges(testSnapshot, testSnapshot))).toBe(true);
  });
  it('names added, removed and changed entries with each field from and to, secrets as digests', () => {
    const next = {
      ...testSnapshot,
      tenants: [...testSnapshot.tenants.filter((t) => t.id !== 't2').map((t) => (t.id === 't1' ? { ...t, maxInstances: 9, credentialDigest: 'd2' } : t)), { id: 't4', credentialDigest: 'd4', maxInstances: 1 }],
      functions: testSnapshot.functions.map((f) => (f.name === 'fsw' ? { name: 'fsw', kinds: { sw: { slots: 7, driver: 'factorial' } } } : f)),
      regionCapacity: 8192,
    };
    const c = configChanges(testSnapshot, next);
    expect(c.tenants).toEqual({
      added: ['t4'],
      removed: ['t2'],
      changed: [{ name: 't1', fields: [{ field: 'credentialDigest', from: testSnapshot.tenants[0]!.credentialDigest, to: 'd2' }, { field: 'maxInstances', from: 2, to: 9 }] }],
    });
    expect(c.functions).toEqual({ added: [], removed: [], changed: [{ name: 'fsw', fields: [{ field: 'kinds.sw.slots', from: 2, to: 7 }] }] });
    expect(c.regionCapacity).toEqual({ from: 4096, to: 8192 });
  });
});

describe('restartNeeded', () => {
  const withTenant = (extra: object) => parseConfig({ ...testConfig, tenants: [...testConfig.tenants, { id: 'vm', secret: 'a vm tenant secret, 16+', maxInstances: 1, ...extra }] });
  it('accepts added, removed and changed tenants and functions', () => {
    const next = parseConfig({ ...testConfig, tenants: [{ ...testConfig.tenants[0]!, maxInstances: 4, secret: 'another secret, 16+ chars' }, { id: 'new', secret: 'new tenant secret 16+', maxInstances: 1 }] });
    expect(restartNeeded(testConfig, next, false)).toEqual([]);
  });
  it('refuses what is set up at start: ivshmem, limits, refusals, a new OS user without root', () => {
    expect(restartNeeded(testConfig, withTenant({ limits: { memoryMiB: 64 } }), true)).toEqual([expect.stringContaining('tenants.3.limits: a tenant added by a reload cannot have limits')]);
    const changed = parseConfig({ ...testConfig, tenants: testConfig.tenants.map((t, i) => (i === 0 ? { ...t, refusals: { burst: 3 } } : t)) });
    expect(restartNeeded(testConfig, changed, true)).toEqual([expect.stringContaining("tenants.0.refusals: changing refusals of tenant 't1'")]);
    expect(restartNeeded(testConfig, withTenant({ uid: 5000, gid: 5000 }), false)).toEqual([expect.stringContaining('tenants.3.uid: giving tenants their own OS user needs vFunD to run as root')]);
  });
});
