// End to end: --dry-run writes nothing anywhere, the documented JSON shape (README "JSON output"), and the
// NetworkUnavailable node condition (DESIGN 2.5).
import { afterEach, describe, expect, it } from 'vitest';
import type { SyncReport } from '../../src/controller/report.ts';
import type { SimpleRoute } from '../../src/simulator/azure.ts';
import { expectExit, parseReport } from '../support/cli.ts';
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

const ROUTE_ROW_KEYS = ['addressPrefix', 'name', 'nextHopIpAddress', 'nextHopType', 'node'];
const SUMMARY_KEYS: readonly (keyof SyncReport['summary'])[] = [
  'conflict',
  'create',
  'delete',
  'failedTables',
  'keep',
  'overLimit',
  'refused',
  'update',
  'writes',
];
const ACTION_KEYS: readonly (keyof SyncReport['tables'][number]['actions'])[] = [
  'create',
  'update',
  'delete',
  'keep',
  'conflict',
  'overLimit',
];

/**
 * The shape every report has, whatever happened (README "JSON output"). Fields may be added, never renamed, so
 * this checks that every documented field is there with its type, and tolerates new ones.
 */
function expectDocumentedShape(r: SyncReport): void {
  const has = (value: object, keys: readonly string[]) =>
    expect(Object.keys(value)).toEqual(expect.arrayContaining([...keys]));
  has(r, [
    'schemaVersion',
    'dryRun',
    'result',
    'exitCode',
    'nodes',
    'skipped',
    'tables',
    'conditions',
    'summary',
    'warnings',
    'durationMs',
  ]);
  expect(r.schemaVersion).toBe(1);
  expect(typeof r.dryRun).toBe('boolean');
  expect(['InSync', 'Applied', 'PendingChanges', 'Failed']).toContain(r.result);
  expect([0, 1, 3]).toContain(r.exitCode);
  expect(r.nodes).toEqual({ total: expect.any(Number), routable: expect.any(Number) });
  has(r.summary, SUMMARY_KEYS);
  for (const key of SUMMARY_KEYS) expect(Number.isInteger(r.summary[key]), key).toBe(true);
  expect(typeof r.durationMs).toBe('number');
  expect(Array.isArray(r.warnings)).toBe(true);
  for (const s of r.skipped) has(s, ['node', 'reason', 'message']);
  for (const t of r.tables) {
    expect(t).toMatchObject({
      id: `/subscriptions/${t.subscriptionId}/resourceGroups/${t.resourceGroup}/providers/Microsoft.Network/routeTables/${t.name}`,
      subscriptionId: expect.any(String),
      resourceGroup: expect.any(String),
      name: expect.any(String),
      created: expect.any(Boolean),
      writes: expect.any(Number),
      attempts: expect.any(Number),
      foreignRoutes: expect.any(Number),
      withheldDeletes: expect.any(Number),
      warnings: expect.any(Array),
    });
    expect(['InSync', 'Applied', 'WouldApply', 'NotFound', 'Failed']).toContain(t.status);
    has(t.actions, ACTION_KEYS);
    for (const key of ACTION_KEYS) expect(Array.isArray(t.actions[key]), key).toBe(true);
    for (const row of [...t.actions.create, ...t.actions.keep, ...t.actions.update]) has(row, ROUTE_ROW_KEYS);
    for (const row of t.actions.update) has(row.from, ['nextHopType']);
    for (const row of t.actions.conflict) has(row, ['node', 'addressPrefix', 'kind', 'existing']);
    if (t.status === 'Failed' || (t.status === 'NotFound' && !t.created)) {
      expect(t.error).toMatchObject({ kind: expect.any(String), message: expect.any(String) });
    } else {
      expect(t.error).toBeUndefined();
    }
  }
  for (const c of r.conditions) {
    expect(c).toMatchObject({ node: expect.any(String), message: expect.any(String) });
    expect(['True', 'False']).toContain(c.status);
    expect(['RouteCreated', 'NoRouteCreated']).toContain(c.reason);
    expect(['patched', 'unchanged', 'pending', 'failed', 'disabled']).toContain(c.result);
  }
}

