// The RouteTableStore over @azure/arm-network: one GET per read, one guarded whole-table PUT per write,
// awaited until the long-running operation says Succeeded.
//
// The SDK sends the PUT; we poll its operation ourselves. core-lro (3.x, read from its source) polls once at
// once after the PUT, whatever the PUT's Retry-After says, and then every updateIntervalInMs unless a poll
// answer carries Retry-After. Azure answers a route-table PUT with Retry-After: 2 (the recording), and the
// operation often ends sooner or later than a fixed interval. So the poll of the Azure-AsyncOperation URL goes
// through the client's own pipeline and HTTP client (same auth, retries, observer and abort signal), waiting
// as each answer asks, or, with no Retry-After, 250 ms doubling up to --poll-interval.
import { setTimeout as delay } from 'node:timers/promises';
import { NetworkManagementClient, type Route as ArmRoute, type RouteTable } from '@azure/arm-network';
import {
  createDefaultHttpClient,
  createPipelineRequest,
  isRestError,
  RestError,
  type HttpClient,
  type PipelinePolicy,
} from '@azure/core-rest-pipeline';
import type { TokenCredential } from '@azure/identity';
import type { Logger } from 'pino';
import type { AzureConfig } from '../config/types.ts';
import type { Route } from '../domain/types.ts';
import { createNetworkClient, guardCredential } from './arm-client.ts';
import {
  AzureError,
  abortedError,
  describeTable,
  isAbortError,
  operationFailedError,
  operationOf,
  parseArmError,
  redact,
  retryAfterFromHeaders,
  retryAfterFromText,
  timeoutError,
  toAzureError,
} from './errors.ts';
import type { RouteChanges, RouteTableStore, TableRef, TableSnapshot } from './types.ts';

/** One HTTP attempt, as the pipeline saw it (every SDK retry and every LRO poll is one). */
export interface AzureRequestInfo {
  /** RouteTables_Get, RouteTables_CreateOrUpdate or Operations_Get. */
  readonly operation: string;
  /** undefined when no response came back (network error, abort). */
  readonly status: number | undefined;
  /** The Retry-After the response carried, in ms. */
  readonly retryAfterMs?: number;
  readonly durationMs: number;
}

