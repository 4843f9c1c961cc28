// One level-based reconcile: nodes -> desired routes -> a plan per table -> one guarded write per table
// -> node conditions and events. Shared by `sync-routes` (once) and `run` (on every trigger).
import type { Logger } from 'pino';
import { AzureError, tableNotFoundError } from '../azure/errors.ts';
import { syncTable } from '../azure/table-sync.ts';
import { tableId, type RouteTableStore, type TableRef, type TableSnapshot } from '../azure/types.ts';
import { needsConditionPatch, networkCondition, nodeRouteOutcomes } from '../domain/conditions.ts';
import { desiredRoutes } from '../domain/desired.ts';
import { hasChanges, planTable, tableChanges } from '../domain/planner.ts';
import type { DesiredState, NodeInfo, PlannerConfig, Route, TablePlan } from '../domain/types.ts';
import type { EventRecorder, NodeStatusWriter } from '../kube/types.ts';
import { mapLimit } from './concurrency.ts';
import { sleepWith, type Timers } from '../support/timers.ts';
import {
  REPORT_SCHEMA_VERSION,
  type ConditionRow,
  type RouteRow,
  type RunResult,
  type SyncReport,
  type TableReport,
} from './report.ts';

export interface ReconcileOptions {
  readonly planner: PlannerConfig;
  readonly routeTables: readonly TableRef[];
  readonly dryRun: boolean;
  readonly createRouteTable: boolean;
  readonly location?: string | undefined;
  readonly maxWriteAttempts: number;
  readonly allowEmptyNodeList: boolean;
  readonly nodeConditions: boolean;
  /** Include each table's resulting routes in the report (the demo shows them). */
  readonly includeRoutes?: boolean;
  /**
   * Whether to emit a FailedToCreateRoute event for a node whose routes are not in place. sync-routes emits
   * on every run; the controller only when the node's condition changes, so a lasting problem is not spammed.
   */
  readonly events: 'always' | 'onConditionChange';
}

export interface ReconcileDeps {
  readonly store: RouteTableStore;
  readonly status: NodeStatusWriter;
  readonly events: EventRecorder;
  readonly logger: Logger;
  readonly timers: Timers;
  readonly random?: () => number;
}

const EMPTY_PLAN: TablePlan = {
  creates: [],
  updates: [],
  deletes: [],
  keeps: [],
  conflicts: [],
  overLimit: [],
  foreign: [],
};

/** Kubernetes API calls for conditions and events run this many at a time. */
const KUBE_CONCURRENCY = 16;

interface TableOutcome {
  readonly report: TableReport;
  readonly plan: TablePlan;
  /** The plan's creates and updates are in Azure (written and Succeeded, or nothing to write). */
  readonly applied: boolean;
  /** The table could not be read at all, so nothing is known of the routes in it. */
  readonly unread: boolean;
}

export async function reconcile(
  nodes: readonly NodeInfo[],
  options: ReconcileOptions,
  deps: ReconcileDeps,
  signal?: AbortSignal,
): Promise<SyncReport> {
  const started = deps.timers.now();
  const desired = desiredRoutes(nodes, options.planner);
  const withholdDeletes = nodes.length === 0 && !options.allowEmptyNodeList;
  const warnings: string[] = [];
  if (withholdDeletes) {
    warnings.push(
      'the node list is empty, so no route is deleted; if the cluster really has no nodes, pass --allow-empty-node-list',
    );
  }

  const tables = await Promise.all(
    options.routeTables.map((ref) => reconcileTable(ref, desired, withholdDeletes, options, deps, signal)),
  );

  const outcomes = nodeRouteOutcomes(
    nodes,
    desired,
    tables.map((t) => ({
      // A table that could not be read (not found, forbidden, wrong subscription) has no plan; without one,
      // every node's condition would blame "a bug". Treat each desired route as a write that did not happen.
      plan: t.plan === EMPTY_PLAN && !t.applied ? unwrittenPlan(desired) : t.plan,
      applied: t.applied,
      name: t.report.name,
      dryRun: options.dryRun,
      unread: t.unread,
    })),
  );
  // Leadership lost or shutting down: Kubernetes writes stop here too, not only Azure writes.
  signal?.throwIfAborted();
  const conditions = await updateConditions(nodes, outcomes, options, deps, signal);

  const summary = summarise(
    tables.map((t) => t.report),
    desired,
  );
  const failed =
    summary.failedTables > 0 ||
    summary.conflict > 0 ||
    summary.overLimit > 0 ||
    summary.refused > 0 ||
    conditions.some((c) => c.result === 'failed');
  const pending = tables.some(
    (t) => t.report.status === 'WouldApply' || (t.report.created && options.dryRun),
  );
  const result: RunResult = failed
    ? 'Failed'
    : pending
      ? 'PendingChanges'
      : summary.writes > 0
        ? 'Applied'
        : 'InSync';
  const exitCode = failed ? 1 : pending ? 3 : 0;

  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    dryRun: options.dryRun,
    result,
    exitCode,
    nodes: { total: nodes.length, routable: new Set(desired.routes.map((r) => r.node)).size },
    skipped: desired.skipped,
    tables: tables.map((t) => t.report),
    conditions,
    summary,
    warnings,
    durationMs: deps.timers.now() - started,
  };
}

