/**
 * A short hostile chaos run (`chaos --hostile`): hostile tenants attack in a
 * loop (regions, tree, their own processes, their sockets, their quota) while
 * honest tenants call; the honest guests see no error, vFunD never dies, every
 * attack's cause is journaled, and the journal verifies and replays. Run as
 * root, the hostile tenants get an OS user of their own.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { hostileUser, isRoot } from '../support/hostile.js';

const exec = promisify(execFile);

it('hostile tenants attacking for a few seconds cost the honest tenants nothing', async () => {
  if (isRoot) hostileUser();
  const as = isRoot ? ['--as', 'vfun-test-hostile'] : [];
  const { stdout } = await exec(process.execPath, [join(import.meta.dirname, '../../dist/bench/chaos.js'), '--seconds', '8', '--hostile', '--guests', '3', ...as, '--json']);
  const r = JSON.parse(stdout);
  expect(r.honest_calls).toBeGreaterThan(0);
  expect(r.attacks_total).toBeGreaterThan(0);
  expect(r).toMatchObject({
    mode: 'hostile',
    honest_errors: {},
    honest_errors_total: 0,
    honest_guest_crashes: 0,
    attack_outcomes_unexpected: 0,
    causes_missing: 0,
    vfund_restarts: 0,
    vfund_exit: 0,
    chain_verified: true,
    replay_divergence: null,
    duplicate_event_ids: 0,
    instances_never_released: 0,
    orphan_service_processes: 0,
    lost_events: 0,
  });
});