export interface RouteTableStoreOptions {
  readonly logger: Logger;
  /** Called for every HTTP attempt, for metrics (requests by operation and status, time asked to wait). */
  readonly onRequest?: (info: AzureRequestInfo) => void;
  /**
   * The SDK's own retries of transport errors, 408/5xx (exponential backoff) and 429/503 with Retry-After.
   * Kept modest: the write loop (table-sync) re-reads and retries on top of them.
   */
  readonly retry?: {
    readonly maxRetries?: number;
    readonly retryDelayInMs?: number;
    readonly maxRetryDelayInMs?: number;
  };
  readonly userAgentPrefix?: string;
  /** Waits between operation polls. Injected by tests; a real timer by default. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export const DEFAULT_SDK_MAX_RETRIES = 3;

/** The first poll of an operation whose answer gave no Retry-After; doubles up to AzureConfig.pollIntervalMs. */
export const FIRST_POLL_DELAY_MS = 250;

/** The wait before the poll that follows `quietPolls` answers without Retry-After. */
export function pollDelayMs(
  retryAfterMs: number | undefined,
  quietPolls: number,
  pollIntervalMs: number,
): number {
  if (retryAfterMs !== undefined) return retryAfterMs;
  const cap = Math.max(1, pollIntervalMs);
  return Math.min(cap, FIRST_POLL_DELAY_MS * 2 ** Math.min(quietPolls, 20));
}

const TERMINAL_STATES = new Set(['succeeded', 'failed', 'canceled']);

const OBSERVER_POLICY_NAME = 'azureRouteControllerObserverPolicy';

/** What every step of the store shares: the configuration, the SDK clients and the error bodies seen. */
interface StoreContext {
  readonly config: AzureConfig;
  readonly credential: TokenCredential;
  readonly guardedCredential: TokenCredential;
  readonly options: RouteTableStoreOptions;
  readonly log: Logger;
  readonly scopes: string[];
  // The SDK keeps Azure's error body only for some failures (not for the PUT of an LRO); the observer
  // remembers the last error body per request so messages can use the inner error codes.
  readonly errorBodies: WeakMap<object, unknown>;
  readonly clients: Map<string, NetworkManagementClient>;
  // One HTTP client for the SDK's requests and our operation polls, so they share sockets.
  readonly httpClient: HttpClient;
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
}

export function createRouteTableStore(
  config: AzureConfig,
  credential: TokenCredential,
  options: RouteTableStoreOptions,
): RouteTableStore {
  const ctx: StoreContext = {
    config,
    credential,
    guardedCredential: guardCredential(config, credential),
    options,
    log: options.logger,
    scopes: [config.tokenScope],
    errorBodies: new WeakMap<object, unknown>(),
    clients: new Map<string, NetworkManagementClient>(),
    httpClient: createDefaultHttpClient(),
    sleep: options.sleep ?? ((ms: number, signal: AbortSignal) => delay(ms, undefined, { signal })),
  };
  return {
    read: (ref, signal) => readTable(ctx, ref, signal),
    write: (snapshot, changes, signal) => writeTable(ctx, snapshot, changes, signal),
    create: (ref, location, signal, tags) => createTable(ctx, ref, location, signal, tags),
  };
}

function clientFor(ctx: StoreContext, subscriptionId: string): NetworkManagementClient {
  const existing = ctx.clients.get(subscriptionId);
  if (existing) return existing;
  const { options } = ctx;
  const client = createNetworkClient(ctx, subscriptionId, {
    retry: {
      maxRetries: options.retry?.maxRetries ?? DEFAULT_SDK_MAX_RETRIES,
      retryDelayInMs: options.retry?.retryDelayInMs,
      maxRetryDelayInMs: options.retry?.maxRetryDelayInMs,
    },
    userAgentPrefix: options.userAgentPrefix ?? 'azure-route-controller',
    httpClient: ctx.httpClient,
  });
  // After the Retry phase: runs once per attempt, inside the SDK's retry loop.
  client.pipeline.addPolicy(observerPolicy(ctx.log, ctx.errorBodies, options.onRequest), {
    afterPhase: 'Retry',
  });
  ctx.clients.set(subscriptionId, client);
  return client;
}

/** Runs one operation under the caller's signal and the operation deadline; every failure becomes AzureError. */
async function runOperation<T>(
  ctx: StoreContext,
  operation: string,
  ref: TableRef,
  signal: AbortSignal | undefined,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const { config } = ctx;
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), config.operationTimeoutMs);
  timer.unref();
  const combined = signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal;
  try {
    if (signal?.aborted) throw abortedError(operation, ref);
    return await fn(combined);
  } catch (err) {
    if (signal?.aborted) throw abortedError(operation, ref);
    if (deadline.signal.aborted && (isAbortError(err) || !(err instanceof AzureError))) {
      throw timeoutError(operation, ref, config.operationTimeoutMs);
    }
    const body = isRestError(err) && err.request ? ctx.errorBodies.get(err.request) : undefined;
    throw toAzureError(err, {
      operation,
      table: ref,
      credential: config.credential,
      authorityHost: config.authorityHost,
      body,
    });
  } finally {
    clearTimeout(timer);
  }
}

async function getTable(ctx: StoreContext, ref: TableRef, signal: AbortSignal): Promise<TableSnapshot> {
  let etagHeader: string | undefined;
  const table = await clientFor(ctx, ref.subscriptionId).routeTables.get(ref.resourceGroup, ref.name, {
    abortSignal: signal,
    onResponse: (response) => {
      etagHeader = response.headers.get('etag') ?? undefined;
    },
  });
  return toSnapshot(ref, table, etagHeader);
}

