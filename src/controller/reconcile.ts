// One level-based reconcile: nodes -> desired routes -> a plan per table -> one guarded write per table
// -> node conditions and events. Shared by `sync-routes` (once) and `run` (on every trigger).
import type { Logger } from 'pino';
import { AzureError, tableNotFoundError } from '../azure/errors.ts';
import { syncTable, type TableSyncResult } from '../azure/table-sync.ts';
import { tableId, type RouteTableStore, type TableRef, type TableSnapshot } from '../azure/types.ts';
import { needsConditionPatch, networkCondition, nodeRouteOutcomes } from '../domain/conditions.ts';
import { canonicalIp, canonicalPrefix } from '../domain/cidr.ts';
import { desiredRoutes, isRefusal, type InPlaceTest } from '../domain/desired.ts';
import { hasChanges, planTable, tableChanges } from '../domain/planner.ts';
import type {
  DesiredState,
  NetworkCondition,
  NodeInfo,
  PlannerConfig,
  Route,
  RouteChanges,
  TablePlan,
} from '../domain/types.ts';
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
  /** Tags for a table that --create-route-table creates (azure.json `tags` and `tagsMap`). */
  readonly tags?: Readonly<Record<string, string>> | undefined;
  /**
   * How long to wait for a table that another write left Updating before the pass gives up on it: waiting on
   * someone else's write is bounded like our own (--operation-timeout), and never past 30 s in one pass.
   */
  readonly settleTimeoutMs?: number | undefined;
  readonly maxWriteAttempts: number;
  readonly allowEmptyNodeList: boolean;
  readonly nodeConditions: boolean;
  /** Include each table's resulting routes in the report (the demo shows them). */
  readonly includeRoutes?: boolean;
  /**
   * The problem each node was last reported with (node -> the FailedToCreateRoute message), for a caller that
   * reconciles again and again (`run`): a node gets an event only when its problem changes (DESIGN 2.5), with
   * or without --no-node-conditions, so a lasting problem is not repeated on every pass. Absent (sync-routes,
   * one shot): every node with a problem gets its event. `nodeProblems(report)` gives the next pass's map.
   */
  readonly previousProblems?: ReadonlyMap<string, string> | undefined;
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
  /** The desired state this table was planned against (with its in-place hint), when it was read. */
  readonly desired: DesiredState | undefined;
  /** The in-place test that plan used, when the table was read. */
  readonly inPlace: InPlaceTest | undefined;
  /** The plan's creates, updates and redrive are in Azure (written and Succeeded, or nothing to write). */
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
  const withholdDeletes = nodes.length === 0 && !options.allowEmptyNodeList;
  const warnings: string[] = [];
  if (withholdDeletes) {
    warnings.push(
      'the node list is empty, so no route is deleted; if the cluster really has no nodes, pass --allow-empty-node-list',
    );
  }

  const tables = await reconcileTables(nodes, withholdDeletes, options, deps, signal);
  const desired = reportedDesiredState(nodes, tables, options.planner);
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
  return buildReport(nodes, desired, tables, conditions, warnings, options, deps.timers.now() - started);
}

/**
 * Every table gets every route, so every table must settle an overlap the same way, or two subnets would route
 * one prefix to two nodes. The first configured table decides: it is synced first, its routes as read give the
 * in-place hint (the route standing there stands), and the other tables are then synced concurrently with that
 * same hint, whatever they hold themselves. With one table (the usual case) nothing waits. The cost with
 * several is one table's sync of latency; the alternative, reading every table before planning any, would cost
 * a second GET per table per pass.
 */
async function reconcileTables(
  nodes: readonly NodeInfo[],
  withholdDeletes: boolean,
  options: ReconcileOptions,
  deps: ReconcileDeps,
  signal: AbortSignal | undefined,
): Promise<TableOutcome[]> {
  const [first, ...rest] = options.routeTables;
  if (first === undefined) return [];
  const leader = await reconcileTable(first, nodes, withholdDeletes, undefined, options, deps, signal);
  // The first table unread: no route is known to stand anywhere, and the older claimant stands everywhere.
  const hint = leader.inPlace ?? NOTHING_IN_PLACE;
  const others = await Promise.all(
    rest.map((ref) => reconcileTable(ref, nodes, withholdDeletes, hint, options, deps, signal)),
  );
  return [leader, ...others];
}

