// Public types of the Azure network API simulator.
import type { InventoryOperation } from './inventory.ts';

/** A JSON object as the simulator stores and serves it. */
export type JsonObject = { [key: string]: unknown };

/** The SDK's operation ids (the spec's operationId), used in the request log and by fault matchers. */
export type OperationName =
  /** Subnets, NICs, VMs and permissions (src/simulator/azure/inventory.ts). */
  | InventoryOperation
  | 'RouteTables_Get'
  | 'RouteTables_CreateOrUpdate'
  | 'RouteTables_Delete'
  | 'RouteTables_UpdateTags'
  | 'RouteTables_List'
  | 'RouteTables_ListAll'
  | 'Routes_Get'
  | 'Routes_CreateOrUpdate'
  | 'Routes_Delete'
  | 'Routes_List'
  /** GET of the Azure-AsyncOperation URL. */
  | 'Operations_Get'
  /** GET of the Location URL a DELETE answers with. */
  | 'OperationResults_Get'
  | 'Unknown';

export interface TokenBucketOptions {
  /** Tokens in a full bucket (the burst). */
  readonly bucket: number;
  readonly refillPerSecond: number;
}

/** ARM's per-subscription request limits, as token buckets. Off unless given. */
export interface ThrottlingOptions {
  /** ARM's documented default is a bucket of 200 refilled at 10/s. */
  readonly writes?: TokenBucketOptions | undefined;
  /** ARM's documented default is a bucket of 250 refilled at 25/s. Operation polls count as reads. */
  readonly reads?: TokenBucketOptions | undefined;
  /**
   * ARM counts DELETEs in a bucket of their own (documented default: 200, refilled at 10/s). When this is not
   * given, DELETEs share the writes bucket.
   */
  readonly deletes?: TokenBucketOptions | undefined;
}

/**
 * ARM's documented per-region subscription limits since the 2024 move to token buckets, for callers that want
 * realistic throttling: https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling
 */
export const ARM_DEFAULT_THROTTLING: Required<ThrottlingOptions> = Object.freeze({
  writes: Object.freeze({ bucket: 200, refillPerSecond: 10 }),
  reads: Object.freeze({ bucket: 250, refillPerSecond: 25 }),
  deletes: Object.freeze({ bucket: 200, refillPerSecond: 10 }),
});

export interface AzureSimulatorOptions {
  /** Subscriptions that exist from the start. */
  readonly subscriptions?: readonly string[] | undefined;
  /** Resource groups that exist from the start (their subscription is registered too). */
  readonly resourceGroups?:
    | readonly { readonly subscriptionId: string; readonly name: string; readonly location?: string }[]
    | undefined;
  /** InProgress answers an async operation gives before it completes. Default 1. */
  readonly lroPolls?: number | undefined;
  /** Minimum age (by `now()`) before an async operation may complete. Default 0. */
  readonly lroDurationMs?: number | undefined;
  /** Delay added to every request, with real timers. Default 0. */
  readonly latencyMs?: number | undefined;
  /** Most routes a table may hold. Default 400 (Azure's long-standing limit; DESIGN 2.3). */
  readonly routeLimit?: number | undefined;
  /** Items per page of list answers. Default 100. */
  readonly pageSize?: number | undefined;
  /** Clock for operation ages, token refills and the request log. Default Date.now. */
  readonly now?: (() => number) | undefined;
  /**
   * The Retry-After, in seconds, on the answer that starts a long-running operation (a PUT or DELETE of a table
   * or route). Default 2, as the recording of real Azure shows; 'none' leaves the header off. Clients that
   * honour it wait that long before their first poll, so fast tests set it low. Never sent on polls.
   */
  readonly lroRetryAfterSeconds?: number | 'none' | undefined;
  /**
   * What an operation that ends Failed or Canceled leaves behind. 'keepGoalState' (default, as Azure does): the
   * body the PUT stored stays, and the table and the routes it changed read Failed. 'revert': the table goes
   * back to what it was before the write (a failed create leaves nothing), and reads Failed.
   */
  readonly lroFailureMode?: 'keepGoalState' | 'revert' | undefined;
  /**
   * A write to a table whose operation is still running. 'refuse' (default): answered busyStatus
   * RetryableErrorDueToAnotherOperation. 'supersede': a table PUT over a running table PUT is accepted, and the
   * running operation ends Canceled with CanceledAndSupersededDueToAnotherOperation, as Microsoft.Network does
   * for two writes of one resource; other writes are still refused.
   */
  readonly concurrentWrites?: 'refuse' | 'supersede' | undefined;
  /** Status for a write to a table whose operation is still running: 409 (default) or 429. */
  readonly busyStatus?: 409 | 429 | undefined;
  /** Retry-After, in seconds, on that busy answer. Default 1. */
  readonly busyRetryAfterSeconds?: number | undefined;
  /** Location for resource groups registered without one. Default "westus". */
  readonly defaultLocation?: string | undefined;
  /** When true, a request without `Authorization: Bearer ...` gets 401, as ARM answers. Default false. */
  readonly requireAuthorization?: boolean | undefined;
  /** ARM request throttling. Default off. */
  readonly throttling?: ThrottlingOptions | undefined;
}

