// The Kubernetes adapter against the fake API server.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ResponseContext } from '@kubernetes/client-node';
import {
  callOptions,
  createKubeClient,
  KubeError,
  loadKubeConfig,
  type KubeClient,
} from '../../src/kube/client.ts';
import { startFakeKubeApi, type FakeKubeApi } from '../../src/simulator/kube-api.ts';

const silent = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'kube-client-test-'));
let counter = 0;

function writeTemp(text: string): string {
  counter += 1;
  const path = join(dir, `kubeconfig-${counter}`);
  writeFileSync(path, text);
  return path;
}

function kubeconfigFor(server: string, extra = 'insecure-skip-tls-verify: true'): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '  - name: c',
    '    cluster:',
    `      server: ${server}`,
    `      ${extra}`,
    'users:',
    '  - name: u',
    '    user:',
    '      token: t',
    'contexts:',
    '  - name: ctx',
    '    context:',
    '      cluster: c',
    '      user: u',
    'current-context: ctx',
    '',
  ].join('\n');
}

/** The promise's rejection, which must be a KubeError. */
async function kubeErrorOf(promise: Promise<unknown>): Promise<KubeError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KubeError);
  return err as KubeError;
}

function configErrorOf(fn: () => unknown): KubeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(KubeError);
    expect((err as KubeError).kind).toBe('Config');
    expect((err as KubeError).message).not.toContain('\n');
    return err as KubeError;
  }
  throw new Error('expected a KubeError');
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('with the fake API server', () => {
  let api: FakeKubeApi;
  let client: KubeClient;

  beforeEach(async () => {
    api = await startFakeKubeApi();
    const path = join(dir, `fake-${++counter}`);
    await api.writeKubeconfig(path);
    client = createKubeClient(loadKubeConfig(path), silent, { requestTimeoutMs: 2_000 });
  });

  afterEach(async () => {
    await api.close();
  });

  function addNodes(count: number): void {
    for (let i = 0; i < count; i += 1) {
      api.addNode({
        name: `node-${String(i).padStart(4, '0')}`,
        podCIDRs: [`10.${200 + (i >> 8)}.${i & 255}.0/24`],
        internalIPs: [`10.240.${i >> 8}.${i & 255}`],
      });
    }
  }

  it('lists 1,200 nodes in pages of 500', async () => {
    addNodes(1_200);
    const nodes = await client.list();
    expect(nodes).toHaveLength(1_200);
    expect(new Set(nodes.map((n) => n.name)).size).toBe(1_200);
    expect(nodes[1_199]).toMatchObject({
      name: 'node-1199',
      podCIDRs: ['10.204.175.0/24'],
      internalIPs: ['10.240.4.175'],
    });
    const lists = api.requests.filter((r) => r.path === '/api/v1/nodes');
    expect(lists).toHaveLength(3);
    expect(lists.every((r) => r.query.includes('limit=500'))).toBe(true);
    expect(lists.slice(1).every((r) => r.query.includes('continue='))).toBe(true);
  });

  it('lists again from the start when a continue token has expired', async () => {
    addNodes(700);
    api.failNext({ pathIncludes: 'continue=', status: 410, reason: 'Expired', message: 'continue too old' });
    const nodes = await client.list();
    expect(nodes).toHaveLength(700);
    expect(api.requests.map((r) => r.status)).toEqual([200, 410, 200, 200]);
  });

  it('patches NetworkUnavailable with a strategic merge that keeps the other conditions', async () => {
    api.addNode({
      name: 'worker-0',
      podCIDRs: ['10.200.0.0/24'],
      internalIPs: ['10.240.0.20'],
      conditions: [
        { type: 'NetworkUnavailable', status: 'False', reason: 'CalicoIsUp', message: 'Calico is running' },
      ],
    });
    const now = new Date('2026-03-04T05:06:07.890Z');
    await client.setNetworkUnavailable(
      { name: 'worker-0', uid: 'u' },
      { status: 'False', reason: 'RouteCreated', message: 'RouteController created a route' },
      now,
    );
    const patch = api.requests.at(-1);
    expect(patch).toMatchObject({
      method: 'PATCH',
      path: '/api/v1/nodes/worker-0/status',
      contentType: 'application/strategic-merge-patch+json',
    });
    const conditions = api.getNode('worker-0')?.status?.conditions ?? [];
    expect(conditions.map((c) => c.type)).toEqual([
      'MemoryPressure',
      'DiskPressure',
      'PIDPressure',
      'Ready',
      'NetworkUnavailable',
    ]);
    expect(conditions.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'True',
      reason: 'KubeletReady',
    });
    expect(conditions.find((c) => c.type === 'NetworkUnavailable')).toEqual({
      type: 'NetworkUnavailable',
      status: 'False',
      reason: 'RouteCreated',
      message: 'RouteController created a route',
      lastTransitionTime: '2026-03-04T05:06:07Z',
      lastHeartbeatTime: '2026-03-04T05:06:07Z',
    });

    await client.setNetworkUnavailable(
      { name: 'worker-0', uid: 'u' },
      { status: 'True', reason: 'NoRouteCreated', message: 'no route' },
      now,
    );
    const after = (await client.list())[0];
    expect(after?.networkUnavailable).toEqual({
      status: 'True',
      reason: 'NoRouteCreated',
      message: 'no route',
    });
  });

  it('moves lastTransitionTime only when the status changes; reason, message and heartbeat follow every patch', async () => {
    api.addNode({
      name: 'worker-0',
      conditions: [
        {
          type: 'NetworkUnavailable',
          status: 'False',
          reason: 'CalicoIsUp',
          message: 'Calico is running',
          lastTransitionTime: '2026-01-01T00:00:00Z',
          lastHeartbeatTime: '2026-01-01T00:00:00Z',
        },
      ],
    });
    const condition = () =>
      api.getNode('worker-0')?.status?.conditions?.find((c) => c.type === 'NetworkUnavailable');
    const ref = (status: string | undefined) => ({
      name: 'worker-0',
      uid: 'u',
      networkUnavailableStatus: status,
    });

    // Same status (False), new reason: the server keeps the old lastTransitionTime.
    await client.setNetworkUnavailable(
      ref('False'),
      { status: 'False', reason: 'RouteCreated', message: 'RouteController created a route' },
      new Date('2026-02-02T00:00:00Z'),
    );
    const body = api.requests.at(-1)?.body as { status: { conditions: Record<string, unknown>[] } };
    expect(body.status.conditions[0]).not.toHaveProperty('lastTransitionTime');
    expect(condition()).toEqual({
      type: 'NetworkUnavailable',
      status: 'False',
      reason: 'RouteCreated',
      message: 'RouteController created a route',
      lastTransitionTime: '2026-01-01T00:00:00Z',
      lastHeartbeatTime: '2026-02-02T00:00:00Z',
    });

    // The status changes: lastTransitionTime moves.
    await client.setNetworkUnavailable(
      ref('False'),
      { status: 'True', reason: 'NoRouteCreated', message: 'a' },
      new Date('2026-03-03T00:00:00Z'),
    );
    expect(condition()).toMatchObject({
      status: 'True',
      message: 'a',
      lastTransitionTime: '2026-03-03T00:00:00Z',
      lastHeartbeatTime: '2026-03-03T00:00:00Z',
    });

    // Same status (True), a new message: refreshed, the transition time stays.
    await client.setNetworkUnavailable(
      ref('True'),
      { status: 'True', reason: 'NoRouteCreated', message: 'b' },
      new Date('2026-04-04T00:00:00Z'),
    );
    expect(condition()).toMatchObject({
      status: 'True',
      message: 'b',
      lastTransitionTime: '2026-03-03T00:00:00Z',
      lastHeartbeatTime: '2026-04-04T00:00:00Z',
    });
  });

  it('a node with no NetworkUnavailable yet gets a lastTransitionTime with its first condition', async () => {
    api.addNode({ name: 'worker-0' });
    await client.setNetworkUnavailable(
      { name: 'worker-0', uid: 'u', networkUnavailableStatus: undefined },
      { status: 'False', reason: 'RouteCreated', message: 'm' },
      new Date('2026-02-02T00:00:00Z'),
    );
    expect(
      api.getNode('worker-0')?.status?.conditions?.find((c) => c.type === 'NetworkUnavailable'),
    ).toMatchObject({ lastTransitionTime: '2026-02-02T00:00:00Z' });
  });

  it('the signal cancels a condition patch or an event in flight: it rejects with the reason, and nothing is applied', async () => {
    api.addNode({ name: 'worker-0' });
    const gate = api.hold({ method: 'PATCH', pathIncludes: '/status' });
    const controller = new AbortController();
    const patch = client.setNetworkUnavailable(
      { name: 'worker-0', uid: 'u' },
      { status: 'True', reason: 'NoRouteCreated', message: 'm' },
      new Date(),
      controller.signal,
    );
    await gate.arrived(1);
    const reason = new Error('lost leadership');
    controller.abort(reason);
    await expect(patch).rejects.toBe(reason);
    await gate.abandoned(1);
    gate.release();
    expect(api.getNode('worker-0')?.status?.conditions?.some((c) => c.type === 'NetworkUnavailable')).toBe(
      false,
    );

    const events = api.hold({ method: 'POST', pathIncludes: '/events' });
    const stop = new AbortController();
    const event = client.warning({ name: 'worker-0', uid: 'u' }, 'FailedToCreateRoute', 'x', stop.signal);
    await events.arrived(1);
    stop.abort(reason);
    await expect(event).rejects.toBe(reason);
    await events.abandoned(1);
    events.release();
    expect(api.events()).toEqual([]);
    // An already aborted signal sends nothing at all.
    const before = api.requests.length;
    await expect(
      client.warning({ name: 'worker-0', uid: 'u' }, 'FailedToCreateRoute', 'x', stop.signal),
    ).rejects.toBe(reason);
    expect(api.requests.length).toBe(before);
  });

  it('reuses connections across requests', async () => {
    api.addNode({ name: 'worker-0' });
    const before = api.connectionsAccepted();
    for (let i = 0; i < 30; i += 1) {
      await client.setNetworkUnavailable(
        { name: 'worker-0', uid: 'u' },
        { status: 'False', reason: 'RouteCreated', message: 'm' },
        new Date(),
      );
    }
    expect(api.connectionsAccepted() - before).toBeLessThanOrEqual(2);
  });

  it('bounds the requests in flight', async () => {
    addNodes(300);
    const bounded = createKubeClient(loadKubeConfig(writeTemp(api.kubeconfig())), silent, {
      maxConcurrentRequests: 4,
    });
    const before = api.connectionsAccepted();
    const nodes = await bounded.list();
    await Promise.all(
      nodes.map((n) =>
        bounded.setNetworkUnavailable(
          n,
          { status: 'False', reason: 'RouteCreated', message: 'm' },
          new Date(),
        ),
      ),
    );
    // Far below one connection per node; undici may open a spare while a finished response is being read.
    expect(api.connectionsAccepted() - before).toBeLessThanOrEqual(10);
    expect(api.nodes().every((n) => n.status?.conditions?.some((c) => c.reason === 'RouteCreated'))).toBe(
      true,
    );
  });

  it('records a Warning event on the node in namespace default', async () => {
    const clocked = createKubeClient(loadKubeConfig(writeTemp(api.kubeconfig())), silent, {
      now: () => new Date('2026-03-04T05:06:07Z'),
      host: 'controller-0',
    });
    await clocked.warning(
      { name: 'worker-0', uid: 'uid-0' },
      'FailedToCreateRoute',
      'Could not create route 10.200.0.0/24: quota',
    );
    await clocked.warning({ name: 'worker-0', uid: 'uid-0' }, 'FailedToCreateRoute', 'again');
    const events = api.events();
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({
      metadata: { namespace: 'default' },
      involvedObject: { kind: 'Node', name: 'worker-0', apiVersion: 'v1', uid: 'worker-0' },
      type: 'Warning',
      reason: 'FailedToCreateRoute',
      message: 'Could not create route 10.200.0.0/24: quota',
      source: { component: 'azure-route-controller', host: 'controller-0' },
      reportingComponent: 'azure-route-controller',
      reportingInstance: 'controller-0',
      count: 1,
    });
    expect(events[0]?.metadata?.name).toMatch(/^worker-0\.[0-9a-f]{16}$/);
    expect(events[0]?.metadata?.name).not.toBe(events[1]?.metadata?.name);
    expect(new Date(events[0]?.firstTimestamp ?? '').toISOString()).toBe('2026-03-04T05:06:07.000Z');
    expect(events[0]?.lastTimestamp).toBe(events[0]?.firstTimestamp);
  });

  it('maps 403 to a message naming the verb, the resource and the grant', async () => {
    api.addNode({ name: 'worker-0' });
    api.failNext({
      pathIncludes: '/status',
      status: 403,
      message:
        'nodes "worker-0" is forbidden: User "system:serviceaccount:kube-system:arc" cannot patch resource "nodes/status" in API group "" at the cluster scope',
    });
    const err = await kubeErrorOf(
      client.setNetworkUnavailable(
        { name: 'worker-0', uid: 'u' },
        { status: 'False', reason: 'RouteCreated', message: 'm' },
        new Date(),
      ),
    );
    expect(err.kind).toBe('Forbidden');
    expect(err.statusCode).toBe(403);
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(
      /^cannot patch nodes\/status "worker-0": forbidden \(403\): grant the verb "patch" on resource "nodes\/status"/,
    );
    expect(err.message).toContain('system:serviceaccount:kube-system:arc');
    expect(err.message).not.toContain('\n');
  });

  it('maps 404, 409, 429 and 5xx', async () => {
    const patch = (): Promise<void> =>
      client.setNetworkUnavailable(
        { name: 'gone', uid: 'u' },
        { status: 'True', reason: 'NoRouteCreated', message: 'm' },
        new Date(),
      );
    const notFound = await kubeErrorOf(patch());
    expect(notFound.kind).toBe('NotFound');
    expect(notFound.message).toBe(
      'cannot patch nodes/status "gone": not found (404): nodes "gone" not found.',
    );

    api.failNext({ status: 409 });
    expect((await kubeErrorOf(patch())).kind).toBe('Conflict');

    api.failNext({ status: 429, retryAfterSeconds: 7 });
    const throttled = await kubeErrorOf(client.list());
    expect(throttled).toMatchObject({ kind: 'Throttled', retryAfterSeconds: 7, retryable: true });

    api.failNext({ status: 503 });
    const unavailable = await kubeErrorOf(client.list());
    expect(unavailable).toMatchObject({ kind: 'ServerError', statusCode: 503, retryable: true });
    expect(unavailable.message).toContain(api.url);
  });

  it('maps a request that gets no answer to a timeout', async () => {
    const slow = createKubeClient(loadKubeConfig(writeTemp(api.kubeconfig())), silent, {
      requestTimeoutMs: 200,
    });
    api.failNext({ hang: true, status: 0 });
    const err = await kubeErrorOf(slow.list());
    expect(err.kind).toBe('Timeout');
    expect(err.message).toBe(
      `The Kubernetes API server at ${api.url} did not answer within 0.2s (trying to list nodes).`,
    );
  });

  it('rejects with the abort reason when the caller aborts', async () => {
    api.failNext({ hang: true, status: 0 });
    const controller = new AbortController();
    const listing = client.list(controller.signal);
    setTimeout(() => controller.abort(new Error('shutting down')), 50);
    await expect(listing).rejects.toThrow('shutting down');
  });

  it('maps a dropped connection to Unreachable', async () => {
    api.failNext({ drop: true, status: 0 });
    const err = await kubeErrorOf(client.list());
    expect(err.kind).toBe('Unreachable');
    expect(err.retryable).toBe(true);
  });

  it('maps 401 to a credentials message', async () => {
    await api.close();
    api = await startFakeKubeApi({ requireToken: 'right' });
    const wrong = createKubeClient(loadKubeConfig(writeTemp(kubeconfigFor(api.url))), silent);
    const err = await kubeErrorOf(wrong.list());
    expect(err.kind).toBe('Unauthorized');
    expect(err.message).toBe(
      `The Kubernetes API server at ${api.url} rejected our credentials (401 Unauthorized) trying to list nodes: the token or client certificate is missing, invalid or expired; check the user in the kubeconfig or the service account token.`,
    );
  });
});

