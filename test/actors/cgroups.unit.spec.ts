/**
 * Tenants' cgroups against a fake cgroup filesystem: what is created on a
 * cgroup v2 host, on a v1 host, on a hybrid one; what is reported (and not
 * created) where the host offers nothing usable; how an OOM kill is told from
 * another SIGKILL; what is removed at stop. (The real host:
 * test/actors/limits.int.spec.ts.)
 */
import { describe, expect, it } from 'vitest';
import { detectCgroups, parseMountinfo, parseSelfCgroup } from '../../src/actors/cgroup-host.js';
import { TenantCgroups } from '../../src/actors/cgroups.js';
import { VirtFunError } from '../../src/errors.js';
import { FakeCgroupFs, hybridHost, unifiedHost } from '../support/fake-cgroupfs.js';

const MiB = 1024 * 1024;
const tenants = [
  { id: 'acme', limits: { cpus: 0.5, memoryMiB: 64 } },
  { id: 'beta', limits: { cpus: 0.2 } },
  { id: 'open' },
];
// Each vFunD of these tests has a pid of its own (its groups: vfund-<pid>), unless a test says otherwise.
let lastPid = 4000;
const options = (fs: FakeCgroupFs, more: { uid?: number; pid?: number; alive?: (pid: number) => boolean } = {}) => ({ fs, pid: ++lastPid, uid: 0, alive: () => true, ...more });

describe('what the host offers', () => {
  it('parses mountinfo (escaped paths, read-only, v1 controllers) and /proc/self/cgroup', () => {
    const mounts = parseMountinfo(
      [
        '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
        '35 31 0:32 /docker/abc /mnt/my\\040cgroups ro,relatime - cgroup cgroup rw,memory',
        '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate',
        '22 1 0:21 / /proc rw - proc proc rw',
      ].join('\n'),
    );
    expect(mounts).toEqual([
      { point: '/sys/fs/cgroup/cpu,cpuacct', root: '/', fstype: 'cgroup', readOnly: false, controllers: ['cpu', 'cpuacct'] },
      { point: '/mnt/my cgroups', root: '/docker/abc', fstype: 'cgroup', readOnly: true, controllers: ['memory'] },
      { point: '/sys/fs/cgroup/unified', root: '/', fstype: 'cgroup2', readOnly: false, controllers: [] },
    ]);
    const self = parseSelfCgroup('9:name=systemd:/\n4:memory:/a/b\n2:cpu,cpuacct:/\n0::/x\n');
    expect(self.v2).toBe('/x');
    expect([...self.v1]).toEqual([
      ['name=systemd', '/'],
      ['memory', '/a/b'],
      ['cpu', '/'],
      ['cpuacct', '/'],
    ]);
  });

  it('a hybrid host: the empty v2 offers neither, v1 has cpu (co-mounted) and memory (vFunD in a sub-group)', async () => {
    expect(await detectCgroups(hybridHost())).toEqual({
      cpu: { ok: true, place: { controller: 'cpu', version: 1, mount: '/sys/fs/cgroup/cpu,cpuacct', own: '/sys/fs/cgroup/cpu,cpuacct' } },
      memory: { ok: true, place: { controller: 'memory', version: 1, mount: '/sys/fs/cgroup/memory', own: '/sys/fs/cgroup/memory/sessions/s1' } },
    });
  });

  it('a v2 host: both from the unified hierarchy, in vFunD’s own group', async () => {
    const offers = await detectCgroups(unifiedHost());
    expect(offers.cpu).toEqual({ ok: true, place: { controller: 'cpu', version: 2, mount: '/sys/fs/cgroup', own: '/sys/fs/cgroup/system.slice/virtfun.service' } });
    expect(offers.memory).toMatchObject({ ok: true, place: { version: 2 } });
  });

  it('no /proc: no control groups, said as such', async () => {
    const offers = await detectCgroups(new FakeCgroupFs());
    expect(offers.cpu).toEqual({ ok: false, reason: expect.stringMatching(/^this host shows no control groups/) });
  });
});

