// The node informer: a list-then-watch loop over the Node API that keeps a small cache of NodeInfo and says
// when something that matters to routing changed.
//
// Our own loop rather than client-node's ListWatch (cache.js), because that one keeps every full V1Node (tens
// of KB each, so hundreds of MB at 5,000 nodes), stops for good on a network error (it only calls its error
// callbacks), reports a relist only as per-object callbacks with no "what changed" filter, and opens every
// watch through a fresh undici Agent. client-node's Watch (watch.js) is still used for the streaming itself.
import { CoreV1Api, Watch, type KubeConfig, type V1Node } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { realTimers, sleepWith, type Timers } from '../support/timers.ts';
import type { NodeInfo } from '../domain/types.ts';
import { KubeError, callOptions, serverForMessages, toKubeError, withSharedDispatcher } from './client.ts';
import { toNodeInfo } from './nodes.ts';

export interface NodeChange {
  readonly type: 'added' | 'deleted' | 'modified';
  readonly node: string;
}

export interface NodeInformerOptions {
  readonly logger: Logger;
  readonly timers?: Timers;
  /** For backoff jitter; Math.random by default. */
  readonly random?: () => number;
  /**
   * Called for changes that matter to routing only: a node added or deleted, or a change of its pod CIDRs,
   * InternalIPs, UID or its kubernetes.azure.com/managed label. Heartbeats, conditions and other labels do not
   * call it (the cache still follows them).
   */
  readonly onChange: (change: NodeChange) => void;
  /** List everything again this often (a safety net against a watch that silently lost events). Off by default. */
  readonly resyncRelistMs?: number;
  /** Between failed attempts: base doubling up to max, with full jitter. Default 500 ms to 30 s. */
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number };
  /** Nodes per list page. Default 500. */
  readonly pageSize?: number;
  /** Timeout of each list page request. Default 60 s. */
  readonly requestTimeoutMs?: number;
  /**
   * A watch with no data (events or bookmarks) for this long is presumed dead and resumed. Default 90 s (the
   * API server sends a bookmark about every minute to watches that ask for them, as ours do).
   */
  readonly watchIdleTimeoutMs?: number;
  /** The server ends each watch after a random time in [min, 2 * min), as client-go does. Default 300 s. */
  readonly minWatchTimeoutSeconds?: number;
}

export interface NodeInformerHealth {
  /** The first complete list has arrived (stays true while reconnecting: the cache is still good). */
  readonly synced: boolean;
  /** A watch is open right now. */
  readonly connected: boolean;
  /** When the last list completed or the last watch event (bookmarks included) arrived, by the injected clock. */
  readonly lastEventAt?: number;
  /** Lists after the first (410 Expired, watch errors, periodic relists). */
  readonly relists: number;
  /** Failed lists and watches. */
  readonly errors: number;
}

export interface NodeInformer {
  /** Begins listing and watching in the background; resolves at once. */
  start(): Promise<void>;
  synced(): boolean;
  /** Resolves once synced; rejects when the signal aborts or the informer is stopped first. */
  waitForSync(signal?: AbortSignal): Promise<void>;
  /** The cache, sorted by name. */
  nodes(): NodeInfo[];
  stop(): Promise<void>;
  health(): NodeInformerHealth;
  /**
   * A mark of what the cache has heard so far: it grows with every watch event (bookmarks included) and every
   * completed list. Take one when something happens (the Lease was won), and ask freshSince later.
   */
  mark(): number;
  /** The cache heard from the API server (a watch event, a bookmark, or a list) after `mark` was taken. */
  freshSince(mark: number): boolean;
  /**
   * Lists every node again, starting after this call (the open watch is ended and resumes from the new list),
   * and resolves once that list is in the cache. Rejects when the signal aborts or the informer stops first.
   */
  resync(signal?: AbortSignal): Promise<void>;
}

/** How one watch ended. */
interface WatchOutcome {
  readonly error: unknown;
  /** 410 Gone/Expired, as an ERROR event or as the HTTP status: the resourceVersion is too old. */
  readonly expired: boolean;
  /** An ERROR event other than 410. */
  readonly errorEvent: unknown;
  readonly events: number;
  readonly durationMs: number;
}

