// A clean hand-over (DESIGN 2.6), with the real controller in-process against the Azure simulator and the fake
// Kubernetes API server: losing the Lease or stopping aborts the reconcile in flight (no Azure PUT after it,
// the condition patches and events in flight cancelled), the Lease is released only after they settled, and a
// replica that wins the Lease plans only from a fresh cache. Ordering is asserted with the fake API server's
// request log (arrival and settle sequence), not with the wall clock.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RequestRecord } from '../../src/simulator/kube-api.ts';
import { routeFor, startSandbox, worker, workers, type Sandbox } from '../support/sandbox.ts';
import { startTestController, type TestController } from '../support/controller.ts';

const NS = 'kube-system';
const LEASE = 'azure-route-controller';
const LEASES = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`;
let sandbox: Sandbox | undefined;
let controller: TestController | undefined;

afterEach(async () => {
  await controller?.stop();
  await sandbox?.close();
  controller = sandbox = undefined;
});

const waitFor = <T>(fn: () => T, timeout = 10_000) => vi.waitFor(fn, { timeout, interval: 10 });

/** Leader election on, with durations short enough for a test and long enough for a loaded machine. */
const leaderFlags = {
  leaderElect: true,
  leaderElectIdentity: 'replica-a',
  leaderElectLeaseDuration: '3s',
  leaderElectRenewDeadline: '2s',
  leaderElectRetryPeriod: '100ms',
};

const tablePuts = (sb: Sandbox) =>
  sb.sim.requests.filter((r) => r.method === 'PUT' && r.operation === 'RouteTables_CreateOrUpdate');
const isKubeWrite = (r: RequestRecord) =>
  (r.method === 'PATCH' && r.path.endsWith('/status')) || (r.method === 'POST' && r.path.endsWith('/events'));

/** Someone else takes the Lease (another replica with a fresher view, an operator): we must step down. */
function takeLeaseAway(sb: Sandbox): void {
  sb.kube.updateLease(NS, LEASE, (lease) => {
    lease.spec = {
      ...lease.spec,
      holderIdentity: 'intruder',
      leaseDurationSeconds: 60,
      renewTime: new Date().toISOString().replace('Z', '000Z'),
    };
  });
}

/** The release write: our PUT of the Lease with an empty holder. */
function releaseRecord(sb: Sandbox): RequestRecord | undefined {
  return sb.kube.requests.find(
    (r) =>
      r.method === 'PUT' &&
      r.path === `${LEASES}/${LEASE}` &&
      (r.body as { spec?: { holderIdentity?: string } } | undefined)?.spec?.holderIdentity === '',
  );
}

describe('hand-over', () => {
  it('leadership lost while the table read is in flight: the reconcile is aborted and no Azure PUT is sent', async () => {
    const sb = (sandbox = await startSandbox({ nodes: workers(2) }));
    // The first read of the table takes long; a reconcile that outlived the Lease would PUT right after it.
    sb.sim.faults.add({ kind: 'latency', ms: 3_000, match: { operation: 'RouteTables_Get' }, times: 1 });
    const c = (controller = await startTestController(sb, leaderFlags));
    await waitFor(() => expect(c.isLeader()).toBe(true));
    await waitFor(() => expect(sb.sim.requests.some((r) => r.operation === 'RouteTables_Get')).toBe(true));

    takeLeaseAway(sb);
    await waitFor(() => expect(c.isLeader()).toBe(false));
    // Nothing of that reconcile is left running: it ended when the Lease was lost, not after the slow read.
    await c.whenIdle();
    expect(c.logs.some((l) => l['msg'] === 'lost leadership; stopped writing')).toBe(true);
    expect(tablePuts(sb)).toEqual([]);
    expect(sb.routes()).toEqual([]);
    expect(sb.kube.requests.filter(isKubeWrite)).toEqual([]);
    expect(c.lastReport()).toBeUndefined();
  });

  it('leadership lost while condition patches are in flight: they are cancelled and never applied', async () => {
    const sb = (sandbox = await startSandbox({ nodes: workers(2) }));
    const patches = sb.kube.hold({ method: 'PATCH', pathIncludes: '/status' });
    const c = (controller = await startTestController(sb, leaderFlags));
    await patches.arrived(2);
    expect(tablePuts(sb)).toHaveLength(1);

    takeLeaseAway(sb);
    await waitFor(() => expect(c.isLeader()).toBe(false));
    await patches.abandoned(2);
    await c.whenIdle();
    patches.release();
    // The fake server answers a later request only after it took in the cancellations: a barrier.
    await fetch(`${sb.kube.url}/version`);
    for (const r of sb.kube.requests.filter(isKubeWrite))
      expect(r).toMatchObject({ abandoned: true, status: 0 });
    for (const n of ['worker-0', 'worker-1']) expect(sb.networkUnavailable(n)).toBeUndefined();
    expect(c.lastReport()).toBeUndefined();
  });

  it('stopping (SIGTERM) with patches in flight: they are cancelled, and only then is the Lease released', async () => {
    const sb = (sandbox = await startSandbox({ nodes: workers(2) }));
    const patches = sb.kube.hold({ method: 'PATCH', pathIncludes: '/status' });
    const c = (controller = await startTestController(sb, { ...leaderFlags, shutdownGracePeriod: '200ms' }));
    await patches.arrived(2);

    await c.stop();
    const release = releaseRecord(sb);
    expect(release).toBeDefined();
    expect(release!.status).toBe(200);
    expect(sb.kube.getLease(NS, LEASE)?.spec?.holderIdentity).toBe('');
    await patches.abandoned(2);
    patches.release();
    await fetch(`${sb.kube.url}/version`);
    const writes = sb.kube.requests.filter(isKubeWrite);
    expect(writes).toHaveLength(2);
    // Both were sent before the release, and none completed at all, let alone after it.
    for (const w of writes) {
      expect(w.seq).toBeLessThan(release!.seq);
      expect(w).toMatchObject({ abandoned: true, status: 0 });
    }
    for (const n of ['worker-0', 'worker-1']) expect(sb.networkUnavailable(n)).toBeUndefined();
    expect(c.logs.findIndex((l) => l['msg'] === 'released the lease')).toBeGreaterThan(-1);
  });

  it('stopping with nothing held: the patches complete before the Lease is released', async () => {
    const sb = (sandbox = await startSandbox({ nodes: workers(2) }));
    const c = (controller = await startTestController(sb, leaderFlags));
    await waitFor(() => expect(sb.networkUnavailable('worker-1')).toMatchObject({ reason: 'RouteCreated' }));
    await c.stop();
    const release = releaseRecord(sb)!;
    const writes = sb.kube.requests.filter(isKubeWrite);
    expect(writes.length).toBeGreaterThanOrEqual(2);
    for (const w of writes) expect(w.settledSeq!).toBeLessThan(release.seq);
  });

  it('a replica that wins the Lease lists the nodes again when its watch has been silent since', async () => {
    const sb = (sandbox = await startSandbox({ nodes: workers(2) }));
    // Another replica holds the Lease; this one starts as a standby, lists the nodes and watches them.
    const created = await fetch(`${sb.kube.url}${LEASES}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        metadata: { name: LEASE },
        spec: { holderIdentity: 'replica-z', leaseDurationSeconds: 60, leaseTransitions: 0 },
      }),
    });
    expect(created.status).toBe(201);
    const c = (controller = await startTestController(sb, leaderFlags));
    await waitFor(() => expect(sb.kube.openWatches()).toBe(1));
    await waitFor(() =>
      expect(c.logs.some((l) => l['msg'] === 'the lease is held by another replica')).toBe(true),
    );

    // Its watch dies silently (no FIN, no bookmarks), and a node joins meanwhile.
    sb.kube.stallWatches();
    sb.kube.addNode(worker(2));
    sb.kube.updateLease(NS, LEASE, (lease) => {
      lease.spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 };
    });

    await waitFor(() => expect(c.isLeader()).toBe(true));
    await waitFor(() => expect(c.lastReport()).toBeDefined());
    // The very first reconcile as leader already knew worker-2: one PUT with all three routes.
    expect(c.lastReport()!.summary.create).toBe(3);
    expect(tablePuts(sb)).toHaveLength(1);
    expect(sb.routes()).toContainEqual(routeFor(worker(2)));
    expect(c.logs.some((l) => String(l['msg']).startsWith('nothing heard from the node watch'))).toBe(true);
  });
});
