// sync-routes end to end against Azure's real semantics (issue 9): a write that failed is never trusted later,
// an Updating table is waited on, no node captures another's traffic, conditions keep their transition time,
// and one route Azure refuses blocks only its own node. Each test runs the real CLI against the simulator and
// the fake Kubernetes API server, as a user would.
import { afterEach, describe, expect, it } from 'vitest';
import type { SimpleRoute } from '../../src/simulator/azure.ts';
import { describeRun, expectExit, parseReport } from '../support/cli.ts';
import {
  FIREWALL_ROUTE,
  RESOURCE_GROUP,
  SUBSCRIPTION,
  TABLE,
  routeFor,
  routeName,
  startSandbox,
  worker,
  workers,
  type Sandbox,
} from '../support/sandbox.ts';

let sb: Sandbox | undefined;
afterEach(async () => {
  await sb?.close();
  sb = undefined;
});

const API_VERSION = '2024-05-01';
const tablePath = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${RESOURCE_GROUP}/providers/Microsoft.Network/routeTables/${TABLE}`;

const tableState = (s: Sandbox) =>
  (s.table()?.['properties'] as { provisioningState?: string } | undefined)?.provisioningState;
const tablePuts = (s: Sandbox) =>
  s.sim.requests.filter((r) => r.method === 'PUT' && r.operation === 'RouteTables_CreateOrUpdate');
const tableGets = (s: Sandbox) => s.sim.requests.filter((r) => r.operation === 'RouteTables_Get');
const statusPatches = (s: Sandbox) =>
  s.kube.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/status'));

/**
 * Another writer's whole-table PUT (a replica that died, an operator's script), sent straight to the simulator:
 * Azure stores its body at once and the table reads Updating until its operation ends. Nobody polls the
 * operation here, so it runs until the test settles it.
 */
async function foreignPut(s: Sandbox, routes: readonly SimpleRoute[]): Promise<void> {
  const body = {
    location: 'westeurope',
    properties: {
      routes: routes.map((r) => ({
        name: r.name,
        properties: {
          addressPrefix: r.addressPrefix,
          nextHopType: r.nextHopType,
          ...(r.nextHopIpAddress ? { nextHopIpAddress: r.nextHopIpAddress } : {}),
        },
      })),
    },
  };
  const response = await fetch(`${s.sim.url}${tablePath}?api-version=${API_VERSION}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: 'Bearer test' },
    body: JSON.stringify(body),
  });
  expect(response.status, await response.text()).toBeLessThan(300);
}

