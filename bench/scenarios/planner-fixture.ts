// The planner's input for N nodes: a table of N routes that is nearly in sync, as a reconcile usually finds
// it. 1% of the nodes are new (create), 1% of the routes belong to nodes that are gone (delete), 1% point at
// an old InternalIP (update), and one foreign route is left alone.
import type { FakeNodeSpec } from '../../src/simulator/kube-api.ts';
import type { SimpleRoute } from '../../src/simulator/azure.ts';
import type { NodeInfo, PlannerConfig, Route } from '../../src/domain/types.ts';

export interface PlannerFixture {
  readonly nodes: NodeInfo[];
  readonly routes: Route[];
  readonly config: PlannerConfig;
}

export function plannerFixture(
  n: number,
  node: (i: number) => FakeNodeSpec,
  route: (i: number) => SimpleRoute,
  clusterCidr: string,
): PlannerFixture {
  const changed = Math.max(1, Math.floor(n / 100));
  const nodes: NodeInfo[] = [];
  for (let i = changed; i < n + changed; i++) {
    const spec = node(i);
    nodes.push({
      name: spec.name,
      uid: `uid-${spec.name}`,
      creationTimestamp: spec.creationTimestamp ?? '2025-01-01T00:00:00Z',
      podCIDRs: spec.podCIDRs ?? [],
      internalIPs: spec.internalIPs ?? [],
    });
  }
  const routes: Route[] = [
    {
      name: 'default-to-firewall',
      addressPrefix: '0.0.0.0/0',
      nextHopType: 'VirtualAppliance',
      nextHopIpAddress: '10.240.255.4',
    },
  ];
  // Routes for nodes 0 .. n-1: the first `changed` are stale, the last `changed` nodes have none yet.
  for (let i = 0; i < n; i++) {
    const r = route(i);
    const stale = i >= changed && i < 2 * changed;
    routes.push(stale ? { ...r, nextHopIpAddress: '10.254.0.1' } : r);
  }
  return {
    nodes,
    routes,
    config: { clusterCIDRs: [clusterCidr], routeLimit: n + 10, nodeMaskSize: { v4: 24, v6: 64 } },
  };
}
