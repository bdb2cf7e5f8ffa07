/**
 * Experiment: does Node (this host's own binary) run acceptably inside the
 * TCG guest, and does the TypeScript guest library (ControlClient over the
 * virtio-serial port, connect() mapping the ivshmem BAR through the native
 * addon) run all four phases from inside the VM?
 *
 * Same wiring as `vfun vm run` (src/vm/run.ts), but the initramfs also holds
 * the node binary with the shared libraries `ldd` lists (at the same paths),
 * the part of dist/ that dist/examples/vm-guest.js imports, the node_modules
 * packages those files import, package.json and build/Release/vfun_shm.node,
 * all under this project's own absolute path. In one boot the guest runs
 * `node -e 0` three times, `vfun-guest --bench N` (the static C client) and
 * then examples/vm-guest.ts once per variant (`connect:strategy`; connect is
 * `library`, src/guest/connect.js as it is, or `nofutex`, the same mapping without futex calls).
 *
 *   npm run build && node dist/bench/vm-node-guest.js [--calls N] [--accel tcg|kvm|auto]
 *        [--cache DIR] [--root DIR] [--memory MiB] [--variants library:hybrid,nofutex:hybrid,nofutex:spin] [--no-c] [--json]
 *
 * Prints progress on stderr and, with --json, one JSON summary on stdout.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/actors/config.js';
import { startDaemon } from '../src/cli/up.js';
import { packageRoot } from '../src/native/shm.js';
import { buildGuestBinary } from '../src/vm/guest-binary.js';
import { buildInitramfs, type InitramfsFile } from '../src/vm/initramfs.js';
import { debianKernel } from '../src/vm/kernel.js';
import { startNetPort } from '../src/vm/net-port.js';
import { runVm } from '../src/vm/qemu.js';
import { CONTROL_PORT, defaultCacheDir, defaultVmConfig, GUEST_MODULES, NET_PORT } from '../src/vm/run.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '2000' },
    accel: { type: 'string', default: 'tcg' },
    cache: { type: 'string' },
    root: { type: 'string' },
    memory: { type: 'string', default: '1024' },
    variants: { type: 'string', default: 'library:hybrid,nofutex:hybrid,nofutex:spin' },
    'no-c': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    'timeout-min': { type: 'string', default: '30' },
  },
});
const calls = Number(values.calls);
const memoryMiB = Number(values.memory);
const variants = values.variants!.split(',').filter((s) => s !== '').map((v) => {
  const [connect, strategy] = v.split(':');
  if (!['library', 'nofutex'].includes(connect!) || !['spin', 'block', 'hybrid'].includes(strategy ?? '')) throw new Error(`--variants: '${v}' is not library|nofutex:spin|block|hybrid`);
  return { connect: connect!, strategy: strategy! };
});
if (!Number.isInteger(calls) || calls < 1) throw new Error(`--calls: '${values.calls}' must be a positive integer`);
if (!['auto', 'kvm', 'tcg'].includes(values.accel!)) throw new Error(`--accel: '${values.accel}' must be auto, kvm or tcg`);

const T0 = performance.now();
const since = () => ((performance.now() - T0) / 1000).toFixed(1).padStart(6);
const log = (l: string) => process.stderr.write(`[${since()}s] ${l}\n`);

const projectRoot = packageRoot();
if (projectRoot === null) throw new Error('cannot find the virtfun package root');
const guestJs = join(projectRoot, 'dist', 'examples', 'vm-guest.js');

// ---------------------------------------------------------------------------
// what Node and the guest library need in the guest

/** Shared objects `ldd` lists for `file` (absolute paths; the loader included). */
function lddPaths(file: string): string[] {
  const text = execFileSync('ldd', [file], { encoding: 'utf8' });
  const paths: string[] = [];
  for (const line of text.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) paths.push(m[1]!);
  }
  return paths;
}

/** Relative files (and bare package names) that `entry` imports, transitively (static and literal dynamic imports). */
function importClosure(entry: string): { files: string[]; packages: string[] } {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const queue = [resolve(entry)];
  const re = /(?:^|[\n;])\s*(?:import|export)\s[^;]*?from\s+['"]([^'"]+)['"]|(?:^|[\n;])\s*import\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  while (queue.length > 0) {
    const f = queue.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const m of readFileSync(f, 'utf8').matchAll(re)) {
      const spec = m[1] ?? m[2] ?? m[3]!;
      if (spec.startsWith('.')) queue.push(resolve(dirname(f), spec));
      else if (!spec.startsWith('node:')) packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  }
  return { files: [...seen].sort(), packages: [...packages].sort() };
}

/** Files of a package directory, without type declarations, source maps, TypeScript sources and docs. */
async function packageFiles(dir: string, all: boolean): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules') await walk(p);
      } else if (e.isFile() && (all || !/\.(d\.[cm]?ts|map|md|[cm]?ts|tsx)$/.test(e.name))) out.push(p);
    }
  };
  await walk(dir);
  return out;
}

