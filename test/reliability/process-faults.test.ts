// The fault matrix, process side: `run` as real processes, killed in the middle of a route table write.
// The simulator's onBeforeWrite hook holds the PUT at Azure's door, so "in the middle of a write" is exact:
// the request has left the controller and Azure has not yet evaluated it.
//
// The simulator completes an operation on its first status read (lroPolls 0), as Azure completes one whether or
// not its client is still polling.
import { afterEach, describe, expect, it } from 'vitest';
import { LEASE_NAMESPACE, startReplica as launchReplica, type CliProcess } from '../support/process.ts';
import { routeFor, startSandbox, worker, workers, type Sandbox } from '../support/sandbox.ts';
import { FOREIGN_ROUTES, isRouteCreated, waitFor } from './support.ts';

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

const holder = (sb: Sandbox) => sb.kube.getLease(LEASE_NAMESPACE, LEASE)?.spec?.holderIdentity;

/** Holds the next PUT of a route table at the simulator's door until release() is called. */
function holdNextPut(sb: Sandbox) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let held = false;
  let heldResolve!: () => void;
  const heldNow = new Promise<void>((resolve) => (heldResolve = resolve));
  const unhook = sb.sim.onBeforeWrite(async (w) => {
    if (w.method !== 'PUT' || held) return;
    held = true;
    heldResolve();
    await gate;
  });
  return { held: heldNow, release, unhook };
}

async function converged(sb: Sandbox, count: number): Promise<void> {
  await waitFor(() => {
    for (let i = 0; i < count; i++) {
      expect(sb.routes()).toContainEqual(routeFor(worker(i)));
      expect(isRouteCreated(sb, `worker-${i}`), `worker-${i}`).toBe(true);
    }
  }, 20_000);
}

function sandboxWithForeignRoutes() {
  return startSandbox({
    nodes: workers(3),
    table: { routes: [...FOREIGN_ROUTES] },
    simulator: { lroPolls: 0 },
  });
}

describe('fault matrix: processes', () => {
  it('the leader SIGKILLed in the middle of a write: the standby takes over, its write wins, the dead write is refused (412), nothing is lost', async () => {
    const sb = (sandbox = await sandboxWithForeignRoutes());
    const a = startReplica(sb, 'replica-a');
    const b = startReplica(sb, 'replica-b');
    await converged(sb, 3);
    await waitFor(() => expect(['replica-a', 'replica-b']).toContain(holder(sb)));
    const [leader, standby, standbyName] =
      holder(sb) === 'replica-a' ? [a, b, 'replica-b'] : [b, a, 'replica-a'];

    const put = holdNextPut(sb);
    sb.kube.addNode(worker(3));
    sb.kube.addNode(worker(4));
    await put.held;
    leader.kill('SIGKILL');
    expect(await leader.exited).toEqual({ code: null, signal: 'SIGKILL' });

    // The standby waits for the Lease to expire, then reads, plans and writes on its own.
    await waitFor(() => expect(holder(sb)).toBe(standbyName), 15_000);
    await converged(sb, 5);
    expect(standby.logs().some((l) => l['msg'] === 'route table written')).toBe(true);

    // Only now does Azure get to the dead leader's PUT: its If-Match names an etag the standby's write replaced.
    put.release();
    await waitFor(() =>
      expect(sb.sim.requests.filter((r) => r.method === 'PUT' && r.status === 412)).toHaveLength(1),
    );
    put.unhook();
    await converged(sb, 5);
    for (const r of FOREIGN_ROUTES) expect(sb.routes()).toContainEqual(r);
    expect(sb.routes()).toHaveLength(5 + FOREIGN_ROUTES.length);
    expect(standby.logs().filter((l) => (l['level'] as number) >= 60)).toEqual([]);
  });

  it('SIGTERM in the middle of a write that completes within the grace period: it finishes, then the Lease is released; exit 0', async () => {
    const sb = (sandbox = await sandboxWithForeignRoutes());
    const a = startReplica(sb, 'replica-a', ['--shutdown-grace-period', '10s']);
    await converged(sb, 3);

    const put = holdNextPut(sb);
    sb.kube.addNode(worker(3));
    await put.held;
    a.kill('SIGTERM');
    await waitFor(() => expect(a.logs().some((l) => l['msg'] === 'shutting down')).toBe(true));
    // Azure takes its time; the controller waits for it, inside the grace period.
    await new Promise((resolve) => setTimeout(resolve, 300));
    put.release();

    expect(await a.exited).toEqual({ code: 0, signal: null });
    const msgs = a.logs().map((l) => l['msg']);
    expect(msgs.lastIndexOf('route table written')).toBeGreaterThan(msgs.indexOf('shutting down'));
    expect(msgs.indexOf('released the lease')).toBeGreaterThan(msgs.lastIndexOf('route table written'));
    expect(holder(sb)).toBe('');
    // The write and the condition patch that follows it both completed before the exit.
    expect(sb.routes()).toContainEqual(routeFor(worker(3)));
    expect(isRouteCreated(sb, 'worker-3')).toBe(true);
    for (const r of FOREIGN_ROUTES) expect(sb.routes()).toContainEqual(r);
    put.unhook();
  });

  it('SIGTERM in the middle of a write that outlasts the grace period: abandoned safely, Lease released, exit 0; the next leader converges', async () => {
    const sb = (sandbox = await sandboxWithForeignRoutes());
    const a = startReplica(sb, 'replica-a', ['--shutdown-grace-period', '300ms']);
    await converged(sb, 3);

    const put = holdNextPut(sb);
    sb.kube.addNode(worker(3));
    await put.held;
    const written = a.logs().filter((l) => l['msg'] === 'route table written').length;
    a.kill('SIGTERM');
    // It exits while Azure still holds the PUT.
    expect(await a.exited).toEqual({ code: 0, signal: null });
    const logs = a.logs();
    expect(logs).toContainEqual(expect.objectContaining({ msg: 'released the lease' }));
    expect(holder(sb)).toBe('');
    expect(logs.find((l) => l['msg'] === 'route table sync failed')).toMatchObject({
      kind: 'Aborted',
      err: expect.stringContaining(
        'was cancelled (shutting down); a write already sent may still complete in Azure',
      ),
    });
    expect(logs.filter((l) => l['msg'] === 'route table written')).toHaveLength(written);
    // It did not claim the route, and, having stopped, it wrote nothing more to Kubernetes either: the node's
    // condition is left for the next leader.
    expect(isRouteCreated(sb, 'worker-3')).toBe(false);
    expect(
      sb.kube.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/worker-3/status')),
    ).toEqual([]);

    // Azure now evaluates the abandoned PUT (nobody else wrote, so it applies), and a new leader takes over.
    put.release();
    put.unhook();
    startReplica(sb, 'replica-b');
    await converged(sb, 4);
    for (const r of FOREIGN_ROUTES) expect(sb.routes()).toContainEqual(r);
    expect(sb.routes()).toHaveLength(4 + FOREIGN_ROUTES.length);
    await waitFor(() => expect(isRouteCreated(sb, 'worker-3')).toBe(true));
  });
});
