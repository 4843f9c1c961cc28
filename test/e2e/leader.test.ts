// Two `run` replicas as real processes: exactly one writes; SIGKILL of the leader hands over after the lease
// duration; SIGTERM releases the Lease so the standby takes over in about a retry period.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { routeFor, startSandbox, worker, workers, type Sandbox } from '../support/sandbox.ts';
import { LEASE_NAMESPACE, startReplica as launchReplica, type CliProcess } from '../support/process.ts';

const LEASE = 'azure-route-controller';
let sandbox: Sandbox | undefined;
const replicas: CliProcess[] = [];

afterEach(async () => {
  for (const r of replicas) r.kill('SIGKILL');
  await Promise.all(replicas.map((r) => r.exited));
  replicas.length = 0;
  await sandbox?.close();
  sandbox = undefined;
});

function startReplica(sb: Sandbox, identity: string, extra: readonly string[] = []): CliProcess {
  const p = launchReplica(sb, identity, extra);
  replicas.push(p);
  return p;
}

const holder = (sb: Sandbox) => sb.kube.getLease(LEASE_NAMESPACE, LEASE)?.spec?.holderIdentity ?? '';
const writesBy = (p: CliProcess) => p.logs().filter((l) => l['msg'] === 'route table written').length;
const waitFor = <T>(fn: () => T, timeout = 15_000) => vi.waitFor(fn, { timeout, interval: 25 });

describe('run with leader election (two replicas)', () => {
  it('exactly one replica writes; SIGKILL of the leader hands over after the lease duration, not before', async () => {
    const sb = (sandbox = await startSandbox({ nodes: workers(3) }));
    const a = startReplica(sb, 'replica-a');
    const b = startReplica(sb, 'replica-b');
    await waitFor(() => expect(sb.routes()).toHaveLength(3));
    await waitFor(() => expect(['replica-a', 'replica-b']).toContain(holder(sb)));
    const [leader, standby] = holder(sb) === 'replica-a' ? [a, b] : [b, a];
    const standbyName = leader === a ? 'replica-b' : 'replica-a';

    sb.kube.addNode(worker(3));
    await waitFor(() => expect(sb.routes()).toContainEqual(routeFor(worker(3))));
    await waitFor(() => expect(writesBy(leader)).toBe(2));
    expect(writesBy(standby)).toBe(0);
    expect(sb.sim.requests.filter((r) => r.method === 'PUT' && r.status === 412)).toEqual([]);

    leader.kill('SIGKILL');
    const killedAt = Date.now();
    await leader.exited;
    sb.kube.addNode(worker(4));
    await waitFor(() => expect(holder(sb)).toBe(standbyName));
    const tookOverAfter = Date.now() - killedAt;
    await waitFor(() => expect(sb.routes()).toContainEqual(routeFor(worker(4))));
    // The Lease was not released, so the standby must wait for it to expire (2 s from its last observed
    // renewal, which was at most one retry period before the kill).
    expect(tookOverAfter).toBeGreaterThanOrEqual(1_500);
    await waitFor(() => expect(writesBy(standby)).toBeGreaterThanOrEqual(1));
  });

  it('SIGTERM releases the Lease, exits 0, and the standby takes over within about a retry period', async () => {
    const sb = (sandbox = await startSandbox({ nodes: workers(2) }));
    const a = startReplica(sb, 'replica-a');
    await waitFor(() => expect(holder(sb)).toBe('replica-a'));
    await waitFor(() => expect(sb.routes()).toHaveLength(2));
    const b = startReplica(sb, 'replica-b');
    await waitFor(() => expect(b.logs().some((l) => l['msg'] === 'campaigning for the lease')).toBe(true));

    a.kill('SIGTERM');
    const exit = await a.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(a.logs().some((l) => l['msg'] === 'released the lease')).toBe(true);
    await waitFor(() => expect(holder(sb)).toBe('replica-b'));
    // The standby took the released Lease at once rather than waiting for it to expire: after the release
    // (a is gone, so every later Lease request is b's), its first read or the one after it was followed by
    // the takeover. Waiting out even the released record's 1 s duration would take at least three reads at
    // b's 250-550 ms retry period. Counted in the fake API server's request log, not by the wall clock.
    const leaseRequests = sb.kube.requests.filter((r) => r.path.includes('/leases'));
    const spec = (r: (typeof leaseRequests)[number]) =>
      (r.body as { spec?: { holderIdentity?: string } } | undefined)?.spec;
    const release = leaseRequests.findIndex((r) => r.method === 'PUT' && spec(r)?.holderIdentity === '');
    const takeover = leaseRequests.findIndex(
      (r, i) =>
        i > release && r.method === 'PUT' && spec(r)?.holderIdentity === 'replica-b' && r.status === 200,
    );
    expect(release).toBeGreaterThanOrEqual(0);
    expect(takeover).toBeGreaterThan(release);
    const readsBetween = leaseRequests.slice(release + 1, takeover).filter((r) => r.method === 'GET');
    expect(readsBetween.length).toBeLessThanOrEqual(2);
    expect(sb.kube.getLease(LEASE_NAMESPACE, LEASE)?.spec?.leaseTransitions).toBeGreaterThanOrEqual(1);

    sb.kube.addNode(worker(2));
    await waitFor(() => expect(sb.routes()).toContainEqual(routeFor(worker(2))));
    await waitFor(() => expect(writesBy(b)).toBeGreaterThanOrEqual(1));
  });
});
