/**
 * Tenant, app and function names: what may become a directory in the region
 * tree and a token of a journal subject. One rule, used by vFunD's decisions,
 * its configuration and the region tree.
 */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
export const NAME_MAX = 63;

/** Why a name is refused (naming the field and the limit), or null. */
export function checkName(field: string, value: unknown): string | null {
  if (typeof value !== 'string') return `${field} must be a string`;
  if (value.length === 0 || value.length > NAME_MAX) return `${field} must be 1..${NAME_MAX} characters, got ${value.length}`;
  if (!NAME_PATTERN.test(value)) return `${field} may only hold letters, digits, '-' and '_' and must start with a letter or digit`;
  return null;
}
