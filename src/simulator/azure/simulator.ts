// The HTTP face of the simulator: ARM routing, preconditions, long-running operations, faults, throttling, the log.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import {
  ArmError,
  anotherOperationInProgress,
  authenticationFailed,
  authorizationFailed,
  badRequest,
  invalidAuthenticationToken,
  missingApiVersion,
  preconditionFailed,
  resourceNotFound,
  serverError,
  throttled,
} from './errors.ts';
import { FaultRegistry } from './faults.ts';
import type { FaultContext, ResponderFault } from './faults.ts';
import {
  TABLE_TYPE,
  buildTable,
  carrySubnets,
  findRoute,
  goalState,
  invalidNextHop,
  isObject,
  isValidTags,
  listRoutes,
  newEtag,
  prefixKeyOf,
  routesForRefusal,
  simpleRoute,
  upsertRoute,
  validateName,
  withStates,
  withoutRoute,
} from './model.ts';
import { Inventory, inventoryMethodNotAllowed } from './inventory.ts';
import { Store } from './store.ts';
import type { OperationRecord, TableRecord } from './store.ts';
import { Throttle } from './throttle.ts';
import type { RequestKind } from './throttle.ts';
import type {
  AzureSimulatorOptions,
  BeforeWriteContext,
  BeforeWriteHook,
  FaultControl,
  JsonObject,
  OperationName,
  RequestCounts,
  RequestLogEntry,
  SeedTable,
  SimpleRoute,
  ThrottlingOptions,
} from './types.ts';

export interface AzureSimulator {
  /** `http://127.0.0.1:<port>`: the SDK's `endpoint`. */
  readonly url: string;
  readonly faults: FaultControl;
  /** Every request, in arrival order; `status` is filled in when it is answered. */
  readonly requests: readonly RequestLogEntry[];
  counts(): RequestCounts;
  resetLog(): void;

  addSubscription(subscriptionId: string): void;
  addResourceGroup(subscriptionId: string, name: string, location?: string): void;
  /**
   * Creates or replaces a table at once (no operation, no preconditions), registering the subscription and
   * resource group if needed. Fields left out keep their current value. Throws on an invalid table.
   * Returns the stored body.
   */
  putTable(subscriptionId: string, resourceGroup: string, name: string, seed?: SeedTable): JsonObject;
  /**
   * The stored body, or undefined: the goal state of the last accepted write, with the provisioningState of the
   * table and its routes (Updating while that write runs, Failed if it failed).
   */
  getTable(subscriptionId: string, resourceGroup: string, name: string): JsonObject | undefined;
  /** The table's routes, simplified. Throws when the table does not exist. */
  routes(subscriptionId: string, resourceGroup: string, name: string): SimpleRoute[];
  /** Adds or replaces one route at once, as a foreign writer would. */
  putRoute(subscriptionId: string, resourceGroup: string, name: string, route: SimpleRoute): void;
  /** Removes one route at once. Returns whether it existed. */
  deleteRoute(subscriptionId: string, resourceGroup: string, name: string, routeName: string): boolean;
  /** Sets the subnets associated with the table (read-only through the API). Empty removes the property. */
  setSubnets(subscriptionId: string, resourceGroup: string, name: string, subnetIds: readonly string[]): void;
  deleteTable(subscriptionId: string, resourceGroup: string, name: string): boolean;

  /**
   * Runs `hook` before every write (PUT, PATCH, DELETE of a table or route) is evaluated, so a test can change
   * the table between a client's GET and its PUT. Returns a function that removes the hook.
   */
  onBeforeWrite(hook: BeforeWriteHook): () => void;
  /** Completes every running operation now (except lroNeverFinishes ones). */
  settle(): void;
  /** How many async operations are running. */
  pendingOperations(): number;
  /** Turns ARM throttling on (or off with undefined) at runtime; buckets start full. */
  setThrottling(options: ThrottlingOptions | undefined): void;
  /** Subnets, NICs, VMs and permissions, for `doctor` (read-only through the API; seeded here). */
  readonly inventory: Inventory;
  close(): Promise<void>;
}

export async function startAzureSimulator(options: AzureSimulatorOptions = {}): Promise<AzureSimulator> {
  const simulator = new Simulator(options);
  await simulator.listen();
  return simulator;
}

type Target =
  | { readonly kind: 'tables'; readonly sub: string; readonly rg: string | undefined }
  | { readonly kind: 'table'; readonly sub: string; readonly rg: string; readonly name: string }
  | { readonly kind: 'routes'; readonly sub: string; readonly rg: string; readonly name: string }
  | {
      readonly kind: 'route';
      readonly sub: string;
      readonly rg: string;
      readonly name: string;
      readonly route: string;
    }
  | {
      readonly kind: 'operation';
      readonly sub: string;
      readonly location: string;
      readonly id: string;
      readonly results: boolean;
    }
  | { readonly kind: 'unknown' };

