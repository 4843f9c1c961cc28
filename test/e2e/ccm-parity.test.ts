// End to end: behaviours a cluster moving from the cloud-controller-manager relies on. Nodes labelled
// kubernetes.azure.com/managed=false (not Azure VMs) get no route and are reported as skipped, as upstream's
// IsNodeUnmanaged makes CreateRoute omit them; a table made by --create-route-table carries azure.json's tags.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SimpleRoute } from '../../src/simulator/azure.ts';
import { expectExit, parseReport } from '../support/cli.ts';
import {
  LOCATION,
  routeFor,
  startSandbox,
  storedRoute,
  worker,
  workers,
  type Sandbox,
} from '../support/sandbox.ts';

let sb: Sandbox | undefined;
afterEach(async () => {
  await sb?.close();
  sb = undefined;
});

describe('a node labelled kubernetes.azure.com/managed=false', () => {
  // An on-premises node whose pod range is reached through the VPN gateway, by a route the network team made.
  const onprem = {
    name: 'onprem-0',
    podCIDRs: ['10.200.50.0/24'],
    internalIPs: ['192.168.10.5'],
    labels: { 'kubernetes.azure.com/managed': 'false' },
  };
  const toOnprem: SimpleRoute = {
    name: 'onprem-0-pods',
    addressPrefix: '10.200.50.0/24',
    nextHopType: 'VirtualNetworkGateway',
  };

  it('gets no route and is reported as skipped, not refused; its existing route is left alone; exit 0', async () => {
    const nodes = workers(2);
    sb = await startSandbox({ nodes: [...nodes, onprem], table: { routes: [toOnprem] } });
    const before = sb.table();

    const result = await sb.syncRoutes(['--output', 'json']);
    expectExit(result, 0);
    const r = parseReport(result);
    expect(r.skipped).toEqual([
      expect.objectContaining({
        node: 'onprem-0',
        reason: 'UnmanagedNode',
        message: expect.stringContaining('kubernetes.azure.com/managed=false'),
      }),
    ]);
    expect(r.summary).toMatchObject({ refused: 0, create: 2, delete: 0 });
    // Inside --cluster-cidr, so by range it would be ours; the unmanaged node's prefix is frozen, not deleted.
    expect(storedRoute(sb.table(), toOnprem.name)).toEqual(storedRoute(before, toOnprem.name));
    expect(sb.routes().filter((route) => route.nextHopIpAddress === '192.168.10.5')).toEqual([]);
    for (const node of nodes) expect(sb.routes()).toContainEqual(routeFor(node));
    // As upstream: the route controller has nothing to do for it, so its network is not held unavailable.
    expect(sb.networkUnavailable('onprem-0')).toMatchObject({ status: 'False', reason: 'RouteCreated' });
    expect(sb.warningEvents('onprem-0')).toEqual([]);
  });

  it('gets its route once the label is gone', async () => {
    sb = await startSandbox({ nodes: [worker(0), onprem], table: { routes: [] } });
    expectExit(await sb.syncRoutes(), 0);
    expect(sb.routes()).toEqual([routeFor(worker(0))]);

    sb.kube.updateNode('onprem-0', (node) => {
      delete node.metadata!.labels!['kubernetes.azure.com/managed'];
    });
    expectExit(await sb.syncRoutes(), 0);
    expect(sb.routes()).toContainEqual(
      expect.objectContaining({ addressPrefix: '10.200.50.0/24', nextHopIpAddress: '192.168.10.5' }),
    );
  });
});

describe('--create-route-table with an azure.json', () => {
  it('creates the table with the azure.json tags (tags, then tagsMap over it)', async () => {
    sb = await startSandbox({ nodes: workers(1), table: false });
    const file = join(sb.dir, 'azure.json');
    writeFileSync(
      file,
      JSON.stringify({
        cloud: 'AzurePublicCloud',
        location: LOCATION,
        tags: 'team=platform, env=test',
        tagsMap: { env: 'prod', 'cost-center': '1234' },
      }),
    );
    const result = await sb.syncRoutes(['--cloud-config', file, '--create-route-table']);
    expectExit(result, 0);
    expect(sb.table()?.['location']).toBe(LOCATION);
    expect(sb.table()?.['tags']).toEqual({ team: 'platform', env: 'prod', 'cost-center': '1234' });
    expect(sb.routes()).toEqual([routeFor(worker(0))]);
  });
});
