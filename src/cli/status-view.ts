/**
 * `vfun status` and `vfun top` as text (pure): a host's HostStatus rendered
 * for a terminal of a given width. A header (host, pid, version, uptime,
 * whether it admits new instances, the journal), then tables: live
 * instances, slots per function and kind, devices, tenants' quotas, and the
 * calls since vFunD started. Every line fits the width (120 columns and far
 * less): long names are cut with an ellipsis, and in a narrow terminal the
 * least needed columns go first. `--json` gives everything, uncut.
 */
import Table from 'cli-table3';
import { quantileNs } from '../dataplane/latency-histogram.js';
import type { HostStatus, InstanceStatus, LatencyHistogram } from '../daemon/status.js';
import { humanDuration, humanNs, textWidth, truncate } from './human.js';

export interface RenderOptions {
  /** Columns of the terminal (process.stdout.columns); 120 when not a terminal. */
  readonly width: number;
}

/** The width used when stdout is not a terminal. */
export const DEFAULT_WIDTH = 120;
/** Instance ids (`i<n>`) are cut to no less than this; `--json` has them whole. */
export const SHORT_ID = 8;

/** A column: its heading, how narrow its cells may be cut, and when it is dropped for lack of room. */
interface Column {
  readonly head: string;
  /** Cells are cut to no less than this; numbers are never cut (min Infinity). */
  readonly min: number;
  readonly right?: boolean;
  /** Dropped when even the narrowest cut does not fit: the highest first; never when absent. */
  readonly drop?: number;
}

const SEPARATOR = '  ';
const NO_BORDERS = {
  top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
  left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: SEPARATOR,
};

/**
 * A borderless table of `rows` (cells as text) that fits `width` when it can:
 * the column with the most room above its minimum is narrowed one character
 * at a time, then the droppable columns go, highest `drop` first.
 */
export function fitTable(columns: readonly Column[], rows: readonly (readonly string[])[], width: number): string {
  let keep = columns.map((_, i) => i);
  let widths: number[] = [];
  for (;;) {
    widths = keep.map((c) => Math.max(textWidth(columns[c]!.head), ...rows.map((r) => textWidth(r[c] ?? ''))));
    const total = (): number => widths.reduce((a, b) => a + b, 0) + SEPARATOR.length * (widths.length - 1);
    let over = total() - width;
    while (over > 0) {
      let widest = -1;
      for (let k = 0; k < keep.length; k++) {
        const slack = widths[k]! - columns[keep[k]!]!.min;
        if (slack > 0 && (widest === -1 || slack > widths[widest]! - columns[keep[widest]!]!.min)) widest = k;
      }
      if (widest === -1) break;
      widths[widest]!--;
      over--;
    }
    const droppable = keep.filter((c) => columns[c]!.drop !== undefined);
    if (over <= 0 || droppable.length === 0) break;
    const first = droppable.reduce((a, b) => (columns[b]!.drop! > columns[a]!.drop! ? b : a));
    keep = keep.filter((c) => c !== first);
  }
  const table = new Table({
    head: keep.map((c, k) => truncate(columns[c]!.head, widths[k]!)),
    chars: NO_BORDERS,
    colAligns: keep.map((c) => (columns[c]!.right === true ? 'right' : 'left')),
    style: { 'padding-left': 0, 'padding-right': 0, head: [], border: [], compact: true },
  });
  for (const r of rows) table.push(keep.map((c, k) => truncate(r[c] ?? '', widths[k]!)));
  return table.toString();
}

/** p50 and p99 of a histogram, humanised (`-` when nothing was timed). */
function quantiles(h: LatencyHistogram | null): [string, string] {
  if (h === null) return ['-', '-'];
  const at = (q: number): string => {
    const v = quantileNs(h, q);
    return v === null ? '-' : humanNs(v);
  };
  return [at(0.5), at(0.99)];
}

/** A URL without the user and password it may carry (`nats://user:pass@host` → `nats://host`). */
export function withoutCredentials(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, '$1');
}

function guestOf(i: InstanceStatus): string {
  return i.guest === null ? '-' : `${i.guest.pid}/${i.guest.uid}`;
}

const INSTANCE_COLUMNS: readonly Column[] = [
  { head: 'instance', min: SHORT_ID, drop: 3 },
  { head: 'tenant', min: 6 },
  { head: 'app', min: 4, drop: 2 },
  { head: 'fn', min: 6 },
  { head: 'kind', min: 4 },
  { head: 'phase', min: 11 },
  { head: 'age', min: Infinity, right: true, drop: 5 },
  { head: 'guest pid/uid', min: Infinity, right: true, drop: 6 },
  { head: 'calls', min: Infinity, right: true },
  { head: 'errors', min: Infinity, right: true, drop: 4 },
  { head: 'p50', min: Infinity, right: true, drop: 1 },
  { head: 'p99', min: Infinity, right: true },
];