describe('--dry-run', () => {
  it('with pending changes writes nothing anywhere and exits 3', async () => {
    const nodes = workers(3);
    const stale: SimpleRoute = { ...routeFor(worker(9)), name: routeName('worker-9', '10.200.9.0/24') };
    sb = await startSandbox({ nodes, table: { routes: [FIREWALL_ROUTE, routeFor(nodes[0]!), stale] } });
    const before = sb.table();

    const result = await sb.syncRoutes(['--dry-run']);
    expectExit(result, 3);
    // Azure: reads only. Kubernetes: reads only (no condition patch, no event).
    expect(sb.azureWrites()).toEqual([]);
    expect(sb.sim.requests.every((r) => r.method === 'GET')).toBe(true);
    expect(sb.kubeWrites()).toEqual([]);
    expect(sb.kube.requests.length).toBeGreaterThan(0);
    expect(sb.kube.events()).toEqual([]);
    expect(sb.table()).toEqual(before);
    for (const node of nodes) expect(sb.networkUnavailable(node.name), node.name).toBeUndefined();

    expect(result.stdout).toMatch(/create\s+worker-1____102001024/);
    expect(result.stdout).toMatch(/delete\s+worker-9____102009024/);
    expect(result.stdout).toContain('status: would apply (dry run)');
    expect(result.stdout).toContain('Node conditions (would set):');
    expect(result.stdout).toContain('Result: dry run: changes pending, nothing written (exit 3).');
  });

  it('in sync exits 0', async () => {
    const nodes = workers(2);
    sb = await startSandbox({
      nodes: nodes.map((n) => ({
        ...n,
        conditions: [{ type: 'NetworkUnavailable', status: 'False', reason: 'RouteCreated' }],
      })),
      table: { routes: nodes.map(routeFor) },
    });
    const result = await sb.syncRoutes(['--dry-run']);
    expectExit(result, 0);
    expect(sb.azureWrites()).toEqual([]);
    expect(sb.kubeWrites()).toEqual([]);
  });

  it('with a conflict exits 1, and still writes nothing: no patch, no event', async () => {
    const nodes = workers(2);
    // Outside --cluster-cidr, so foreign, but holding the name worker-1's route would get.
    const foreign: SimpleRoute = {
      name: routeName('worker-1', '10.200.1.0/24'),
      addressPrefix: '172.16.1.0/24',
      nextHopType: 'VirtualAppliance',
      nextHopIpAddress: '10.240.200.1',
    };
    sb = await startSandbox({ nodes, table: { routes: [foreign] } });
    const result = await sb.syncRoutes(['--dry-run', '--output', 'json']);
    expectExit(result, 1);
    expect(sb.azureWrites()).toEqual([]);
    expect(sb.kubeWrites()).toEqual([]);
    expect(sb.kube.events()).toEqual([]);
    const r = parseReport(result);
    expect(r.result).toBe('Failed');
    // Nothing is in place yet (worker-0's route is only planned); worker-1's message names the conflict.
    expect(r.conditions.map((c) => [c.node, c.reason, c.result])).toEqual([
      ['worker-0', 'NoRouteCreated', 'pending'],
      ['worker-1', 'NoRouteCreated', 'pending'],
    ]);
    expect(r.conditions[1]!.message).toContain(
      `its name ${foreign.name} is taken by a route for ${foreign.addressPrefix}`,
    );
  });
});