const ALLOWED_METHODS: Record<Target['kind'], readonly string[]> = {
  tables: ['GET'],
  table: ['GET', 'PUT', 'DELETE', 'PATCH'],
  routes: ['GET'],
  route: ['GET', 'PUT', 'DELETE'],
  operation: ['GET'],
  unknown: [],
};

const MAX_BODY_BYTES = 16 * 1024 * 1024;
/** The Retry-After real Azure puts on the answer to a route-table PUT or DELETE (the recording's value). */
const DEFAULT_LRO_RETRY_AFTER_SECONDS = 2;
const NO_ROUTES: ReadonlySet<string> = new Set();
const PUT_TABLE = 'PutRouteTable';
const ZERO_CLIENT = '00000000-0000-0000-0000-000000000000';

type MutableEntry = { -readonly [K in keyof RequestLogEntry]: RequestLogEntry[K] };

/** One request being answered: the ARM headers every answer carries, and the log entry it completes. */
class Reply {
  readonly #res: ServerResponse;
  readonly #entry: MutableEntry;
  readonly headers: Record<string, string>;

  constructor(req: IncomingMessage, res: ServerResponse, entry: MutableEntry) {
    this.#res = res;
    this.#entry = entry;
    const requestId = randomUUID();
    this.headers = {
      'cache-control': 'no-cache',
      pragma: 'no-cache',
      expires: '-1',
      'x-ms-request-id': requestId,
      'x-ms-correlation-request-id': headerValue(req, 'x-ms-correlation-request-id') ?? randomUUID(),
      'x-ms-routing-request-id': `SIMULATOR:${requestId}`,
    };
    const clientRequestId = headerValue(req, 'x-ms-client-request-id');
    if (clientRequestId !== undefined) this.headers['x-ms-client-request-id'] = clientRequestId;
  }

  send(status: number, body?: unknown, headers: Record<string, string> = {}): void {
    this.#entry.status = status;
    if (this.#res.destroyed || this.#res.headersSent) return;
    const text = body === undefined ? undefined : JSON.stringify(body);
    const all: Record<string, string> = { ...this.headers, ...headers };
    if (text !== undefined) {
      all['content-type'] = 'application/json; charset=utf-8';
      all['content-length'] = String(Buffer.byteLength(text));
    } else {
      all['content-length'] = '0';
    }
    this.#res.writeHead(status, all);
    this.#res.end(text);
  }

  error(error: ArmError): void {
    this.#entry.errorCode = error.code;
    const retryAfter = Number(error.headers['retry-after']);
    if (Number.isFinite(retryAfter)) this.#entry.retryAfterSeconds = retryAfter;
    this.send(error.status, error.body(), { ...error.headers });
  }
}

class Simulator implements AzureSimulator {
  readonly faults: FaultRegistry;
  readonly inventory: Inventory;
  readonly #options: AzureSimulatorOptions;
  readonly #now: () => number;
  readonly #store: Store;
  readonly #throttle: Throttle;
  readonly #server: Server;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #hooks = new Set<BeforeWriteHook>();
  #log: MutableEntry[] = [];
  #seq = 0;
  #url = '';

