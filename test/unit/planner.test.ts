import { describe, expect, it } from 'vitest';
import { desiredRoutes } from '../../src/domain/desired.ts';
import { isOurs } from '../../src/domain/ownership.ts';
import { applyChanges, hasChanges, planTable, tableChanges } from '../../src/domain/planner.ts';
import type { NodeInfo, PlannerConfig, Route, SkipReason, TablePlan } from '../../src/domain/types.ts';

// ---- fixtures ---------------------------------------------------------------------------------------------

function node(
  name: string,
  podCIDRs: readonly string[],
  internalIPs: readonly string[],
  creationTimestamp = '2024-01-01T00:00:00Z',
): NodeInfo {
  return { name, uid: `uid-${name}`, creationTimestamp, podCIDRs, internalIPs };
}

/** `va('name', '10.0.0.0/24', '10.240.0.4')`: a VirtualAppliance route. */
function va(name: string, addressPrefix: string, nextHopIpAddress: string): Route {
  return { name, addressPrefix, nextHopType: 'VirtualAppliance', nextHopIpAddress };
}

function hop(name: string, addressPrefix: string, nextHopType: string): Route {
  return { name, addressPrefix, nextHopType };
}

// Upstream's reconcile fixtures (kubernetes/cloud-provider controllers/route), with IPv6 InternalIPs added
// because an Azure IPv6 route needs an IPv6 next hop.
const node1 = node('node-1', ['10.120.0.0/24'], ['10.0.1.1']);
const node2 = node('node-2', ['10.120.1.0/24'], ['10.0.2.1']);
const nodeNoCidr = node('node-2', [], ['10.0.5.1']);
const node3 = node('node-3', ['10.120.0.0/24', 'a00:100::/24'], ['10.0.3.1', 'fd00::3']);
const node4 = node('node-4', ['10.120.1.0/24', 'a00:200::/24'], ['10.0.4.1', 'fd00::4']);

// Upstream's fixtures give nodes IPv6 /24s, so their kube-controller-manager runs with
// --node-cidr-mask-size-ipv6=24.
const singleStack: PlannerConfig = {
  clusterCIDRs: ['10.120.0.0/16'],
  routeLimit: 400,
  nodeMaskSize: { v4: 24, v6: 24 },
};
// Upstream passes "ace:cab:deca::/8", which kube-controller-manager normalises to a00::/8.
const dualStack: PlannerConfig = { ...singleStack, clusterCIDRs: ['10.120.0.0/16', 'a00::/8'] };
/**
 * No cluster CIDR at all. Config refuses that (--cluster-cidr is required, DESIGN 2.1); the planner's answer
 * to a hand-built one is the safe default: nothing is ours, whatever its name.
 */
const noRange: PlannerConfig = { clusterCIDRs: [], routeLimit: 400, nodeMaskSize: { v4: 24, v6: 64 } };

// ---- plan summary -----------------------------------------------------------------------------------------

interface Summary {
  creates: string[];
  updates: string[];
  deletes: string[];
  keeps: string[];
  conflicts: string[];
  overLimit: string[];
  foreign: string[];
  frozen: string[];
  /** The table after applyChanges, one `prefix type [ip]` line per route, sorted. */
  final: string[];
}

function line(route: Route): string {
  return [route.addressPrefix, route.nextHopType, route.nextHopIpAddress]
    .filter((x) => x !== undefined)
    .join(' ');
}

function summarize(plan: TablePlan, routes: readonly Route[]): Summary {
  return {
    creates: plan.creates.map(
      ({ route }) => `${route.name} ${route.addressPrefix} -> ${route.nextHopIpAddress}`,
    ),
    updates: plan.updates.map(({ from, to }) => `${from.name} ${line(from)} -> ${line(to)}`),
    deletes: plan.deletes.map((route) => route.name),
    keeps: plan.keeps.map(({ route, desired }) => `${route.name} for ${desired.node}`),
    conflicts: plan.conflicts.map(
      (c) => `${c.kind} ${c.desired.node} ${c.desired.cidr} held by ${c.existing.name}`,
    ),
    overLimit: plan.overLimit.map((d) => `${d.node} ${d.cidr}`),
    foreign: plan.foreign.map((route) => route.name),
    frozen: (plan.frozen ?? []).map((route) => route.name),
    final: applyChanges(routes, tableChanges(plan)).map(line).sort(),
  };
}

interface Case {
  name: string;
  nodes: NodeInfo[];
  routes: Route[];
  config: PlannerConfig;
  expected: Partial<Summary>;
}

function empty(): Summary {
  return {
    creates: [],
    updates: [],
    deletes: [],
    keeps: [],
    conflicts: [],
    overLimit: [],
    foreign: [],
    frozen: [],
    final: [],
  };
}

function check({ nodes, routes, config, expected }: Case): void {
  const desired = desiredRoutes(nodes, config);
  const plan = planTable(desired, routes, config);
  const summary = summarize(plan, routes);
  const want = { ...empty(), ...expected };
  if (expected.final === undefined) want.final = summary.final;
  expect(summary).toEqual(want);

  // Every plan is idempotent: planning the table it produces again changes nothing.
  const after = applyChanges(routes, tableChanges(plan));
  expect(hasChanges(planTable(desired, after, config))).toBe(false);
}

// ---- upstream reconcile cases -----------------------------------------------------------------------------