const NOTHING_IN_PLACE: InPlaceTest = () => false;

/**
 * The one desired state the report, the node outcomes and the conditions speak of: the one every table was
 * planned against (reconcileTables), as the first table that was read planned it. When no table could be
 * read, no route is known to be in place anywhere, and the state without a hint (the older claimant stands)
 * is the truth.
 */
function reportedDesiredState(
  nodes: readonly NodeInfo[],
  tables: readonly TableOutcome[],
  planner: PlannerConfig,
): DesiredState {
  return tables.find((t) => t.desired !== undefined)?.desired ?? desiredRoutes(nodes, planner);
}

/**
 * desiredRoutes' in-place hint for one table: a route of ours (its claimant's prefix) that reads Succeeded and
 * points, as a VirtualAppliance, at the claimant's InternalIP. Between two overlapping claims that route stands,
 * so a newer node's pod CIDR never displaces a route that carries traffic. A route that does not read
 * Succeeded (the goal state of a write that failed) has never been shown to carry any, and gives no precedence.
 */
function inPlaceTest(routes: readonly Route[]): InPlaceTest {
  const standing = new Set<string>();
  for (const r of routes) {
    if (!succeeded(r.provisioningState) || r.nextHopType.toLowerCase() !== 'virtualappliance') continue;
    const prefix = canonicalPrefix(r.addressPrefix);
    const ip = r.nextHopIpAddress === undefined ? undefined : canonicalIp(r.nextHopIpAddress);
    if (prefix !== undefined && ip !== undefined) standing.add(`${prefix} ${ip}`);
  }
  return (cidr, nextHopIp) => standing.has(`${cidr} ${nextHopIp}`);
}

function succeeded(state: string | undefined): boolean {
  return state === undefined || state.toLowerCase() === 'succeeded';
}

interface PlannedTable {
  readonly plan: TablePlan;
  readonly changes: RouteChanges;
  readonly hasChanges: boolean;
}

/**
 * The plan callback syncTable calls after every read, with what it remembers of the last call. `hint` is the
 * first table's in-place test (reconcileTables); without one, the table's own routes as read give it.
 */
function tablePlanner(
  nodes: readonly NodeInfo[],
  withholdDeletes: boolean,
  planner: PlannerConfig,
  hint: InPlaceTest | undefined,
) {
  const state = {
    withheld: 0,
    desired: undefined as DesiredState | undefined,
    inPlace: undefined as InPlaceTest | undefined,
    provisioningStateRead: undefined as string | undefined,
  };
  const plan = (
    routes: readonly Route[],
    snapshot: TableSnapshot | undefined,
    rejected: ReadonlyMap<string, string>,
  ): PlannedTable => {
    const inPlace = hint ?? inPlaceTest(routes);
    const desired = desiredRoutes(nodes, planner, inPlace);
    state.inPlace = inPlace;
    state.provisioningStateRead = snapshot?.provisioningState;
    let p = planTable(desired, routes, planner, {
      tableProvisioningState: snapshot?.provisioningState,
      rejected,
    });
    state.desired = desired;
    state.withheld = 0;
    if (withholdDeletes && p.deletes.length > 0) {
      state.withheld = p.deletes.length;
      p = { ...p, deletes: [] };
    }
    return { plan: p, changes: tableChanges(p), hasChanges: hasChanges(p) };
  };
  return { plan, state };
}

async function reconcileTable(
  ref: TableRef,
  nodes: readonly NodeInfo[],
  withholdDeletes: boolean,
  hint: InPlaceTest | undefined,
  options: ReconcileOptions,
  deps: ReconcileDeps,
  signal: AbortSignal | undefined,
): Promise<TableOutcome> {
  const log = deps.logger.child({ routeTable: ref.name, resourceGroup: ref.resourceGroup });
  const planner = tablePlanner(nodes, withholdDeletes, options.planner, hint);
  const finish = (o: FinishArgs) => finishTable(ref, o, planner.state, options, log);
  const run = () =>
    syncTable({
      store: deps.store,
      ref,
      plan: planner.plan,
      dryRun: options.dryRun,
      maxAttempts: options.maxWriteAttempts,
      ...(options.settleTimeoutMs !== undefined ? { maxSettleMs: options.settleTimeoutMs } : {}),
      sleep: sleepWith(deps.timers),
      ...(deps.random ? { random: deps.random } : {}),
      ...(signal ? { signal } : {}),
      logger: log,
    });

  let created = false;
  let result = await run();
  if (result.snapshot === null && !result.error && options.createRouteTable) {
    const creation = await createMissingTable(ref, planner, options, deps, log, signal);
    if (creation !== 'created') return finish(creation);
    created = true;
    result = await run();
  }
  return finish(syncOutcome(ref, result, created, options, log));
}