describe('a condition patch answer', () => {
  // The middleware callOptions(..., { discardSuccessBody: true }) adds after client-node's own.
  async function post(status: number, body: string): Promise<{ text: string; read: boolean }> {
    let read = false;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        read = true;
        controller.enqueue(new TextEncoder().encode(body));
        controller.close();
      },
    });
    const response = new ResponseContext(
      status,
      { 'content-type': 'application/json' },
      {
        text: () => new Response(stream).text(),
        binary: async () => Buffer.from(body),
        stream: () => stream,
      },
    );
    const middleware = callOptions(new AbortController().signal, undefined, { discardSuccessBody: true })
      .middleware![0]!;
    const out = await middleware.post(response).toPromise();
    return { text: await out.body.text(), read };
  }

  it('on success, is read off the socket and dropped: client-node deserializes {} instead of the Node', async () => {
    const node = JSON.stringify({ kind: 'Node', metadata: { name: 'worker-0' }, status: { conditions: [] } });
    expect(await post(200, node)).toEqual({ text: '{}', read: true });
  });

  it('on failure, keeps its body, which carries the message', async () => {
    const status = JSON.stringify({ kind: 'Status', message: 'nodes "worker-0" is forbidden' });
    expect((await post(403, status)).text).toBe(status);
  });
});

