// The simulator's state: subscriptions, resource groups, route tables, and the async operations on them.
// Names match case-insensitively, as in ARM; stored ids keep the casing of the request that created them.
import { randomUUID } from 'node:crypto';
import { resourceGroupNotFound, resourceNotFound, subscriptionNotFound } from './errors.ts';
import {
  TABLE_TYPE,
  buildTable,
  findRoute,
  isObject,
  normalizeLocation,
  routeInput,
  upsertRoute,
  withoutRoute,
  newEtag,
} from './model.ts';
import type { JsonObject, SeedTable, SimpleRoute } from './types.ts';

export type OperationStatus = 'InProgress' | 'Succeeded' | 'Failed' | 'Canceled';

export interface OperationError {
  readonly code: string;
  readonly message: string;
  readonly details?: readonly { readonly code: string; readonly message: string }[] | undefined;
}

export interface OperationRecord {
  readonly id: string;
  readonly subscriptionId: string;
  readonly location: string;
  readonly tableKey: string;
  readonly startedAt: number;
  /** InProgress answers given so far. */
  polls: number;
  status: OperationStatus;
  readonly outcome: 'Succeeded' | 'Failed' | 'Canceled' | 'Never';
  error: OperationError | undefined;
  /** What the operation does, e.g. PutRouteTable: a later write of the same kind may supersede it. */
  readonly kind: string;
  /**
   * Settles the change (the body was stored when the write was accepted); dropped once the operation ends so
   * finished operations hold no table bodies.
   */
  commit: (() => void) | undefined;
  /** Runs when the operation ends Failed or Canceled. */
  abort: ((status: 'Failed' | 'Canceled') => void) | undefined;
}

export interface TableRecord {
  readonly key: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
  body: JsonObject;
  operation: OperationRecord | undefined;
}

interface GroupRecord {
  readonly name: string;
  readonly location: string;
}

interface SubscriptionRecord {
  readonly id: string;
  readonly groups: Map<string, GroupRecord>;
}

export interface StoreOptions {
  readonly now: () => number;
  readonly lroPolls: number;
  readonly lroDurationMs: number;
  readonly routeLimit: number;
  readonly defaultLocation: string;
}

export interface StartOperation {
  readonly record: TableRecord;
  readonly outcome: OperationRecord['outcome'];
  readonly error?: OperationError | undefined;
  readonly kind: string;
  readonly commit: () => void;
  readonly abort: (status: 'Failed' | 'Canceled') => void;
}

export function tableKey(subscriptionId: string, resourceGroup: string, name: string): string {
  return `${subscriptionId}/${resourceGroup}/${name}`.toLowerCase();
}

export class Store {
  readonly options: StoreOptions;
  readonly #subscriptions = new Map<string, SubscriptionRecord>();
  readonly #tables = new Map<string, TableRecord>();
  readonly #operations = new Map<string, OperationRecord>();

  constructor(options: StoreOptions) {
    this.options = options;
  }