describe('tenants’ groups on a cgroup v1 host', () => {
  it('one group per limited tenant under virtfun/vfund-<pid>, limits written, memory+swap too; none for a tenant without limits', async () => {
    const fs = hybridHost();
    const groups = await TenantCgroups.create(tenants, options(fs));
    const cpu = `/sys/fs/cgroup/cpu,cpuacct/virtfun/vfund-${lastPid}`;
    const mem = `/sys/fs/cgroup/memory/sessions/s1/virtfun/vfund-${lastPid}`;
    expect(fs.tree('/sys/fs/cgroup/cpu,cpuacct/virtfun')).toEqual(['/sys/fs/cgroup/cpu,cpuacct/virtfun', cpu, `${cpu}/acme`, `${cpu}/beta`]);
    expect(fs.tree('/sys/fs/cgroup/memory/sessions/s1/virtfun')).toEqual(['/sys/fs/cgroup/memory/sessions/s1/virtfun', mem, `${mem}/acme`]);
    expect(fs.files.get(`${cpu}/acme/cpu.cfs_quota_us`)).toBe('50000');
    expect(fs.files.get(`${cpu}/acme/cpu.cfs_period_us`)).toBe('100000');
    expect(fs.files.get(`${cpu}/beta/cpu.cfs_quota_us`)).toBe('20000');
    expect(fs.files.get(`${mem}/acme/memory.limit_in_bytes`)).toBe(String(64 * MiB));
    expect(fs.files.get(`${mem}/acme/memory.memsw.limit_in_bytes`)).toBe(String(64 * MiB));
    expect(groups.group('acme')).toEqual({ cpu: { version: 1, dir: `${cpu}/acme` }, memory: { version: 1, dir: `${mem}/acme` } });
    expect(groups.group('beta')).toEqual({ cpu: { version: 1, dir: `${cpu}/beta` } });
    expect(groups.group('open')).toBeUndefined();
    expect(groups.advisory).toEqual([]);
    expect(groups.report()).toEqual([
      `resource limits of tenant acme: cpus 0.5 (cgroup v1, ${cpu}/acme), memoryMiB 64 (cgroup v1, ${mem}/acme)`,
      `resource limits of tenant beta: cpus 0.2 (cgroup v1, ${cpu}/beta)`,
    ]);

    // Every service process joins each of its tenant's groups; a tenant without one joins nothing.
    await groups.join('acme', 101);
    await groups.join('beta', 102);
    await groups.join('open', 103);
    expect(fs.files.get(`${cpu}/acme/cgroup.procs`)).toBe('101\n');
    expect(fs.files.get(`${mem}/acme/cgroup.procs`)).toBe('101\n');
    expect(fs.files.get(`${cpu}/beta/cgroup.procs`)).toBe('102\n');

    // At stop the processes are gone (the kernel empties cgroup.procs); every directory goes, virtfun too.
    for (const f of fs.files.keys()) if (f.endsWith('/cgroup.procs') && f.includes('/virtfun/')) fs.files.set(f, '');
    expect(await groups.remove()).toEqual([]);
    expect(fs.tree('/sys/fs/cgroup/cpu,cpuacct/virtfun')).toEqual([]);
    expect(fs.tree('/sys/fs/cgroup/memory/sessions/s1/virtfun')).toEqual([]);
  });

  it('a group that cannot be joined fails the service process’s start, naming the pid and the group', async () => {
    const fs = hybridHost();
    const groups = await TenantCgroups.create(tenants, options(fs));
    fs.failures.set(`write /sys/fs/cgroup/memory/sessions/s1/virtfun/vfund-${lastPid}/acme/cgroup.procs`, 'ESRCH');
    const err = await groups.join('acme', 77).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VirtFunError);
    expect((err as Error).message).toMatch(`could not put service process 77 into tenant acme's cgroup /sys/fs/cgroup/memory/sessions/s1/virtfun/vfund-${lastPid}/acme: ESRCH`);
  });

  it('two vFunDs in one process (two roots) never share a group; the parent stays while the other uses it', async () => {
    const fs = hybridHost();
    const one = await TenantCgroups.create(tenants, options(fs, { pid: 77 }));
    const two = await TenantCgroups.create(tenants, options(fs, { pid: 77 }));
    expect(await fs.subdirs('/sys/fs/cgroup/cpu,cpuacct/virtfun')).toEqual(['vfund-77', 'vfund-77-2']);
    expect(one.group('acme')!.cpu!.dir).not.toBe(two.group('acme')!.cpu!.dir);
    expect(await one.remove()).toEqual([]);
    expect(fs.dirs.has('/sys/fs/cgroup/cpu,cpuacct/virtfun')).toBe(true);
    expect(await two.remove()).toEqual([]);
    expect(fs.dirs.has('/sys/fs/cgroup/cpu,cpuacct/virtfun')).toBe(false);
  });

  it('groups a dead vFunD left are removed at start, a live one’s are not', async () => {
    const fs = hybridHost();
    fs.dir('/sys/fs/cgroup/cpu,cpuacct/virtfun/vfund-17/acme', { 'cgroup.procs': '' });
    fs.dir('/sys/fs/cgroup/cpu,cpuacct/virtfun/vfund-18/acme', { 'cgroup.procs': '' });
    const groups = await TenantCgroups.create(tenants, options(fs, { alive: (pid) => pid === 18 }));
    expect(await fs.subdirs('/sys/fs/cgroup/cpu,cpuacct/virtfun')).toEqual(['vfund-18', `vfund-${lastPid}`]);
    expect(groups.report()[0]).toBe('removed cgroup /sys/fs/cgroup/cpu,cpuacct/virtfun/vfund-17, left by a vFunD that did not stop');
  });

  it('without memory+swap accounting the memory limit is still set', async () => {
    const fs = hybridHost({ memsw: false });
    const groups = await TenantCgroups.create(tenants, options(fs));
    expect(groups.enforced('acme', 'memoryMiB')).toBe(true);
    expect(fs.files.has(`/sys/fs/cgroup/memory/sessions/s1/virtfun/vfund-${lastPid}/acme/memory.memsw.limit_in_bytes`)).toBe(false);
  });
});