const upstreamCases: Case[] = [
  {
    name: 'dual-stack: two nodes and no routes',
    nodes: [node3, node4],
    routes: [],
    config: dualStack,
    expected: {
      creates: [
        'node-3____101200024 10.120.0.0/24 -> 10.0.3.1',
        'node-3____a0010024 a00:100::/24 -> fd00::3',
        'node-4____101201024 10.120.1.0/24 -> 10.0.4.1',
        'node-4____a0020024 a00:200::/24 -> fd00::4',
      ],
      final: [
        '10.120.0.0/24 VirtualAppliance 10.0.3.1',
        '10.120.1.0/24 VirtualAppliance 10.0.4.1',
        'a00:100::/24 VirtualAppliance fd00::3',
        'a00:200::/24 VirtualAppliance fd00::4',
      ],
    },
  },
  {
    name: 'dual-stack: all routes created (kept under their own names)',
    nodes: [node3, node4],
    routes: [
      va('my-k8s-01', '10.120.0.0/24', '10.0.3.1'),
      va('my-k8s-02', '10.120.1.0/24', '10.0.4.1'),
      va('my-k8s-03', 'a00:100::/24', 'fd00::3'),
      va('my-k8s-04', 'a00:200::/24', 'fd00::4'),
    ],
    config: dualStack,
    expected: {
      keeps: ['my-k8s-01 for node-3', 'my-k8s-03 for node-3', 'my-k8s-02 for node-4', 'my-k8s-04 for node-4'],
    },
  },
  {
    name: 'dual-stack: routes with no next hop yet are updated',
    nodes: [node3, node4],
    routes: [
      hop('my-k8s-01', '10.120.0.0/24', 'VirtualAppliance'),
      hop('my-k8s-02', '10.120.1.0/24', 'VirtualAppliance'),
      hop('my-k8s-03', 'a00:100::/24', 'VirtualAppliance'),
      hop('my-k8s-04', 'a00:200::/24', 'VirtualAppliance'),
    ],
    config: dualStack,
    expected: {
      updates: [
        'my-k8s-01 10.120.0.0/24 VirtualAppliance -> 10.120.0.0/24 VirtualAppliance 10.0.3.1',
        'my-k8s-03 a00:100::/24 VirtualAppliance -> a00:100::/24 VirtualAppliance fd00::3',
        'my-k8s-02 10.120.1.0/24 VirtualAppliance -> 10.120.1.0/24 VirtualAppliance 10.0.4.1',
        'my-k8s-04 a00:200::/24 VirtualAppliance -> a00:200::/24 VirtualAppliance fd00::4',
      ],
    },
  },
  {
    name: "dual-stack: routes' next hops changed",
    nodes: [node3, node4],
    routes: [
      va('my-k8s-01', '10.120.0.0/24', '10.0.13.1'),
      va('my-k8s-02', '10.120.1.0/24', '10.0.14.1'),
      va('my-k8s-03', 'a00:100::/24', 'fd00::13'),
      va('my-k8s-04', 'a00:200::/24', 'fd00::14'),
    ],
    config: dualStack,
    expected: {
      updates: [
        'my-k8s-01 10.120.0.0/24 VirtualAppliance 10.0.13.1 -> 10.120.0.0/24 VirtualAppliance 10.0.3.1',
        'my-k8s-03 a00:100::/24 VirtualAppliance fd00::13 -> a00:100::/24 VirtualAppliance fd00::3',
        'my-k8s-02 10.120.1.0/24 VirtualAppliance 10.0.14.1 -> 10.120.1.0/24 VirtualAppliance 10.0.4.1',
        'my-k8s-04 a00:200::/24 VirtualAppliance fd00::14 -> a00:200::/24 VirtualAppliance fd00::4',
      ],
    },
  },
  {
    name: 'dual-stack: a few wrong routes (CIDRs swapped between nodes)',
    nodes: [node3, node4],
    routes: [
      va('my-k8s-01', '10.120.1.0/24', '10.0.3.1'),
      va('my-k8s-02', '10.120.0.0/24', '10.0.4.1'),
      va('my-k8s-03', 'a00:200::/24', 'fd00::3'),
      va('my-k8s-04', 'a00:100::/24', 'fd00::4'),
    ],
    config: dualStack,
    expected: {
      updates: [
        'my-k8s-02 10.120.0.0/24 VirtualAppliance 10.0.4.1 -> 10.120.0.0/24 VirtualAppliance 10.0.3.1',
        'my-k8s-04 a00:100::/24 VirtualAppliance fd00::4 -> a00:100::/24 VirtualAppliance fd00::3',
        'my-k8s-01 10.120.1.0/24 VirtualAppliance 10.0.3.1 -> 10.120.1.0/24 VirtualAppliance 10.0.4.1',
        'my-k8s-03 a00:200::/24 VirtualAppliance fd00::3 -> a00:200::/24 VirtualAppliance fd00::4',
      ],
      final: [
        '10.120.0.0/24 VirtualAppliance 10.0.3.1',
        '10.120.1.0/24 VirtualAppliance 10.0.4.1',
        'a00:100::/24 VirtualAppliance fd00::3',
        'a00:200::/24 VirtualAppliance fd00::4',
      ],
    },
  },
  {
    name: 'dual-stack: some routes created',
    nodes: [node3, node4],
    routes: [va('my-k8s-01', '10.120.0.0/24', '10.0.3.1'), va('my-k8s-04', 'a00:200::/24', 'fd00::4')],
    config: dualStack,
    expected: {
      creates: [
        'node-3____a0010024 a00:100::/24 -> fd00::3',
        'node-4____101201024 10.120.1.0/24 -> 10.0.4.1',
      ],
      keeps: ['my-k8s-01 for node-3', 'my-k8s-04 for node-4'],
    },
  },
  {
    name: 'dual-stack: too many routes (routes of nodes that are gone)',
    nodes: [node3, node4],
    routes: [
      va('my-k8s-01', '10.120.0.0/24', '10.0.3.1'),
      va('my-k8s-02', '10.120.1.0/24', '10.0.4.1'),
      va('my-k8s-001', '10.120.2.0/24', '10.0.5.1'),
      va('my-k8s-03', 'a00:100::/24', 'fd00::3'),
      va('my-k8s-04', 'a00:200::/24', 'fd00::4'),
      va('my-k8s-0002', 'a00:300::/24', 'fd00::6'),
    ],
    config: dualStack,
    expected: {
      deletes: ['my-k8s-0002', 'my-k8s-001'],
      keeps: ['my-k8s-01 for node-3', 'my-k8s-03 for node-3', 'my-k8s-02 for node-4', 'my-k8s-04 for node-4'],
    },
  },
  {
    name: 'single stack: two nodes and routes created',
    nodes: [node1, node2],
    routes: [va('my-k8s-01', '10.120.0.0/24', '10.0.1.1'), va('my-k8s-02', '10.120.1.0/24', '10.0.2.1')],
    config: singleStack,
    expected: { keeps: ['my-k8s-01 for node-1', 'my-k8s-02 for node-2'] },
  },
  {
    name: 'single stack: node IPs changed, so the routes are updated in place',
    nodes: [node1, node2],
    routes: [va('my-k8s-01', '10.120.0.0/24', '10.0.1.2'), va('my-k8s-02', '10.120.1.0/24', '10.0.2.2')],
    config: singleStack,
    expected: {
      updates: [
        'my-k8s-01 10.120.0.0/24 VirtualAppliance 10.0.1.2 -> 10.120.0.0/24 VirtualAppliance 10.0.1.1',
        'my-k8s-02 10.120.1.0/24 VirtualAppliance 10.0.2.2 -> 10.120.1.0/24 VirtualAppliance 10.0.2.1',
      ],
    },
  },
  {
    name: 'single stack: two nodes and one route created',
    nodes: [node1, node2],
    routes: [va('my-k8s-01', '10.120.0.0/24', '10.0.1.1')],
    config: singleStack,
    expected: { creates: ['node-2____101201024 10.120.1.0/24 -> 10.0.2.1'], keeps: ['my-k8s-01 for node-1'] },
  },
  {
    name: 'single stack: two nodes and no routes',
    nodes: [node1, node2],
    routes: [],
    config: singleStack,
    expected: {
      creates: [
        'node-1____101200024 10.120.0.0/24 -> 10.0.1.1',
        'node-2____101201024 10.120.1.0/24 -> 10.0.2.1',
      ],
    },
  },
  {
    name: 'single stack: two nodes and too many routes',
    nodes: [node1, node2],
    routes: [
      va('my-k8s-01', '10.120.0.0/24', '10.0.1.1'),
      va('my-k8s-02', '10.120.1.0/24', '10.0.2.1'),
      va('my-k8s-03', '10.120.2.0/24', '10.0.3.1'),
      va('my-k8s-04', '10.120.3.0/24', '10.0.4.1'),
    ],
    config: singleStack,
    expected: {
      deletes: ['my-k8s-03', 'my-k8s-04'],
      keeps: ['my-k8s-01 for node-1', 'my-k8s-02 for node-2'],
      final: ['10.120.0.0/24 VirtualAppliance 10.0.1.1', '10.120.1.0/24 VirtualAppliance 10.0.2.1'],
    },
  },
  {
    name: 'single stack: two routes with one incorrect',
    nodes: [node1, node2],
    routes: [va('my-k8s-01', '10.120.0.0/24', '10.0.1.1'), va('my-k8s-03', '10.120.2.0/24', '10.0.2.1')],
    config: singleStack,
    expected: {
      creates: ['node-2____101201024 10.120.1.0/24 -> 10.0.2.1'],
      deletes: ['my-k8s-03'],
      keeps: ['my-k8s-01 for node-1'],
    },
  },
  {
    name: 'single stack: one node without a pod CIDR',
    nodes: [node1, nodeNoCidr],
    routes: [],
    config: singleStack,
    expected: { creates: ['node-1____101200024 10.120.0.0/24 -> 10.0.1.1'] },
  },
  {
    name: 'single stack: an extra blackhole route in our range is deleted',
    nodes: [node1, node2],
    routes: [
      va('my-k8s-01', '10.120.0.0/24', '10.0.1.1'),
      va('my-k8s-02', '10.120.1.0/24', '10.0.2.1'),
      hop('my-k8s-03', '10.120.2.0/24', 'None'),
    ],
    config: singleStack,
    expected: { deletes: ['my-k8s-03'], keeps: ['my-k8s-01 for node-1', 'my-k8s-02 for node-2'] },
  },
  {
    name: 'single stack: an extra blackhole route outside our range is left alone',
    nodes: [node1, node2],
    routes: [
      va('my-k8s-01', '10.120.0.0/24', '10.0.1.1'),
      va('my-k8s-02', '10.120.1.0/24', '10.0.2.1'),
      hop('my-k8s-03', '10.1.2.0/24', 'None'),
    ],
    config: singleStack,
    expected: { keeps: ['my-k8s-01 for node-1', 'my-k8s-02 for node-2'], foreign: ['my-k8s-03'] },
  },
  {
    name: 'single stack: a blackhole route for a prefix a node wants is turned into its route',
    nodes: [node1],
    routes: [hop('my-k8s-01', '10.120.0.0/24', 'None')],
    config: singleStack,
    expected: { updates: ['my-k8s-01 10.120.0.0/24 None -> 10.120.0.0/24 VirtualAppliance 10.0.1.1'] },
  },
];

describe('planTable: upstream route controller reconcile cases', () => {
  it.each(upstreamCases)('$name', (c) => check(c));
});

// ---- our own rules ------------------------------------------------------------------------------------------

