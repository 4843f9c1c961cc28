// A fake Kubernetes API server: a real HTTP server that @kubernetes/client-node talks to (DESIGN 5).
// client-node 2 sends its requests through undici, which nock cannot intercept, so the tests, the demo and
// the benchmark fake the server instead of the transport. It keeps Nodes, Events and Leases in memory with
// the API server's semantics that the controller relies on: a global resourceVersion, list paging, watches
// that resume from a resourceVersion (and expire with 410 once history is compacted), the three patch
// content types, optimistic concurrency, and Kubernetes `Status` error bodies.
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { CoreV1Event, EventsV1Event, V1Lease, V1Node } from '@kubernetes/client-node';

/** A client-node model as it travels on the wire: timestamps are RFC 3339 strings, not Dates. */
export type Wire<T> = T extends Date
  ? string
  : T extends readonly (infer U)[]
    ? Wire<U>[]
    : T extends object
      ? { -readonly [K in keyof T]: Wire<T[K]> }
      : T;
export type WireNode = Wire<V1Node>;
export type WireEvent = Wire<CoreV1Event>;
export type WireEventV1 = Wire<EventsV1Event>;
export type WireLease = Wire<V1Lease>;

export interface FakeNodeCondition {
  readonly type: string;
  readonly status: string;
  readonly reason?: string;
  readonly message?: string;
  readonly lastTransitionTime?: string;
  readonly lastHeartbeatTime?: string;
}

/** The short form of a Node for tests; addNode fills in the rest like a kubelet would. */
export interface FakeNodeSpec {
  readonly name: string;
  /** spec.podCIDRs; spec.podCIDR is set to the first one. Omit for a node that has none yet. */
  readonly podCIDRs?: readonly string[];
  /** Only spec.podCIDR (a cluster from before dual-stack). Ignored when podCIDRs is given. */
  readonly podCIDR?: string;
  /** status.addresses of type InternalIP, in order (a Hostname address is always added). */
  readonly internalIPs?: readonly string[];
  /** Merged by type over the kubelet's defaults (Ready=True and the pressure conditions False). */
  readonly conditions?: readonly FakeNodeCondition[];
  /** RFC 3339; defaults to now. */
  readonly creationTimestamp?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly uid?: string;
}

export interface RequestRecord {
  /** Arrival order: 1 for the first request the server received, and so on. */
  readonly seq: number;
  /**
   * Where, in the same sequence, the request ended: a tick is taken when its answer is sent or when its client
   * went away unanswered. A request that ends before another arrives has a settledSeq below that one's seq.
   */
  settledSeq?: number;
  /** The client closed the connection before an answer was sent (a cancelled request). */
  abandoned?: boolean;
  readonly method: string;
  /** The URL path, without the query string. */
  readonly path: string;
  /** The query string, with its leading '?', or ''. */
  readonly query: string;
  /** The HTTP status sent; 0 when the connection was dropped or never answered. */
  status: number;
  readonly contentType?: string | undefined;
  /** The parsed JSON body of a POST, PUT, PATCH or DELETE. */
  body?: unknown;
  readonly watch: boolean;
}

export interface FailRule {
  /** Matches any method when omitted. */
  readonly method?: string;
  /** A substring of the path and query (e.g. '/status', 'nodes?limit'); matches any request when omitted. */
  readonly pathIncludes?: string;
  /** The HTTP status to answer with, with a Kubernetes Status body. */
  readonly status: number;
  /** How many matching requests fail; 1 by default. */
  readonly times?: number;
  readonly reason?: string;
  readonly message?: string;
  /** Sent as Retry-After (useful with 429 and 503). */
  readonly retryAfterSeconds?: number;
  /** Destroy the connection instead of answering (status is then only recorded). */
  readonly drop?: boolean;
  /** Never answer; the client's own timeout has to end the request. */
  readonly hang?: boolean;
}

/** Requests held by hold(): they wait, unanswered and not applied, until released. */
export interface HeldRequests {
  /** Requests held so far. */
  readonly count: number;
  /** Resolves once at least n requests have arrived and are held. */
  arrived(n?: number): Promise<void>;
  /** Resolves once at least n held requests were cancelled by their client (and so will never be applied). */
  abandoned(n?: number): Promise<void>;
  /**
   * Lets the held requests (and later matching ones) through. A request whose client went away meanwhile is
   * not applied: the API server does not commit a write whose request context is gone.
   */
  release(): void;
}

export interface FakeKubeApiOptions {
  /** Delay before every answer, in milliseconds. */
  readonly latencyMs?: number;
  /** How many change events are kept for watches to resume from. Older resourceVersions get 410. */
  readonly historyLimit?: number;
  /** How an expired watch is refused: an ERROR event with a 410 Status (as the real server does), or HTTP 410. */
  readonly expiredWatch?: 'event' | 'http';
  /** Interval of BOOKMARK events for watches that ask for them (allowWatchBookmarks=true). */
  readonly bookmarkIntervalMs?: number;
  /** When set, requests must carry `Authorization: Bearer <token>`, or they get 401. */
  readonly requireToken?: string;
  /** The token written into kubeconfig(); `requireToken` when that is set. */
  readonly token?: string;
}

