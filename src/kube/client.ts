// The Kubernetes adapter: kubeconfig loading, and the NodeLister / NodeStatusWriter / EventRecorder ports over
// @kubernetes/client-node 2. Every failure leaves here as a KubeError with one clear line for people.
import { randomBytes } from 'node:crypto';
import { accessSync, constants, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  Observable,
  PatchStrategy,
  ResponseContext,
  setHeaderOptions,
  type ConfigurationOptions,
  type CoreV1Event,
  type ObservableMiddleware,
  type RequestContext,
  type V1NodeList,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { KubeconfigSearch } from '../config/types.ts';
import type { NodeInfo } from '../domain/types.ts';
import { toNodeInfo } from './nodes.ts';
import type { EventRecorder, NetworkCondition, NodeLister, NodeRef, NodeStatusWriter } from './types.ts';

export type KubeErrorKind =
  | 'Config'
  | 'Unreachable'
  | 'Timeout'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'Conflict'
  | 'Expired'
  | 'Invalid'
  | 'Throttled'
  | 'ServerError'
  | 'Unknown';

/** A Kubernetes failure with one human sentence as its message (no stack, no raw response dump). */
export class KubeError extends Error {
  override readonly name = 'KubeError';
  readonly kind: KubeErrorKind;
  /** The HTTP status, when the API server answered. */
  readonly statusCode: number | undefined;
  /** Worth trying again later (unreachable, timeouts, throttling, 5xx, conflicts). */
  readonly retryable: boolean;
  readonly retryAfterSeconds: number | undefined;

  constructor(
    kind: KubeErrorKind,
    message: string,
    options: { statusCode?: number; retryAfterSeconds?: number | undefined; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.statusCode = options.statusCode;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.retryable = ['Unreachable', 'Timeout', 'Throttled', 'ServerError', 'Conflict'].includes(kind);
  }
}

// ---------------------------------------------------------------------------------------------------------
// kubeconfig

export interface LoadKubeConfigOptions {
  /** Prefix for the in-cluster service account paths (tests). */
  readonly inClusterRoot?: string;
  /** --context NAME: use this context instead of the file's current-context. */
  readonly context?: string | undefined;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The current cluster's server URL for messages, without any user:password it may embed. */
export function serverForMessages(kc: KubeConfig, fallback = '(no cluster)'): string {
  const server = kc.getCurrentCluster()?.server;
  if (!server) return fallback;
  try {
    const url = new URL(server);
    if (url.username || url.password) {
      url.username = '';
      url.password = '';
    }
    return url.toString().replace(/\/$/, '');
  } catch {
    return server;
  }
}

/**
 * Loads the kubeconfig at `path`, the in-cluster service account config when `path` is undefined, or, given a
 * KubeconfigSearch, the first that exists in kubectl's order (findKubeConfig). This function never reads the
 * environment itself (client-node's in-cluster loader reads KUBERNETES_SERVICE_HOST/PORT).
 */
export function loadKubeConfig(
  path: string | undefined | KubeconfigSearch,
  options: LoadKubeConfigOptions = {},
): KubeConfig {
  if (typeof path === 'object') return findKubeConfig(path, options);
  const kc = new KubeConfig();
  if (path === undefined) {
    const root = options.inClusterRoot ?? '';
    kc.loadFromCluster(root);
    const server = kc.getCurrentCluster()?.server ?? '';
    if (server.includes('undefined')) {
      throw new KubeError(
        'Config',
        'No kubeconfig given and not running inside a Kubernetes pod (KUBERNETES_SERVICE_HOST is not set): pass --kubeconfig FILE or set KUBECONFIG.',
      );
    }
    if (!readable(`${root}${SERVICE_ACCOUNT_DIR}/token`)) {
      throw new KubeError(
        'Config',
        `No kubeconfig given and no service account token at ${root}${SERVICE_ACCOUNT_DIR}/token: mount a service account token into the pod (automountServiceAccountToken), or pass --kubeconfig FILE.`,
      );
    }
    useContext(kc, options.context, 'the in-cluster configuration');
    validate(kc, 'the in-cluster configuration');
    return kc;
  }
  readKubeConfigFile(kc, path);
  useContext(kc, options.context, `kubeconfig ${path}`);
  validate(kc, `kubeconfig ${path}`);
  return kc;
}

/**
 * kubectl's search (DESIGN 4): --kubeconfig alone when given; else $KUBECONFIG's files that exist, merged; else
 * the in-cluster configuration; else ~/.kube/config. A file that exists but is broken fails at once; when nothing
 * is found, the error lists every place tried.
 */
export function findKubeConfig(search: KubeconfigSearch, options: LoadKubeConfigOptions = {}): KubeConfig {
  const context = search.context ?? options.context;
  if (search.flag !== undefined) return loadKubeConfig(search.flag, { ...options, context });
  const tried: string[] = [];
  const present = search.envFiles.filter((f) => exists(f));
  if (present.length > 0) return mergedKubeConfig(present, context);
  tried.push(
    search.envFiles.length === 0
      ? '$KUBECONFIG (not set)'
      : `$KUBECONFIG (${search.envFiles.join(', ')}: no such file)`,
  );
  try {
    return loadKubeConfig(undefined, { ...options, context });
  } catch (err) {
    if (!(err instanceof KubeError) || !/^No kubeconfig given/.test(err.message)) throw err;
    tried.push(`the in-cluster configuration (${inClusterReason(err.message)})`);
  }
  if (search.homeFile !== undefined && exists(search.homeFile)) {
    return loadKubeConfig(search.homeFile, { ...options, context });
  }
  tried.push(
    search.homeFile === undefined ? '~/.kube/config ($HOME is not set)' : `${search.homeFile} (no such file)`,
  );
  throw new KubeError(
    'Config',
    `No kubeconfig found; tried --kubeconfig (not given), ${tried.join(', ')}. Pass --kubeconfig FILE, set KUBECONFIG, or run inside a pod with a service account.`,
  );
}

/** kubectl's merge of a $KUBECONFIG list: the first file to define a name, or current-context, wins. */
function mergedKubeConfig(files: readonly string[], context: string | undefined): KubeConfig {
  const merged = new KubeConfig();
  const byName = <T extends { name: string }>(lists: T[][]): T[] => {
    const seen = new Map<string, T>();
    for (const item of lists.flat()) if (!seen.has(item.name)) seen.set(item.name, item);
    return [...seen.values()];
  };
  const each = files.map((f) => readKubeConfigFile(new KubeConfig(), f));
  merged.loadFromOptions({
    clusters: byName(each.map((kc) => kc.getClusters())),
    users: byName(each.map((kc) => kc.getUsers())),
    contexts: byName(each.map((kc) => kc.getContexts())),
    currentContext: each.map((kc) => kc.getCurrentContext()).find((c) => !!c) ?? '',
  });
  const source = `the kubeconfig merged from $KUBECONFIG (${files.join(', ')})`;
  useContext(merged, context, source);
  validate(merged, source);
  return merged;
}

function useContext(kc: KubeConfig, context: string | undefined, source: string): void {
  if (context === undefined) return;
  if (kc.getContextObject(context) === null) {
    throw new KubeError(
      'Config',
      `${capitalise(source)} has no context "${context}" (contexts: ${names(kc.getContexts())}); pass one of them to --context.`,
    );
  }
  kc.setCurrentContext(context);
}

function inClusterReason(message: string): string {
  return /KUBERNETES_SERVICE_HOST/.test(message)
    ? 'KUBERNETES_SERVICE_HOST is not set'
    : 'no service account token';
}

function exists(path: string): boolean {
  try {
    accessSync(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/** Reads and parses one kubeconfig file into `kc` (paths in it made absolute), without validating it. */
function readKubeConfigFile(kc: KubeConfig, path: string): KubeConfig {
  const fix = 'Fix the file, or point --kubeconfig (or KUBECONFIG) at a valid one.';
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = errorCode(err);
    const why =
      code === 'ENOENT'
        ? 'the file does not exist'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a directory, not a file'
            : (code ?? String(err));
    throw new KubeError(
      'Config',
      `Cannot read kubeconfig ${path}: ${why}. Pass --kubeconfig with a readable kubeconfig file, or set KUBECONFIG.`,
      { cause: err },
    );
  }
  if (text.trim() === '') throw new KubeError('Config', `Kubeconfig ${path} is empty. ${fix}`);
  try {
    kc.loadFromFile(path);
  } catch (err) {
    if (err instanceof Error && err.name === 'YAMLException') {
      const yamlErr = err as Error & { reason?: string; mark?: { line?: number; column?: number } };
      const where =
        yamlErr.mark?.line === undefined
          ? ''
          : `line ${yamlErr.mark.line + 1}, column ${(yamlErr.mark.column ?? 0) + 1}: `;
      throw new KubeError(
        'Config',
        `Kubeconfig ${path} is not valid YAML (${where}${oneLine(yamlErr.reason ?? err.message)}). ${fix}`,
        { cause: err },
      );
    }
    const detail =
      err instanceof TypeError
        ? 'it is not a kubeconfig document'
        : oneLine(err instanceof Error ? err.message : String(err));
    throw new KubeError('Config', `Kubeconfig ${path} is invalid: ${detail}. ${fix}`, { cause: err });
  }
  return kc;
}

function validate(kc: KubeConfig, source: string): void {
  const fail = (message: string): never => {
    throw new KubeError('Config', `${capitalise(source)} ${message}`);
  };
  const contexts = kc.getContexts();
  if (kc.getClusters().length === 0 && contexts.length === 0)
    fail('defines no clusters and no contexts: is it a kubeconfig?');
  const current = kc.getCurrentContext();
  if (!current) {
    fail(
      `has no current-context: set one with "kubectl config use-context <name>" (contexts: ${names(contexts)}).`,
    );
  }
  const context = kc.getContextObject(current);
  if (context === null)
    fail(`names current-context "${current}", which it does not define (contexts: ${names(contexts)}).`);
  const cluster = kc.getCurrentCluster();
  if (cluster === null)
    fail(`has context "${current}" pointing at cluster "${context?.cluster}", which it does not define.`);
  if (context?.user && kc.getCurrentUser() === null) {
    fail(`has context "${current}" pointing at user "${context.user}", which it does not define.`);
  }
  const server = cluster?.server ?? '';
  let url: URL | undefined;
  try {
    url = new URL(server);
  } catch {
    fail(`has cluster "${cluster?.name}" whose server is not a URL; write it as https://HOST:PORT.`);
  }
  if (url?.protocol === 'http:' && !cluster?.skipTLSVerify) {
    fail(
      `has cluster "${cluster?.name}" with a plain http:// server (${serverForMessages(kc)}); @kubernetes/client-node refuses it unless "insecure-skip-tls-verify: true" is set on that cluster.`,
    );
  }
  const user = kc.getCurrentUser();
  const files: [string, string | undefined][] = [
    ['certificate-authority', cluster?.caFile],
    ['client-certificate', user?.certFile],
    ['client-key', user?.keyFile],
  ];
  const tokenFile: unknown = user?.authProvider?.config?.['tokenFile'];
  if (typeof tokenFile === 'string') files.push(['token file', tokenFile]);
  for (const [what, file] of files) {
    if (file !== undefined && file !== '' && !readable(file))
      fail(`refers to ${what} ${file}, which cannot be read.`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// The client

export interface KubeClientOptions {
  /** Per-request timeout. */
  readonly requestTimeoutMs?: number;
  /** Nodes per list page. */
  readonly pageSize?: number;
  /** Where node events go; "default", as the upstream recorder does for cluster-scoped objects. */
  readonly eventNamespace?: string;
  /**
   * Requests in flight at once. The API server is shared; client-go controllers default to 5-20 QPS, and
   * each concurrent request here also costs a connection.
   */
  readonly maxConcurrentRequests?: number;
  /** Event source.component and reportingComponent. */
  readonly component?: string;
  /** Event source.host and reportingInstance; the host name by default. */
  readonly host?: string;
  /** The clock for event timestamps. */
  readonly now?: () => Date;
}

export interface KubeClient extends NodeLister, NodeStatusWriter, EventRecorder {
  /** The API server URL of the current context. */
  readonly server: string;
}

/** What a request was doing, for error messages (and RBAC advice). */
export interface Operation {
  readonly verb: string;
  /** e.g. nodes, nodes/status, events */
  readonly resource: string;
  /** The API group, for RBAC advice ("" is core). */
  readonly group: string;
  readonly name?: string | undefined;
  readonly namespace?: string | undefined;
}

/**
 * Per-call options binding a request to an AbortSignal. Given the KubeConfig, the request also goes through its
 * shared dispatcher: client-node 2 builds a new undici Agent for every request, so nothing would be kept alive
 * and every call would pay a new TCP (and TLS) handshake.
 */
export function callOptions(
  signal: AbortSignal,
  kc?: KubeConfig,
  options: { readonly discardSuccessBody?: boolean } = {},
): ConfigurationOptions {
  const middleware: ObservableMiddleware = {
    pre: (context) => {
      context.setSignal(signal);
      if (kc) {
        const reused = sharedDispatcher(kc, context.getDispatcher());
        if (reused !== undefined) context.setDispatcher(reused);
      }
      return new Observable(Promise.resolve(context));
    },
    post: (response) =>
      new Observable(options.discardSuccessBody ? discardSuccessBody(response) : Promise.resolve(response)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

/**
 * A 2xx answer whose body the caller has no use for (the Node a status patch returns): the body is read off the
 * socket and dropped chunk by chunk, so the connection stays reusable, and client-node is handed `{}` to
 * deserialize instead of a whole V1Node. Each patched node's object graph was garbage the heap had to hold until
 * the next collection: at a 5,000-node cold start, most of the peak heap (BENCHMARKS.md). Errors keep their body,
 * since their message is in it.
 */
async function discardSuccessBody(response: ResponseContext): Promise<ResponseContext> {
  if (response.httpStatusCode < 200 || response.httpStatusCode > 299) return response;
  const stream = response.body.stream();
  if (stream === null) await response.body.binary();
  else for await (const chunk of stream) void chunk;
  return new ResponseContext(response.httpStatusCode, response.headers, EMPTY_OBJECT_BODY);
}

const EMPTY_OBJECT_BODY = {
  text: async (): Promise<string> => '{}',
  binary: async (): Promise<Buffer> => Buffer.from('{}'),
  stream: (): null => null,
};

/** Dispatchers are rebuilt from the kubeconfig at most this often (picks up rotated CA or client cert files). */
const DISPATCHER_TTL_MS = 10 * 60_000;

/** What the client's requests share: settings, the API handle and the concurrency limit. */
interface ClientContext {
  readonly kc: KubeConfig;
  readonly log: Logger;
  readonly server: string;
  readonly core: CoreV1Api;
  readonly timeoutMs: number;
  readonly pageSize: number;
  readonly eventNamespace: string;
  readonly component: string;
  readonly host: string;
  readonly clock: () => Date;
  readonly limit: { acquire(signal?: AbortSignal): Promise<() => void> };
}

export function createKubeClient(kc: KubeConfig, log: Logger, options: KubeClientOptions = {}): KubeClient {
  const c: ClientContext = {
    kc,
    log,
    server: serverForMessages(kc),
    core: kc.makeApiClient(CoreV1Api),
    timeoutMs: options.requestTimeoutMs ?? 30_000,
    pageSize: options.pageSize ?? 500,
    eventNamespace: options.eventNamespace ?? 'default',
    component: options.component ?? 'azure-route-controller',
    host: options.host ?? hostname(),
    clock: options.now ?? ((): Date => new Date()),
    limit: semaphore(options.maxConcurrentRequests ?? 10),
  };
  return {
    server: c.server,
    list: (signal?: AbortSignal) => listNodes(c, signal),
    setNetworkUnavailable: (node: NodeRef, condition: NetworkCondition, now: Date, signal?: AbortSignal) =>
      setNetworkUnavailable(c, node, condition, now, signal),
    warning: (node: NodeRef, reason: string, message: string, signal?: AbortSignal) =>
      recordWarning(c, node, reason, message, signal),
  };
}

async function call<T>(
  c: ClientContext,
  op: Operation,
  callerSignal: AbortSignal | undefined,
  send: (options: ConfigurationOptions) => Promise<T>,
  { discardSuccessBody = false }: { readonly discardSuccessBody?: boolean } = {},
): Promise<T> {
  callerSignal?.throwIfAborted();
  const release = await c.limit.acquire(callerSignal);
  // The timeout starts once the request may go out, so queueing behind others does not count against it.
  const timeout = AbortSignal.timeout(c.timeoutMs);
  const signal = callerSignal === undefined ? timeout : AbortSignal.any([callerSignal, timeout]);
  try {
    return await send(callOptions(signal, c.kc, { discardSuccessBody }));
  } catch (err) {
    if (callerSignal?.aborted) throw callerSignal.reason;
    throw toKubeError(err, op, c.server, timeout.aborted ? c.timeoutMs : undefined);
  } finally {
    release();
  }
}

async function listNodes(c: ClientContext, signal: AbortSignal | undefined): Promise<NodeInfo[]> {
  // A continue token outlives its snapshot when the list takes too long; start over, as client-go's pager does.
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await listOnce(c, signal);
    } catch (err) {
      if (err instanceof KubeError && err.kind === 'Expired' && attempt < 3) {
        c.log.info({ attempt }, 'node list continue token expired; listing again from the start');
        continue;
      }
      throw err;
    }
  }
}

async function listOnce(c: ClientContext, signal: AbortSignal | undefined): Promise<NodeInfo[]> {
  const nodes: NodeInfo[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const page: V1NodeList = await call(c, { verb: 'list', resource: 'nodes', group: '' }, signal, (opts) =>
      c.core.listNode({ limit: c.pageSize, ...(token === undefined ? {} : { _continue: token }) }, opts),
    );
    for (const node of page.items) nodes.push(toNodeInfo(node));
    token = page.metadata?._continue || undefined;
    pages += 1;
  } while (token !== undefined);
  c.log.debug({ nodes: nodes.length, pages }, 'listed nodes');
  return nodes;
}

async function setNetworkUnavailable(
  c: ClientContext,
  node: NodeRef,
  condition: NetworkCondition,
  now: Date,
  signal: AbortSignal | undefined,
): Promise<void> {
  const time = rfc3339(now);
  // lastTransitionTime moves only with the status (API conventions, DESIGN 2.5). Upstream's route
  // controller stamps it on every update; here it is left out of the patch when the status stays, and the
  // strategic merge (by condition type) keeps the one the server has.
  const transition = node.networkUnavailableStatus !== condition.status;
  const body = {
    status: {
      conditions: [
        {
          type: 'NetworkUnavailable',
          status: condition.status,
          reason: condition.reason,
          message: condition.message,
          ...(transition ? { lastTransitionTime: time } : {}),
          lastHeartbeatTime: time,
        },
      ],
    },
  };
  // client-node 2 picks the first patch media type the API declares (json-patch+json) unless told otherwise;
  // a strategic merge patch is what merges conditions by type and leaves Ready and the others alone.
  // The Node the server answers with is not needed: only the status code is (a 2xx is the API server's
  // confirmation that the condition is stored).
  await call(
    c,
    { verb: 'patch', resource: 'nodes/status', group: '', name: node.name },
    signal,
    (opts) =>
      c.core.patchNodeStatus(
        { name: node.name, body },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch, opts),
      ),
    { discardSuccessBody: true },
  );
  c.log.debug(
    { node: node.name, status: condition.status, reason: condition.reason, transition },
    'patched NetworkUnavailable',
  );
}

async function recordWarning(
  c: ClientContext,
  node: NodeRef,
  reason: string,
  message: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const now = c.clock();
  const event: CoreV1Event = {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: eventName(node.name), namespace: c.eventNamespace },
    // The node name as UID, as the kubelet and the upstream route controller do: `kubectl describe node`
    // looks events up by involvedObject.uid == node name.
    involvedObject: { apiVersion: 'v1', kind: 'Node', name: node.name, uid: node.name },
    type: 'Warning',
    reason,
    message,
    source: { component: c.component, host: c.host },
    reportingComponent: c.component,
    reportingInstance: c.host,
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
  await call(
    c,
    { verb: 'create', resource: 'events', group: '', namespace: c.eventNamespace },
    signal,
    (opts) => c.core.createNamespacedEvent({ namespace: c.eventNamespace, body: event }, opts),
  );
  c.log.debug({ node: node.name, reason }, 'recorded warning event');
}

// ---------------------------------------------------------------------------------------------------------
// The shared dispatcher

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

/** One undici dispatcher per KubeConfig, for every client, watch and Lease built on it. */
const dispatchers = new WeakMap<KubeConfig, { value: Dispatcher; at: number }>();

/**
 * The dispatcher shared by everything built on `kc`: `fresh` (the one client-node just built for this request)
 * becomes it when there is none yet or the current one is older than DISPATCHER_TTL_MS; the old one is closed
 * gracefully (requests and watches in flight on it finish first).
 */
export function sharedDispatcher(kc: KubeConfig, fresh: Dispatcher | undefined): Dispatcher | undefined {
  if (fresh === undefined) return undefined;
  const now = Date.now();
  const current = dispatchers.get(kc);
  if (current !== undefined && now - current.at <= DISPATCHER_TTL_MS) return current.value;
  dispatchers.set(kc, { value: fresh, at: now });
  if (current !== undefined) void current.value.close().catch(() => undefined);
  return fresh;
}

/**
 * A view of `kc` whose requests go through the shared dispatcher. For what takes a KubeConfig and calls
 * applySecurityAuthentication itself: client-node's Watch, and API clients from makeApiClient.
 */
export function withSharedDispatcher(kc: KubeConfig): KubeConfig {
  const view = Object.create(kc) as KubeConfig;
  view.applySecurityAuthentication = async (context: RequestContext): Promise<void> => {
    await kc.applySecurityAuthentication(context);
    const reused = sharedDispatcher(kc, context.getDispatcher());
    if (reused !== undefined) context.setDispatcher(reused);
  };
  return view;
}

// ---------------------------------------------------------------------------------------------------------
// Error mapping

/** Maps a client-node or network failure of `op` to a KubeError with one sentence for people. */
export function toKubeError(
  err: unknown,
  op: Operation,
  server: string,
  timedOutAfterMs: number | undefined,
): KubeError {
  if (err instanceof KubeError) return err;
  const target = `${op.resource}${op.name === undefined ? '' : ` "${op.name}"`}`;
  const action = `${op.verb} ${target}`;
  if (timedOutAfterMs !== undefined) {
    return new KubeError(
      'Timeout',
      `The Kubernetes API server at ${server} did not answer within ${timedOutAfterMs / 1000}s (trying to ${action}).`,
      { cause: err },
    );
  }
  if (err instanceof ApiException) return fromApiException(err, op, server, action);
  const network = networkCode(err);
  if (network !== undefined) {
    return new KubeError(
      'Unreachable',
      `Cannot reach the Kubernetes API server at ${server} (${networkReason(network, server)}) to ${action}. Check the server in the kubeconfig and that the API server is running.`,
      { cause: err },
    );
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new KubeError(
    'Unknown',
    `Request to the Kubernetes API server at ${server} failed (trying to ${action}): ${oneLine(detail)}.`,
    {
      cause: err,
    },
  );
}

/** The API server answered `action` with an HTTP error status. */
function fromApiException(
  err: ApiException<unknown>,
  op: Operation,
  server: string,
  action: string,
): KubeError {
  const code = err.code as number;
  const status = statusOf(err.body);
  const said = status.message ? `: ${oneLine(status.message)}` : '';
  const retryAfter = retryAfterOf(err.headers as Record<string, string> | undefined);
  const opts = { statusCode: code, retryAfterSeconds: retryAfter, cause: err };
  const group = op.group === '' ? '"" (core)' : `"${op.group}"`;
  switch (true) {
    case code === 401:
      return new KubeError(
        'Unauthorized',
        `The Kubernetes API server at ${server} rejected our credentials (401 Unauthorized) trying to ${action}: the token or client certificate is missing, invalid or expired; check the user in the kubeconfig or the service account token.`,
        opts,
      );
    case code === 403:
      return new KubeError(
        'Forbidden',
        `cannot ${action}: forbidden (403): grant the verb "${op.verb}" on resource "${op.resource}" in API group ${group} to this identity (a ClusterRole and its binding)${said ? `; the API server said${said}` : ''}.`,
        opts,
      );
    case code === 404:
      return new KubeError('NotFound', `cannot ${action}: not found (404)${said}.`, opts);
    case code === 409:
      return new KubeError('Conflict', `cannot ${action}: conflict (409)${said}.`, opts);
    case code === 410:
      return new KubeError('Expired', `cannot ${action}: expired (410)${said}.`, opts);
    case code === 400 || code === 422:
      return new KubeError(
        'Invalid',
        `cannot ${action}: the API server rejected the request (${code})${said}.`,
        opts,
      );
    case code === 429:
      return new KubeError(
        'Throttled',
        `cannot ${action}: the API server is throttling us (429 Too Many Requests)${retryAfter === undefined ? '' : `; retry after ${retryAfter}s`}.`,
        opts,
      );
    case code >= 500:
      return new KubeError(
        'ServerError',
        `cannot ${action}: the API server at ${server} failed (${code})${said}.`,
        opts,
      );
    default:
      return new KubeError('Unknown', `cannot ${action}: unexpected HTTP ${code}${said}.`, opts);
  }
}

/** A system error code, said for people. */
function networkReason(network: string, server: string): string {
  let host = server;
  try {
    host = new URL(server).hostname;
  } catch {
    // keep the raw server string
  }
  return network === 'ECONNREFUSED'
    ? 'connection refused'
    : network === 'ENOTFOUND' || network === 'EAI_AGAIN'
      ? `host "${host}" not found`
      : network === 'ECONNRESET' || network === 'UND_ERR_SOCKET'
        ? 'the connection was closed'
        : network === 'ETIMEDOUT' || network === 'UND_ERR_CONNECT_TIMEOUT'
          ? 'the connection timed out'
          : network === 'EHOSTUNREACH' || network === 'ENETUNREACH'
            ? 'no route to host'
            : network;
}

/** The Kubernetes Status inside an ApiException body (a JSON string in client-node 2). */
function statusOf(body: unknown): { message?: string; reason?: string } {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body) as unknown;
    } catch {
      return body.trim() === '' ? {} : { message: body };
    }
  }
  if (typeof value === 'object' && value !== null) {
    const { message, reason } = value as { message?: unknown; reason?: unknown };
    return {
      ...(typeof message === 'string' ? { message } : {}),
      ...(typeof reason === 'string' ? { reason } : {}),
    };
  }
  return {};
}

function retryAfterOf(headers: Record<string, string> | undefined): number | undefined {
  const value = headers?.['retry-after'];
  if (value === undefined) return undefined;
  const seconds = Number(value);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : undefined;
}

/** The system error code somewhere in undici's "fetch failed" chain (cause, AggregateError members). */
function networkCode(err: unknown): string | undefined {
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length > 0) {
    const current = queue.shift();
    if (current === null || typeof current !== 'object' || seen.has(current)) continue;
    seen.add(current);
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/.test(code)) return code;
    queue.push((current as { cause?: unknown }).cause);
    const errors = (current as { errors?: unknown }).errors;
    if (Array.isArray(errors)) queue.push(...(errors as unknown[]));
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

function semaphore(size: number): { acquire(signal?: AbortSignal): Promise<() => void> } {
  let active = 0;
  const waiting: (() => void)[] = [];
  const release = (): void => {
    const next = waiting.shift();
    if (next === undefined) active -= 1;
    else next();
  };
  return {
    acquire(signal?: AbortSignal): Promise<() => void> {
      if (active < size) {
        active += 1;
        return Promise.resolve(once(release));
      }
      return new Promise((resolve, reject) => {
        const grant = (): void => {
          signal?.removeEventListener('abort', abort);
          resolve(once(release));
        };
        const abort = (): void => {
          const index = waiting.indexOf(grant);
          if (index >= 0) waiting.splice(index, 1);
          reject(signal?.reason);
        };
        waiting.push(grant);
        signal?.addEventListener('abort', abort, { once: true });
      });
    },
  };
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (!done) {
      done = true;
      fn();
    }
  };
}

function eventName(node: string): string {
  // Event names are DNS subdomains (at most 253 characters); keep room for the suffix.
  return `${node.slice(0, 253 - 17)}.${randomBytes(8).toString('hex')}`;
}

function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** One line, and without the user:password of any URL it quotes (undici's own messages quote the URL). */
function oneLine(text: string): string {
  return text
    .replace(/\s*\n\s*/g, ' ')
    .replace(/(\w+:\/\/)[^/\s@]+@/g, '$1')
    .trim();
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function names(items: readonly { name: string }[]): string {
  return items.length === 0 ? 'none' : items.map((i) => i.name).join(', ');
}

function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