const kthw = [
  node('worker-0', ['10.200.0.0/24'], ['10.240.0.20']),
  node('worker-1', ['10.200.1.0/24'], ['10.240.0.21']),
];
const kthwRange: PlannerConfig = { ...noRange, clusterCIDRs: ['10.200.0.0/16'] };
const kthwDual: PlannerConfig = { ...noRange, clusterCIDRs: ['10.200.0.0/16', 'fd00::/16'] };
const firewall = va('default-to-firewall', '0.0.0.0/0', '10.240.255.4');

const ruleCases: Case[] = [
  {
    // Was "adopted with no churn (no cluster CIDR)": name-based ownership is gone (DESIGN 2.1).
    name: 'without a cluster CIDR nothing is ours: matching hand-made routes are left alone, nothing is created',
    nodes: kthw,
    routes: [
      va('kubernetes-route-10-200-0-0-24', '10.200.0.0/24', '10.240.0.20'),
      va('kubernetes-route-10-200-1-0-24', '10.200.1.0/24', '10.240.0.21'),
    ],
    config: noRange,
    expected: { foreign: ['kubernetes-route-10-200-0-0-24', 'kubernetes-route-10-200-1-0-24'] },
  },
  {
    name: 'hand-made routes that already match are adopted with no churn (cluster CIDR)',
    nodes: kthw,
    routes: [
      va('kubernetes-route-10-200-0-0-24', '10.200.0.0/24', '10.240.0.20'),
      va('kubernetes-route-10-200-1-0-24', '10.200.1.0/24', '10.240.0.21'),
    ],
    config: kthwRange,
    expected: {
      keeps: ['kubernetes-route-10-200-0-0-24 for worker-0', 'kubernetes-route-10-200-1-0-24 for worker-1'],
    },
  },
  {
    // Was "(no cluster CIDR)", which created both routes; now the same inputs plan nothing at all.
    name: 'a foreign default route to a firewall is untouched (no cluster CIDR: no route is planned either)',
    nodes: kthw,
    routes: [firewall],
    config: noRange,
    expected: {
      foreign: ['default-to-firewall'],
      final: ['0.0.0.0/0 VirtualAppliance 10.240.255.4'],
    },
  },
  {
    name: 'a foreign default route to a firewall, which contains the cluster range, is untouched',
    nodes: kthw,
    routes: [firewall],
    config: kthwRange,
    expected: {
      creates: [
        'worker-0____102000024 10.200.0.0/24 -> 10.240.0.20',
        'worker-1____102001024 10.200.1.0/24 -> 10.240.0.21',
      ],
      foreign: ['default-to-firewall'],
      final: [
        '0.0.0.0/0 VirtualAppliance 10.240.255.4',
        '10.200.0.0/24 VirtualAppliance 10.240.0.20',
        '10.200.1.0/24 VirtualAppliance 10.240.0.21',
      ],
    },
  },
  {
    name: 'a foreign default route to a firewall is untouched (cluster CIDR)',
    nodes: kthw,
    routes: [firewall, hop('to-internet', '20.0.0.0/8', 'Internet'), hop('storage', 'Storage', 'Internet')],
    config: kthwRange,
    expected: {
      creates: [
        'worker-0____102000024 10.200.0.0/24 -> 10.240.0.20',
        'worker-1____102001024 10.200.1.0/24 -> 10.240.0.21',
      ],
      foreign: ['default-to-firewall', 'storage', 'to-internet'],
    },
  },
  {
    // Was a PrefixHeldByForeignRoute conflict under name-based ownership. A wanted prefix lies inside the
    // cluster range, so whatever route holds it is ours now: it is corrected in place, under its own name.
    name: 'a hand-made route holding a wanted prefix with another next hop is ours: corrected, name kept',
    nodes: kthw,
    routes: [
      va('manual-worker-0', '10.200.0.0/24', '10.240.0.99'),
      hop('vpn-worker-1', '10.200.1.0/24', 'VirtualNetworkGateway'),
    ],
    config: kthwRange,
    expected: {
      updates: [
        'manual-worker-0 10.200.0.0/24 VirtualAppliance 10.240.0.99 -> 10.200.0.0/24 VirtualAppliance 10.240.0.20',
        'vpn-worker-1 10.200.1.0/24 VirtualNetworkGateway -> 10.200.1.0/24 VirtualAppliance 10.240.0.21',
      ],
      final: ['10.200.0.0/24 VirtualAppliance 10.240.0.20', '10.200.1.0/24 VirtualAppliance 10.240.0.21'],
    },
  },
  {
    name: 'without a cluster CIDR, the same routes are foreign and left exactly as they are',
    nodes: kthw,
    routes: [
      va('manual-worker-0', '10.200.0.0/24', '10.240.0.99'),
      hop('vpn-worker-1', '10.200.1.0/24', 'VirtualNetworkGateway'),
    ],
    config: noRange,
    expected: {
      foreign: ['manual-worker-0', 'vpn-worker-1'],
      final: ['10.200.0.0/24 VirtualAppliance 10.240.0.99', '10.200.1.0/24 VirtualNetworkGateway'],
    },
  },
  {
    name: 'a route outside --cluster-cidr holding our name blocks the create (never overwritten by name)',
    nodes: kthw,
    routes: [va('worker-0____102000024', '192.168.0.0/24', '10.240.0.50')],
    config: kthwRange,
    expected: {
      creates: ['worker-1____102001024 10.200.1.0/24 -> 10.240.0.21'],
      conflicts: ['NameHeldByForeignRoute worker-0 10.200.0.0/24 held by worker-0____102000024'],
      foreign: ['worker-0____102000024'],
    },
  },
  {
    name: 'names compare case-insensitively, as Azure does',
    nodes: kthw,
    routes: [hop('WORKER-0____102000024', 'AzureCloud', 'Internet')],
    config: kthwRange,
    expected: {
      creates: ['worker-1____102001024 10.200.1.0/24 -> 10.240.0.21'],
      conflicts: ['NameHeldByForeignRoute worker-0 10.200.0.0/24 held by WORKER-0____102000024'],
      foreign: ['WORKER-0____102000024'],
    },
  },
  {
    name: 'a name held by one of our routes that is being deleted is free to reuse',
    nodes: [kthw[0]!],
    routes: [va('worker-0____102000024', '10.200.9.0/24', '10.240.0.20')],
    config: kthwRange,
    expected: {
      creates: ['worker-0____102000024 10.200.0.0/24 -> 10.240.0.20'],
      deletes: ['worker-0____102000024'],
      final: ['10.200.0.0/24 VirtualAppliance 10.240.0.20'],
    },
  },
  {
    // Was "without a cluster CIDR, our stale routes go and hand-made ones stay": routes named in our scheme
    // were taken as ours. Another cluster's cloud-controller-manager writes exactly those names into a shared
    // table, so with no cluster CIDR nothing is deleted now: every route is foreign.
    name: "without a cluster CIDR, scheme-named routes are foreign: another cluster's routes are never deleted",
    nodes: [kthw[0]!],
    routes: [
      va('worker-0____102000024', '10.200.0.0/24', '10.240.0.20'),
      va('worker-1____102001024', '10.200.1.0/24', '10.240.0.21'),
      va('kubernetes-route-10-200-1-0-24', '10.200.2.0/24', '10.240.0.22'),
      va('gateway____1', '10.0.0.0/8', '10.240.0.1'),
      hop('worker-9____102009024', '10.200.9.0/24', 'None'),
    ],
    config: noRange,
    expected: {
      foreign: [
        'gateway____1',
        'kubernetes-route-10-200-1-0-24',
        'worker-0____102000024',
        'worker-1____102001024',
        'worker-9____102009024',
      ],
    },
  },
  {
    name: 'the same routes with a cluster CIDR: stale routes in range go whatever their name, out of range stays',
    nodes: [kthw[0]!],
    routes: [
      va('worker-0____102000024', '10.200.0.0/24', '10.240.0.20'),
      va('worker-1____102001024', '10.200.1.0/24', '10.240.0.21'),
      va('kubernetes-route-10-200-1-0-24', '10.200.2.0/24', '10.240.0.22'),
      // Contains the cluster range rather than lying inside it: not ours.
      va('gateway____1', '10.0.0.0/8', '10.240.0.1'),
      hop('worker-9____102009024', '10.200.9.0/24', 'None'),
    ],
    config: kthwRange,
    expected: {
      deletes: ['kubernetes-route-10-200-1-0-24', 'worker-1____102001024', 'worker-9____102009024'],
      keeps: ['worker-0____102000024 for worker-0'],
      foreign: ['gateway____1'],
    },
  },
  {
    name: 'with a cluster CIDR, every route in range is ours whatever its name; out of range is not',
    nodes: [kthw[0]!],
    routes: [
      va('kubernetes-route-10-200-1-0-24', '10.200.1.0/24', '10.240.0.21'),
      va('worker-5____192168050', '192.168.5.0/24', '10.240.0.25'),
      va('whole-range', '10.200.0.0/16', '10.240.0.1'),
    ],
    config: kthwRange,
    expected: {
      creates: ['worker-0____102000024 10.200.0.0/24 -> 10.240.0.20'],
      deletes: ['kubernetes-route-10-200-1-0-24', 'whole-range'],
      foreign: ['worker-5____192168050'],
    },
  },
  {
    name: "deleting node1's route never touches node10's",
    nodes: [node('node10', ['10.200.10.0/24'], ['10.240.0.10'])],
    routes: [
      va('node1____102001024', '10.200.1.0/24', '10.240.0.1'),
      va('node10____1020010024', '10.200.10.0/24', '10.240.0.10'),
      va('node100____10200100024', '10.200.100.0/24', '10.240.0.100'),
    ],
    config: kthwRange,
    expected: {
      deletes: ['node100____10200100024', 'node1____102001024'],
      keeps: ['node10____1020010024 for node10'],
    },
  },
  {
    name: 'node1 and node10 side by side each get their own route',
    nodes: [
      node('node1', ['10.200.1.0/24'], ['10.240.0.1']),
      node('node10', ['10.200.10.0/24'], ['10.240.0.10']),
    ],
    routes: [va('node10____1020010024', '10.200.10.0/24', '10.240.0.10')],
    config: kthwRange,
    expected: {
      creates: ['node1____102001024 10.200.1.0/24 -> 10.240.0.1'],
      keeps: ['node10____1020010024 for node10'],
    },
  },
  {
    name: 'routes with unknown next-hop types: ours are fixed, foreign are left',
    nodes: kthw,
    routes: [
      {
        name: 'worker-0____102000024',
        addressPrefix: '10.200.0.0/24',
        nextHopType: 'HyperNextHop2031',
        nextHopIpAddress: '10.240.0.20',
      },
      hop('worker-1____102001024', '10.200.1.0/24', 'VnetLocal'),
      hop('something-new', '10.50.0.0/16', 'HyperNextHop2031'),
    ],
    config: kthwRange,
    expected: {
      updates: [
        'worker-0____102000024 10.200.0.0/24 HyperNextHop2031 10.240.0.20 -> 10.200.0.0/24 VirtualAppliance 10.240.0.20',
        'worker-1____102001024 10.200.1.0/24 VnetLocal -> 10.200.1.0/24 VirtualAppliance 10.240.0.21',
      ],
      foreign: ['something-new'],
    },
  },
  {
    name: 'unparseable prefixes are never ours, even in a cluster-CIDR setup',
    nodes: [],
    routes: [
      hop('tag', 'AzureCloud', 'Internet'),
      hop('garbage', '10.200.0.0/99', 'None'),
      hop('host-bits', 'nope/24', 'None'),
    ],
    config: kthwRange,
    expected: { foreign: ['garbage', 'host-bits', 'tag'] },
  },
  {
    name: 'prefixes, next hops and next-hop types compare canonically: no churn',
    nodes: [node('v6', ['fd00:10:244:1::/64'], ['fd00::a']), node('v4', ['10.200.3.0/24'], ['10.240.0.3'])],
    routes: [
      {
        name: 'v6-route',
        addressPrefix: 'FD00:10:244:1:0::/64',
        nextHopType: 'VirtualAppliance',
        nextHopIpAddress: 'FD00:0::000A',
      },
      {
        name: 'v4-route',
        addressPrefix: '10.200.3.0/24',
        nextHopType: 'virtualappliance',
        nextHopIpAddress: '10.240.0.3',
      },
    ],
    config: { ...noRange, clusterCIDRs: ['fd00:10:244::/56', '10.200.0.0/16'] },
    expected: { keeps: ['v4-route for v4', 'v6-route for v6'] },
  },
  {
    name: 'an IPv6-only cluster',
    nodes: [
      node('v6-a', ['fd00:10:244:1::/64'], ['10.240.0.4', 'fd00::a']),
      node('v6-b', ['fd00:10:244:2::/64'], ['fd00::b']),
    ],
    routes: [va('old', 'fd00:10:244:3::/64', 'fd00::c')],
    config: { ...noRange, clusterCIDRs: ['fd00:10:244::/56'] },
    expected: {
      creates: [
        'v6-a____fd0010244164 fd00:10:244:1::/64 -> fd00::a',
        'v6-b____fd0010244264 fd00:10:244:2::/64 -> fd00::b',
      ],
      deletes: ['old'],
    },
  },
  {
    name: "the next hop is the node's first usable InternalIP of the family",
    nodes: [
      node('w', ['10.200.0.0/24'], ['fd00::1', '127.0.0.1', '169.254.0.5', '10.240.0.7', '10.240.0.8']),
    ],
    routes: [],
    config: kthwRange,
    expected: { creates: ['w____102000024 10.200.0.0/24 -> 10.240.0.7'] },
  },
  {
    name: 'frozen: a node that lost its InternalIP keeps its existing route untouched',
    nodes: [node('worker-0', ['10.200.0.0/24'], []), kthw[1]!],
    routes: [
      va('worker-0____102000024', '10.200.0.0/24', '10.240.0.20'),
      va('worker-1____102001024', '10.200.1.0/24', '10.240.0.21'),
    ],
    config: kthwRange,
    expected: { keeps: ['worker-1____102001024 for worker-1'], frozen: ['worker-0____102000024'] },
  },
  {
    name: 'frozen: two nodes claiming one CIDR get nothing, and the existing route stays as it is',
    nodes: [
      node('worker-0', ['10.200.0.0/24'], ['10.240.0.20']),
      node('worker-7', ['10.200.0.0/24'], ['10.240.0.27']),
    ],
    routes: [va('worker-0____102000024', '10.200.0.0/24', '10.240.0.20')],
    config: kthwRange,
    expected: { frozen: ['worker-0____102000024'] },
  },
  {
    // Was "frozen prefixes only shelter routes of ours" with a hand-named route that name-based ownership
    // called foreign. In range, it is ours, so the frozen prefix shelters it.
    name: 'frozen prefixes shelter a route of ours whatever its name; nothing is created for them',
    nodes: [node('worker-0', ['10.200.0.0/24'], ['fe80::1'])],
    routes: [va('elsewhere', '10.200.0.0/24', '10.0.0.1')],
    config: kthwRange,
    expected: { frozen: ['elsewhere'] },
  },
  {
    name: 'frozen prefixes only shelter routes of ours: without a cluster CIDR the route is foreign',
    nodes: [node('worker-0', ['10.200.0.0/24'], ['fe80::1'])],
    routes: [va('elsewhere', '10.200.0.0/24', '10.0.0.1')],
    config: noRange,
    expected: { foreign: ['elsewhere'] },
  },
  {
    name: 'refused pod CIDRs never produce routes (default routes included)',
    nodes: [
      node('everything', ['0.0.0.0/0', '::/0'], ['10.240.0.9', 'fd00::9']),
      node('outside', ['10.99.0.0/24'], ['10.240.0.10']),
      node('hostbits', ['10.200.0.1/24'], ['10.240.0.11']),
    ],
    routes: [],
    config: kthwRange,
    expected: {},
  },
];