const SLOT_COLUMNS: readonly Column[] = [
  { head: 'fn', min: 6 },
  { head: 'kind', min: 4 },
  { head: 'device', min: 6, drop: 1 },
  { head: 'used', min: Infinity, right: true },
  { head: 'free', min: Infinity, right: true },
  { head: 'slots', min: Infinity, right: true },
];

const DEVICE_COLUMNS: readonly Column[] = [
  { head: 'device', min: 8 },
  { head: 'type', min: 3, drop: 2 },
  { head: 'state', min: Infinity },
  { head: 'used', min: Infinity, right: true },
  { head: 'free', min: Infinity, right: true },
  { head: 'slots', min: Infinity, right: true },
  { head: 'adapter / why', min: 12, drop: 1 },
];

const TENANT_COLUMNS: readonly Column[] = [
  { head: 'tenant', min: 8 },
  { head: 'instances', min: Infinity, right: true },
  { head: 'quota', min: Infinity, right: true },
  { head: 'state', min: Infinity },
];

const TOTAL_COLUMNS: readonly Column[] = [
  { head: 'tenant', min: 6 },
  { head: 'fn', min: 6 },
  { head: 'kind', min: 4 },
  { head: 'calls', min: Infinity, right: true },
  { head: 'errors', min: Infinity, right: true, drop: 2 },
  { head: 'p50', min: Infinity, right: true, drop: 1 },
  { head: 'p99', min: Infinity, right: true },
];

/** Parts joined with ` · `, a new line started where the next part would pass the width. */
function packed(parts: readonly string[], width: number): string[] {
  const out: string[] = [];
  for (const p of parts) {
    const last = out.length - 1;
    if (last >= 0 && textWidth(out[last]!) + 3 + textWidth(p) <= width) out[last] += ` · ${p}`;
    else out.push(p);
  }
  return out;
}

/** The header: who, since when, whether it admits new instances, and its journal. */
function header(s: HostStatus, width: number): string[] {
  const j = s.journal;
  const checkpoint = j.lastCheckpoint === null ? 'none yet' : `seq ${j.lastCheckpoint.seq} at ${j.lastCheckpoint.at}`;
  return [
    ...packed([`vFunD on ${s.host}`, `pid ${s.pid}`, `virtfun ${s.version}`, s.accepting ? 'accepting' : 'DRAINING: no new negotiations'], width),
    ...packed([`up ${humanDuration(s.uptimeMs)} (since ${s.startedAt})`, `last checkpoint ${checkpoint}`], width),
    ...packed([`journal ${withoutCredentials(j.url)}`, `head ${j.head ?? 'none (empty)'}`, `outbox ${j.outboxDepth}`, j.available ? 'available' : 'UNAVAILABLE: no new negotiations'], width),
  ];
}

/** A section: its title, then its table or a line saying there is nothing. */
function section(title: string, count: number, table: () => string): string[] {
  return count === 0 ? [`${title}: none`] : [`${title} (${count})`, table()];
}

/** The whole status as text, every line at most `opts.width` characters (as far as the columns allow: 60 and more do). */
export function renderStatus(status: HostStatus, opts: RenderOptions): string {
  const width = Number.isFinite(opts.width) ? Math.max(20, Math.floor(opts.width)) : DEFAULT_WIDTH;
  const instances = status.instances.map((i) => [
    i.id,
    i.tenant,
    i.app,
    i.fn,
    i.kind,
    i.phase,
    i.ageMs === null ? '-' : humanDuration(i.ageMs),
    guestOf(i),
    String(i.calls),
    String(i.errors),
    ...quantiles(i.latency),
  ]);
  const slots = status.slots.map((x) => [x.fn, x.kind, x.device ?? '-', String(x.inUse), String(Math.max(0, x.slots - x.inUse)), String(x.slots)]);
  const devices = status.devices.map((d) => [d.name, d.type, d.available ? 'available' : 'UNAVAILABLE', String(d.inUse), String(Math.max(0, d.slots - d.inUse)), String(d.slots), d.detail]);
  const tenants = status.tenants.map((t) => [t.id, String(t.instances), String(t.maxInstances), t.disabled ? 'DISABLED' : t.draining ? 'draining' : 'enabled']);
  const totals = status.totals.map((t) => [t.tenant, t.fn, t.kind, String(t.calls), String(t.errors), ...quantiles(t.latency)]);
  const lines = [
    ...header(status, width),
    '',
    ...section('instances', instances.length, () => fitTable(INSTANCE_COLUMNS, instances, width)),
    '',
    ...section('slots', slots.length, () => fitTable(SLOT_COLUMNS, slots, width)),
    ...(devices.length === 0 ? [] : ['', ...section('devices', devices.length, () => fitTable(DEVICE_COLUMNS, devices, width))]),
    '',
    ...section('tenants', tenants.length, () => fitTable(TENANT_COLUMNS, tenants, width)),
    '',
    ...section('calls since start', totals.length, () => fitTable(TOTAL_COLUMNS, totals, width)),
  ];
  return lines
    .join('\n')
    .split('\n')
    .map((l) => truncate(l.trimEnd(), width))
    .join('\n');
}