  constructor(options: AzureSimulatorOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    for (const [name, value] of Object.entries({
      lroPolls: options.lroPolls,
      lroDurationMs: options.lroDurationMs,
      latencyMs: options.latencyMs,
    })) {
      if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
        throw new RangeError(`${name} must be a non-negative number, got ${value}`);
      }
    }
    const retryAfter = options.lroRetryAfterSeconds;
    if (
      retryAfter !== undefined &&
      retryAfter !== 'none' &&
      !(Number.isFinite(retryAfter) && retryAfter >= 0)
    ) {
      throw new RangeError(`lroRetryAfterSeconds must be a non-negative number or 'none', got ${retryAfter}`);
    }
    if (
      options.concurrentWrites !== undefined &&
      !['refuse', 'supersede'].includes(options.concurrentWrites)
    ) {
      throw new RangeError(
        `concurrentWrites must be 'refuse' or 'supersede', got ${options.concurrentWrites}`,
      );
    }
    if (
      options.lroFailureMode !== undefined &&
      !['keepGoalState', 'revert'].includes(options.lroFailureMode)
    ) {
      throw new RangeError(
        `lroFailureMode must be 'keepGoalState' or 'revert', got ${options.lroFailureMode}`,
      );
    }
    for (const [name, value] of Object.entries({
      routeLimit: options.routeLimit,
      pageSize: options.pageSize,
    })) {
      if (value !== undefined && !(Number.isInteger(value) && value >= 1)) {
        throw new RangeError(`${name} must be a positive integer, got ${value}`);
      }
    }
    this.faults = new FaultRegistry();
    this.#store = new Store({
      now: this.#now,
      lroPolls: options.lroPolls ?? 1,
      lroDurationMs: options.lroDurationMs ?? 0,
      routeLimit: options.routeLimit ?? 400,
      defaultLocation: options.defaultLocation ?? 'westus',
    });
    this.#throttle = new Throttle(options.throttling, this.#now);
    this.inventory = new Inventory({
      routeTableOf: (subnetId) => this.#routeTableOf(subnetId),
      requireGroup: (sub, rg) => void this.#store.requireGroup(sub, rg),
      requireSubscription: (sub) => this.#store.requireSubscription(sub),
      pageSize: options.pageSize ?? 100,
    });
    for (const sub of options.subscriptions ?? []) this.#store.addSubscription(sub);
    for (const group of options.resourceGroups ?? []) {
      this.#store.addResourceGroup(group.subscriptionId, group.name, group.location);
    }
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        // #handle answers every error it can; this is only for a failure while answering.
        if (!res.headersSent && !res.destroyed) {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(error));
        }
      });
    });
    this.#server.keepAliveTimeout = 5_000;
  }

  async listen(): Promise<void> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('simulator: no TCP address');
    this.#url = `http://127.0.0.1:${address.port}`;
  }

  get url(): string {
    return this.#url;
  }

  get requests(): readonly RequestLogEntry[] {
    return this.#log;
  }

  counts(): RequestCounts {
    let reads = 0;
    let writes = 0;
    let polls = 0;
    const byOperation: Record<string, number> = {};
    const byStatus: Record<string, number> = {};
    for (const entry of this.#log) {
      if (entry.operation === 'Operations_Get' || entry.operation === 'OperationResults_Get') polls++;
      else if (entry.method === 'GET') reads++;
      else writes++;
      byOperation[entry.operation] = (byOperation[entry.operation] ?? 0) + 1;
      byStatus[String(entry.status)] = (byStatus[String(entry.status)] ?? 0) + 1;
    }
    return { reads, writes, polls, byOperation, byStatus };
  }

  resetLog(): void {
    this.#log = [];
  }

  addSubscription(subscriptionId: string): void {
    this.#store.addSubscription(subscriptionId);
  }

  addResourceGroup(subscriptionId: string, name: string, location?: string): void {
    this.#store.addResourceGroup(subscriptionId, name, location);
  }

  putTable(subscriptionId: string, resourceGroup: string, name: string, seed: SeedTable = {}): JsonObject {
    validateName(name);
    this.#store.addResourceGroup(subscriptionId, resourceGroup, seed.location);
    return this.#store.seedTable(subscriptionId, resourceGroup, name, seed);
  }

  getTable(subscriptionId: string, resourceGroup: string, name: string): JsonObject | undefined {
    const record = this.#store.table(subscriptionId, resourceGroup, name);
    return record ? structuredClone(record.body) : undefined;
  }

  routes(subscriptionId: string, resourceGroup: string, name: string): SimpleRoute[] {
    return listRoutes(this.#store.requireTable(subscriptionId, resourceGroup, name).body).map(simpleRoute);
  }

  putRoute(subscriptionId: string, resourceGroup: string, name: string, route: SimpleRoute): void {
    this.#store.seedRoute(subscriptionId, resourceGroup, name, route);
  }

  deleteRoute(subscriptionId: string, resourceGroup: string, name: string, routeName: string): boolean {
    return this.#store.removeRoute(subscriptionId, resourceGroup, name, routeName);
  }

  setSubnets(
    subscriptionId: string,
    resourceGroup: string,
    name: string,
    subnetIds: readonly string[],
  ): void {
    this.#store.setSubnets(subscriptionId, resourceGroup, name, subnetIds);
  }

  deleteTable(subscriptionId: string, resourceGroup: string, name: string): boolean {
    return this.#store.deleteTable(subscriptionId, resourceGroup, name);
  }

  onBeforeWrite(hook: BeforeWriteHook): () => void {
    this.#hooks.add(hook);
    return () => {
      this.#hooks.delete(hook);
    };
  }

  settle(): void {
    this.#store.settle();
  }

  pendingOperations(): number {
    return this.#store.pending().length;
  }

  setThrottling(options: ThrottlingOptions | undefined): void {
    this.#throttle.configure(options);
  }

  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  /** The table whose properties.subnets lists the subnet: Azure keeps both sides of the association. */
  #routeTableOf(subnetId: string): string | undefined {
    const sub = subnetId.split('/')[2] ?? '';
    for (const record of this.#store.tables(sub)) {
      const subnets = (record.body['properties'] as { subnets?: { id?: unknown }[] } | undefined)?.subnets;
      if (subnets?.some((s) => String(s.id).toLowerCase() === subnetId.toLowerCase())) {
        return String(record.body['id']);
      }
    }
    return undefined;
  }

  // ---- Request handling

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://simulator.invalid');
    const target = parseTarget(url.pathname);
    const inventoryMatch = target.kind === 'unknown' ? this.inventory.match(url.pathname) : undefined;
    const operation = inventoryMatch?.operation ?? operationName(method, target);
    const entry: MutableEntry = {
      seq: ++this.#seq,
      method,
      path: url.pathname,
      query: url.search,
      operation,
      status: 0,
      ifMatch: headerValue(req, 'if-match'),
      ifNoneMatch: headerValue(req, 'if-none-match'),
      authorized: headerValue(req, 'authorization') !== undefined,
      time: this.#now(),
    };
    this.#log.push(entry);
    const reply = new Reply(req, res, entry);
    try {
      const text = await readBody(req);
      const context: FaultContext = { method, path: url.pathname, operation };
      const delay = (this.#options.latencyMs ?? 0) + this.faults.takeLatency(context);
      if (delay > 0) await this.#sleep(delay);

      const responder = this.faults.takeResponder(context);
      if (responder) {
        entry.faultId = responder.id;
        if (responder.fault.kind === 'dropConnection') {
          entry.dropped = true;
          req.socket.destroy();
          return;
        }
        throw faultError(responder.fault, method, target, url.pathname);
      }
      if (
        this.#options.requireAuthorization &&
        !/^Bearer\s+\S/i.test(headerValue(req, 'authorization') ?? '')
      ) {
        throw authenticationFailed();
      }
      if (inventoryMatch) {
        if (method !== 'GET') throw inventoryMethodNotAllowed(method);
        if (!url.searchParams.get('api-version')) throw missingApiVersion();
        reply.send(200, this.inventory.answer(inventoryMatch, url, this.#url));
        return;
      }
      if (target.kind === 'unknown') {
        throw new ArmError(
          404,
          'InvalidResourceType',
          `The simulator does not serve '${url.pathname}'. It implements Microsoft.Network/routeTables, their routes ` +
            'and async operation status only.',
        );
      }
      if (!ALLOWED_METHODS[target.kind].includes(method)) {
        throw new ArmError(
          405,
          'MethodNotAllowed',
          `The requested resource does not support http method '${method}'.`,
        );
      }
      const apiVersion = url.searchParams.get('api-version');
      if (!apiVersion) throw missingApiVersion();
      this.#store.requireSubscription(target.sub);

      const kind: RequestKind = method === 'GET' ? 'read' : method === 'DELETE' ? 'delete' : 'write';
      const taken = this.#throttle.take(kind, target.sub);
      if (taken && !taken.ok) throw throttled(kind, target.sub, taken.retryAfterSeconds);
      const remaining = taken?.remaining;
      if (kind === 'read') {
        reply.headers['x-ms-ratelimit-remaining-subscription-reads'] = String(remaining ?? 249);
        reply.headers['x-ms-ratelimit-remaining-subscription-global-reads'] = String(remaining ?? 3749);
      } else if (kind === 'delete') {
        reply.headers['x-ms-ratelimit-remaining-subscription-deletes'] = String(remaining ?? 199);
        reply.headers['x-ms-ratelimit-remaining-subscription-global-deletes'] = String(remaining ?? 2999);
      } else {
        reply.headers['x-ms-ratelimit-remaining-subscription-writes'] = String(remaining ?? 199);
        reply.headers['x-ms-ratelimit-remaining-subscription-global-writes'] = String(remaining ?? 2999);
      }

      const request: Request = { req, method, url, apiVersion, text, reply, context };
      await this.#dispatch(target, request);
    } catch (error) {
      reply.error(
        error instanceof ArmError ? error : new ArmError(500, 'InternalServerError', String(error)),
      );
    }
  }

  async #dispatch(target: Exclude<Target, { kind: 'unknown' }>, r: Request): Promise<void> {
    switch (target.kind) {
      case 'tables':
        return this.#listTables(target, r);
      case 'table':
        if (r.method === 'GET') return this.#getTable(target, r);
        if (r.method === 'PUT') return this.#putTable(target, r);
        if (r.method === 'DELETE') return this.#deleteTable(target, r);
        return this.#patchTable(target, r);
      case 'routes':
        return this.#listRoutes(target, r);
      case 'route':
        if (r.method === 'GET') return this.#getRoute(target, r);
        if (r.method === 'PUT') return this.#putRoute(target, r);
        return this.#deleteRoute(target, r);
      case 'operation':
        return this.#pollOperation(target, r);
    }
  }

  #listTables(target: Extract<Target, { kind: 'tables' }>, r: Request): void {
    if (target.rg !== undefined) this.#store.requireGroup(target.sub, target.rg);
    const values = this.#store.tables(target.sub, target.rg).map((record) => this.#store.view(record));
    r.reply.send(200, this.#page(values, r));
  }

  #getTable(target: TableTarget, r: Request): void {
    this.#store.requireGroup(target.sub, target.rg);
    const body = this.#store.view(this.#store.requireTable(target.sub, target.rg, target.name));
    r.reply.send(200, body, etagHeader(body));
  }

  async #putTable(target: TableTarget, r: Request): Promise<void> {
    this.#store.requireGroup(target.sub, target.rg);
    validateName(target.name);
    const input = parseObject(r.text);
    await this.#beforeWrite(target, r);
    const record = this.#store.table(target.sub, target.rg, target.name);
    const superseded = record ? this.#refuseIfBusy(record, r.url.pathname, PUT_TABLE) : undefined;
    checkPreconditions(r.req, etagOf(record?.body), r.url.pathname);
    const prior = record?.body;
    const pending = buildTable({
      identity: record ?? { subscriptionId: target.sub, resourceGroup: target.rg, name: target.name },
      prior,
      input,
      defaultLocation: this.#store.requireGroup(target.sub, target.rg).location,
      routeLimit: this.#store.options.routeLimit,
    });
    this.#refuseRoutes(r.context, pending);
    // Azure stores the body as the goal state at once; the operation only settles its provisioningState.
    const { body, touched } = goalState(pending, prior);
    const lro = this.#lroOutcome(r.context);
    const stored = record ?? this.#store.createRecord(target.sub, target.rg, target.name, body);
    stored.body = body;
    const op = this.#store.startOperation({
      record: stored,
      kind: PUT_TABLE,
      ...lro,
      commit: () => {
        stored.body = withStates(stored.body, 'Succeeded', touched);
      },
      abort: () => this.#failWrite(stored, touched, prior),
    });
    if (superseded) this.#store.supersede(superseded, op);
    r.reply.send(record ? 200 : 201, this.#store.view(stored), this.#asyncHeaders(r, op, false));
  }

  async #deleteTable(target: TableTarget, r: Request): Promise<void> {
    this.#store.requireGroup(target.sub, target.rg);
    await this.#beforeWrite(target, r);
    const record = this.#store.table(target.sub, target.rg, target.name);
    if (!record) {
      checkPreconditions(r.req, undefined, r.url.pathname);
      r.reply.send(204);
      return;
    }
    this.#refuseIfBusy(record, r.url.pathname);
    checkPreconditions(r.req, etagOf(record.body), r.url.pathname);
    const prior = record.body;
    record.body = withStates(record.body, 'Deleting', NO_ROUTES);
    const op = this.#store.startOperation({
      record,
      kind: 'DeleteRouteTable',
      ...this.#lroOutcome(r.context),
      commit: () => this.#store.removeRecord(record),
      abort: () => this.#failWrite(record, NO_ROUTES, prior),
    });
    r.reply.send(202, undefined, this.#asyncHeaders(r, op, true));
  }

  async #patchTable(target: TableTarget, r: Request): Promise<void> {
    this.#store.requireGroup(target.sub, target.rg);
    const input = parseObject(r.text);
    await this.#beforeWrite(target, r);
    const record = this.#store.requireTable(target.sub, target.rg, target.name);
    this.#refuseIfBusy(record, r.url.pathname);
    checkPreconditions(r.req, etagOf(record.body), r.url.pathname);
    const tags = input['tags'];
    if (tags !== undefined && tags !== null && !isValidTags(tags)) {
      throw badRequest(
        'InvalidRequestFormat',
        'Cannot parse the request. Tags must be an object of string values.',
      );
    }
    const body = structuredClone(record.body);
    if (isValidTags(tags)) body['tags'] = { ...tags };
    body['etag'] = newEtag();
    record.body = body;
    // Synchronous, as the recording shows: 200 with the body, no operation, no ETag header.
    r.reply.send(200, this.#store.view(record), { 'azure-asyncnotification': 'Enabled' });
  }

  #listRoutes(target: TableTarget, r: Request): void {
    this.#store.requireGroup(target.sub, target.rg);
    const record = this.#store.requireTable(target.sub, target.rg, target.name);
    r.reply.send(200, this.#page(listRoutes(this.#store.view(record)), r));
  }

  #getRoute(target: RouteTarget, r: Request): void {
    this.#store.requireGroup(target.sub, target.rg);
    const record = this.#store.requireTable(target.sub, target.rg, target.name);
    const route = findRoute(this.#store.view(record), target.route);
    if (!route) throw routeNotFound(target);
    r.reply.send(200, route, etagHeader(route));
  }

  async #putRoute(target: RouteTarget, r: Request): Promise<void> {
    this.#store.requireGroup(target.sub, target.rg);
    validateName(target.route);
    const input = parseObject(r.text);
    await this.#beforeWrite(target, r);
    const record = this.#store.requireTable(target.sub, target.rg, target.name);
    this.#refuseIfBusy(record, r.url.pathname);
    const existing = findRoute(record.body, target.route);
    checkPreconditions(r.req, etagOf(existing), r.url.pathname);
    const { table } = upsertRoute(record.body, target.route, input, this.#store.options.routeLimit);
    this.#refuseRoutes(r.context, table);
    const prior = record.body;
    const touched = new Set([target.route.toLowerCase()]);
    record.body = withStates(table, 'Updating', touched);
    const op = this.#store.startOperation({
      record,
      kind: 'PutRoute',
      ...this.#lroOutcome(r.context),
      commit: () => {
        record.body = withStates(record.body, 'Succeeded', touched);
      },
      abort: () => this.#failWrite(record, touched, prior),
    });
    const route = findRoute(record.body, target.route) ?? {};
    r.reply.send(existing ? 200 : 201, structuredClone(route), this.#asyncHeaders(r, op, false));
  }

  async #deleteRoute(target: RouteTarget, r: Request): Promise<void> {
    this.#store.requireGroup(target.sub, target.rg);
    await this.#beforeWrite(target, r);
    const record = this.#store.requireTable(target.sub, target.rg, target.name);
    this.#refuseIfBusy(record, r.url.pathname);
    const existing = findRoute(record.body, target.route);
    checkPreconditions(r.req, etagOf(existing), r.url.pathname);
    if (!existing) {
      r.reply.send(204);
      return;
    }
    const prior = record.body;
    const touched = new Set([target.route.toLowerCase()]);
    record.body = { ...withStates(record.body, 'Updating', touched, 'Deleting'), etag: newEtag() };
    const op = this.#store.startOperation({
      record,
      kind: 'DeleteRoute',
      ...this.#lroOutcome(r.context),
      commit: () => {
        const etag = record.body['etag'];
        record.body = {
          ...withStates(withoutRoute(record.body, target.route), 'Succeeded', NO_ROUTES),
          etag,
        };
      },
      abort: () => this.#failWrite(record, touched, prior),
    });
    r.reply.send(202, undefined, this.#asyncHeaders(r, op, true));
  }

  #pollOperation(target: Extract<Target, { kind: 'operation' }>, r: Request): void {
    const op = this.#store.operation(target.id);
    if (!op || op.subscriptionId.toLowerCase() !== target.sub.toLowerCase()) {
      throw new ArmError(404, 'OperationNotFound', `The operation '${target.id}' could not be found.`);
    }
    this.#store.poll(op);
    if (target.results) {
      // The Location protocol: 202 while running, 204 when done, the error when it failed.
      if (op.status === 'InProgress')
        r.reply.send(202, undefined, { location: r.url.href.replace(r.url.origin, this.#url) });
      else if (op.status === 'Succeeded') r.reply.send(204);
      else
        throw new ArmError(
          400,
          op.error?.code ?? 'OperationFailed',
          op.error?.message ?? 'The operation failed.',
        );
      return;
    }
    const body: JsonObject = { status: op.status };
    if ((op.status === 'Failed' || op.status === 'Canceled') && op.error) body['error'] = { ...op.error };
    // No Retry-After here: it would override the SDK's polling interval (DESIGN 5).
    r.reply.send(200, body);
  }

  // ---- Helpers

  async #beforeWrite(target: TableTarget | RouteTarget, r: Request): Promise<void> {
    const context: BeforeWriteContext = {
      method: r.method,
      operation: r.context.operation,
      subscriptionId: target.sub,
      resourceGroup: target.rg,
      tableName: target.name,
      ...('route' in target ? { routeName: target.route } : {}),
    };
    for (const hook of [...this.#hooks]) await hook(context);
  }

  /**
   * What a write whose operation ended Failed (or Canceled) leaves behind. By default Azure's way: the goal
   * state stays, and the table and the routes the write touched read Failed (Microsoft.Network has no Canceled
   * provisioning state). With lroFailureMode 'revert', the table as it was before, reading Failed.
   */
  #failWrite(record: TableRecord, touched: ReadonlySet<string>, prior: JsonObject | undefined): void {
    if (this.#options.lroFailureMode !== 'revert') {
      record.body = withStates(record.body, 'Failed', touched);
      return;
    }
    if (prior === undefined) {
      this.#store.removeRecord(record);
      return;
    }
    record.body = carrySubnets(record.body, { ...withStates(prior, 'Failed', NO_ROUTES), etag: newEtag() });
  }

  /** Answers the 400 a refuseRoute fault asks for, when the body holds the route it names. */
  #refuseRoutes(context: FaultContext, table: JsonObject): void {
    const hit = this.faults.takeRefusal(context, routesForRefusal(table), prefixKeyOf);
    if (!hit) return;
    const { fault, route } = hit;
    const fallback = invalidNextHop(route.id, route.nextHopIpAddress ?? '');
    throw badRequest(fault.code ?? fallback.code, fault.message ?? fallback.message);
  }

  /**
   * Refuses a write to a table whose operation is still running, unless concurrentWrites is 'supersede' and
   * the write is of the same kind: then it returns the operation the write will supersede.
   */
  #refuseIfBusy(record: TableRecord, resourceId: string, kind?: string): OperationRecord | undefined {
    const op = this.#store.busy(record);
    if (op && kind !== undefined && op.kind === kind && this.#options.concurrentWrites === 'supersede') {
      return op;
    }
    if (op) {
      throw anotherOperationInProgress(
        this.#options.busyStatus ?? 409,
        resourceId,
        op.id,
        this.#options.busyRetryAfterSeconds ?? 1,
      );
    }
  }

  #lroOutcome(context: FaultContext): {
    outcome: OperationRecord['outcome'];
    error?: { code: string; message: string };
  } {
    const fault = this.faults.takeLroFault(context);
    if (!fault) return { outcome: 'Succeeded' };
    if (fault.kind === 'lroNeverFinishes') return { outcome: 'Never' };
    const status = fault.status ?? 'Failed';
    return {
      outcome: status,
      error:
        status === 'Canceled'
          ? { code: fault.code ?? 'Canceled', message: fault.message ?? 'Operation was canceled.' }
          : { code: fault.code ?? 'InternalServerError', message: fault.message ?? 'An error occurred.' },
    };
  }

  /**
   * The origin the client addressed, as Azure builds its operation URLs from its own public host: through a proxy
   * in front of the simulator, the URLs point back at the proxy, as real Azure's point at management.azure.com.
   */
  #origin(r: Request): string {
    const host = r.req.headers.host;
    return host !== undefined && /^(127\.\d+\.\d+\.\d+|localhost|\[::1\]):\d+$/.test(host)
      ? `http://${host}`
      : this.#url;
  }

  #asyncHeaders(r: Request, op: OperationRecord, withLocation: boolean): Record<string, string> {
    const apiVersion = r.apiVersion;
    const base = `${this.#origin(r)}/subscriptions/${op.subscriptionId}/providers/Microsoft.Network/locations/${op.location}`;
    const version = encodeURIComponent(apiVersion);
    const headers: Record<string, string> = {
      'azure-asyncoperation': `${base}/operations/${op.id}?api-version=${version}`,
      'azure-asyncnotification': 'Enabled',
    };
    if (withLocation) headers['location'] = `${base}/operationResults/${op.id}?api-version=${version}`;
    const retryAfter = this.#options.lroRetryAfterSeconds ?? DEFAULT_LRO_RETRY_AFTER_SECONDS;
    if (retryAfter !== 'none') headers['retry-after'] = String(retryAfter);
    return headers;
  }

  #page(items: readonly JsonObject[], r: Request): JsonObject {
    const pageSize = this.#options.pageSize ?? 100;
    const token = r.url.searchParams.get('$skiptoken');
    const start = token === null ? 0 : Number(token);
    if (!Number.isInteger(start) || start < 0) {
      throw badRequest('InvalidSkipToken', `The $skiptoken '${token}' is not valid.`);
    }
    const body: JsonObject = { value: items.slice(start, start + pageSize) };
    if (start + pageSize < items.length) {
      body['nextLink'] =
        `${this.#url}${r.url.pathname}?api-version=${encodeURIComponent(r.apiVersion)}` +
        `&$skiptoken=${start + pageSize}`;
    }
    return body;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, ms);
      this.#timers.add(timer);
    });
  }
}