describe('planTable: ownership, adoption, conflicts, frozen prefixes', () => {
  it.each(ruleCases)('$name', (c) => check(c));
});

// ---- route limit --------------------------------------------------------------------------------------------

function aged(name: string, third: number, timestamp: string): NodeInfo {
  return node(name, [`10.200.${third}.0/24`], [`10.240.0.${third + 1}`], timestamp);
}

const limitNodes = [
  aged('young', 1, '2024-06-01T00:00:00Z'),
  aged('old', 2, '2023-01-01T00:00:00Z'),
  aged('middle-b', 3, '2024-01-01T00:00:00Z'),
  aged('middle-a', 4, '2024-01-01T00:00:00Z'),
  // Same instant, written with an offset: compared as a time, not as text.
  aged('offset', 5, '2024-01-01T01:00:00+01:00'),
  aged('no-timestamp', 6, ''),
];

const limitCases: Case[] = [
  {
    name: 'creates go in oldest node first up to the limit; the rest are over the limit',
    nodes: limitNodes,
    routes: [firewall],
    config: { ...kthwRange, routeLimit: 4 },
    expected: {
      creates: [
        'middle-a____102004024 10.200.4.0/24 -> 10.240.0.5',
        'middle-b____102003024 10.200.3.0/24 -> 10.240.0.4',
        'old____102002024 10.200.2.0/24 -> 10.240.0.3',
      ],
      overLimit: ['no-timestamp 10.200.6.0/24', 'offset 10.200.5.0/24', 'young 10.200.1.0/24'],
      foreign: ['default-to-firewall'],
    },
  },
  {
    name: 'the oldest ties are broken by node name',
    nodes: limitNodes,
    routes: [],
    config: { ...kthwRange, routeLimit: 4 },
    expected: {
      creates: [
        'middle-a____102004024 10.200.4.0/24 -> 10.240.0.5',
        'middle-b____102003024 10.200.3.0/24 -> 10.240.0.4',
        'offset____102005024 10.200.5.0/24 -> 10.240.0.6',
        'old____102002024 10.200.2.0/24 -> 10.240.0.3',
      ],
      overLimit: ['no-timestamp 10.200.6.0/24', 'young 10.200.1.0/24'],
    },
  },
  {
    name: 'deletes and updates still apply when over the limit, and free room for creates',
    nodes: limitNodes.slice(0, 3),
    routes: [
      firewall,
      va('stale-1', '10.200.50.0/24', '10.240.0.50'),
      va('stale-2', '10.200.51.0/24', '10.240.0.51'),
      va('young-route', '10.200.1.0/24', '10.240.9.9'),
    ],
    config: { ...kthwRange, routeLimit: 3 },
    expected: {
      creates: ['old____102002024 10.200.2.0/24 -> 10.240.0.3'],
      updates: [
        'young-route 10.200.1.0/24 VirtualAppliance 10.240.9.9 -> 10.200.1.0/24 VirtualAppliance 10.240.0.2',
      ],
      deletes: ['stale-1', 'stale-2'],
      overLimit: ['middle-b 10.200.3.0/24'],
      foreign: ['default-to-firewall'],
    },
  },
  {
    name: 'a table already full of foreign routes gets no creates at all',
    nodes: limitNodes.slice(0, 2),
    routes: [firewall, hop('a', '20.0.0.0/8', 'Internet'), hop('b', '30.0.0.0/8', 'Internet')],
    config: { ...kthwRange, routeLimit: 3 },
    expected: {
      overLimit: ['old 10.200.2.0/24', 'young 10.200.1.0/24'],
      foreign: ['a', 'b', 'default-to-firewall'],
    },
  },
  {
    name: 'a table already over the limit (lowered setting) still gets its deletes and no creates',
    nodes: limitNodes.slice(0, 1),
    routes: [firewall, hop('a', '20.0.0.0/8', 'Internet'), va('stale', '10.200.60.0/24', '10.240.0.60')],
    config: { ...kthwRange, routeLimit: 1 },
    expected: {
      deletes: ['stale'],
      overLimit: ['young 10.200.1.0/24'],
      foreign: ['a', 'default-to-firewall'],
    },
  },
  {
    name: 'kept routes count against the limit like any other',
    nodes: limitNodes.slice(0, 2),
    routes: [va('young-route', '10.200.1.0/24', '10.240.0.2')],
    config: { ...kthwRange, routeLimit: 1 },
    expected: { keeps: ['young-route for young'], overLimit: ['old 10.200.2.0/24'] },
  },
];

