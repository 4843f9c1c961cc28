// The node informer against the fake API server: sync, routing-relevant changes only, 410s, outages.
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKubeClient } from '../../src/kube/client.ts';
import { createNodeInformer, type NodeChange, type NodeInformer } from '../../src/kube/informer.ts';
import { startFakeKubeApi, type FakeKubeApi } from '../../src/simulator/kube-api.ts';

const silent = pino({ level: 'silent' });
const NODE_INFO_KEYS = ['name', 'uid', 'creationTimestamp', 'podCIDRs', 'internalIPs', 'networkUnavailable'];

let api: FakeKubeApi;
let informer: NodeInformer | undefined;
let changes: string[];
let markers = 0;

function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfig());
  return kc;
}

function startInformer(extra: Partial<Parameters<typeof createNodeInformer>[1]> = {}): NodeInformer {
  informer = createNodeInformer(kubeConfig(), {
    logger: silent,
    backoff: { baseMs: 20, maxMs: 100 },
    onChange: (change: NodeChange) => changes.push(`${change.type} ${change.node}`),
    ...extra,
  });
  return informer;
}

async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const lists = () => api.requests.filter((r) => r.path === '/api/v1/nodes' && !r.watch).length;
const watches = () => api.requests.filter((r) => r.path === '/api/v1/nodes' && r.watch);

/** Adds a marker node and waits for it: everything the server sent before it has been applied. */
async function barrier(name = `zz-marker-${++markers}`): Promise<void> {
  api.addNode({ name });
  await until(() => changes.includes(`added ${name}`));
  changes.splice(changes.indexOf(`added ${name}`), 1);
}

function node(i: number) {
  return { name: `node-${i}`, podCIDRs: [`10.244.${i}.0/24`], internalIPs: [`10.240.0.${i}`] };
}

beforeEach(async () => {
  api = await startFakeKubeApi();
  changes = [];
});

afterEach(async () => {
  await informer?.stop();
  informer = undefined;
  await api.close();
});

