// `run` end to end: the real controller over HTTP against the Azure simulator and the fake Kubernetes API server.
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  FIREWALL_ROUTE,
  RESOURCE_GROUP,
  SUBSCRIPTION,
  TABLE,
  routeFor,
  startSandbox,
  worker,
  workers,
  type Sandbox,
} from '../support/sandbox.ts';
import { parseMetrics, startTestController, type TestController } from '../support/controller.ts';

const TABLE_B = 'pods-b';
let sandbox: Sandbox | undefined;
let controller: TestController | undefined;

afterEach(async () => {
  await controller?.stop();
  await sandbox?.close();
  controller = sandbox = undefined;
});

const puts = (sb: Sandbox, table: string) =>
  sb.sim.requests.filter(
    (r) => r.method === 'PUT' && r.operation === 'RouteTables_CreateOrUpdate' && r.path.endsWith(`/${table}`),
  );
const reconciledLines = (c: TestController) => c.logs.filter((l) => l['msg'] === 'reconciled');
const waitFor = <T>(fn: () => T, timeout = 10_000) => vi.waitFor(fn, { timeout, interval: 25 });

describe('run', () => {
  it('converges a 400-node cold start with one PUT per table, then idles: zero writes, one read per table per resync', async () => {
    const sb = (sandbox = await startSandbox({
      nodes: workers(400),
      table: { routes: [FIREWALL_ROUTE] },
      simulator: { routeLimit: 1000 },
    }));
    sb.sim.putTable(SUBSCRIPTION, RESOURCE_GROUP, TABLE_B, { location: 'westeurope', routes: [] });
    const c = (controller = await startTestController(sb, {
      routeTable: [TABLE, TABLE_B],
      clusterCidr: ['10.192.0.0/10'], // workers past 255 use 10.201.x.0/24
      routeLimit: '1000',
      resyncPeriod: '1s',
    }));

    await waitFor(() => {
      expect(sb.routes(TABLE)).toHaveLength(401);
      expect(sb.routes(TABLE_B)).toHaveLength(400);
    });
    expect(puts(sb, TABLE)).toHaveLength(1);
    expect(puts(sb, TABLE_B)).toHaveLength(1);
    expect(sb.routes(TABLE)).toContainEqual(FIREWALL_ROUTE);
    await waitFor(() =>
      expect(reconciledLines(c)[0]).toMatchObject({ reason: 'start', create: 800, writes: 2 }),
    );
    for (const n of ['worker-0', 'worker-255', 'worker-399']) {
      expect(sb.networkUnavailable(n)).toMatchObject({ status: 'False', reason: 'RouteCreated' });
    }

    // Idle: a status heartbeat (not a routing change) must not trigger anything; resyncs read once per table.
    // Each 'reconciled' line is written after that reconcile's last request and before the next one starts,
    // so the simulator's log length at that moment splits the log exactly, whatever the machine's load.
    const cuts: number[] = [];
    const unsubscribe = c.onLog((l) => {
      if (l['msg'] === 'reconciled') cuts.push(sb.sim.requests.length);
    });
    const seen = reconciledLines(c).length;
    sb.kube.updateNode('worker-7', (n) => {
      n.status!.conditions = [
        ...(n.status!.conditions ?? []).filter((x) => x.type !== 'Ready'),
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          lastHeartbeatTime: new Date().toISOString(),
        } as never,
      ];
    });
    // Three reconciles after the heartbeat: the first may have begun before it; the next two are whole.
    await waitFor(() => expect(cuts.length).toBeGreaterThanOrEqual(3), 8_000);
    unsubscribe();
    const idle = reconciledLines(c).slice(seen);
    expect(idle.map((l) => l['reason'])).toEqual(idle.map(() => 'resync'));
    const between = sb.sim.requests.slice(cuts[0], cuts[2]);
    expect(between.filter((r) => r.method !== 'GET')).toEqual([]);
    // Exactly one read per table per resync.
    const reads = (table: string) =>
      between.filter((r) => r.operation === 'RouteTables_Get' && r.path.endsWith(`/${table}`));
    expect(reads(TABLE)).toHaveLength(2);
    expect(reads(TABLE_B)).toHaveLength(2);
    expect(between).toHaveLength(4);
  });

  it('--no-node-conditions still emits FailedToCreateRoute, once per problem: not on every resync, again when it changes', async () => {
    const refused = worker(3, { podCIDRs: ['10.99.0.0/24'] });
    const sb = (sandbox = await startSandbox({ nodes: [...workers(2), refused] }));
    const c = (controller = await startTestController(sb, { nodeConditions: false, resyncPeriod: '1s' }));
    await waitFor(() => expect(sb.warningEvents('worker-3')).toHaveLength(1));
    const first = sb.warningEvents('worker-3')[0]!.message!;
    expect(first).toMatch(/10\.99\.0\.0\/24/);
    // Two resyncs with the same problem: no new event.
    const seen = reconciledLines(c).length;
    await waitFor(() => expect(reconciledLines(c).length).toBeGreaterThanOrEqual(seen + 2), 8_000);
    expect(sb.warningEvents('worker-3')).toHaveLength(1);

    // A different problem: a new event naming it.
    sb.kube.updateNode('worker-3', (n) => {
      n.spec = { ...n.spec, podCIDR: '10.98.0.0/24', podCIDRs: ['10.98.0.0/24'] };
    });
    await waitFor(() => expect(sb.warningEvents('worker-3')).toHaveLength(2));
    expect(sb.warningEvents('worker-3')[1]!.message).toMatch(/10\.98\.0\.0\/24/);
    expect(sb.warningEvents('worker-0')).toEqual([]);
    // Node conditions are not ours to manage here: no status patch at all.
    expect(sb.kube.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/status'))).toEqual([]);
  });

  it('coalesces a burst of node adds into one write per table', async () => {
    const sb = (sandbox = await startSandbox({ nodes: workers(3) }));
    const c = (controller = await startTestController(sb, { debounce: '200ms' }));
    await waitFor(() => expect(sb.routes()).toHaveLength(3));
    sb.sim.resetLog();
    for (let i = 3; i < 103; i++) sb.kube.addNode(worker(i));
    await waitFor(() => expect(reconciledLines(c).at(-1)).toMatchObject({ create: 100, writes: 1 }));
    expect(sb.routes()).toHaveLength(103);
    expect(puts(sb, TABLE)).toHaveLength(1);
  });

  it('follows node deletes, IP changes and late pod CIDRs, one write each', async () => {
    const sb = (sandbox = await startSandbox({ nodes: [...workers(3), { ...worker(3), podCIDRs: [] }] }));
    controller = await startTestController(sb);
    await waitFor(() => expect(sb.routes()).toHaveLength(3));

    sb.sim.resetLog();
    sb.kube.deleteNode('worker-1');
    await waitFor(() => expect(sb.routes().map((r) => r.name)).not.toContain(routeFor(worker(1)).name));
    expect(puts(sb, TABLE)).toHaveLength(1);

    sb.sim.resetLog();
    sb.kube.updateNode('worker-2', (n) => {
      n.status!.addresses = [{ type: 'InternalIP', address: '10.240.9.99' }];
    });
    await waitFor(() =>
      expect(sb.routes().find((r) => r.addressPrefix === '10.200.2.0/24')).toEqual({
        ...routeFor(worker(2)),
        nextHopIpAddress: '10.240.9.99',
      }),
    );
    expect(puts(sb, TABLE)).toHaveLength(1);

    sb.sim.resetLog();
    sb.kube.updateNode('worker-3', (n) => {
      n.spec = { ...n.spec, podCIDR: '10.200.3.0/24', podCIDRs: ['10.200.3.0/24'] };
    });
    await waitFor(() => expect(sb.routes()).toContainEqual(routeFor(worker(3))));
    expect(puts(sb, TABLE)).toHaveLength(1);
  });

  it('restores a route deleted out of band on the next resync', async () => {
    const sb = (sandbox = await startSandbox({ nodes: workers(3) }));
    controller = await startTestController(sb, { resyncPeriod: '1s' });
    await waitFor(() => expect(sb.routes()).toHaveLength(3));
    const lost = routeFor(worker(1));
    sb.sim.deleteRoute(SUBSCRIPTION, RESOURCE_GROUP, TABLE, lost.name);
    expect(sb.routes()).not.toContainEqual(lost);
    await waitFor(() => expect(sb.routes()).toContainEqual(lost), 5_000);
  });

  it('recovers from a watch answered 410 Gone and from an API server restart', async () => {
    const sb = (sandbox = await startSandbox({ nodes: workers(2) }));
    const c = (controller = await startTestController(sb));
    await waitFor(() => expect(sb.routes()).toHaveLength(2));

    sb.kube.expireWatches({ mode: 'event' });
    sb.kube.addNode(worker(2));
    await waitFor(() => expect(sb.routes()).toContainEqual(routeFor(worker(2))));

    sb.kube.expireWatches({ mode: 'http' });
    sb.kube.deleteNode('worker-0');
    await waitFor(() => expect(sb.routes()).not.toContainEqual(routeFor(worker(0))));

    sb.kube.restart();
    sb.kube.addNode(worker(3));
    await waitFor(() => expect(sb.routes()).toContainEqual(routeFor(worker(3))));
    expect(c.logs.filter((l) => (l['level'] as number) >= 60)).toEqual([]);
  });

  it('honours Retry-After in a 429 storm: no request comes before it elapses', async () => {
    const sb = (sandbox = await startSandbox({ nodes: workers(3) }));
    sb.sim.faults.add({ kind: 'throttle', retryAfterSeconds: 1, times: 4, match: { method: 'PUT' } });
    const c = (controller = await startTestController(sb));
    await waitFor(() => expect(sb.routes()).toHaveLength(3), 20_000);

    const log = sb.sim.requests;
    const throttled = log.filter((r) => r.status === 429);
    expect(throttled).toHaveLength(4);
    for (const t of throttled) {
      const next = log.find((r) => r.seq > t.seq);
      expect(next, 'a request followed the 429').toBeDefined();
      // Retry-After: 1 means one second; allow only scheduling noise below it.
      expect(next!.time - t.time).toBeGreaterThanOrEqual(990);
    }
    const samples = parseMetrics(await c.metrics.registry.metrics());
    const waited = samples.find((s) => s.name === 'azure_route_controller_azure_throttle_wait_seconds_total');
    expect(waited?.value).toBeGreaterThanOrEqual(3);
    expect(
      samples.find(
        (s) =>
          s.name === 'azure_route_controller_azure_requests_total' &&
          s.labels['operation'] === 'RouteTables_CreateOrUpdate' &&
          s.labels['code'] === '429',
      )?.value,
    ).toBe(4);
  });

  it('serves /readyz (503 until the informer has synced), /healthz and /metrics', async () => {
    const sb = (sandbox = await startSandbox({
      nodes: [...workers(2), { ...worker(2), podCIDRs: ['0.0.0.0/0'] }],
      table: { routes: [FIREWALL_ROUTE] },
    }));
    await sb.kube.down();
    const c = (controller = await startTestController(sb));
    const get = async (path: string) => {
      const res = await fetch(`${c.server.url}${path}`);
      return { status: res.status, body: await res.text() };
    };
    expect(await get('/readyz')).toMatchObject({ status: 503 });
    expect(await get('/healthz')).toMatchObject({ status: 200 });
    await sb.kube.up();
    await waitFor(async () => expect(await get('/readyz')).toMatchObject({ status: 200 }), 15_000);
    await waitFor(() => expect(sb.routes()).toHaveLength(3), 15_000);
    await waitFor(() => expect(reconciledLines(c).length).toBeGreaterThan(0));

    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    const samples = parseMetrics(metrics.body);
    const names = new Set(samples.map((s) => s.name));
    for (const name of [
      'azure_route_controller_reconciles_total',
      'azure_route_controller_reconcile_duration_seconds_bucket',
      'azure_route_controller_azure_requests_total',
      'azure_route_controller_azure_throttle_wait_seconds_total',
      'azure_route_controller_routes',
      'azure_route_controller_route_conflicts',
      'azure_route_controller_nodes_skipped',
      'azure_route_controller_is_leader',
      'azure_route_controller_last_successful_sync_timestamp_seconds',
      'process_resident_memory_bytes',
    ]) {
      expect(names, name).toContain(name);
    }
    const value = (name: string, labels: Record<string, string> = {}) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
        ?.value;
    expect(value('azure_route_controller_is_leader')).toBe(1);
    expect(
      value('azure_route_controller_routes', { route_table: `${RESOURCE_GROUP}/${TABLE}`, state: 'foreign' }),
    ).toBe(1);
    expect(value('azure_route_controller_nodes_skipped', { reason: 'OutsideClusterCIDR' })).toBe(1);
    expect(value('azure_route_controller_reconciles_total', { result: 'incomplete' })).toBeGreaterThanOrEqual(
      1,
    );
    expect(value('azure_route_controller_reconciles_total', { result: 'failed' })).toBeUndefined();
    expect(
      value('azure_route_controller_azure_requests_total', { operation: 'RouteTables_Get', code: '200' }),
    ).toBeGreaterThanOrEqual(1);
    expect(sb.warningEvents('worker-2')).not.toHaveLength(0);
  });

  it('logs one summary line per reconcile, and per-route lines with node, cidr, routeTable and reconcileId', async () => {
    const sb = (sandbox = await startSandbox({ nodes: workers(2) }));
    const c = (controller = await startTestController(sb));
    await waitFor(() => expect(reconciledLines(c)).toHaveLength(1));
    const summary = reconciledLines(c)[0]!;
    expect(summary).toMatchObject({ create: 2, writes: 1, result: 'Applied' });
    expect(typeof summary['durationMs']).toBe('number');
    const creates = c.logs.filter((l) => l['msg'] === 'create route');
    expect(creates).toHaveLength(2);
    for (const line of creates) {
      expect(line).toMatchObject({ routeTable: TABLE, reconcileId: summary['reconcileId'] });
      expect(line['node']).toMatch(/^worker-[01]$/);
      expect(line['cidr']).toMatch(/^10\.200\.[01]\.0\/24$/);
    }
  });
});
