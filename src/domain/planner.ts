// Desired routes x one route table -> what to do to that table (DESIGN 2.3). Pure, deterministic, O(n log n).
// The loops over every route index their arrays rather than use for...of, as in desired.ts: the first call in
// a process runs cold code, where each for...of step allocates an iterator result.
import { canonicalIp, canonicalPrefix, parsePrefix } from './cidr.ts';
import { prefixOwnershipTest } from './ownership.ts';
import type {
  DesiredRoute,
  DesiredState,
  PlanContext,
  PlannerConfig,
  RejectedRoute,
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
  /** Azure route names compare case-insensitively; lowered once, for the sort and for admitCreates. */
  readonly lowerName: string;
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

function isVirtualAppliance(route: Route): boolean {
  return route.nextHopType.toLowerCase() === VIRTUAL_APPLIANCE.toLowerCase();
}

function isInPlace(route: Route, desiredIp: string): boolean {
  const ip = route.nextHopIpAddress;
  return isVirtualAppliance(route) && ip !== undefined && (ip === desiredIp || canonicalIp(ip) === desiredIp);
}

/**
 * The first of the routes holding a desired prefix that is in place for next hop `wantRaw`. A route whose
 * next hop is the very same text is in place whatever the canonical form, so the usual case (the route we
 * wrote last time) parses no address; only a route that differs compares canonical forms.
 */
function findInPlace(samePrefix: readonly Existing[], wantRaw: string): Existing | undefined {
  let wantIp: string | undefined;
  for (let i = 0; i < samePrefix.length; i++) {
    const entry = samePrefix[i]!;
    const { route } = entry;
    if (route.nextHopIpAddress === wantRaw && isVirtualAppliance(route)) return entry;
    wantIp ??= canonicalIp(wantRaw) ?? wantRaw;
    if (isInPlace(route, wantIp)) return entry;
  }
  return undefined;
}

/** Absent reads as Succeeded: hand-built inputs, and Azure responses that omit it. */
function isSucceeded(provisioningState: string | undefined): boolean {
  return provisioningState === undefined || provisioningState.toLowerCase() === 'succeeded';
}

function indexExisting(routes: readonly Route[], config: PlannerConfig) {
  const ownsPrefix = prefixOwnershipTest(config);
  // In sortRoutes' order, built in one pass: each entry is its own sort key.
  const existing: Existing[] = routes
    .map((route) => {
      const parsed = parsePrefix(route.addressPrefix);
      return { route, lowerName: route.name.toLowerCase(), prefix: parsed?.cidr, ours: ownsPrefix(parsed) };
    })
    .sort((a, b) => compareText(a.lowerName, b.lowerName) || byRoute(a.route, b.route));
  const byPrefix = new Map<string, Existing[]>();
  for (let i = 0; i < existing.length; i++) {
    const entry = existing[i]!;
    if (entry.prefix === undefined) continue;
    const samePrefix = byPrefix.get(entry.prefix);
    if (samePrefix) samePrefix.push(entry);
    else byPrefix.set(entry.prefix, [entry]);
  }
  return { existing, byPrefix };
}

interface Matched {
  readonly keeps: { route: Route; desired: DesiredRoute }[];
  readonly updates: RouteUpdate[];
  readonly conflicts: RouteConflict[];
  readonly rejected: RejectedRoute[];
  readonly toCreate: DesiredRoute[];
  /** Existing routes already placed in keeps or updates. */
  readonly handled: Set<Route>;
  readonly desiredPrefixes: Set<string>;
}

/** Each desired route against the routes that hold its prefix: keep, update, conflict, rejected, or create. */
function matchDesired(
  desired: DesiredState,
  byPrefix: ReadonlyMap<string, readonly Existing[]>,
  rejectedPrefixes: ReadonlyMap<string, string>,
): Matched {
  const m: Matched = {
    keeps: [],
    updates: [],
    conflicts: [],
    rejected: [],
    toCreate: [],
    handled: new Set(),
    desiredPrefixes: new Set(),
  };
  const rejectedSeen = new Set<string>();
  const wanted = [...desired.routes].sort(byDesired);
  for (let i = 0; i < wanted.length; i++) {
    const want = wanted[i]!;
    // A key of byPrefix is canonical, so a cidr found there needs no parse (desiredRoutes gives canonical ones).
    const prefix = byPrefix.has(want.cidr) ? want.cidr : (canonicalPrefix(want.cidr) ?? want.cidr);
    if (m.desiredPrefixes.has(prefix) || rejectedSeen.has(prefix)) continue;
    const refusal = rejectedPrefixes.get(prefix);
    if (refusal !== undefined) {
      rejectedSeen.add(prefix);
      m.rejected.push({ desired: want, message: refusal });
      continue;
    }
    m.desiredPrefixes.add(prefix);
    const samePrefix = byPrefix.get(prefix) ?? [];

    const inPlace = findInPlace(samePrefix, want.nextHopIpAddress);
    const mine = inPlace ?? samePrefix.find((entry) => entry.ours);
    if (inPlace) {
      m.keeps.push({ route: inPlace.route, desired: want });
      m.handled.add(inPlace.route);
    } else if (mine) {
      m.updates.push({ from: mine.route, to: routeFor(want, mine.route.name), desired: want });
      m.handled.add(mine.route);
    } else if (samePrefix[0]) {
      m.conflicts.push({ desired: want, existing: samePrefix[0].route, kind: 'PrefixHeldByForeignRoute' });
    } else {
      m.toCreate.push(want);
    }
  }
  return m;
}

/** Every existing route not kept or updated: foreign, frozen (left as it is), or ours to delete. */
function sortLeftovers(
  existing: readonly Existing[],
  matched: Matched,
  frozenPrefixes: ReadonlySet<string>,
): { deletes: Route[]; foreign: Route[]; frozen: Route[] } {
  const deletes: Route[] = [];
  const foreign: Route[] = [];
  const frozen: Route[] = [];
  for (let i = 0; i < existing.length; i++) {
    const entry = existing[i]!;
    if (matched.handled.has(entry.route)) continue;
    if (!entry.ours) foreign.push(entry.route);
    // Azure refuses two routes with one prefix; should a table ever hold them, our extra copy goes too.
    else if (entry.prefix !== undefined && matched.desiredPrefixes.has(entry.prefix))
      deletes.push(entry.route);
    else if (entry.prefix !== undefined && frozenPrefixes.has(entry.prefix)) frozen.push(entry.route);
    else deletes.push(entry.route);
  }
  return { deletes, foreign, frozen };
}

/** Creates go in oldest node first while the table has room; a name held by a route that stays blocks one. */
function admitCreates(
  toCreate: readonly DesiredRoute[],
  existing: readonly Existing[],
  deletes: readonly Route[],
  room: number,
): {
  creates: { route: Route; desired: DesiredRoute }[];
  nameConflicts: RouteConflict[];
  overLimit: DesiredRoute[];
} {
  // A name held by a route that stays in the table is never overwritten, whoever owns that route.
  const deletedNames = new Set(deletes.map((route) => route.name.toLowerCase()));
  const namesInUse = new Map<string, Route>();
  for (let i = 0; i < existing.length; i++) {
    const { route, lowerName: name } = existing[i]!;
    if (!deletedNames.has(name) && !namesInUse.has(name)) namesInUse.set(name, route);
  }
  const creates: { route: Route; desired: DesiredRoute }[] = [];
  const nameConflicts: RouteConflict[] = [];
  const overLimit: DesiredRoute[] = [];
  for (const want of sortByAge(toCreate)) {
    const name = want.name.toLowerCase();
    const holder = namesInUse.get(name);
    if (holder) {
      nameConflicts.push({ desired: want, existing: holder, kind: 'NameHeldByForeignRoute' });
    } else if (room > 0) {
      const route = routeFor(want, want.name);
      creates.push({ route, desired: want });
      namesInUse.set(name, route);
      room -= 1;
    } else {
      overLimit.push(want);
    }
  }
  return { creates, nameConflicts, overLimit };
}

function canonicalKeys<V>(map: ReadonlyMap<string, V> | undefined): Map<string, V> {
  const result = new Map<string, V>();
  for (const [prefix, value] of map ?? []) result.set(canonicalPrefix(prefix) ?? prefix, value);
  return result;
}

/**
 * Plans one route table. Every existing route lands in exactly one of keeps, updates, deletes, foreign,
 * frozen (or is the foreign holder named by a conflict, which also stays in foreign).
 *
 * Provisioning state (DESIGN 2.4): a route read from Azure is in place only when it and its table read
 * Succeeded. The plan still keeps such a route (rewriting it unchanged would change nothing), but sets
 * `redrive` when the table (`context.tableProvisioningState`) or a kept route does not read Succeeded, so the
 * table is written again with a guarded PUT, and its keeps count as in place only once that write Succeeded.
 *
 * A desired route whose prefix Azure refused (`context.rejected`) goes to `rejected`: neither created nor
 * updated, and an existing route of ours for that prefix is frozen (left exactly as it is).
 *
 * Desired routes are expected to be unique per prefix (desiredRoutes guarantees it); should two share a
 * prefix, the first in node-name order is planned and the other is left out.
 */
export function planTable(
  desired: DesiredState,
  routes: readonly Route[],
  config: PlannerConfig,
  context: PlanContext = {},
): TablePlan {
  const rejectedPrefixes = canonicalKeys(context.rejected);
  const frozenPrefixes = new Set([
    ...desired.frozenPrefixes.map((prefix) => canonicalPrefix(prefix) ?? prefix),
    ...rejectedPrefixes.keys(),
  ]);
  const { existing, byPrefix } = indexExisting(routes, config);
  const matched = matchDesired(desired, byPrefix, rejectedPrefixes);
  const { deletes, foreign, frozen } = sortLeftovers(existing, matched, frozenPrefixes);
  const room = Math.max(0, config.routeLimit - (routes.length - deletes.length));
  const { creates, nameConflicts, overLimit } = admitCreates(matched.toCreate, existing, deletes, room);

  const redrive =
    !isSucceeded(context.tableProvisioningState) ||
    matched.keeps.some(({ route }) => !isSucceeded(route.provisioningState));
  return {
    creates: creates.sort((a, b) => byDesired(a.desired, b.desired)),
    updates: matched.updates.sort((a, b) => byDesired(a.desired, b.desired)),
    deletes: sortRoutes(deletes),
    keeps: matched.keeps.sort((a, b) => byDesired(a.desired, b.desired)),
    conflicts: [...matched.conflicts, ...nameConflicts].sort((a, b) => byDesired(a.desired, b.desired)),
    overLimit: overLimit.sort(byDesired),
    foreign,
    frozen,
    redrive,
    rejected: matched.rejected.sort((a, b) => byDesired(a.desired, b.desired)),
  };
}

/** True when the table must be written: the plan creates, updates or deletes, or re-drives the table. */
export function hasChanges(plan: TablePlan): boolean {
  return (
    plan.creates.length > 0 || plan.updates.length > 0 || plan.deletes.length > 0 || plan.redrive === true
  );
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
