import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalIp, canonicalPrefix } from '../../src/domain/cidr.ts';
import { desiredRoutes } from '../../src/domain/desired.ts';
import { formatRouteName } from '../../src/domain/naming.ts';
import { isOurs } from '../../src/domain/ownership.ts';
import { applyChanges, hasChanges, planTable, tableChanges } from '../../src/domain/planner.ts';
import type { NodeInfo, PlannerConfig, Route } from '../../src/domain/types.ts';

// Small pools, so that random clusters collide often: shared pod CIDRs, node1 next to node10, long names
// sharing a prefix, routes that squat on our names, unusable node addresses.
const NODE_NAMES = [
  'node1',
  'node10',
  'node100',
  'worker-0',
  'worker-1',
  'a',
  `${'x'.repeat(90)}-a`,
  `${'x'.repeat(90)}-b`,
];
const V4_CIDRS = Array.from({ length: 8 }, (_, k) => `10.0.${k}.0/24`);
const V6_CIDRS = Array.from({ length: 4 }, (_, k) => `fd00:0:0:${k.toString(16)}::/64`);
const POD_CIDRS = [...V4_CIDRS, ...V6_CIDRS, '10.0.0.1/24', 'bad', '10.99.0.0/24', '0.0.0.0/0', '::/0'];
const NODE_IPS = [
  '10.240.0.1',
  '10.240.0.2',
  '10.240.0.3',
  'fd00::1',
  'fd00::2',
  '127.0.0.1',
  'fe80::1',
  'garbage',
];
const OUTSIDE = Array.from({ length: 6 }, (_, k) => `192.168.${k}.0/24`);
const NEXT_HOP_TYPES = [
  'VirtualAppliance',
  'None',
  'Internet',
  'VnetLocal',
  'VirtualNetworkGateway',
  'FutureHop',
];

const nodeArb: fc.Arbitrary<NodeInfo> = fc.record({
  name: fc.constantFrom(...NODE_NAMES),
  uid: fc.constant('uid'),
  creationTimestamp: fc.oneof(
    fc.integer({ min: 1, max: 28 }).map((day) => `2024-02-${String(day).padStart(2, '0')}T00:00:00Z`),
    fc.constant(''),
  ),
  podCIDRs: fc.uniqueArray(fc.constantFrom(...POD_CIDRS), { maxLength: 2 }),
  internalIPs: fc.uniqueArray(fc.constantFrom(...NODE_IPS), { maxLength: 3 }),
});

const nextHopArb = fc.oneof(
  fc
    .constantFrom(...NODE_IPS.slice(0, 5))
    .map((ip) => ({ nextHopType: 'VirtualAppliance', nextHopIpAddress: ip })),
  fc.constantFrom(...NEXT_HOP_TYPES).map((nextHopType) => ({ nextHopType })),
);

const routeArb: fc.Arbitrary<Route> = fc.oneof(
  // Routes named in our scheme, for the prefix in the name (possibly upper-cased, as a human might).
  fc
    .tuple(
      fc.constantFrom(...NODE_NAMES),
      fc.constantFrom(...V4_CIDRS, ...V6_CIDRS),
      nextHopArb,
      fc.boolean(),
    )
    .map(([node, cidr, hop, upper]) => {
      const name = formatRouteName(node, cidr);
      return { name: upper ? name.toUpperCase() : name, addressPrefix: cidr, ...hop };
    }),
  // Hand-made routes inside the pod ranges.
  fc
    .tuple(fc.integer({ min: 0, max: 999 }), fc.constantFrom(...V4_CIDRS, ...V6_CIDRS), nextHopArb)
    .map(([i, cidr, hop]) => ({ name: `hand-${i}`, addressPrefix: cidr, ...hop })),
  // Foreign routes elsewhere, a default route, service tags, garbage.
  fc
    .tuple(
      fc.integer({ min: 0, max: 999 }),
      fc.constantFrom(...OUTSIDE, '0.0.0.0/0', 'AzureCloud', 'Storage', 'x/99'),
      nextHopArb,
    )
    .map(([i, prefix, hop]) => ({ name: `other-${i}`, addressPrefix: prefix, ...hop })),
  // Squatters: our name, somebody else's prefix.
  fc
    .tuple(
      fc.constantFrom(...NODE_NAMES),
      fc.constantFrom(...V4_CIDRS),
      fc.constantFrom(...OUTSIDE, 'AzureCloud'),
      nextHopArb,
    )
    .map(([node, cidr, prefix, hop]) => ({
      name: formatRouteName(node, cidr),
      addressPrefix: prefix,
      ...hop,
    })),
);