  addSubscription(subscriptionId: string): void {
    const key = subscriptionId.toLowerCase();
    if (!this.#subscriptions.has(key))
      this.#subscriptions.set(key, { id: subscriptionId, groups: new Map() });
  }

  addResourceGroup(subscriptionId: string, name: string, location?: string): void {
    this.addSubscription(subscriptionId);
    const sub = this.#subscriptions.get(subscriptionId.toLowerCase());
    const key = name.toLowerCase();
    if (sub && !sub.groups.has(key)) {
      sub.groups.set(key, { name, location: normalizeLocation(location ?? this.options.defaultLocation) });
    }
  }

  requireSubscription(subscriptionId: string): void {
    if (!this.#subscriptions.has(subscriptionId.toLowerCase())) throw subscriptionNotFound(subscriptionId);
  }

  requireGroup(subscriptionId: string, resourceGroup: string): GroupRecord {
    this.requireSubscription(subscriptionId);
    const group = this.#subscriptions
      .get(subscriptionId.toLowerCase())
      ?.groups.get(resourceGroup.toLowerCase());
    if (!group) throw resourceGroupNotFound(resourceGroup);
    return group;
  }

  table(subscriptionId: string, resourceGroup: string, name: string): TableRecord | undefined {
    const record = this.#tables.get(tableKey(subscriptionId, resourceGroup, name));
    if (record?.operation) this.#refresh(record.operation);
    // Refreshing may have completed a delete.
    return this.#tables.get(tableKey(subscriptionId, resourceGroup, name));
  }

  requireTable(subscriptionId: string, resourceGroup: string, name: string): TableRecord {
    const record = this.table(subscriptionId, resourceGroup, name);
    if (!record) throw resourceNotFound(TABLE_TYPE, name, resourceGroup);
    return record;
  }

  /** Tables in creation order, of one resource group or of the whole subscription. */
  tables(subscriptionId: string, resourceGroup?: string): TableRecord[] {
    const prefix = resourceGroup === undefined ? `${subscriptionId}/` : `${subscriptionId}/${resourceGroup}/`;
    const keys = [...this.#tables.keys()].filter((key) => key.startsWith(prefix.toLowerCase()));
    for (const key of keys) {
      const op = this.#tables.get(key)?.operation;
      if (op) this.#refresh(op);
    }
    return keys.map((key) => this.#tables.get(key)).filter((r): r is TableRecord => r !== undefined);
  }

  /** The table as GET shows it. The body carries its own provisioningState, and its routes'. */
  view(record: TableRecord): JsonObject {
    return structuredClone(record.body);
  }

  /** The running operation on the table, if any. */
  busy(record: TableRecord): OperationRecord | undefined {
    const op = record.operation;
    if (!op) return undefined;
    this.#refresh(op);
    return op.status === 'InProgress' ? op : undefined;
  }

  /** Registers a table that a PUT is creating; it is visible (Updating) at once, as in Azure. */
  createRecord(subscriptionId: string, resourceGroup: string, name: string, body: JsonObject): TableRecord {
    const record: TableRecord = {
      key: tableKey(subscriptionId, resourceGroup, name),
      subscriptionId,
      resourceGroup,
      name,
      body,
      operation: undefined,
    };
    this.#tables.set(record.key, record);
    return record;
  }

  removeRecord(record: TableRecord): void {
    if (this.#tables.get(record.key) === record) this.#tables.delete(record.key);
  }

  startOperation(start: StartOperation): OperationRecord {
    const { record } = start;
    const location = typeof record.body['location'] === 'string' ? record.body['location'] : 'westus';
    const op: OperationRecord = {
      id: randomUUID(),
      subscriptionId: record.subscriptionId,
      location,
      tableKey: record.key,
      startedAt: this.options.now(),
      polls: 0,
      status: 'InProgress',
      outcome: start.outcome,
      error: start.error,
      kind: start.kind,
      commit: start.commit,
      abort: start.abort,
    };
    this.#operations.set(op.id, op);
    record.operation = op;
    return op;
  }

  operation(id: string): OperationRecord | undefined {
    return this.#operations.get(id.toLowerCase());
  }

  /** One status request: the operation completes once it has answered InProgress often enough and is old enough. */
  poll(op: OperationRecord): void {
    if (op.status !== 'InProgress') return;
    if (this.#eligible(op)) this.#finish(op);
    else op.polls++;
  }

  /**
   * Ends `op` Canceled because `by`, a later write of the same kind on the same resource, was accepted, as
   * Microsoft.Network does (CanceledAndSupersededDueToAnotherOperation). `by`'s goal state stands.
   */
  supersede(op: OperationRecord, by: OperationRecord): void {
    if (op.status !== 'InProgress') return;
    op.status = 'Canceled';
    op.error = {
      code: 'Canceled',
      message: 'Operation was canceled.',
      details: [
        {
          code: 'CanceledAndSupersededDueToAnotherOperation',
          message: `Operation ${op.kind}Operation (${op.id}) was canceled and superseded by operation ${by.kind}Operation (${by.id}).`,
        },
      ],
    };
    op.commit = undefined;
    op.abort = undefined;
  }

  /** Completes every running operation now (except those that never finish). */
  settle(): void {
    for (const op of this.#operations.values()) {
      if (op.status === 'InProgress' && op.outcome !== 'Never') this.#finish(op);
    }
  }

  /** Running operations. */
  pending(): OperationRecord[] {
    return [...this.#operations.values()].filter((op) => op.status === 'InProgress');
  }

  #eligible(op: OperationRecord): boolean {
    return (
      op.outcome !== 'Never' &&
      op.polls >= this.options.lroPolls &&
      this.options.now() - op.startedAt >= this.options.lroDurationMs
    );
  }

  #refresh(op: OperationRecord): void {
    if (op.status === 'InProgress' && this.#eligible(op)) this.#finish(op);
  }

  #finish(op: OperationRecord): void {
    const record = this.#tables.get(op.tableKey);
    if (record?.operation === op) record.operation = undefined;
    if (op.outcome === 'Succeeded') {
      op.commit?.();
      op.status = 'Succeeded';
    } else if (op.outcome === 'Failed' || op.outcome === 'Canceled') {
      op.abort?.(op.outcome);
      op.status = op.outcome;
    }
    op.commit = undefined;
    op.abort = undefined;
  }

  // ---- Out-of-band changes (the test's hand, not the API): synchronous, no operation, no validation bypass.

  seedTable(subscriptionId: string, resourceGroup: string, name: string, seed: SeedTable): JsonObject {
    const group = this.requireGroup(subscriptionId, resourceGroup);
    const existing = this.#tables.get(tableKey(subscriptionId, resourceGroup, name));
    const prior = existing?.body;
    const priorProps = isObject(prior?.['properties']) ? prior['properties'] : {};
    const input: JsonObject = {
      location: seed.location ?? prior?.['location'] ?? group.location,
      ...(seed.tags !== undefined
        ? { tags: seed.tags }
        : prior?.['tags'] !== undefined
          ? { tags: prior['tags'] }
          : {}),
      properties: {
        disableBgpRoutePropagation:
          seed.disableBgpRoutePropagation ?? priorProps['disableBgpRoutePropagation'] ?? false,
        routes: seed.routes ? seed.routes.map(routeInput) : (priorProps['routes'] ?? []),
      },
    };
    const body = buildTable({
      identity: existing ?? { subscriptionId, resourceGroup, name },
      prior,
      input,
      defaultLocation: group.location,
      routeLimit: this.options.routeLimit,
    });
    if (seed.subnets !== undefined) setSubnetsOn(body, seed.subnets);
    if (existing) {
      existing.body = body;
      return structuredClone(body);
    }
    this.createRecord(subscriptionId, resourceGroup, name, body);
    return structuredClone(body);
  }

  seedRoute(subscriptionId: string, resourceGroup: string, name: string, route: SimpleRoute): void {
    const record = this.requireTable(subscriptionId, resourceGroup, name);
    record.body = upsertRoute(record.body, route.name, routeInput(route), this.options.routeLimit).table;
  }

  removeRoute(subscriptionId: string, resourceGroup: string, name: string, routeName: string): boolean {
    const record = this.requireTable(subscriptionId, resourceGroup, name);
    if (!findRoute(record.body, routeName)) return false;
    record.body = withoutRoute(record.body, routeName);
    return true;
  }

  setSubnets(
    subscriptionId: string,
    resourceGroup: string,
    name: string,
    subnetIds: readonly string[],
  ): void {
    const record = this.requireTable(subscriptionId, resourceGroup, name);
    const body = structuredClone(record.body);
    setSubnetsOn(body, subnetIds);
    body['etag'] = newEtag();
    record.body = body;
  }

  deleteTable(subscriptionId: string, resourceGroup: string, name: string): boolean {
    const record = this.#tables.get(tableKey(subscriptionId, resourceGroup, name));
    if (!record) return false;
    this.removeRecord(record);
    return true;
  }
}

function setSubnetsOn(body: JsonObject, subnetIds: readonly string[]): void {
  const props = body['properties'];
  if (!isObject(props)) return;
  if (subnetIds.length === 0) delete props['subnets'];
  else props['subnets'] = subnetIds.map((id) => ({ id }));
}
