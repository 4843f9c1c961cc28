// The result of one reconcile: what the text and JSON outputs print and what the exit code is derived from.
// The JSON form is a documented, stable interface (README "JSON output"); add fields, never rename them.
import type { NetworkCondition } from '../kube/types.ts';
import type { SkippedNode } from '../domain/types.ts';

// Still 1: every field added since (provisioningState, provisioningStateRead, redrive, rejected, summary.rejected
// and summary.redrives)
// is an addition, and no field changed its meaning.
export const REPORT_SCHEMA_VERSION = 1;

export interface RouteRow {
  readonly name: string;
  readonly addressPrefix: string;
  readonly nextHopType: string;
  readonly nextHopIpAddress?: string | undefined;
  readonly node?: string | undefined;
  /**
   * Azure's provisioningState of the route as read (Succeeded, Updating, Failed); absent for a route this run
   * creates. A kept route that is not Succeeded is re-driven with its table (TableReport.redrive).
   */
  readonly provisioningState?: string | undefined;
}

/** A route Azure refused (a 400 naming it): set aside so the rest of the table was written (DESIGN 2.4). */
export interface RejectedRow {
  readonly node: string;
  readonly addressPrefix: string;
  /** Azure's message, as it gave it. */
  readonly message: string;
}

export interface UpdateRow extends RouteRow {
  readonly from: { readonly nextHopType: string; readonly nextHopIpAddress?: string | undefined };
}

export interface ConflictRow {
  readonly node: string;
  readonly addressPrefix: string;
  readonly kind: 'PrefixHeldByForeignRoute' | 'NameHeldByForeignRoute';
  readonly existing: RouteRow;
}

export type TableStatus =
  /** Nothing to change. */
  | 'InSync'
  /** Changes written, and Azure reported Succeeded. */
  | 'Applied'
  /** Dry run: these changes would be written. */
  | 'WouldApply'
  /** The table does not exist (and --create-route-table was not given, or this is a dry run that would create it). */
  | 'NotFound'
  | 'Failed';

export interface TableReport {
  readonly id: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
  readonly status: TableStatus;
  /** True when the table was created by this run (or would be, in a dry run). */
  readonly created: boolean;
  readonly subnetCount?: number | undefined;
  readonly etag?: string | undefined;
  /**
   * The table's provisioningState as Azure last showed it: after our write, the state that write left;
   * otherwise as read. Anything but Succeeded means its routes are not all in effect (DESIGN 2.4).
   */
  readonly provisioningState?: string | undefined;
  /** The table's provisioningState when this run last read it, before any write of ours (Failed, Updating...). */
  readonly provisioningStateRead?: string | undefined;
  /**
   * The table, or a route of ours in it, did not read Succeeded (a write that failed, or one whose writer died),
   * so it was re-written as it stands with a guarded PUT (in a dry run: would be). Its kept routes count as in
   * place only once that PUT Succeeded.
   */
  readonly redrive: boolean;
  /** Whole-table PUTs that Azure confirmed. */
  readonly writes: number;
  /** Read-plan-write attempts (more than one after 412 or throttling). */
  readonly attempts: number;
  readonly actions: {
    readonly create: readonly RouteRow[];
    readonly update: readonly UpdateRow[];
    readonly delete: readonly RouteRow[];
    readonly keep: readonly RouteRow[];
    readonly conflict: readonly ConflictRow[];
    readonly overLimit: readonly { readonly node: string; readonly addressPrefix: string }[];
  };
  /** Desired routes Azure refused; each node concerned is NetworkUnavailable with Azure's message. */
  readonly rejected: readonly RejectedRow[];
  /** Routes that are not ours, left exactly as they were. */
  readonly foreignRoutes: number;
  /** Deletes held back because the node list was empty (DESIGN 2.6). */
  readonly withheldDeletes: number;
  /** The table's routes after the run (when known). */
  readonly routes?: readonly RouteRow[] | undefined;
  readonly warnings: readonly string[];
  readonly error?:
    | { readonly kind: string; readonly message: string; readonly retryAfterMs?: number | undefined }
    | undefined;
}

export interface ConditionRow extends NetworkCondition {
  readonly node: string;
  /** patched: written now; unchanged: already correct; pending: would be written (dry run); failed: the patch failed; disabled: --no-node-conditions. */
  readonly result: 'patched' | 'unchanged' | 'pending' | 'failed' | 'disabled';
  readonly error?: string | undefined;
}

export type RunResult = 'InSync' | 'Applied' | 'PendingChanges' | 'Failed';

export interface SyncReport {
  readonly schemaVersion: number;
  readonly dryRun: boolean;
  readonly result: RunResult;
  readonly exitCode: 0 | 1 | 3;
  readonly nodes: { readonly total: number; readonly routable: number };
  readonly skipped: readonly SkippedNode[];
  readonly tables: readonly TableReport[];
  readonly conditions: readonly ConditionRow[];
  readonly summary: {
    readonly create: number;
    readonly update: number;
    readonly delete: number;
    readonly keep: number;
    readonly conflict: number;
    readonly overLimit: number;
    /** Routes Azure refused, over all tables (TableReport.rejected). */
    readonly rejected: number;
    /** Tables re-driven because they (or a route of ours) did not read Succeeded (TableReport.redrive). */
    readonly redrives: number;
    /** Refused nodes (every skip reason except NoPodCIDR). */
    readonly refused: number;
    readonly failedTables: number;
    readonly writes: number;
  };
  readonly warnings: readonly string[];
  readonly durationMs: number;
}