describe('an API server that is not there', () => {
  it('reports connection refused with the server URL on the first call', async () => {
    const api = await startFakeKubeApi();
    const url = api.url;
    await api.close();
    const client = createKubeClient(loadKubeConfig(writeTemp(kubeconfigFor(url))), silent);
    const err = await kubeErrorOf(client.list());
    expect(err.kind).toBe('Unreachable');
    expect(err.message).toBe(
      `Cannot reach the Kubernetes API server at ${url} (connection refused) to list nodes. Check the server in the kubeconfig and that the API server is running.`,
    );
  });

  it('reports a host name that does not resolve', async () => {
    const client = createKubeClient(
      loadKubeConfig(
        writeTemp(
          kubeconfigFor('https://no-such-api-server.invalid:6443', 'insecure-skip-tls-verify: false'),
        ),
      ),
      silent,
      { requestTimeoutMs: 10_000 },
    );
    const err = await kubeErrorOf(client.list());
    expect(err.kind).toBe('Unreachable');
    expect(err.message).toContain(
      'https://no-such-api-server.invalid:6443 (host "no-such-api-server.invalid" not found)',
    );
  });
});

describe('loadKubeConfig', () => {
  it('loads a valid kubeconfig', () => {
    const kc = loadKubeConfig(
      writeTemp(kubeconfigFor('https://10.0.0.1:6443', 'insecure-skip-tls-verify: false')),
    );
    expect(kc.getCurrentCluster()?.server).toBe('https://10.0.0.1:6443');
  });

  it('names a missing file and the fix', () => {
    const path = join(dir, 'does-not-exist');
    expect(configErrorOf(() => loadKubeConfig(path)).message).toBe(
      `Cannot read kubeconfig ${path}: the file does not exist. Pass --kubeconfig with a readable kubeconfig file, or set KUBECONFIG.`,
    );
  });

  it('names a directory', () => {
    expect(configErrorOf(() => loadKubeConfig(dir)).message).toContain('it is a directory, not a file');
  });

  it('names invalid YAML with its position', () => {
    const path = writeTemp('clusters:\n  - name: c\n   cluster: [unclosed\n');
    const message = configErrorOf(() => loadKubeConfig(path)).message;
    expect(message).toMatch(
      new RegExp(
        `^Kubeconfig ${path} is not valid YAML \\(line \\d+, column \\d+: .+\\)\\. Fix the file, or point --kubeconfig \\(or KUBECONFIG\\) at a valid one\\.$`,
      ),
    );
  });

  it('refuses an empty file and a document that is not a kubeconfig', () => {
    expect(configErrorOf(() => loadKubeConfig(writeTemp('  \n'))).message).toMatch(/is empty\. Fix the file/);
    expect(configErrorOf(() => loadKubeConfig(writeTemp('just a string\n'))).message).toMatch(
      /defines no clusters and no contexts/,
    );
    expect(
      configErrorOf(() => loadKubeConfig(writeTemp('clusters:\n  - name: c\n    cluster: {}\n'))).message,
    ).toMatch(/is invalid: clusters\[0\]\.cluster\.server is missing\./);
  });

  it('refuses a kubeconfig without a usable current context', () => {
    const noCurrent = kubeconfigFor('https://10.0.0.1').replace('current-context: ctx\n', '');
    expect(configErrorOf(() => loadKubeConfig(writeTemp(noCurrent))).message).toMatch(
      /has no current-context: set one with "kubectl config use-context <name>" \(contexts: ctx\)\.$/,
    );
    const unknown = kubeconfigFor('https://10.0.0.1').replace(
      'current-context: ctx',
      'current-context: prod',
    );
    expect(configErrorOf(() => loadKubeConfig(writeTemp(unknown))).message).toMatch(
      /names current-context "prod", which it does not define \(contexts: ctx\)\.$/,
    );
    const noCluster = kubeconfigFor('https://10.0.0.1').replace(
      'cluster: c\n      user',
      'cluster: other\n      user',
    );
    expect(configErrorOf(() => loadKubeConfig(writeTemp(noCluster))).message).toMatch(
      /pointing at cluster "other", which it does not define/,
    );
  });

  it('refuses plain http without insecure-skip-tls-verify, which client-node would refuse later', () => {
    const path = writeTemp(kubeconfigFor('http://127.0.0.1:8080', 'insecure-skip-tls-verify: false'));
    expect(configErrorOf(() => loadKubeConfig(path)).message).toContain(
      'plain http:// server (http://127.0.0.1:8080)',
    );
  });

  it('names a certificate file that cannot be read', () => {
    const path = writeTemp(kubeconfigFor('https://10.0.0.1', 'certificate-authority: ca-missing.crt'));
    expect(configErrorOf(() => loadKubeConfig(path)).message).toBe(
      `Kubeconfig ${path} refers to certificate-authority ${join(dir, 'ca-missing.crt')}, which cannot be read.`,
    );
  });

  it('explains in-cluster configuration that is not there', () => {
    const root = join(dir, 'not-a-pod');
    mkdirSync(root, { recursive: true });
    const message = configErrorOf(() => loadKubeConfig(undefined, { inClusterRoot: root })).message;
    expect(message).toMatch(/not running inside a Kubernetes pod|no service account token/);
    expect(message).toContain('--kubeconfig');
  });
});