export interface FaultMatch {
  /** HTTP method, case-insensitive. */
  readonly method?: string | undefined;
  /** A substring of the request path (case-insensitive), e.g. a table name or "/routes/". */
  readonly pathIncludes?: string | undefined;
  readonly operation?: OperationName | undefined;
}

interface FaultBase {
  /** Which requests the fault applies to. Absent: every request. */
  readonly match?: FaultMatch | undefined;
  /** How many requests it applies to, then it is spent. Absent: until removed or cleared. */
  readonly times?: number | undefined;
}

export type FaultKind =
  /** Delays the request (real timers), then lets it proceed. Stacks with other faults. */
  | { readonly kind: 'latency'; readonly ms: number }
  /** 429 SubscriptionRequestsThrottled (or the given code) with Retry-After. */
  | { readonly kind: 'throttle'; readonly retryAfterSeconds?: number; readonly code?: string }
  /** 409 (or 429) RetryableErrorDueToAnotherOperation with Retry-After. */
  | { readonly kind: 'retryableConflict'; readonly status?: 409 | 429; readonly retryAfterSeconds?: number }
  /** 500 InternalServerError or 503 ServiceUnavailable, with Retry-After if given. */
  | { readonly kind: 'serverError'; readonly status?: 500 | 503; readonly retryAfterSeconds?: number }
  /** Destroys the socket without answering. */
  | { readonly kind: 'dropConnection' }
  /** The async operation a matching PUT/DELETE starts ends Failed (or Canceled) instead of Succeeded. */
  | {
      readonly kind: 'lroFailed';
      readonly status?: 'Failed' | 'Canceled';
      readonly code?: string;
      readonly message?: string;
    }
  /** The async operation a matching PUT/DELETE starts stays InProgress forever (the table stays busy). */
  | { readonly kind: 'lroNeverFinishes' }
  /** 403 AuthorizationFailed naming the action (derived from the request unless given) and the scope. */
  | { readonly kind: 'forbidden'; readonly action?: string; readonly clientId?: string }
  /** 401 InvalidAuthenticationToken. */
  | { readonly kind: 'unauthorized' }
  /**
   * A 400 that names one route, as Azure refuses a route it will not accept: any PUT of a table (or of a route)
   * whose body holds a route with this name (case-insensitive) or this address prefix (compared canonically) is
   * refused, the error naming the route by its resource id. Give `route`, `prefix`, or both (both must match).
   * Default code InvalidNextHopIpAddress; `message` replaces the default text.
   */
  | {
      readonly kind: 'refuseRoute';
      readonly route?: string | undefined;
      readonly prefix?: string | undefined;
      readonly code?: string | undefined;
      readonly message?: string | undefined;
    };

export type Fault = FaultBase & FaultKind;

export interface FaultHandle {
  readonly id: number;
  readonly fault: Fault;
  /** Requests (or, for lroFailed/lroNeverFinishes, operations) it has applied to so far. */
  readonly hits: number;
  /** Removes the fault. */
  remove(): void;
}

export interface FaultControl {
  add(fault: Fault): FaultHandle;
  clear(): void;
  list(): readonly FaultHandle[];
}

export interface RequestLogEntry {
  readonly seq: number;
  readonly method: string;
  /** Path without the query string, as sent. */
  readonly path: string;
  readonly query: string;
  readonly operation: OperationName;
  /** 0 until answered, and for a dropped connection. */
  readonly status: number;
  readonly ifMatch: string | undefined;
  readonly ifNoneMatch: string | undefined;
  /** Whether the request carried an Authorization header. */
  readonly authorized: boolean;
  /** `now()` when the request arrived. */
  readonly time: number;
  /** Error code of an error answer. */
  readonly errorCode?: string | undefined;
  readonly dropped?: boolean | undefined;
  /** Which fault answered it, if any. */
  readonly faultId?: number | undefined;
  /** The Retry-After (seconds) an error answer carried: throttling, a busy table, an injected fault. */
  readonly retryAfterSeconds?: number | undefined;
}

export interface RequestCounts {
  /** GETs of tables and routes (not polls). */
  readonly reads: number;
  /** PUT, PATCH and DELETE. */
  readonly writes: number;
  /** GETs of async operation status (Azure-AsyncOperation and Location URLs). */
  readonly polls: number;
  readonly byOperation: Readonly<Record<string, number>>;
  /** By status code; "0" counts dropped or unanswered requests. */
  readonly byStatus: Readonly<Record<string, number>>;
}

/** A route as tests seed and read it. */
export interface SimpleRoute {
  readonly name: string;
  readonly addressPrefix: string;
  readonly nextHopType: string;
  readonly nextHopIpAddress?: string | undefined;
}

export interface SeedTable {
  /** Default: the resource group's location. */
  readonly location?: string | undefined;
  readonly tags?: Readonly<Record<string, string>> | undefined;
  readonly routes?: readonly SimpleRoute[] | undefined;
  readonly disableBgpRoutePropagation?: boolean | undefined;
  /** Subnet resource ids associated with the table. */
  readonly subnets?: readonly string[] | undefined;
}

export interface BeforeWriteContext {
  readonly method: string;
  readonly operation: OperationName;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly tableName: string;
  readonly routeName?: string | undefined;
}

export type BeforeWriteHook = (context: BeforeWriteContext) => void | Promise<void>;
