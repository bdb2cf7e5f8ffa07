/** One package as found by scripts/ensure-system-packages.mjs. */
export interface FoundPackage {
  readonly package: string;
  /** The installed version, or null where dpkg does not know the package (a program found on PATH). */
  readonly version: string | null;
  readonly minVersion?: string;
}

/** The line scripts/ensure-system-packages.mjs says when every package it checks is present. */
export function presentLine(found: readonly FoundPackage[], options: { readonly group: string | null; readonly check: boolean }): string;
