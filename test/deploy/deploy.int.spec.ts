/**
 * deploy/: the systemd unit is one systemd accepts (`systemd-analyze verify`,
 * installed by npm test's pretest; its keys are also checked against the keys
 * systemd documents for their sections), and the example configuration is
 * valid for the strict parser.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/actors/config.js';

const exec = promisify(execFile);
const DEPLOY = join(import.meta.dirname, '../../deploy');

/** The keys of a unit file, by section, in order (comments and blank lines aside). */
function unitKeys(text: string): Array<{ section: string; key: string; value: string }> {
  let section = '';
  const out: Array<{ section: string; key: string; value: string }> = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(\w+)\]$/.exec(line);
    if (s !== null) section = s[1]!;
    else {
      const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
      if (kv === null) throw new Error(`not a key=value line: ${line}`);
      out.push({ section, key: kv[1]!, value: kv[2]! });
    }
  }
  return out;
}

/** Keys systemd documents (systemd.unit(5), systemd.service(5), systemd.exec(5), systemd.kill(5), systemd.resource-control(5)) that this unit may use. */
const KNOWN: Readonly<Record<string, readonly string[]>> = {
  Unit: ['Description', 'Documentation', 'Wants', 'After', 'Requires', 'StartLimitIntervalSec', 'StartLimitBurst'],
  Service: [
    ...['Type', 'EnvironmentFile', 'Environment', 'ExecStart', 'ExecReload', 'KillSignal', 'KillMode', 'TimeoutStopSec', 'Restart', 'RestartSec', 'StandardOutput'],
    ...['StateDirectory', 'StateDirectoryMode', 'ConfigurationDirectory', 'ConfigurationDirectoryMode', 'UMask', 'ProtectSystem', 'ReadWritePaths'],
    ...['Delegate', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'ProtectKernelModules', 'ProtectKernelLogs', 'ProtectClock', 'ProtectHostname'],
    ...['RestrictRealtime', 'RestrictSUIDSGID', 'LockPersonality', 'RestrictAddressFamilies', 'RestrictNamespaces', 'NoNewPrivileges'],
    ...['CapabilityBoundingSet', 'LimitNOFILE'],
  ],
  Install: ['WantedBy'],
};

async function which(cmd: string): Promise<string | null> {
  return exec('sh', ['-c', `command -v ${cmd}`]).then(
    (r) => r.stdout.trim() || null,
    () => null,
  );
}

describe('deploy/virtfun.service', () => {
  it('uses only keys systemd documents, in their sections; runs vfun up with the config and root of the operator guide; stops with SIGTERM, restarts on failure', async () => {
    const keys = unitKeys(await readFile(join(DEPLOY, 'virtfun.service'), 'utf8'));
    for (const { section, key } of keys) expect(KNOWN[section] ?? [], `[${section}] ${key}`).toContain(key);
    const value = (k: string) => keys.find((x) => x.key === k)?.value;
    expect(value('ExecStart')).toMatch(/\/vfun up --config \/etc\/virtfun\/config\.json --root \/var\/lib\/virtfun\b/);
    expect(value('KillSignal')).toBe('SIGTERM');
    expect(value('Restart')).toBe('on-failure');
    expect(Number.parseInt(value('TimeoutStopSec') ?? '', 10)).toBeGreaterThan(0);
    expect(value('Delegate')).toBe('yes'); // vFunD makes the tenants' cgroups under its own
    expect(keys.map((k) => k.key)).not.toContain('ProtectControlGroups');
    expect(keys.map((k) => k.key)).not.toContain('MemoryDenyWriteExecute'); // Node's JIT
  });

  it('systemd-analyze verify accepts it, without a warning (ExecStart pointed at this build of vfun)', async () => {
    // Installed by `npm test`'s pretest (scripts/system-packages.json: systemd).
    const analyze = await which('systemd-analyze');
    expect(analyze, 'systemd-analyze (package systemd) is not installed: run npm test, whose pretest installs it').not.toBeNull();
    const dir = await mkdtemp(join(tmpdir(), 'vfun-unit-'));
    try {
      const text = await readFile(join(DEPLOY, 'virtfun.service'), 'utf8');
      const cli = join(import.meta.dirname, '../../dist/src/cli/main.js');
      const unit = join(dir, 'virtfun.service');
      await writeFile(unit, text.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath} ${cli}`));
      const r = await exec(analyze!, ['verify', unit]).then(
        (x) => ({ code: 0, out: x.stdout + x.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
      );
      expect(r).toEqual({ code: 0, out: '' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('deploy/config.example.json', () => {
  it('is valid for the strict parser, and keeps its secrets in files', async () => {
    const raw = JSON.parse(await readFile(join(DEPLOY, 'config.example.json'), 'utf8')) as unknown;
    const config = parseConfig(raw);
    expect(config.tenants.length).toBeGreaterThan(0);
    for (const t of config.tenants) {
      expect(t.secret).toBeUndefined();
      expect(t.secretFile).toMatch(/\S/);
    }
  });
});
