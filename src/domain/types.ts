// The vocabulary shared by every layer. Pure data: no behaviour, no I/O.

export type IpFamily = 4 | 6;

/** The planner's view of a Kubernetes Node: only the fields it needs (kept small for big clusters). */
export interface NodeInfo {
  readonly name: string;
  readonly uid: string;
  /** RFC 3339, as in metadata.creationTimestamp. Used to admit the oldest nodes first at the route limit. */
  readonly creationTimestamp: string;
  /** spec.podCIDRs, or [spec.podCIDR] for older clusters; raw strings, validated by the planner. */
  readonly podCIDRs: readonly string[];
  /** status.addresses of type InternalIP, in the order the kubelet reported them. */
  readonly internalIPs: readonly string[];
  /** The current NetworkUnavailable condition, if the node has one. */
  readonly networkUnavailable?: { readonly status: string; readonly reason?: string | undefined } | undefined;
}

/** A route as Azure holds it (the fields we read; the store keeps everything else untouched). */
export interface Route {
  readonly name: string;
  readonly addressPrefix: string;
  /** VirtualAppliance, None, Internet, VnetLocal, VirtualNetworkGateway, or whatever Azure adds later. */
  readonly nextHopType: string;
  readonly nextHopIpAddress?: string | undefined;
}

/** A route some node wants in every table. */
export interface DesiredRoute {
  readonly node: string;
  /** Canonical CIDR (lower-case, compressed IPv6, no host bits). */
  readonly cidr: string;
  readonly family: IpFamily;
  readonly nextHopIpAddress: string;
  /** The name a new route gets (DESIGN 2.2). An existing matching route keeps its own name. */
  readonly name: string;
  readonly nodeCreationTimestamp: string;
}

export type SkipReason =
  /** Not a failure: the node simply has no pod CIDR yet. */
  | 'NoPodCIDR'
  | 'InvalidPodCIDR'
  | 'HostBitsSet'
  | 'OutsideClusterCIDR'
  | 'PrefixTooBroad'
  | 'NoInternalIP'
  | 'DuplicatePodCIDR';

/** A node (or one of its pod CIDRs) that gets no route, and why. */
export interface SkippedNode {
  readonly node: string;
  /** The pod CIDR concerned, as the node gave it; absent for NoPodCIDR. */
  readonly cidr?: string | undefined;
  readonly reason: SkipReason;
  /** One human sentence naming the input and the fix. */
  readonly message: string;
}

export interface DesiredState {
  readonly routes: readonly DesiredRoute[];
  readonly skipped: readonly SkippedNode[];
  /**
   * Canonical prefixes that a node validly claims but cannot be routed right now (duplicate claims, no
   * InternalIP of the family). Existing routes for these prefixes are frozen: neither kept as desired nor
   * deleted, so a transient gap in node status never tears down a working route.
   */
  readonly frozenPrefixes: readonly string[];
}

export interface RouteUpdate {
  readonly from: Route;
  /** The route as it will be written; it keeps from.name. */
  readonly to: Route;
  readonly desired: DesiredRoute;
}

export interface RouteConflict {
  readonly desired: DesiredRoute;
  /** The foreign route that holds the prefix (or the name). */
  readonly existing: Route;
  readonly kind: 'PrefixHeldByForeignRoute' | 'NameHeldByForeignRoute';
}

/** What to do to one table. Only create/update/delete change it. */
export interface TablePlan {
  readonly creates: readonly { readonly route: Route; readonly desired: DesiredRoute }[];
  readonly updates: readonly RouteUpdate[];
  readonly deletes: readonly Route[];
  readonly keeps: readonly { readonly route: Route; readonly desired: DesiredRoute }[];
  readonly conflicts: readonly RouteConflict[];
  /** Desired routes left out because the table would exceed the route limit. */
  readonly overLimit: readonly DesiredRoute[];
  /** Routes that are not ours and are left exactly as they are. */
  readonly foreign: readonly Route[];
  /**
   * Routes of ours whose prefix is in DesiredState.frozenPrefixes: left exactly as they are (neither kept as
   * desired nor deleted). Optional so hand-built plans need not list it; the planner always fills it.
   */
  readonly frozen?: readonly Route[] | undefined;
}

export interface PlannerConfig {
  /** Canonical cluster CIDRs; empty means "ownership by route name only" (DESIGN 2.1). */
  readonly clusterCIDRs: readonly string[];
  /** Azure's limit is 400 routes per table. */
  readonly routeLimit: number;
  /** Without clusterCIDRs, pod CIDRs broader than these prefix lengths are refused. */
  readonly minPrefixLength: { readonly v4: number; readonly v6: number };
}

/** Our changes to one table, by route name. Every other route is written back exactly as read. */
export interface RouteChanges {
  /** Routes to create, or to replace by name. */
  readonly upserts: readonly Route[];
  /** Names of routes to remove. */
  readonly deletes: readonly string[];
}

/** The NetworkUnavailable condition the route controller sets on a Node (DESIGN 2.5). */
export interface NetworkCondition {
  readonly status: 'True' | 'False';
  readonly reason: 'RouteCreated' | 'NoRouteCreated';
  readonly message: string;
}