/** PUT, then wait for the operation; only a Succeeded operation resolves, with the table read back. */
async function putTable(
  ctx: StoreContext,
  ref: TableRef,
  table: RouteTable,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<TableSnapshot> {
  const client = clientFor(ctx, ref.subscriptionId);
  let answer: PutAnswer | undefined;
  const poller = client.routeTables.createOrUpdate(ref.resourceGroup, ref.name, table, {
    requestOptions: { headers },
    abortSignal: signal,
    onResponse: (response) => {
      answer = { headers: response.headers, body: response.parsedBody ?? parseJson(response.bodyAsText) };
    },
  });
  // Only the PUT itself: the poller's own polling is what we replace (see the top of this file).
  await poller.submitted();
  if (!answer)
    throw new AzureError({ kind: 'Other', message: `the write of ${describeTable(ref)} gave no answer` });
  const operationUrl = answer.headers.get('azure-asyncoperation');
  if (operationUrl === undefined) await awaitProvisioningState(ctx, ref, answer, signal);
  else await awaitOperation(ctx, client, ref, answer, operationUrl, signal);
  // The etag is read back after the write, so the snapshot returned guards the next write with Azure's
  // current etag (the PUT's answer may predate the end of the operation).
  return getTable(ctx, ref, signal);
}

interface PutAnswer {
  readonly headers: HeaderBag;
  readonly body: unknown;
}

/** No operation to poll: the table's own provisioningState is the truth, read until it is final. */
async function awaitProvisioningState(
  ctx: StoreContext,
  ref: TableRef,
  answer: PutAnswer,
  signal: AbortSignal,
): Promise<void> {
  let state = provisioningStateOf(answer.body);
  for (let quiet = 0; !TERMINAL_STATES.has(state.toLowerCase()); quiet += 1) {
    await ctx.sleep(
      pollDelayMs(
        quiet === 0 ? retryAfterFromHeaders(answer.headers) : undefined,
        quiet,
        ctx.config.pollIntervalMs,
      ),
      signal,
    );
    state = (await getTable(ctx, ref, signal)).provisioningState;
  }
  if (state.toLowerCase() !== 'succeeded') {
    throw operationFailedError(ref, { state: state.toLowerCase() === 'failed' ? 'Failed' : 'Canceled' });
  }
}

/** Polls the Azure-AsyncOperation URL, waiting as each answer asks, until the operation ends. */
async function awaitOperation(
  ctx: StoreContext,
  client: NetworkManagementClient,
  ref: TableRef,
  answer: PutAnswer,
  operationUrl: string,
  signal: AbortSignal,
): Promise<void> {
  const { config } = ctx;
  const url = checkedOperationUrl(operationUrl, ref, config.armEndpoint);
  let retryAfterMs = retryAfterFromHeaders(answer.headers);
  for (let quiet = 0; ;) {
    await ctx.sleep(pollDelayMs(retryAfterMs, quiet, config.pollIntervalMs), signal);
    if (retryAfterMs === undefined) quiet += 1;
    const poll = await pollOperation(client, ctx.httpClient, url, signal, config.allowInsecureEndpoint);
    const status = poll.status.toLowerCase();
    if (status === 'succeeded') return;
    if (status === 'failed' || status === 'canceled') {
      throw operationFailedError(ref, {
        state: status === 'failed' ? 'Failed' : 'Canceled',
        code: poll.error?.code,
        message: poll.error?.message,
      });
    }
    retryAfterMs = poll.retryAfterMs;
  }
}

async function readTable(
  ctx: StoreContext,
  ref: TableRef,
  signal: AbortSignal | undefined,
): Promise<TableSnapshot | null> {
  try {
    return await runOperation(ctx, 'RouteTables_Get', ref, signal, (s) => getTable(ctx, ref, s));
  } catch (err) {
    if (err instanceof AzureError && err.kind === 'NotFound') return null;
    throw err;
  }
}

async function writeTable(
  ctx: StoreContext,
  snapshot: TableSnapshot,
  changes: RouteChanges,
  signal: AbortSignal | undefined,
): Promise<TableSnapshot> {
  const ref = snapshot.ref;
  if (snapshot.etag === '') {
    throw new AzureError({
      kind: 'Other',
      operation: 'RouteTables_CreateOrUpdate',
      message: `Azure returned ${describeTable(ref)} without an etag, so it cannot be written safely (If-Match); re-read it`,
    });
  }
  const table = applyChanges(snapshot.source as RouteTable, changes);
  const written = await runOperation(ctx, 'RouteTables_CreateOrUpdate', ref, signal, (s) =>
    putTable(ctx, ref, table, { 'If-Match': snapshot.etag }, s),
  );
  ctx.log.debug(
    {
      routeTable: ref.name,
      etag: written.etag,
      upserts: changes.upserts.length,
      deletes: changes.deletes.length,
    },
    'route table write succeeded',
  );
  return written;
}

async function createTable(
  ctx: StoreContext,
  ref: TableRef,
  location: string,
  signal: AbortSignal | undefined,
  tags: Readonly<Record<string, string>> | undefined,
): Promise<TableSnapshot> {
  if (location.trim() === '') {
    throw new AzureError({
      kind: 'BadRequest',
      operation: 'RouteTables_CreateOrUpdate',
      message: `cannot create ${describeTable(ref)} without a region: pass --location (or set azure.json "location")`,
    });
  }
  try {
    return await runOperation(ctx, 'RouteTables_CreateOrUpdate', ref, signal, (s) =>
      putTable(
        ctx,
        ref,
        { location, routes: [], ...(tags && Object.keys(tags).length > 0 ? { tags: { ...tags } } : {}) },
        { 'If-None-Match': '*' },
        s,
      ),
    );
  } catch (err) {
    if (err instanceof AzureError && err.kind === 'PreconditionFailed') {
      throw err.withMessage(
        `${describeTable(ref)} already exists (412 on If-None-Match: *, someone else created it meanwhile); read it instead of creating it`,
      );
    }
    throw err;
  }
}

/** A token is sent only back to the Resource Manager endpoint, wherever the header points. */
function checkedOperationUrl(raw: string, ref: TableRef, armEndpoint: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    url = new URL('invalid:');
  }
  if (url.origin !== new URL(armEndpoint).origin) {
    throw new AzureError({
      kind: 'Other',
      operation: 'Operations_Get',
      message:
        `the write of ${describeTable(ref)} returned an Azure-AsyncOperation URL outside ${armEndpoint} ` +
        `(${redact(url.origin === 'null' ? raw : url.origin)}); not polling it, so the write is not counted as applied`,
    });
  }
  return url.href;
}

