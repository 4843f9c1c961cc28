// The operations kit against the real /metrics: the chart's PrometheusRule and Grafana dashboard name only
// metrics the controller exports, the staleness alerts hold only for the leader, and the metrics keep the names
// and labels the README promises (standard process/runtime names, route_table = resourceGroup/name, build_info,
// is_leader, the Azure latency histogram).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHART, template } from '../chart/helm.ts';
import { RESOURCE_GROUP, TABLE, startSandbox, worker, type Sandbox } from '../support/sandbox.ts';
import { parseMetrics, startTestController, type TestController } from '../support/controller.ts';
import { buildInfo } from '../../src/support/build-info.ts';

const SUB = '00000000-0000-0000-0000-000000000001';

/** The metric names an exposition declares (`# TYPE`), with a histogram's _bucket, _sum and _count series. */
function exportedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m;
    names.add(name!);
    if (type === 'histogram' || type === 'summary') {
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name!}${suffix}`);
    }
  }
  return names;
}

const PROMQL_WORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  // Aggregation operators, which may be followed by `by (...)` or `without (...)` rather than their argument.
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
]);

/** The metric names a PromQL expression reads: identifiers that are not functions, keywords or label names. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '$1');
  const names: string[] = [];
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?/g)) {
    if (m[1] !== undefined) continue; // a function or an aggregation
    if (PROMQL_WORDS.has(m[0])) continue;
    if (/^\d/.test(m[0])) continue;
    names.push(m[0]);
  }
  return names;
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
}
interface Dashboard {
  panels: { title: string; targets: { expr: string }[] }[];
  templating: { list: { name: string; query?: string | { query: string } }[] };
}

let sb: Sandbox;
let controller: TestController;
let metricsText: string;
let rules: Rule[];
let dashboard: Dashboard;

beforeAll(async () => {
  sb = await startSandbox({
    // worker-1 is outside the cluster CIDR, so nodes_skipped has a reason with a non-zero value.
    nodes: [worker(0), worker(1, { podCIDRs: ['10.99.1.0/24'] }), worker(2)],
  });
  controller = await startTestController(sb);
  // One reconcile that read and wrote the table is enough for every labelled series to exist.
  await waitFor(async () => {
    const text = await (await fetch(`${controller.server.url}/metrics`)).text();
    const samples = parseMetrics(text);
    expect(samples.some((s) => s.name === 'azure_route_controller_route_table_writes_total')).toBe(true);
    metricsText = text;
  });
  const rendered = await template({
    clusterCIDRs: ['10.200.0.0/16'],
    azure: { subscriptionId: SUB, resourceGroup: RESOURCE_GROUP, routeTables: [TABLE] },
    prometheusRule: { enabled: true },
    grafanaDashboard: { enabled: true },
  });
  const rule = rendered.manifests.find((m) => m.kind === 'PrometheusRule') as unknown as {
    spec: { groups: { rules: Rule[] }[] };
  };
  rules = rule.spec.groups.flatMap((g) => g.rules);
  const configMap = rendered.manifests.find((m) => m.metadata.name.endsWith('-dashboard')) as unknown as {
    data: Record<string, string>;
  };
  dashboard = JSON.parse(configMap.data['azure-route-controller.json']!) as Dashboard;
}, 60_000);

afterAll(async () => {
  await controller?.stop();
  await sb?.close();
});

async function waitFor(check: () => Promise<void>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe('the PrometheusRule', () => {
  it('has the five alerts, each with a runbook section in the chart README', () => {
    const alerts = rules.map((r) => r.alert);
    expect(alerts).toEqual([
      'AzureRouteControllerNoSuccessfulSync',
      'AzureRouteControllerNodesWithoutRoute',
      'AzureRouteControllerRouteConflicts',
      'AzureRouteControllerAzureThrottled',
      'AzureRouteControllerNoLeader',
    ]);
    const readme = readFileSync(join(CHART, 'README.md'), 'utf8');
    for (const alert of alerts) expect(readme).toContain(`\n### ${alert}\n`);
  });

  it('names only metrics that /metrics exports', () => {
    const exported = exportedNames(metricsText);
    for (const rule of rules) {
      const names = metricNames(rule.expr);
      expect(names.length, rule.alert).toBeGreaterThan(0);
      for (const name of names) expect(exported, `${rule.alert}: ${name}`).toContain(name);
    }
  });

  it('holds the sync-state alerts to the leader, so a healthy standby never fires one', () => {
    const stateMetrics = /last_successful_sync|nodes_skipped|route_conflicts|_routes\{/;
    const state = rules.filter((r) => stateMetrics.test(r.expr));
    expect(state.map((r) => r.alert)).toHaveLength(3);
    for (const rule of state)
      expect(rule.expr, rule.alert).toMatch(/\band azure_route_controller_is_leader\{[^}]*\} == 1$/);
  });
});

describe('the Grafana dashboard', () => {
  it('parses, and every panel query and variable names only metrics that /metrics exports', () => {
    const exported = exportedNames(metricsText);
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ where: p.title, expr: t.expr })));
    expect(exprs.length).toBeGreaterThan(10);
    for (const v of dashboard.templating.list) {
      const q = typeof v.query === 'string' ? v.query : v.query?.query;
      const m = q === undefined ? null : /^label_values\(([^,)]+)/.exec(q);
      if (m) exprs.push({ where: `variable ${v.name}`, expr: m[1]! });
    }
    for (const { where, expr } of exprs) {
      const names = metricNames(expr);
      expect(names.length, where).toBeGreaterThan(0);
      for (const name of names) expect(exported, `${where}: ${name}`).toContain(name);
    }
  });
});

describe('/metrics', () => {
  const value = (name: string, labels: Record<string, string> = {}) =>
    parseMetrics(metricsText).find(
      (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
    );

  it('serves the process and runtime metrics under their standard names, the project metrics under its prefix', () => {
    const exported = exportedNames(metricsText);
    for (const name of [
      'process_resident_memory_bytes',
      'process_cpu_seconds_total',
      'nodejs_heap_size_used_bytes',
    ]) {
      expect(exported).toContain(name);
    }
    expect([...exported].filter((n) => n.startsWith('azure_route_controller_process_'))).toEqual([]);
    const project = [...exported].filter((n) => !/^(process_|nodejs_)/.test(n));
    for (const name of project) expect(name).toMatch(/^azure_route_controller_/);
  });

  it('labels tables by resource group and name, and reports build_info, is_leader and Azure latency', () => {
    expect(
      value('azure_route_controller_routes', { route_table: `${RESOURCE_GROUP}/${TABLE}`, state: 'create' }),
    ).toBeDefined();
    expect(parseMetrics(metricsText).filter((s) => s.labels['route_table'] === TABLE)).toEqual([]);
    const info = buildInfo();
    expect(
      value('azure_route_controller_build_info', { version: info.version, commit: info.commit })?.value,
    ).toBe(1);
    expect(value('azure_route_controller_is_leader')?.value).toBe(1);
    expect(value('azure_route_controller_nodes_skipped', { reason: 'OutsideClusterCIDR' })?.value).toBe(1);
    const latency = value('azure_route_controller_azure_request_duration_seconds_count', {
      operation: 'RouteTables_Get',
      code: '200',
    });
    expect(latency?.value).toBeGreaterThanOrEqual(1);
  });
});