describe('tenants’ groups on a cgroup v2 host', () => {
  it('cpu.max, memory.max and memory.swap.max 0; the controllers enabled down the path (and said so where vFunD enabled them)', async () => {
    const fs = unifiedHost('/');
    const groups = await TenantCgroups.create(tenants, options(fs));
    const level = `/sys/fs/cgroup/virtfun/vfund-${lastPid}`;
    expect(fs.files.get(`${level}/acme/cpu.max`)).toBe('50000 100000');
    expect(fs.files.get(`${level}/acme/memory.max`)).toBe(String(64 * MiB));
    expect(fs.files.get(`${level}/acme/memory.swap.max`)).toBe('0');
    expect(fs.files.get(`${level}/beta/cpu.max`)).toBe('20000 100000');
    expect(fs.files.get(`${level}/beta/memory.max`)).toBe('max\n'); // no memory limit asked: untouched
    for (const dir of ['/sys/fs/cgroup', '/sys/fs/cgroup/virtfun', level]) expect(fs.files.get(`${dir}/cgroup.subtree_control`)).toBe('cpu memory');
    expect(groups.group('acme')).toEqual({ cpu: { version: 2, dir: `${level}/acme` }, memory: { version: 2, dir: `${level}/acme` } });
    expect(groups.report().slice(0, 2)).toEqual([
      'enabled the cpu controller in /sys/fs/cgroup/cgroup.subtree_control',
      'enabled the memory controller in /sys/fs/cgroup/cgroup.subtree_control',
    ]);
    await groups.join('acme', 5);
    expect(fs.files.get(`${level}/acme/cgroup.procs`)).toBe('5\n'); // one group for both controllers: joined once
    fs.files.set(`${level}/acme/cgroup.procs`, '');
    expect(await groups.remove()).toEqual([]);
    expect(fs.tree('/sys/fs/cgroup/virtfun')).toEqual([]);
  });

  it('a group that already delegates cpu and memory is used as it is', async () => {
    const fs = unifiedHost('/system.slice/virtfun.service', { enabled: true });
    const groups = await TenantCgroups.create(tenants, options(fs));
    expect(groups.advisory).toEqual([]);
    expect(groups.report().some((l) => l.startsWith('enabled'))).toBe(false);
  });

  it('vFunD alone in its group (a service with Delegate=yes): it moves itself into a leaf, `vfund`, and the group gets the limited children', async () => {
    const pid = lastPid + 1;
    const own = '/sys/fs/cgroup/system.slice/virtfun.service';
    const fs = unifiedHost('/system.slice/virtfun.service', { procs: [pid] });
    const groups = await TenantCgroups.create(tenants, options(fs));
    expect(fs.files.get(`${own}/cgroup.procs`)).toBe('');
    expect(fs.files.get(`${own}/vfund/cgroup.procs`)).toBe(`${pid}\n`);
    expect(fs.files.get(`${own}/cgroup.subtree_control`)).toBe('cpu memory');
    expect(groups.group('acme')).toEqual({ cpu: { version: 2, dir: `${own}/virtfun/vfund-${pid}/acme` }, memory: { version: 2, dir: `${own}/virtfun/vfund-${pid}/acme` } });
    expect(groups.report().slice(0, 3)).toEqual([
      `moved vFunD (pid ${pid}) into ${own}/vfund: a cgroup v2 group with processes in it cannot hand controllers to child groups`,
      `enabled the cpu controller in ${own}/cgroup.subtree_control`,
      `enabled the memory controller in ${own}/cgroup.subtree_control`,
    ]);
    // A second vFunD in the same process sees itself in the leaf: the group above is its own.
    fs.files.set('/proc/self/cgroup', '0::/system.slice/virtfun.service/vfund\n');
    const again = await TenantCgroups.create(tenants, options(fs, { pid }));
    expect(again.group('acme')!.cpu!.dir).toBe(`${own}/virtfun/vfund-${pid}-2/acme`);
    expect(again.report().some((l) => l.startsWith('moved'))).toBe(false);
  });

  it('vFunD’s group shared with other processes (a login shell’s): advisory, with the reason and what to do; nothing moved or created', async () => {
    const pid = lastPid + 1;
    const own = '/sys/fs/cgroup/user.slice/session-1.scope';
    const fs = unifiedHost('/user.slice/session-1.scope', { procs: [pid, 777, 778] });
    const groups = await TenantCgroups.create(tenants, options(fs));
    expect(groups.group('acme')).toBeUndefined();
    expect(groups.advisory).toContainEqual({
      tenant: 'acme',
      limit: 'memoryMiB',
      reason: `cgroup v2 memory: vFunD's group ${own} also holds other processes (777, 778), and a group with processes in it cannot hand controllers to child groups: run vFunD in a group of its own (systemd: a service with Delegate=yes)`,
    });
    expect(fs.tree(own)).toEqual([own]);
    expect(fs.files.get(`${own}/cgroup.procs`)).toBe(`${pid}\n777\n778\n`);
  });
});

