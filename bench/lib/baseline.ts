// The baseline: a per-route strategy, the way the generic upstream route controller (k8s.io/cloud-provider
// controllers/route, up to v1.34) drives a cloud. Every --route-reconciliation-period (10 s) it lists the
// routes, then creates each missing route and deletes each stale one with its own call, up to 200 calls in
// flight (maxConcurrentRouteCreations), waits for them all, and starts over at the next period. A call that
// fails is simply tried again next period.
//
// Each call is the real @azure/arm-network SDK (`routes.createOrUpdate` / `routes.delete`, awaited until the
// long-running operation ends), pointed at the simulator over plain HTTP exactly as src/azure/store.ts does,
// with the SDK's default retry policy (3 retries; 429 waits for Retry-After).
import { NetworkManagementClient } from '@azure/arm-network';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { bearerTokenAuthenticationPolicyName } from '@azure/core-rest-pipeline';
import type { SimpleRoute } from '../../src/simulator/azure.ts';

export interface BaselineOptions {
  readonly endpoint: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly table: string;
  /** The routes the nodes want (what the upstream controller derives from its node lister). */
  readonly desired: readonly SimpleRoute[];
  /** Whether an existing route is the controller's to delete (upstream: its prefix is in the cluster CIDR). */
  readonly isOurs: (route: SimpleRoute) => boolean;
  /** Upstream's maxConcurrentRouteCreations. */
  readonly concurrency?: number;
  /** Upstream's --route-reconciliation-period default. */
  readonly periodMs?: number;
  /** Give up after this long (the benchmark's bound, not upstream's). */
  readonly deadlineMs: number;
  /** Stops it early: the benchmark aborts once it has seen every route in place. */
  readonly signal?: AbortSignal | undefined;
}

export interface BaselineResult {
  readonly converged: boolean;
  /** Reconcile rounds started. */
  readonly rounds: number;
  /** Per-route calls made (each may be several HTTP attempts). */
  readonly calls: number;
  /** Calls that ended in an error (after the SDK's own retries). */
  readonly failedCalls: number;
  /** ms from start to the end of the round that found nothing left to do, or to the deadline. */
  readonly elapsedMs: number;
}

const PLACEHOLDER_TOKEN: TokenCredential = {
  getToken: (): Promise<AccessToken> =>
    Promise.resolve({ token: 'bench-placeholder', expiresOnTimestamp: Date.now() + 3_600_000 }),
};

/** The SDK client as src/azure/store.ts builds it for a loopback http:// endpoint. */
export function baselineClient(endpoint: string, subscriptionId: string): NetworkManagementClient {
  const client = new NetworkManagementClient(PLACEHOLDER_TOKEN, subscriptionId, {
    endpoint,
    credentials: { scopes: [`${endpoint}/.default`] },
    allowInsecureConnection: true,
    userAgentOptions: { userAgentPrefix: 'bench-per-route-baseline' },
  });
  // The SDK's bearer policy refuses http://; send the placeholder token instead (loopback only).
  client.pipeline.removePolicy({ name: bearerTokenAuthenticationPolicyName });
  client.pipeline.addPolicy({
    name: 'benchPlaceholderAuth',
    sendRequest: (request, next) => {
      request.headers.set('Authorization', 'Bearer bench-placeholder');
      return next(request);
    },
  });
  return client;
}

export async function runPerRouteBaseline(options: BaselineOptions): Promise<BaselineResult> {
  const client = baselineClient(options.endpoint, options.subscriptionId);
  const concurrency = options.concurrency ?? 200;
  const periodMs = options.periodMs ?? 10_000;
  const started = Date.now();
  const deadline = started + options.deadlineMs;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error('baseline deadline')), options.deadlineMs);
  const stop = () => abort.abort(new Error('baseline stopped'));
  options.signal?.addEventListener('abort', stop, { once: true });
  const { resourceGroup: rg, table } = options;
  let rounds = 0;
  let calls = 0;
  let failedCalls = 0;

  try {
    while (Date.now() < deadline && !abort.signal.aborted) {
      rounds++;
      const roundStart = Date.now();
      let existing: SimpleRoute[];
      try {
        const read = await client.routeTables.get(rg, table, { abortSignal: abort.signal });
        existing = (read.routes ?? []).map((r) => ({
          name: r.name ?? '',
          addressPrefix: r.addressPrefix ?? '',
          nextHopType: r.nextHopType ?? '',
          nextHopIpAddress: r.nextHopIpAddress,
        }));
      } catch {
        if (abort.signal.aborted) break;
        await sleepUntil(roundStart + periodMs, deadline, abort.signal);
        continue;
      }
      const byName = new Map(existing.map((r) => [r.name.toLowerCase(), r]));
      const wanted = new Set(options.desired.map((r) => r.name.toLowerCase()));
      const creates = options.desired.filter((d) => {
        const e = byName.get(d.name.toLowerCase());
        return !e || e.addressPrefix !== d.addressPrefix || e.nextHopIpAddress !== d.nextHopIpAddress;
      });
      const deletes = existing.filter((e) => options.isOurs(e) && !wanted.has(e.name.toLowerCase()));
      if (creates.length === 0 && deletes.length === 0) {
        return { converged: true, rounds, calls, failedCalls, elapsedMs: Date.now() - started };
      }
      const work: (() => Promise<unknown>)[] = [
        ...creates.map(
          (r) => () =>
            client.routes
              .createOrUpdate(
                rg,
                table,
                r.name,
                {
                  addressPrefix: r.addressPrefix,
                  nextHopType: r.nextHopType,
                  nextHopIpAddress: r.nextHopIpAddress,
                },
                { abortSignal: abort.signal },
              )
              .pollUntilDone({ abortSignal: abort.signal }),
        ),
        ...deletes.map(
          (r) => () =>
            client.routes
              .delete(rg, table, r.name, { abortSignal: abort.signal })
              .pollUntilDone({ abortSignal: abort.signal }),
        ),
      ];
      calls += work.length;
      failedCalls += await runLimited(work, concurrency);
      if (abort.signal.aborted) break;
      await sleepUntil(roundStart + periodMs, deadline, abort.signal);
    }
    return { converged: false, rounds, calls, failedCalls, elapsedMs: Date.now() - started };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', stop);
    abort.abort(new Error('baseline finished'));
  }
}

/** Runs the tasks with at most `limit` in flight; resolves with how many failed. */
async function runLimited(tasks: readonly (() => Promise<unknown>)[], limit: number): Promise<number> {
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const task = tasks[next++]!;
      try {
        await task();
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return failed;
}

function sleepUntil(time: number, deadline: number, signal: AbortSignal): Promise<void> {
  const ms = Math.min(time, deadline) - Date.now();
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