describe('planTable: route limit', () => {
  it.each(limitCases)('$name', (c) => check(c));
});

// ---- plan shape -----------------------------------------------------------------------------------------------

describe('planTable: shape of the plan', () => {
  it('puts every existing route in exactly one bucket', () => {
    const routes = [
      va('keep', '10.200.0.0/24', '10.240.0.20'),
      va('update', '10.200.1.0/24', '10.240.0.99'),
      va('delete', '10.200.2.0/24', '10.240.0.22'),
      va('frozen', '10.200.3.0/24', '10.240.0.23'),
      firewall,
    ];
    const nodes = [...kthw, node('no-ip', ['10.200.3.0/24'], [])];
    const plan = planTable(desiredRoutes(nodes, kthwRange), routes, kthwRange);
    const buckets = [
      ...plan.keeps.map((k) => k.route),
      ...plan.updates.map((u) => u.from),
      ...plan.deletes,
      ...plan.foreign,
      ...(plan.frozen ?? []),
    ];
    expect(buckets.map((r) => r.name).sort()).toEqual(routes.map((r) => r.name).sort());
  });

  it('is independent of the order of nodes and routes', () => {
    const nodes = [...limitNodes, ...kthw, node('dup', ['10.200.0.0/24'], ['10.240.0.77'])];
    const routes = [
      firewall,
      va('x', '10.200.1.0/24', '1.2.3.4'),
      va('y', '10.200.9.0/24', '1.2.3.5'),
      hop('z', '10.200.4.0/24', 'None'),
    ];
    const config = { ...kthwRange, routeLimit: 6 };
    const plan = planTable(desiredRoutes(nodes, config), routes, config);
    const reversed = planTable(desiredRoutes([...nodes].reverse(), config), [...routes].reverse(), config);
    expect(reversed).toEqual(plan);
  });

  it('updates keep the existing name and write the canonical prefix', () => {
    const plan = planTable(
      desiredRoutes(kthw, kthwRange),
      [va('worker-0____102000024', '10.200.0.0/24', '10.0.0.1')],
      kthwRange,
    );
    expect(plan.updates).toHaveLength(1);
    expect(plan.updates[0]?.to).toEqual(va('worker-0____102000024', '10.200.0.0/24', '10.240.0.20'));
  });

  it('plans nothing to change for an empty cluster and an empty table', () => {
    const plan = planTable(desiredRoutes([], kthwRange), [], kthwRange);
    expect(hasChanges(plan)).toBe(false);
    expect(summarize(plan, [])).toEqual(empty());
  });
});

// ---- desired routes -----------------------------------------------------------------------------------------

