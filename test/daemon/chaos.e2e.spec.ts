/** A short chaos run: guests and vFunD killed at random; afterwards nothing is lost or doubled. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const exec = promisify(execFile);

it('survives guests and vFunD killed at random with zero lost events', async () => {
  const { stdout } = await exec(process.execPath, [join(import.meta.dirname, '../../dist/bench/chaos.js'), '--seconds', '5', '--guests', '4', '--json']);
  const r = JSON.parse(stdout);
  expect(r.calls).toBeGreaterThan(0);
  expect(r.kills_survived.guest + r.kills_survived.vfund).toBeGreaterThan(0);
  expect(r).toMatchObject({ chain_verified: true, replay_divergence: null, duplicate_event_ids: 0, instances_never_released: 0, orphan_service_processes: 0, lost_events: 0, guest_crashes: 0 });
});