/**
 * --create-route-table for a table that is not there. A dry run only says so (with the plan an empty table
 * would get); otherwise the table is created, or the failure is the table's outcome.
 */
async function createMissingTable(
  ref: TableRef,
  planner: ReturnType<typeof tablePlanner>,
  options: ReconcileOptions,
  deps: ReconcileDeps,
  log: Logger,
  signal: AbortSignal | undefined,
): Promise<'created' | FinishArgs> {
  if (options.dryRun) {
    const p = planner.plan([], undefined, new Map()).plan;
    return { plan: p, created: true, status: 'NotFound', writes: 0, attempts: 1 };
  }
  try {
    log.info({ location: options.location }, 'creating route table');
    await deps.store.create(ref, options.location!, signal, options.tags);
    return 'created';
  } catch (err) {
    const error = err instanceof AzureError ? err : new AzureError({ kind: 'Other', message: String(err) });
    return { plan: EMPTY_PLAN, created: false, status: 'Failed', error, writes: 0, attempts: 1 };
  }
}

/** What syncTable's result means for the table: its status, its plan, and what Azure refused. */
function syncOutcome(
  ref: TableRef,
  result: TableSyncResult<PlannedTable>,
  created: boolean,
  options: ReconcileOptions,
  log: Logger,
): FinishArgs {
  const p = result.plan?.plan ?? EMPTY_PLAN;
  const rejected = result.rejected;
  if (result.plan?.hasChanges)
    logActions(log, p, options.dryRun ? 'planned' : result.written ? 'applied' : 'not applied');
  for (const [prefix, message] of rejected)
    log.warn({ cidr: prefix, azureMessage: message }, 'Azure refused a route');
  // Only PUTs Azure confirmed as Succeeded count (README "writes"); a 403, a 412 or a Failed LRO is no write.
  const common = { plan: p, created, writes: result.written ? 1 : 0, attempts: result.attempts, rejected };
  if (result.error) {
    log.error({ err: result.error.message, kind: result.error.kind }, 'route table sync failed');
    return {
      ...common,
      snapshot: result.snapshot ?? undefined,
      status: 'Failed',
      error: result.error,
      // Never planned: the read itself failed (throttled, unreachable, no token, forbidden).
      unread: result.plan === undefined,
    };
  }
  if (result.snapshot === null) {
    return { ...common, plan: EMPTY_PLAN, status: 'NotFound', error: tableNotFoundError(ref) };
  }
  const changed = result.plan !== undefined && result.plan.hasChanges;
  const status = !changed ? 'InSync' : options.dryRun ? 'WouldApply' : 'Applied';
  return { ...common, snapshot: result.snapshot, status };
}

interface FinishArgs {
  readonly plan: TablePlan;
  readonly snapshot?: TableSnapshot | undefined;
  readonly created: boolean;
  readonly status: TableReport['status'];
  readonly error?: AzureError | undefined;
  readonly writes: number;
  readonly attempts: number;
  readonly rejected?: ReadonlyMap<string, string> | undefined;
  readonly unread?: boolean | undefined;
}

function finishTable(
  ref: TableRef,
  o: FinishArgs,
  planned: {
    readonly withheld: number;
    readonly desired: DesiredState | undefined;
    readonly inPlace: InPlaceTest | undefined;
    readonly provisioningStateRead: string | undefined;
  },
  options: ReconcileOptions,
  log: Logger,
): TableOutcome {
  const withheld = o.plan === EMPTY_PLAN ? 0 : planned.withheld;
  const warnings = tableWarnings(ref, o.snapshot, withheld);
  for (const w of warnings) log.warn(w);
  return {
    report: tableReport(ref, o, withheld, warnings, options, planned.provisioningStateRead),
    plan: o.plan,
    desired: o.plan === EMPTY_PLAN ? undefined : planned.desired,
    inPlace: o.plan === EMPTY_PLAN ? undefined : planned.inPlace,
    applied: o.status === 'InSync' || o.status === 'Applied',
    unread: o.unread === true,
  };
}