describe('desiredRoutes', () => {
  it('gives a dual-stack node one route per family, each via an InternalIP of its family', () => {
    const desired = desiredRoutes([node3], dualStack);
    expect(desired.routes).toEqual([
      {
        node: 'node-3',
        cidr: '10.120.0.0/24',
        family: 4,
        nextHopIpAddress: '10.0.3.1',
        name: 'node-3____101200024',
        nodeCreationTimestamp: '2024-01-01T00:00:00Z',
      },
      {
        node: 'node-3',
        cidr: 'a00:100::/24',
        family: 6,
        nextHopIpAddress: 'fd00::3',
        name: 'node-3____a0010024',
        nodeCreationTimestamp: '2024-01-01T00:00:00Z',
      },
    ]);
    expect(desired.skipped).toEqual([]);
    expect(desired.frozenPrefixes).toEqual([]);
  });

  it.each<{ label: string; node: NodeInfo; config: PlannerConfig; reason: SkipReason; mentions: string[] }>([
    {
      label: 'no pod CIDR',
      node: node('a', [], ['10.0.0.1']),
      config: kthwRange,
      reason: 'NoPodCIDR',
      mentions: ['a', 'spec.podCIDRs'],
    },
    {
      label: 'an empty podCIDR string',
      node: node('a', [''], ['10.0.0.1']),
      config: kthwRange,
      reason: 'NoPodCIDR',
      mentions: ['a'],
    },
    {
      label: 'an invalid CIDR',
      node: node('b', ['10.0.0/24'], ['10.0.0.1']),
      config: kthwRange,
      reason: 'InvalidPodCIDR',
      mentions: ['b', '"10.0.0/24"'],
    },
    {
      label: 'host bits',
      node: node('c', ['10.200.0.1/24'], ['10.0.0.1']),
      config: kthwRange,
      reason: 'HostBitsSet',
      mentions: ['c', '10.200.0.1/24', '10.200.0.0/24'],
    },
    {
      label: 'outside the cluster CIDR',
      node: node('d', ['10.99.0.0/24'], ['10.0.0.1']),
      config: kthwRange,
      reason: 'OutsideClusterCIDR',
      mentions: ['d', '10.99.0.0/24', '10.200.0.0/16'],
    },
    {
      label: '0.0.0.0/0 with a cluster CIDR',
      node: node('e', ['0.0.0.0/0'], ['10.0.0.1']),
      config: kthwRange,
      reason: 'OutsideClusterCIDR',
      mentions: ['e', '0.0.0.0/0'],
    },
    {
      label: '::/0 with a cluster CIDR',
      node: node('e6', ['::/0'], ['fd00::1']),
      config: dualStack,
      reason: 'OutsideClusterCIDR',
      mentions: ['e6', '::/0'],
    },
    {
      // Was PrefixTooBroad (minimum prefix length without --cluster-cidr): with no range, nothing is inside it.
      label: 'a pod CIDR without any cluster CIDR',
      node: node('f', ['10.200.0.0/24'], ['10.0.0.1']),
      config: noRange,
      reason: 'OutsideClusterCIDR',
      mentions: ['f', '10.200.0.0/24', '--cluster-cidr (none is set)'],
    },
    {
      // Was PrefixTooBroad: the default route is the whole 0.0.0.0/0 cluster range, so it would capture it all.
      label: '0.0.0.0/0 inside a 0.0.0.0/0 cluster CIDR',
      node: node('g', ['0.0.0.0/0'], ['10.0.0.1']),
      config: { ...noRange, clusterCIDRs: ['0.0.0.0/0'] },
      reason: 'CoversClusterCIDR',
      mentions: ['g', 'equals the --cluster-cidr range 0.0.0.0/0', "every node's pod traffic"],
    },
    {
      label: 'a pod CIDR equal to the cluster range',
      node: node('g2', ['10.200.0.0/16'], ['10.0.0.1']),
      config: kthwRange,
      reason: 'CoversClusterCIDR',
      mentions: ['g2', '10.200.0.0/16', 'equals the --cluster-cidr range 10.200.0.0/16'],
    },
    {
      label: 'a pod CIDR containing one of the cluster ranges',
      node: node('g3', ['10.200.0.0/18'], ['10.0.0.1']),
      config: {
        ...kthwRange,
        clusterCIDRs: ['10.200.0.0/16', '10.200.0.0/20'],
        nodeMaskSize: { v4: 16, v6: 64 },
      },
      reason: 'CoversClusterCIDR',
      mentions: ['g3', '10.200.0.0/18', 'contains the --cluster-cidr range 10.200.0.0/20'],
    },
    {
      label: 'an IPv4 pod CIDR broader than the node mask size',
      node: node('h4', ['10.200.0.0/23'], ['10.0.0.1']),
      config: kthwRange,
      reason: 'PrefixTooBroad',
      mentions: ['h4', '10.200.0.0/23', '/24', '--node-cidr-mask-size-ipv4', 'IPv4'],
    },
    {
      label: 'an IPv6 pod CIDR broader than the node mask size',
      node: node('h', ['fd00::/40'], ['fd00::1']),
      config: kthwDual,
      reason: 'PrefixTooBroad',
      mentions: ['h', 'fd00::/40', '/64', '--node-cidr-mask-size-ipv6', 'IPv6'],
    },
    {
      label: 'no InternalIP of the family',
      node: node('i', ['fd00:1::/64'], ['10.0.0.1']),
      config: kthwDual,
      reason: 'NoInternalIP',
      mentions: ['i', 'fd00:1::/64', 'no IPv6 InternalIP'],
    },
    {
      label: 'only unusable InternalIPs',
      node: node('j', ['10.200.0.0/24'], ['127.0.0.1', '169.254.0.1']),
      config: kthwRange,
      reason: 'NoInternalIP',
      mentions: ['j', '127.0.0.1, 169.254.0.1', 'loopback, link-local'],
    },
    {
      label: 'only unparseable InternalIPs',
      node: node('k', ['10.200.0.0/24'], ['not-an-ip']),
      config: kthwRange,
      reason: 'NoInternalIP',
      mentions: ['k', 'not-an-ip'],
    },
  ])('skips a node with $label ($reason)', ({ node: n, config, reason, mentions }) => {
    const desired = desiredRoutes([n], config);
    expect(desired.routes).toEqual([]);
    expect(desired.skipped).toHaveLength(1);
    const [skipped] = desired.skipped;
    expect(skipped?.reason).toBe(reason);
    expect(skipped?.node).toBe(n.name);
    for (const text of mentions) expect(skipped?.message).toContain(text);
    // One sentence naming the node, the input and the fix.
    expect(skipped?.message).toMatch(/^Node \S+ .*[;,] .*\.$/);
    expect(skipped?.message.split('. ')).toHaveLength(1);
  });

  it('freezes the prefix of a node with no usable InternalIP, but not that of a refused CIDR', () => {
    const desired = desiredRoutes(
      [node('no-ip', ['10.200.3.0/24'], ['fe80::1']), node('outside', ['10.99.0.0/24'], [])],
      kthwRange,
    );
    expect(desired.frozenPrefixes).toEqual(['10.200.3.0/24']);
  });

  it('refuses a CIDR claimed by several nodes on every one of them, naming the others', () => {
    const nodes = [
      node('c', ['10.200.0.0/24'], ['10.240.0.3']),
      node('a', ['10.200.0.0/24', 'fd00:1::/64'], ['10.240.0.1', 'fd00::1']),
      node('b', ['10.200.0.0/24'], []),
    ];
    const desired = desiredRoutes(nodes, kthwDual);
    expect(desired.routes.map((r) => `${r.node} ${r.cidr}`)).toEqual(['a fd00:1::/64']);
    expect(desired.skipped.map((s) => [s.node, s.reason])).toEqual([
      ['a', 'DuplicatePodCIDR'],
      ['b', 'DuplicatePodCIDR'],
      ['c', 'DuplicatePodCIDR'],
    ]);
    expect(desired.skipped[0]?.message).toContain('nodes b, c also claim');
    expect(desired.skipped[2]?.message).toContain('nodes a, b also claim');
    expect(desired.frozenPrefixes).toEqual(['10.200.0.0/24']);
  });

  it('counts two spellings of one CIDR as the same claim', () => {
    const desired = desiredRoutes(
      [node('a', ['fd00:1::/64'], ['fd00::1']), node('b', ['FD00:1:0::/64'], ['fd00::2'])],
      kthwDual,
    );
    expect(desired.routes).toEqual([]);
    expect(desired.skipped.map((s) => s.reason)).toEqual(['DuplicatePodCIDR', 'DuplicatePodCIDR']);
  });

  it('lists a CIDR repeated on one node once, without calling it a duplicate', () => {
    const desired = desiredRoutes([node('a', ['10.200.0.0/24', '10.200.0.0/24'], ['10.240.0.1'])], kthwRange);
    expect(desired.routes.map((r) => r.cidr)).toEqual(['10.200.0.0/24']);
    expect(desired.skipped).toEqual([]);
  });

  it('reads an IPv4-mapped InternalIP as IPv4', () => {
    const desired = desiredRoutes([node('a', ['10.200.0.0/24'], ['::ffff:10.240.0.9'])], kthwRange);
    expect(desired.routes[0]?.nextHopIpAddress).toBe('10.240.0.9');
  });

  it('sorts its output by node name, then CIDR, whatever the input order', () => {
    const nodes = [
      node('b', ['fd00:2::/64', '10.200.2.0/24'], ['10.0.0.2', 'fd00::2']),
      node('a', ['10.200.1.0/24', '10.99.0.0/24'], ['10.0.0.1']),
      node('c', [], []),
    ];
    const desired = desiredRoutes(nodes, kthwDual);
    expect(desired.routes.map((r) => `${r.node} ${r.cidr}`)).toEqual([
      'a 10.200.1.0/24',
      'b 10.200.2.0/24',
      'b fd00:2::/64',
    ]);
    expect(desired.skipped.map((s) => `${s.node} ${s.reason}`)).toEqual([
      'a OutsideClusterCIDR',
      'c NoPodCIDR',
    ]);
    expect(desiredRoutes([...nodes].reverse(), kthwDual)).toEqual(desired);
  });
});

// ---- changes ------------------------------------------------------------------------------------------------

