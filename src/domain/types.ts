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
  /**
   * Labelled `kubernetes.azure.com/managed=false`: not an Azure VM (an on-premises or other cloud's machine).
   * Like the cloud-controller-manager, the controller gives it no route.
   */
  readonly unmanaged?: boolean | undefined;
  /** The current NetworkUnavailable condition, if the node has one. */
  readonly networkUnavailable?:
    | {
        readonly status: string;
        readonly reason?: string | undefined;
        readonly message?: string | undefined;
      }
    | undefined;
}

/** A route as Azure holds it (the fields we read; the store keeps everything else untouched). */
export interface Route {
  readonly name: string;
  readonly addressPrefix: string;
  /** VirtualAppliance, None, Internet, VnetLocal, VirtualNetworkGateway, or whatever Azure adds later. */
  readonly nextHopType: string;
  readonly nextHopIpAddress?: string | undefined;
  /**
   * Azure's provisioningState of the route as read (Succeeded, Updating, Failed, ...). Absent only in
   * hand-built inputs, where it reads as Succeeded. A route counts as in place only when it and its table read
   * Succeeded (DESIGN 2.4).
   */
  readonly provisioningState?: string | undefined;
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
  /** Not a failure: labelled kubernetes.azure.com/managed=false (not an Azure VM), so no route, as upstream. */
  | 'UnmanagedNode'
  | 'InvalidPodCIDR'
  | 'HostBitsSet'
  | 'OutsideClusterCIDR'
  | 'PrefixTooBroad'
  | 'NoInternalIP'
  | 'DuplicatePodCIDR'
  /** Overlaps another node's pod CIDR without being equal to it (nested in it, or containing it). */
  | 'OverlappingPodCIDR'
  /** Equals or contains a --cluster-cidr range: a route for it would capture every node's traffic. */
  | 'CoversClusterCIDR';

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

/** A desired route that Azure refused (a 400 naming it), set aside so the rest of the table is written. */
export interface RejectedRoute {
  readonly desired: DesiredRoute;
  /** Azure's message, as it gave it. */
  readonly message: string;
}

/** What the planner knows of the table beyond its routes. */
export interface PlanContext {
  /** The table's provisioningState as read; absent reads as Succeeded. */
  readonly tableProvisioningState?: string | undefined;
  /**
   * Canonical prefixes whose route Azure refused in this round, with Azure's message. Their desired routes are
   * neither created nor updated: they land in TablePlan.rejected, and an existing route for the prefix stays
   * exactly as it is.
   */
  readonly rejected?: ReadonlyMap<string, string> | undefined;
}

/** What to do to one table. Only create/update/delete change it, and redrive rewrites it as it is. */
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
  /**
   * The table, or a route of ours that the plan keeps, does not read Succeeded (a write that failed, or one
   * still running when its writer died). A guarded PUT must re-drive the table even when nothing else changes,
   * and its keeps count as in place only once that PUT has Succeeded. Optional for hand-built plans.
   */
  readonly redrive?: boolean | undefined;
  /** Desired routes Azure refused (PlanContext.rejected). Optional for hand-built plans. */
  readonly rejected?: readonly RejectedRoute[] | undefined;
}

export interface PlannerConfig {
  /**
   * Canonical cluster CIDRs, never empty (--cluster-cidr is required, DESIGN 2.1). A route is ours iff its
   * prefix lies inside one of them.
   */
  readonly clusterCIDRs: readonly string[];
  /** Azure's limit is 400 routes per table. */
  readonly routeLimit: number;
  /**
   * --node-cidr-mask-size-ipv4 / -ipv6 (kube-controller-manager's names; defaults 24 and 64): a pod CIDR
   * broader than these is refused (DESIGN 2.3).
   */
  readonly nodeMaskSize: { readonly v4: number; readonly v6: number };
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
