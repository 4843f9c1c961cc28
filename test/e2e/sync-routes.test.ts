// End to end: the real CLI (`node src/cli/main.ts sync-routes`) over HTTP against the Azure simulator and the
// fake Kubernetes API server. Convergence, idempotence, foreign routes, several tables, IP changes, the empty
// node list and --create-route-table.
import { afterEach, describe, expect, it } from 'vitest';
import type { SimpleRoute } from '../../src/simulator/azure.ts';
import { expectExit, parseReport } from '../support/cli.ts';
import {
  FIREWALL_ROUTE,
  LOCATION,
  RESOURCE_GROUP,
  SUBNET_ID,
  SUBSCRIPTION,
  TABLE,
  routeFor,
  routeName,
  startSandbox,
  storedRoute,
  workers,
  type Sandbox,
} from '../support/sandbox.ts';

let sb: Sandbox | undefined;
afterEach(async () => {
  await sb?.close();
  sb = undefined;
});

const byName = (a: SimpleRoute, b: SimpleRoute) => a.name.localeCompare(b.name);

/** A foreign route outside the cluster CIDR with no next-hop IP: to on-premises through the VPN gateway. */
const ONPREM_ROUTE: SimpleRoute = {
  name: 'to-onprem',
  addressPrefix: '192.168.0.0/16',
  nextHopType: 'VirtualNetworkGateway',
};

describe('sync-routes converges a 3-node cluster', () => {
  const nodes = workers(3);
  // Made by hand, Kubernetes the Hard Way style; it already matches worker-0, so it is adopted as is.
  const handMade: SimpleRoute = { ...routeFor(nodes[0]!), name: 'kubernetes-route-10-200-0-0-24' };
  const stale: SimpleRoute = {
    name: routeName('worker-9', '10.200.9.0/24'),
    addressPrefix: '10.200.9.0/24',
    nextHopType: 'VirtualAppliance',
    nextHopIpAddress: '10.240.0.29',
  };

  it('with one If-Match PUT, leaving foreign routes, tags and BGP propagation exactly as they were', async () => {
    sb = await startSandbox({
      nodes,
      table: {
        tags: { environment: 'production', owner: 'network-team' },
        disableBgpRoutePropagation: true,
        routes: [FIREWALL_ROUTE, ONPREM_ROUTE, handMade, stale],
      },
    });
    const before = sb.table()!;

    const result = await sb.syncRoutes();
    expectExit(result, 0);

    // Exactly one write: the whole-table PUT, guarded by the etag it read.
    const writes = sb.azureWrites();
    expect(writes.map((w) => `${w.method} ${w.operation}`)).toEqual(['PUT RouteTables_CreateOrUpdate']);
    expect(writes[0]!.ifMatch).toBe(before['etag']);
    expect(writes[0]!.status).toBe(200);

    expect(sb.routes().sort(byName)).toEqual(
      [FIREWALL_ROUTE, ONPREM_ROUTE, handMade, routeFor(nodes[1]!), routeFor(nodes[2]!)].sort(byName),
    );
    const after = sb.table()!;
    for (const name of [FIREWALL_ROUTE.name, ONPREM_ROUTE.name, handMade.name]) {
      // Field by field, as Azure serves them: id, etag, every property.
      expect(storedRoute(after, name), name).toEqual(storedRoute(before, name));
    }
    expect(after['tags']).toEqual({ environment: 'production', owner: 'network-team' });
    expect((after['properties'] as Record<string, unknown>)['disableBgpRoutePropagation']).toBe(true);
    expect(after['location']).toBe(before['location']);

    // The text report: one row per action, the foreign count, and the verdict.
    const out = result.stdout;
    expect(out).toContain(
      `Route table ${TABLE} (resource group ${RESOURCE_GROUP}, subscription ${SUBSCRIPTION})`,
    );
    expect(out).toMatch(
      /keep\s+kubernetes-route-10-200-0-0-24\s+10\.200\.0\.0\/24\s+10\.240\.0\.4\s+worker-0/,
    );
    expect(out).toMatch(/create\s+worker-1____102001024\s+10\.200\.1\.0\/24\s+10\.240\.0\.5\s+worker-1/);
    expect(out).toMatch(/create\s+worker-2____102002024\s+10\.200\.2\.0\/24\s+10\.240\.0\.6\s+worker-2/);
    expect(out).toMatch(/delete\s+worker-9____102009024\s+10\.200\.9\.0\/24\s+10\.240\.0\.29\s+-/);
    expect(out).toContain('foreign routes left untouched: 2');
    expect(out).toContain('status: applied (1 write, Azure reported Succeeded)');
    expect(out).toContain(
      'Summary: 2 create, 0 update, 1 delete, 1 keep, 0 conflict, 0 over limit, 0 refused node CIDR(s); 1 table write(s). Result: changes applied (exit 0).',
    );

    // Every node's condition says its routes are in place.
    for (const node of nodes) {
      expect(sb.networkUnavailable(node.name), node.name).toMatchObject({
        status: 'False',
        reason: 'RouteCreated',
      });
    }
    expect(out).toMatch(/worker-0\s+NetworkUnavailable=False\s+RouteCreated\s+patched/);
    expect(sb.warningEvents()).toEqual([]);

    // A second run has nothing to do: no Azure write, no Kubernetes write, exit 0.
    const again = await sb.syncRoutes();
    expectExit(again, 0);
    expect(sb.azureWrites()).toEqual([]);
    expect(sb.kubeWrites()).toEqual([]);
    expect(sb.table()!['etag']).toBe(after['etag']);
    expect(again.stdout).toContain('status: in sync');
    expect(again.stdout).toContain('0 table write(s). Result: in sync, nothing to change (exit 0).');
  });

  it('keeps stdout for the report and sends logs to stderr', async () => {
    sb = await startSandbox({ nodes });
    const result = await sb.syncRoutes(['--log-level', 'info']);
    expectExit(result, 0);
    expect(result.stdout).not.toContain('"level"');
    expect(result.stderr).toContain('"msg":"sync-routes finished"');
  });
});

