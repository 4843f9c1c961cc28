// The doctor's vocabulary: what was read (the World, gathered once, read-only) and what each check found.
import type { AzureError } from '../azure/errors.ts';
import type { NicInfo, PermissionEntry, SubnetInfo, TableFacts } from '../azure/inventory.ts';
import type { TableRef, TableSnapshot } from '../azure/types.ts';
import type { LeaseInfo, NodeDetails } from '../kube/leases.ts';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export type CheckId =
  'identity' | 'permissions' | 'table' | 'subnets' | 'ip-forwarding' | 'other-writers' | 'nodes' | 'plan';

/** One check's verdict. Part of the documented JSON shape (docs/doctor.md): add fields, never rename. */
export interface CheckResult {
  readonly id: CheckId;
  readonly status: CheckStatus;
  /** One line: what it found. */
  readonly summary: string;
  /** Further findings, one per line (per table, per node). */
  readonly details: readonly string[];
  /** The exact fixes: an az or kubectl command where one exists, else one sentence. */
  readonly fixes: readonly string[];
}

export const DOCTOR_SCHEMA_VERSION = 1;

export interface DoctorReport {
  readonly schemaVersion: typeof DOCTOR_SCHEMA_VERSION;
  /** The worst status of any check. */
  readonly result: CheckStatus;
  /** 1 when a check failed, else 0. */
  readonly exitCode: 0 | 1;
  readonly checks: readonly CheckResult[];
}

/** A read that may have failed; `forbidden` when the identity may not read it (403). */
export type Read<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: string; readonly forbidden: boolean };

export interface TableWorld {
  readonly ref: TableRef;
  readonly snapshot: Read<TableSnapshot | null>;
  readonly facts: TableFacts | undefined;
  readonly permissions: Read<PermissionEntry[]>;
  /** The subnets the table names as associated, by lower-case id. */
  readonly subnets: ReadonlyMap<string, Read<SubnetInfo | null>>;
}

/** How a node's NIC was found: from its providerID VM, or by its InternalIP among a resource group's NICs. */
export interface NodeNic {
  readonly node: string;
  readonly ip: string | undefined;
  readonly via: 'providerID' | 'ip';
  readonly nic: Read<NicInfo | null>;
}

export interface World {
  readonly now: number;
  /** Which credential was used, described without secrets. */
  readonly credential: string;
  readonly tokenScope: string;
  readonly identity: Read<true>;
  readonly nodes: Read<NodeDetails[]>;
  readonly tables: readonly TableWorld[];
  readonly nics: readonly NodeNic[];
  readonly ccmLease: Read<LeaseInfo | null>;
  readonly ownLease: Read<LeaseInfo | null>;
}

export function failedRead(err: unknown): { ok: false; error: string; forbidden: boolean } {
  const e = err as Partial<AzureError> & { statusCode?: number; message?: string };
  const status = e.status ?? e.statusCode;
  return {
    ok: false,
    error: err instanceof Error ? err.message : String(err),
    forbidden: status === 403 || e.kind === 'Forbidden',
  };
}