/** Azure keeps names unique (case-insensitively) and refuses two routes with one prefix: so do we. */
function asAzureWould(routes: readonly Route[]): Route[] {
  const names = new Set<string>();
  const prefixes = new Set<string>();
  return routes.filter((route) => {
    const name = route.name.toLowerCase();
    const prefix = canonicalPrefix(route.addressPrefix) ?? `tag:${route.addressPrefix.toLowerCase()}`;
    if (names.has(name) || prefixes.has(prefix)) return false;
    names.add(name);
    prefixes.add(prefix);
    return true;
  });
}

const configArb: fc.Arbitrary<PlannerConfig> = fc.record({
  clusterCIDRs: fc.constantFrom<readonly string[]>([], ['10.0.0.0/16', 'fd00::/48'], ['10.0.0.0/20']),
  routeLimit: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 20 }), fc.constant(400)),
  minPrefixLength: fc.constant({ v4: 16, v6: 48 }),
});

/** Routes that some node of the cluster wants, as a previous run (or a human) may have left them. */
function existingRoutesArb(nodes: readonly NodeInfo[], config: PlannerConfig): fc.Arbitrary<Route> {
  const wanted = desiredRoutes(nodes, config).routes;
  if (wanted.length === 0) return routeArb;
  const want = fc.constantFrom(...wanted);
  return fc.oneof(
    fc
      .tuple(want, fc.integer({ min: 0, max: 999 }), fc.option(nextHopArb, { freq: 2 }), fc.boolean())
      .map(([want, i, hop, ourName]) => ({
        name: ourName ? want.name : `adopt-${i}`,
        addressPrefix: want.cidr,
        ...(hop ?? { nextHopType: 'VirtualAppliance', nextHopIpAddress: want.nextHopIpAddress }),
      })),
    // A foreign route squatting on the name a node's new route would get.
    fc
      .tuple(want, fc.constantFrom(...OUTSIDE, 'AzureCloud'), nextHopArb)
      .map(([want, prefix, hop]) => ({ name: want.name, addressPrefix: prefix, ...hop })),
  );
}

const scenarioArb = fc
  .record({
    nodes: fc.uniqueArray(nodeArb, { selector: (n) => n.name, maxLength: NODE_NAMES.length }),
    config: configArb,
  })
  .chain(({ nodes, config }) =>
    fc.record({
      nodes: fc.constant(nodes),
      config: fc.constant(config),
      routes: fc
        .array(fc.oneof(routeArb, existingRoutesArb(nodes, config)), { maxLength: 16 })
        .map(asAzureWould),
    }),
  )
  .chain((s) =>
    fc.record({
      scenario: fc.constant(s),
      shuffledNodes: fc.shuffledSubarray(s.nodes, { minLength: s.nodes.length }),
      shuffledRoutes: fc.shuffledSubarray(s.routes, { minLength: s.routes.length }),
    }),
  );

const RUNS = { numRuns: 200 };

function run({ nodes, routes, config }: { nodes: NodeInfo[]; routes: Route[]; config: PlannerConfig }) {
  const desired = desiredRoutes(nodes, config);
  const plan = planTable(desired, routes, config);
  const result = applyChanges(routes, tableChanges(plan));
  return { desired, plan, result };
}

function findByName(routes: readonly Route[], name: string): Route | undefined {
  return routes.find((route) => route.name.toLowerCase() === name.toLowerCase());
}

