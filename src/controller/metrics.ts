// Prometheus metrics on a registry of our own (no global state). The project's metrics carry the project prefix;
// the process and Node.js runtime metrics keep their standard names (process_resident_memory_bytes,
// nodejs_heap_size_used_bytes), so stock dashboards and alerts find them.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AzureRequestInfo } from '../azure/store.ts';
import { buildInfo, type BuildInfo } from '../support/build-info.ts';
import type { SyncReport } from './report.ts';

export const METRIC_PREFIX = 'azure_route_controller_';

export type Metrics = ReturnType<typeof createMetrics>;

/** The `route_table` label: unique per table, as two tables of one name may live in two resource groups. */
export function routeTableLabel(table: { resourceGroup: string; name: string }): string {
  return `${table.resourceGroup}/${table.name}`;
}

export function createMetrics(options: { processMetrics?: boolean; build?: BuildInfo } = {}) {
  const registry = new Registry();
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });
  // Spread in this order so that /metrics lists them in the order they have always been registered in.
  const m = {
    registry,
    ...reconcileMetrics(registry),
    ...azureMetrics(registry),
    ...routeTableMetrics(registry),
    ...replicaMetrics(registry),
  };
  m.leader.set(0);
  const build = options.build ?? buildInfo();
  m.buildInfo.set({ version: build.version, commit: build.commit, node: process.versions.node }, 1);
  return m;
}

function reconcileMetrics(registry: Registry) {
  return {
    buildInfo: new Gauge({
      name: `${METRIC_PREFIX}build_info`,
      help: 'Always 1; the labels say which build runs: version (package.json), commit (git), Node.js version.',
      labelNames: ['version', 'commit', 'node'] as const,
      registers: [registry],
    }),
    reconciles: new Counter({
      name: `${METRIC_PREFIX}reconciles_total`,
      help: 'Reconciles, by result: in_sync, applied, incomplete (refused nodes, conflicts, routes over the limit or routes Azure refused remain), failed (Azure or Kubernetes failed; retried with backoff).',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: `${METRIC_PREFIX}reconcile_duration_seconds`,
      help: 'Time from the start of a reconcile to its end, including Azure long-running operations.',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers: [registry],
    }),
  };
}