function tableWarnings(ref: TableRef, snapshot: TableSnapshot | undefined, withheld: number): string[] {
  const warnings: string[] = [];
  if (snapshot && snapshot.subnetCount === 0) {
    warnings.push(
      `route table "${ref.name}" is not associated with any subnet, so its routes have no effect; associate it with the cluster subnet (az network vnet subnet update --route-table ${ref.name} ...)`,
    );
  }
  if (withheld) {
    warnings.push(`${withheld} route(s) of ours were not deleted because the node list was empty`);
  }
  return warnings;
}

function tableReport(
  r: TableRef,
  o: FinishArgs,
  withheld: number,
  warnings: readonly string[],
  options: ReconcileOptions,
  provisioningStateRead: string | undefined,
): TableReport {
  const routes =
    options.includeRoutes && o.snapshot
      ? (options.dryRun ? applyForDisplay(o.snapshot.routes, o.plan) : o.snapshot.routes).map((x) => toRow(x))
      : undefined;
  return {
    id: tableId(r),
    subscriptionId: r.subscriptionId,
    resourceGroup: r.resourceGroup,
    name: r.name,
    status: o.status,
    created: o.created,
    subnetCount: o.snapshot?.subnetCount,
    etag: o.snapshot?.etag,
    provisioningState: o.snapshot?.provisioningState,
    provisioningStateRead: o.plan === EMPTY_PLAN ? undefined : provisioningStateRead,
    redrive: o.plan.redrive === true,
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
    rejected: (o.plan.rejected ?? []).map((x) => ({
      node: x.desired.node,
      addressPrefix: x.desired.cidr,
      message: x.message,
    })),
    foreignRoutes: o.plan.foreign.length,
    withheldDeletes: withheld,
    routes,
    warnings,
    error: o.error
      ? { kind: o.error.kind, message: o.error.message, retryAfterMs: o.error.retryAfterMs }
      : undefined,
  };
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
  if (plan.redrive) log.info({ outcome }, 'route table not Succeeded as read; re-driving it with a PUT');
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
    provisioningState: route.provisioningState,
  };
}

type Outcomes = ReturnType<typeof nodeRouteOutcomes>;
type Outcome = Outcomes extends Map<string, infer O> ? O : never;

async function updateConditions(
  nodes: readonly NodeInfo[],
  outcomes: Outcomes,
  options: ReconcileOptions,
  deps: ReconcileDeps,
  signal: AbortSignal | undefined,
): Promise<ConditionRow[]> {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const work = [...outcomes].map(([name, outcome]) => ({ node: byName.get(name)!, outcome }));
  // Stopping or deposed: no new Kubernetes write starts, and the ones in flight take the signal and end. Every
  // worker settles before the abort is thrown, so a caller that releases the Lease afterwards (DESIGN 2.6)
  // knows no patch or event of this reconcile is still being sent.
  const rows = await mapLimit(work, KUBE_CONCURRENCY, async ({ node, outcome }) => {
    if (signal?.aborted) return undefined;
    const condition = networkCondition(outcome.routesCreated, outcome.problems);
    const keep = keepsRouteCreated(node, outcome);
    if (!keep && !outcome.routesCreated && shouldEmit(node.name, condition.message, options)) {
      await recordFailure(node, condition.message, deps, signal);
    }
    if (!options.nodeConditions) return { node: node.name, ...condition, result: 'disabled' } as const;
    if (keep) {
      const kept = networkCondition(true, []);
      return {
        node: node.name,
        ...kept,
        message: `${kept.message} (kept: ${condition.message})`,
        result: 'unchanged',
      } as const;
    }
    if (signal?.aborted) return undefined;
    return patchCondition(node, condition, options, deps, signal);
  });
  signal?.throwIfAborted();
  return rows.filter((r): r is ConditionRow => r !== undefined);
}