export interface FakeKubeApi {
  /** e.g. http://127.0.0.1:41234 */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: RequestRecord[];
  /** The YAML text of a kubeconfig whose context, cluster and user are named `fake`. */
  kubeconfig(): string;
  writeKubeconfig(path: string): Promise<void>;
  addNode(node: FakeNodeSpec | V1Node | WireNode): WireNode;
  addNodes(nodes: readonly (FakeNodeSpec | V1Node | WireNode)[]): void;
  /** Mutate a copy of the node (or return a replacement); the change is delivered to watchers as MODIFIED. */
  updateNode(name: string, mutate: (node: WireNode) => WireNode | void): WireNode;
  deleteNode(name: string): void;
  getNode(name: string): WireNode | undefined;
  /** All nodes, sorted by name. */
  nodes(): WireNode[];
  /** core/v1 Events, in creation order. */
  events(): WireEvent[];
  /** events.k8s.io/v1 Events, in creation order. */
  eventsV1(): WireEventV1[];
  leases(): WireLease[];
  getLease(namespace: string, name: string): WireLease | undefined;
  /** The current global resourceVersion. */
  resourceVersion(): string;
  /** How many watch streams are open right now. */
  openWatches(): number;
  /** How many TCP connections were accepted since the start (to check that clients keep them alive). */
  connectionsAccepted(): number;
  resetLog(): void;
  setLatency(ms: number): void;
  /** Refuse connections (nothing listens on the port), and close every open connection and watch. */
  down(): Promise<void>;
  /** Listen again on the same port. */
  up(): Promise<void>;
  /**
   * Compact the watch history, so that resuming from any resourceVersion seen so far answers 410 Expired.
   * Open watches are closed too (unless closeOpen is false), so clients resume at once.
   */
  expireWatches(options?: { readonly closeOpen?: boolean; readonly mode?: 'event' | 'http' }): void;
  /** Close every connection (watches included) and keep listening and all state, like an API server restart. */
  restart(): void;
  failNext(rule: FailRule): void;
  /** Holds every request matching `rule` (method and pathIncludes as in FailRule) until released. */
  hold(rule: { readonly method?: string; readonly pathIncludes?: string }): HeldRequests;
  /**
   * The watches open now go silent: they stay open but deliver nothing more (no events, no bookmarks), like a
   * connection that died without a FIN. Watches opened later work normally.
   */
  stallWatches(): void;
  /** Mutate a copy of the Lease spec (another holder, an operator's edit); written as an update would be. */
  updateLease(namespace: string, name: string, mutate: (lease: WireLease) => WireLease | void): WireLease;
  /** Forget fault rules that have not fired yet. */
  clearFaults(): void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// Resources

interface Meta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  [key: string]: unknown;
}

interface KObject {
  apiVersion?: string;
  kind?: string;
  metadata: Meta;
  [key: string]: unknown;
}

interface ResourceDef {
  readonly id: string;
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
  readonly hasStatus: boolean;
}

const NODES: ResourceDef = {
  id: 'nodes',
  group: '',
  version: 'v1',
  plural: 'nodes',
  kind: 'Node',
  namespaced: false,
  hasStatus: true,
};
const EVENTS: ResourceDef = {
  id: 'events',
  group: '',
  version: 'v1',
  plural: 'events',
  kind: 'Event',
  namespaced: true,
  hasStatus: false,
};
const EVENTS_V1: ResourceDef = {
  id: 'events.events.k8s.io',
  group: 'events.k8s.io',
  version: 'v1',
  plural: 'events',
  kind: 'Event',
  namespaced: true,
  hasStatus: false,
};
const LEASES: ResourceDef = {
  id: 'leases.coordination.k8s.io',
  group: 'coordination.k8s.io',
  version: 'v1',
  plural: 'leases',
  kind: 'Lease',
  namespaced: true,
  hasStatus: false,
};
const RESOURCES: readonly ResourceDef[] = [NODES, EVENTS, EVENTS_V1, LEASES];

const apiVersionOf = (def: ResourceDef): string => (def.group ? `${def.group}/${def.version}` : def.version);
/** How the API server names a resource in its messages: `nodes`, `leases.coordination.k8s.io`. */
const qualifiedName = (def: ResourceDef): string => (def.group ? `${def.plural}.${def.group}` : def.plural);

/** The strategic-merge-patch list strategies of the fields we serve (from the Kubernetes Go types). */
const MERGE_LISTS: Readonly<Record<string, string | null>> = {
  'status.conditions': 'type',
  'status.addresses': 'type',
  'status.volumesAttached': 'name',
  'metadata.ownerReferences': 'uid',
  // A list of primitives merged as a set.
  'metadata.finalizers': null,
};

// ---------------------------------------------------------------------------------------------------------
// Small helpers

class HttpError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: number, reason: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }
}

const REASONS: Readonly<Record<number, string>> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

function statusBody(
  code: number,
  reason: string,
  message: string,
  details?: Record<string, unknown>,
): object {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

type JsonMap = Record<string, unknown>;

const isMap = (v: unknown): v is JsonMap => typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 3339 with second precision, as the API server writes metav1.Time. */
const rfc3339 = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A deep copy in wire form: Dates become RFC 3339 strings, undefined members disappear. */
function toWire<T>(value: T): Wire<T> {
  // The replacer sees Dates after their toJSON ran, so look at the holder's own member.
  const replacer = function (this: Record<string, unknown>, key: string, v: unknown): unknown {
    const raw = this[key];
    return raw instanceof Date ? rfc3339(raw) : v;
  };
  return JSON.parse(JSON.stringify(value, replacer)) as Wire<T>;
}

const clone = <T>(value: T): T => structuredClone(value);

function encodeContinue(rv: number, after: string): string {
  return Buffer.from(JSON.stringify({ rv, after })).toString('base64url');
}

function decodeContinue(token: string): { rv: number; after: string } {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (isMap(parsed) && typeof parsed['rv'] === 'number' && typeof parsed['after'] === 'string') {
      return { rv: parsed['rv'], after: parsed['after'] };
    }
  } catch {
    // fall through
  }
  throw new HttpError(400, 'BadRequest', 'continue key is not valid: invalid continue token');
}

/** The index of the first element of the sorted array that is greater than `key`. */
function upperBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as string) <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// ---------------------------------------------------------------------------------------------------------
// Patches

/** Strategic merge patch, for the fields whose strategies MERGE_LISTS knows; other lists are replaced. */
function strategicMerge(original: unknown, patch: JsonMap, path: string): unknown {
  if (patch['$patch'] === 'delete') return undefined;
  if (patch['$patch'] === 'replace') {
    const { $patch: _ignored, ...rest } = patch;
    return stripDirectives(rest);
  }
  const out: JsonMap = isMap(original) ? { ...original } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const field = key.slice('$deleteFromPrimitiveList/'.length);
      const current = out[field];
      if (Array.isArray(current) && Array.isArray(value))
        out[field] = current.filter((v) => !value.includes(v));
      continue;
    }
    // $setElementOrder and $retainKeys only tune ordering and pruning; the merge itself is what we model.
    if (key.startsWith('$')) continue;
    const childPath = path ? `${path}.${key}` : key;
    if (value === null) {
      delete out[key];
    } else if (Array.isArray(value)) {
      out[key] = strategicMergeList(out[key], value, childPath);
    } else if (isMap(value)) {
      const merged = strategicMerge(out[key], value, childPath);
      if (merged === undefined) delete out[key];
      else out[key] = merged;
    } else {
      out[key] = value;
    }
  }
  return out;
}