/** The package and its dependencies (from package.json), as directories under node_modules. */
function packageClosure(names: readonly string[]): string[] {
  const dirs = new Set<string>();
  const queue = [...names];
  while (queue.length > 0) {
    const n = queue.pop()!;
    const dir = join(projectRoot!, 'node_modules', n);
    if (dirs.has(dir)) continue;
    dirs.add(dir);
    const pj = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    queue.push(...Object.keys(pj.dependencies ?? {}));
  }
  return [...dirs].sort();
}

async function fileEntry(path: string, guestPath = path): Promise<InitramfsFile> {
  const st = await stat(path);
  return { path: guestPath, mode: st.mode & 0o777, data: await readFile(path) };
}

// ---------------------------------------------------------------------------

const cacheDir = values.cache ?? defaultCacheDir();
const root = values.root ?? (await mkdtemp(join(tmpdir(), 'vfun-vm-node-')));
const ownRoot = values.root === undefined;
const secret = randomBytes(24).toString('hex');
const config = parseConfig(defaultVmConfig(secret));
const tenant = config.tenants[0]!;

const kernel = await debianKernel({ cacheDir, log });
const guestBin = values['no-c'] ? null : await buildGuestBinary({ cacheDir, log });

// Collect the guest's files.
const tCollect = performance.now();
const nodeBin = process.execPath;
const closure = importClosure(guestJs);
const pkgDirs = packageClosure(closure.packages);
const addon = join(projectRoot, 'build', 'Release', 'vfun_shm.node');
const libs = [...new Set([...lddPaths(nodeBin), ...lddPaths(addon)])];
const files: InitramfsFile[] = [];
const groups: Record<string, { files: number; bytes: number }> = {};
const add = async (group: string, path: string, guestPath = path): Promise<void> => {
  const e = await fileEntry(path, guestPath);
  files.push(e);
  const g = (groups[group] ??= { files: 0, bytes: 0 });
  g.files++;
  g.bytes += (e.data as Buffer).length;
};
await add('node', nodeBin, '/usr/bin/node');
for (const l of libs) await add('libs', l);
await add('project', join(projectRoot, 'package.json'));
await add('project', addon);
for (const f of closure.files) await add('dist', f);
for (const d of pkgDirs) for (const f of await packageFiles(d, false)) await add('node_modules', f);
if (guestBin !== null) await add('c-guest', guestBin, '/bin/vfun-guest');
files.push({ path: '/etc/vfun/tenant', mode: 0o644, data: `${tenant.id}\n` }, { path: '/etc/vfun/secret', mode: 0o600, data: `${tenant.secret}\n` });
const collectMs = performance.now() - tCollect;
let allNodeModulesBytes = 0;
for (const d of pkgDirs) for (const f of await packageFiles(d, true)) allNodeModulesBytes += (await stat(f)).size;
log(`guest files: ${JSON.stringify(groups)}; dist closure ${closure.files.length} files, packages ${pkgDirs.map((d) => relative(join(projectRoot, 'node_modules'), d)).join(', ')}; libs ${libs.join(' ')}`);

const guestProgram = relative('/', guestJs);
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const up = `$(cut -d' ' -f1 /proc/uptime)`;
const payload = [
  'export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu',
  `echo "{\\"vfun\\":\\"guest-up\\",\\"uptime_s\\":${up}}"`,
  'ctl=$(vfun_port vfun.control) || exit 1',
  'for i in 1 2 3; do',
  `  s=${up}; node -e 0; st=$?; e=${up}`,
  '  echo "{\\"vfun\\":\\"node-e-0\\",\\"run\\":$i,\\"status\\":$st,\\"start_s\\":$s,\\"end_s\\":$e}"',
  'done',
  `node -e 'console.log(JSON.stringify({vfun:"node-version",version:process.version,uptime_ms:Math.round(process.uptime()*1000)}))'`,
  ...(guestBin === null ? [] : [`s=${up}; vfun-guest --bench ${calls}; st=$?; e=${up}`, 'echo "{\\"vfun\\":\\"c-guest-exit\\",\\"status\\":$st,\\"start_s\\":$s,\\"end_s\\":$e}"']),
  'rc=0',
  ...variants.flatMap((v) => [
    `s=${up}; timeout 900 node ${q('/' + guestProgram)} --control "$ctl" --calls ${calls} --connect ${v.connect} --strategy ${v.strategy}; st=$?; e=${up}`,
    `echo "{\\"vfun\\":\\"node-guest-exit\\",\\"connect\\":\\"${v.connect}\\",\\"strategy\\":\\"${v.strategy}\\",\\"status\\":$st,\\"start_s\\":$s,\\"end_s\\":$e}"`,
    '[ $st -eq 0 ] || rc=1',
  ]),
  'exit $rc',
].join('\n');

