import { describe, expect, it } from 'vitest';
import {
  ROUTES_CREATED_MESSAGE,
  ROUTES_NOT_CREATED_MESSAGE,
  needsConditionPatch,
  networkCondition,
  nodeRouteOutcomes,
  type TableOutcome,
} from '../../src/domain/conditions.ts';
import { desiredRoutes } from '../../src/domain/desired.ts';
import { planTable } from '../../src/domain/planner.ts';
import type { NodeInfo, PlannerConfig, Route } from '../../src/domain/types.ts';

describe('needsConditionPatch (the upstream eight cases, messages matching)', () => {
  const absent = undefined;
  const routeCreated = { status: 'False', reason: 'RouteCreated', message: ROUTES_CREATED_MESSAGE };
  const noRouteCreated = { status: 'True', reason: 'NoRouteCreated', message: ROUTES_NOT_CREATED_MESSAGE };
  const calicoIsUp = { status: 'False', reason: 'CalicoIsUp', message: ROUTES_CREATED_MESSAGE };

  it.each([
    [true, 'absent', absent, true],
    [true, 'False/RouteCreated', routeCreated, false],
    [true, 'True/NoRouteCreated', noRouteCreated, true],
    [true, 'False/CalicoIsUp', calicoIsUp, true],
    [false, 'absent', absent, true],
    [false, 'False/RouteCreated', routeCreated, true],
    [false, 'True/NoRouteCreated', noRouteCreated, false],
    [false, 'False/CalicoIsUp', calicoIsUp, true],
  ])('routesCreated=%s, current %s: patch=%s', (routesCreated, _label, current, expected) => {
    expect(needsConditionPatch(current, networkCondition(routesCreated, []))).toBe(expected);
  });

  it('treats a condition without a reason as not matching', () => {
    expect(
      needsConditionPatch({ status: 'False', message: ROUTES_CREATED_MESSAGE }, networkCondition(true, [])),
    ).toBe(true);
    expect(
      needsConditionPatch(
        { status: 'True', reason: undefined, message: ROUTES_NOT_CREATED_MESSAGE },
        networkCondition(false, []),
      ),
    ).toBe(true);
  });

  it('patches when only the message changed: the node has a different problem under the same status (DESIGN 2.5)', () => {
    const current = {
      status: 'True',
      reason: 'NoRouteCreated',
      message: 'Node a has pod CIDR x, which is invalid.',
    };
    expect(
      needsConditionPatch(current, networkCondition(false, ['Node a has pod CIDR y, which overlaps.'])),
    ).toBe(true);
    expect(
      needsConditionPatch(current, networkCondition(false, ['Node a has pod CIDR x, which is invalid.'])),
    ).toBe(false);
  });

  it('patches a RouteCreated condition whose message is not ours, or is missing', () => {
    const want = networkCondition(true, []);
    expect(
      needsConditionPatch({ status: 'False', reason: 'RouteCreated', message: 'set by hand' }, want),
    ).toBe(true);
    expect(needsConditionPatch({ status: 'False', reason: 'RouteCreated' }, want)).toBe(true);
    expect(
      needsConditionPatch({ status: 'False', reason: 'RouteCreated', message: ROUTES_CREATED_MESSAGE }, want),
    ).toBe(false);
  });
});

describe('networkCondition', () => {
  it.each([
    [true, [], { status: 'False', reason: 'RouteCreated', message: ROUTES_CREATED_MESSAGE }],
    [true, ['ignored.'], { status: 'False', reason: 'RouteCreated', message: ROUTES_CREATED_MESSAGE }],
    [false, [], { status: 'True', reason: 'NoRouteCreated', message: ROUTES_NOT_CREATED_MESSAGE }],
    [false, ['First.', 'Second.'], { status: 'True', reason: 'NoRouteCreated', message: 'First. Second.' }],
  ] as const)('routesCreated=%s, problems %j', (routesCreated, problems, expected) => {
    expect(networkCondition(routesCreated, problems)).toEqual(expected);
  });
});

function node(
  name: string,
  podCIDRs: string[],
  internalIPs: string[],
  creationTimestamp = '2024-01-01T00:00:00Z',
): NodeInfo {
  return { name, uid: `uid-${name}`, creationTimestamp, podCIDRs, internalIPs };
}

