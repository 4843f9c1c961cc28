// The NetworkUnavailable condition (DESIGN 2.5), with the upstream route controller's semantics.
import { isRefusal, nodePodCidrs } from './desired.ts';
import type {
  DesiredRoute,
  DesiredState,
  NetworkCondition,
  NodeInfo,
  RouteConflict,
  TablePlan,
} from './types.ts';

// The upstream route controller's messages, so dashboards and runbooks keyed on them keep working.
export const ROUTES_CREATED_MESSAGE = 'RouteController created a route';
export const ROUTES_NOT_CREATED_MESSAGE = 'RouteController failed to create a route';

function wanted(routesCreated: boolean): {
  status: 'True' | 'False';
  reason: 'RouteCreated' | 'NoRouteCreated';
} {
  return routesCreated
    ? { status: 'False', reason: 'RouteCreated' }
    : { status: 'True', reason: 'NoRouteCreated' };
}

/**
 * Whether the node's condition must be patched to `want` (from networkCondition). Skipped only when the
 * status, the reason and the message all match already (DESIGN 2.5): a False set for another reason (a CNI's
 * `CalicoIsUp`) is overwritten with RouteCreated, as upstream does, and a message that no longer describes the
 * node's problem is replaced. An absent message matches only an empty one.
 */
export function needsConditionPatch(
  current: NodeInfo['networkUnavailable'],
  want: NetworkCondition,
): boolean {
  return (
    current?.status !== want.status ||
    current.reason !== want.reason ||
    (current.message ?? '') !== want.message
  );
}

/** The condition to set: the node's problems, one sentence each, become its message. */
export function networkCondition(routesCreated: boolean, problems: readonly string[]): NetworkCondition {
  const message = routesCreated
    ? ROUTES_CREATED_MESSAGE
    : problems.length > 0
      ? problems.join(' ')
      : ROUTES_NOT_CREATED_MESSAGE;
  return { ...wanted(routesCreated), message };
}

export interface TableOutcome {
  readonly plan: TablePlan;
  /** True when the table's write reached Succeeded (or the table needed none). */
  readonly applied: boolean;
  /** The table's name, for messages; optional. */
  readonly name?: string | undefined;
  /** A dry run: nothing was written on purpose, so an unwritten route is pending, not failed. */
  readonly dryRun?: boolean | undefined;
  /**
   * The table could not be read (throttled, unreachable, no token...), so whether the node's routes are in it is
   * unknown: neither confirmed nor known to be missing.
   */
  readonly unread?: boolean | undefined;
}

export interface NodeRouteOutcome {
  readonly routesCreated: boolean;
  /** One sentence each: the condition message and the Warning event text. */
  readonly problems: string[];
  /**
   * Set (true) when every problem is a table that could not be read: the routes may well be in place. A caller
   * keeps a node's RouteCreated then, rather than flip a healthy node to NetworkUnavailable (and have it tainted)
   * because Azure could not be asked.
   */
  readonly unconfirmedOnly?: true;
}

type RouteStatus =
  | { readonly kind: 'keep' }
  | { readonly kind: 'write' }
  | { readonly kind: 'conflict'; readonly conflict: RouteConflict }
  | { readonly kind: 'overLimit' }
  | { readonly kind: 'rejected'; readonly message: string };

function key(node: string, cidr: string): string {
  return `${node}\n${cidr}`;
}

function statusesOf(plan: TablePlan): Map<string, RouteStatus> {
  const statuses = new Map<string, RouteStatus>();
  for (const { desired } of plan.keeps) statuses.set(key(desired.node, desired.cidr), { kind: 'keep' });
  for (const { desired } of plan.creates) statuses.set(key(desired.node, desired.cidr), { kind: 'write' });
  for (const { desired } of plan.updates) statuses.set(key(desired.node, desired.cidr), { kind: 'write' });
  for (const desired of plan.overLimit) statuses.set(key(desired.node, desired.cidr), { kind: 'overLimit' });
  for (const conflict of plan.conflicts) {
    statuses.set(key(conflict.desired.node, conflict.desired.cidr), { kind: 'conflict', conflict });
  }
  for (const { desired, message } of plan.rejected ?? []) {
    statuses.set(key(desired.node, desired.cidr), { kind: 'rejected', message });
  }
  return statuses;
}

interface TableView {
  readonly label: string;
  readonly applied: boolean;
  readonly dryRun: boolean;
  /** The plan re-drives the table: its keeps are in place only once that write has Succeeded. */
  readonly redrive: boolean;
}

