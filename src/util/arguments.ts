/**
 * Parsers of numeric command-line arguments for commander: each refuses what
 * is not a number in its range with a message naming the value and the limit.
 */
import { InvalidArgumentError } from 'commander';

/** An integer ≥ `min` (decimal digits only). */
export function integerAtLeast(min: number): (v: string) => number {
  return (v) => {
    const x = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(x) || x < min) throw new InvalidArgumentError(`'${v}' is not an integer >= ${min}.`);
    return x;
  };
}

/** A finite number ≥ `min`. */
export function numberAtLeast(min: number): (v: string) => number {
  return (v) => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x) || x < min) throw new InvalidArgumentError(`'${v}' is not a number >= ${min}.`);
    return x;
  };
}