/** One poll of an Azure-AsyncOperation URL through the client's pipeline: its status, error and Retry-After. */
async function pollOperation(
  client: NetworkManagementClient,
  httpClient: HttpClient,
  url: string,
  signal: AbortSignal,
  allowInsecureConnection: boolean,
): Promise<{ status: string; error?: { code?: string; message?: string }; retryAfterMs?: number }> {
  const request = createPipelineRequest({
    url,
    method: 'GET',
    abortSignal: signal,
    allowInsecureConnection,
  });
  const response = await client.pipeline.sendRequest(httpClient, request);
  const body = parseJson(response.bodyAsText);
  if (response.status !== 200 && response.status !== 202) {
    const armError = parseArmError(body);
    throw Object.assign(
      new RestError(armError?.message ?? `operation poll answered ${response.status}`, {
        code: armError?.code,
        statusCode: response.status,
        request,
        response,
      }),
      { details: body },
    );
  }
  const record = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const error = parseArmError(record['error']);
  const retryAfterMs = retryAfterFromHeaders(response.headers);
  return {
    // A 202 with no body is an operation still running (the Location protocol's answer).
    status: typeof record['status'] === 'string' ? record['status'] : 'InProgress',
    ...(error
      ? {
          error: {
            ...(error.code ? { code: error.code } : {}),
            ...(error.message ? { message: error.message } : {}),
          },
        }
      : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  };
}

/** The table as read with only our changes applied. Everything else goes back exactly as read. */
export function applyChanges(source: RouteTable, changes: RouteChanges): RouteTable {
  // Azure resource names are case-insensitive.
  const key = (name: string | undefined) => (name ?? '').toLowerCase();
  const deletes = new Set(changes.deletes.map(key));
  const upserts = new Map(changes.upserts.map((r) => [key(r.name), r] as const));
  const placed = new Set<string>();
  const routes: ArmRoute[] = [];
  for (const existing of source.routes ?? []) {
    const k = key(existing.name);
    const replacement = upserts.get(k);
    if (replacement) {
      routes.push(toArmRoute(replacement, existing));
      placed.add(k);
    } else if (!deletes.has(k)) {
      routes.push(existing);
    }
  }
  for (const [k, route] of upserts) {
    if (!placed.has(k)) routes.push(toArmRoute(route, undefined));
  }
  return { ...source, routes };
}

function toArmRoute(route: Route, existing: ArmRoute | undefined): ArmRoute {
  return {
    name: existing?.name ?? route.name,
    ...(existing?.id !== undefined ? { id: existing.id } : {}),
    addressPrefix: route.addressPrefix,
    nextHopType: route.nextHopType,
    ...(route.nextHopIpAddress !== undefined ? { nextHopIpAddress: route.nextHopIpAddress } : {}),
  };
}

interface HeaderBag {
  get(name: string): string | undefined;
}

function parseJson(text: string | null | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** provisioningState of a table body as Azure sends it (nested in properties) or as the SDK flattens it. */
function provisioningStateOf(body: unknown): string {
  if (typeof body !== 'object' || body === null) return '';
  const record = body as { provisioningState?: unknown; properties?: { provisioningState?: unknown } };
  const state = record.properties?.provisioningState ?? record.provisioningState;
  return typeof state === 'string' ? state : '';
}

function toSnapshot(ref: TableRef, table: RouteTable, etagHeader: string | undefined): TableSnapshot {
  return {
    ref,
    etag: table.etag ?? etagHeader ?? '',
    location: table.location ?? '',
    // Azure always sends it (the recording); only a hand-built answer omits it, and the domain reads an
    // absent state as Succeeded too.
    provisioningState: table.provisioningState ?? 'Succeeded',
    routes: (table.routes ?? []).map(toDomainRoute),
    subnetCount: table.subnets?.length ?? 0,
    source: table,
  };
}

function toDomainRoute(route: ArmRoute): Route {
  return {
    name: route.name ?? '',
    addressPrefix: route.addressPrefix ?? '',
    nextHopType: route.nextHopType ?? '',
    ...(route.nextHopIpAddress !== undefined ? { nextHopIpAddress: route.nextHopIpAddress } : {}),
    ...(route.provisioningState !== undefined ? { provisioningState: route.provisioningState } : {}),
  };
}

function observerPolicy(
  log: Logger,
  errorBodies: WeakMap<object, unknown>,
  onRequest: ((info: AzureRequestInfo) => void) | undefined,
): PipelinePolicy {
  const report = (info: AzureRequestInfo, extra: Record<string, unknown>) => {
    log.debug({ ...info, ...extra }, 'azure request');
    try {
      onRequest?.(info);
    } catch (err) {
      log.warn({ err }, 'onRequest callback failed');
    }
  };
  return {
    name: OBSERVER_POLICY_NAME,
    async sendRequest(request, next) {
      const operation = operationOf(request.method, request.url) ?? request.method;
      const started = performance.now();
      try {
        const response = await next(request);
        let retryAfterMs = retryAfterFromHeaders(response.headers);
        if (response.status >= 400) {
          const body = parseArmError(response.bodyAsText ?? undefined);
          if (body) errorBodies.set(request, { error: body });
          retryAfterMs ??= retryAfterFromText(
            [body?.message, ...(body?.details.map((d) => d.message) ?? [])].filter(Boolean).join(' '),
          );
        }
        report(
          {
            operation,
            status: response.status,
            ...(retryAfterMs !== undefined && response.status >= 400 ? { retryAfterMs } : {}),
            durationMs: performance.now() - started,
          },
          {
            requestId: response.headers.get('x-ms-request-id'),
            remainingWrites: response.headers.get('x-ms-ratelimit-remaining-subscription-writes'),
            remainingReads: response.headers.get('x-ms-ratelimit-remaining-subscription-reads'),
          },
        );
        return response;
      } catch (err) {
        report(
          {
            operation,
            status: isRestError(err) ? err.statusCode : undefined,
            durationMs: performance.now() - started,
          },
          { error: isRestError(err) ? err.code : err instanceof Error ? err.name : 'unknown' },
        );
        throw err;
      }
    },
  };
}