describe('sync-routes converges a 400-node cluster', () => {
  it('with one PUT, then a second run that writes nothing', async () => {
    const nodes = workers(400);
    // Half the routes in place, some pointing at old IPs, and stale routes of nodes that are gone. The table
    // ends at exactly 400 routes, Azure's limit.
    const seeded: SimpleRoute[] = [
      ...nodes.slice(0, 200).map(routeFor),
      ...nodes.slice(200, 250).map((n) => ({ ...routeFor(n), nextHopIpAddress: '10.240.99.99' })),
      ...Array.from({ length: 10 }, (_, i) => ({
        name: routeName(`gone-${i}`, `10.201.${200 + i}.0/24`),
        addressPrefix: `10.201.${200 + i}.0/24`,
        nextHopType: 'VirtualAppliance',
        nextHopIpAddress: '10.240.99.1',
      })),
    ];
    sb = await startSandbox({ nodes, table: { routes: seeded } });

    const result = await sb.syncRoutes(['--output', 'json'], { clusterCidr: '10.200.0.0/15' });
    expectExit(result, 0);
    expect(sb.azureWrites().map((w) => w.operation)).toEqual(['RouteTables_CreateOrUpdate']);
    const r = parseReport(result);
    expect(r.summary).toMatchObject({
      create: 150,
      update: 50,
      delete: 10,
      keep: 200,
      writes: 1,
      overLimit: 0,
    });
    expect(r.nodes).toEqual({ total: 400, routable: 400 });
    expect(r.conditions).toHaveLength(400);
    expect(r.conditions.every((c) => c.status === 'False' && c.reason === 'RouteCreated')).toBe(true);
    expect(sb.routes().sort(byName)).toEqual(nodes.map(routeFor).sort(byName));
    expect(sb.networkUnavailable('worker-399')).toMatchObject({ status: 'False', reason: 'RouteCreated' });

    const again = await sb.syncRoutes(['--output', 'json'], { clusterCidr: '10.200.0.0/15' });
    expectExit(again, 0);
    expect(sb.azureWrites()).toEqual([]);
    expect(sb.kubeWrites()).toEqual([]);
    expect(parseReport(again)).toMatchObject({ result: 'InSync', summary: { keep: 400, writes: 0 } });
  });
});