function sentence(text: string): string {
  const trimmed = text.trim();
  return trimmed === '' || /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

function problemFor(
  route: DesiredRoute,
  status: RouteStatus | undefined,
  view: TableView,
): string | undefined {
  const { label: table, applied, dryRun } = view;
  const subject = `Node ${route.node}'s route for pod CIDR ${route.cidr}`;
  if (status === undefined) {
    return `${subject} was not planned for ${table}; this is a bug, please report it with the controller's logs.`;
  }
  switch (status.kind) {
    case 'keep':
      // The route reads as wanted, but it or its table is not Succeeded (a write that failed, or one whose
      // writer died): it may carry no traffic until a guarded PUT re-drives the table.
      if (!view.redrive || applied) return undefined;
      return dryRun
        ? `${subject} is in ${table}, but the table or the route does not read Succeeded; a sync without --dry-run re-drives it.`
        : `${subject} is in ${table}, but the table or the route does not read Succeeded and re-driving the table failed or did not complete; the next sync retries it.`;
    case 'rejected':
      return (
        `Azure refused node ${route.node}'s route for pod CIDR ${route.cidr} in ${table}: ` +
        `${sentence(status.message)} The next sync tries this route again.`
      );
    case 'write':
      if (applied) return undefined;
      return dryRun
        ? `${subject} is not in ${table} yet; a sync without --dry-run writes it.`
        : `${subject} could not be written to ${table}; the write failed or did not complete, and the next sync retries it.`;
    case 'overLimit':
      return (
        `${subject} was not created in ${table} because the table is at its route limit (--route-limit; Azure allows 400); ` +
        `remove routes the table no longer needs.`
      );
    case 'conflict': {
      const existing = status.conflict.existing;
      if (status.conflict.kind === 'NameHeldByForeignRoute') {
        return (
          `${subject} cannot be created in ${table} because its name ${route.name} is taken by a route for ` +
          `${existing.addressPrefix}; rename or remove that route.`
        );
      }
      const hop = existing.nextHopIpAddress
        ? `${existing.nextHopType} ${existing.nextHopIpAddress}`
        : existing.nextHopType;
      return (
        `${subject} conflicts with route ${existing.name} (${existing.addressPrefix} via ${hop}) in ${table}, ` +
        `which this controller does not own; remove or correct that route, or give the node another pod CIDR.`
      );
    }
  }
}

/**
 * Per node that has pod CIDRs: whether all its routes are in place in every table, and if not, why. A route is
 * in place when the plan keeps it (in a table that needs no re-drive, or whose re-drive was applied), or
 * creates or updates it in a table whose write was applied. A route Azure refused is a problem with Azure's
 * own message. A table that could not be read leaves the route unconfirmed (ADR 7: unconfirmedOnly).
 */
export function nodeRouteOutcomes(
  nodes: readonly NodeInfo[],
  desired: DesiredState,
  tables: readonly TableOutcome[],
): Map<string, NodeRouteOutcome> {
  const routesByNode = new Map<string, DesiredRoute[]>();
  for (const route of desired.routes) {
    const routes = routesByNode.get(route.node);
    if (routes) routes.push(route);
    else routesByNode.set(route.node, [route]);
  }
  const skipsByNode = new Map<string, string[]>();
  for (const skipped of desired.skipped) {
    if (!isRefusal(skipped)) continue;
    const messages = skipsByNode.get(skipped.node);
    if (messages) messages.push(skipped.message);
    else skipsByNode.set(skipped.node, [skipped.message]);
  }
  const tableStatuses = tables.map((table, index) => ({
    statuses: statusesOf(table.plan),
    applied: table.applied,
    dryRun: table.dryRun === true,
    unread: table.unread === true,
    redrive: table.plan.redrive === true,
    label:
      table.name !== undefined && table.name !== ''
        ? `route table ${table.name}`
        : tables.length > 1
          ? `route table ${index + 1} of ${tables.length}`
          : 'the route table',
  }));

  const outcomes = new Map<string, NodeRouteOutcome>();
  const sortedNodes = [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const node of sortedNodes) {
    if (nodePodCidrs(node).length === 0 || outcomes.has(node.name)) continue;
    const problems = new Set<string>(skipsByNode.get(node.name) ?? []);
    let known = problems.size > 0;
    for (const route of routesByNode.get(node.name) ?? []) {
      for (const table of tableStatuses) {
        if (table.unread) {
          problems.add(
            `Node ${route.node}'s route for pod CIDR ${route.cidr} could not be confirmed in ${table.label}, ` +
              `which could not be read; the next sync retries it.`,
          );
          continue;
        }
        const problem = problemFor(route, table.statuses.get(key(route.node, route.cidr)), table);
        if (problem !== undefined) {
          problems.add(problem);
          known = true;
        }
      }
    }
    outcomes.set(node.name, {
      routesCreated: problems.size === 0,
      problems: [...problems],
      ...(problems.size > 0 && !known ? { unconfirmedOnly: true as const } : {}),
    });
  }
  return outcomes;
}
