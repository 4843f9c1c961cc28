// Leader election against the fake API server, with short real durations: lease 1 s (the smallest a Lease can
// say: leaseDurationSeconds is whole seconds), renew deadline 600 ms, retry period 100 ms.
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLeaderElector, type LeaderElector, type LeaderElectorOptions } from '../../src/kube/lease.ts';
import { startFakeKubeApi, type FakeKubeApi } from '../../src/simulator/kube-api.ts';
import type { Timers } from '../../src/support/timers.ts';

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

/** Lease requests time out after this long; a pending timer of exactly this length is a request in flight. */
const REQUEST_TIMEOUT_MS = 7_777;

/**
 * A manual clock for the tests that bound how long something takes: time moves only in steps the test makes,
 * and only while no Lease request is on the wire (each one arms a REQUEST_TIMEOUT_MS timer until answered), so
 * the bounds are in the elector's own time and a slow machine cannot break them.
 */
class SteppingClock implements Timers {
  private time = 1_800_000_000_000;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; ms: number; fn: () => void }>();

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): () => void {
    const id = this.seq++;
    this.pending.set(id, { at: this.time + Math.max(0, ms), ms, fn });
    return () => this.pending.delete(id);
  }

  private inFlight(): number {
    return [...this.pending.values()].filter((t) => t.ms === REQUEST_TIMEOUT_MS).length;
  }

  /** Waits (in real time) until no Lease request is in flight, or only `parked` ones the server never answers. */
  async settle(parked = 0): Promise<void> {
    for (let i = 0; ; i++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.inFlight() <= parked) return;
      if (i > 100_000) throw new Error('a lease request never settled');
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  /** Moves time by `ms`, firing due timers in order, letting each one's requests settle before the next. */
  async advance(ms: number, parked = 0): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      await this.settle(parked);
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.pending) {
        if (entry[1].at <= end && (next === undefined || entry[1].at < next[1].at)) next = entry;
      }
      if (next === undefined) break;
      this.pending.delete(next[0]);
      this.time = next[1].at;
      next[1].fn();
    }
    this.time = end;
    await this.settle(parked);
  }

  /** Steps time until `check` holds; returns how much time that took. */
  async until(check: () => boolean, limitMs: number, parked = 0): Promise<number> {
    const start = this.time;
    await this.settle(parked);
    while (!check()) {
      if (this.time - start > limitMs) throw new Error(`not within ${limitMs} ms of elector time`);
      await this.advance(5, parked);
    }
    return this.time - start;
  }
}

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
    const clock = new SteppingClock();
    const timed = { ...RELAXED, timers: clock, requestTimeoutMs: REQUEST_TIMEOUT_MS };
    const a = elector('a', timed);
    const b = elector('b', timed);
    void a.run();
    await clock.until(() => a.isLeader(), 1_000);
    void b.run();
    await clock.advance(3 * RETRY_MS);
    expect(b.isLeader()).toBe(false);

    await a.stop({ release: true });
    expect(a.isLeader()).toBe(false);
    // The candidate retries every 100-220 ms (retry period + up to 1.2x jitter), in the electors' time.
    const took = await clock.until(() => b.isLeader(), 5_000);
    expect(took).toBeLessThanOrEqual(2.2 * RETRY_MS + 5);
    expect(events).toEqual(['a started', 'a stopped', 'b started']);
    expect(lease()?.spec).toMatchObject({
      holderIdentity: 'b',
      leaseTransitions: 1,
      leaseDurationSeconds: 5,
    });
  });

  it('when the leader dies without releasing, the standby waits out the lease duration', async () => {
    const clock = new SteppingClock();
    // The jitter at its widest (x2.2), so the bound below is the worst case, reached every time, not by chance.
    const timed = { timers: clock, requestTimeoutMs: REQUEST_TIMEOUT_MS, random: () => 0.999_999 };
    const a = elector('a', timed);
    const b = elector('b', timed);
    void a.run();
    await clock.until(() => a.isLeader(), 1_000);
    void b.run();
    await clock.advance(4 * RETRY_MS);

    // SIGKILL: the loop just stops; the Lease still names a.
    await a.stop({ release: false });
    const stoppedAt = clock.now();
    // renewTime is written from the elector's clock, so it is on the same time line.
    const lastRenew = Date.parse(lease()?.spec?.renewTime as string);
    expect(lease()?.spec?.holderIdentity).toBe('a');

    await clock.until(() => b.isLeader(), 5_000);
    const tookOverAt = clock.now();
    // Not before the lease duration since a's last renewal (b counts from when it saw that renewal) ...
    expect(tookOverAt).toBeGreaterThanOrEqual(lastRenew + LEASE_MS);
    expect(tookOverAt - stoppedAt).toBeGreaterThan(LEASE_MS - 2.2 * RETRY_MS);
    // ... and not much after. b counts the lease duration from when it first saw a's last renewal (client-go's
    // observedTime, not the remote renewTime), which is up to one jittered retry period after that renewal; then
    // it notices the expiry on its next attempt, up to one more. So at most two jittered retry periods late.
    expect(tookOverAt).toBeLessThanOrEqual(lastRenew + LEASE_MS + 2 * 2.2 * RETRY_MS + 5);
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
    const clock = new SteppingClock();
    const a = elector('a', { timers: clock, requestTimeoutMs: REQUEST_TIMEOUT_MS });
    const done = a.run();
    await clock.until(() => a.isLeader(), 1_000);
    await clock.advance(2 * RETRY_MS);

    await api.down();
    // Counted from the last renewal, which was at most one retry period before the outage.
    const after = await clock.until(() => !a.isLeader(), 5_000);
    expect(after).toBeGreaterThan(RENEW_MS - RETRY_MS - 5);
    expect(after).toBeLessThanOrEqual(RENEW_MS + 5);
    expect(events).toEqual(['a started', 'a stopped']);

    await api.up();
    // Nobody else took it: a still holds the record, and picks it up again.
    await clock.until(() => a.isLeader(), 5_000);
    expect(events).toEqual(['a started', 'a stopped', 'a started']);
    expect(lease()?.spec?.holderIdentity).toBe('a');
    await a.stop({ release: true });
    await done;
  });

  it('steps down at the deadline even while a renewal hangs', async () => {
    const clock = new SteppingClock();
    const a = elector('a', { timers: clock, requestTimeoutMs: REQUEST_TIMEOUT_MS });
    void a.run();
    await clock.until(() => a.isLeader(), 1_000);
    await clock.advance(2 * RETRY_MS);
    api.failNext({ method: 'PUT', pathIncludes: '/leases/', status: 0, hang: true, times: 1_000 });
    // The renewal that hangs is parked at the server: time moves on without it.
    const took = await clock.until(() => !a.isLeader(), 5_000, 1);
    expect(took).toBeLessThanOrEqual(RENEW_MS + 5);
    expect(events).toEqual(['a started', 'a stopped']);
    api.clearFaults();
    await clock.until(() => a.isLeader(), 5_000);
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
    const clock = new SteppingClock();
    const a = elector('a', { ...RELAXED, timers: clock, requestTimeoutMs: REQUEST_TIMEOUT_MS });
    void a.run();
    await clock.until(() => a.isLeader(), 1_000);
    // Someone else rewrote the Lease (an operator, a replica with a faster clock): our next renewal conflicts,
    // the read shows the new holder, and we stop at once rather than at the renew deadline.
    const current = lease()!;
    const res = await fetch(`${api.url}${LEASES_PATH}/${NAME}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...current, spec: { ...current.spec, holderIdentity: 'intruder' } }),
    });
    expect(res.status).toBe(200);
    // At its next renewal, not at the renew deadline.
    const took = await clock.until(() => !a.isLeader(), 5_000);
    expect(took).toBeLessThanOrEqual(RETRY_MS + 5);
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
