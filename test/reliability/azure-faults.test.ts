// The fault matrix, Azure side: each fault is injected into the simulator (or between the controller and it)
// while `run` is working, held, then cleared. Throughout: the controller stays up and healthy, its logs, metrics
// and node conditions tell the truth, no foreign route changes, no node is RouteCreated for a route that is
// not in Azure; after the clear it converges within the backoff's bound.
//
// Scaling: the loop's backoff is 100 ms..1 s (default 1 s..5 m), the resync 1 s (1 m), the operation timeout
// 5 s or less (5 m), and the SDK's own retry delays 20 ms doubling (1 s doubling). An outage "of minutes" is
// held for a few seconds, which is several backoff cycles at this scale.
import { afterEach, describe, expect, it } from 'vitest';
import type { RunFlags } from '../../src/config/run.ts';
import type { AzureSimulatorOptions, RequestLogEntry } from '../../src/simulator/azure.ts';
import {
  CLUSTER_CIDR,
  RESOURCE_GROUP,
  SUBNET_ID,
  SUBSCRIPTION,
  TABLE,
  routeFor,
  startSandbox,
  storedRoute,
  worker,
  workers,
  type Sandbox,
} from '../support/sandbox.ts';
import {
  FOREIGN_ROUTES,
  M,
  SwitchableCredential,
  condition,
  httpGet,
  isRouteCreated,
  logsSince,
  metric,
  reconciledLines,
  scrape,
  startMonitor,
  startProxy,
  startReliabilityController,
  total,
  waitFor,
  type Monitor,
  type Proxy,
  type ReliabilityController,
  type Samples,
} from './support.ts';

interface Ctx {
  readonly sb: Sandbox;
  readonly c: ReliabilityController;
  monitor: Monitor;
  readonly proxy?: Proxy | undefined;
}

const open: { sb?: Sandbox; c?: ReliabilityController; proxy?: Proxy; monitor?: Monitor } = {};
afterEach(async () => {
  open.monitor?.stop();
  await open.c?.stop();
  await open.proxy?.close();
  await open.sb?.close();
  delete open.monitor;
  delete open.c;
  delete open.proxy;
  delete open.sb;
});

interface Setup {
  readonly flags?: Partial<RunFlags>;
  readonly simulator?: AzureSimulatorOptions;
  readonly proxy?: boolean;
  readonly credential?: SwitchableCredential;
}

/** Three workers converged, foreign routes in the table, the monitor running. */
async function setup(s: Setup = {}): Promise<Ctx> {
  const sb = (open.sb = await startSandbox({
    nodes: workers(3),
    table: { routes: [...FOREIGN_ROUTES] },
    ...(s.simulator ? { simulator: s.simulator } : {}),
  }));
  const proxy = s.proxy ? (open.proxy = await startProxy(sb.sim.url)) : undefined;
  const c = (open.c = await startReliabilityController(
    sb,
    { ...(proxy ? { armEndpoint: proxy.url } : {}), ...s.flags },
    s.credential ? { credential: s.credential } : {},
  ));
  await waitFor(() => {
    for (let i = 0; i < 3; i++) {
      expect(sb.routes()).toContainEqual(routeFor(worker(i)));
      expect(isRouteCreated(sb, `worker-${i}`)).toBe(true);
    }
    // ...and that first reconcile is in the metrics (they are recorded after the condition patches).
    expect(reconciledLines(c.logs).length).toBeGreaterThan(0);
  });
  const monitor = (open.monitor = startMonitor(sb, { clusterCIDRs: [CLUSTER_CIDR] }));
  return { sb, c, monitor, proxy };
}

/** The new node's route is in Azure and its condition says so. */
function expectConverged(sb: Sandbox, count: number): void {
  for (let i = 0; i < count; i++) {
    expect(sb.routes()).toContainEqual(routeFor(worker(i)));
    expect(isRouteCreated(sb, `worker-${i}`), `worker-${i}`).toBe(true);
  }
}

/**
 * Clears the fault and waits for convergence within the loop's bound: the longest backoff step, plus any
 * Retry-After Azure gave, plus one reconcile at the scaled operation timeout, plus scheduling slack.
 */