/**
 * A table that could not be read is no evidence that a route seen in place before is gone: keep the node's
 * RouteCreated (and no event) rather than flip every node to NetworkUnavailable, which taints them all, while
 * Azure cannot be asked. A node not known to be routed still gets NoRouteCreated.
 */
function keepsRouteCreated(node: NodeInfo, outcome: Outcome): boolean {
  const current = node.networkUnavailable;
  return (
    !outcome.routesCreated &&
    outcome.unconfirmedOnly === true &&
    current?.status === 'False' &&
    current.reason === 'RouteCreated'
  );
}

/** DESIGN 2.5: an event whenever a node's problem changes; one shot (no previous problems) always emits. */
function shouldEmit(node: string, message: string, options: ReconcileOptions): boolean {
  if (options.dryRun) return false;
  const previous = options.previousProblems;
  return previous === undefined || previous.get(node) !== message;
}

async function recordFailure(
  node: NodeInfo,
  message: string,
  deps: ReconcileDeps,
  signal: AbortSignal | undefined,
): Promise<void> {
  await deps.events
    .warning({ name: node.name, uid: node.uid }, 'FailedToCreateRoute', message, signal)
    .catch((err: unknown) => {
      deps.logger.warn(
        { node: node.name, err: errorMessage(err) },
        'could not record the FailedToCreateRoute event',
      );
    });
}

async function patchCondition(
  node: NodeInfo,
  condition: NetworkCondition,
  options: ReconcileOptions,
  deps: ReconcileDeps,
  signal: AbortSignal | undefined,
): Promise<ConditionRow> {
  const row = { node: node.name, ...condition };
  // Status, reason and message all count (DESIGN 2.5): a CNI's False/CalicoIsUp becomes RouteCreated, and a
  // message that no longer describes the node's problem is replaced. The writer keeps lastTransitionTime
  // unless the status changes.
  if (!needsConditionPatch(node.networkUnavailable, condition)) return { ...row, result: 'unchanged' };
  if (options.dryRun) return { ...row, result: 'pending' };
  try {
    await deps.status.setNetworkUnavailable(
      { name: node.name, uid: node.uid, networkUnavailableStatus: node.networkUnavailable?.status },
      condition,
      new Date(deps.timers.now()),
      signal,
    );
    return { ...row, result: 'patched' };
  } catch (err) {
    const message = errorMessage(err);
    deps.logger.error({ node: node.name, err: message }, 'could not patch the NetworkUnavailable condition');
    return { ...row, result: 'failed', error: message };
  }
}

/**
 * The problem each node ended the reconcile with (node -> the FailedToCreateRoute message), for the next
 * pass's ReconcileOptions.previousProblems. Read from the conditions, which carry the node's condition even
 * under --no-node-conditions; a node whose RouteCreated was kept (its table could not be read) had no problem
 * before and has none now.
 */
export function nodeProblems(report: SyncReport): Map<string, string> {
  const problems = new Map<string, string>();
  for (const c of report.conditions) if (c.status === 'True') problems.set(c.node, c.message);
  return problems;
}

function buildReport(
  nodes: readonly NodeInfo[],
  desired: DesiredState,
  tables: readonly TableOutcome[],
  conditions: readonly ConditionRow[],
  warnings: readonly string[],
  options: ReconcileOptions,
  durationMs: number,
): SyncReport {
  const summary = summarise(
    tables.map((t) => t.report),
    desired,
  );
  const failed =
    summary.failedTables > 0 ||
    summary.conflict > 0 ||
    summary.overLimit > 0 ||
    summary.refused > 0 ||
    summary.rejected > 0 ||
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
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    dryRun: options.dryRun,
    result,
    exitCode: failed ? 1 : pending ? 3 : 0,
    nodes: { total: nodes.length, routable: new Set(desired.routes.map((r) => r.node)).size },
    skipped: desired.skipped,
    tables: tables.map((t) => t.report),
    conditions,
    summary,
    warnings,
    durationMs,
  };
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
    rejected: sum((t) => t.rejected.length),
    redrives: tables.filter((t) => t.redrive).length,
    refused: desired.skipped.filter(isRefusal).length,
    failedTables: tables.filter((t) => t.status === 'Failed' || (t.status === 'NotFound' && !t.created))
      .length,
    writes: sum((t) => t.writes),
  };
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
