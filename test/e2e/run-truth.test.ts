// `run` end to end against Azure's real semantics (issue 9): a write whose operation ended Failed, or whose
// writer was killed mid-operation, is re-driven before any node is told its route is there; and
// FailedToCreateRoute follows a node's problem with or without --no-node-conditions.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseMetrics, startTestController, type TestController } from '../support/controller.ts';
import { startReplica, type CliProcess } from '../support/process.ts';
import {
  FIREWALL_ROUTE,
  RESOURCE_GROUP,
  TABLE,
  routeFor,
  startSandbox,
  worker,
  workers,
  type Sandbox,
} from '../support/sandbox.ts';

let sandbox: Sandbox | undefined;
let controller: TestController | undefined;
const processes: CliProcess[] = [];

afterEach(async () => {
  for (const p of processes.splice(0)) {
    p.kill('SIGKILL');
    await p.exited;
  }
  await controller?.stop();
  await sandbox?.close();
  controller = sandbox = undefined;
});

const waitFor = <T>(fn: () => T, timeout = 20_000) => vi.waitFor(fn, { timeout, interval: 25 });
const tableState = (s: Sandbox) =>
  (s.table()?.['properties'] as { provisioningState?: string } | undefined)?.provisioningState;
const tablePuts = (s: Sandbox) =>
  s.sim.requests.filter((r) => r.method === 'PUT' && r.operation === 'RouteTables_CreateOrUpdate');

describe('run: a write whose operation ended Failed', () => {
  it('is re-driven on the retry; nodes are NoRouteCreated until the table reads Succeeded', async () => {
    const nodes = workers(3);
    const sb = (sandbox = await startSandbox({ nodes, table: { routes: [FIREWALL_ROUTE] } }));
    sb.sim.faults.add({ kind: 'lroFailed', match: { operation: 'RouteTables_CreateOrUpdate' }, times: 1 });
    // Record each node's condition the moment a table write is accepted: what the nodes were told before it.
    const toldBeforeWrite: (string | undefined)[] = [];
    sb.sim.onBeforeWrite(() => {
      toldBeforeWrite.push(...nodes.map((n) => sb.networkUnavailable(n.name)?.reason));
    });
    const c = (controller = await startTestController(sb, { backoffBase: '100ms', backoffMax: '500ms' }));
    const redrives = async () =>
      parseMetrics(await c.metrics.registry.metrics()).find(
        (m) =>
          m.name === 'azure_route_controller_route_table_redrives_total' &&
          m.labels['route_table'] === `${RESOURCE_GROUP}/${TABLE}`,
      )?.value;

    await waitFor(async () => {
      expect(tableState(sb)).toBe('Succeeded');
      for (const n of nodes) expect(sb.networkUnavailable(n.name)?.reason).toBe('RouteCreated');
      expect(await redrives()).toBe(1);
    });
    const puts = tablePuts(sb);
    expect(puts.length).toBeGreaterThanOrEqual(2);
    // Before the re-drive, no node had been told RouteCreated (the failed write's routes were in the table).
    expect(toldBeforeWrite).not.toContain('RouteCreated');
    for (const n of nodes) expect(sb.routes()).toContainEqual(routeFor(n));
    expect(sb.routes()).toContainEqual(FIREWALL_ROUTE);
  });

  it('a replica SIGKILLed mid-operation and started again re-drives the table it left behind', async () => {
    const nodes = workers(2);
    const sb = (sandbox = await startSandbox({ nodes, table: { routes: [] } }));
    // The first write's operation is never seen to end by its writer: its first status poll hangs until the
    // process is killed. The operation then ends Failed (as one interrupted by, say, a platform update can).
    sb.sim.faults.add({ kind: 'lroFailed', match: { operation: 'RouteTables_CreateOrUpdate' }, times: 1 });
    sb.sim.faults.add({ kind: 'latency', ms: 60_000, match: { operation: 'Operations_Get' }, times: 1 });

    const first = startReplica(sb, 'replica-a');
    processes.push(first);
    await waitFor(() => expect(sb.sim.requests.some((r) => r.operation === 'Operations_Get')).toBe(true));
    first.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    sb.sim.settle();
    expect(tableState(sb)).toBe('Failed');
    for (const n of nodes) expect(sb.routes()).toContainEqual(routeFor(n));
    expect(nodes.map((n) => sb.networkUnavailable(n.name)?.reason)).not.toContain('RouteCreated');

    sb.sim.resetLog();
    const second = startReplica(sb, 'replica-a');
    processes.push(second);
    await waitFor(() => {
      expect(tableState(sb)).toBe('Succeeded');
      for (const n of nodes) expect(sb.networkUnavailable(n.name)?.reason).toBe('RouteCreated');
    });
    expect(tablePuts(sb).length).toBeGreaterThanOrEqual(1);
  });
});

describe('run: FailedToCreateRoute follows the node’s problem', () => {
  it('with --no-node-conditions: one event per problem, none repeated on resync, a new one when it changes', async () => {
    // A lasting problem of the node's own: its pod CIDR lies outside --cluster-cidr.
    const nodes = [worker(0), worker(1, { podCIDRs: ['10.99.1.0/24'] })];
    const sb = (sandbox = await startSandbox({ nodes }));
    const c = (controller = await startTestController(sb, { nodeConditions: false, resyncPeriod: '1s' }));
    const reconciled = () => c.logs.filter((l) => l['msg'] === 'reconciled').length;

    await waitFor(() => expect(sb.warningEvents('worker-1')).toHaveLength(1));
    expect(sb.warningEvents('worker-1')[0]!.message).toContain('10.99.1.0/24');
    // Resyncs see the same problem: no new event.
    const seen = reconciled();
    await waitFor(() => expect(reconciled()).toBeGreaterThanOrEqual(seen + 2));
    expect(sb.warningEvents('worker-1')).toHaveLength(1);

    // The problem changes (another pod CIDR, outside the range too): a new event says so.
    sb.kube.updateNode('worker-1', (n) => {
      n.spec = { ...n.spec, podCIDR: '10.99.2.0/24', podCIDRs: ['10.99.2.0/24'] };
    });
    await waitFor(() => expect(sb.warningEvents('worker-1')).toHaveLength(2));
    expect(sb.warningEvents('worker-1')[1]!.message).toContain('10.99.2.0/24');
    expect(sb.warningEvents('worker-0')).toEqual([]);
    expect(sb.routes()).toEqual([routeFor(nodes[0]!)]);
    // Conditions are not ours to manage here.
    expect(sb.networkUnavailable('worker-0')).toBeUndefined();
    expect(sb.networkUnavailable('worker-1')).toBeUndefined();
  });
});
