/**
 * Numbers as an operator reads them (pure): latencies (`850 ns`, `1.2 µs`,
 * `35 µs`, `4.1 ms`), durations (`850 ms`, `42 s`, `3 m 4 s`, `2 h 5 m`,
 * `3 d 4 h`), and text cut to a width with an ellipsis.
 */

/** Three significant figures at most: one decimal below 10, none above (`1.2`, `35`, `350`). */
function short(v: number): string {
  return v < 9.95 ? v.toFixed(1) : String(Math.round(v));
}

/** A latency in ns, in the unit that keeps it short. */
export function humanNs(ns: number): string {
  if (!Number.isFinite(ns) || ns < 0) return '-';
  if (ns < 999.5) return `${Math.round(ns)} ns`;
  if (ns < 999_500) return `${short(ns / 1e3)} µs`;
  if (ns < 999_500_000) return `${short(ns / 1e6)} ms`;
  return `${short(ns / 1e9)} s`;
}

/** A duration in ms, as its two largest units (`3 m 4 s`, `2 h 5 m`), or ms below a second. */
export function humanDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.floor(ms)} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${m % 60} m`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** Characters as a terminal counts them (code points: `µ` and `…` are one each). */
export function textWidth(s: string): number {
  return [...s].length;
}

/** `s` cut to `width` characters, its last one an ellipsis when something was cut. */
export function truncate(s: string, width: number): string {
  const chars = [...s];
  if (chars.length <= width) return s;
  if (width <= 0) return '';
  return chars.slice(0, width - 1).join('') + '…';
}