async function reconcileTable(
  ref: TableRef,
  desired: DesiredState,
  withholdDeletes: boolean,
  options: ReconcileOptions,
  deps: ReconcileDeps,
  signal: AbortSignal | undefined,
): Promise<TableOutcome> {
  const log = deps.logger.child({ routeTable: ref.name, resourceGroup: ref.resourceGroup });
  let withheld = 0;
  const plan = (routes: readonly Route[]) => {
    let p = planTable(desired, routes, options.planner);
    withheld = 0;
    if (withholdDeletes && p.deletes.length > 0) {
      withheld = p.deletes.length;
      p = { ...p, deletes: [] };
    }
    return { plan: p, changes: tableChanges(p), hasChanges: hasChanges(p) };
  };
  const run = () =>
    syncTable({
      store: deps.store,
      ref,
      plan,
      dryRun: options.dryRun,
      maxAttempts: options.maxWriteAttempts,
      sleep: sleepWith(deps.timers),
      ...(deps.random ? { random: deps.random } : {}),
      ...(signal ? { signal } : {}),
      logger: log,
    });

  let created = false;
  let result = await run();
  if (result.snapshot === null && !result.error && options.createRouteTable) {
    if (options.dryRun) {
      const p = plan([]).plan;
      return finish(ref, {
        plan: p,
        snapshot: undefined,
        created: true,
        status: 'NotFound',
        writes: 0,
        attempts: 1,
      });
    }
    try {
      log.info({ location: options.location }, 'creating route table');
      await deps.store.create(ref, options.location!, signal);
      created = true;
    } catch (err) {
      const error = err instanceof AzureError ? err : new AzureError({ kind: 'Other', message: String(err) });
      return finish(ref, {
        plan: EMPTY_PLAN,
        created: false,
        status: 'Failed',
        error,
        writes: 0,
        attempts: 1,
      });
    }
    result = await run();
  }

  const p = result.plan?.plan ?? EMPTY_PLAN;
  if (result.plan?.hasChanges)
    logActions(log, p, options.dryRun ? 'planned' : result.written ? 'applied' : 'not applied');
  if (result.error) {
    log.error({ err: result.error.message, kind: result.error.kind }, 'route table sync failed');
    return finish(ref, {
      plan: p,
      snapshot: result.snapshot ?? undefined,
      created,
      status: 'Failed',
      error: result.error,
      // Only PUTs Azure confirmed as Succeeded count (README "writes"); a 403, a 412 or a Failed LRO is no write.
      writes: result.written ? 1 : 0,
      attempts: result.attempts,
      withheld,
      // Never planned: the read itself failed (throttled, unreachable, no token, forbidden).
      unread: result.plan === undefined,
    });
  }
  if (result.snapshot === null) {
    const error = tableNotFoundError(ref);
    return finish(ref, {
      plan: EMPTY_PLAN,
      created,
      status: 'NotFound',
      error,
      writes: 0,
      attempts: result.attempts,
    });
  }
  const changed = result.plan !== undefined && result.plan.hasChanges;
  const status = !changed ? 'InSync' : options.dryRun ? 'WouldApply' : 'Applied';
  return finish(ref, {
    plan: p,
    snapshot: result.snapshot,
    created,
    status,
    writes: result.written ? 1 : 0,
    attempts: result.attempts,
    withheld,
  });

  function finish(
    r: TableRef,
    o: {
      plan: TablePlan;
      snapshot?: TableSnapshot | undefined;
      created: boolean;
      status: TableReport['status'];
      error?: AzureError;
      writes: number;
      attempts: number;
      withheld?: number;
      unread?: boolean;
    },
  ): TableOutcome {
    const warnings: string[] = [];
    if (o.snapshot && o.snapshot.subnetCount === 0) {
      warnings.push(
        `route table "${r.name}" is not associated with any subnet, so its routes have no effect; associate it with the cluster subnet (az network vnet subnet update --route-table ${r.name} ...)`,
      );
    }
    if (o.withheld) {
      warnings.push(`${o.withheld} route(s) of ours were not deleted because the node list was empty`);
    }
    for (const w of warnings) log.warn(w);
    const routes =
      options.includeRoutes && o.snapshot
        ? (options.dryRun ? applyForDisplay(o.snapshot.routes, o.plan) : o.snapshot.routes).map((r) =>
            toRow(r),
          )
        : undefined;
    const report: TableReport = {
      id: tableId(r),
      subscriptionId: r.subscriptionId,
      resourceGroup: r.resourceGroup,
      name: r.name,
      status: o.status,
      created: o.created,
      subnetCount: o.snapshot?.subnetCount,
      etag: o.snapshot?.etag,
      writes: o.writes,
      attempts: o.attempts,
      actions: {
        create: o.plan.creates.map((c) => toRow(c.route, c.desired.node)),
        update: o.plan.updates.map((u) => ({
          ...toRow(u.to, u.desired.node),
          from: { nextHopType: u.from.nextHopType, nextHopIpAddress: u.from.nextHopIpAddress },
        })),
        delete: o.plan.deletes.map((d) => toRow(d)),
        keep: o.plan.keeps.map((k) => toRow(k.route, k.desired.node)),
        conflict: o.plan.conflicts.map((c) => ({
          node: c.desired.node,
          addressPrefix: c.desired.cidr,
          kind: c.kind,
          existing: toRow(c.existing),
        })),
        overLimit: o.plan.overLimit.map((d) => ({ node: d.node, addressPrefix: d.cidr })),
      },
      foreignRoutes: o.plan.foreign.length,
      withheldDeletes: o.withheld ?? 0,
      routes,
      warnings,
      error: o.error
        ? { kind: o.error.kind, message: o.error.message, retryAfterMs: o.error.retryAfterMs }
        : undefined,
    };
    return {
      report,
      plan: o.plan,
      applied: o.status === 'InSync' || o.status === 'Applied',
      unread: o.unread === true,
    };
  }
}