function va(name: string, addressPrefix: string, nextHopIpAddress: string): Route {
  return { name, addressPrefix, nextHopType: 'VirtualAppliance', nextHopIpAddress };
}

const config: PlannerConfig = {
  clusterCIDRs: ['10.200.0.0/16', 'fd00::/16'],
  routeLimit: 400,
  nodeMaskSize: { v4: 24, v6: 64 },
};

interface OutcomeCase {
  name: string;
  nodes: NodeInfo[];
  /**
   * One entry per table: its routes, whether its write was applied, and optionally its name, limit, the
   * table's provisioningState and the routes Azure refused (prefix -> Azure's message).
   */
  tables: {
    routes: Route[];
    applied: boolean;
    name?: string;
    routeLimit?: number;
    state?: string;
    rejected?: Record<string, string>;
  }[];
  /** node -> expected routesCreated, and snippets every problem list must contain (in order). */
  expected: Record<string, { routesCreated: boolean; problems?: string[] }>;
}

const w0 = node('worker-0', ['10.200.0.0/24'], ['10.240.0.20']);
const w1 = node(
  'worker-1',
  ['10.200.1.0/24', 'fd00:1::/64'],
  ['10.240.0.21', 'fd00::21'],
  '2025-01-01T00:00:00Z',
);
const inPlace = [va('worker-0____102000024', '10.200.0.0/24', '10.240.0.20')];