describe('several tables', () => {
  it('gives every table every route, with one PUT each; RG/NAME picks another resource group', async () => {
    const nodes = workers(3);
    sb = await startSandbox({ nodes, table: { routes: [FIREWALL_ROUTE] } });
    sb.sim.putTable(SUBSCRIPTION, 'other-rg', 'routes-b', { location: LOCATION, subnets: [SUBNET_ID] });

    const result = await sb.syncRoutes(['--output', 'json'], { routeTables: [TABLE, 'other-rg/routes-b'] });
    expectExit(result, 0);
    const puts = sb.azureWrites();
    expect(puts).toHaveLength(2);
    expect(
      puts.filter(
        (w) => w.path.includes(`/resourceGroups/${RESOURCE_GROUP}/`) && w.path.endsWith(`/${TABLE}`),
      ),
    ).toHaveLength(1);
    expect(
      puts.filter((w) => w.path.includes('/resourceGroups/other-rg/') && w.path.endsWith('/routes-b')),
    ).toHaveLength(1);

    const want = nodes.map(routeFor).sort(byName);
    expect(
      sb
        .routes()
        .filter((r) => r.name !== FIREWALL_ROUTE.name)
        .sort(byName),
    ).toEqual(want);
    expect(sb.routes('routes-b', 'other-rg').sort(byName)).toEqual(want);

    const r = parseReport(result);
    expect(
      r.tables.map((t) => [t.resourceGroup, t.name, t.status, t.writes, t.actions.create.length]),
    ).toEqual([
      [RESOURCE_GROUP, TABLE, 'Applied', 1, 3],
      ['other-rg', 'routes-b', 'Applied', 1, 3],
    ]);
    expect(r.summary).toMatchObject({ create: 6, writes: 2 });
    expect(r.conditions.every((c) => c.reason === 'RouteCreated')).toBe(true);

    const again = await sb.syncRoutes([], { routeTables: [TABLE, 'other-rg/routes-b'] });
    expectExit(again, 0);
    expect(sb.azureWrites()).toEqual([]);
  });
});

describe("a node's InternalIP changes", () => {
  it("updates the route's next hop and keeps its name", async () => {
    const nodes = workers(3);
    sb = await startSandbox({ nodes, table: { routes: nodes.map(routeFor) } });
    // worker-1 was converged, then came back with a new address.
    sb.kube.updateNode('worker-1', (n) => {
      n.status!.addresses = n.status!.addresses!.map((a) =>
        a.type === 'InternalIP' ? { ...a, address: '10.240.7.7' } : a,
      );
    });

    const result = await sb.syncRoutes(['--output', 'json']);
    expectExit(result, 0);
    const table = parseReport(result).tables[0]!;
    expect(table.actions.update).toMatchObject([
      {
        name: routeName('worker-1', '10.200.1.0/24'),
        addressPrefix: '10.200.1.0/24',
        nextHopType: 'VirtualAppliance',
        nextHopIpAddress: '10.240.7.7',
        node: 'worker-1',
        from: { nextHopType: 'VirtualAppliance', nextHopIpAddress: routeFor(nodes[1]!).nextHopIpAddress },
      },
    ]);
    expect(table.actions).toMatchObject({ create: [], delete: [] });
    expect(table.actions.keep).toHaveLength(2);
    expect(sb.azureWrites()).toHaveLength(1);
    expect(sb.routes().find((r) => r.addressPrefix === '10.200.1.0/24')).toEqual({
      ...routeFor(nodes[1]!),
      nextHopIpAddress: '10.240.7.7',
    });
    expect(sb.routes()).toHaveLength(3);
  });
});