describe('tableChanges and applyChanges', () => {
  it('turns creates and updates into upserts and deletes into names', () => {
    const routes = [
      va('worker-0____102000024', '10.200.0.0/24', '1.1.1.1'),
      va('old', '10.200.7.0/24', '1.1.1.7'),
    ];
    const plan = planTable(desiredRoutes(kthw, kthwRange), routes, kthwRange);
    expect(tableChanges(plan)).toEqual({
      upserts: [
        va('worker-0____102000024', '10.200.0.0/24', '10.240.0.20'),
        va('worker-1____102001024', '10.200.1.0/24', '10.240.0.21'),
      ],
      deletes: ['old'],
    });
  });

  it('deletes by name, replaces by name in place, appends the rest, and leaves its input alone', () => {
    const routes = [
      va('A', '10.0.0.0/24', '1.1.1.1'),
      va('b', '10.0.1.0/24', '1.1.1.2'),
      va('c', '10.0.2.0/24', '1.1.1.3'),
    ];
    const frozen = structuredClone(routes);
    const result = applyChanges(routes, {
      upserts: [va('a', '10.0.0.0/24', '9.9.9.9'), va('d', '10.0.3.0/24', '1.1.1.4')],
      deletes: ['B'],
    });
    expect(result).toEqual([
      va('a', '10.0.0.0/24', '9.9.9.9'),
      va('c', '10.0.2.0/24', '1.1.1.3'),
      va('d', '10.0.3.0/24', '1.1.1.4'),
    ]);
    expect(routes).toEqual(frozen);
  });

  it('isOurs is the same test the planner uses: inside a cluster CIDR, whatever the name', () => {
    expect(isOurs(va('x', '10.200.5.0/24', '1.1.1.1'), kthwRange)).toBe(true);
    expect(isOurs(hop('x', '10.200.5.0/24', 'None'), kthwRange)).toBe(true);
    expect(isOurs(va('x', '10.201.0.0/24', '1.1.1.1'), kthwRange)).toBe(false);
    expect(isOurs(va('x', '10.200.0.0/16', '1.1.1.1'), kthwRange)).toBe(true);
    expect(isOurs(va('x', '10.0.0.0/8', '1.1.1.1'), kthwRange)).toBe(false);
    // Name-based ownership is gone (DESIGN 2.1): a name in our scheme never makes a route ours.
    expect(isOurs(va('w____102005024', '10.201.5.0/24', '1.1.1.1'), kthwRange)).toBe(false);
    expect(isOurs(va('x', '10.200.5.0/24', '1.1.1.1'), noRange)).toBe(false);
    expect(isOurs(va('w____102005024', '10.200.5.0/24', '1.1.1.1'), noRange)).toBe(false);
    expect(isOurs(hop('w____102005024', 'AzureCloud', 'Internet'), noRange)).toBe(false);
    expect(isOurs(hop('w____102005024', 'AzureCloud', 'Internet'), kthwRange)).toBe(false);
  });
});

// ---- no captured traffic (DESIGN 2.3) -------------------------------------------------------------------------

const OLD = '2023-01-01T00:00:00Z';
const NEW = '2024-06-01T00:00:00Z';
/** Node masks of /16 let one pod CIDR contain another, so containment is tested and not just refused as broad. */
const wideMasks: PlannerConfig = { ...kthwRange, nodeMaskSize: { v4: 16, v6: 64 } };

function claims(desired: ReturnType<typeof desiredRoutes>): string[] {
  return [
    ...desired.routes.map((r) => `${r.node} ${r.cidr} route`),
    ...desired.skipped.map((s) => `${s.node} ${s.cidr ?? '-'} ${s.reason}`),
  ].sort();
}

describe('desiredRoutes: overlapping pod CIDRs', () => {
  it('refuses a newer /25 nested in an older /24, naming the other node and its CIDR; the older stands', () => {
    const nodes = [
      node('older', ['10.200.0.0/24'], ['10.240.0.1'], OLD),
      node('newer', ['10.200.0.0/25'], ['10.240.0.2'], NEW),
    ];
    const desired = desiredRoutes(nodes, kthwRange);
    expect(claims(desired)).toEqual(['newer 10.200.0.0/25 OverlappingPodCIDR', 'older 10.200.0.0/24 route']);
    const [skipped] = desired.skipped;
    expect(skipped?.message).toContain("lies inside node older's pod CIDR 10.200.0.0/24");
    expect(skipped?.message).toContain('older claim');
    expect(skipped?.message).toMatch(/^Node newer .*;.*\.$/);
    expect(skipped?.message.split('. ')).toHaveLength(1);
    // Not frozen: a route of ours for the refused prefix must go (see the planTable cases below).
    expect(desired.frozenPrefixes).toEqual([]);
  });

  it('refuses a newer pod CIDR that contains an older one', () => {
    const nodes = [
      node('small-old', ['10.200.0.0/25'], ['10.240.0.1'], OLD),
      node('big-new', ['10.200.0.0/24'], ['10.240.0.2'], NEW),
    ];
    const desired = desiredRoutes(nodes, kthwRange);
    expect(claims(desired)).toEqual([
      'big-new 10.200.0.0/24 OverlappingPodCIDR',
      'small-old 10.200.0.0/25 route',
    ]);
    expect(desired.skipped[0]?.message).toContain("contains node small-old's pod CIDR 10.200.0.0/25");
  });

  it('breaks a tie in age by node name, whatever the input order', () => {
    const nodes = [
      node('b', ['10.200.0.0/24'], ['10.240.0.2']),
      node('a', ['10.200.0.0/25'], ['10.240.0.1']),
    ];
    const desired = desiredRoutes(nodes, kthwRange);
    expect(claims(desired)).toEqual(['a 10.200.0.0/25 route', 'b 10.200.0.0/24 OverlappingPodCIDR']);
    expect(desiredRoutes([...nodes].reverse(), kthwRange)).toEqual(desired);
  });

  it('lets the claim whose route is already in place stand, even when it is the newer one', () => {
    const nodes = [
      node('older', ['10.200.0.0/24'], ['10.240.0.1'], OLD),
      node('newer', ['10.200.0.0/25'], ['10.240.0.2'], NEW),
    ];
    const asked: string[] = [];
    const inPlace = (cidr: string, ip: string) => {
      asked.push(`${cidr} ${ip}`);
      return cidr === '10.200.0.0/25' && ip === '10.240.0.2';
    };
    const desired = desiredRoutes(nodes, kthwRange, inPlace);
    expect(claims(desired)).toEqual(['newer 10.200.0.0/25 route', 'older 10.200.0.0/24 OverlappingPodCIDR']);
    expect(desired.skipped[0]?.message).toContain("contains node newer's pod CIDR 10.200.0.0/25");
    expect(desired.skipped[0]?.message).toContain('already in place');
    expect(asked.sort()).toEqual(['10.200.0.0/24 10.240.0.1', '10.200.0.0/25 10.240.0.2']);
  });

  it('falls back to age when both overlapping routes are in place', () => {
    const nodes = [
      node('older', ['10.200.0.0/24'], ['10.240.0.1'], OLD),
      node('newer', ['10.200.0.0/25'], ['10.240.0.2'], NEW),
    ];
    const desired = desiredRoutes(nodes, kthwRange, () => true);
    expect(claims(desired)).toEqual(['newer 10.200.0.0/25 OverlappingPodCIDR', 'older 10.200.0.0/24 route']);
  });

  it('refuses only for a claim that stands: a /22 refused for an older /24 does not refuse the /24 beside it', () => {
    const nodes = [
      node('first', ['10.200.0.0/24'], ['10.240.0.1'], '2023-01-01T00:00:00Z'),
      node('second', ['10.200.0.0/22'], ['10.240.0.2'], '2023-02-01T00:00:00Z'),
      node('third', ['10.200.2.0/24'], ['10.240.0.3'], '2023-03-01T00:00:00Z'),
      node('fourth', ['10.200.2.128/25'], ['10.240.0.4'], '2023-04-01T00:00:00Z'),
    ];
    const desired = desiredRoutes(nodes, wideMasks);
    expect(claims(desired)).toEqual([
      'first 10.200.0.0/24 route',
      'fourth 10.200.2.128/25 OverlappingPodCIDR',
      'second 10.200.0.0/22 OverlappingPodCIDR',
      'third 10.200.2.0/24 route',
    ]);
    const bySkip = new Map(desired.skipped.map((s) => [s.node, s.message]));
    expect(bySkip.get('second')).toContain("node first's pod CIDR 10.200.0.0/24");
    expect(bySkip.get('fourth')).toContain("node third's pod CIDR 10.200.2.0/24");
  });

  it('keeps equal claims DuplicatePodCIDR (frozen), and a newer claim nested in them is refused naming both', () => {
    const nodes = [
      node('d1', ['10.200.0.0/24'], ['10.240.0.1'], OLD),
      node('d2', ['10.200.0.0/24'], ['10.240.0.2'], OLD),
      node('nested', ['10.200.0.64/26'], ['10.240.0.3'], NEW),
    ];
    const desired = desiredRoutes(nodes, kthwRange);
    expect(claims(desired)).toEqual([
      'd1 10.200.0.0/24 DuplicatePodCIDR',
      'd2 10.200.0.0/24 DuplicatePodCIDR',
      'nested 10.200.0.64/26 OverlappingPodCIDR',
    ]);
    expect(desired.skipped.find((s) => s.node === 'nested')?.message).toContain(
      "nodes d1, d2's pod CIDR 10.200.0.0/24",
    );
    expect(desired.frozenPrefixes).toEqual(['10.200.0.0/24']);
  });

  it('never compares across families, and handles IPv6 nesting the same way', () => {
    const nodes = [
      node('v6-old', ['fd00:0:0:1::/64', '10.200.0.0/24'], ['fd00::1', '10.240.0.1'], OLD),
      node('v6-new', ['fd00:0:0:1:8000::/65'], ['fd00::2'], NEW),
    ];
    const desired = desiredRoutes(nodes, kthwDual);
    expect(claims(desired)).toEqual([
      'v6-new fd00:0:0:1:8000::/65 OverlappingPodCIDR',
      'v6-old 10.200.0.0/24 route',
      'v6-old fd00:0:0:1::/64 route',
    ]);
  });

  it('settles 5,000 nodes, a tenth of them overlapping an older node, with every refusal naming a standing claim', () => {
    const nodes: NodeInfo[] = [];
    for (let i = 0; i < 5000; i++) {
      const third = i % 256;
      const second = 200 + Math.floor(i / 256);
      nodes.push(node(`n${i}`, [`10.${second}.${third}.0/24`], [`10.240.${third}.${1 + (i % 200)}`], OLD));
      if (i % 10 === 0) {
        nodes.push(node(`m${i}`, [`10.${second}.${third}.128/25`], ['10.241.0.1'], NEW));
      }
    }
    const config: PlannerConfig = { ...kthwRange, clusterCIDRs: ['10.192.0.0/10'] };
    const desired = desiredRoutes(nodes, config);
    expect(desired.routes).toHaveLength(5000);
    expect(desired.skipped).toHaveLength(500);
    expect(desired.skipped.every((s) => s.reason === 'OverlappingPodCIDR' && s.node.startsWith('m'))).toBe(
      true,
    );
  });
});