/** Every desired route as a create: what a table that could not even be read still owes each node. */
function unwrittenPlan(desired: DesiredState): TablePlan {
  return {
    ...EMPTY_PLAN,
    creates: desired.routes.map((d) => ({
      desired: d,
      route: {
        name: d.name,
        addressPrefix: d.cidr,
        nextHopType: 'VirtualAppliance',
        nextHopIpAddress: d.nextHopIpAddress,
      },
    })),
  };
}

/** One line per changed route, carrying node, cidr and routeTable (the table is on the child logger). */
function logActions(log: Logger, plan: TablePlan, outcome: string): void {
  for (const c of plan.creates)
    log.info(
      {
        node: c.desired.node,
        cidr: c.desired.cidr,
        route: c.route.name,
        nextHop: c.route.nextHopIpAddress,
        outcome,
      },
      'create route',
    );
  for (const u of plan.updates)
    log.info(
      {
        node: u.desired.node,
        cidr: u.desired.cidr,
        route: u.to.name,
        from: u.from.nextHopIpAddress ?? u.from.nextHopType,
        nextHop: u.to.nextHopIpAddress,
        outcome,
      },
      'update route',
    );
  for (const d of plan.deletes) log.info({ cidr: d.addressPrefix, route: d.name, outcome }, 'delete route');
  for (const c of plan.conflicts)
    log.warn(
      { node: c.desired.node, cidr: c.desired.cidr, foreignRoute: c.existing.name, kind: c.kind },
      'route blocked by a foreign route',
    );
  for (const o of plan.overLimit) log.warn({ node: o.node, cidr: o.cidr }, 'route over the table limit');
}

