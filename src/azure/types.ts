// The narrow port between the reconcile logic and Azure. Only what the controller calls.
import type { Route, RouteChanges } from '../domain/types.ts';

export type { RouteChanges };

export interface TableRef {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
}

/** A route table as read, with the etag that guards the next write. */
export interface TableSnapshot {
  readonly ref: TableRef;
  readonly etag: string;
  readonly location: string;
  /** Every route as read, each with its own provisioningState. */
  readonly routes: readonly Route[];
  /**
   * The table's provisioningState as read (Succeeded, Updating, Failed, ...). Azure stores a PUT's body as the
   * goal state at once, so a table that is not Succeeded may hold routes that are not in effect (DESIGN 2.4).
   */
  readonly provisioningState: string;
  /** How many subnets the table is associated with. 0 means its routes have no effect. */
  readonly subnetCount: number;
  /** The table exactly as Azure returned it. Opaque to callers; the store writes it back with only our changes. */
  readonly source: unknown;
}

export interface RouteTableStore {
  /** GET the table. Resolves null when the table does not exist (404); every other failure throws AzureError. */
  read(ref: TableRef, signal?: AbortSignal): Promise<TableSnapshot | null>;
  /**
   * One whole-table PUT with `If-Match: snapshot.etag`, of the table as read with `changes` applied (empty
   * changes re-drive a Failed table). Refuses, sending nothing, a snapshot without an etag. Polls the operation
   * as Azure asks (Retry-After, else 250 ms doubling to pollIntervalMs) and resolves only after it reports
   * Succeeded, with the table read back by GET (so the snapshot carries the etag Azure now holds).
   * Throws AzureError: kind 'PreconditionFailed' on 412, 'OperationFailed' when the LRO ends Failed/Canceled
   * (with Azure's code and message), 'BadRequest' on 400 (azureMessage holds Azure's text).
   */
  write(snapshot: TableSnapshot, changes: RouteChanges, signal?: AbortSignal): Promise<TableSnapshot>;
  /** Creates an empty table (`If-None-Match: *`), with these tags, and waits for Succeeded. */
  create(
    ref: TableRef,
    location: string,
    signal?: AbortSignal,
    tags?: Readonly<Record<string, string>>,
  ): Promise<TableSnapshot>;
}

export function tableId(ref: TableRef): string {
  return `/subscriptions/${ref.subscriptionId}/resourceGroups/${ref.resourceGroup}/providers/Microsoft.Network/routeTables/${ref.name}`;
}