type TableTarget = Extract<Target, { kind: 'table' | 'routes' }>;
type RouteTarget = Extract<Target, { kind: 'route' }>;

interface Request {
  readonly req: IncomingMessage;
  readonly method: string;
  readonly url: URL;
  readonly apiVersion: string;
  readonly text: string;
  readonly reply: Reply;
  readonly context: FaultContext;
}

function parseTarget(pathname: string): Target {
  let segments: string[];
  try {
    segments = pathname
      .split('/')
      .filter((s) => s !== '')
      .map((s) => decodeURIComponent(s));
  } catch {
    return { kind: 'unknown' };
  }
  const lower = segments.map((s) => s.toLowerCase());
  if (lower[0] !== 'subscriptions' || segments.length < 2) return { kind: 'unknown' };
  const sub = segments[1] ?? '';
  let i = 2;
  let rg: string | undefined;
  if (lower[i] === 'resourcegroups' && segments.length > i + 1) {
    rg = segments[i + 1];
    i += 2;
  }
  if (lower[i] !== 'providers' || lower[i + 1] !== 'microsoft.network') return { kind: 'unknown' };
  const rest = segments.slice(i + 2);
  const restLower = lower.slice(i + 2);
  if (restLower[0] === 'routetables') {
    if (rest.length === 1) return { kind: 'tables', sub, rg };
    if (rg === undefined) return { kind: 'unknown' };
    const name = rest[1] ?? '';
    if (rest.length === 2) return { kind: 'table', sub, rg, name };
    if (restLower[2] !== 'routes') return { kind: 'unknown' };
    if (rest.length === 3) return { kind: 'routes', sub, rg, name };
    if (rest.length === 4) return { kind: 'route', sub, rg, name, route: rest[3] ?? '' };
    return { kind: 'unknown' };
  }
  if (
    restLower[0] === 'locations' &&
    rest.length === 4 &&
    (restLower[2] === 'operations' || restLower[2] === 'operationresults')
  ) {
    return {
      kind: 'operation',
      sub,
      location: rest[1] ?? '',
      id: rest[3] ?? '',
      results: restLower[2] === 'operationresults',
    };
  }
  return { kind: 'unknown' };
}