function strategicMergeList(original: unknown, patch: unknown[], path: string): unknown[] {
  if (!(path in MERGE_LISTS)) return patch.map(stripDirectives);
  if (patch.some((item) => isMap(item) && item['$patch'] === 'replace')) {
    return patch.filter((item) => !(isMap(item) && item['$patch'] === 'replace')).map(stripDirectives);
  }
  const out: unknown[] = Array.isArray(original) ? [...original] : [];
  const key = MERGE_LISTS[path];
  if (key === null || key === undefined) {
    for (const item of patch) if (!out.includes(item)) out.push(item);
    return out;
  }
  for (const item of patch) {
    if (!isMap(item)) {
      out.push(item);
      continue;
    }
    const index = out.findIndex((existing) => isMap(existing) && existing[key] === item[key]);
    if (item['$patch'] === 'delete') {
      if (index >= 0) out.splice(index, 1);
    } else if (index >= 0) {
      out[index] = strategicMerge(out[index], item, path);
    } else {
      out.push(strategicMerge(undefined, item, path));
    }
  }
  return out;
}

function stripDirectives(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripDirectives);
  if (!isMap(value)) return value;
  const out: JsonMap = {};
  for (const [k, v] of Object.entries(value)) {
    if (!k.startsWith('$') && v !== null) out[k] = stripDirectives(v);
  }
  return out;
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isMap(patch)) return patch;
  const out: JsonMap = isMap(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/** RFC 6902 JSON patch, applied to a copy. */
function jsonPatch(target: unknown, operations: unknown): unknown {
  if (!Array.isArray(operations))
    throw new HttpError(400, 'BadRequest', 'a JSON patch must be an array of operations');
  let doc = clone(target);
  const invalid = (message: string): HttpError =>
    new HttpError(
      422,
      'Invalid',
      `the server rejected our request due to an error in our request: ${message}`,
    );
  const parse = (pointer: unknown): string[] => {
    if (typeof pointer !== 'string' || (pointer !== '' && !pointer.startsWith('/'))) {
      throw invalid(`invalid JSON pointer ${JSON.stringify(pointer)}`);
    }
    return pointer === ''
      ? []
      : pointer
          .slice(1)
          .split('/')
          .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
  };
  const get = (tokens: string[]): unknown => {
    let node: unknown = doc;
    for (const token of tokens) {
      if (Array.isArray(node)) node = node[Number(token)];
      else if (isMap(node)) node = node[token];
      else return undefined;
    }
    return node;
  };
  const parentOf = (tokens: string[]): { parent: unknown; last: string } => {
    const parent = get(tokens.slice(0, -1));
    const last = tokens[tokens.length - 1];
    if (last === undefined || parent === undefined || parent === null || typeof parent !== 'object') {
      throw invalid(`path /${tokens.join('/')} does not exist`);
    }
    return { parent, last };
  };
  const remove = (tokens: string[]): unknown => {
    const { parent, last } = parentOf(tokens);
    if (Array.isArray(parent)) {
      const index = Number(last);
      if (!Number.isInteger(index) || index < 0 || index >= parent.length)
        throw invalid(`no element at /${tokens.join('/')}`);
      return parent.splice(index, 1)[0];
    }
    const map = parent as JsonMap;
    if (!(last in map)) throw invalid(`no member at /${tokens.join('/')}`);
    const value = map[last];
    delete map[last];
    return value;
  };
  const add = (tokens: string[], value: unknown): void => {
    if (tokens.length === 0) {
      doc = value;
      return;
    }
    const { parent, last } = parentOf(tokens);
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (!Number.isInteger(index) || index < 0 || index > parent.length)
        throw invalid(`bad index at /${tokens.join('/')}`);
      parent.splice(index, 0, value);
    } else {
      (parent as JsonMap)[last] = value;
    }
  };
  for (const op of operations) {
    if (!isMap(op)) throw invalid('a JSON patch operation must be an object');
    const path = parse(op['path']);
    switch (op['op']) {
      case 'add':
        add(path, clone(op['value']));
        break;
      case 'remove':
        remove(path);
        break;
      case 'replace':
        if (path.length > 0) remove(path);
        add(path, clone(op['value']));
        break;
      case 'move': {
        const value = remove(parse(op['from']));
        add(path, value);
        break;
      }
      case 'copy':
        add(path, clone(get(parse(op['from']))));
        break;
      case 'test':
        if (JSON.stringify(get(path)) !== JSON.stringify(op['value'])) {
          throw invalid(`testing value /${path.join('/')} failed`);
        }
        break;
      default:
        throw invalid(`unknown JSON patch operation ${JSON.stringify(op['op'])}`);
    }
  }
  return doc;
}

// ---------------------------------------------------------------------------------------------------------
// Nodes as a kubelet registers them

