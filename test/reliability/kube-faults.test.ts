// The fault matrix, Kubernetes side: the API server down and back, and a watch answered 410 Gone, while `run`
// is working. The controller must never read an API server it cannot reach as "no nodes" (and delete routes),
// must keep Azure in step from what it last knew, and must catch up on what changed once the server is back.
import { afterEach, describe, expect, it } from 'vitest';
import {
  CLUSTER_CIDR,
  RESOURCE_GROUP,
  SUBSCRIPTION,
  TABLE,
  routeFor,
  startSandbox,
  worker,
  workers,
  type Sandbox,
} from '../support/sandbox.ts';
import {
  FOREIGN_ROUTES,
  M,
  httpGet,
  isRouteCreated,
  logsSince,
  metric,
  scrape,
  startMonitor,
  startReliabilityController,
  waitFor,
  type Monitor,
  type ReliabilityController,
} from './support.ts';

let sb: Sandbox | undefined;
let c: ReliabilityController | undefined;
let monitor: Monitor | undefined;
afterEach(async () => {
  monitor?.stop();
  await c?.stop();
  await sb?.close();
  sb = c = monitor = undefined;
});

async function converged(count: number, timeout = 10_000): Promise<void> {
  await waitFor(() => {
    for (let i = 0; i < count; i++) {
      expect(sb!.routes()).toContainEqual(routeFor(worker(i)));
      expect(isRouteCreated(sb!, `worker-${i}`), `worker-${i}`).toBe(true);
    }
  }, timeout);
}

describe('fault matrix: Kubernetes', () => {
  it('the API server down, then back: no route is lost, Azure is still repaired from the cache, changes made meanwhile are caught up', async () => {
    sb = await startSandbox({ nodes: workers(3), table: { routes: [...FOREIGN_ROUTES] } });
    c = await startReliabilityController(sb);
    await converged(3);
    monitor = startMonitor(sb, { clusterCIDRs: [CLUSTER_CIDR] });
    const from = c.logs.length;

    await sb.kube.down();
    // Changes while it is down: a node joins (the controller cannot see it yet)...
    sb.kube.addNode(worker(3));
    const unreachable = (l: Record<string, unknown>) =>
      l['msg'] === 'node watch failed; will resume' || l['msg'] === 'cannot list nodes; will retry';
    await waitFor(() => expect(logsSince(c!, from).filter(unreachable).length).toBeGreaterThanOrEqual(2));
    expect(monitor.stop()).toEqual([]);

    // ...and someone deletes a node's route in Azure. The controller still knows the node from its cache and
    // puts the route back at the next resync, API server or not.
    const lost = routeFor(worker(0));
    sb.sim.deleteRoute(SUBSCRIPTION, RESOURCE_GROUP, TABLE, lost.name);
    await waitFor(() => expect(sb!.routes()).toContainEqual(lost), 5_000);
    monitor = startMonitor(sb, { clusterCIDRs: [CLUSTER_CIDR] });

    // Held for a few more seconds: several failed lists and watches, backing off.
    const heldFrom = Date.now();
    await waitFor(() => expect(Date.now() - heldFrom).toBeGreaterThanOrEqual(2_000), 5_000);
    // The process is up and says what is wrong; its cache is still good, so it stays ready.
    expect((await httpGet(`${c.server.url}/healthz`)).status).toBe(200);
    expect((await httpGet(`${c.server.url}/readyz`)).status).toBe(200);
    const warned = logsSince(c, from).find(unreachable);
    expect(String(warned?.['err'])).toMatch(
      new RegExp(
        `Cannot reach the Kubernetes API server at ${sb.kube.url.replace(/\./g, '\\.')} \\(connection refused\\)`,
      ),
    );
    // Not a single route of ours was deleted for want of a node list.
    for (let i = 0; i < 3; i++) expect(sb.routes()).toContainEqual(routeFor(worker(i)));
    expect(sb.routes()).not.toContainEqual(routeFor(worker(3)));
    expect(
      sb.kube.getNode('worker-3')?.status?.conditions?.find((x) => x.type === 'NetworkUnavailable'),
    ).toBe(undefined);
    expect(metric(await scrape(c), M.leader)).toBe(1);

    // The informer backs off (its own backoff: 500 ms doubling, 30 s at most), and says how long it waits.
    const retries = logsSince(c, from).filter(unreachable);
    expect(retries.map((l) => l['failures'])).toEqual(retries.map((_, i) => i + 1));
    for (const r of retries) expect(r['retryInMs'] as number).toBeLessThanOrEqual(30_000);

    // Back: the informer resumes its watch from where it was (or relists), sees worker-3, and routes it.
    await sb.kube.up();
    await converged(4, 35_000);
    expect(monitor.stop()).toEqual([]);
    for (const r of FOREIGN_ROUTES) expect(sb.routes()).toContainEqual(r);
    expect(c.logs.filter((l) => (l['level'] as number) >= 60)).toEqual([]);
  });

  for (const mode of ['event', 'http'] as const) {
    it(`a watch answered 410 Gone (as ${mode === 'event' ? 'an ERROR event' : 'HTTP 410'}): relists, and follows adds and deletes made around it`, async () => {
      sb = await startSandbox({ nodes: workers(3), table: { routes: [...FOREIGN_ROUTES] } });
      c = await startReliabilityController(sb);
      await converged(3);
      monitor = startMonitor(sb, { clusterCIDRs: [CLUSTER_CIDR] });
      const from = c.logs.length;

      // The history is compacted while the controller is watching; a change lands at the same time.
      sb.kube.expireWatches({ mode });
      sb.kube.addNode(worker(3));
      sb.kube.deleteNode('worker-1');
      await waitFor(() => {
        expect(sb!.routes()).toContainEqual(routeFor(worker(3)));
        expect(sb!.routes()).not.toContainEqual(routeFor(worker(1)));
        expect(isRouteCreated(sb!, 'worker-3')).toBe(true);
      });
      expect(logsSince(c, from)).toContainEqual(
        expect.objectContaining({ msg: 'node watch expired (410); listing again' }),
      );
      expect(logsSince(c, from)).toContainEqual(expect.objectContaining({ msg: 'listed nodes again' }));

      // Again, with nothing else happening: the relist finds no change and writes nothing.
      sb.sim.resetLog();
      const again = c.logs.length;
      sb.kube.expireWatches({ mode });
      await waitFor(() =>
        expect(logsSince(c!, again).filter((l) => l['msg'] === 'listed nodes again').length).toBeGreaterThan(
          0,
        ),
      );
      await waitFor(() =>
        expect(logsSince(c!, again).filter((l) => l['msg'] === 'reconciled').length).toBeGreaterThan(0),
      );
      expect(sb.azureWrites()).toEqual([]);

      expect(monitor.stop()).toEqual([]);
      for (const r of FOREIGN_ROUTES) expect(sb.routes()).toContainEqual(r);
      expect(c.logs.filter((l) => (l['level'] as number) >= 50)).toEqual([]);
    });
  }
});
