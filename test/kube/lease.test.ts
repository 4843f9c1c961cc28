// Leader election against the fake API server, with short real durations: lease 1 s (the smallest a Lease can
// say: leaseDurationSeconds is whole seconds), renew deadline 600 ms, retry period 100 ms.
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLeaderElector, type LeaderElector, type LeaderElectorOptions } from '../../src/kube/lease.ts';
import { startFakeKubeApi, type FakeKubeApi } from '../../src/simulator/kube-api.ts';

const silent = pino({ level: 'silent' });
const NS = 'kube-system';
const NAME = 'azure-route-controller';
const LEASE_MS = 1_000;
const RENEW_MS = 600;
const RETRY_MS = 100;
const LEASES_PATH = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`;
/** For tests about something else: a leader on a busy CI machine must not miss the deadline by accident. */
const RELAXED = { leaseDurationMs: 5_000, renewDeadlineMs: 4_000 };

let api: FakeKubeApi;
let electors: LeaderElector[];
let events: string[];

function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfig());
  return kc;
}

function elector(identity: string, extra: Partial<LeaderElectorOptions> = {}): LeaderElector {
  const e = createLeaderElector(kubeConfig(), {
    namespace: NS,
    name: NAME,
    identity,
    leaseDurationMs: LEASE_MS,
    renewDeadlineMs: RENEW_MS,
    retryPeriodMs: RETRY_MS,
    logger: silent,
    onStartedLeading: () => events.push(`${identity} started`),
    onStoppedLeading: () => events.push(`${identity} stopped`),
    ...extra,
  });
  electors.push(e);
  return e;
}

async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const lease = () => api.getLease(NS, NAME);
const leaseWrites = () => api.requests.filter((r) => r.path.startsWith(LEASES_PATH) && r.method !== 'GET');

/** Samples isLeader() of every elector for a while; returns how many were leading at each sample. */
async function sample(ms: number, of: LeaderElector[]): Promise<number[]> {
  const counts: number[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    counts.push(of.filter((e) => e.isLeader()).length);
    await sleep(3);
  }
  return counts;
}

async function createLease(spec: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${api.url}${LEASES_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ metadata: { name: NAME }, spec }),
  });
  expect(res.status).toBe(201);
}

beforeEach(async () => {
  api = await startFakeKubeApi();
  electors = [];
  events = [];
});

afterEach(async () => {
  await Promise.all(electors.map((e) => e.stop({ release: false })));
  await api.close();
});

describe('leader election', () => {
  it('a single replica creates the lease, renews it, and releases it on stop', async () => {
    const a = elector('a', RELAXED);
    const done = a.run();
    await until(() => a.isLeader());
    expect(events).toEqual(['a started']);
    const first = lease();
    expect(first?.spec).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 5, leaseTransitions: 0 });
    // MicroTime: six fractional digits, as the API server's metav1.MicroTime parser wants.
    expect(first?.spec?.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(first?.spec?.acquireTime).toBe(first?.spec?.renewTime);

    await sleep(3 * RETRY_MS);
    const renewed = lease();
    expect(renewed?.spec?.renewTime).not.toBe(first?.spec?.renewTime);
    expect(renewed?.spec?.acquireTime).toBe(first?.spec?.acquireTime);
    expect(renewed?.spec?.leaseTransitions).toBe(0);

    await a.stop({ release: true });
    await done;
    expect(a.isLeader()).toBe(false);
    expect(events).toEqual(['a started', 'a stopped']);
    expect(lease()?.spec).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 0 });
    // Only creates and updates, each carrying the resourceVersion they were based on.
    const writes = leaseWrites();
    expect(writes[0]?.method).toBe('POST');
    for (const w of writes.slice(1)) {
      expect(w.method).toBe('PUT');
      expect((w.body as { metadata: { resourceVersion?: string } }).metadata.resourceVersion).toMatch(
        /^\d+$/,
      );
    }
  });

  it('two replicas: exactly one leads at any time', async () => {
    const a = elector('a', RELAXED);
    const b = elector('b', RELAXED);
    void a.run();
    void b.run();
    await until(() => a.isLeader() || b.isLeader());
    const counts = await sample(1_500, [a, b]);
    expect(counts.length).toBeGreaterThan(100);
    expect(counts.every((n) => n === 1)).toBe(true);
    expect(events).toHaveLength(1);
    // They raced to create it; one got 409 AlreadyExists and carried on as a candidate.
    expect(
      api.requests
        .filter((r) => r.method === 'POST')
        .map((r) => r.status)
        .sort(),
    ).toEqual([201, 409]);
    expect(lease()?.spec?.leaseTransitions).toBe(0);
  });

  it('after a release the standby takes over within about one retry period', async () => {
    const a = elector('a', RELAXED);
    const b = elector('b', RELAXED);
    void a.run();
    await until(() => a.isLeader());
    void b.run();
    await sleep(3 * RETRY_MS);
    expect(b.isLeader()).toBe(false);

    await a.stop({ release: true });
    const releasedAt = Date.now();
    expect(a.isLeader()).toBe(false);
    await until(() => b.isLeader());
    // The candidate retries every 100-220 ms (retry period + up to 1.2x jitter).
    expect(Date.now() - releasedAt).toBeLessThan(2.2 * RETRY_MS + 150);
    expect(events).toEqual(['a started', 'a stopped', 'b started']);
    expect(lease()?.spec).toMatchObject({
      holderIdentity: 'b',
      leaseTransitions: 1,
      leaseDurationSeconds: 5,
    });
  });

  it('when the leader dies without releasing, the standby waits out the lease duration', async () => {
    const a = elector('a');
    const b = elector('b');
    void a.run();
    await until(() => a.isLeader());
    void b.run();
    await sleep(4 * RETRY_MS);

    // SIGKILL: the loop just stops; the Lease still names a.
    await a.stop({ release: false });
    const stoppedAt = Date.now();
    const lastRenew = Date.parse(lease()?.spec?.renewTime as string);
    expect(lease()?.spec?.holderIdentity).toBe('a');

    await until(() => b.isLeader());
    const tookOverAt = Date.now();
    // Not before the lease duration since a's last renewal (b counts from when it saw that renewal) ...
    expect(tookOverAt).toBeGreaterThanOrEqual(lastRenew + LEASE_MS - 5);
    expect(tookOverAt - stoppedAt).toBeGreaterThan(LEASE_MS - RETRY_MS - 50);
    // ... and not much after: one more retry period with jitter.
    expect(tookOverAt - stoppedAt).toBeLessThan(LEASE_MS + 2.2 * RETRY_MS + 200);
    expect(lease()?.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
  });

  it("does not trust the remote renewTime: a stale holder's lease runs a full duration from first sight", async () => {
    // Written by a replica whose clock is 25 years slow: by the timestamp it expired long ago.
    await createLease({
      holderIdentity: 'ghost',
      leaseDurationSeconds: 1,
      acquireTime: '2001-01-01T00:00:00.000000Z',
      renewTime: '2001-01-01T00:00:00.000000Z',
      leaseTransitions: 5,
    });
    const b = elector('b');
    const startedAt = Date.now();
    void b.run();
    await sleep(LEASE_MS - 200);
    expect(b.isLeader()).toBe(false);
    await until(() => b.isLeader());
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(LEASE_MS);
    expect(lease()?.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 6 });
  });

  it('takes a released lease (empty holder) at once', async () => {
    await createLease({ holderIdentity: '', leaseDurationSeconds: 15, leaseTransitions: 2 });
    const b = elector('b', RELAXED);
    void b.run();
    await until(() => b.isLeader(), 500);
    expect(lease()?.spec).toMatchObject({
      holderIdentity: 'b',
      leaseTransitions: 3,
      leaseDurationSeconds: 5,
    });
  });

  it('steps down within the renew deadline when the API server goes away, and comes back after', async () => {
    const a = elector('a');
    const done = a.run();
    await until(() => a.isLeader());
    await sleep(2 * RETRY_MS);

    await api.down();
    const downAt = Date.now();
    await until(() => !a.isLeader());
    const after = Date.now() - downAt;
    expect(after).toBeGreaterThan(RENEW_MS - RETRY_MS - 50);
    expect(after).toBeLessThan(RENEW_MS + RETRY_MS + 100);
    expect(events).toEqual(['a started', 'a stopped']);

    await api.up();
    // Nobody else took it: a still holds the record, and picks it up again.
    await until(() => a.isLeader());
    expect(events).toEqual(['a started', 'a stopped', 'a started']);
    expect(lease()?.spec?.holderIdentity).toBe('a');
    await a.stop({ release: true });
    await done;
  });

  it('steps down at the deadline even while a renewal hangs', async () => {
    const a = elector('a', { requestTimeoutMs: 10_000 });
    void a.run();
    await until(() => a.isLeader());
    await sleep(2 * RETRY_MS);
    api.failNext({ method: 'PUT', pathIncludes: '/leases/', status: 0, hang: true, times: 1_000 });
    const hungAt = Date.now();
    await until(() => !a.isLeader());
    expect(Date.now() - hungAt).toBeLessThan(RENEW_MS + RETRY_MS + 100);
    expect(events).toEqual(['a started', 'a stopped']);
    api.clearFaults();
    await until(() => a.isLeader());
  });

  it('a 409 on renewal is handled: the leader reads the lease again and keeps it', async () => {
    const a = elector('a', RELAXED);
    void a.run();
    await until(() => a.isLeader());
    api.failNext({ method: 'PUT', pathIncludes: '/leases/', status: 409 });
    await until(() => api.requests.some((r) => r.method === 'PUT' && r.status === 409));
    const counts = await sample(4 * RETRY_MS, [a]);
    expect(counts.every((n) => n === 1)).toBe(true);
    expect(events).toEqual(['a started']);
    const log = api.requests
      .filter((r) => r.path.startsWith(LEASES_PATH))
      .map((r) => `${r.method} ${r.status}`);
    const conflict = log.indexOf('PUT 409');
    expect(log.slice(conflict, conflict + 3)).toEqual(['PUT 409', 'GET 200', 'PUT 200']);
  });

  it('steps down at once when it finds another holder', async () => {
    const a = elector('a', RELAXED);
    void a.run();
    await until(() => a.isLeader());
    // Someone else rewrote the Lease (an operator, a replica with a faster clock): our next renewal conflicts,
    // the read shows the new holder, and we stop at once rather than at the renew deadline.
    const current = lease()!;
    const res = await fetch(`${api.url}${LEASES_PATH}/${NAME}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...current, spec: { ...current.spec, holderIdentity: 'intruder' } }),
    });
    expect(res.status).toBe(200);
    const at = Date.now();
    await until(() => !a.isLeader());
    expect(Date.now() - at).toBeLessThan(RETRY_MS + 100);
    expect(events).toEqual(['a started', 'a stopped']);
  });

  it('a candidate that loses the race for an expired lease (409) just keeps trying', async () => {
    await createLease({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 0 });
    api.failNext({ method: 'PUT', pathIncludes: '/leases/', status: 409 });
    const b = elector('b', RELAXED);
    void b.run();
    await until(() => b.isLeader());
    expect(api.requests.filter((r) => r.method === 'PUT').map((r) => r.status)).toEqual([409, 200]);
    expect(events).toEqual(['b started']);
  });

  it('never rejects from run() while the API server is unreachable', async () => {
    await api.down();
    const a = elector('a');
    const done = a.run();
    await sleep(5 * RETRY_MS);
    expect(a.isLeader()).toBe(false);
    await a.stop({ release: true });
    await expect(done).resolves.toBeUndefined();
    expect(events).toEqual([]);
  });

  it('refuses inconsistent durations', () => {
    expect(() => elector('x', { leaseDurationMs: 500 })).toThrow(/leaseDurationMs/);
    expect(() => elector('x', { retryPeriodMs: 550 })).toThrow(/renewDeadlineMs/);
  });
});
