/**
 * The integrator's path, end to end, from the tarball (test/support/packed.ts): a fresh
 * TypeScript project installs the package (no install script runs), writes a driver of its own
 * (examples/custom-driver/reverse.ts with the package's imports), type-checks it against the
 * package's declarations, serves it with `vfun up --config` naming it in `driverModules`, calls
 * it from a guest process, and runs its property tests written with `virtfun/testing`
 * (examples/custom-driver/reverse.test.ts) under vitest.
 *
 * fast-check, typescript and @types/node are installed from the registry (npm's cache) beside the
 * tarball; vitest and tsx, whose installs carry native binaries of their own, are this
 * repository's copies linked into the project. Needs `npm run build`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPacked, PACKAGE_ROOT, type PackedProject } from '../support/packed.js';

let project: PackedProject;
const SECRET = 'acceptance-tenant-secret-0123456789';

/** The example, as it reads in the integrator's own project: imports from the package. */
function fromExample(file: string): string {
  return readFileSync(join(PACKAGE_ROOT, 'examples', 'custom-driver', file), 'utf8')
    .replaceAll("'../../src/api/daemon.js'", "'virtfun/daemon'")
    .replaceAll("'../../src/api/testing.js'", "'virtfun/testing'")
    .replaceAll("'./reverse.js'", "'../src/reverse.js'")
    .replaceAll("['./reverse.ts']", "['./src/reverse.ts']")
    .replaceAll("new URL('.', import.meta.url)", "new URL('..', import.meta.url)");
}

beforeAll(() => {
  const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
  const dev = (name: string): string => pkg.devDependencies[name]!;
  project = installPacked({ dependencies: { 'fast-check': dev('fast-check'), typescript: dev('typescript'), '@types/node': dev('@types/node') } });
  const p = project.projectDir;
  for (const tool of ['vitest', 'tsx']) symlinkSync(join(PACKAGE_ROOT, 'node_modules', tool), join(p, 'node_modules', tool), 'dir');
  mkdirSync(join(p, 'src'));
  mkdirSync(join(p, 'test'));
  writeFileSync(join(p, 'src', 'reverse.ts'), fromExample('reverse.ts'));
  writeFileSync(join(p, 'test', 'reverse.test.ts'), fromExample('reverse.test.ts'));
  writeFileSync(
    join(p, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2023'], types: ['node'], strict: true, noEmit: true, skipLibCheck: false, noUncheckedIndexedAccess: true },
      include: ['src', 'test'],
    }),
  );
  writeFileSync(
    join(p, 'vfund.json'),
    JSON.stringify({
      tenants: [{ id: 'acme', secret: SECRET, maxInstances: 4 }],
      functions: [{ name: 'reverse', kinds: { sw: { slots: 2, driver: 'reverse' } } }],
      driverModules: ['./src/reverse.ts'],
    }),
    { mode: 0o600 },
  );
  writeFileSync(
    join(p, 'guest.mjs'),
    `import { ControlClient, connectFds, ServiceError } from 'virtfun';
const [socket, secret] = process.argv.slice(2);
const creds = { tenant: 'acme', credential: secret };
const control = await ControlClient.connect(socket);
const n = await control.negotiate({ ...creds, app: 'acceptance', fn: 'reverse', kind: 'sw' });
if (!n.ok) throw new Error('negotiation: ' + n.detail);
const a = await control.activate({ ...creds, instance: n.instance });
if (!a.ok) throw new Error('activation: ' + a.detail);
const fn = connectFds(a.region.dataoutFd, a.region.datainFd);
const out = { reversed: Buffer.from(fn.call(new Uint8Array([1, 2, 3]))).toString('hex') };
try { fn.call(new Uint8Array([0, 1])); } catch (e) { out.refused = e instanceof ServiceError ? e.errorName : String(e); }
out.async = Buffer.from(await fn.callAsync(new Uint8Array([7, 8]))).toString('hex');
fn.close();
out.released = (await control.release({ ...creds, instance: n.instance })).ok;
control.close();
console.log(JSON.stringify(out));
`,
  );
}, 300_000);

afterAll(() => project?.cleanup());

/** `node <args>` in the project, without this checkout's VIRTFUN_* settings. */
function node(args: readonly string[], timeout = 120_000): { stdout: string; stderr: string; status: number | null } {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VIRTFUN_') && !k.startsWith('VITEST')));
  const r = spawnSync(process.execPath, args, { cwd: project.projectDir, env, encoding: 'utf8', timeout });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

describe("an integrator's project, from the tarball", () => {
  it('type-checks a driver module and a property test written against the package', () => {
    const r = node([join(project.projectDir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.']);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('serves its driver through vfun up --config with driverModules, to a guest process', async () => {
    const root = join(project.projectDir, 'host');
    const bin = join(project.packageDir, 'dist', 'src', 'cli', 'main.js');
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VIRTFUN_')));
    const up: ChildProcess = spawn(process.execPath, [bin, 'up', '--config', 'vfund.json', '--root', root, '--log-format', 'json'], { cwd: project.projectDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
    let out = '';
    up.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await new Promise<void>((resolve, reject) => {
        up.stdout!.on('data', (d: Buffer) => (out += d.toString()).includes('ready') && resolve());
        void exited.then((code) => reject(new Error(`vfun up exited (${code}) before ready:\n${out}`)));
      });
      const g = node(['guest.mjs', join(root, 'vmcli', 'acme', 'control.sock'), SECRET], 60_000);
      expect(g.stderr).toBe('');
      expect(JSON.parse(g.stdout)).toEqual({ reversed: '030201', refused: 'BAD_INPUT', async: '0807', released: true });
    } finally {
      up.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    const started = readFileSync(join(root, 'admin', 'journal.ndjson'), 'utf8').split('\n').find((l) => l.includes('"vfund.started"'))!;
    expect((JSON.parse(started) as { data: { config: { driverModules: unknown } } }).data.config.driverModules).toEqual([
      expect.objectContaining({ specifier: './src/reverse.ts', drivers: [{ name: 'reverse', kind: 'sw', version: '1.0.0' }, { name: 'tally', kind: 'sw', version: '1.0.0' }] }),
    ]);
  });

  it('runs its property tests written with virtfun/testing', () => {
    const r = node([join(project.projectDir, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--reporter', 'verbose'], 240_000);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout.replace(/\x1b\[[0-9;]*m/g, '')).toMatch(/Tests\s+3 passed \(3\)/);
  });
});