describe('--output json', () => {
  it('for an apply', async () => {
    const nodes = workers(3);
    const stale: SimpleRoute = { ...routeFor(worker(9)), name: routeName('worker-9', '10.200.9.0/24') };
    sb = await startSandbox({
      nodes: [...nodes, { name: 'worker-new' }],
      table: { routes: [FIREWALL_ROUTE, routeFor(nodes[0]!), stale] },
    });
    const result = await sb.syncRoutes(['--output', 'json']);
    expectExit(result, 0);
    const r = parseReport(result);
    expectDocumentedShape(r);
    expect(r).toMatchObject({
      schemaVersion: 1,
      dryRun: false,
      result: 'Applied',
      exitCode: 0,
      nodes: { total: 4, routable: 3 },
      summary: {
        create: 2,
        update: 0,
        delete: 1,
        keep: 1,
        conflict: 0,
        overLimit: 0,
        refused: 0,
        failedTables: 0,
        writes: 1,
      },
      warnings: [],
    });
    // A node without a pod CIDR yet is listed, but is not an error.
    expect(r.skipped).toMatchObject([
      { node: 'worker-new', reason: 'NoPodCIDR', message: expect.any(String) },
    ]);
    expect(r.tables).toHaveLength(1);
    const t = r.tables[0]!;
    expect(t).toMatchObject({
      id: `/subscriptions/${SUBSCRIPTION}/resourceGroups/${RESOURCE_GROUP}/providers/Microsoft.Network/routeTables/${TABLE}`,
      subscriptionId: SUBSCRIPTION,
      resourceGroup: RESOURCE_GROUP,
      name: TABLE,
      status: 'Applied',
      created: false,
      subnetCount: 1,
      etag: sb.table()!['etag'],
      writes: 1,
      attempts: 1,
      foreignRoutes: 1,
      withheldDeletes: 0,
      warnings: [],
    });
    // toMatchObject: the report may gain fields (README), but these rows are exactly these routes.
    expect(t.actions).toMatchObject({
      create: [1, 2].map((i) => ({ ...routeFor(nodes[i]!), node: `worker-${i}` })),
      update: [],
      delete: [stale],
      keep: [{ ...routeFor(nodes[0]!), node: 'worker-0' }],
      conflict: [],
      overLimit: [],
    });
    expect(r.conditions).toMatchObject(
      nodes.map((n) => ({
        node: n.name,
        status: 'False',
        reason: 'RouteCreated',
        message: 'RouteController created a route',
        result: 'patched',
      })),
    );
  });

  it('for a dry run', async () => {
    const nodes = workers(2);
    sb = await startSandbox({ nodes });
    const result = await sb.syncRoutes(['--output', 'json', '--dry-run']);
    expectExit(result, 3);
    const r = parseReport(result);
    expectDocumentedShape(r);
    expect(r).toMatchObject({
      dryRun: true,
      result: 'PendingChanges',
      exitCode: 3,
      summary: { create: 2, writes: 0, failedTables: 0 },
    });
    expect(r.tables[0]).toMatchObject({ status: 'WouldApply', writes: 0, created: false });
    expect(r.tables[0]!.actions.create.map((c) => c.node)).toEqual(['worker-0', 'worker-1']);
    expect(r.conditions.map((c) => [c.node, c.status, c.reason, c.result])).toEqual([
      ['worker-0', 'True', 'NoRouteCreated', 'pending'],
      ['worker-1', 'True', 'NoRouteCreated', 'pending'],
    ]);
  });

  it('for a failure (403 on the write)', async () => {
    const nodes = workers(2);
    sb = await startSandbox({ nodes });
    sb.sim.faults.add({ kind: 'forbidden', match: { method: 'PUT' } });
    const result = await sb.syncRoutes(['--output', 'json', '--log-level', 'silent']);
    expectExit(result, 1);
    const r = parseReport(result);
    expectDocumentedShape(r);
    expect(r).toMatchObject({
      result: 'Failed',
      exitCode: 1,
      summary: { create: 2, failedTables: 1, writes: 0 },
    });
    expect(r.tables[0]).toMatchObject({
      status: 'Failed',
      writes: 0,
      error: { kind: 'Forbidden', message: expect.stringContaining('Microsoft.Network/routeTables/write') },
    });
    expect(r.conditions.map((c) => [c.node, c.status, c.reason, c.result])).toEqual([
      ['worker-0', 'True', 'NoRouteCreated', 'patched'],
      ['worker-1', 'True', 'NoRouteCreated', 'patched'],
    ]);
    // stdout is the JSON alone; the error line goes to stderr.
    expect(result.stderr).toMatch(/^error: .*Microsoft\.Network\/routeTables\/write.*\n$/);
  });

  it('for a failure (a conflict with a foreign route)', async () => {
    const nodes = workers(2);
    // Outside --cluster-cidr, so foreign, but holding the name worker-1's route would get.
    const foreign: SimpleRoute = {
      name: routeName('worker-1', '10.200.1.0/24'),
      addressPrefix: '172.16.1.0/24',
      nextHopType: 'VirtualAppliance',
      nextHopIpAddress: '10.240.200.1',
    };
    sb = await startSandbox({ nodes, table: { routes: [foreign] } });
    const result = await sb.syncRoutes(['--output', 'json']);
    expectExit(result, 1);
    const r = parseReport(result);
    expectDocumentedShape(r);
    expect(r).toMatchObject({ result: 'Failed', summary: { create: 1, conflict: 1, writes: 1 } });
    expect(r.tables[0]!.actions.conflict).toMatchObject([
      {
        node: 'worker-1',
        addressPrefix: '10.200.1.0/24',
        kind: 'NameHeldByForeignRoute',
        existing: foreign,
      },
    ]);
    expect(r.tables[0]).toMatchObject({ status: 'Applied', foreignRoutes: 1 });
  });
});