describe('planner properties', () => {
  it('never changes or deletes a route that is not ours', () => {
    fc.assert(
      fc.property(scenarioArb, ({ scenario }) => {
        const { plan, result } = run(scenario);
        for (const route of scenario.routes) {
          if (!isOurs(route, scenario.config)) expect(findByName(result, route.name)).toEqual(route);
        }
        for (const { from } of plan.updates) expect(isOurs(from, scenario.config)).toBe(true);
        for (const route of plan.deletes) expect(isOurs(route, scenario.config)).toBe(true);
        for (const route of plan.frozen ?? []) expect(findByName(result, route.name)).toEqual(route);
      }),
      RUNS,
    );
  });

  it('never leaves two routes with the same prefix or the same name', () => {
    fc.assert(
      fc.property(scenarioArb, ({ scenario }) => {
        const { result } = run(scenario);
        const prefixes = result.flatMap((route) => canonicalPrefix(route.addressPrefix) ?? []);
        expect(new Set(prefixes).size).toBe(prefixes.length);
        const names = result.map((route) => route.name.toLowerCase());
        expect(new Set(names).size).toBe(names.length);
      }),
      RUNS,
    );
  });

  it('is idempotent: planning the planned table again changes nothing', () => {
    fc.assert(
      fc.property(scenarioArb, ({ scenario }) => {
        const { desired, plan, result } = run(scenario);
        const again = planTable(desired, result, scenario.config);
        expect(hasChanges(again)).toBe(false);
        expect(again.conflicts).toEqual(
          plan.conflicts.map((c) => ({ ...c, existing: findByName(result, c.existing.name) })),
        );
      }),
      RUNS,
    );
  });

  it('does not depend on the order of nodes or routes', () => {
    fc.assert(
      fc.property(scenarioArb, ({ scenario, shuffledNodes, shuffledRoutes }) => {
        const { desired, plan } = run(scenario);
        const shuffled = run({ nodes: shuffledNodes, routes: shuffledRoutes, config: scenario.config });
        expect(shuffled.desired).toEqual(desired);
        expect(shuffled.plan).toEqual(plan);
      }),
      RUNS,
    );
  });

  it('puts every desired route in the table unless it reports a conflict or the route limit', () => {
    fc.assert(
      fc.property(scenarioArb, ({ scenario }) => {
        const { desired, plan, result } = run(scenario);
        const reported = new Set([
          ...plan.conflicts.map((c) => `${c.desired.node} ${c.desired.cidr}`),
          ...plan.overLimit.map((d) => `${d.node} ${d.cidr}`),
        ]);
        for (const want of desired.routes) {
          if (reported.has(`${want.node} ${want.cidr}`)) continue;
          const inTable = result.some(
            (route) =>
              canonicalPrefix(route.addressPrefix) === want.cidr &&
              route.nextHopType.toLowerCase() === 'virtualappliance' &&
              canonicalIp(route.nextHopIpAddress ?? '') === want.nextHopIpAddress,
          );
          expect(inTable, `${want.node} ${want.cidr}`).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it('never creates past the route limit, and never leaves a refused prefix routed by a create', () => {
    fc.assert(
      fc.property(scenarioArb, ({ scenario }) => {
        const { desired, plan, result } = run(scenario);
        if (plan.creates.length > 0) expect(result.length).toBeLessThanOrEqual(scenario.config.routeLimit);
        if (plan.overLimit.length > 0)
          expect(result.length).toBeGreaterThanOrEqual(scenario.config.routeLimit);
        const wanted = new Set(desired.routes.map((d) => d.cidr));
        for (const { route } of plan.creates) expect(wanted.has(route.addressPrefix)).toBe(true);
        for (const { to } of plan.updates) expect(wanted.has(to.addressPrefix)).toBe(true);
        expect(result.some((route) => route.addressPrefix === '::/0')).toBe(false);
      }),
      RUNS,
    );
  });
});