const outcomeCases: OutcomeCase[] = [
  {
    name: 'routes already in place in every table',
    nodes: [w0],
    tables: [
      { routes: inPlace, applied: false },
      { routes: inPlace, applied: false },
    ],
    expected: { 'worker-0': { routesCreated: true } },
  },
  {
    name: 'routes created by an applied write',
    nodes: [w0, w1],
    tables: [{ routes: [], applied: true }],
    expected: { 'worker-0': { routesCreated: true }, 'worker-1': { routesCreated: true } },
  },
  {
    name: 'a write that failed',
    nodes: [w0],
    tables: [{ routes: [], applied: false, name: 'rt-a' }],
    expected: {
      'worker-0': {
        routesCreated: false,
        problems: ['10.200.0.0/24 could not be written to route table rt-a'],
      },
    },
  },
  {
    name: 'an update whose write failed',
    nodes: [w0],
    tables: [{ routes: [va('worker-0____102000024', '10.200.0.0/24', '10.9.9.9')], applied: false }],
    expected: { 'worker-0': { routesCreated: false, problems: ['could not be written to the route table'] } },
  },
  {
    name: 'in place in one table, failed write in the other',
    nodes: [w0],
    tables: [
      { routes: inPlace, applied: true },
      { routes: [], applied: false },
    ],
    expected: { 'worker-0': { routesCreated: false, problems: ['route table 2 of 2'] } },
  },
  {
    // Was "a conflict with a foreign route": a route holding a wanted prefix lies in the cluster range, so it
    // is ours now and is corrected (the conflict message is checked with a hand-built plan below).
    name: 'a hand-made route with another next hop is corrected by an applied write',
    nodes: [w0],
    tables: [{ routes: [va('manual', '10.200.0.0/24', '10.240.0.99')], applied: true }],
    expected: { 'worker-0': { routesCreated: true } },
  },
  {
    name: 'a name held by a foreign route',
    nodes: [w0],
    tables: [
      {
        routes: [{ name: 'worker-0____102000024', addressPrefix: 'AzureCloud', nextHopType: 'Internet' }],
        applied: true,
      },
    ],
    expected: {
      'worker-0': {
        routesCreated: false,
        problems: ['its name worker-0____102000024 is taken by a route for AzureCloud'],
      },
    },
  },
  {
    name: 'over the route limit: the younger node misses out',
    nodes: [w0, w1],
    tables: [{ routes: [], applied: true, routeLimit: 2 }],
    expected: {
      'worker-0': { routesCreated: true },
      'worker-1': {
        routesCreated: false,
        problems: ['fd00:1::/64 was not created in the route table because the table is at its route limit'],
      },
    },
  },
  {
    name: 'one family of a dual-stack node skipped',
    nodes: [node('worker-2', ['10.200.2.0/24', 'fd00:2::/64'], ['10.240.0.22'])],
    tables: [{ routes: [], applied: true }],
    expected: {
      'worker-2': {
        routesCreated: false,
        problems: ['Node worker-2 has pod CIDR fd00:2::/64 but it reports no IPv6 InternalIP'],
      },
    },
  },
  {
    name: 'a duplicate pod CIDR, reported on both nodes',
    nodes: [node('a', ['10.200.5.0/24'], ['10.240.0.1']), node('b', ['10.200.5.0/24'], ['10.240.0.2'])],
    tables: [{ routes: [], applied: true }],
    expected: {
      a: { routesCreated: false, problems: ['which node b also claims'] },
      b: { routesCreated: false, problems: ['which node a also claims'] },
    },
  },
  {
    name: 'a node without a pod CIDR gets no outcome at all',
    nodes: [node('bare', [], ['10.240.0.5']), node('blank', [''], ['10.240.0.6']), w0],
    tables: [{ routes: [], applied: true }],
    expected: { 'worker-0': { routesCreated: true } },
  },
  {
    name: 'several problems are all reported, skips first',
    nodes: [node('worker-3', ['10.200.3.0/24', '10.200.3.1/24'], ['10.240.0.23'])],
    tables: [
      { routes: [], applied: false, name: 'rt-a' },
      { routes: [], applied: true, name: 'rt-b', rejected: { '10.200.3.0/24': 'Invalid next hop' } },
    ],
    expected: {
      'worker-3': {
        routesCreated: false,
        problems: [
          'with host bits set',
          'could not be written to route table rt-a',
          "Azure refused node worker-3's route for pod CIDR 10.200.3.0/24 in route table rt-b: Invalid next hop.",
        ],
      },
    },
  },
  {
    name: 'a table found Failed with every route in it: not in place until the re-drive applies',
    nodes: [w0],
    tables: [{ routes: inPlace, applied: false, name: 'rt-a', state: 'Failed' }],
    expected: {
      'worker-0': {
        routesCreated: false,
        problems: [
          "Node worker-0's route for pod CIDR 10.200.0.0/24 is in route table rt-a, but the table or the route does not read Succeeded",
        ],
      },
    },
  },
  {
    name: 'a table found Failed whose re-drive applied: in place',
    nodes: [w0],
    tables: [{ routes: inPlace, applied: true, state: 'Failed' }],
    expected: { 'worker-0': { routesCreated: true } },
  },
  {
    name: 'a kept route that reads Updating, in a table whose re-drive did not complete',
    nodes: [w0],
    tables: [{ routes: [{ ...inPlace[0]!, provisioningState: 'Updating' }], applied: false }],
    expected: { 'worker-0': { routesCreated: false, problems: ['does not read Succeeded'] } },
  },
  {
    name: 'a route Azure refused is a problem with its message, while the rest of the table was written',
    nodes: [w0, node('worker-5', ['10.200.5.0/24'], ['10.240.0.25'])],
    tables: [
      {
        routes: [],
        applied: true,
        name: 'rt-a',
        rejected: { '10.200.5.0/24': 'The route worker-5____102005024 has an invalid nextHopIpAddress.' },
      },
    ],
    expected: {
      'worker-0': { routesCreated: true },
      'worker-5': {
        routesCreated: false,
        problems: [
          "Azure refused node worker-5's route for pod CIDR 10.200.5.0/24 in route table rt-a: The route worker-5____102005024 has an invalid nextHopIpAddress. The next sync tries this route again.",
        ],
      },
    },
  },
  {
    name: 'overlapping pod CIDRs: the newer node is told which node and CIDR it overlaps',
    nodes: [w0, node('late', ['10.200.0.128/25'], ['10.240.0.30'], '2026-01-01T00:00:00Z')],
    tables: [{ routes: [], applied: true }],
    expected: {
      'worker-0': { routesCreated: true },
      late: { routesCreated: false, problems: ["lies inside node worker-0's pod CIDR 10.200.0.0/24"] },
    },
  },
  {
    name: 'a pod CIDR equal to the cluster range, and one broader than the node mask size',
    nodes: [
      node('all', ['10.200.0.0/16'], ['10.240.0.40']),
      node('broad', ['10.200.8.0/22'], ['10.240.0.41']),
    ],
    tables: [{ routes: [], applied: true }],
    expected: {
      all: { routesCreated: false, problems: ['equals the --cluster-cidr range 10.200.0.0/16'] },
      broad: { routesCreated: false, problems: ['--node-cidr-mask-size-ipv4'] },
    },
  },
];

