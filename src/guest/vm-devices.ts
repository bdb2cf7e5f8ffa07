/**
 * Inside a VM: where the control port and the window are. The control port
 * is the virtio-serial port whose name (in /sys/class/virtio-ports/*\/name)
 * is `vfun.control`; the window is BAR 2 (`resource2`) of the ivshmem-plain
 * PCI device 1af4:1110 (docs/region-format.md §13).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VirtFunError } from '../errors.js';

export const CONTROL_PORT_NAME = 'vfun.control';
export const IVSHMEM_VENDOR = '0x1af4';
export const IVSHMEM_DEVICE = '0x1110';

const read = (p: string): string | null => {
  try {
    return readFileSync(p, 'utf8').trim();
  } catch {
    return null;
  }
};

/** The /dev path of the virtio-serial port called `name`. */
export function findVirtioPort(name: string = CONTROL_PORT_NAME, sys = '/sys/class/virtio-ports'): string {
  const ports = existsSync(sys) ? readdirSync(sys) : [];
  for (const port of ports) if (read(join(sys, port, 'name')) === name) return join('/dev', port);
  throw new VirtFunError('CHANNEL_CLOSED', `no virtio-serial port named '${name}' (${ports.length === 0 ? `no ${sys}: is virtio_console loaded?` : `ports: ${ports.join(', ')}`})`);
}

/** The `resource2` file of the first ivshmem-plain device: the VM's window. */
export function findIvshmemWindow(sys = '/sys/bus/pci/devices'): string {
  const devices = existsSync(sys) ? readdirSync(sys) : [];
  for (const d of devices) {
    if (read(join(sys, d, 'vendor')) === IVSHMEM_VENDOR && read(join(sys, d, 'device')) === IVSHMEM_DEVICE) return join(sys, d, 'resource2');
  }
  throw new VirtFunError('REGION', `no ivshmem device (${IVSHMEM_VENDOR}:${IVSHMEM_DEVICE}) under ${sys}: is the VM started with -device ivshmem-plain?`);
}
