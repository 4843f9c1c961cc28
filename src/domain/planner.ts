// Desired routes x one route table -> what to do to that table (DESIGN 2.3). Pure, deterministic, O(n log n).
import { canonicalIp, canonicalPrefix, parsePrefix } from './cidr.ts';
import { prefixOwnershipTest } from './ownership.ts';
import type {
  DesiredRoute,
  DesiredState,
  PlannerConfig,
  Route,
  RouteChanges,
  RouteConflict,
  RouteUpdate,
  TablePlan,
} from './types.ts';

export const VIRTUAL_APPLIANCE = 'VirtualAppliance';

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byDesired(a: DesiredRoute, b: DesiredRoute): number {
  return compareText(a.node, b.node) || compareText(a.cidr, b.cidr);
}

function byRoute(a: Route, b: Route): number {
  return (
    compareText(a.name, b.name) ||
    compareText(a.addressPrefix, b.addressPrefix) ||
    compareText(a.nextHopType, b.nextHopType) ||
    compareText(a.nextHopIpAddress ?? '', b.nextHopIpAddress ?? '')
  );
}

// Sorting decorates each element with its key once: the comparator runs O(n log n) times.
function sortRoutes(routes: readonly Route[]): Route[] {
  return routes
    .map((route) => ({ route, lower: route.name.toLowerCase() }))
    .sort((a, b) => compareText(a.lower, b.lower) || byRoute(a.route, b.route))
    .map(({ route }) => route);
}

/** Oldest node first; a timestamp that does not parse sorts last. Ties by node name, then CIDR. */
function sortByAge(routes: readonly DesiredRoute[]): DesiredRoute[] {
  return routes
    .map((desired) => {
      const time = Date.parse(desired.nodeCreationTimestamp);
      return { desired, time: Number.isNaN(time) ? Number.POSITIVE_INFINITY : time };
    })
    .sort(
      (a, b) =>
        (a.time < b.time ? -1 : a.time > b.time ? 1 : 0) ||
        compareText(a.desired.nodeCreationTimestamp, b.desired.nodeCreationTimestamp) ||
        byDesired(a.desired, b.desired),
    )
    .map(({ desired }) => desired);
}

interface Existing {
  readonly route: Route;
  readonly prefix: string | undefined;
  readonly ours: boolean;
}

function routeFor(desired: DesiredRoute, name: string): Route {
  return {
    name,
    addressPrefix: desired.cidr,
    nextHopType: VIRTUAL_APPLIANCE,
    nextHopIpAddress: desired.nextHopIpAddress,
  };
}

function isInPlace(route: Route, desiredIp: string): boolean {
  const ip = route.nextHopIpAddress;
  return (
    route.nextHopType.toLowerCase() === VIRTUAL_APPLIANCE.toLowerCase() &&
    ip !== undefined &&
    (ip === desiredIp || canonicalIp(ip) === desiredIp)
  );
}

/**
 * Plans one route table. Every existing route lands in exactly one of keeps, updates, deletes, foreign,
 * frozen (or is the foreign holder named by a conflict, which also stays in foreign).
 *
 * Desired routes are expected to be unique per prefix (desiredRoutes guarantees it); should two share a
 * prefix, the first in node-name order is planned and the other is left out.
 */