function applyForDisplay(routes: readonly Route[], plan: TablePlan): Route[] {
  const deleted = new Set(plan.deletes.map((d) => d.name.toLowerCase()));
  const updates = new Map(plan.updates.map((u) => [u.from.name.toLowerCase(), u.to]));
  return [
    ...routes
      .filter((r) => !deleted.has(r.name.toLowerCase()))
      .map((r) => updates.get(r.name.toLowerCase()) ?? r),
    ...plan.creates.map((c) => c.route),
  ];
}

function toRow(route: Route, node?: string): RouteRow {
  return {
    name: route.name,
    addressPrefix: route.addressPrefix,
    nextHopType: route.nextHopType,
    nextHopIpAddress: route.nextHopIpAddress,
    node,
  };
}

async function updateConditions(
  nodes: readonly NodeInfo[],
  outcomes: ReturnType<typeof nodeRouteOutcomes>,
  options: ReconcileOptions,
  deps: ReconcileDeps,
  signal: AbortSignal | undefined,
): Promise<ConditionRow[]> {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const work = [...outcomes].map(([name, outcome]) => ({ node: byName.get(name)!, outcome }));
  return mapLimit(work, KUBE_CONCURRENCY, async ({ node, outcome }): Promise<ConditionRow> => {
    signal?.throwIfAborted();
    const condition = networkCondition(outcome.routesCreated, outcome.problems);
    const row = { node: node.name, ...condition };
    const needed = needsConditionPatch(node.networkUnavailable, outcome.routesCreated);
    const ref = { name: node.name, uid: node.uid };
    // A table that could not be read is no evidence that a route seen in place before is gone: keep the node's
    // RouteCreated (and no event) rather than flip every node to NetworkUnavailable, which taints them all, while
    // Azure cannot be asked. A node not known to be routed still gets NoRouteCreated.
    const keep =
      !outcome.routesCreated &&
      outcome.unconfirmedOnly === true &&
      !needsConditionPatch(node.networkUnavailable, true);
    const emit =
      !keep &&
      !options.dryRun &&
      !outcome.routesCreated &&
      (options.events === 'always' || (needed && options.nodeConditions));
    if (emit) {
      await deps.events.warning(ref, 'FailedToCreateRoute', condition.message).catch((err: unknown) => {
        deps.logger.warn(
          { node: node.name, err: errorMessage(err) },
          'could not record the FailedToCreateRoute event',
        );
      });
    }
    if (!options.nodeConditions) return { ...row, result: 'disabled' };
    if (keep) {
      const kept = networkCondition(true, []);
      return {
        node: node.name,
        ...kept,
        message: `${kept.message} (kept: ${condition.message})`,
        result: 'unchanged',
      };
    }
    if (!needed) return { ...row, result: 'unchanged' };
    if (options.dryRun) return { ...row, result: 'pending' };
    try {
      await deps.status.setNetworkUnavailable(ref, condition, new Date(deps.timers.now()));
      return { ...row, result: 'patched' };
    } catch (err) {
      const message = errorMessage(err);
      deps.logger.error(
        { node: node.name, err: message },
        'could not patch the NetworkUnavailable condition',
      );
      return { ...row, result: 'failed', error: message };
    }
  });
}

function summarise(tables: readonly TableReport[], desired: DesiredState): SyncReport['summary'] {
  const sum = (f: (t: TableReport) => number) => tables.reduce((n, t) => n + f(t), 0);
  return {
    create: sum((t) => t.actions.create.length),
    update: sum((t) => t.actions.update.length),
    delete: sum((t) => t.actions.delete.length),
    keep: sum((t) => t.actions.keep.length),
    conflict: sum((t) => t.actions.conflict.length),
    overLimit: sum((t) => t.actions.overLimit.length),
    refused: desired.skipped.filter((s) => s.reason !== 'NoPodCIDR').length,
    failedTables: tables.filter((t) => t.status === 'Failed' || (t.status === 'NotFound' && !t.created))
      .length,
    writes: sum((t) => t.writes),
  };
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