const NODES_PATH = '/api/v1/nodes';
/** A watch that ends sooner than this without a single event did not work (refused, 410, error...). */
const MIN_HEALTHY_WATCH_MS = 1_000;

/** A caller of waitForSync or resync, until the list it waits for is in the cache. */
interface Waiter {
  /** For a resync: the lists started when it was asked for (only a later one will do). */
  readonly after: number;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** The settings, API handles and moving state that the informer's steps below share. */
class InformerState {
  readonly options: NodeInformerOptions;
  readonly log: Logger;
  readonly timers: Timers;
  readonly random: () => number;
  readonly sleep: ReturnType<typeof sleepWith>;
  readonly baseMs: number;
  readonly maxMs: number;
  readonly pageSize: number;
  readonly requestTimeoutMs: number;
  readonly minWatchTimeoutSeconds: number;
  readonly server: string;
  readonly core: CoreV1Api;
  readonly watcher: Watch;

  cache = new Map<string, NodeInfo>();
  resourceVersion = '';
  isSynced = false;
  connected = false;
  lastEventAt: number | undefined;
  lists = 0;
  errors = 0;
  relistRequested = false;
  /** Watch events (bookmarks included) and completed lists so far: see mark(). */
  heard = 0;
  /** Lists started so far; a resync waits for a list that started after it was asked for. */
  listsStarted = 0;
  readonly resyncWaiters = new Set<Waiter>();
  readonly syncWaiters = new Set<Waiter>();
  stopping: AbortController | undefined;
  loop: Promise<void> | undefined;
  /** Ends the open watch (stop, periodic relist). */
  endWatch: (() => void) | undefined;
  cancelRelistTimer: (() => void) | undefined;