async function clearAndConverge(
  ctx: Ctx,
  clear: () => void | Promise<void>,
  extraMs = 0,
): Promise<{ convergedAfterMs: number }> {
  await clear();
  const clearedAt = Date.now();
  const { backoff, azure } = ctx.c.config;
  const boundMs = backoff.maxMs + 1_000 + azure.operationTimeoutMs + extraMs + 3_000;
  await waitFor(() => expectConverged(ctx.sb, 4), boundMs);
  return { convergedAfterMs: Date.now() - clearedAt };
}

/** What must hold once the fault is cleared and the controller has converged. */
async function expectSafeAfter(ctx: Ctx): Promise<void> {
  expect(ctx.monitor.stop(), 'invariant violations while the fault lasted').toEqual([]);
  expect(ctx.monitor.samples).toBeGreaterThan(10);
  for (const r of FOREIGN_ROUTES) expect(ctx.sb.routes()).toContainEqual(r);
  // Nothing crashed: no fatal record, the loop is still running, /healthz still answers.
  expect(ctx.c.logs.filter((l) => (l['level'] as number) >= 60)).toEqual([]);
  expect((await httpGet(`${ctx.c.server.url}/healthz`)).status).toBe(200);
}

/** While the fault lasts: the process is up, healthy and ready, and the new node is not RouteCreated. */
async function expectUpAndTruthful(ctx: Ctx): Promise<void> {
  expect((await httpGet(`${ctx.c.server.url}/healthz`)).status).toBe(200);
  expect((await httpGet(`${ctx.c.server.url}/readyz`)).status).toBe(200);
  expect(isRouteCreated(ctx.sb, 'worker-3')).toBe(false);
  // Azure keeps a failed or unfinished write's goal state (DESIGN 2.4): worker-3's route may be in the table, but
  // never in effect, that is Succeeded in a Succeeded table, while the node is not told RouteCreated.
  const table = ctx.sb.table();
  const tableState = (table?.['properties'] as { provisioningState?: string } | undefined)?.provisioningState;
  const route = storedRoute(table, routeFor(worker(3)).name);
  const routeState = (route?.['properties'] as { provisioningState?: string } | undefined)?.provisioningState;
  expect(route !== undefined && tableState === 'Succeeded' && routeState === 'Succeeded').toBe(false);
}

/** The new node carries NoRouteCreated and a Warning event whose message matches. */
async function expectNodeTold(sb: Sandbox, node: string, message: RegExp): Promise<void> {
  await waitFor(() =>
    expect(condition(sb, node)).toMatchObject({
      status: 'True',
      reason: 'NoRouteCreated',
      message: expect.stringMatching(message),
    }),
  );
  expect(sb.warningEvents(node)).toContainEqual(
    expect.objectContaining({ message: expect.stringMatching(message) }),
  );
}

/** Every request that followed a response with Retry-After came no sooner than it allowed. */
function expectNoEarlyRequest(log: readonly RequestLogEntry[], statuses: readonly number[], waitMs: number) {
  const answered = log.filter((r) => statuses.includes(r.status));
  expect(answered.length).toBeGreaterThan(0);
  for (const r of answered) {
    const next = log.find((n) => n.seq > r.seq);
    if (next === undefined) continue;
    // Retry-After: 1 means a second; allow only clock granularity below it.
    expect(next.time - r.time, `request ${next.seq} after ${r.status} ${r.seq}`).toBeGreaterThanOrEqual(
      waitMs - 15,
    );
  }
}

const failedReconciles = (s: Samples) => metric(s, M.reconciles, { result: 'failed' }) ?? 0;

/**
 * Holds the fault: until at least `reconciles` whole reconciles have failed since it was injected (each one
 * backing off before the next), and at least `minMs` have passed.
 */
