/** The paper's Tables 1 and 2 (seconds, mean of five runs), for comparison. */
import type { PaperFn } from './driver.js';

export type PaperDomain = 'host-host' | 'guest-host' | 'guest-net';
export const PAPER_TABLE_INSTANCES = ['500M x 1', '50M x 10', '5M x 100', '500K x 1k', '250K x 2k'] as const;

export const PAPER_TABLES: Readonly<Record<PaperFn, Readonly<Record<PaperDomain, readonly number[]>>>> = {
  factorial: {
    'host-host': [16.4, 16.45, 16.79, 20.87, 26.02],
    'guest-host': [16.41, 16.57, 16.81, 21.44, 26.54],
    'guest-net': [15.98, 16.52, 20.84, 65.4, 114.81],
  },
  fibonacci: {
    'host-host': [19.68, 19.78, 20.03, 23.92, 29.62],
    'guest-host': [19.69, 19.8, 20.08, 24.87, 30.13],
    'guest-net': [19.18, 19.79, 26.17, 70.99, 118.16],
  },
};

/** The paper's value for a cell, or null when the paper did not run it. */
export function paperValue(fn: PaperFn, domain: string, label: string): number | null {
  const k = (PAPER_TABLE_INSTANCES as readonly string[]).indexOf(label);
  if (k < 0 || !(domain in PAPER_TABLES[fn])) return null;
  return PAPER_TABLES[fn][domain as PaperDomain][k] ?? null;
}
