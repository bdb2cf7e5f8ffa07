/**
 * Entry of the catalogue process (driver-catalogue.ts): import each driver
 * module named on the command line (a JSON array of `{ specifier, url }`),
 * and tell the parent over the IPC channel which drivers each defines, or
 * why it could not be loaded; then exit. vFunD runs this in a child so that a
 * module's top-level code (a crash, a hang, a native library) never runs in
 * vFunD itself.
 */
import { fileURLToPath } from 'node:url';
import { messageOf } from '../errors.js';
import { DriverModuleError, loadDriverModule, nothingDefined } from '../drivers/modules.js';
import type { CatalogueMessage } from './driver-catalogue.js';

const send = (m: CatalogueMessage): Promise<void> =>
  new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send!(m, undefined, undefined, () => resolve());
  });

const modules = JSON.parse(process.argv[2] ?? '[]') as { specifier: string; url: string }[];
for (const [i, m] of modules.entries()) {
  await send({ type: 'loading', module: i });
  try {
    const loaded = await loadDriverModule(m.url, m.specifier);
    const drivers = loaded.definitions.map((d) => ({ ...d.meta, input: { ...d.meta.input } }));
    if (drivers.length === 0) throw new DriverModuleError(m.specifier, fileURLToPath(m.url), nothingDefined(loaded.namespace));
    await send({ type: 'loaded', module: i, drivers });
  } catch (e) {
    const message = e instanceof DriverModuleError ? e.message : `driver module '${m.specifier}' (${fileURLToPath(m.url)}): ${messageOf(e)}`;
    await send({ type: 'failed', module: i, message });
  }
}
// A module's timers or handles do not keep the catalogue alive.
process.exit(0);
