// The benchmark's nodes and the routes they want. No I/O, so the planner worker can load it alone.
import type { SimpleRoute } from '../../src/simulator/azure/types.ts';
import type { FakeNodeSpec } from '../../src/simulator/kube-api.ts';

/** Room for 16,384 /24 pod CIDRs: 10.192.0.0/24 .. 10.255.255.0/24. */
export const CLUSTER_CIDR = '10.192.0.0/10';

/**
 * Node i: pod CIDR 10.(192 + i/256).(i%256).0/24, InternalIP 10.1.(i/250).(i%250 + 4), created i seconds
 * after a fixed epoch (the route limit admits the oldest first). `routed`: it already has NetworkUnavailable=False
 * (RouteCreated), as in a cluster the controller has converged.
 */
export function benchNode(i: number, options: { readonly routed?: boolean } = {}): FakeNodeSpec {
  if (!Number.isInteger(i) || i < 0 || i >= 16_384) throw new RangeError(`node index out of range: ${i}`);
  return {
    // A node of a converged cluster already carries the condition the controller sets.
    ...(options.routed
      ? {
          conditions: [
            {
              type: 'NetworkUnavailable',
              status: 'False',
              reason: 'RouteCreated',
              message: 'RouteController created a route',
            },
          ],
        }
      : {}),
    name: `node-${i}`,
    podCIDRs: [`10.${192 + Math.floor(i / 256)}.${i % 256}.0/24`],
    internalIPs: [`10.1.${Math.floor(i / 250)}.${(i % 250) + 4}`],
    creationTimestamp: new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}

/** The route the controller (and the Azure cloud-controller-manager) writes for node i. */
export function benchRoute(i: number): SimpleRoute {
  const node = benchNode(i);
  const cidr = node.podCIDRs![0]!;
  return {
    name: `${node.name}____${cidr.replace(/[.:/]/g, '')}`,
    addressPrefix: cidr,
    nextHopType: 'VirtualAppliance',
    nextHopIpAddress: node.internalIPs![0]!,
  };
}
