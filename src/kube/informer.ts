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

export function createNodeInformer(kc: KubeConfig, options: NodeInformerOptions): NodeInformer {
  const log = options.logger;
  const timers = options.timers ?? realTimers;
  const random = options.random ?? Math.random;
  const sleep = sleepWith(timers);
  const baseMs = options.backoff?.baseMs ?? 500;
  const maxMs = options.backoff?.maxMs ?? 30_000;
  const pageSize = options.pageSize ?? 500;
  const requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
  const minWatchTimeoutSeconds = options.minWatchTimeoutSeconds ?? 300;
  const server = serverForMessages(kc);

  const shared = withSharedDispatcher(kc);
  const core = shared.makeApiClient(CoreV1Api);
  const watcher = new Watch(shared);
  // Private in the typings, but it is what Watch uses as its idle timeout (30 s by default, which ends every
  // watch of a quiet cluster twice a minute).
  (watcher as unknown as { requestTimeoutMs: number }).requestTimeoutMs =
    options.watchIdleTimeoutMs ?? 90_000;

  let cache = new Map<string, NodeInfo>();
  let resourceVersion = '';
  let isSynced = false;
  let connected = false;
  let lastEventAt: number | undefined;
  let lists = 0;
  let errors = 0;
  let relistRequested = false;
  /** Watch events (bookmarks included) and completed lists so far: see mark(). */
  let heard = 0;
  /** Lists started so far; a resync waits for a list that started after it was asked for. */
  let listsStarted = 0;
  const resyncWaiters = new Set<{ after: number; resolve: () => void; reject: (err: unknown) => void }>();

  let stopping: AbortController | undefined;
  let loop: Promise<void> | undefined;
  /** Ends the open watch (stop, periodic relist). */
  let endWatch: (() => void) | undefined;
  let cancelRelistTimer: (() => void) | undefined;
  const syncWaiters = new Set<{ resolve: () => void; reject: (err: unknown) => void }>();

  const emit = (change: NodeChange): void => {
    try {
      options.onChange(change);
    } catch (err) {
      log.error({ err, change }, 'node change handler failed');
    }
  };

  // --- list ----------------------------------------------------------------------------------------------

  async function listPage(token: string | undefined, stop: AbortSignal) {
    const timeout = new AbortController();
    const cancel = timers.setTimeout(
      () => timeout.abort(new Error(`list timed out after ${requestTimeoutMs} ms`)),
      requestTimeoutMs,
    );
    try {
      return await core.listNode(
        { limit: pageSize, ...(token === undefined ? {} : { _continue: token }) },
        callOptions(AbortSignal.any([stop, timeout.signal])),
      );
    } catch (err) {
      stop.throwIfAborted();
      throw toKubeError(
        err,
        { verb: 'list', resource: 'nodes', group: '' },
        server,
        timeout.signal.aborted ? requestTimeoutMs : undefined,
      );
    } finally {
      cancel();
    }
  }

  /** Every node, page by page, reduced to NodeInfo as each page arrives; the resourceVersion of the snapshot. */
  async function listAll(
    stop: AbortSignal,
  ): Promise<{ nodes: Map<string, NodeInfo>; resourceVersion: string }> {
    for (let attempt = 1; ; attempt += 1) {
      const nodes = new Map<string, NodeInfo>();
      let token: string | undefined;
      let rv = '';
      try {
        do {
          const page = await listPage(token, stop);
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
  async function relist(stop: AbortSignal): Promise<void> {
    const started = ++listsStarted;
    const listed = await listAll(stop);
    stop.throwIfAborted();
    const previous = cache;
    cache = listed.nodes;
    resourceVersion = listed.resourceVersion;
    lastEventAt = timers.now();
    heard += 1;
    lists += 1;
    for (const waiter of resyncWaiters) {
      if (started > waiter.after) {
        resyncWaiters.delete(waiter);
        waiter.resolve();
      }
    }
    if (lists > 1) log.info({ nodes: cache.size, resourceVersion }, 'listed nodes again');
    else log.debug({ nodes: cache.size, resourceVersion }, 'listed nodes');
    armRelistTimer();
    // Swap first, then tell: a handler reading nodes() sees the new state.
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
    if (!isSynced) {
      isSynced = true;
      for (const waiter of syncWaiters) waiter.resolve();
      syncWaiters.clear();
    }
    for (const change of changes) emit(change);
  }

  function armRelistTimer(): void {
    cancelRelistTimer?.();
    cancelRelistTimer = undefined;
    const every = options.resyncRelistMs;
    if (every === undefined || every <= 0) return;
    cancelRelistTimer = timers.setTimeout(() => {
      cancelRelistTimer = undefined;
      relistRequested = true;
      endWatch?.();
    }, every);
  }

  // --- watch ---------------------------------------------------------------------------------------------

  function apply(type: string, object: unknown): void {
    const node = object as V1Node;
    const name = node.metadata?.name;
    switch (type) {
      case 'ADDED':
      case 'MODIFIED': {
        if (name === undefined) return;
        const info = toNodeInfo(node);
        const old = cache.get(name);
        cache.set(name, info);
        if (old === undefined) emit({ type: 'added', node: name });
        else if (old.uid !== info.uid) {
          emit({ type: 'deleted', node: name });
          emit({ type: 'added', node: name });
        } else if (routingChanged(old, info)) emit({ type: 'modified', node: name });
        break;
      }
      case 'DELETED':
        if (name !== undefined && cache.delete(name)) emit({ type: 'deleted', node: name });
        break;
      default:
        // BOOKMARK: only the resourceVersion moves.
        break;
    }
    const rv = node.metadata?.resourceVersion;
    if (rv !== undefined && rv !== '') resourceVersion = rv;
  }

  function watchOnce(): Promise<WatchOutcome> {
    const started = timers.now();
    return new Promise<WatchOutcome>((resolve) => {
      let settled = false;
      let events = 0;
      let expired = false;
      let errorEvent: unknown;
      let controller: AbortController | undefined;
      const finish = (error: unknown): void => {
        if (settled) return;
        settled = true;
        connected = false;
        endWatch = undefined;
        controller?.abort();
        resolve({
          error: error ?? undefined,
          expired: expired || statusCodeOf(error) === 410,
          errorEvent,
          events,
          durationMs: timers.now() - started,
        });
      };
      endWatch = () => finish(undefined);
      const timeoutSeconds = Math.floor(minWatchTimeoutSeconds * (1 + random()));
      const query = { resourceVersion, allowWatchBookmarks: true, timeoutSeconds };
      const onEvent = (type: string, object: unknown): void => {
        // Lines can trail in after we gave up on this watch; they belong to no one.
        if (settled) return;
        lastEventAt = timers.now();
        heard += 1;
        try {
          if (type === 'ERROR') {
            const status = object as { code?: number; reason?: string; message?: string };
            if (status.code === 410 || status.reason === 'Expired' || status.reason === 'Gone')
              expired = true;
            else errorEvent = status;
            return;
          }
          // Counted only when it carries news: an ERROR does not show that the watch works.
          events += 1;
          apply(type, object);
        } catch (err) {
          // client-node's Watch swallows what its callback throws; say it here instead.
          log.error({ err }, 'failed to apply a node watch event');
        }
      };
      watcher.watch(NODES_PATH, query, onEvent, finish).then((c) => {
        controller = c;
        if (settled) c.abort();
        else connected = true;
      }, finish);
    });
  }

  // --- the loop ------------------------------------------------------------------------------------------

  function backoffMs(failures: number): number {
    // The first retry after things worked is immediate (a dropped watch resumes at once); then base doubling.
    if (failures <= 1) return 0;
    const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(failures - 2, 30));
    // Jitter in [ceiling/2, ceiling): never zero, never in lockstep with other replicas.
    return Math.round(ceiling / 2 + (random() * ceiling) / 2);
  }

  async function run(stop: AbortSignal): Promise<void> {
    // Attempts in a row that got nowhere (a failed list, a watch refused or ended at once without events).
    let failures = 0;
    let delay = 0;
    const failed = (): void => {
      failures += 1;
      delay = backoffMs(failures);
    };
    while (!stop.aborted) {
      if (delay > 0) {
        try {
          await sleep(delay, stop);
        } catch {
          return;
        }
        delay = 0;
      }
      if (relistRequested) {
        relistRequested = false;
        resourceVersion = '';
      }
      if (resourceVersion === '') {
        try {
          await relist(stop);
        } catch (err) {
          if (stop.aborted) return;
          errors += 1;
          failed();
          log.warn({ err: describe(err), failures, retryInMs: delay }, 'cannot list nodes; will retry');
          continue;
        }
      }
      if (stop.aborted) return;
      // A resync asked for while that list ran wants one that started after it: list again before watching.
      if (relistRequested) continue;
      const outcome = await watchOnce();
      if (stop.aborted) return;
      // We ended it to list again (a resync, the periodic relist): that says nothing about the watch's health.
      if (relistRequested) continue;
      if (outcome.events > 0 || outcome.durationMs >= MIN_HEALTHY_WATCH_MS) {
        failures = 0;
        delay = 0;
      } else {
        failed();
      }
      if (outcome.expired) {
        log.info({ resourceVersion, retryInMs: delay }, 'node watch expired (410); listing again');
        resourceVersion = '';
      } else if (outcome.errorEvent !== undefined) {
        errors += 1;
        log.warn(
          { status: outcome.errorEvent, retryInMs: delay },
          'node watch reported an error; listing again',
        );
        resourceVersion = '';
      } else if (outcome.error !== undefined && !isIdleTimeout(outcome.error)) {
        errors += 1;
        log.warn(
          { err: describe(outcome.error), failures, retryInMs: delay },
          'node watch failed; will resume',
        );
      } else {
        log.debug({ events: outcome.events, resourceVersion }, 'node watch ended; resuming');
      }
    }
  }

  function describe(err: unknown): string {
    if (err instanceof KubeError) return err.message;
    const code = statusCodeOf(err);
    if (code !== undefined) return `the API server at ${server} answered the node watch with HTTP ${code}`;
    return toKubeError(err, { verb: 'watch', resource: 'nodes', group: '' }, server, undefined).message;
  }

  return {
    start(): Promise<void> {
      if (loop === undefined) {
        stopping = new AbortController();
        const signal = stopping.signal;
        loop = run(signal).catch((err: unknown) => log.error({ err }, 'node informer loop failed'));
      }
      return Promise.resolve();
    },

    synced: () => isSynced,

    waitForSync(signal?: AbortSignal): Promise<void> {
      if (isSynced) return Promise.resolve();
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (stopping?.signal.aborted) return Promise.reject(new Error('the node informer was stopped'));
      return new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          syncWaiters.delete(waiter);
          reject(signal?.reason);
        };
        const waiter = {
          resolve: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
          reject: (err: unknown) => {
            signal?.removeEventListener('abort', onAbort);
            reject(err);
          },
        };
        syncWaiters.add(waiter);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },

    nodes(): NodeInfo[] {
      return [...cache.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },

    async stop(): Promise<void> {
      if (stopping === undefined) stopping = new AbortController();
      stopping.abort(new Error('the node informer was stopped'));
      cancelRelistTimer?.();
      cancelRelistTimer = undefined;
      endWatch?.();
      for (const waiter of [...syncWaiters, ...resyncWaiters])
        waiter.reject(new Error('the node informer was stopped'));
      syncWaiters.clear();
      resyncWaiters.clear();
      await loop;
    },

    mark: () => heard,

    freshSince: (mark: number) => heard > mark,

    resync(signal?: AbortSignal): Promise<void> {
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (stopping?.signal.aborted) return Promise.reject(new Error('the node informer was stopped'));
      const fresh = new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          resyncWaiters.delete(waiter);
          reject(signal?.reason);
        };
        const waiter = {
          after: listsStarted,
          resolve: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
          reject: (err: unknown) => {
            signal?.removeEventListener('abort', onAbort);
            reject(err);
          },
        };
        resyncWaiters.add(waiter);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
      relistRequested = true;
      endWatch?.();
      return fresh;
    },

    health(): NodeInformerHealth {
      return {
        synced: isSynced,
        connected,
        ...(lastEventAt === undefined ? {} : { lastEventAt }),
        relists: Math.max(0, lists - 1),
        errors,
      };
    },
  };
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