describe('planTable: what becomes of a refused overlapping claim', () => {
  const older = node('older', ['10.200.0.0/24'], ['10.240.0.1'], OLD);
  const newer = node('newer', ['10.200.0.0/25'], ['10.240.0.2'], NEW);
  const olderRoute = va('older____102000024', '10.200.0.0/24', '10.240.0.1');
  const newerRoute = va('newer____102000025', '10.200.0.0/25', '10.240.0.2');
  const inTable = (routes: readonly Route[]) => (cidr: string, ip: string) =>
    routes.some((r) => r.addressPrefix === cidr && r.nextHopIpAddress === ip);

  it("deletes the newer node's route when both are in the table: the more specific route captured traffic", () => {
    const routes = [olderRoute, newerRoute];
    const plan = planTable(desiredRoutes([older, newer], kthwRange, inTable(routes)), routes, kthwRange);
    expect(summarize(plan, routes)).toEqual({
      ...empty(),
      keeps: ['older____102000024 for older'],
      deletes: ['newer____102000025'],
      final: ['10.200.0.0/24 VirtualAppliance 10.240.0.1'],
    });
  });

  it("keeps the newer node's route when it alone is in place, and creates nothing for the older one", () => {
    const routes = [newerRoute];
    const plan = planTable(desiredRoutes([older, newer], kthwRange, inTable(routes)), routes, kthwRange);
    expect(summarize(plan, routes)).toEqual({
      ...empty(),
      keeps: ['newer____102000025 for newer'],
      final: ['10.200.0.0/25 VirtualAppliance 10.240.0.2'],
    });
  });

  it('deletes a stale route of ours for the refused prefix too (it points elsewhere, so it is not in place)', () => {
    const routes = [olderRoute, va('newer____102000025', '10.200.0.0/25', '10.240.9.9')];
    const plan = planTable(desiredRoutes([older, newer], kthwRange, inTable(routes)), routes, kthwRange);
    expect(plan.deletes.map((r) => r.name)).toEqual(['newer____102000025']);
    expect(plan.keeps.map((k) => k.route.name)).toEqual(['older____102000024']);
  });
});

// ---- provisioning state and refused routes (DESIGN 2.4) ----------------------------------------------------

describe('planTable: provisioning state', () => {
  const routes = [
    { ...va('worker-0____102000024', '10.200.0.0/24', '10.240.0.20'), provisioningState: 'Succeeded' },
    va('worker-1____102001024', '10.200.1.0/24', '10.240.0.21'),
  ];
  const desired = desiredRoutes(kthw, kthwRange);

  it('plans nothing when the table and its routes read Succeeded (absent reads as Succeeded)', () => {
    for (const context of [
      undefined,
      {},
      { tableProvisioningState: 'Succeeded' },
      { tableProvisioningState: 'succeeded' },
    ]) {
      const plan = planTable(desired, routes, kthwRange, context);
      expect(plan.redrive).toBe(false);
      expect(hasChanges(plan)).toBe(false);
      expect(plan.keeps).toHaveLength(2);
    }
  });

  it.each(['Failed', 'Updating', 'Canceled', 'Deleting'])(
    're-drives a table that reads %s even when every route is already in it',
    (state) => {
      const plan = planTable(desired, routes, kthwRange, { tableProvisioningState: state });
      expect(plan.redrive).toBe(true);
      expect(hasChanges(plan)).toBe(true);
      expect(plan.keeps.map((k) => k.route.name)).toEqual(['worker-0____102000024', 'worker-1____102001024']);
      // A re-drive rewrites the table as it is: no route changes.
      expect(tableChanges(plan)).toEqual({ upserts: [], deletes: [] });
    },
  );

  it.each(['Failed', 'Updating'])('re-drives a table in which a kept route reads %s', (state) => {
    const withState = [routes[0]!, { ...routes[1]!, provisioningState: state }];
    const plan = planTable(desired, withState, kthwRange, { tableProvisioningState: 'Succeeded' });
    expect(plan.redrive).toBe(true);
    expect(hasChanges(plan)).toBe(true);
  });

  it('does not re-drive for a route that is not kept (a foreign one, or one of ours being deleted)', () => {
    const extra = [
      ...routes,
      { ...hop('team-route', '192.168.0.0/24', 'Internet'), provisioningState: 'Failed' },
      { ...va('stale', '10.200.9.0/24', '10.240.0.29'), provisioningState: 'Failed' },
    ];
    const plan = planTable(desired, extra, kthwRange);
    expect(plan.redrive).toBe(false);
    expect(plan.deletes.map((r) => r.name)).toEqual(['stale']);
    expect(plan.foreign.map((r) => r.name)).toEqual(['team-route']);
  });
});

describe('planTable: routes Azure refused', () => {
  const desired = desiredRoutes(kthw, kthwRange);

  it('sets a refused route aside with its message: not created, and the rest of the plan goes ahead', () => {
    const rejected = new Map([['10.200.1.0/24', 'Route worker-1____102001024 has an invalid next hop.']]);
    const plan = planTable(desired, [], kthwRange, { rejected });
    expect(plan.creates.map((c) => c.route.name)).toEqual(['worker-0____102000024']);
    expect(plan.rejected).toEqual([
      { desired: desired.routes[1], message: 'Route worker-1____102001024 has an invalid next hop.' },
    ]);
    expect(tableChanges(plan).upserts.map((r) => r.name)).toEqual(['worker-0____102000024']);
  });

  it('leaves an existing route of ours for a refused prefix exactly as it is (frozen), neither updated nor kept', () => {
    const routes = [
      va('worker-0____102000024', '10.200.0.0/24', '10.240.0.20'),
      va('worker-1____102001024', '10.200.1.0/24', '10.240.0.99'),
    ];
    const rejected = new Map([['10.200.1.0/24', 'refused']]);
    const plan = planTable(desired, routes, kthwRange, { rejected });
    expect(summarize(plan, routes)).toEqual({
      ...empty(),
      keeps: ['worker-0____102000024 for worker-0'],
      frozen: ['worker-1____102001024'],
      final: ['10.200.0.0/24 VirtualAppliance 10.240.0.20', '10.200.1.0/24 VirtualAppliance 10.240.0.99'],
    });
    expect(hasChanges(plan)).toBe(false);
  });

  it('matches refused prefixes canonically', () => {
    const v6 = desiredRoutes([node('v6', ['fd00:10:244:1::/64'], ['fd00::a'])], kthwDual);
    const plan = planTable(v6, [], kthwDual, { rejected: new Map([['FD00:10:244:1:0::/64', 'no']]) });
    expect(plan.creates).toEqual([]);
    expect(plan.rejected?.map((r) => r.desired.cidr)).toEqual(['fd00:10:244:1::/64']);
  });
});
