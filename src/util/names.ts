/**
 * Tenant, app and function names: what may become a directory in the region
 * tree and a token of a journal subject. One rule, used by vFunD's decisions,
 * its configuration and the region tree.
 */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
/** Longest name accepted (tenant, app, function, instance…), in characters. */
export const NAME_MAX = 63;

/** Why a name is refused (naming the field and the limit), or null. */
export function checkName(field: string, value: unknown): string | null {
  if (typeof value !== 'string') return `${field} must be a string`;
  // The message does not quote the length: journaled refusals clip hostile values, and replay must
  // recompute the same message from the clipped value.
  if (value.length === 0) return `${field} must not be empty (1..${NAME_MAX} characters)`;
  if (value.length > NAME_MAX) return `${field} is longer than ${NAME_MAX} characters`;
  if (!NAME_PATTERN.test(value)) return `${field} may only hold letters, digits, '-' and '_' and must start with a letter or digit`;
  return null;
}
