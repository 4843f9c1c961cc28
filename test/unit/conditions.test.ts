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

describe('needsConditionPatch (the upstream eight cases)', () => {
  const absent = undefined;
  const routeCreated = { status: 'False', reason: 'RouteCreated' };
  const noRouteCreated = { status: 'True', reason: 'NoRouteCreated' };
  const calicoIsUp = { status: 'False', reason: 'CalicoIsUp' };

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
    expect(needsConditionPatch(current, routesCreated)).toBe(expected);
  });

  it('treats a condition without a reason as not matching', () => {
    expect(needsConditionPatch({ status: 'False' }, true)).toBe(true);
    expect(needsConditionPatch({ status: 'True', reason: undefined }, false)).toBe(true);
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

const config: PlannerConfig = { clusterCIDRs: [], routeLimit: 400, minPrefixLength: { v4: 16, v6: 48 } };

interface OutcomeCase {
  name: string;
  nodes: NodeInfo[];
  /** One entry per table: its routes, whether its write was applied, and optionally its name and limit. */
  tables: { routes: Route[]; applied: boolean; name?: string; routeLimit?: number }[];
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
    name: 'a conflict with a foreign route',
    nodes: [w0],
    tables: [{ routes: [va('manual', '10.200.0.0/24', '10.240.0.99')], applied: true }],
    expected: {
      'worker-0': {
        routesCreated: false,
        problems: ['conflicts with route manual (10.200.0.0/24 via VirtualAppliance 10.240.0.99)'],
      },
    },
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
      { routes: [va('manual', '10.200.3.0/24', '10.240.0.99')], applied: true, name: 'rt-b' },
    ],
    expected: {
      'worker-3': {
        routesCreated: false,
        problems: [
          'with host bits set',
          'could not be written to route table rt-a',
          'conflicts with route manual',
        ],
      },
    },
  },
];

describe('nodeRouteOutcomes', () => {
  it.each(outcomeCases)('$name', ({ nodes, tables, expected }) => {
    const desired = desiredRoutes(nodes, config);
    const outcomes: TableOutcome[] = tables.map((t) => ({
      plan: planTable(desired, t.routes, { ...config, routeLimit: t.routeLimit ?? config.routeLimit }),
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
