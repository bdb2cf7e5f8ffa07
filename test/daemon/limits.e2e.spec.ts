/**
 * `vfun up` with a tenant's resource limits: the log says at start where each
 * limit is enforced (or, once, which are not and why); the tenant's service
 * processes run in its groups and serve within them (64 MiB holds an idle
 * service process of the compiled runtime); another tenant's are in none;
 * SIGTERM removes the groups.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/guest/connect.js';
import { ControlClient } from '../../src/guest/control-client.js';
import { waitFor } from '../support/wait-output.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const SECRETS = { acme: 'acme-secret-for-the-limits-test', globex: 'globex-secret-for-the-limits-test' } as const;
const config = {
  tenants: [
    { id: 'acme', secret: SECRETS.acme, maxInstances: 1, limits: { cpus: 0.2, memoryMiB: 64 } },
    { id: 'globex', secret: SECRETS.globex, maxInstances: 1 },
  ],
  functions: [{ name: 'crc32', kinds: { sw: { slots: 2, driver: 'crc32' } } }],
};

describe('vfun up with tenants[].limits', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'vfun-limits-up-'));
    await writeFile(join(root, 'config.json'), JSON.stringify(config));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('puts the tenant’s service processes into its groups, says so at start, removes the groups at stop (or says once that the limits are advisory)', async () => {
    const daemon = spawn(process.execPath, [CLI, 'up', '--config', join(root, 'config.json'), '--root', root], { stdio: ['ignore', 'pipe', 'inherit'] });
    const log = await waitFor(daemon, 'ready');
    const enforced = /^resource limits of tenant acme: cpus 0\.2 \(cgroup v\d, (\S+)\), memoryMiB 64 \(cgroup v\d, (\S+)\)$/m.exec(log);
    const advisory = log.split('\n').filter((l) => l.includes('NOT enforced'));
    expect(log).not.toMatch(/tenant globex: (cpus|memory)/);

    const servicePid = async (tenant: keyof typeof SECRETS): Promise<{ pid: number; close: () => void }> => {
      const c = await ControlClient.connect(join(root, 'vmcli', tenant, 'control.sock'));
      const creds = { tenant, credential: SECRETS[tenant] };
      const n = await c.negotiate({ ...creds, app: 'app', fn: 'crc32', kind: 'sw' });
      if (!n.ok) throw new Error(n.detail);
      const a = await c.activate({ ...creds, instance: n.instance });
      if (!a.ok) throw new Error(a.detail);
      const client = connect(a.region);
      for (let i = 0; i < 1000; i++) client.call(new Uint8Array([i & 0xff, 1, 2, 3]));
      const { pid } = JSON.parse(await readFile(join(root, 'admin', 'instances', `${n.instance}.json`), 'utf8')) as { pid: number };
      return {
        pid,
        close: () => {
          client.close();
          c.close();
        },
      };
    };
    const acme = await servicePid('acme');
    const globex = await servicePid('globex');
    const groupsOf = (pid: number) => readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    expect(groupsOf(globex.pid)).not.toContain('/virtfun/');

    if (enforced) {
      const [, cpuDir, memoryDir] = enforced;
      expect(cpuDir).toContain(`/virtfun/vfund-${daemon.pid}/acme`);
      for (const dir of [cpuDir!, memoryDir!]) expect(readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(acme.pid));
      expect(groupsOf(acme.pid)).toContain(`/virtfun/vfund-${daemon.pid}/acme`);
      expect(advisory).toEqual([]);
      const stopped = new Promise((r) => daemon.once('exit', r));
      acme.close();
      globex.close();
      daemon.kill('SIGTERM');
      expect(await stopped).toBe(0);
      expect(existsSync(cpuDir!)).toBe(false);
      expect(existsSync(memoryDir!)).toBe(false);
      expect(existsSync(join(cpuDir!, '..'))).toBe(false); // vfund-<pid>
    } else {
      expect(advisory).toEqual([expect.stringMatching(/acme\.cpus.*acme\.memoryMiB|acme\.memoryMiB.*acme\.cpus|acme\.cpus, acme\.memoryMiB/)]);
      expect(groupsOf(acme.pid)).not.toContain('/virtfun/');
      const stopped = new Promise((r) => daemon.once('exit', r));
      acme.close();
      globex.close();
      daemon.kill('SIGTERM');
      expect(await stopped).toBe(0);
    }
  });
});