const TABLE_OPERATIONS: Readonly<Record<string, OperationName>> = {
  GET: 'RouteTables_Get',
  PUT: 'RouteTables_CreateOrUpdate',
  DELETE: 'RouteTables_Delete',
  PATCH: 'RouteTables_UpdateTags',
};
const ROUTE_OPERATIONS: Readonly<Record<string, OperationName>> = {
  GET: 'Routes_Get',
  PUT: 'Routes_CreateOrUpdate',
  DELETE: 'Routes_Delete',
};

function operationName(method: string, target: Target): OperationName {
  switch (target.kind) {
    case 'tables':
      return target.rg === undefined ? 'RouteTables_ListAll' : 'RouteTables_List';
    case 'table':
      return TABLE_OPERATIONS[method] ?? 'Unknown';
    case 'routes':
      return 'Routes_List';
    case 'route':
      return ROUTE_OPERATIONS[method] ?? 'Unknown';
    case 'operation':
      return target.results ? 'OperationResults_Get' : 'Operations_Get';
    case 'unknown':
      return 'Unknown';
  }
}

function faultError(fault: ResponderFault, method: string, target: Target, path: string): ArmError {
  const sub = target.kind === 'unknown' ? 'unknown' : target.sub;
  switch (fault.kind) {
    case 'throttle':
      return throttled(method === 'GET' ? 'read' : 'write', sub, fault.retryAfterSeconds ?? 1, fault.code);
    case 'retryableConflict':
      return anotherOperationInProgress(
        fault.status ?? 409,
        path,
        randomUUID(),
        fault.retryAfterSeconds ?? 1,
      );
    case 'serverError':
      return serverError(fault.status ?? 500, fault.retryAfterSeconds);
    case 'forbidden':
      return authorizationFailed(
        fault.clientId ?? ZERO_CLIENT,
        fault.action ?? actionFor(method, target),
        path.replace(/\/+$/, ''),
      );
    case 'unauthorized':
      return invalidAuthenticationToken();
    case 'dropConnection':
      throw new Error('unreachable: dropConnection has no answer');
  }
}

