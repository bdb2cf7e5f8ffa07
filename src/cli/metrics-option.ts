/**
 * `--metrics <host:port>` of `vfun up`: the address parsed by the exporter's
 * own parser (src/daemon/metrics.ts), refused the way commander refuses a bad
 * argument, with the message naming the option.
 */
import { InvalidArgumentError } from 'commander';
import { parseMetricsAddress, type MetricsAddress } from '../daemon/metrics.js';
import { messageOf } from '../errors.js';

/** commander's parser for `--metrics`. */
export function metricsAddressArgument(value: string): MetricsAddress {
  try {
    return parseMetricsAddress(value, '--metrics');
  } catch (err) {
    throw new InvalidArgumentError(messageOf(err));
  }
}