  constructor(kc: KubeConfig, options: NodeInformerOptions) {
    this.options = options;
    this.log = options.logger;
    this.timers = options.timers ?? realTimers;
    this.random = options.random ?? Math.random;
    this.sleep = sleepWith(this.timers);
    this.baseMs = options.backoff?.baseMs ?? 500;
    this.maxMs = options.backoff?.maxMs ?? 30_000;
    this.pageSize = options.pageSize ?? 500;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    this.minWatchTimeoutSeconds = options.minWatchTimeoutSeconds ?? 300;
    this.server = serverForMessages(kc);
    const shared = withSharedDispatcher(kc);
    this.core = shared.makeApiClient(CoreV1Api);
    this.watcher = new Watch(shared);
    // Private in the typings, but it is what Watch uses as its idle timeout (30 s by default, which ends every
    // watch of a quiet cluster twice a minute).
    (this.watcher as unknown as { requestTimeoutMs: number }).requestTimeoutMs =
      options.watchIdleTimeoutMs ?? 90_000;
  }
}

export function createNodeInformer(kc: KubeConfig, options: NodeInformerOptions): NodeInformer {
  const s = new InformerState(kc, options);
  return {
    start: () => start(s),
    synced: () => s.isSynced,
    waitForSync: (signal?: AbortSignal) => waitForSync(s, signal),
    nodes: () => sortedNodes(s),
    stop: () => stop(s),
    mark: () => s.heard,
    freshSince: (mark: number) => s.heard > mark,
    resync: (signal?: AbortSignal) => resync(s, signal),
    health: () => health(s),
  };
}

// --- the public face ---------------------------------------------------------------------------------------

function start(s: InformerState): Promise<void> {
  if (s.loop === undefined) {
    s.stopping = new AbortController();
    const signal = s.stopping.signal;
    s.loop = run(s, signal).catch((err: unknown) => s.log.error({ err }, 'node informer loop failed'));
  }
  return Promise.resolve();
}

function waitForSync(s: InformerState, signal: AbortSignal | undefined): Promise<void> {
  if (s.isSynced) return Promise.resolve();
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (s.stopping?.signal.aborted) return Promise.reject(new Error('the node informer was stopped'));
  return waitIn(s.syncWaiters, 0, signal);
}

function resync(s: InformerState, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (s.stopping?.signal.aborted) return Promise.reject(new Error('the node informer was stopped'));
  const fresh = waitIn(s.resyncWaiters, s.listsStarted, signal);
  s.relistRequested = true;
  s.endWatch?.();
  return fresh;
}

/** Joins `waiters` until resolved or rejected there, or until `signal` aborts (then it leaves the set). */
function waitIn(waiters: Set<Waiter>, after: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      waiters.delete(waiter);
      reject(signal?.reason);
    };
    const waiter: Waiter = {
      after,
      resolve: () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      reject: (err: unknown) => {
        signal?.removeEventListener('abort', onAbort);
        reject(err);
      },
    };
    waiters.add(waiter);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function sortedNodes(s: InformerState): NodeInfo[] {
  return [...s.cache.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function stop(s: InformerState): Promise<void> {
  if (s.stopping === undefined) s.stopping = new AbortController();
  s.stopping.abort(new Error('the node informer was stopped'));
  s.cancelRelistTimer?.();
  s.cancelRelistTimer = undefined;
  s.endWatch?.();
  for (const waiter of [...s.syncWaiters, ...s.resyncWaiters])
    waiter.reject(new Error('the node informer was stopped'));
  s.syncWaiters.clear();
  s.resyncWaiters.clear();
  await s.loop;
}

function health(s: InformerState): NodeInformerHealth {
  return {
    synced: s.isSynced,
    connected: s.connected,
    ...(s.lastEventAt === undefined ? {} : { lastEventAt: s.lastEventAt }),
    relists: Math.max(0, s.lists - 1),
    errors: s.errors,
  };
}

function emit(s: InformerState, change: NodeChange): void {
  try {
    s.options.onChange(change);
  } catch (err) {
    s.log.error({ err, change }, 'node change handler failed');
  }
}

// --- list --------------------------------------------------------------------------------------------------

async function listPage(s: InformerState, token: string | undefined, stop: AbortSignal) {
  const timeout = new AbortController();
  const cancel = s.timers.setTimeout(
    () => timeout.abort(new Error(`list timed out after ${s.requestTimeoutMs} ms`)),
    s.requestTimeoutMs,
  );
  try {
    return await s.core.listNode(
      { limit: s.pageSize, ...(token === undefined ? {} : { _continue: token }) },
      callOptions(AbortSignal.any([stop, timeout.signal])),
    );
  } catch (err) {
    stop.throwIfAborted();
    throw toKubeError(
      err,
      { verb: 'list', resource: 'nodes', group: '' },
      s.server,
      timeout.signal.aborted ? s.requestTimeoutMs : undefined,
    );
  } finally {
    cancel();
  }
}

/** Every node, page by page, reduced to NodeInfo as each page arrives; the resourceVersion of the snapshot. */
async function listAll(
  s: InformerState,
  stop: AbortSignal,
): Promise<{ nodes: Map<string, NodeInfo>; resourceVersion: string }> {
  for (let attempt = 1; ; attempt += 1) {
    const nodes = new Map<string, NodeInfo>();
    let token: string | undefined;
    let rv = '';
    try {
      do {
        const page = await listPage(s, token, stop);
        if (rv === '') rv = page.metadata?.resourceVersion ?? '';
        for (const node of page.items) {
          const info = toNodeInfo(node);
          nodes.set(info.name, info);
        }
        token = page.metadata?._continue || undefined;
      } while (token !== undefined);
      return { nodes, resourceVersion: rv };
    } catch (err) {
      // The continue token outlived its snapshot: start over, as client-go's pager does.
      if (err instanceof KubeError && err.kind === 'Expired' && attempt < 3) continue;
      throw err;
    }
  }
}

/** Replace the cache with a fresh list and emit what changed since the cache was last right. */
async function relist(s: InformerState, stop: AbortSignal): Promise<void> {
  const started = ++s.listsStarted;
  const listed = await listAll(s, stop);
  stop.throwIfAborted();
  const previous = s.cache;
  s.cache = listed.nodes;
  s.resourceVersion = listed.resourceVersion;
  s.lastEventAt = s.timers.now();
  s.heard += 1;
  s.lists += 1;
  for (const waiter of s.resyncWaiters) {
    if (started > waiter.after) {
      s.resyncWaiters.delete(waiter);
      waiter.resolve();
    }
  }
  if (s.lists > 1)
    s.log.info({ nodes: s.cache.size, resourceVersion: s.resourceVersion }, 'listed nodes again');
  else s.log.debug({ nodes: s.cache.size, resourceVersion: s.resourceVersion }, 'listed nodes');
  armRelistTimer(s);
  // Swap first, then tell: a handler reading nodes() sees the new state.
  const changes = changesBetween(previous, s.cache);
  if (!s.isSynced) {
    s.isSynced = true;
    for (const waiter of s.syncWaiters) waiter.resolve();
    s.syncWaiters.clear();
  }
  for (const change of changes) emit(s, change);
}

/** What a relist tells: deletions (a new UID is a deletion and an addition) first, then the rest. */
function changesBetween(previous: Map<string, NodeInfo>, cache: Map<string, NodeInfo>): NodeChange[] {
  const changes: NodeChange[] = [];
  for (const [name, old] of previous) {
    const now = cache.get(name);
    if (now === undefined || now.uid !== old.uid) changes.push({ type: 'deleted', node: name });
  }
  for (const [name, now] of cache) {
    const old = previous.get(name);
    if (old === undefined || old.uid !== now.uid) changes.push({ type: 'added', node: name });
    else if (routingChanged(old, now)) changes.push({ type: 'modified', node: name });
  }
  return changes;
}

function armRelistTimer(s: InformerState): void {
  s.cancelRelistTimer?.();
  s.cancelRelistTimer = undefined;
  const every = s.options.resyncRelistMs;
  if (every === undefined || every <= 0) return;
  s.cancelRelistTimer = s.timers.setTimeout(() => {
    s.cancelRelistTimer = undefined;
    s.relistRequested = true;
    s.endWatch?.();
  }, every);
}

// --- watch -------------------------------------------------------------------------------------------------

function apply(s: InformerState, type: string, object: unknown): void {
  const node = object as V1Node;
  const name = node.metadata?.name;
  switch (type) {
    case 'ADDED':
    case 'MODIFIED': {
      if (name === undefined) return;
      const info = toNodeInfo(node);
      const old = s.cache.get(name);
      s.cache.set(name, info);
      if (old === undefined) emit(s, { type: 'added', node: name });
      else if (old.uid !== info.uid) {
        emit(s, { type: 'deleted', node: name });
        emit(s, { type: 'added', node: name });
      } else if (routingChanged(old, info)) emit(s, { type: 'modified', node: name });
      break;
    }
    case 'DELETED':
      if (name !== undefined && s.cache.delete(name)) emit(s, { type: 'deleted', node: name });
      break;
    default:
      // BOOKMARK: only the resourceVersion moves.
      break;
  }
  const rv = node.metadata?.resourceVersion;
  if (rv !== undefined && rv !== '') s.resourceVersion = rv;
}

function watchOnce(s: InformerState): Promise<WatchOutcome> {
  const started = s.timers.now();
  return new Promise<WatchOutcome>((resolve) => {
    let settled = false;
    let events = 0;
    let expired = false;
    let errorEvent: unknown;
    let controller: AbortController | undefined;
    const finish = (error: unknown): void => {
      if (settled) return;
      settled = true;
      s.connected = false;
      s.endWatch = undefined;
      controller?.abort();
      resolve({
        error: error ?? undefined,
        expired: expired || statusCodeOf(error) === 410,
        errorEvent,
        events,
        durationMs: s.timers.now() - started,
      });
    };
    s.endWatch = () => finish(undefined);
    const timeoutSeconds = Math.floor(s.minWatchTimeoutSeconds * (1 + s.random()));
    const query = { resourceVersion: s.resourceVersion, allowWatchBookmarks: true, timeoutSeconds };
    const onEvent = (type: string, object: unknown): void => {
      // Lines can trail in after we gave up on this watch; they belong to no one.
      if (settled) return;
      s.lastEventAt = s.timers.now();
      s.heard += 1;
      try {
        if (type === 'ERROR') {
          const status = object as { code?: number; reason?: string; message?: string };
          if (status.code === 410 || status.reason === 'Expired' || status.reason === 'Gone') expired = true;
          else errorEvent = status;
          return;
        }
        // Counted only when it carries news: an ERROR does not show that the watch works.
        events += 1;
        apply(s, type, object);
      } catch (err) {
        // client-node's Watch swallows what its callback throws; say it here instead.
        s.log.error({ err }, 'failed to apply a node watch event');
      }
    };
    s.watcher.watch(NODES_PATH, query, onEvent, finish).then((c) => {
      controller = c;
      if (settled) c.abort();
      else s.connected = true;
    }, finish);
  });
}

// --- the loop ----------------------------------------------------------------------------------------------

function backoffMs(s: InformerState, failures: number): number {
  // The first retry after things worked is immediate (a dropped watch resumes at once); then base doubling.
  if (failures <= 1) return 0;
  const ceiling = Math.min(s.maxMs, s.baseMs * 2 ** Math.min(failures - 2, 30));
  // Jitter in [ceiling/2, ceiling): never zero, never in lockstep with other replicas.
  return Math.round(ceiling / 2 + (s.random() * ceiling) / 2);
}

async function run(s: InformerState, stop: AbortSignal): Promise<void> {
  // Attempts in a row that got nowhere (a failed list, a watch refused or ended at once without events).
  let failures = 0;
  let delay = 0;
  const failed = (): void => {
    failures += 1;
    delay = backoffMs(s, failures);
  };
  while (!stop.aborted) {
    if (delay > 0) {
      try {
        await s.sleep(delay, stop);
      } catch {
        return;
      }
      delay = 0;
    }
    if (s.relistRequested) {
      s.relistRequested = false;
      s.resourceVersion = '';
    }
    if (s.resourceVersion === '') {
      try {
        await relist(s, stop);
      } catch (err) {
        if (stop.aborted) return;
        s.errors += 1;
        failed();
        s.log.warn({ err: describe(s, err), failures, retryInMs: delay }, 'cannot list nodes; will retry');
        continue;
      }
    }
    if (stop.aborted) return;
    // A resync asked for while that list ran wants one that started after it: list again before watching.
    if (s.relistRequested) continue;
    const outcome = await watchOnce(s);
    if (stop.aborted) return;
    // We ended it to list again (a resync, the periodic relist): that says nothing about the watch's health.
    if (s.relistRequested) continue;
    if (outcome.events > 0 || outcome.durationMs >= MIN_HEALTHY_WATCH_MS) {
      failures = 0;
      delay = 0;
    } else {
      failed();
    }
    afterWatch(s, outcome, failures, delay);
  }
}

/** Says how a watch ended, and forgets the resourceVersion when the next step must be a list. */
function afterWatch(s: InformerState, outcome: WatchOutcome, failures: number, delay: number): void {
  if (outcome.expired) {
    s.log.info(
      { resourceVersion: s.resourceVersion, retryInMs: delay },
      'node watch expired (410); listing again',
    );
    s.resourceVersion = '';
  } else if (outcome.errorEvent !== undefined) {
    s.errors += 1;
    s.log.warn(
      { status: outcome.errorEvent, retryInMs: delay },
      'node watch reported an error; listing again',
    );
    s.resourceVersion = '';
  } else if (outcome.error !== undefined && !isIdleTimeout(outcome.error)) {
    s.errors += 1;
    s.log.warn(
      { err: describe(s, outcome.error), failures, retryInMs: delay },
      'node watch failed; will resume',
    );
  } else {
    s.log.debug({ events: outcome.events, resourceVersion: s.resourceVersion }, 'node watch ended; resuming');
  }
}

function describe(s: InformerState, err: unknown): string {
  if (err instanceof KubeError) return err.message;
  const code = statusCodeOf(err);
  if (code !== undefined) return `the API server at ${s.server} answered the node watch with HTTP ${code}`;
  return toKubeError(err, { verb: 'watch', resource: 'nodes', group: '' }, s.server, undefined).message;
}

/**
 * Whether a change is one the route planner cares about (pod CIDRs, InternalIPs, managed by Azure or not;
 * add/delete handled apart).
 */
export function routingChanged(a: NodeInfo, b: NodeInfo): boolean {
  return (
    !sameList(a.podCIDRs, b.podCIDRs) ||
    !sameList(a.internalIPs, b.internalIPs) ||
    (a.unmanaged === true) !== (b.unmanaged === true)
  );
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

function statusCodeOf(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown; code?: unknown } | null | undefined)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** client-node's Watch ends a watch that went quiet for requestTimeoutMs with a TimeoutError. */
function isIdleTimeout(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === 'TimeoutError';
}