/** The RBAC action ARM checks for the request, as AuthorizationFailed names it. */
function actionFor(method: string, target: Target): string {
  const verb = method === 'GET' ? 'read' : method === 'DELETE' ? 'delete' : 'write';
  switch (target.kind) {
    case 'tables':
    case 'table':
      return `${TABLE_TYPE}/${verb}`;
    case 'routes':
    case 'route':
      return `${TABLE_TYPE}/routes/${verb}`;
    case 'operation':
      return 'Microsoft.Network/locations/operations/read';
    case 'unknown':
      return `Microsoft.Network/${verb}`;
  }
}

function routeNotFound(target: RouteTarget): ArmError {
  return resourceNotFound(`${TABLE_TYPE}/${target.name}/routes`, target.route, target.rg);
}

function etagOf(body: JsonObject | undefined): string | undefined {
  const etag = body?.['etag'];
  return typeof etag === 'string' ? etag : undefined;
}

function etagHeader(body: JsonObject): Record<string, string> {
  const etag = etagOf(body);
  return etag === undefined ? {} : { etag };
}

/** Strong or weak, an etag compares by its opaque part (ARM's If-Match is lenient about the W/ prefix). */
function opaque(etag: string): string {
  return etag.trim().replace(/^W\//, '');
}

function etagListIncludes(header: string, etag: string): boolean {
  return header.split(',').some((candidate) => opaque(candidate) === opaque(etag));
}

function checkPreconditions(req: IncomingMessage, currentEtag: string | undefined, resourceId: string): void {
  const ifMatch = headerValue(req, 'if-match');
  const ifNoneMatch = headerValue(req, 'if-none-match');
  if (ifMatch !== undefined) {
    if (currentEtag === undefined) {
      throw preconditionFailed(
        `The condition If-Match: ${ifMatch} failed: the resource '${resourceId}' does not exist.`,
      );
    }
    if (ifMatch.trim() !== '*' && !etagListIncludes(ifMatch, currentEtag)) {
      throw preconditionFailed(
        `The condition If-Match: ${ifMatch} failed: the current etag of resource '${resourceId}' is ${currentEtag}.`,
      );
    }
  }
  if (ifNoneMatch !== undefined && currentEtag !== undefined) {
    if (ifNoneMatch.trim() === '*' || etagListIncludes(ifNoneMatch, currentEtag)) {
      throw preconditionFailed(
        `The condition If-None-Match: ${ifNoneMatch} failed: the resource '${resourceId}' already exists ` +
          `with etag ${currentEtag}.`,
      );
    }
  }
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  if (Array.isArray(value)) return value.join(', ');
  return value === undefined || value === '' ? undefined : value;
}

function parseObject(text: string): JsonObject {
  if (text.trim() === '')
    throw badRequest('InvalidRequestFormat', 'Cannot parse the request. The body is empty.');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw badRequest('InvalidRequestFormat', `Cannot parse the request. ${(error as Error).message}`);
  }
  if (!isObject(value))
    throw badRequest('InvalidRequestFormat', 'Cannot parse the request. Expected a JSON object.');
  return value;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) {
      throw new ArmError(413, 'RequestEntityTooLarge', `The request body exceeds ${MAX_BODY_BYTES} bytes.`);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