function buildNode(spec: FakeNodeSpec, now: Date): KObject {
  const timestamp = spec.creationTimestamp ?? rfc3339(now);
  const defaults: FakeNodeCondition[] = [
    {
      type: 'MemoryPressure',
      status: 'False',
      reason: 'KubeletHasSufficientMemory',
      message: 'kubelet has sufficient memory available',
    },
    {
      type: 'DiskPressure',
      status: 'False',
      reason: 'KubeletHasNoDiskPressure',
      message: 'kubelet has no disk pressure',
    },
    {
      type: 'PIDPressure',
      status: 'False',
      reason: 'KubeletHasSufficientPID',
      message: 'kubelet has sufficient PID available',
    },
    { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' },
  ];
  const conditions: FakeNodeCondition[] = [...defaults];
  for (const condition of spec.conditions ?? []) {
    const index = conditions.findIndex((c) => c.type === condition.type);
    if (index >= 0) conditions[index] = condition;
    else conditions.push(condition);
  }
  const podCIDRs = spec.podCIDRs ?? (spec.podCIDR === undefined ? [] : [spec.podCIDR]);
  const nodeSpec: JsonMap = {};
  if (podCIDRs.length > 0) nodeSpec['podCIDR'] = podCIDRs[0];
  if (spec.podCIDRs !== undefined && podCIDRs.length > 0) nodeSpec['podCIDRs'] = [...podCIDRs];
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: spec.name,
      uid: spec.uid ?? randomUUID(),
      creationTimestamp: timestamp,
      labels: {
        'beta.kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': spec.name,
        'kubernetes.io/os': 'linux',
        ...spec.labels,
      },
      annotations: {
        'node.alpha.kubernetes.io/ttl': '0',
        'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
      },
    },
    spec: nodeSpec,
    status: {
      addresses: [
        ...(spec.internalIPs ?? []).map((address) => ({ type: 'InternalIP', address })),
        { type: 'Hostname', address: spec.name },
      ],
      conditions: conditions.map((c) => ({
        type: c.type,
        status: c.status,
        ...(c.reason === undefined ? {} : { reason: c.reason }),
        ...(c.message === undefined ? {} : { message: c.message }),
        lastHeartbeatTime: c.lastHeartbeatTime ?? timestamp,
        lastTransitionTime: c.lastTransitionTime ?? timestamp,
      })),
      capacity: { cpu: '2', 'ephemeral-storage': '30297152Ki', memory: '8148008Ki', pods: '110' },
      allocatable: { cpu: '2', 'ephemeral-storage': '27921920204', memory: '8045608Ki', pods: '110' },
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        architecture: 'amd64',
        bootID: randomUUID(),
        containerRuntimeVersion: 'containerd://2.1.4',
        kernelVersion: '6.8.0-1031-azure',
        kubeProxyVersion: '',
        kubeletVersion: 'v1.34.1',
        machineID: randomUUID().replaceAll('-', ''),
        operatingSystem: 'linux',
        osImage: 'Ubuntu 24.04.3 LTS',
        systemUUID: randomUUID(),
      },
    },
  };
}

function isNodeSpec(node: FakeNodeSpec | V1Node | WireNode): node is FakeNodeSpec {
  return typeof (node as FakeNodeSpec).name === 'string' && (node as V1Node).metadata === undefined;
}

// ---------------------------------------------------------------------------------------------------------
// The server

interface HistoryEntry {
  readonly rv: number;
  readonly def: ResourceDef;
  readonly namespace: string;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: KObject;
  line?: string;
}

interface Watcher {
  readonly def: ResourceDef;
  /** undefined: every namespace. */
  readonly namespace: string | undefined;
  readonly res: http.ServerResponse;
  readonly bookmarks: boolean;
  timer?: NodeJS.Timeout;
  /** stallWatches(): open, but nothing more is written to it. */
  stalled?: boolean;
}

interface Hold {
  readonly method?: string | undefined;
  readonly pathIncludes?: string | undefined;
  released: boolean;
  readonly waiting: (() => void)[];
  held: number;
  abandoned: number;
  readonly listeners: Set<() => void>;
}

interface ArmedRule {
  readonly rule: FailRule;
  remaining: number;
}

class FakeServer implements FakeKubeApi {
  readonly requests: RequestRecord[] = [];
  url = '';

  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly watchers = new Set<Watcher>();
  private readonly hanging = new Set<http.ServerResponse>();
  private readonly stores = new Map<string, Map<string, KObject>>();
  private readonly sortedKeys = new Map<string, string[]>();
  private readonly history: HistoryEntry[] = [];
  private readonly faults: ArmedRule[] = [];
  private readonly historyLimit: number;
  private readonly expiredWatch: 'event' | 'http';
  private readonly requireToken: string | undefined;
  private readonly token: string;
  private readonly bookmarkTimer: NodeJS.Timeout;
  private latencyMs: number;
  private rv = 1;
  /** Watches from a resourceVersion below this one have lost events: they get 410 Expired. */
  private compactedRv = 0;
  private port = 0;
  private listening = false;
  private nextExpiryMode: 'event' | 'http' | undefined;
  private accepted = 0;
  private seq = 0;
  private readonly holds: Hold[] = [];