async function hold(ctx: Ctx, before: Samples, reconciles: number, minMs = 1_500): Promise<void> {
  const started = Date.now();
  await waitFor(async () => {
    expect(failedReconciles(await scrape(ctx.c)) - failedReconciles(before)).toBeGreaterThanOrEqual(
      reconciles,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(minMs);
  }, 20_000);
}
const tableWrites = (s: Samples) => metric(s, M.writes, { route_table: `${RESOURCE_GROUP}/${TABLE}` }) ?? 0;

describe('fault matrix: Azure', () => {
  it('a 429 storm with Retry-After on every request: no request comes early, then it converges', async () => {
    const ctx = await setup();
    const { sb, c } = ctx;
    const before = await scrape(c);
    const from = c.logs.length;
    sb.sim.resetLog();
    const storm = sb.sim.faults.add({ kind: 'throttle', retryAfterSeconds: 1 });
    sb.kube.addNode(worker(3));

    // Held until the controller has been throttled on reads and writes alike, several times over.
    await waitFor(() => expect(sb.sim.requests.filter((r) => r.status === 429).length).toBeGreaterThan(4));
    await hold(ctx, before, 0, 3_000);
    await expectUpAndTruthful(ctx);
    const during = await scrape(c);
    expect(total(during, M.requests, { code: '429' }) - total(before, M.requests, { code: '429' })).toBe(
      sb.sim.requests.filter((r) => r.status === 429).length,
    );
    expect(metric(during, M.throttleWait)! - (metric(before, M.throttleWait) ?? 0)).toBeGreaterThanOrEqual(3);
    expect(tableWrites(during)).toBe(tableWrites(before));
    expect(logsSince(c, from)).toContainEqual(
      expect.objectContaining({ msg: 'Azure asked us to wait; retrying the route table after the delay' }),
    );

    const { convergedAfterMs } = await clearAndConverge(ctx, () => storm.remove());
    expect(convergedAfterMs).toBeLessThan(6_000);
    expectNoEarlyRequest(sb.sim.requests, [429], 1_000);
    await expectSafeAfter(ctx);
  });

  for (const status of [429, 409] as const) {
    it(`RetryableErrorDueToAnotherOperation answered as ${status}: waits Retry-After, gives up truthfully, then converges`, async () => {
      // As 429 the SDK also waits out Retry-After three times per attempt: one attempt per reconcile is enough.
      const attempts = status === 429 ? 1 : 2;
      const ctx = await setup({ flags: { maxWriteAttempts: String(attempts) } });
      const { sb, c } = ctx;
      const before = await scrape(c);
      const from = c.logs.length;
      sb.sim.resetLog();
      const busy = sb.sim.faults.add({
        kind: 'retryableConflict',
        status,
        retryAfterSeconds: 1,
        match: { method: 'PUT' },
      });
      sb.kube.addNode(worker(3));

      // Held until a whole reconcile has given up on the write and said so on the node.
      await expectNodeTold(sb, 'worker-3', /could not be written to route table/);
      await hold(ctx, before, status === 429 ? 1 : 3);
      await expectUpAndTruthful(ctx);
      const during = await scrape(c);
      expect(failedReconciles(during)).toBeGreaterThan(failedReconciles(before));
      expect(tableWrites(during)).toBe(tableWrites(before));
      expect(
        metric(during, M.requests, { operation: 'RouteTables_CreateOrUpdate', code: String(status) }),
      ).toBeGreaterThanOrEqual(2);
      const failure = logsSince(c, from).find((l) => l['msg'] === 'route table sync failed');
      expect(failure).toMatchObject({ kind: 'RetryableConflict' });
      expect(String(failure!['err'])).toMatch(/another operation is updating route table .* retry after 1s/);
      expect(String(failure!['err'])).toContain(`gave up after ${attempts} attempts`);
      // The existing nodes' routes were read in place: they stay RouteCreated.
      for (let i = 0; i < 3; i++) expect(isRouteCreated(sb, `worker-${i}`)).toBe(true);

      await clearAndConverge(ctx, () => busy.remove());
      expectNoEarlyRequest(sb.sim.requests, [status], 1_000);
      await expectSafeAfter(ctx);
    });
  }

  it('412 from a concurrent foreign writer between our GET and PUT: its routes survive, ours go in', async () => {
    const ctx = await setup({ flags: { maxWriteAttempts: '2' } });
    const { sb, c, monitor } = ctx;
    const before = await scrape(c);
    const from = c.logs.length;
    // While the fault lasts, the foreign writer adds a route of its own just before each of our PUTs is
    // evaluated, so each PUT's If-Match names an etag that is already stale.
    const added: string[] = [];
    let writing = true;
    const unhook = sb.sim.onBeforeWrite((w) => {
      if (w.method !== 'PUT' || !writing) return;
      const route = {
        name: `other-team-${added.length}`,
        addressPrefix: `172.16.${added.length}.0/24`,
        nextHopType: 'VirtualAppliance',
        nextHopIpAddress: '10.240.255.9',
      };
      sb.sim.putRoute(w.subscriptionId, w.resourceGroup, w.tableName, route);
      added.push(route.name);
      monitor.addForeign(route.name);
    });
    sb.kube.addNode(worker(3));

    // The first reconcile meets two 412s in a row and gives up (max 2 attempts): the node is told.
    await expectNodeTold(sb, 'worker-3', /could not be written to route table/);
    await hold(ctx, before, 3);
    await expectUpAndTruthful(ctx);
    const during = await scrape(c);
    expect(
      metric(during, M.requests, { operation: 'RouteTables_CreateOrUpdate', code: '412' }),
    ).toBeGreaterThanOrEqual(6);
    expect(failedReconciles(during)).toBeGreaterThan(failedReconciles(before));
    expect(logsSince(c, from)).toContainEqual(
      expect.objectContaining({ msg: 'route table changed since it was read; re-reading and re-planning' }),
    );
    expect(String(logsSince(c, from).find((l) => l['msg'] === 'route table sync failed')?.['err'])).toMatch(
      /changed since it was read \(412/,
    );

    await clearAndConverge(ctx, () => {
      writing = false;
    });
    unhook();
    expect(added.length).toBeGreaterThanOrEqual(6);
    expect(sb.sim.requests.filter((r) => r.method === 'PUT' && r.status === 412)).toHaveLength(added.length);
    // Every route the foreign writer added is there, exactly as it wrote it (the monitor checked each one since).
    for (const name of added) expect(sb.routes().map((r) => r.name)).toContain(name);
    await expectSafeAfter(ctx);
  });

  it('500 on every request: reads fail, healthy nodes keep RouteCreated, the new node is told, then it converges', async () => {
    const ctx = await setup();
    const { sb, c } = ctx;
    const before = await scrape(c);
    const from = c.logs.length;
    const fault = sb.sim.faults.add({ kind: 'serverError', status: 500 });
    sb.kube.addNode(worker(3));

    await expectNodeTold(sb, 'worker-3', /could not be confirmed in route table .* which could not be read/);
    await hold(ctx, before, 3);
    expect(
      reconciledLines(logsSince(c, from)).filter((l) => l['result'] === 'Failed').length,
    ).toBeGreaterThan(2);
    await expectUpAndTruthful(ctx);
    const during = await scrape(c);
    expect(metric(during, M.requests, { operation: 'RouteTables_Get', code: '500' })).toBeGreaterThan(0);
    expect(metric(during, M.lastSuccess)).toBe(metric(before, M.lastSuccess));
    expect(String(logsSince(c, from).find((l) => l['msg'] === 'route table sync failed')?.['err'])).toMatch(
      /Azure answered 500 InternalServerError to the read of route table/,
    );
    // Azure could not be asked, which is no evidence the healthy nodes' routes are gone: no node is flipped to
    // NetworkUnavailable (that would taint every node of the cluster).
    for (let i = 0; i < 3; i++) expect(isRouteCreated(sb, `worker-${i}`)).toBe(true);
    expect(sb.warningEvents('worker-0')).toEqual([]);

    await clearAndConverge(ctx, () => fault.remove());
    await expectSafeAfter(ctx);
  });

  it('503 on the write: the route is not reported as written, then it converges', async () => {
    const ctx = await setup();
    const { sb, c } = ctx;
    const before = await scrape(c);
    const from = c.logs.length;
    const fault = sb.sim.faults.add({ kind: 'serverError', status: 503, match: { method: 'PUT' } });
    sb.kube.addNode(worker(3));

    await expectNodeTold(sb, 'worker-3', /could not be written to route table/);
    await hold(ctx, before, 3);
    await expectUpAndTruthful(ctx);
    const during = await scrape(c);
    expect(
      metric(during, M.requests, { operation: 'RouteTables_CreateOrUpdate', code: '503' }),
    ).toBeGreaterThan(0);
    expect(tableWrites(during)).toBe(tableWrites(before));
    expect(logsSince(c, from).filter((l) => l['msg'] === 'route table written')).toEqual([]);
    expect(String(logsSince(c, from).find((l) => l['msg'] === 'route table sync failed')?.['err'])).toMatch(
      /Azure answered 503 ServiceUnavailable to the write of route table/,
    );

    await clearAndConverge(ctx, () => fault.remove());
    await expectSafeAfter(ctx);
  });

  it('a dropped connection on every request: "could not reach", no write claimed, then it converges', async () => {
    const ctx = await setup();
    const { sb, c } = ctx;
    const before = await scrape(c);
    const from = c.logs.length;
    const fault = sb.sim.faults.add({ kind: 'dropConnection' });
    sb.kube.addNode(worker(3));

    await expectNodeTold(sb, 'worker-3', /could not be confirmed in route table/);
    await hold(ctx, before, 3);
    await expectUpAndTruthful(ctx);
    const failure = logsSince(c, from).find((l) => l['msg'] === 'route table sync failed');
    expect(failure).toMatchObject({ kind: 'Network' });
    expect(String(failure!['err'])).toMatch(
      /could not reach Azure Resource Manager at http:\/\/127\.0\.0\.1:\d+/,
    );
    expect(total(await scrape(c), M.requests, { code: '0' })).toBeGreaterThan(0);
    for (let i = 0; i < 3; i++) expect(isRouteCreated(sb, `worker-${i}`)).toBe(true);

    await clearAndConverge(ctx, () => fault.remove());
    await expectSafeAfter(ctx);
  });

  it('an LRO that ends Failed: never reported as applied, the route never in effect, then it converges', async () => {
    const ctx = await setup();
    const { sb, c } = ctx;
    const before = await scrape(c);
    const from = c.logs.length;
    const fault = sb.sim.faults.add({
      kind: 'lroFailed',
      code: 'InternalServerError',
      message: 'An error occurred.',
      match: { method: 'PUT' },
    });
    sb.kube.addNode(worker(3));

    await expectNodeTold(sb, 'worker-3', /could not be written to route table/);
    await hold(ctx, before, 3);
    expect(fault.hits).toBeGreaterThanOrEqual(3);
    await expectUpAndTruthful(ctx);
    const during = await scrape(c);
    expect(tableWrites(during)).toBe(tableWrites(before));
    expect(metric(during, M.reconciles, { result: 'applied' })).toBe(
      metric(before, M.reconciles, { result: 'applied' }),
    );
    const logs = logsSince(c, from);
    expect(logs.filter((l) => l['msg'] === 'route table written')).toEqual([]);
    expect(logs.filter((l) => l['msg'] === 'create route').every((l) => l['outcome'] === 'not applied')).toBe(
      true,
    );
    expect(logs.find((l) => l['msg'] === 'route table sync failed')).toMatchObject({
      kind: 'OperationFailed',
      err: expect.stringMatching(
        /ended Failed in Azure \(InternalServerError: An error occurred\.\); it is not counted as applied/,
      ),
    });

    await clearAndConverge(ctx, () => fault.remove());
    await expectSafeAfter(ctx);
  });

  it('an LRO that never finishes: --operation-timeout bounds the wait with a clear error; converges once Azure lets go', async () => {
    const ctx = await setup({ flags: { operationTimeout: '1s', maxWriteAttempts: '2' } });
    const { sb, c } = ctx;
    const before = await scrape(c);
    const from = c.logs.length;
    const fault = sb.sim.faults.add({ kind: 'lroNeverFinishes', times: 1, match: { method: 'PUT' } });
    sb.kube.addNode(worker(3));

    await expectNodeTold(sb, 'worker-3', /could not be written to route table/);
    const timeout = logsSince(c, from).find((l) => l['msg'] === 'route table sync failed');
    expect(timeout).toMatchObject({ kind: 'Timeout' });
    expect(String(timeout!['err'])).toMatch(
      /the write of route table "kubernetes-routes" .* did not finish within 1s \(--operation-timeout\); the write may still complete in Azure/,
    );
    expect(fault.hits).toBe(1);
    // The table stays Updating (Azure shows the stuck write's goal state): later passes wait on it, bounded by
    // --operation-timeout, never plan it as settled, and say so.
    await waitFor(() =>
      expect(
        logsSince(c, from).some((l) => l['msg'] === 'route table sync failed' && l['kind'] === 'NotSettled'),
      ).toBe(true),
    );
    await hold(ctx, before, 2);
    await expectUpAndTruthful(ctx);
    expect(sb.sim.pendingOperations()).toBe(1);

    // Azure gives up on the stuck operation without applying it: the table is as it was, and writable again.
    await clearAndConverge(ctx, () => {
      const routes = sb.routes();
      sb.sim.deleteTable(SUBSCRIPTION, RESOURCE_GROUP, TABLE);
      sb.sim.putTable(SUBSCRIPTION, RESOURCE_GROUP, TABLE, { routes, subnets: [SUBNET_ID] });
      ctx.monitor.stop();
      open.monitor = ctx.monitor = startMonitor(sb, { clusterCIDRs: [CLUSTER_CIDR] });
    });
    // The new monitor started just now: let it watch the converged state for a while before it is judged.
    await waitFor(() => expect(ctx.monitor.samples).toBeGreaterThan(10));
    await expectSafeAfter(ctx);
  });

  it('ARM unreachable (connections refused) for "minutes": backs off up to its cap, keeps healthy nodes, converges when back', async () => {
    const ctx = await setup({ proxy: true });
    const { sb, c, proxy } = ctx;
    const before = await scrape(c);
    const from = c.logs.length;
    await proxy!.down();
    sb.kube.addNode(worker(3));

    await expectNodeTold(sb, 'worker-3', /could not be confirmed in route table/);
    // Held for several backoff cycles: the retry delay grows, never past --backoff-max (1 s here).
    await waitFor(
      () =>
        expect(
          logsSince(c, from).filter((l) => l['msg'] === 'reconcile will be retried').length,
        ).toBeGreaterThanOrEqual(5),
      15_000,
    );
    await expectUpAndTruthful(ctx);
    const retries = logsSince(c, from).filter((l) => l['msg'] === 'reconcile will be retried');
    expect(retries.map((l) => l['failures'])).toEqual(retries.map((_, i) => i + 1));
    for (const r of retries) expect(r['retryInMs'] as number).toBeLessThanOrEqual(1_000);
    expect(retries.at(-1)!['retryInMs'] as number).toBeGreaterThanOrEqual(500);
    const failure = logsSince(c, from).find((l) => l['msg'] === 'route table sync failed');
    expect(failure).toMatchObject({ kind: 'Network' });
    expect(String(failure!['err'])).toMatch(
      new RegExp(
        `could not reach Azure Resource Manager at ${proxy!.url.replace(/[.]/g, '\\.')} .*ECONNREFUSED`,
      ),
    );
    const during = await scrape(c);
    expect(metric(during, M.lastSuccess)).toBe(metric(before, M.lastSuccess));
    expect(failedReconciles(during) - failedReconciles(before)).toBeGreaterThanOrEqual(5);
    for (let i = 0; i < 3; i++) expect(isRouteCreated(sb, `worker-${i}`)).toBe(true);

    const upFrom = c.logs.length;
    await clearAndConverge(ctx, () => proxy!.up());
    // The nodes converge when the reconcile patches them, before it records the metric; its summary line is
    // logged right after the metric is set, so wait for that line rather than read the metric early.
    await waitFor(() =>
      expect(
        logsSince(c, upFrom).some(
          (l) => l['msg'] === 'reconciled' && ['Applied', 'InSync'].includes(String(l['result'])),
        ),
      ).toBe(true),
    );
    expect(metric(await scrape(c), M.lastSuccess)!).toBeGreaterThan(metric(before, M.lastSuccess)!);
    await expectSafeAfter(ctx);
  });

  it('a token that cannot be acquired (identity down): a Credential error, nothing sent, then it converges', async () => {
    const credential = new SwitchableCredential();
    const ctx = await setup({ credential });
    const { sb, c } = ctx;
    const before = await scrape(c);
    const from = c.logs.length;
    sb.sim.resetLog();
    const identityDown = Object.assign(
      new Error('ManagedIdentityCredential: the IMDS endpoint did not answer'),
      {
        name: 'CredentialUnavailableError',
      },
    );
    credential.fail = identityDown;
    sb.kube.addNode(worker(3));

    await expectNodeTold(sb, 'worker-3', /could not be confirmed in route table/);
    await hold(ctx, before, 3);
    await expectUpAndTruthful(ctx);
    const failure = logsSince(c, from).find((l) => l['msg'] === 'route table sync failed');
    expect(failure).toMatchObject({ kind: 'Credential' });
    expect(String(failure!['err'])).toMatch(
      /could not get an Azure access token with .*\(ManagedIdentityCredential: the IMDS endpoint did not answer\)/,
    );
    // No request went to Azure without a token.
    expect(sb.sim.requests).toEqual([]);
    for (let i = 0; i < 3; i++) expect(isRouteCreated(sb, `worker-${i}`)).toBe(true);

    await clearAndConverge(ctx, () => {
      credential.fail = undefined;
    });
    await expectSafeAfter(ctx);
  });
});