describe('nodeRouteOutcomes', () => {
  it.each(outcomeCases)('$name', ({ nodes, tables, expected }) => {
    const desired = desiredRoutes(nodes, config);
    const outcomes: TableOutcome[] = tables.map((t) => ({
      plan: planTable(
        desired,
        t.routes,
        { ...config, routeLimit: t.routeLimit ?? config.routeLimit },
        { tableProvisioningState: t.state, rejected: new Map(Object.entries(t.rejected ?? {})) },
      ),
      applied: t.applied,
      name: t.name,
    }));
    const result = nodeRouteOutcomes(nodes, desired, outcomes);
    expect([...result.keys()]).toEqual(Object.keys(expected).sort());
    for (const [name, want] of Object.entries(expected)) {
      const got = result.get(name);
      expect(got?.routesCreated, name).toBe(want.routesCreated);
      const snippets = want.problems ?? [];
      expect(got?.problems, name).toHaveLength(snippets.length);
      snippets.forEach((snippet, i) => expect(got?.problems[i]).toContain(snippet));
      for (const problem of got?.problems ?? []) expect(problem).toMatch(/\.$/);
    }
  });

  it('reports a desired route missing from a plan rather than calling it created', () => {
    const desired = desiredRoutes([w0], config);
    const emptyPlan = planTable({ routes: [], skipped: [], frozenPrefixes: [] }, [], config);
    const result = nodeRouteOutcomes([w0], desired, [{ plan: emptyPlan, applied: true }]);
    expect(result.get('worker-0')?.routesCreated).toBe(false);
    expect(result.get('worker-0')?.problems[0]).toContain('was not planned');
  });

  it('in a dry run, calls an unwritten route pending rather than failed', () => {
    const desired = desiredRoutes([w0], config);
    const plan = planTable(desired, [], config);
    const dry = nodeRouteOutcomes([w0], desired, [{ plan, applied: false, name: 't', dryRun: true }]);
    expect(dry.get('worker-0')).toEqual({
      routesCreated: false,
      problems: [expect.stringContaining('a sync without --dry-run writes it')],
    });
    const failed = nodeRouteOutcomes([w0], desired, [{ plan, applied: false, name: 't' }]);
    expect(failed.get('worker-0')?.problems[0]).toContain('could not be written');
  });
});

describe('nodeRouteOutcomes: messages for hand-built plans', () => {
  it('names the foreign route a conflict is with', () => {
    const desired = desiredRoutes([w0], config);
    const plan = planTable(desired, [], config);
    const manual = va('manual', '10.200.0.0/24', '10.240.0.99');
    const withConflict = {
      ...plan,
      creates: [],
      conflicts: [
        { desired: desired.routes[0]!, existing: manual, kind: 'PrefixHeldByForeignRoute' as const },
      ],
    };
    const result = nodeRouteOutcomes([w0], desired, [{ plan: withConflict, applied: true }]);
    expect(result.get('worker-0')?.problems).toEqual([
      expect.stringContaining('conflicts with route manual (10.200.0.0/24 via VirtualAppliance 10.240.0.99)'),
    ]);
  });

  it('in a dry run, calls a kept route of a table to re-drive pending', () => {
    const desired = desiredRoutes([w0], config);
    const plan = planTable(desired, inPlace, config, { tableProvisioningState: 'Failed' });
    expect(plan.redrive).toBe(true);
    const dry = nodeRouteOutcomes([w0], desired, [{ plan, applied: false, name: 't', dryRun: true }]);
    expect(dry.get('worker-0')?.problems).toEqual([
      expect.stringContaining('a sync without --dry-run re-drives it'),
    ]);
  });

  it('keeps the unread-table semantics (ADR 7): unconfirmed, not failed, whatever the plan says', () => {
    const desired = desiredRoutes([w0], config);
    const plan = planTable(desired, [], config, { tableProvisioningState: 'Failed' });
    const result = nodeRouteOutcomes([w0], desired, [{ plan, applied: false, name: 't', unread: true }]);
    expect(result.get('worker-0')).toEqual({
      routesCreated: false,
      problems: [expect.stringContaining('could not be confirmed in route table t')],
      unconfirmedOnly: true,
    });
  });
});