describe('node informer', () => {
  it('syncs 1,000 nodes in pages and keeps only NodeInfo fields', async () => {
    api.addNodes(
      Array.from({ length: 1_000 }, (_, i) => ({
        name: `node-${String(i).padStart(4, '0')}`,
        podCIDRs: [`10.${i >> 8}.${i & 255}.0/24`],
        internalIPs: [`10.240.${i >> 8}.${i & 255}`],
        conditions: [{ type: 'NetworkUnavailable', status: 'False', reason: 'RouteCreated' }],
      })),
    );
    const inf = startInformer();
    expect(inf.synced()).toBe(false);
    await inf.start();
    await inf.waitForSync();
    expect(inf.synced()).toBe(true);
    const nodes = inf.nodes();
    expect(nodes).toHaveLength(1_000);
    expect(nodes[0]).toEqual({
      name: 'node-0000',
      uid: expect.any(String),
      creationTimestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      podCIDRs: ['10.0.0.0/24'],
      internalIPs: ['10.240.0.0'],
      networkUnavailable: { status: 'False', reason: 'RouteCreated' },
    });
    // Memory-lean: nothing but the planner's fields, at any depth.
    for (const info of nodes) {
      for (const key of Object.keys(info)) expect(NODE_INFO_KEYS).toContain(key);
      if (info.networkUnavailable)
        expect(Object.keys(info.networkUnavailable).sort()).toEqual(['reason', 'status']);
    }
    expect(changes).toHaveLength(1_000);
    expect(changes.every((c) => c.startsWith('added '))).toBe(true);
    // Two pages of 500, then one watch from the list's resourceVersion.
    expect(api.requests.filter((r) => !r.watch).map((r) => r.query)).toEqual([
      '?limit=500',
      expect.stringMatching(/^\?continue=.+&limit=500$/),
    ]);
    await until(() => inf.health().connected);
    expect(watches()[0]?.query).toContain(`resourceVersion=${api.resourceVersion()}`);
    expect(watches()[0]?.query).toContain('allowWatchBookmarks=true');
    expect(inf.health()).toMatchObject({ synced: true, connected: true, relists: 0, errors: 0 });
    // Both pages and the watch went through the shared keep-alive dispatcher, not a new Agent each.
    expect(api.connectionsAccepted()).toBeLessThanOrEqual(2);
  });

  it('reports additions, deletions and changes of pod CIDRs and InternalIPs', async () => {
    api.addNodes([node(1), node(2), node(3)]);
    const inf = startInformer();
    await inf.start();
    await inf.waitForSync();
    await until(() => inf.health().connected);
    changes.length = 0;

    api.addNode(node(4));
    api.updateNode('node-1', (n) => {
      n.spec = { podCIDR: '10.99.0.0/24', podCIDRs: ['10.99.0.0/24', 'fd00:99::/64'] };
    });
    api.updateNode('node-2', (n) => {
      n.status!.addresses = [{ type: 'InternalIP', address: '10.240.9.9' }];
    });
    api.deleteNode('node-3');
    await until(() => changes.length === 4);
    expect(changes).toEqual(['added node-4', 'modified node-1', 'modified node-2', 'deleted node-3']);
    const byName = new Map(inf.nodes().map((n) => [n.name, n]));
    expect(byName.get('node-1')?.podCIDRs).toEqual(['10.99.0.0/24', 'fd00:99::/64']);
    expect(byName.get('node-2')?.internalIPs).toEqual(['10.240.9.9']);
    expect(byName.has('node-3')).toBe(false);
    expect(inf.nodes().map((n) => n.name)).toEqual(['node-1', 'node-2', 'node-4']);
  });

  it('does not report heartbeats, condition or label changes, but caches NetworkUnavailable', async () => {
    api.addNodes([node(1), node(2)]);
    const inf = startInformer();
    await inf.start();
    await inf.waitForSync();
    await until(() => inf.health().connected);
    changes.length = 0;

    // A kubelet heartbeat, a Ready flap, a label, and our own NetworkUnavailable patch (through the client).
    api.updateNode('node-1', (n) => {
      for (const c of n.status!.conditions!) c.lastHeartbeatTime = '2030-01-01T00:00:00Z';
    });
    api.updateNode('node-1', (n) => {
      n.status!.conditions!.find((c) => c.type === 'Ready')!.status = 'False';
    });
    api.updateNode('node-2', (n) => {
      n.metadata!.labels = { ...n.metadata!.labels, 'topology.kubernetes.io/zone': 'westeurope-1' };
    });
    const client = createKubeClient(kubeConfig(), silent);
    const ref = { name: 'node-2', uid: api.getNode('node-2')!.metadata!.uid! };
    await client.setNetworkUnavailable(
      ref,
      { status: 'False', reason: 'RouteCreated', message: 'RouteController created a route' },
      new Date(),
    );
    await barrier();
    expect(changes).toEqual([]);
    const node2 = inf.nodes().find((n) => n.name === 'node-2');
    expect(node2?.networkUnavailable).toEqual({
      status: 'False',
      reason: 'RouteCreated',
      message: 'RouteController created a route',
    });

    await client.setNetworkUnavailable(
      ref,
      { status: 'True', reason: 'NoRouteCreated', message: 'no route' },
      new Date(),
    );
    await barrier();
    expect(changes).toEqual([]);
    expect(inf.nodes().find((n) => n.name === 'node-2')?.networkUnavailable).toEqual({
      status: 'True',
      reason: 'NoRouteCreated',
      message: 'no route',
    });
  });

  it.each(['event', 'http'] as const)(
    'lists again after 410 Expired (%s) and reports what changed meanwhile',
    async (mode) => {
      api.addNodes([node(1), node(2), node(3)]);
      const inf = startInformer();
      await inf.start();
      await inf.waitForSync();
      await until(() => inf.health().connected);
      changes.length = 0;
      const listsBefore = lists();

      // History is compacted and the watch dropped; changes land before the informer is back (same tick).
      api.expireWatches({ mode });
      api.deleteNode('node-1');
      api.addNode(node(5));
      api.updateNode('node-2', (n) => {
        n.spec = { podCIDR: '10.77.0.0/24', podCIDRs: ['10.77.0.0/24'] };
      });
      api.updateNode('node-3', (n) => {
        n.metadata!.labels = { changed: 'yes' };
      });
      await until(() => changes.length >= 3);
      await barrier();
      expect(changes.sort()).toEqual(['added node-5', 'deleted node-1', 'modified node-2']);
      expect(lists()).toBe(listsBefore + 1);
      const resumed = watches()[1];
      expect(resumed?.status).toBe(mode === 'http' ? 410 : 200);
      expect(inf.health()).toMatchObject({ synced: true, relists: 1 });
      expect(inf.nodes().map((n) => n.name)).toEqual([
        'node-2',
        'node-3',
        'node-5',
        'zz-marker-' + String(markers),
      ]);
    },
  );

  it('recovers from an API server outage and sees what happened during it', async () => {
    api.addNodes([node(1), node(2)]);
    const inf = startInformer();
    await inf.start();
    await inf.waitForSync();
    await until(() => inf.health().connected);
    changes.length = 0;

    await api.down();
    await until(() => !inf.health().connected);
    await sleep(600);
    const errorsDuringOutage = inf.health().errors;
    // Refused connections are retried with backoff (20 ms doubling to 100 ms here), not in a tight loop.
    expect(errorsDuringOutage).toBeGreaterThan(0);
    expect(errorsDuringOutage).toBeLessThan(30);
    expect(inf.synced()).toBe(true);
    expect(inf.nodes()).toHaveLength(2);

    // The fake keeps its state while down; these changes are only in its watch history.
    api.addNode(node(3));
    api.deleteNode('node-1');
    await api.up();
    await until(() => changes.length >= 2);
    expect(changes).toEqual(['added node-3', 'deleted node-1']);
    await until(() => inf.health().connected);
    // Resumed from the last resourceVersion: no second list was needed.
    expect(inf.health().relists).toBe(0);
    expect(inf.nodes().map((n) => n.name)).toEqual(['node-2', 'node-3']);
  });

  it('resumes after an API server restart', async () => {
    api.addNodes([node(1)]);
    const inf = startInformer();
    await inf.start();
    await inf.waitForSync();
    await until(() => api.openWatches() === 1);
    changes.length = 0;

    api.restart();
    api.addNode(node(2));
    await until(() => changes.includes('added node-2'));
    await until(() => api.openWatches() === 1 && inf.health().connected);
    api.deleteNode('node-1');
    await until(() => changes.includes('deleted node-1'));
    expect(changes).toEqual(['added node-2', 'deleted node-1']);
  });

  it('backs off while the watch keeps failing', async () => {
    api.addNodes([node(1)]);
    api.failNext({ pathIncludes: 'watch=true', status: 500, times: 1_000 });
    const inf = startInformer({ backoff: { baseMs: 100, maxMs: 400 } });
    await inf.start();
    await inf.waitForSync();
    await sleep(1_000);
    // Immediate, then ~100, ~200, ~400, ~400 ms (jittered down to half): a handful, not hundreds.
    const attempts = watches().length;
    expect(attempts).toBeGreaterThanOrEqual(3);
    expect(attempts).toBeLessThanOrEqual(8);
    expect(inf.health()).toMatchObject({ connected: false, synced: true });
    expect(inf.health().errors).toBe(attempts);

    api.clearFaults();
    api.addNode(node(2));
    await until(() => changes.includes('added node-2'));
  });

  it('retries a failed first list and only then reports synced', async () => {
    api.addNodes([node(1)]);
    api.failNext({ method: 'GET', pathIncludes: 'nodes?limit', status: 503, times: 2 });
    const inf = startInformer();
    await inf.start();
    await inf.waitForSync();
    expect(inf.nodes().map((n) => n.name)).toEqual(['node-1']);
    expect(inf.health()).toMatchObject({ synced: true, errors: 2, relists: 0 });
  });

  it('relists periodically when asked, reporting nothing when nothing changed', async () => {
    api.addNodes([node(1), node(2)]);
    const inf = startInformer({ resyncRelistMs: 150 });
    await inf.start();
    await inf.waitForSync();
    changes.length = 0;
    await until(() => inf.health().relists >= 2);
    expect(changes).toEqual([]);
    expect(inf.nodes()).toHaveLength(2);
  });

  it('says whether it heard from the API server since a mark, and resync lists again (a silent watch)', async () => {
    api.addNodes([node(1)]);
    const inf = startInformer();
    await inf.start();
    await inf.waitForSync();
    await until(() => inf.health().connected);
    const first = inf.mark();
    expect(inf.freshSince(first)).toBe(false);
    api.addNode(node(2));
    await until(() => changes.includes('added node-2'));
    expect(inf.freshSince(first)).toBe(true);

    // The open watch dies without a word: nothing more arrives, not even bookmarks.
    const second = inf.mark();
    api.stallWatches();
    api.addNode(node(3));
    expect(inf.freshSince(second)).toBe(false);
    expect(inf.nodes().map((n) => n.name)).toEqual(['node-1', 'node-2']);
    const listsBefore = lists();
    await inf.resync();
    expect(lists()).toBe(listsBefore + 1);
    expect(inf.freshSince(second)).toBe(true);
    expect(inf.nodes().map((n) => n.name)).toEqual(['node-1', 'node-2', 'node-3']);
    expect(changes).toContain('added node-3');
    // The watch resumed from the new list and follows changes again.
    api.addNode(node(4));
    await until(() => changes.includes('added node-4'));
    expect(inf.health().errors).toBe(0);

    const aborted = new AbortController();
    aborted.abort(new Error('term ended'));
    await expect(inf.resync(aborted.signal)).rejects.toThrow('term ended');
  });

  it('a resync asked for while a list is running waits for a list that starts after it', async () => {
    api.addNodes([node(1)]);
    const gate = api.hold({ method: 'GET', pathIncludes: 'limit=' });
    const inf = startInformer();
    await inf.start();
    await gate.arrived(1);
    const resynced = inf.resync();
    let done = false;
    void resynced.then(() => (done = true));
    api.addNode(node(2));
    gate.release();
    await inf.waitForSync();
    await resynced;
    expect(done).toBe(true);
    expect(lists()).toBe(2);
    expect(inf.nodes().map((n) => n.name)).toEqual(['node-1', 'node-2']);
  });

  it('stops: closes the watch and rejects waiters', async () => {
    await api.down();
    const inf = startInformer();
    await inf.start();
    const waiting = inf.waitForSync();
    const aborted = new AbortController();
    const waitingWithSignal = inf.waitForSync(aborted.signal);
    aborted.abort(new Error('gave up'));
    await expect(waitingWithSignal).rejects.toThrow('gave up');
    await inf.stop();
    await expect(waiting).rejects.toThrow('stopped');
    await api.up();

    api.addNodes([node(1)]);
    const second = startInformer();
    await second.start();
    await second.waitForSync();
    await until(() => api.openWatches() === 1);
    await second.stop();
    await until(() => api.openWatches() === 0);
    expect(second.health().connected).toBe(false);
  });
});