describe('where the host offers nothing usable: advisory, said once', () => {
  it('not root: permission denied, naming the uid; nothing created', async () => {
    const fs = hybridHost();
    fs.failures.set('mkdir /sys/fs/cgroup/cpu,cpuacct/virtfun', 'EACCES');
    fs.failures.set('mkdir /sys/fs/cgroup/memory/sessions/s1/virtfun', 'EACCES');
    const groups = await TenantCgroups.create(tenants, options(fs, { uid: 1000 }));
    expect(groups.advisory).toEqual([
      { tenant: 'acme', limit: 'cpus', reason: 'cgroup v1 cpu: permission denied on /sys/fs/cgroup/cpu,cpuacct/virtfun (vFunD runs as uid 1000, not root)' },
      { tenant: 'beta', limit: 'cpus', reason: 'cgroup v1 cpu: permission denied on /sys/fs/cgroup/cpu,cpuacct/virtfun (vFunD runs as uid 1000, not root)' },
      { tenant: 'acme', limit: 'memoryMiB', reason: 'cgroup v1 memory: permission denied on /sys/fs/cgroup/memory/sessions/s1/virtfun (vFunD runs as uid 1000, not root)' },
    ]);
    expect(groups.report()).toEqual([
      'resource limits NOT enforced, advisory only: acme.cpus, beta.cpus: cgroup v1 cpu: permission denied on /sys/fs/cgroup/cpu,cpuacct/virtfun (vFunD runs as uid 1000, not root); acme.memoryMiB: cgroup v1 memory: permission denied on /sys/fs/cgroup/memory/sessions/s1/virtfun (vFunD runs as uid 1000, not root)',
    ]);
    await groups.join('acme', 9); // nothing to join: the service process runs unlimited
    expect(await groups.explainKill('acme')).toBeNull();
    expect(await groups.remove()).toEqual([]);
  });

  it('a read-only cgroupfs, and a missing controller: the other limit is still enforced', async () => {
    const ro = await TenantCgroups.create(tenants, options(hybridHost({ cpuReadOnly: true })));
    expect(ro.advisory.map((a) => `${a.tenant}.${a.limit}: ${a.reason}`)).toEqual([
      'acme.cpus: cgroup v1 cpu at /sys/fs/cgroup/cpu,cpuacct is mounted read-only',
      'beta.cpus: cgroup v1 cpu at /sys/fs/cgroup/cpu,cpuacct is mounted read-only',
    ]);
    expect(ro.enforced('acme', 'memoryMiB')).toBe(true);

    const missing = await TenantCgroups.create(tenants, options(hybridHost({ noMemory: true })));
    expect(missing.advisory).toEqual([
      {
        tenant: 'acme',
        limit: 'memoryMiB',
        reason: "no memory controller: cgroup v2 at /sys/fs/cgroup/unified offers vFunD's group only hugetlb, and no cgroup v1 hierarchy with memory is mounted",
      },
    ]);
    expect(missing.enforced('acme', 'cpus')).toBe(true);
  });

  it('a limit the kernel refuses to set: that limit is advisory, its empty group removed', async () => {
    const fs = hybridHost();
    fs.failures.set(`write /sys/fs/cgroup/cpu,cpuacct/virtfun/vfund-${lastPid + 1}/beta/cpu.cfs_quota_us`, 'EINVAL');
    const groups = await TenantCgroups.create(tenants, options(fs));
    expect(groups.advisory).toEqual([{ tenant: 'beta', limit: 'cpus', reason: expect.stringMatching(/^cgroup v1 cpu: .*beta\/cpu\.cfs_quota_us: EINVAL/) }]);
    expect(fs.dirs.has(`/sys/fs/cgroup/cpu,cpuacct/virtfun/vfund-${lastPid}/beta`)).toBe(false);
  });

  it('no tenant with limits: nothing is looked at, nothing said', async () => {
    const fs = hybridHost();
    const read: string[] = [];
    fs.onRead = (p) => read.push(p);
    const groups = await TenantCgroups.create([{ id: 'open' }], options(fs));
    expect(read).toEqual([]);
    expect(groups.report()).toEqual([]);
  });
});