const work = await mkdtemp(join(tmpdir(), 'vfun-vm-node-work-'));
const daemon = await startDaemon({ config, journal: `file:${join(root, 'journal.ndjson')}`, root, log: (l) => log(`vfund: ${l}`) });
const summary: Record<string, unknown> = { accel_requested: values.accel, calls, memory_mib: memoryMiB, node: process.version };
try {
  const window = daemon.windows[tenant.id]!;
  const net = await startNetPort(join(work, 'net.sock'));
  try {
    const initrd = join(work, 'initrd.gz');
    const tBuild = performance.now();
    await buildInitramfs({ out: initrd, kernel, modules: [...GUEST_MODULES], files, payload });
    const buildMs = performance.now() - tBuild;
    const initrdBytes = (await stat(initrd)).size;
    const rawBytes = files.reduce((n, f) => n + (typeof f.data === 'string' ? Buffer.byteLength(f.data) : f.data.length), 0);
    Object.assign(summary, {
      initramfs_gz_bytes: initrdBytes,
      initramfs_added_raw_bytes: rawBytes,
      initramfs_groups: groups,
      node_modules_packages: pkgDirs.map((d) => relative(join(projectRoot, 'node_modules'), d)),
      node_modules_bytes_filtered: groups.node_modules?.bytes ?? 0,
      node_modules_bytes_unfiltered: allNodeModulesBytes,
      dist_files: closure.files.length,
      collect_ms: Math.round(collectMs),
      initramfs_build_ms: Math.round(buildMs),
    });
    log(`initramfs ${initrd}: ${(initrdBytes / 1048576).toFixed(1)} MiB gzip'd (${(rawBytes / 1048576).toFixed(1)} MiB added files) built in ${Math.round(buildMs)} ms`);

    const reports: Record<string, unknown>[] = [];
    const firstSeen: Record<string, number> = {};
    const tRun = performance.now();
    const run = await runVm(
      {
        kernel: kernel.vmlinuz,
        initrd,
        memoryMiB,
        window: { path: window.path, bytes: window.bytes },
        ports: [
          { name: CONTROL_PORT, socketPath: daemon.sockets[tenant.id]! },
          { name: NET_PORT, socketPath: net.path },
        ],
      },
      {
        accel: values.accel as 'auto' | 'kvm' | 'tcg',
        timeoutMs: Number(values['timeout-min']) * 60_000,
        bootTimeoutMs: 120_000,
        onLine: (line) => {
          const at = performance.now() - tRun;
          if (line.startsWith('{"vfun":')) {
            try {
              const r = JSON.parse(line) as Record<string, unknown>;
              reports.push({ ...r, host_ms: Math.round(at) });
              firstSeen[String(r.vfun)] ??= Math.round(at);
            } catch {
              // only looks like a report
            }
          }
          log(`guest| ${line}`);
        },
      },
    );
    Object.assign(summary, {
      accel: run.accel,
      ...(run.fallback !== undefined && { fallback: run.fallback }),
      exit_status: run.exitStatus,
      boot_to_userspace_ms: run.bootMs,
      vm_wall_ms: run.durationMs,
      vm_first_report_ms: firstSeen,
      net_served: net.served(),
      reports,
    });
  } finally {
    await net.close();
  }
} finally {
  await daemon.stop('vm-node-guest over');
  await rm(work, { recursive: true, force: true });
  if (ownRoot) await rm(root, { recursive: true, force: true });
}

// Digest.
const reports = summary.reports as Record<string, unknown>[];
const nodeE0 = reports.filter((r) => r.vfun === 'node-e-0').map((r) => Math.round(((r.end_s as number) - (r.start_s as number)) * 1000));
const bench = reports.filter((r) => r.vfun === 'bench');
const starts = reports.filter((r) => r.vfun === 'node-start');
const dones = reports.filter((r) => r.vfun === 'done');
const digest = {
  accel: summary.accel,
  initramfs_gz_mib: +((summary.initramfs_gz_bytes as number) / 1048576).toFixed(1),
  initramfs_build_ms: summary.initramfs_build_ms,
  boot_to_userspace_ms: summary.boot_to_userspace_ms,
  node_e_0_ms: nodeE0,
  node_guest_starts: starts.map((r) => ({ node_uptime_at_main_ms: r.node_uptime_at_main_ms, import_guest_library_ms: r.import_guest_library_ms, load_addon_ms: r.load_addon_ms })),
  node_guest_errors: reports.filter((r) => r.vfun === 'error').map((r) => ({ phase: r.phase, connect: r.connect, detail: r.detail })),
  node_guest_done: dones.map((r) => ({ ok: r.ok, phases: r.phases, total_ms: r.total_ms, node_uptime_ms: r.node_uptime_ms })),
  bench: bench.map((r) => ({ path: r.path, lang: r.lang ?? 'c', connect: r.connect, strategy: r.strategy, n: r.n, median_us: r.median_us, p99_us: r.p99_us, p999_us: r.p999_us, max_us: r.max_us })),
  exit_status: summary.exit_status,
  vm_wall_ms: summary.vm_wall_ms,
};
log(`digest: ${JSON.stringify(digest, null, 1)}`);
if (values.json) console.log(JSON.stringify({ ...summary, digest }));