describe('an empty node list', () => {
  const ours = workers(3).map(routeFor);

  it('deletes no route of ours, and reports the withheld deletes', async () => {
    sb = await startSandbox({ nodes: [], table: { routes: [FIREWALL_ROUTE, ...ours] } });
    const result = await sb.syncRoutes(['--output', 'json']);
    expectExit(result, 0);
    expect(sb.azureWrites()).toEqual([]);
    expect(sb.routes()).toHaveLength(4);
    const r = parseReport(result);
    expect(r.tables[0]).toMatchObject({ status: 'InSync', withheldDeletes: 3, writes: 0 });
    expect(r.tables[0]!.actions.delete).toEqual([]);
    expect(r.warnings).toEqual([expect.stringContaining('--allow-empty-node-list')]);
    expect(r.nodes).toEqual({ total: 0, routable: 0 });
  });

  it('deletes them with --allow-empty-node-list, and leaves the foreign route', async () => {
    sb = await startSandbox({ nodes: [], table: { routes: [FIREWALL_ROUTE, ...ours] } });
    const before = storedRoute(sb.table(), FIREWALL_ROUTE.name);
    const result = await sb.syncRoutes(['--allow-empty-node-list', '--output', 'json']);
    expectExit(result, 0);
    expect(sb.azureWrites()).toHaveLength(1);
    expect(sb.routes()).toEqual([FIREWALL_ROUTE]);
    expect(storedRoute(sb.table(), FIREWALL_ROUTE.name)).toEqual(before);
    expect(parseReport(result).tables[0]).toMatchObject({ status: 'Applied', withheldDeletes: 0 });
    expect(
      parseReport(result)
        .tables[0]!.actions.delete.map((d) => d.name)
        .sort(),
    ).toEqual(ours.map((r) => r.name).sort());
  });
});

describe('--create-route-table', () => {
  it('creates a missing table in --location and fills it', async () => {
    const nodes = workers(3);
    sb = await startSandbox({ nodes, table: false });
    const result = await sb.syncRoutes(['--create-route-table', '--location', LOCATION, '--output', 'json']);
    expectExit(result, 0);
    const table = sb.table();
    expect(table?.['location']).toBe(LOCATION);
    expect(sb.routes().sort(byName)).toEqual(nodes.map(routeFor).sort(byName));
    // Two PUTs of that table: the create (If-None-Match: *), then the one guarded write that fills it.
    const writes = sb.azureWrites();
    expect(writes.map((w) => [w.method, w.path.endsWith(`/routeTables/${TABLE}`), w.ifNoneMatch])).toEqual([
      ['PUT', true, '*'],
      ['PUT', true, undefined],
    ]);
    expect(writes[1]!.ifMatch).toMatch(/^W\/"/);
    const r = parseReport(result);
    expect(r.tables[0]).toMatchObject({ created: true, status: 'Applied' });
    expect(r.tables[0]!.actions.create).toHaveLength(3);
    for (const node of nodes) {
      expect(sb.networkUnavailable(node.name)).toMatchObject({ status: 'False', reason: 'RouteCreated' });
    }
    expect(result.stdout).toContain('"result": "Applied"');

    const again = await sb.syncRoutes(['--create-route-table', '--location', LOCATION]);
    expectExit(again, 0);
    expect(sb.azureWrites()).toEqual([]);
  });

  it('with --dry-run, creates nothing and exits 3', async () => {
    sb = await startSandbox({ nodes: workers(3), table: false });
    const result = await sb.syncRoutes([
      '--create-route-table',
      '--location',
      LOCATION,
      '--dry-run',
      '--output',
      'json',
    ]);
    expectExit(result, 3);
    expect(sb.table()).toBeUndefined();
    expect(sb.azureWrites()).toEqual([]);
    expect(sb.kubeWrites()).toEqual([]);
    const r = parseReport(result);
    expect(r).toMatchObject({ result: 'PendingChanges', exitCode: 3, dryRun: true });
    expect(r.tables[0]).toMatchObject({ created: true, status: 'NotFound', writes: 0 });
    expect(r.tables[0]!.actions.create).toHaveLength(3);
  });

  it('without --location (or azure.json "location") is a usage error', async () => {
    sb = await startSandbox({ nodes: workers(1), table: false });
    const result = await sb.syncRoutes(['--create-route-table']);
    expectExit(result, 2);
    expect(result.stderr).toMatch(/^error: --create-route-table needs a region.*--location/);
    expect(sb.sim.requests).toEqual([]);
  });
});