describe('the NetworkUnavailable condition', () => {
  it("is set to False/RouteCreated over a CNI's False/CalicoIsUp, and left alone when already right", async () => {
    const nodes = workers(3);
    sb = await startSandbox({
      nodes: [
        {
          ...nodes[0]!,
          conditions: [
            {
              type: 'NetworkUnavailable',
              status: 'False',
              reason: 'CalicoIsUp',
              message: 'Calico is running on this node',
            },
          ],
        },
        {
          ...nodes[1]!,
          conditions: [
            {
              type: 'NetworkUnavailable',
              status: 'False',
              reason: 'RouteCreated',
              message: 'RouteController created a route',
            },
          ],
        },
        {
          ...nodes[2]!,
          conditions: [{ type: 'NetworkUnavailable', status: 'True', reason: 'NoRouteCreated' }],
        },
      ],
      table: { routes: nodes.map(routeFor) },
    });
    const result = await sb.syncRoutes(['--output', 'json']);
    expectExit(result, 0);
    // The table was already right: no Azure write, but two condition patches.
    expect(sb.azureWrites()).toEqual([]);
    expect(
      sb
        .kubeWrites()
        .map((w) => `${w.method} ${w.path}`)
        .sort(),
    ).toEqual(['PATCH /api/v1/nodes/worker-0/status', 'PATCH /api/v1/nodes/worker-2/status']);
    for (const node of nodes) {
      expect(sb.networkUnavailable(node.name), node.name).toMatchObject({
        status: 'False',
        reason: 'RouteCreated',
        message: 'RouteController created a route',
      });
    }
    // The patch merges by type: the kubelet's conditions are still there.
    expect(sb.kube.getNode('worker-0')!.status!.conditions!.map((c) => c.type)).toContain('Ready');
    expect(parseReport(result).conditions.map((c) => [c.node, c.result])).toEqual([
      ['worker-0', 'patched'],
      ['worker-1', 'unchanged'],
      ['worker-2', 'patched'],
    ]);
  });

  it('is not touched with --no-node-conditions', async () => {
    const nodes = workers(2);
    sb = await startSandbox({ nodes });
    const result = await sb.syncRoutes(['--no-node-conditions', '--output', 'json']);
    expectExit(result, 0);
    expect(sb.azureWrites()).toHaveLength(1);
    expect(sb.kubeWrites()).toEqual([]);
    for (const node of nodes) expect(sb.networkUnavailable(node.name)).toBeUndefined();
    expect(parseReport(result).conditions.map((c) => c.result)).toEqual(['disabled', 'disabled']);
  });

  it('is patched only on nodes that have pod CIDRs', async () => {
    sb = await startSandbox({ nodes: [worker(0), { name: 'fresh', internalIPs: ['10.240.0.99'] }] });
    const result = await sb.syncRoutes();
    expectExit(result, 0);
    expect(sb.kubeWrites().map((w) => w.path)).toEqual(['/api/v1/nodes/worker-0/status']);
    expect(sb.networkUnavailable('fresh')).toBeUndefined();
    expect(result.stdout).toContain('Nodes without a pod CIDR yet (not an error): fresh');
  });
});
