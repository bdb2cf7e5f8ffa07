/**
 * The guest's network on QEMU's user-mode stack (slirp): a virtio-net NIC
 * (qemu-args.ts, `net: { mode: 'user' }`) that the guest brings up with a
 * static address, so that no DHCP client script is needed in the initramfs.
 * QEMU forwards the guest's connections to USER_NET_HOST to the host's
 * loopback: a server listening on 127.0.0.1 is reached from the guest at
 * 10.0.2.2 and the same port, through the guest's kernel TCP stack, the
 * virtio-net device and QEMU's own TCP/IP stack, as a network path would be.
 */

/** Modules the guest loads for the NIC (virtio_pci, which it needs too, is loaded for virtio-serial). */
export const USER_NET_MODULES = ['virtio_net'] as const;
/** The host's loopback as the guest sees it. */
export const USER_NET_HOST = '10.0.2.2';
/** The guest's address (QEMU's default for user networking). */
export const USER_NET_GUEST = '10.0.2.15';

/**
 * Shell lines (busybox `ip`) that bring the guest's first NIC up with USER_NET_GUEST/24 and a
 * default route through USER_NET_HOST; they fail the payload (exit 3) with a message when there is no NIC.
 */
export function userNetSetup(): string {
  return [
    '_nic=$(ls /sys/class/net | grep -v "^lo$" | head -n 1)',
    '[ -n "$_nic" ] || { echo "vfun: no network interface (virtio_net not loaded?)" >&2; exit 3; }',
    'ip link set lo up',
    'ip link set "$_nic" up',
    `ip addr add ${USER_NET_GUEST}/24 dev "$_nic"`,
    `ip route add default via ${USER_NET_HOST}`,
    '',
  ].join('\n');
}
