/** Where a running vFunD's sockets are in its root. */
import { join } from 'node:path';

/** The control socket of a tenant: inside the tenant's own branch of the tree. */
export function controlSocketPath(root: string, tenant: string): string {
  return join(root, 'vmcli', tenant, 'control.sock');
}
