// Nodes that are not Azure VMs (kubernetes.azure.com/managed=false): no route, a skip that is not a refusal, their
// prefix frozen, and their condition not held unavailable, as the cloud-controller-manager treats them.
import { describe, expect, it } from 'vitest';
import { nodeRouteOutcomes } from '../../src/domain/conditions.ts';
import { desiredRoutes, isRefusal } from '../../src/domain/desired.ts';
import { planTable } from '../../src/domain/planner.ts';
import type { NodeInfo, PlannerConfig, Route } from '../../src/domain/types.ts';
import { toNodeInfo } from '../../src/kube/nodes.ts';

const config: PlannerConfig = {
  clusterCIDRs: ['10.200.0.0/16'],
  routeLimit: 400,
  nodeMaskSize: { v4: 24, v6: 64 },
};
const vm: NodeInfo = {
  name: 'worker-0',
  uid: 'u0',
  creationTimestamp: '2024-01-01T00:00:00Z',
  podCIDRs: ['10.200.0.0/24'],
  internalIPs: ['10.240.0.4'],
};
const onprem: NodeInfo = {
  name: 'onprem-0',
  uid: 'u1',
  creationTimestamp: '2024-01-01T00:00:01Z',
  podCIDRs: ['10.200.50.0/24'],
  internalIPs: ['192.168.10.5'],
  unmanaged: true,
};
const handMade: Route = {
  name: 'onprem-0-pods',
  addressPrefix: '10.200.50.0/24',
  nextHopType: 'VirtualNetworkGateway',
};

describe('an unmanaged node', () => {
  it('is read from the kubernetes.azure.com/managed=false label, and only from that value', () => {
    const node = (labels: Record<string, string>) =>
      toNodeInfo({ metadata: { name: 'n', uid: 'u', labels }, spec: { podCIDRs: ['10.200.1.0/24'] } });
    expect(node({ 'kubernetes.azure.com/managed': 'false' }).unmanaged).toBe(true);
    expect(node({ 'kubernetes.azure.com/managed': 'true' }).unmanaged).toBeUndefined();
    expect(node({}).unmanaged).toBeUndefined();
  });

  it('gets no route, is skipped as UnmanagedNode (not a refusal), and its prefix is frozen', () => {
    const desired = desiredRoutes([vm, onprem], config);
    expect(desired.routes.map((r) => r.node)).toEqual(['worker-0']);
    expect(desired.skipped).toEqual([expect.objectContaining({ node: 'onprem-0', reason: 'UnmanagedNode' })]);
    expect(desired.skipped.filter(isRefusal)).toEqual([]);
    expect(desired.frozenPrefixes).toEqual(['10.200.50.0/24']);

    // A route someone made for its range lies inside the cluster range, yet is neither deleted nor changed.
    const plan = planTable(desired, [handMade], config);
    expect(plan.deletes).toEqual([]);
    expect(plan.updates).toEqual([]);
    expect(plan.frozen).toEqual([handMade]);
    expect(plan.creates.map((c) => c.desired.node)).toEqual(['worker-0']);
  });

  it('is not held NetworkUnavailable: it has no route of ours to wait for', () => {
    const desired = desiredRoutes([vm, onprem], config);
    const plan = planTable(desired, [], config);
    const outcomes = nodeRouteOutcomes([vm, onprem], desired, [{ plan, applied: true, name: 'rt' }]);
    expect(outcomes.get('onprem-0')).toEqual({ routesCreated: true, problems: [] });
    expect(outcomes.get('worker-0')).toEqual({ routesCreated: true, problems: [] });
  });
});
