/**
 * An in-memory cgroup filesystem for unit tests of src/actors/cgroups.ts:
 * enough of the kernel's behaviour to test cgroup v2, v1, hybrid hosts and
 * their failures (read-only, permission denied, a group that holds processes)
 * on any machine. A new directory under a mount gets that hierarchy's
 * interface files (`interfaceFiles`), as the kernel populates a new group.
 */
import { dirname } from 'node:path';
import type { CgroupFs } from '../../src/actors/cgroup-host.js';

const errno = (code: string, path: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: ${path}`), { code });

export class FakeCgroupFs implements CgroupFs {
  readonly files = new Map<string, string>();
  readonly dirs = new Set<string>(['/']);
  /** Interface files of a new group, by the mount point of its hierarchy. */
  readonly interfaceFiles = new Map<string, Record<string, string>>();
  /** Operations that fail: `mkdir <path>`, `write <path>`, `rmdir <path>` -> errno code. */
  readonly failures = new Map<string, string>();
  /** Where a cgroup v2 hierarchy is mounted: below it, a group with processes cannot enable controllers for children. */
  unifiedMount: string | null = null;
  /** Hook called on every read (a kernel counter that moves). */
  onRead: (path: string) => void = () => undefined;

  /** A directory (and its parents) with files. */
  dir(path: string, files: Record<string, string> = {}): this {
    for (let p = path; !this.dirs.has(p); p = dirname(p)) this.dirs.add(p);
    for (const [name, text] of Object.entries(files)) this.files.set(`${path}/${name}`, text);
    return this;
  }

  async readFile(path: string): Promise<string> {
    this.onRead(path);
    const text = this.files.get(path);
    if (text === undefined) throw errno('ENOENT', path);
    return text;
  }

  async writeFile(path: string, data: string): Promise<void> {
    const failure = this.failures.get(`write ${path}`);
    if (failure) throw errno(failure, path);
    const old = this.files.get(path);
    if (old === undefined) throw errno('ENOENT', path);
    if (path.endsWith('/cgroup.procs')) {
      // A process is in one group of a hierarchy: moving it takes it out of the others there.
      const mount = this.mountOf(path);
      for (const [f, text] of this.files) {
        if (f.endsWith('/cgroup.procs') && mount !== null && this.mountOf(f) === mount) {
          this.files.set(f, text.split('\n').filter((p) => p !== '' && p !== data).map((p) => p + '\n').join(''));
        }
      }
      this.files.set(path, this.files.get(path)! + data + '\n');
    } else if (path.endsWith('/cgroup.subtree_control')) {
      const dir = dirname(path);
      const v2 = this.unifiedMount !== null && dir.startsWith(this.unifiedMount + '/');
      if (v2 && data.includes('+') && (this.files.get(`${dir}/cgroup.procs`) ?? '').trim() !== '') throw errno('EBUSY', path);
      const on = new Set(old.split(/\s+/).filter(Boolean));
      for (const w of data.split(/\s+/)) if (w.startsWith('+')) on.add(w.slice(1));
      this.files.set(path, [...on].join(' '));
    } else this.files.set(path, data);
  }

  /** The mount point of the hierarchy `path` is in. */
  private mountOf(path: string): string | null {
    return [...this.interfaceFiles.keys()].find((m) => path === m || path.startsWith(m + '/')) ?? null;
  }

  async mkdir(path: string): Promise<void> {
    const failure = this.failures.get(`mkdir ${path}`);
    if (failure) throw errno(failure, path);
    if (this.dirs.has(path)) throw errno('EEXIST', path);
    if (!this.dirs.has(dirname(path))) throw errno('ENOENT', path);
    this.dirs.add(path);
    const mount = this.mountOf(path);
    for (const [name, text] of Object.entries(mount ? this.interfaceFiles.get(mount)! : {})) this.files.set(`${path}/${name}`, text);
  }

  async rmdir(path: string): Promise<void> {
    const failure = this.failures.get(`rmdir ${path}`);
    if (failure) throw errno(failure, path);
    if (!this.dirs.has(path)) throw errno('ENOENT', path);
    if ((this.files.get(`${path}/cgroup.procs`) ?? '').trim() !== '' || [...this.dirs].some((d) => dirname(d) === path && d !== path)) throw errno('EBUSY', path);
    this.dirs.delete(path);
    for (const f of [...this.files.keys()]) if (dirname(f) === path) this.files.delete(f);
  }

  async subdirs(path: string): Promise<string[]> {
    if (!this.dirs.has(path)) throw errno('ENOENT', path);
    return [...this.dirs].filter((d) => d !== path && dirname(d) === path).map((d) => d.slice(path.length + 1));
  }

  async exists(path: string): Promise<boolean> {
    return this.dirs.has(path) || this.files.has(path);
  }

  /** Directories under `path` (itself included), sorted. */
  tree(path: string): string[] {
    return [...this.dirs].filter((d) => d === path || d.startsWith(path + '/')).sort();
  }
}

/** A host like the ones the tests run on: cgroup v1 cpu and memory (vFunD's memory group a sub-path) plus an empty v2. */
export function hybridHost(opts: { memsw?: boolean; oomKillCounter?: boolean; cpuReadOnly?: boolean; noMemory?: boolean } = {}): FakeCgroupFs {
  const fs = new FakeCgroupFs();
  const own = '/sys/fs/cgroup/memory/sessions/s1';
  fs.dir('/proc/self', {
    mountinfo: [
      '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
      `32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct ${opts.cpuReadOnly ? 'ro' : 'rw'},relatime - cgroup cgroup rw,cpu,cpuacct`,
      ...(opts.noMemory ? [] : ['35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory']),
      '40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd',
      '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
      '',
    ].join('\n'),
    cgroup: ['9:name=systemd:/', ...(opts.noMemory ? [] : ['4:memory:/sessions/s1']), '2:cpu,cpuacct:/', '0::/', ''].join('\n'),
  });
  fs.dir('/sys/fs/cgroup/unified', { 'cgroup.controllers': 'hugetlb\n', 'cgroup.subtree_control': '\n', 'cgroup.procs': '' });
  const cpuFiles = { 'cgroup.procs': '', 'cpu.cfs_quota_us': '-1\n', 'cpu.cfs_period_us': '100000\n', 'cpu.stat': 'nr_periods 0\nnr_throttled 0\n' };
  fs.dir('/sys/fs/cgroup/cpu,cpuacct', cpuFiles);
  fs.interfaceFiles.set('/sys/fs/cgroup/cpu,cpuacct', cpuFiles);
  if (!opts.noMemory) {
    const memFiles = {
      'cgroup.procs': '',
      'memory.limit_in_bytes': '9223372036854771712\n',
      'memory.failcnt': '0\n',
      'memory.max_usage_in_bytes': '0\n',
      'memory.oom_control': `oom_kill_disable 0\nunder_oom 0\n${opts.oomKillCounter === false ? '' : 'oom_kill 0\n'}`,
      ...(opts.memsw === false ? {} : { 'memory.memsw.limit_in_bytes': '9223372036854771712\n', 'memory.memsw.failcnt': '0\n', 'memory.memsw.max_usage_in_bytes': '0\n' }),
    };
    fs.dir(own, memFiles);
    fs.interfaceFiles.set('/sys/fs/cgroup/memory', memFiles);
  }
  return fs;
}

/** A cgroup v2 host: vFunD in `own` (relative to the hierarchy), cpu and memory offered to it. */
export function unifiedHost(own = '/system.slice/virtfun.service', opts: { swap?: boolean; enabled?: boolean; procs?: readonly number[] } = {}): FakeCgroupFs {
  const fs = new FakeCgroupFs();
  fs.unifiedMount = '/sys/fs/cgroup';
  fs.dir('/proc/self', {
    mountinfo: '28 22 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n',
    cgroup: `0::${own}\n`,
  });
  const files = {
    'cgroup.procs': '',
    'cgroup.controllers': 'cpu io memory pids\n',
    'cgroup.subtree_control': '\n',
    'cpu.max': 'max 100000\n',
    'cpu.stat': 'usage_usec 0\nnr_periods 0\nnr_throttled 0\n',
    'memory.max': 'max\n',
    'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n',
    ...(opts.swap === false ? {} : { 'memory.swap.max': 'max\n' }),
  };
  const dir = `/sys/fs/cgroup${own === '/' ? '' : own}`;
  fs.dir(dir, { ...files, ...(opts.enabled && { 'cgroup.subtree_control': 'cpu memory\n' }), 'cgroup.procs': (opts.procs ?? []).map((p) => `${p}\n`).join('') });
  fs.interfaceFiles.set('/sys/fs/cgroup', files);
  return fs;
}