  constructor(options: FakeKubeApiOptions) {
    this.latencyMs = options.latencyMs ?? 0;
    this.historyLimit = options.historyLimit ?? 50_000;
    this.expiredWatch = options.expiredWatch ?? 'event';
    this.requireToken = options.requireToken;
    this.token = options.requireToken ?? options.token ?? 'fake-token';
    for (const def of RESOURCES) this.stores.set(def.id, new Map());
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) {
          this.sendError(
            res,
            undefined,
            new HttpError(500, 'InternalError', `fake API server: ${String(err)}`),
          );
        } else {
          res.destroy();
        }
      });
    });
    this.server.keepAliveTimeout = 30_000;
    this.server.on('connection', (socket: Socket) => {
      this.accepted += 1;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.bookmarkTimer = setInterval(() => this.sendBookmarks(), options.bookmarkIntervalMs ?? 5_000);
    this.bookmarkTimer.unref();
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.listening = true;
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
  }

  // --- test API -------------------------------------------------------------------------------------

  kubeconfig(): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '  - name: fake',
      '    cluster:',
      `      server: ${this.url}`,
      // client-node refuses plain http unless TLS verification is explicitly off.
      '      insecure-skip-tls-verify: true',
      'users:',
      '  - name: fake',
      '    user:',
      `      token: ${this.token}`,
      'contexts:',
      '  - name: fake',
      '    context:',
      '      cluster: fake',
      '      user: fake',
      'current-context: fake',
      '',
    ].join('\n');
  }

  async writeKubeconfig(path: string): Promise<void> {
    await writeFile(path, this.kubeconfig(), { mode: 0o600 });
  }

  addNode(node: FakeNodeSpec | V1Node | WireNode): WireNode {
    const object = isNodeSpec(node) ? buildNode(node, new Date()) : (toWire(node) as unknown as KObject);
    object.apiVersion ??= 'v1';
    object.kind ??= 'Node';
    const created = this.create(NODES, '', object);
    return clone(created) as unknown as WireNode;
  }

  addNodes(nodes: readonly (FakeNodeSpec | V1Node | WireNode)[]): void {
    for (const node of nodes) this.addNode(node);
  }

  updateNode(name: string, mutate: (node: WireNode) => WireNode | void): WireNode {
    const current = this.store(NODES).get(name);
    if (current === undefined) throw new Error(`fake API server: no node ${name}`);
    const draft = clone(current) as unknown as WireNode;
    const result = (mutate(draft) ?? draft) as unknown as KObject;
    result.metadata = { ...result.metadata, name, uid: current.metadata.uid };
    return clone(this.commit(NODES, '', 'MODIFIED', result)) as unknown as WireNode;
  }

  deleteNode(name: string): void {
    if (!this.store(NODES).has(name)) throw new Error(`fake API server: no node ${name}`);
    this.remove(NODES, '', name);
  }

  getNode(name: string): WireNode | undefined {
    const node = this.store(NODES).get(name);
    return node === undefined ? undefined : (clone(node) as unknown as WireNode);
  }

  nodes(): WireNode[] {
    const store = this.store(NODES);
    return this.keys(NODES).map((key) => clone(store.get(key)) as unknown as WireNode);
  }

  events(): WireEvent[] {
    return [...this.store(EVENTS).values()].map((e) => clone(e) as unknown as WireEvent);
  }

  eventsV1(): WireEventV1[] {
    return [...this.store(EVENTS_V1).values()].map((e) => clone(e) as unknown as WireEventV1);
  }

  leases(): WireLease[] {
    return [...this.store(LEASES).values()].map((l) => clone(l) as unknown as WireLease);
  }

  getLease(namespace: string, name: string): WireLease | undefined {
    const lease = this.store(LEASES).get(`${namespace}/${name}`);
    return lease === undefined ? undefined : (clone(lease) as unknown as WireLease);
  }

  resourceVersion(): string {
    return String(this.rv);
  }

  openWatches(): number {
    return this.watchers.size;
  }

  connectionsAccepted(): number {
    return this.accepted;
  }

  resetLog(): void {
    this.requests.length = 0;
  }

  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  async down(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.dropConnections();
    await closed;
  }

  async up(): Promise<void> {
    if (this.listening) return;
    await this.listen();
  }

  expireWatches(options?: { readonly closeOpen?: boolean; readonly mode?: 'event' | 'http' }): void {
    // Bump the revision so that even a client that has seen everything is behind the compaction point.
    this.rv += 1;
    this.compactedRv = this.rv;
    this.history.length = 0;
    this.nextExpiryMode = options?.mode;
    if (options?.closeOpen ?? true) {
      for (const watcher of [...this.watchers]) this.endWatch(watcher);
    }
  }

  restart(): void {
    this.dropConnections();
  }

  failNext(rule: FailRule): void {
    this.faults.push({ rule, remaining: rule.times ?? 1 });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  hold(rule: { readonly method?: string; readonly pathIncludes?: string }): HeldRequests {
    const hold: Hold = {
      method: rule.method,
      pathIncludes: rule.pathIncludes,
      released: false,
      waiting: [],
      held: 0,
      abandoned: 0,
      listeners: new Set(),
    };
    this.holds.push(hold);
    const until = (check: () => boolean): Promise<void> =>
      new Promise<void>((resolve) => {
        if (check()) return resolve();
        const listener = (): void => {
          if (!check()) return;
          hold.listeners.delete(listener);
          resolve();
        };
        hold.listeners.add(listener);
      });
    return {
      get count() {
        return hold.held;
      },
      arrived: (n = 1) => until(() => hold.held >= n),
      abandoned: (n = 1) => until(() => hold.abandoned >= n),
      release: () => {
        hold.released = true;
        this.holds.splice(this.holds.indexOf(hold), 1);
        for (const resume of hold.waiting.splice(0)) resume();
      },
    };
  }

  stallWatches(): void {
    for (const watcher of this.watchers) watcher.stalled = true;
  }

  updateLease(namespace: string, name: string, mutate: (lease: WireLease) => WireLease | void): WireLease {
    const current = this.store(LEASES).get(`${namespace}/${name}`);
    if (current === undefined) throw new Error(`fake API server: no lease ${namespace}/${name}`);
    const draft = clone(current) as unknown as WireLease;
    const result = (mutate(draft) ?? draft) as unknown as KObject;
    result.metadata = { ...result.metadata, name, namespace, uid: current.metadata.uid };
    return clone(this.commit(LEASES, namespace, 'MODIFIED', result)) as unknown as WireLease;
  }

  async close(): Promise<void> {
    clearInterval(this.bookmarkTimer);
    await this.down();
  }

  // --- storage ----------------------------------------------------------------------------------------

  private store(def: ResourceDef): Map<string, KObject> {
    return this.stores.get(def.id) as Map<string, KObject>;
  }

  private keys(def: ResourceDef): string[] {
    let keys = this.sortedKeys.get(def.id);
    if (keys === undefined) {
      keys = [...this.store(def).keys()].sort();
      this.sortedKeys.set(def.id, keys);
    }
    return keys;
  }

  private static key(def: ResourceDef, namespace: string, name: string): string {
    return def.namespaced ? `${namespace}/${name}` : name;
  }

  private create(def: ResourceDef, namespace: string, object: KObject): KObject {
    const meta = object.metadata;
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${randomUUID().slice(0, 5)}`;
    if (!meta.name)
      throw new HttpError(
        422,
        'Invalid',
        `${def.kind} "" is invalid: metadata.name: Required value: name or generateName is required`,
      );
    const key = FakeServer.key(def, namespace, meta.name);
    if (this.store(def).has(key)) {
      throw new HttpError(409, 'AlreadyExists', `${qualifiedName(def)} "${meta.name}" already exists`, {
        name: meta.name,
        group: def.group,
        kind: def.plural,
      });
    }
    if (def.namespaced) meta.namespace = namespace;
    else delete meta.namespace;
    meta.uid ??= randomUUID();
    meta.creationTimestamp ??= rfc3339(new Date());
    return this.commit(def, namespace, 'ADDED', object);
  }

  private remove(def: ResourceDef, namespace: string, name: string): KObject {
    const key = FakeServer.key(def, namespace, name);
    const current = this.store(def).get(key);
    if (current === undefined) throw this.notFound(def, name);
    return this.commit(def, namespace, 'DELETED', clone(current));
  }

  /** Store a new version of an object (or delete it), bump the global resourceVersion and tell the watchers. */
  private commit(def: ResourceDef, namespace: string, type: HistoryEntry['type'], object: KObject): KObject {
    this.rv += 1;
    object.metadata.resourceVersion = String(this.rv);
    const key = FakeServer.key(def, namespace, object.metadata.name as string);
    const store = this.store(def);
    if (type === 'DELETED') {
      store.delete(key);
      this.sortedKeys.delete(def.id);
    } else {
      if (!store.has(key)) this.sortedKeys.delete(def.id);
      store.set(key, object);
    }
    const entry: HistoryEntry = { rv: this.rv, def, namespace, type, object };
    this.history.push(entry);
    if (this.history.length > this.historyLimit + 1_000) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      this.compactedRv = Math.max(this.compactedRv, (dropped[dropped.length - 1] as HistoryEntry).rv);
    }
    for (const watcher of this.watchers) {
      if (!watcher.stalled && FakeServer.watches(watcher, entry)) watcher.res.write(FakeServer.line(entry));
    }
    return object;
  }

  private static watches(watcher: Watcher, entry: HistoryEntry): boolean {
    return (
      watcher.def === entry.def && (watcher.namespace === undefined || watcher.namespace === entry.namespace)
    );
  }

  private static line(entry: HistoryEntry): string {
    entry.line ??= `${JSON.stringify({ type: entry.type, object: entry.object })}\n`;
    return entry.line;
  }

  private notFound(def: ResourceDef, name: string): HttpError {
    return new HttpError(404, 'NotFound', `${qualifiedName(def)} "${name}" not found`, {
      name,
      group: def.group,
      kind: def.plural,
    });
  }

  // --- connections --------------------------------------------------------------------------------------

  private dropConnections(): void {
    for (const watcher of [...this.watchers]) this.endWatch(watcher);
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  private endWatch(watcher: Watcher): void {
    this.watchers.delete(watcher);
    if (watcher.timer !== undefined) clearTimeout(watcher.timer);
    watcher.res.end();
  }

  private sendBookmarks(): void {
    for (const watcher of this.watchers) {
      if (!watcher.bookmarks || watcher.stalled) continue;
      const object = {
        kind: watcher.def.kind,
        apiVersion: apiVersionOf(watcher.def),
        metadata: { resourceVersion: String(this.rv) },
      };
      watcher.res.write(`${JSON.stringify({ type: 'BOOKMARK', object })}\n`);
    }
  }

  // --- HTTP -----------------------------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
    const contentType = req.headers['content-type']?.split(';')[0]?.trim();
    const record: RequestRecord = {
      seq: ++this.seq,
      method,
      path: url.pathname,
      query: url.search,
      status: 0,
      contentType,
      watch,
    };
    this.requests.push(record);
    res.on('close', () => {
      if (record.settledSeq !== undefined) return;
      record.abandoned = true;
      record.settledSeq = ++this.seq;
    });

    const body = method === 'GET' || method === 'HEAD' ? undefined : await readBody(req);
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
    if (!this.listening) {
      req.socket.destroy();
      return;
    }
    if (!(await this.passHolds(method, url.pathname + url.search, res))) return;

    const fault = this.takeFault(method, url.pathname + url.search);
    if (fault !== undefined) {
      if (fault.drop) {
        req.socket.destroy();
      } else if (fault.hang) {
        this.hanging.add(res);
        res.on('close', () => this.hanging.delete(res));
      } else {
        const reason = fault.reason ?? REASONS[fault.status] ?? 'Unknown';
        const headers: Record<string, string> = {};
        if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds);
        this.send(
          res,
          record,
          fault.status,
          statusBody(fault.status, reason, fault.message ?? `injected ${fault.status} ${reason}`),
          headers,
        );
      }
      return;
    }

    if (this.requireToken !== undefined && req.headers.authorization !== `Bearer ${this.requireToken}`) {
      this.sendError(res, record, new HttpError(401, 'Unauthorized', 'Unauthorized'));
      return;
    }

    try {
      if (body !== undefined && body.length > 0) {
        try {
          record.body = JSON.parse(body) as unknown;
        } catch {
          throw new HttpError(400, 'BadRequest', 'the request body is not valid JSON');
        }
      }
      this.route(res, record, url, method, watch, contentType);
    } catch (err) {
      if (err instanceof HttpError) this.sendError(res, record, err);
      else throw err;
    }
  }

  /** Waits while a hold matches; false when the client went away meanwhile (the request is then dropped). */
  private async passHolds(method: string, pathAndQuery: string, res: http.ServerResponse): Promise<boolean> {
    const hold = this.holds.find(
      (h) =>
        !h.released &&
        (h.method === undefined || h.method.toUpperCase() === method) &&
        (h.pathIncludes === undefined || pathAndQuery.includes(h.pathIncludes)),
    );
    if (hold === undefined) return true;
    hold.held += 1;
    const notify = (): void => {
      for (const listener of hold.listeners) listener();
    };
    let left = false;
    const gone = (): void => {
      left = true;
      hold.abandoned += 1;
      notify();
    };
    res.once('close', gone);
    notify();
    await new Promise<void>((resolve) => hold.waiting.push(resolve));
    res.off('close', gone);
    return !left && !res.destroyed;
  }

  private takeFault(method: string, pathAndQuery: string): FailRule | undefined {
    const index = this.faults.findIndex(
      ({ rule }) =>
        (rule.method === undefined || rule.method.toUpperCase() === method) &&
        (rule.pathIncludes === undefined || pathAndQuery.includes(rule.pathIncludes)),
    );
    if (index < 0) return undefined;
    const armed = this.faults[index] as ArmedRule;
    armed.remaining -= 1;
    if (armed.remaining <= 0) this.faults.splice(index, 1);
    return armed.rule;
  }

  private route(
    res: http.ServerResponse,
    record: RequestRecord,
    url: URL,
    method: string,
    watch: boolean,
    contentType: string | undefined,
  ): void {
    const segments = url.pathname
      .split('/')
      .filter((s) => s !== '')
      .map(decodeURIComponent);
    if (segments.length === 1 && segments[0] === 'version') {
      this.send(res, record, 200, {
        major: '1',
        minor: '34',
        gitVersion: 'v1.34.1-fake',
        platform: 'linux/amd64',
      });
      return;
    }
    if (segments.length === 1 && ['healthz', 'readyz', 'livez'].includes(segments[0] as string)) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      record.status = 200;
      return;
    }
    let group: string;
    let rest: string[];
    if (segments[0] === 'api' && segments[1] === 'v1') {
      group = '';
      rest = segments.slice(2);
    } else if (segments[0] === 'apis' && segments.length >= 3) {
      group = segments[1] as string;
      const version = segments[2];
      if (!RESOURCES.some((d) => d.group === group && d.version === version))
        throw new HttpError(404, 'NotFound', 'the server could not find the requested resource');
      rest = segments.slice(3);
    } else {
      throw new HttpError(404, 'NotFound', 'the server could not find the requested resource');
    }
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [plural, name, subresource, ...extra] = rest;
    const def = RESOURCES.find((d) => d.group === group && d.plural === plural);
    if (def === undefined || extra.length > 0 || (namespace !== undefined && !def.namespaced)) {
      throw new HttpError(404, 'NotFound', 'the server could not find the requested resource');
    }
    if (subresource !== undefined && !(subresource === 'status' && def.hasStatus)) {
      throw new HttpError(404, 'NotFound', 'the server could not find the requested resource');
    }
    if (def.namespaced && namespace === undefined && (name !== undefined || method !== 'GET')) {
      throw new HttpError(404, 'NotFound', 'the server could not find the requested resource');
    }
    const ns = namespace ?? '';

    if (name === undefined) {
      if (method === 'GET' && watch) return this.startWatch(res, record, def, namespace, url);
      if (method === 'GET') return this.send(res, record, 200, this.list(def, namespace, url));
      if (method === 'POST') return this.send(res, record, 201, this.handleCreate(def, ns, record.body));
      throw new HttpError(
        405,
        'MethodNotAllowed',
        `the server does not allow this method on the requested resource`,
      );
    }

    const key = FakeServer.key(def, ns, name);
    const current = this.store(def).get(key);
    switch (method) {
      case 'GET':
        if (current === undefined) throw this.notFound(def, name);
        return this.send(res, record, 200, current);
      case 'PUT':
        return this.send(
          res,
          record,
          200,
          this.handleReplace(def, ns, name, current, record.body, subresource),
        );
      case 'PATCH':
        return this.send(
          res,
          record,
          200,
          this.handlePatch(def, ns, name, current, record.body, contentType, subresource),
        );
      case 'DELETE': {
        if (current === undefined) throw this.notFound(def, name);
        const preconditions =
          isMap(record.body) && isMap(record.body['preconditions']) ? record.body['preconditions'] : {};
        if (
          (preconditions['resourceVersion'] !== undefined &&
            preconditions['resourceVersion'] !== current.metadata.resourceVersion) ||
          (preconditions['uid'] !== undefined && preconditions['uid'] !== current.metadata.uid)
        ) {
          throw this.conflict(def, name);
        }
        this.remove(def, ns, name);
        return this.send(res, record, 200, {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Success',
          details: { name, group: def.group, kind: def.plural, uid: current.metadata.uid },
        });
      }
      default:
        throw new HttpError(
          405,
          'MethodNotAllowed',
          `the server does not allow this method on the requested resource`,
        );
    }
  }

  private list(def: ResourceDef, namespace: string | undefined, url: URL): object {
    const limit = Number(url.searchParams.get('limit') ?? '0');
    const token = url.searchParams.get('continue');
    let after = '';
    let listRv = this.rv;
    if (token) {
      const decoded = decodeContinue(token);
      if (decoded.rv < this.compactedRv) {
        throw new HttpError(
          410,
          'Expired',
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
        );
      }
      after = decoded.after;
      listRv = decoded.rv;
    }
    const store = this.store(def);
    const keys = this.keys(def);
    const prefix = namespace === undefined || !def.namespaced ? '' : `${namespace}/`;
    const items: KObject[] = [];
    let index = upperBound(keys, after);
    let remaining = 0;
    let lastKey = '';
    for (; index < keys.length; index += 1) {
      const key = keys[index] as string;
      if (!key.startsWith(prefix)) continue;
      if (limit > 0 && items.length >= limit) {
        remaining += 1;
        continue;
      }
      items.push(store.get(key) as KObject);
      lastKey = key;
    }
    const metadata: JsonMap = { resourceVersion: String(listRv) };
    if (remaining > 0) {
      metadata['continue'] = encodeContinue(listRv, lastKey);
      metadata['remainingItemCount'] = remaining;
    }
    return { kind: `${def.kind}List`, apiVersion: apiVersionOf(def), metadata, items };
  }

  private startWatch(
    res: http.ServerResponse,
    record: RequestRecord,
    def: ResourceDef,
    namespace: string | undefined,
    url: URL,
  ): void {
    const rvParam = url.searchParams.get('resourceVersion') ?? '';
    let since: number | undefined;
    if (rvParam !== '' && rvParam !== '0') {
      since = Number(rvParam);
      if (!Number.isInteger(since) || since < 0) {
        throw new HttpError(400, 'BadRequest', `invalid resource version: ${rvParam}`);
      }
      if (since < this.compactedRv) {
        const message = `too old resource version: ${since} (${this.compactedRv})`;
        const mode = this.nextExpiryMode ?? this.expiredWatch;
        if (mode === 'http') throw new HttpError(410, 'Expired', message);
        // What the real API server does: a 200 stream holding one ERROR event, then the end.
        record.status = 200;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`${JSON.stringify({ type: 'ERROR', object: statusBody(410, 'Expired', message) })}\n`);
        return;
      }
    }
    record.status = 200;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private' });
    res.flushHeaders();
    const watcher: Watcher = {
      def,
      namespace,
      res,
      bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true',
    };
    if (since === undefined) {
      // No resourceVersion: the current state as synthetic ADDED events, then the changes.
      const store = this.store(def);
      const prefix = namespace === undefined || !def.namespaced ? '' : `${namespace}/`;
      for (const key of this.keys(def)) {
        if (key.startsWith(prefix))
          res.write(`${JSON.stringify({ type: 'ADDED', object: store.get(key) })}\n`);
      }
    } else {
      const start = firstAfter(this.history, since);
      for (let i = start; i < this.history.length; i += 1) {
        const entry = this.history[i] as HistoryEntry;
        if (FakeServer.watches(watcher, entry)) res.write(FakeServer.line(entry));
      }
    }
    this.watchers.add(watcher);
    const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds') ?? '0');
    if (timeoutSeconds > 0) {
      watcher.timer = setTimeout(() => this.endWatch(watcher), timeoutSeconds * 1000);
      watcher.timer.unref();
    }
    const forget = (): void => {
      this.watchers.delete(watcher);
      if (watcher.timer !== undefined) clearTimeout(watcher.timer);
    };
    res.on('close', forget);
  }

  private handleCreate(def: ResourceDef, namespace: string, body: unknown): KObject {
    const object = this.objectFromBody(def, namespace, body);
    if (def === EVENTS) validateCoreEvent(object, namespace);
    delete object.metadata.resourceVersion;
    delete object.metadata.uid;
    delete object.metadata.creationTimestamp;
    return this.create(def, namespace, object);
  }

  private handleReplace(
    def: ResourceDef,
    namespace: string,
    name: string,
    current: KObject | undefined,
    body: unknown,
    subresource: string | undefined,
  ): KObject {
    const object = this.objectFromBody(def, namespace, body);
    if (object.metadata.name !== name) {
      throw new HttpError(
        400,
        'BadRequest',
        `the name of the object (${String(object.metadata.name)}) does not match the name on the URL (${name})`,
      );
    }
    if (current === undefined) throw this.notFound(def, name);
    const wanted = object.metadata.resourceVersion;
    if (wanted !== undefined && wanted !== '' && wanted !== current.metadata.resourceVersion)
      throw this.conflict(def, name);
    return this.commit(def, namespace, 'MODIFIED', this.settle(def, current, object, subresource));
  }

  private handlePatch(
    def: ResourceDef,
    namespace: string,
    name: string,
    current: KObject | undefined,
    body: unknown,
    contentType: string | undefined,
    subresource: string | undefined,
  ): KObject {
    if (current === undefined) throw this.notFound(def, name);
    let patched: unknown;
    switch (contentType) {
      case 'application/strategic-merge-patch+json':
        if (!isMap(body))
          throw new HttpError(400, 'BadRequest', 'a strategic merge patch must be a JSON object');
        patched = strategicMerge(clone(current), body, '');
        break;
      case 'application/merge-patch+json':
        if (!isMap(body)) throw new HttpError(400, 'BadRequest', 'a merge patch must be a JSON object');
        patched = mergePatch(clone(current), body);
        break;
      case 'application/json-patch+json':
        patched = jsonPatch(current, body);
        break;
      default:
        throw new HttpError(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`,
        );
    }
    if (!isMap(patched) || !isMap(patched['metadata']))
      throw new HttpError(422, 'Invalid', 'the patch removed the object metadata');
    const object = patched as KObject;
    const wanted = object.metadata.resourceVersion;
    if (wanted !== undefined && wanted !== current.metadata.resourceVersion) throw this.conflict(def, name);
    return this.commit(def, namespace, 'MODIFIED', this.settle(def, current, object, subresource));
  }

  /** Apply the API server's rules for what an update may change. */
  private settle(
    def: ResourceDef,
    current: KObject,
    next: KObject,
    subresource: string | undefined,
  ): KObject {
    const result: KObject = { ...clone(next), apiVersion: apiVersionOf(def), kind: def.kind };
    result.metadata = {
      ...result.metadata,
      name: current.metadata.name,
      uid: current.metadata.uid,
      creationTimestamp: current.metadata.creationTimestamp,
    };
    if (def.namespaced) result.metadata.namespace = current.metadata.namespace;
    if (def.hasStatus) {
      // The main resource ignores status; the status subresource changes nothing else.
      if (subresource === 'status') {
        if ('spec' in current) result['spec'] = clone(current['spec']);
        else delete result['spec'];
      } else if ('status' in current) {
        result['status'] = clone(current['status']);
      } else {
        delete result['status'];
      }
    }
    return result;
  }

  private conflict(def: ResourceDef, name: string): HttpError {
    return new HttpError(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${qualifiedName(def)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      { name, group: def.group, kind: def.plural },
    );
  }

  private objectFromBody(def: ResourceDef, namespace: string, body: unknown): KObject {
    if (!isMap(body)) throw new HttpError(400, 'BadRequest', 'the request body must be a JSON object');
    const object = clone(body) as KObject;
    if (!isMap(object.metadata)) object.metadata = {};
    const bodyNamespace = object.metadata.namespace;
    if (
      def.namespaced &&
      bodyNamespace !== undefined &&
      bodyNamespace !== '' &&
      bodyNamespace !== namespace
    ) {
      throw new HttpError(
        400,
        'BadRequest',
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    object.apiVersion = apiVersionOf(def);
    object.kind = def.kind;
    return object;
  }

  // --- responses ------------------------------------------------------------------------------------------

  private send(
    res: http.ServerResponse,
    record: RequestRecord | undefined,
    status: number,
    body: object,
    headers: Record<string, string> = {},
  ): void {
    const text = JSON.stringify(body);
    if (record !== undefined) {
      record.status = status;
      record.settledSeq ??= ++this.seq;
    }
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  private sendError(res: http.ServerResponse, record: RequestRecord | undefined, err: HttpError): void {
    this.send(res, record, err.code, statusBody(err.code, err.reason, err.message, err.details));
  }
}

function validateCoreEvent(event: KObject, namespace: string): void {
  const invalid = (message: string): HttpError =>
    new HttpError(422, 'Invalid', `Event "${String(event.metadata.name ?? '')}" is invalid: ${message}`, {
      name: event.metadata.name,
      kind: 'Event',
    });
  const involved = event['involvedObject'];
  if (!isMap(involved)) throw invalid('involvedObject: Required value');
  const involvedNamespace = involved['namespace'];
  if (typeof involvedNamespace === 'string' && involvedNamespace !== '' && involvedNamespace !== namespace) {
    throw invalid(
      `involvedObject.namespace: Invalid value: "${involvedNamespace}": does not match event.namespace`,
    );
  }
  const type = event['type'];
  if (type !== undefined && type !== 'Normal' && type !== 'Warning') {
    throw invalid(`type: Unsupported value: "${String(type)}": supported values: "Normal", "Warning"`);
  }
}

function firstAfter(history: readonly HistoryEntry[], rv: number): number {
  let lo = 0;
  let hi = history.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((history[mid] as HistoryEntry).rv <= rv) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Start a fake Kubernetes API server on 127.0.0.1 and a free port. */
export async function startFakeKubeApi(options: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
  const server = new FakeServer(options);
  await server.listen();
  return server;
}
