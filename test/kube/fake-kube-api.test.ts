// The fake Kubernetes API server at the raw HTTP level, plus client-node's own informer against it.
import http from 'node:http';
import { KubeConfig, makeInformer, CoreV1Api, type V1Node } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeKubeApi, type FakeKubeApi } from '../../src/simulator/kube-api.ts';

let api: FakeKubeApi;

beforeEach(async () => {
  api = await startFakeKubeApi({ bookmarkIntervalMs: 50 });
});

afterEach(async () => {
  await api.close();
});

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

async function request(
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<Reply> {
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': contentType },
    body: body === undefined ? null : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

interface WatchEvent {
  type: string;
  object: Record<string, unknown> & {
    metadata?: { name?: string; resourceVersion?: string };
    code?: number;
    reason?: string;
  };
}

/** Opens a watch and collects its newline-delimited JSON events until it ends or is stopped. */
function openWatch(
  path: string,
): Promise<{ status: number; events: WatchEvent[]; ended: Promise<void>; stop(): void }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${api.url}${path}`, (res) => {
      const events: WatchEvent[] = [];
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let newline: number;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buffer.slice(0, newline)) as WatchEvent);
          buffer = buffer.slice(newline + 1);
        }
      });
      const ended = new Promise<void>((done) => {
        res.on('end', done);
        res.on('close', done);
        res.on('error', () => done());
      });
      resolve({ status: res.statusCode ?? 0, events, ended, stop: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('nodes', () => {
  it('builds a realistic node from the short form', async () => {
    api.addNode({
      name: 'worker-0',
      podCIDRs: ['10.200.0.0/24', 'fd00::/64'],
      internalIPs: ['10.240.0.20', 'fd00::20'],
    });
    const { status, body } = await request('GET', '/api/v1/nodes/worker-0');
    expect(status).toBe(200);
    expect(body).toMatchObject({
      kind: 'Node',
      apiVersion: 'v1',
      metadata: { name: 'worker-0', labels: { 'kubernetes.io/hostname': 'worker-0' } },
      spec: { podCIDR: '10.200.0.0/24', podCIDRs: ['10.200.0.0/24', 'fd00::/64'] },
      status: {
        addresses: [
          { type: 'InternalIP', address: '10.240.0.20' },
          { type: 'InternalIP', address: 'fd00::20' },
          { type: 'Hostname', address: 'worker-0' },
        ],
      },
    });
    const node = api.getNode('worker-0');
    expect(node?.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(node?.metadata?.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(node?.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  });

  it('accepts a client-node V1Node with Date fields', () => {
    const node: V1Node = {
      metadata: { name: 'legacy', creationTimestamp: new Date('2020-01-02T03:04:05Z') },
      spec: { podCIDR: '10.200.9.0/24' },
    };
    const stored = api.addNode(node);
    expect(stored.metadata?.creationTimestamp).toBe('2020-01-02T03:04:05Z');
    expect(stored.kind).toBe('Node');
    expect(api.nodes().map((n) => n.metadata?.name)).toEqual(['legacy']);
  });

  it('pages lists with limit and continue, at one resourceVersion', async () => {
    for (let i = 0; i < 25; i += 1) api.addNode({ name: `n-${String(i).padStart(2, '0')}` });
    const names: string[] = [];
    let token: string | undefined;
    const versions = new Set<string>();
    let pages = 0;
    do {
      const query = `?limit=10${token ? `&continue=${encodeURIComponent(token)}` : ''}`;
      const { status, body } = await request('GET', `/api/v1/nodes${query}`);
      expect(status).toBe(200);
      const metadata = body['metadata'] as {
        continue?: string;
        resourceVersion: string;
        remainingItemCount?: number;
      };
      versions.add(metadata.resourceVersion);
      for (const item of body['items'] as { metadata: { name: string } }[]) names.push(item.metadata.name);
      token = metadata.continue;
      pages += 1;
      if (pages === 1) expect(metadata.remainingItemCount).toBe(15);
      if (pages === 1) api.addNode({ name: 'm-added-meanwhile' }); // sorts before the next page
    } while (token);
    expect(pages).toBe(3);
    expect(names).toHaveLength(25);
    expect(new Set(names).size).toBe(25);
    expect(versions.size).toBe(1);
  });

  it('answers 410 Expired to a continue token older than the compacted history', async () => {
    for (let i = 0; i < 5; i += 1) api.addNode({ name: `n-${i}` });
    const first = await request('GET', '/api/v1/nodes?limit=2');
    api.expireWatches();
    const token = (first.body['metadata'] as { continue: string }).continue;
    const next = await request('GET', `/api/v1/nodes?limit=2&continue=${encodeURIComponent(token)}`);
    expect(next.status).toBe(410);
    expect(next.body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Expired', code: 410 });
  });

  it('creates, replaces and deletes nodes with Kubernetes Status errors', async () => {
    const created = await request('POST', '/api/v1/nodes', { metadata: { name: 'x' }, spec: {} });
    expect(created.status).toBe(201);
    expect((await request('POST', '/api/v1/nodes', { metadata: { name: 'x' } })).body).toMatchObject({
      reason: 'AlreadyExists',
      code: 409,
    });
    const node = created.body as { metadata: Record<string, unknown> };
    const replaced = await request('PUT', '/api/v1/nodes/x', { ...node, spec: { podCIDR: '10.0.0.0/24' } });
    expect(replaced.status).toBe(200);
    expect(replaced.body['spec']).toEqual({ podCIDR: '10.0.0.0/24' });
    const stale = await request('PUT', '/api/v1/nodes/x', { ...node, spec: {} });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({
      reason: 'Conflict',
      message: expect.stringContaining('the object has been modified'),
    });
    expect((await request('DELETE', '/api/v1/nodes/x')).body).toMatchObject({ status: 'Success' });
    expect((await request('GET', '/api/v1/nodes/x')).body).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason: 'NotFound',
      message: 'nodes "x" not found',
      code: 404,
    });
  });
});

describe('nodes/status patches', () => {
  beforeEach(() => {
    api.addNode({
      name: 'worker-0',
      podCIDRs: ['10.200.0.0/24'],
      internalIPs: ['10.240.0.20'],
      conditions: [{ type: 'NetworkUnavailable', status: 'False', reason: 'CalicoIsUp' }],
    });
  });

  const conditions = (): { type: string; status: string; reason?: string }[] =>
    (api.getNode('worker-0')?.status?.conditions ?? []) as {
      type: string;
      status: string;
      reason?: string;
    }[];

  it('strategic merge patch merges conditions by type', async () => {
    const rv = api.getNode('worker-0')?.metadata?.resourceVersion;
    const { status, body } = await request(
      'PATCH',
      '/api/v1/nodes/worker-0/status',
      { status: { conditions: [{ type: 'NetworkUnavailable', status: 'True', reason: 'NoRouteCreated' }] } },
      'application/strategic-merge-patch+json',
    );
    expect(status).toBe(200);
    expect(Number((body['metadata'] as { resourceVersion: string }).resourceVersion)).toBeGreaterThan(
      Number(rv),
    );
    expect(conditions().map((c) => c.type)).toEqual([
      'MemoryPressure',
      'DiskPressure',
      'PIDPressure',
      'Ready',
      'NetworkUnavailable',
    ]);
    expect(conditions().find((c) => c.type === 'NetworkUnavailable')).toMatchObject({
      status: 'True',
      reason: 'NoRouteCreated',
    });
    expect(conditions().find((c) => c.type === 'Ready')?.status).toBe('True');
  });

  it('strategic merge patch merges a condition field by field: fields the patch omits are kept', async () => {
    api.updateNode('worker-0', (n) => {
      const c = n.status!.conditions!.find((x) => x.type === 'NetworkUnavailable')!;
      Object.assign(c, { message: 'Calico is running', lastTransitionTime: '2026-01-01T00:00:00Z' });
    });
    const { status } = await request(
      'PATCH',
      '/api/v1/nodes/worker-0/status',
      {
        status: {
          conditions: [
            {
              type: 'NetworkUnavailable',
              status: 'False',
              reason: 'RouteCreated',
              lastHeartbeatTime: '2026-02-02T00:00:00Z',
            },
          ],
        },
      },
      'application/strategic-merge-patch+json',
    );
    expect(status).toBe(200);
    // As kube-apiserver does: no field is filled in or reset by the server, lastTransitionTime included.
    expect(conditions().find((c) => c.type === 'NetworkUnavailable')).toEqual({
      type: 'NetworkUnavailable',
      status: 'False',
      reason: 'RouteCreated',
      message: 'Calico is running',
      lastTransitionTime: '2026-01-01T00:00:00Z',
      lastHeartbeatTime: '2026-02-02T00:00:00Z',
    });
  });

  it('strategic merge patch honours $patch: delete in a merged list', async () => {
    await request(
      'PATCH',
      '/api/v1/nodes/worker-0/status',
      { status: { conditions: [{ type: 'NetworkUnavailable', $patch: 'delete' }] } },
      'application/strategic-merge-patch+json',
    );
    expect(conditions().map((c) => c.type)).not.toContain('NetworkUnavailable');
  });

  it('merge patch replaces the whole list', async () => {
    await request(
      'PATCH',
      '/api/v1/nodes/worker-0/status',
      { status: { conditions: [{ type: 'NetworkUnavailable', status: 'True' }] } },
      'application/merge-patch+json',
    );
    expect(conditions()).toEqual([{ type: 'NetworkUnavailable', status: 'True' }]);
  });

  it('json patch applies operations, and a failed test is 422', async () => {
    const ok = await request(
      'PATCH',
      '/api/v1/nodes/worker-0/status',
      [
        { op: 'test', path: '/status/conditions/4/type', value: 'NetworkUnavailable' },
        { op: 'replace', path: '/status/conditions/4/status', value: 'True' },
      ],
      'application/json-patch+json',
    );
    expect(ok.status).toBe(200);
    expect(conditions()[4]?.status).toBe('True');
    const failed = await request(
      'PATCH',
      '/api/v1/nodes/worker-0/status',
      [{ op: 'test', path: '/status/conditions/0/type', value: 'Nope' }],
      'application/json-patch+json',
    );
    expect(failed.status).toBe(422);
  });

  it('the status subresource does not change spec, the main resource does not change status', async () => {
    await request(
      'PATCH',
      '/api/v1/nodes/worker-0/status',
      { spec: { podCIDR: '1.2.3.0/24' }, status: { phase: 'Running' } },
      'application/merge-patch+json',
    );
    await request(
      'PATCH',
      '/api/v1/nodes/worker-0',
      { status: { phase: 'Gone' } },
      'application/merge-patch+json',
    );
    const node = api.getNode('worker-0');
    expect(node?.spec?.podCIDR).toBe('10.200.0.0/24');
    expect(node?.status?.phase).toBe('Running');
  });

  it('refuses an unknown patch type with 415, and a missing node with 404', async () => {
    expect(
      (await request('PATCH', '/api/v1/nodes/worker-0/status', {}, 'application/apply-patch+yaml')).status,
    ).toBe(415);
    expect(
      (
        await request(
          'PATCH',
          '/api/v1/nodes/nope/status',
          { status: {} },
          'application/strategic-merge-patch+json',
        )
      ).body,
    ).toMatchObject({ reason: 'NotFound', code: 404 });
  });
});

describe('watch', () => {
  it('replays from a resourceVersion, then streams changes, with bookmarks on request', async () => {
    api.addNode({ name: 'a' });
    const rv = api.resourceVersion();
    api.addNode({ name: 'b' });
    const watch = await openWatch(`/api/v1/nodes?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`);
    expect(watch.status).toBe(200);
    api.updateNode('b', (node) => {
      node.metadata = { ...node.metadata, labels: { role: 'x' } };
    });
    api.deleteNode('a');
    await until(() => watch.events.some((e) => e.type === 'BOOKMARK'));
    const changes = watch.events
      .filter((e) => e.type !== 'BOOKMARK')
      .map((e) => `${e.type} ${e.object.metadata?.name}`);
    expect(changes).toEqual(['ADDED b', 'MODIFIED b', 'DELETED a']);
    const bookmark = watch.events.find((e) => e.type === 'BOOKMARK');
    expect(bookmark?.object.metadata?.resourceVersion).toBe(api.resourceVersion());
    watch.stop();
    await until(() => api.openWatches() === 0);
  });

  it('without a resourceVersion, sends the current state as ADDED first', async () => {
    api.addNode({ name: 'a' });
    api.addNode({ name: 'b' });
    const watch = await openWatch('/api/v1/nodes?watch=true');
    await until(() => watch.events.length === 2);
    expect(watch.events.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(['ADDED a', 'ADDED b']);
    watch.stop();
  });

  it('answers a too-old resourceVersion with an ERROR event holding a 410 Status, then ends the stream', async () => {
    api.addNode({ name: 'a' });
    const rv = api.resourceVersion();
    api.expireWatches();
    const watch = await openWatch(`/api/v1/nodes?watch=true&resourceVersion=${rv}`);
    await watch.ended;
    expect(watch.status).toBe(200);
    expect(watch.events).toHaveLength(1);
    expect(watch.events[0]).toMatchObject({
      type: 'ERROR',
      object: { kind: 'Status', code: 410, reason: 'Expired' },
    });
  });

  it('or with HTTP 410 when asked to', async () => {
    api.addNode({ name: 'a' });
    const rv = api.resourceVersion();
    api.expireWatches({ mode: 'http' });
    const res = await request('GET', `/api/v1/nodes?watch=true&resourceVersion=${rv}`);
    expect(res.status).toBe(410);
    expect(res.body).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired' });
  });

  it('expires resourceVersions that fell out of a bounded history', async () => {
    await api.close();
    api = await startFakeKubeApi({ historyLimit: 10 });
    api.addNode({ name: 'a' });
    const old = api.resourceVersion();
    for (let i = 0; i < 1_100; i += 1)
      api.updateNode('a', (n) => ({ ...n, metadata: { ...n.metadata, labels: { i: String(i) } } }));
    const watch = await openWatch(`/api/v1/nodes?watch=true&resourceVersion=${old}`);
    await watch.ended;
    expect(watch.events[0]).toMatchObject({ type: 'ERROR', object: { code: 410 } });
  });

  it('restart() and down() close open watches; down() refuses connections until up()', async () => {
    const watch = await openWatch('/api/v1/nodes?watch=true&resourceVersion=1');
    api.restart();
    await watch.ended;
    expect((await request('GET', '/api/v1/nodes')).status).toBe(200);

    const second = await openWatch('/api/v1/nodes?watch=true&resourceVersion=1');
    await api.down();
    await second.ended;
    await expect(fetch(`${api.url}/api/v1/nodes`)).rejects.toThrow();
    await api.up();
    expect((await request('GET', '/api/v1/nodes')).status).toBe(200);
  });
});

describe('client-node informer against the fake server', () => {
  function kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromString(api.kubeconfig());
    return kc;
  }

  it.each(['event', 'http'] as const)('syncs, follows changes and relists after a 410 (%s)', async (mode) => {
    api.addNode({ name: 'a' });
    const kc = kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    const informer = makeInformer(kc, '/api/v1/nodes', () => core.listNode());
    const seen: string[] = [];
    informer.on('add', (n) => seen.push(`add ${n.metadata?.name}`));
    informer.on('update', (n) => seen.push(`update ${n.metadata?.name}`));
    informer.on('delete', (n) => seen.push(`delete ${n.metadata?.name}`));
    await informer.start();
    try {
      await until(() => api.openWatches() === 1);
      api.addNode({ name: 'b' });
      await until(() => seen.includes('add b'));

      // The watch is dropped and history compacted; a node vanishes before the informer is back (same tick).
      // Resuming gets 410, so the informer must list again to notice.
      const lists = api.requests.filter((r) => r.path === '/api/v1/nodes' && !r.watch).length;
      api.expireWatches({ mode });
      api.deleteNode('a');
      await until(() => seen.includes('delete a'));
      expect(api.requests.filter((r) => r.path === '/api/v1/nodes' && !r.watch).length).toBe(lists + 1);
      // The resumed watch was refused; the informer listed again and watches from the new list.
      const resumed = api.requests.filter((r) => r.watch)[1];
      expect(resumed?.status).toBe(mode === 'http' ? 410 : 200);
      await until(() => api.requests.filter((r) => r.watch).length === 3 && api.openWatches() === 1);
      expect(informer.list().map((n) => n.metadata?.name)).toEqual(['b']);
    } finally {
      await informer.stop();
    }
  });
});

describe('events and leases', () => {
  it('stores core/v1 and events.k8s.io/v1 events', async () => {
    const core = await request('POST', '/api/v1/namespaces/default/events', {
      metadata: { name: 'worker-0.1' },
      involvedObject: { kind: 'Node', name: 'worker-0' },
      type: 'Warning',
      reason: 'FailedToCreateRoute',
    });
    expect(core.status).toBe(201);
    expect(api.events()).toMatchObject([
      { metadata: { name: 'worker-0.1', namespace: 'default' }, reason: 'FailedToCreateRoute' },
    ]);
    const patched = await request(
      'PATCH',
      '/api/v1/namespaces/default/events/worker-0.1',
      { count: 2 },
      'application/strategic-merge-patch+json',
    );
    expect(patched.body['count']).toBe(2);
    const wrongNs = await request('POST', '/api/v1/namespaces/default/events', {
      metadata: { name: 'x', namespace: 'other' },
      involvedObject: {},
    });
    expect(wrongNs.status).toBe(400);
    const v1 = await request('POST', '/apis/events.k8s.io/v1/namespaces/default/events', {
      metadata: { name: 'e' },
      regarding: { kind: 'Node', name: 'worker-0' },
      note: 'hi',
    });
    expect(v1.status).toBe(201);
    expect(api.eventsV1()).toMatchObject([{ apiVersion: 'events.k8s.io/v1', note: 'hi' }]);
  });

  it('enforces optimistic concurrency on leases', async () => {
    const base = '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases';
    const created = await request('POST', base, {
      metadata: { name: 'azure-route-controller' },
      spec: { holderIdentity: 'a', leaseDurationSeconds: 15 },
    });
    expect(created.status).toBe(201);
    const lease = created.body as { metadata: { resourceVersion: string }; spec: Record<string, unknown> };

    const renewed = await request('PUT', `${base}/azure-route-controller`, {
      ...lease,
      spec: { ...lease.spec, renewTime: '2026-01-01T00:00:00.000000Z' },
    });
    expect(renewed.status).toBe(200);

    // A second replica still holding the old resourceVersion loses.
    const stale = await request('PUT', `${base}/azure-route-controller`, {
      ...lease,
      spec: { holderIdentity: 'b' },
    });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({
      kind: 'Status',
      reason: 'Conflict',
      code: 409,
      message: expect.stringContaining('leases.coordination.k8s.io "azure-route-controller"'),
    });
    expect(api.getLease('kube-system', 'azure-route-controller')?.spec?.holderIdentity).toBe('a');

    const again = await request('POST', base, { metadata: { name: 'azure-route-controller' } });
    expect(again.body).toMatchObject({ reason: 'AlreadyExists', code: 409 });
    expect((await request('GET', base)).body['items']).toHaveLength(1);
    expect((await request('DELETE', `${base}/azure-route-controller`)).status).toBe(200);
    expect(api.leases()).toEqual([]);
  });
});

describe('faults and the request log', () => {
  it('failNext answers matching requests with a Status, a given number of times', async () => {
    api.addNode({ name: 'a' });
    api.failNext({ method: 'GET', pathIncludes: '/nodes/a', status: 503, times: 2, retryAfterSeconds: 1 });
    const first = await fetch(`${api.url}/api/v1/nodes/a`);
    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toBe('1');
    expect(await first.json()).toMatchObject({ kind: 'Status', reason: 'ServiceUnavailable', code: 503 });
    expect((await request('GET', '/api/v1/nodes')).status).toBe(200);
    expect((await request('GET', '/api/v1/nodes/a')).status).toBe(503);
    expect((await request('GET', '/api/v1/nodes/a')).status).toBe(200);
    expect(api.requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
      'GET /api/v1/nodes/a 503',
      'GET /api/v1/nodes 200',
      'GET /api/v1/nodes/a 503',
      'GET /api/v1/nodes/a 200',
    ]);
    api.resetLog();
    expect(api.requests).toEqual([]);
  });

  it('failNext can drop the connection', async () => {
    api.failNext({ status: 0, drop: true });
    await expect(fetch(`${api.url}/api/v1/nodes`)).rejects.toThrow();
  });

  it('hold keeps matching requests unanswered; one whose client leaves is never applied, and the log orders it', async () => {
    api.addNode({ name: 'worker-0' });
    const gate = api.hold({ method: 'PATCH', pathIncludes: '/status' });
    const cancel = new AbortController();
    const body = JSON.stringify({ status: { conditions: [{ type: 'NetworkUnavailable', status: 'True' }] } });
    const sent = fetch(`${api.url}/api/v1/nodes/worker-0/status`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/strategic-merge-patch+json' },
      body,
      signal: cancel.signal,
    }).catch((err: unknown) => err);
    await gate.arrived(1);
    expect(gate.count).toBe(1);
    cancel.abort();
    await sent;
    await gate.abandoned(1);
    const later = await request('GET', '/api/v1/nodes/worker-0');
    expect(later.status).toBe(200);
    gate.release();
    const [patch, get] = api.requests.slice(-2);
    expect(patch).toMatchObject({ method: 'PATCH', status: 0, abandoned: true });
    expect(patch!.settledSeq!).toBeLessThan(get!.seq);
    expect(get!.settledSeq!).toBeGreaterThan(get!.seq);
    expect(api.getNode('worker-0')?.status?.conditions?.some((c) => c.type === 'NetworkUnavailable')).toBe(
      false,
    );

    // Released, later requests go straight through.
    const applied = await request(
      'PATCH',
      '/api/v1/nodes/worker-0/status',
      JSON.parse(body),
      'application/strategic-merge-patch+json',
    );
    expect(applied.status).toBe(200);
  });

  it('stallWatches silences the open watches (no events, no bookmarks) while new watches work', async () => {
    const rv = api.resourceVersion();
    const stalled = await openWatch(
      `/api/v1/nodes?watch=true&allowWatchBookmarks=true&resourceVersion=${rv}`,
    );
    api.stallWatches();
    const heard = stalled.events.length;
    api.addNode({ name: 'late' });
    const fresh = await openWatch(`/api/v1/nodes?watch=true&allowWatchBookmarks=true&resourceVersion=${rv}`);
    await until(() => fresh.events.some((e) => e.type === 'ADDED'));
    await until(() => fresh.events.some((e) => e.type === 'BOOKMARK'));
    expect(stalled.events.slice(heard)).toEqual([]);
    expect(api.openWatches()).toBe(2);
    stalled.stop();
    fresh.stop();
  });

  it('requireToken answers 401 without the right bearer token', async () => {
    await api.close();
    api = await startFakeKubeApi({ requireToken: 's3cret' });
    expect((await request('GET', '/api/v1/nodes')).body).toMatchObject({ reason: 'Unauthorized', code: 401 });
    expect(api.kubeconfig()).toContain('token: s3cret');
  });

  it('keeps up with thousands of nodes', async () => {
    const started = Date.now();
    for (let i = 0; i < 5_000; i += 1) {
      api.addNode({
        name: `node-${i}`,
        podCIDRs: [`10.${i >> 8}.${i & 255}.0/24`],
        internalIPs: [`10.240.${i >> 8}.${i & 255}`],
      });
    }
    const { body } = await request('GET', '/api/v1/nodes?limit=500');
    expect(body['items']).toHaveLength(500);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
