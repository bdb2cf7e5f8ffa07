/**
 * deploy/grafana/virtfun-dashboard.json queries only what the exporter publishes: every PromQL
 * expression in it (panels' targets and the variables' label_values selectors, with Grafana's
 * variables interpolated as Grafana would) parses with Prometheus's own grammar
 * (@prometheus-io/lezer-promql) without an error node, and every metric it selects is a family of
 * src/daemon/metrics-families.ts (a histogram's `_bucket`, `_sum`, `_count` series included).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { describe, expect, it } from 'vitest';
import { METRIC_FAMILIES } from '../../src/daemon/metrics-families.js';

const ROOT = join(import.meta.dirname, '../..');

interface Target {
  readonly expr: string;
}
interface Panel {
  readonly type: string;
  readonly title: string;
  readonly targets?: readonly Target[];
}
interface Dashboard {
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly { readonly name: string; readonly type: string; readonly definition?: string }[] };
}

const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/virtfun-dashboard.json'), 'utf8')) as Dashboard;

/** The series names the exporter publishes. */
const published = new Set(METRIC_FAMILIES.flatMap((f) => (f.type === 'histogram' ? ['_bucket', '_sum', '_count'].map((s) => f.name + s) : [f.name])));

/** Grafana's interval variables as it interpolates them before sending a query (template variables stay inside their strings). */
function interpolate(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5m').replaceAll('$__interval', '1m').replaceAll('$__range', '1h');
}

/** Parse one PromQL expression: its syntax errors (as the offending text) and the metric names it selects. */
function parsePromQL(expr: string): { errors: string[]; metrics: string[] } {
  const text = interpolate(expr);
  const errors: string[] = [];
  const metrics: string[] = [];
  parser.parse(text).iterate({
    enter(n) {
      if (n.type.isError) errors.push(`at ${n.from}: '${text.slice(n.from, n.to + 10)}'`);
      if (n.name === 'Identifier' && n.node.parent?.name === 'VectorSelector') metrics.push(text.slice(n.from, n.to));
      // {__name__="…"} selects by name too.
      if (n.name === 'UnquotedLabelMatcher' && text.slice(n.from, n.to).startsWith('__name__')) metrics.push(/"([^"]*)"/.exec(text.slice(n.from, n.to))?.[1] ?? '');
    },
  });
  return { errors, metrics };
}

/** Every PromQL expression of the dashboard, with where it is. */
function expressions(d: Dashboard): { where: string; expr: string }[] {
  const out = d.panels.flatMap((p) => (p.targets ?? []).map((t, i) => ({ where: `panel "${p.title}" target ${i}`, expr: t.expr })));
  for (const v of d.templating.list) {
    if (v.type !== 'query' || v.definition === undefined) continue;
    const inner = /^label_values\((.*),\s*[a-zA-Z_]\w*\)$/.exec(v.definition)?.[1];
    expect(inner, `variable ${v.name}: ${v.definition}`).toBeDefined();
    out.push({ where: `variable ${v.name}`, expr: inner! });
  }
  return out;
}

describe('the Grafana dashboard', () => {
  it('has panels, each with a query (rows aside)', () => {
    const panels = dashboard.panels.filter((p) => p.type !== 'row');
    expect(panels.length).toBeGreaterThan(10);
    for (const p of panels) expect(p.targets?.length ?? 0, p.title).toBeGreaterThan(0);
  });

  it('every PromQL expression parses and selects only metrics the exporter defines', () => {
    const all = expressions(dashboard);
    expect(all.length).toBeGreaterThan(15);
    const used = new Set<string>();
    for (const { where, expr } of all) {
      const { errors, metrics } = parsePromQL(expr);
      expect(errors, `${where}: ${expr}`).toEqual([]);
      expect(metrics.length, `${where} selects no metric: ${expr}`).toBeGreaterThan(0);
      for (const m of metrics) {
        expect(published.has(m), `${where} queries ${m}, which the exporter does not publish`).toBe(true);
        used.add(m);
      }
    }
    // What the dashboard is for: calls, errors, latency, instances, slots, the journal.
    for (const m of ['vfun_calls_total', 'vfun_call_errors_total', 'vfun_call_latency_seconds_bucket', 'vfun_instances', 'vfun_slots', 'vfun_slots_in_use', 'vfun_journal_available', 'vfun_journal_outbox_events', 'vfun_journal_checkpoint_age_seconds']) {
      expect(used.has(m), m).toBe(true);
    }
    expect(all.filter((e) => /histogram_quantile\(0\.5,/.test(e.expr))).toHaveLength(1);
    expect(all.filter((e) => /histogram_quantile\(0\.99,/.test(e.expr))).toHaveLength(1);
  });

  it('the check itself finds a syntax error and an unknown metric', () => {
    expect(parsePromQL('sum by (tenant (rate(vfun_calls_total[5m]))').errors).not.toEqual([]);
    expect(parsePromQL('rate(vfun_calls_total[$__rate_interval])').errors).toEqual([]);
    const { metrics } = parsePromQL('sum(rate(vfun_callz_total{instance=~"$instance"}[5m])) / on (tenant) vfun_slots');
    expect(metrics).toEqual(['vfun_callz_total', 'vfun_slots']);
    expect(published.has('vfun_callz_total')).toBe(false);
  });
});