export function planTable(desired: DesiredState, routes: readonly Route[], config: PlannerConfig): TablePlan {
  const ownsPrefix = prefixOwnershipTest(config);
  const frozenPrefixes = new Set(desired.frozenPrefixes.map((prefix) => canonicalPrefix(prefix) ?? prefix));

  const existing: Existing[] = sortRoutes(routes).map((route) => {
    const parsed = parsePrefix(route.addressPrefix);
    return { route, prefix: parsed?.cidr, ours: ownsPrefix(route.name, parsed) };
  });
  const existingByPrefix = new Map<string, Existing[]>();
  for (const entry of existing) {
    if (entry.prefix === undefined) continue;
    const samePrefix = existingByPrefix.get(entry.prefix);
    if (samePrefix) samePrefix.push(entry);
    else existingByPrefix.set(entry.prefix, [entry]);
  }

  const keeps: { route: Route; desired: DesiredRoute }[] = [];
  const updates: RouteUpdate[] = [];
  const conflicts: RouteConflict[] = [];
  const handled = new Set<Route>();
  const toCreate: DesiredRoute[] = [];
  const desiredPrefixes = new Set<string>();

  for (const want of [...desired.routes].sort(byDesired)) {
    const prefix = canonicalPrefix(want.cidr) ?? want.cidr;
    if (desiredPrefixes.has(prefix)) continue;
    desiredPrefixes.add(prefix);
    const wantIp = canonicalIp(want.nextHopIpAddress) ?? want.nextHopIpAddress;
    const samePrefix = existingByPrefix.get(prefix) ?? [];

    const inPlace = samePrefix.find((entry) => isInPlace(entry.route, wantIp));
    const mine = inPlace ?? samePrefix.find((entry) => entry.ours);
    if (inPlace) {
      keeps.push({ route: inPlace.route, desired: want });
      handled.add(inPlace.route);
    } else if (mine) {
      updates.push({ from: mine.route, to: routeFor(want, mine.route.name), desired: want });
      handled.add(mine.route);
    } else if (samePrefix[0]) {
      conflicts.push({ desired: want, existing: samePrefix[0].route, kind: 'PrefixHeldByForeignRoute' });
    } else {
      toCreate.push(want);
    }
  }

  const deletes: Route[] = [];
  const foreign: Route[] = [];
  const frozen: Route[] = [];
  for (const entry of existing) {
    if (handled.has(entry.route)) continue;
    if (!entry.ours) foreign.push(entry.route);
    // Azure refuses two routes with one prefix; should a table ever hold them, our extra copy goes too.
    else if (entry.prefix !== undefined && desiredPrefixes.has(entry.prefix)) deletes.push(entry.route);
    else if (entry.prefix !== undefined && frozenPrefixes.has(entry.prefix)) frozen.push(entry.route);
    else deletes.push(entry.route);
  }

  // A name held by a route that stays in the table is never overwritten, whoever owns that route.
  const deletedNames = new Set(deletes.map((route) => route.name.toLowerCase()));
  const namesInUse = new Map<string, Route>();
  for (const { route } of existing) {
    const name = route.name.toLowerCase();
    if (!deletedNames.has(name) && !namesInUse.has(name)) namesInUse.set(name, route);
  }

  const creates: { route: Route; desired: DesiredRoute }[] = [];
  const overLimit: DesiredRoute[] = [];
  let room = Math.max(0, config.routeLimit - (routes.length - deletes.length));
  for (const want of sortByAge(toCreate)) {
    const name = want.name.toLowerCase();
    const holder = namesInUse.get(name);
    if (holder) {
      conflicts.push({ desired: want, existing: holder, kind: 'NameHeldByForeignRoute' });
    } else if (room > 0) {
      const route = routeFor(want, want.name);
      creates.push({ route, desired: want });
      namesInUse.set(name, route);
      room -= 1;
    } else {
      overLimit.push(want);
    }
  }

  return {
    creates: creates.sort((a, b) => byDesired(a.desired, b.desired)),
    updates: updates.sort((a, b) => byDesired(a.desired, b.desired)),
    deletes: sortRoutes(deletes),
    keeps: keeps.sort((a, b) => byDesired(a.desired, b.desired)),
    conflicts: conflicts.sort((a, b) => byDesired(a.desired, b.desired)),
    overLimit: overLimit.sort(byDesired),
    foreign,
    frozen,
  };
}

export function hasChanges(plan: TablePlan): boolean {
  return plan.creates.length > 0 || plan.updates.length > 0 || plan.deletes.length > 0;
}

/** The plan's writes, by route name: creates and updates become upserts, deletes become names. */
export function tableChanges(plan: TablePlan): RouteChanges {
  const upserts = [...plan.creates.map((create) => create.route), ...plan.updates.map((update) => update.to)];
  return {
    upserts: sortRoutes(upserts),
    deletes: plan.deletes.map((route) => route.name).sort(compareText),
  };
}

/**
 * The table as it will be after the changes: deletes remove by name, then each upsert replaces the route of
 * the same name in place or is appended. Names compare case-insensitively, as Azure's do. Pure.
 */
export function applyChanges(routes: readonly Route[], changes: RouteChanges): Route[] {
  const deleted = new Set(changes.deletes.map((name) => name.toLowerCase()));
  const result = routes.filter((route) => !deleted.has(route.name.toLowerCase()));
  const positions = new Map<string, number>();
  result.forEach((route, index) => positions.set(route.name.toLowerCase(), index));
  for (const upsert of changes.upserts) {
    const name = upsert.name.toLowerCase();
    const position = positions.get(name);
    if (position === undefined) {
      positions.set(name, result.length);
      result.push(upsert);
    } else {
      result[position] = upsert;
    }
  }
  return result;
}