describe('a write whose operation ended Failed', () => {
  it('is re-driven with a guarded PUT on the next sync, and only then are the nodes RouteCreated', async () => {
    const nodes = workers(3);
    sb = await startSandbox({ nodes, table: { routes: [FIREWALL_ROUTE] } });
    sb.sim.faults.add({ kind: 'lroFailed', match: { operation: 'RouteTables_CreateOrUpdate' }, times: 1 });

    const failed = await sb.syncRoutes(['--output', 'json', '--log-level', 'silent']);
    expectExit(failed, 1);
    expect(parseReport(failed).tables[0]).toMatchObject({ status: 'Failed', writes: 0 });
    // Azure kept the goal state: the routes are there, but the table reads Failed.
    expect(tableState(sb)).toBe('Failed');
    for (const n of nodes) expect(sb.routes()).toContainEqual(routeFor(n));
    for (const n of nodes) {
      expect(sb.networkUnavailable(n.name), n.name).toMatchObject({
        status: 'True',
        reason: 'NoRouteCreated',
      });
    }

    const again = await sb.syncRoutes(['--output', 'json', '--log-level', 'silent']);
    expectExit(again, 0);
    const report = parseReport(again);
    // Every route reads as wanted, yet the table is written again, If-Match guarded, and only then trusted.
    expect(report.tables[0]).toMatchObject({
      status: 'Applied',
      redrive: true,
      writes: 1,
      provisioningStateRead: 'Failed',
      provisioningState: 'Succeeded',
    });
    expect(report.tables[0]!.actions.create).toEqual([]);
    expect(report.tables[0]!.actions.keep).toHaveLength(3);
    expect(report.summary).toMatchObject({ redrives: 1, writes: 1 });
    expect(tablePuts(sb)).toHaveLength(1);
    expect(tablePuts(sb)[0]!.ifMatch).toMatch(/^W\/"/);
    expect(tableState(sb)).toBe('Succeeded');
    expect(sb.routes()).toContainEqual(FIREWALL_ROUTE);
    for (const n of nodes) {
      expect(sb.networkUnavailable(n.name), n.name).toMatchObject({
        status: 'False',
        reason: 'RouteCreated',
      });
    }

    // Settled: the third sync writes nothing.
    const third = await sb.syncRoutes();
    expectExit(third, 0);
    expect(sb.azureWrites()).toEqual([]);
  });

  it('a table found Failed with every route already in it: a dry run says it would re-drive; a sync re-drives it', async () => {
    const nodes = workers(2);
    sb = await startSandbox({ nodes, table: { routes: [] } });
    // Someone's write of exactly our routes ended Failed before we ever ran.
    sb.sim.faults.add({ kind: 'lroFailed', match: { operation: 'RouteTables_CreateOrUpdate' }, times: 1 });
    await foreignPut(sb, nodes.map(routeFor));
    sb.sim.settle();
    expect(tableState(sb)).toBe('Failed');

    const dry = await sb.syncRoutes(['--dry-run']);
    expectExit(dry, 3);
    expect(sb.azureWrites()).toEqual([]);
    expect(sb.kubeWrites()).toEqual([]);
    expect(dry.stdout).toMatch(/re-drive: the table read Failed/);
    expect(dry.stdout).toMatch(/keep \(Failed\)/);

    const result = await sb.syncRoutes(['--output', 'json', '--log-level', 'silent']);
    expectExit(result, 0);
    expect(parseReport(result).tables[0]).toMatchObject({ status: 'Applied', redrive: true, writes: 1 });
    expect(tablePuts(sb)).toHaveLength(1);
    expect(tableState(sb)).toBe('Succeeded');
    for (const n of nodes) {
      expect(sb.networkUnavailable(n.name), n.name).toMatchObject({
        status: 'False',
        reason: 'RouteCreated',
      });
    }
  });
});

describe('a table found Updating', () => {
  it('is waited on and read again; no node is marked RouteCreated while it is Updating', async () => {
    const nodes = workers(2);
    // The simulator's clock doubles as a hook: when the CLI's second table GET arrives, the other writer's
    // operation is settled first, so the first GET is sure to see Updating and the second to see it done.
    let ready = false;
    let patchesWhileUpdating: number | undefined;
    let box: Sandbox | undefined;
    const now = () => {
      if (ready && box && patchesWhileUpdating === undefined) {
        const answered = tableGets(box).filter((r) => r.status === 200).length;
        if (answered >= 1) {
          patchesWhileUpdating = statusPatches(box).length;
          box.sim.settle();
        }
      }
      return Date.now();
    };
    sb = box = await startSandbox({ nodes, table: { routes: [] }, simulator: { now } });
    await foreignPut(sb, nodes.map(routeFor));
    expect(tableState(sb)).toBe('Updating');
    sb.sim.resetLog();
    sb.kube.resetLog();
    ready = true;

    const result = await sb.syncRoutes(['--output', 'json', '--log-level', 'silent']);
    expectExit(result, 0);
    expect(patchesWhileUpdating, 'the table was read again after the first read found it Updating').toBe(0);
    expect(tableGets(sb).length).toBeGreaterThanOrEqual(2);
    expect(tableState(sb)).toBe('Succeeded');
    for (const n of nodes) {
      expect(sb.networkUnavailable(n.name), n.name).toMatchObject({
        status: 'False',
        reason: 'RouteCreated',
      });
    }
  });
});

describe('no captured traffic', () => {
  it('a /25 nested in an older node’s /24 is refused for the newer node; the older node is routed', async () => {
    const older = worker(0);
    const newer = worker(1, { podCIDRs: ['10.200.0.128/25'] });
    sb = await startSandbox({ nodes: [older, newer] });

    const result = await sb.syncRoutes(['--output', 'json', '--log-level', 'silent']);
    expectExit(result, 1);
    const report = parseReport(result);
    expect(report.skipped).toMatchObject([
      {
        node: 'worker-1',
        cidr: '10.200.0.128/25',
        reason: 'OverlappingPodCIDR',
        message: expect.any(String),
      },
    ]);
    expect(sb.routes()).toEqual([routeFor(older)]);
    expect(sb.networkUnavailable('worker-0')).toMatchObject({ status: 'False', reason: 'RouteCreated' });
    const condition = sb.networkUnavailable('worker-1');
    expect(condition).toMatchObject({ status: 'True', reason: 'NoRouteCreated' });
    expect(condition?.message).toContain('10.200.0.128/25');
    expect(sb.warningEvents('worker-1')).toHaveLength(1);
    expect(sb.warningEvents('worker-1')[0]!.message).toBe(condition?.message);
    expect(sb.warningEvents('worker-0')).toEqual([]);
  });

  it('the route already in place stands: an older node’s /24 over a newer node’s working /25 is refused', async () => {
    const older = worker(0);
    const newer = worker(1, { podCIDRs: ['10.200.0.128/25'] });
    const standing = {
      name: routeName('worker-1', '10.200.0.128/25'),
      addressPrefix: '10.200.0.128/25',
      nextHopType: 'VirtualAppliance',
      nextHopIpAddress: newer.internalIPs![0]!,
    };
    sb = await startSandbox({ nodes: [older, newer], table: { routes: [standing] } });

    const result = await sb.syncRoutes(['--output', 'json', '--log-level', 'silent']);
    expectExit(result, 1);
    expect(parseReport(result).skipped).toMatchObject([{ node: 'worker-0', reason: 'OverlappingPodCIDR' }]);
    expect(sb.routes()).toEqual([standing]);
    expect(sb.azureWrites()).toEqual([]);
    expect(sb.networkUnavailable('worker-1')).toMatchObject({ status: 'False', reason: 'RouteCreated' });
    expect(sb.networkUnavailable('worker-0')).toMatchObject({ status: 'True', reason: 'NoRouteCreated' });
    expect(sb.warningEvents('worker-0')).toHaveLength(1);
  });

  it('with two tables, the first table’s standing route decides for both: no subnet routes a prefix elsewhere', async () => {
    const older = worker(0);
    const newer = worker(1, { podCIDRs: ['10.200.0.128/25'] });
    const standing = {
      name: routeName('worker-1', '10.200.0.128/25'),
      addressPrefix: '10.200.0.128/25',
      nextHopType: 'VirtualAppliance',
      nextHopIpAddress: newer.internalIPs![0]!,
    };
    sb = await startSandbox({ nodes: [older, newer], table: { routes: [standing] } });
    sb.sim.putTable(SUBSCRIPTION, RESOURCE_GROUP, 'pods-b', { location: 'westeurope', routes: [] });

    const result = await sb.syncRoutes(['--output', 'json', '--log-level', 'silent'], {
      routeTables: [TABLE, 'pods-b'],
    });
    expectExit(result, 1);
    expect(parseReport(result).skipped).toMatchObject([{ node: 'worker-0', reason: 'OverlappingPodCIDR' }]);
    expect(sb.routes()).toEqual([standing]);
    expect(sb.routes('pods-b')).toEqual([standing]);
    expect(sb.networkUnavailable('worker-1')).toMatchObject({ status: 'False', reason: 'RouteCreated' });
    expect(sb.networkUnavailable('worker-0')).toMatchObject({ status: 'True', reason: 'NoRouteCreated' });
  });

  it('a pod CIDR equal to the cluster range is refused (CoversClusterCIDR), whatever the mask size allows', async () => {
    const greedy = { ...worker(1, { podCIDRs: ['10.200.0.0/16'] }), name: 'greedy' };
    sb = await startSandbox({ nodes: [worker(0), greedy] });

    const result = await sb.syncRoutes(['--output', 'json', '--node-cidr-mask-size-ipv4', '16']);
    expectExit(result, 1);
    expect(parseReport(result).skipped).toMatchObject([
      { node: 'greedy', cidr: '10.200.0.0/16', reason: 'CoversClusterCIDR' },
    ]);
    expect(sb.routes()).toEqual([routeFor(worker(0))]);
    expect(sb.networkUnavailable('greedy')).toMatchObject({ status: 'True', reason: 'NoRouteCreated' });
    expect(sb.warningEvents('greedy')).toHaveLength(1);
    expect(sb.networkUnavailable('worker-0')).toMatchObject({ status: 'False', reason: 'RouteCreated' });
  });

  it('a pod CIDR broader than --node-cidr-mask-size-ipv4 (default 24) is refused (PrefixTooBroad)', async () => {
    sb = await startSandbox({ nodes: [worker(0), worker(2, { podCIDRs: ['10.200.2.0/23'] })] });

    const result = await sb.syncRoutes(['--output', 'json']);
    expectExit(result, 1);
    expect(parseReport(result).skipped).toMatchObject([
      { node: 'worker-2', cidr: '10.200.2.0/23', reason: 'PrefixTooBroad' },
    ]);
    expect(sb.routes()).toEqual([routeFor(worker(0))]);
    expect(sb.networkUnavailable('worker-2')).toMatchObject({ status: 'True', reason: 'NoRouteCreated' });
    expect(sb.warningEvents('worker-2')).toHaveLength(1);
  });
});

describe('condition semantics', () => {
  const T0 = '2024-01-01T00:00:00Z';

  it('False/CalicoIsUp becomes False/RouteCreated and keeps its lastTransitionTime', async () => {
    const node = worker(0, {
      conditions: [
        {
          type: 'NetworkUnavailable',
          status: 'False',
          reason: 'CalicoIsUp',
          message: 'Calico is running on this node',
          lastTransitionTime: T0,
        },
      ],
    });
    sb = await startSandbox({ nodes: [node], table: { routes: [routeFor(node)] } });

    expectExit(await sb.syncRoutes(), 0);
    expect(sb.networkUnavailable('worker-0')).toMatchObject({
      status: 'False',
      reason: 'RouteCreated',
      message: 'RouteController created a route',
      lastTransitionTime: T0,
    });
  });

  it('a node True with an old message gets the new one and keeps its lastTransitionTime', async () => {
    // A lasting problem of the node's own: its pod CIDR lies outside --cluster-cidr.
    const node = worker(1, {
      podCIDRs: ['10.99.1.0/24'],
      conditions: [
        {
          type: 'NetworkUnavailable',
          status: 'True',
          reason: 'NoRouteCreated',
          message: 'an old problem that no longer applies',
          lastTransitionTime: T0,
        },
      ],
    });
    sb = await startSandbox({ nodes: [worker(0), node] });

    const result = await sb.syncRoutes();
    expectExit(result, 1);
    const condition = sb.networkUnavailable('worker-1');
    expect(condition, describeRun(result)).toMatchObject({
      status: 'True',
      reason: 'NoRouteCreated',
      lastTransitionTime: T0,
    });
    expect(condition?.message).toContain('10.99.1.0/24');
    expect(condition?.message).not.toContain('an old problem');
    // The node that changed status gets a new transition time.
    const routed = sb.networkUnavailable('worker-0') as { lastTransitionTime?: string } | undefined;
    expect(routed).toMatchObject({ status: 'False', reason: 'RouteCreated' });
    expect(routed?.lastTransitionTime).not.toBe(T0);
  });
});

describe('a route Azure refuses', () => {
  it('is set aside: every other node gets its route in the same sync; the refused node is told why; bounded', async () => {
    const nodes = workers(4);
    const refused = nodes[2]!;
    // The simulator answers as Azure does, naming the route by its resource id.
    const azureMessage = `The next hop IP address '${refused.internalIPs![0]!}' of resource`;
    sb = await startSandbox({ nodes, table: { routes: [FIREWALL_ROUTE] } });
    sb.sim.faults.add({ kind: 'refuseRoute', prefix: refused.podCIDRs![0]! });

    const result = await sb.syncRoutes(['--output', 'json', '--log-level', 'silent']);
    expectExit(result, 1);
    const report = parseReport(result);
    expect(report.tables[0]!.rejected).toMatchObject([
      {
        node: refused.name,
        addressPrefix: refused.podCIDRs![0]!,
        message: expect.stringContaining(azureMessage),
      },
    ]);
    expect(report.summary.rejected).toBe(1);
    // The rest of the table went in with the same sync.
    for (const n of nodes.filter((x) => x !== refused)) {
      expect(sb.routes()).toContainEqual(routeFor(n));
      expect(sb.networkUnavailable(n.name), n.name).toMatchObject({
        status: 'False',
        reason: 'RouteCreated',
      });
    }
    expect(sb.routes()).toContainEqual(FIREWALL_ROUTE);
    expect(sb.routes().some((r) => r.addressPrefix === refused.podCIDRs![0])).toBe(false);
    expect(tableState(sb)).toBe('Succeeded');
    const condition = sb.networkUnavailable(refused.name);
    expect(condition).toMatchObject({ status: 'True', reason: 'NoRouteCreated' });
    expect(condition?.message).toContain(azureMessage);
    const events = sb.warningEvents(refused.name);
    expect(events).toHaveLength(1);
    expect(events[0]!.message).toContain(azureMessage);
    expect(sb.warningEvents().filter((e) => e.involvedObject.name !== refused.name)).toEqual([]);

    // The text output names it too.
    const text = await sb.syncRoutes();
    expectExit(text, 1);
    expect(text.stdout).toMatch(
      new RegExp(`rejected\\s+-\\s+10\\.200\\.2\\.0/24\\s+refused by Azure\\s+${refused.name}`),
    );
    expect(text.stdout).toContain(azureMessage);

    // Bounded: a later sync tries the refused route once, and writes nothing else.
    const again = await sb.syncRoutes(['--output', 'json', '--log-level', 'silent']);
    expectExit(again, 1);
    expect(tablePuts(sb).length).toBeLessThanOrEqual(2);
    expect(tablePuts(sb).filter((p) => p.status >= 200 && p.status < 300)).toEqual([]);
    expect(sb.routes()).toHaveLength(nodes.length);
  });

  it('a 400 that names no route still fails the whole table, as before', async () => {
    const nodes = workers(2);
    sb = await startSandbox({ nodes });
    sb.sim.faults.add({
      kind: 'refuseRoute',
      prefix: nodes[1]!.podCIDRs![0]!,
      message: 'The request is invalid.',
    });

    const result = await sb.syncRoutes(['--output', 'json', '--log-level', 'silent']);
    expectExit(result, 1);
    const report = parseReport(result);
    expect(report.tables[0]).toMatchObject({ status: 'Failed', rejected: [], writes: 0 });
    expect(sb.routes()).toEqual([]);
    for (const n of nodes) {
      expect(sb.networkUnavailable(n.name), n.name).toMatchObject({
        status: 'True',
        reason: 'NoRouteCreated',
      });
    }
  });
});