function azureMetrics(registry: Registry) {
  return {
    azureRequests: new Counter({
      name: `${METRIC_PREFIX}azure_requests_total`,
      help: 'HTTP requests to Azure Resource Manager, by operation and status code (0: no response).',
      labelNames: ['operation', 'code'] as const,
      registers: [registry],
    }),
    azureRequestDuration: new Histogram({
      name: `${METRIC_PREFIX}azure_request_duration_seconds`,
      help: 'Latency of one HTTP request to Azure Resource Manager (each SDK retry and each poll is one), by operation and status code (0: no response).',
      labelNames: ['operation', 'code'] as const,
      buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    throttleWait: new Counter({
      name: `${METRIC_PREFIX}azure_throttle_wait_seconds_total`,
      help: 'Time spent waiting on Azure throttling (Retry-After of 429 and RetryableErrorDueToAnotherOperation).',
      registers: [registry],
    }),
  };
}

function routeTableMetrics(registry: Registry) {
  return {
    tableWrites: new Counter({
      name: `${METRIC_PREFIX}route_table_writes_total`,
      help: 'Whole-table PUTs that Azure confirmed as Succeeded, by route table.',
      labelNames: ['route_table'] as const,
      registers: [registry],
    }),
    routes: new Gauge({
      name: `${METRIC_PREFIX}routes`,
      help: 'Routes per table and state after the last reconcile: keep, create, update, delete, conflict, over_limit, rejected (refused by Azure, set aside), foreign.',
      labelNames: ['route_table', 'state'] as const,
      registers: [registry],
    }),
    tableRedrives: new Counter({
      name: `${METRIC_PREFIX}route_table_redrives_total`,
      help: 'Route tables found not Succeeded (a failed or interrupted write) and re-written as they stand, by route table.',
      labelNames: ['route_table'] as const,
      registers: [registry],
    }),
    conflicts: new Gauge({
      name: `${METRIC_PREFIX}route_conflicts`,
      help: 'Desired routes blocked by a foreign route (same prefix or name), over all tables, at the last reconcile.',
      registers: [registry],
    }),
    nodesSkipped: new Gauge({
      name: `${METRIC_PREFIX}nodes_skipped`,
      help: 'Node pod CIDRs that got no route at the last reconcile, by reason.',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    tableUnassociated: new Gauge({
      name: `${METRIC_PREFIX}route_table_without_subnet`,
      help: '1 when the route table is associated with no subnet, so its routes have no effect.',
      labelNames: ['route_table'] as const,
      registers: [registry],
    }),
  };
}

function replicaMetrics(registry: Registry) {
  return {
    leader: new Gauge({
      name: `${METRIC_PREFIX}is_leader`,
      help: '1 when this replica holds the leader Lease and may write, else 0. A standby never syncs, so read the staleness metrics with it: is_leader == 1 and ...',
      registers: [registry],
    }),
    lastSuccess: new Gauge({
      name: `${METRIC_PREFIX}last_successful_sync_timestamp_seconds`,
      help: 'Unix time of the last reconcile that left every table in sync; 0 before the first. Only the leader syncs: alert on it together with is_leader == 1.',
      registers: [registry],
    }),
    watchEvents: new Counter({
      name: `${METRIC_PREFIX}node_events_total`,
      help: 'Node watch events, by type, and whether they triggered a reconcile.',
      labelNames: ['type', 'relevant'] as const,
      registers: [registry],
    }),
  };
}

/** Records one HTTP attempt to Azure: the count, the latency, and time Azure asked us to wait. */
export function observeAzureRequest(metrics: Metrics, info: AzureRequestInfo): void {
  const labels = { operation: info.operation, code: String(info.status ?? 0) };
  metrics.azureRequests.inc(labels);
  metrics.azureRequestDuration.observe(labels, info.durationMs / 1000);
  if (info.retryAfterMs !== undefined && (info.status === 429 || info.status === 409)) {
    metrics.throttleWait.inc(info.retryAfterMs / 1000);
  }
}

const STATES = [
  'keep',
  'create',
  'update',
  'delete',
  'conflict',
  'over_limit',
  'rejected',
  'foreign',
] as const;
const SKIP_REASONS = [
  'NoPodCIDR',
  'UnmanagedNode',
  'InvalidPodCIDR',
  'HostBitsSet',
  'OutsideClusterCIDR',
  'PrefixTooBroad',
  'NoInternalIP',
  'DuplicatePodCIDR',
  'OverlappingPodCIDR',
  'CoversClusterCIDR',
] as const;

/** Records a finished reconcile. */
export function observeReport(metrics: Metrics, report: SyncReport, nowMs: number): void {
  const s = report.summary;
  const failed = s.failedTables > 0 || report.conditions.some((c) => c.result === 'failed');
  const result = failed
    ? 'failed'
    : s.conflict + s.overLimit + s.refused + s.rejected > 0
      ? 'incomplete'
      : s.writes > 0
        ? 'applied'
        : 'in_sync';
  metrics.reconciles.inc({ result });
  metrics.reconcileDuration.observe(report.durationMs / 1000);
  for (const t of report.tables) {
    const table = routeTableLabel(t);
    const counts: Record<(typeof STATES)[number], number> = {
      keep: t.actions.keep.length,
      create: t.actions.create.length,
      update: t.actions.update.length,
      delete: t.actions.delete.length,
      conflict: t.actions.conflict.length,
      over_limit: t.actions.overLimit.length,
      rejected: t.rejected.length,
      foreign: t.foreignRoutes,
    };
    for (const state of STATES) metrics.routes.set({ route_table: table, state }, counts[state]);
    if (t.writes > 0) metrics.tableWrites.inc({ route_table: table }, t.writes);
    // Counted only once the re-drive is written: a dry run, or a PUT that failed, recovered nothing.
    if (t.redrive && t.writes > 0) metrics.tableRedrives.inc({ route_table: table });
    if (t.subnetCount !== undefined)
      metrics.tableUnassociated.set({ route_table: table }, t.subnetCount === 0 ? 1 : 0);
  }
  metrics.conflicts.set(report.summary.conflict);
  for (const reason of SKIP_REASONS) {
    metrics.nodesSkipped.set({ reason }, report.skipped.filter((s) => s.reason === reason).length);
  }
  if (report.tables.every((t) => t.status === 'InSync' || t.status === 'Applied')) {
    metrics.lastSuccess.set(nowMs / 1000);
  }
}