describe('telling an OOM kill from another SIGKILL', () => {
  it('v1: a kill the group counted is explained once per kill; a SIGKILL it did not count is not blamed on memory', async () => {
    const fs = hybridHost();
    const groups = await TenantCgroups.create(tenants, options(fs));
    const dir = groups.group('acme')!.memory!.dir;
    expect(await groups.explainKill('acme')).toBeNull(); // an operator's kill -9
    expect(await groups.explainKill('beta')).toBeNull(); // no memory limit
    fs.files.set(`${dir}/memory.memsw.failcnt`, '3\n');
    fs.files.set(`${dir}/memory.oom_control`, 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
    expect(await groups.explainKill('acme')).toBe("the OOM killer: tenant acme's memory limit of 64 MiB; memory.oom_control oom_kill 2");
    expect(await groups.explainKill('acme')).toBe("the OOM killer: tenant acme's memory limit of 64 MiB; memory.oom_control oom_kill 2");
    expect(await groups.explainKill('acme')).toBeNull();
  });

  it('the kernel counts the kill after the exit was seen: waited for, once the group hit its limit', async () => {
    const fs = hybridHost();
    const groups = await TenantCgroups.create(tenants, options(fs));
    const dir = groups.group('acme')!.memory!.dir;
    fs.files.set(`${dir}/memory.memsw.failcnt`, '1\n');
    let reads = 0;
    fs.onRead = (p) => {
      if (p === `${dir}/memory.oom_control` && ++reads === 3) fs.files.set(p, 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n');
    };
    expect(await groups.explainKill('acme')).toBe("the OOM killer: tenant acme's memory limit of 64 MiB; memory.oom_control oom_kill 1");
  });

  it('a kernel that no longer counts failcnt for v1: the peak at the limit is the limit reached (then reset)', async () => {
    const fs = hybridHost();
    const groups = await TenantCgroups.create(tenants, options(fs));
    const dir = groups.group('acme')!.memory!.dir;
    fs.files.set(`${dir}/memory.max_usage_in_bytes`, `${64 * MiB}\n`);
    fs.files.set(`${dir}/memory.memsw.max_usage_in_bytes`, `${64 * MiB}\n`);
    let reads = 0;
    fs.onRead = (p) => {
      if (p === `${dir}/memory.oom_control` && ++reads === 2) fs.files.set(p, 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n');
    };
    expect(await groups.explainKill('acme')).toBe("the OOM killer: tenant acme's memory limit of 64 MiB; memory.oom_control oom_kill 1");
    expect(fs.files.get(`${dir}/memory.max_usage_in_bytes`)).toBe('0');
    expect(fs.files.get(`${dir}/memory.memsw.max_usage_in_bytes`)).toBe('0');
  });

  it('a group that hit its limit but counted no kill: not blamed on memory', async () => {
    const fs = hybridHost();
    const groups = await TenantCgroups.create(tenants, options(fs));
    fs.files.set(`${groups.group('acme')!.memory!.dir}/memory.failcnt`, '5\n');
    expect(await groups.explainKill('acme')).toBeNull();
  });

  it('a v1 kernel without the oom_kill counter: the limit hit is what is said, as most likely', async () => {
    const fs = hybridHost({ oomKillCounter: false });
    const groups = await TenantCgroups.create(tenants, options(fs));
    const dir = groups.group('acme')!.memory!.dir;
    expect(await groups.explainKill('acme')).toBeNull();
    fs.files.set(`${dir}/memory.failcnt`, '4\n');
    expect(await groups.explainKill('acme')).toBe(
      "most likely the OOM killer: the group reached tenant acme's memory limit of 64 MiB; memory.failcnt 4",
    );
    expect(await groups.explainKill('acme')).toBeNull();
  });

  it('v2: memory.events', async () => {
    const fs = unifiedHost('/');
    const groups = await TenantCgroups.create(tenants, options(fs));
    const dir = groups.group('acme')!.memory!.dir;
    fs.files.set(`${dir}/memory.events`, 'low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n');
    expect(await groups.explainKill('acme')).toBe("the OOM killer: tenant acme's memory limit of 64 MiB; memory.events oom_kill 1");
  });
});
