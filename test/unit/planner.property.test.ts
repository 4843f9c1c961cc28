import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { canonicalIp, canonicalPrefix } from '../../src/domain/cidr.ts';
import { desiredRoutes } from '../../src/domain/desired.ts';
import { formatRouteName } from '../../src/domain/naming.ts';
import { applyChanges, hasChanges, planTable, tableChanges } from '../../src/domain/planner.ts';
import type { NodeInfo, PlanContext, PlannerConfig, Route, TablePlan } from '../../src/domain/types.ts';

// ---- the oracle: CIDR arithmetic written here, sharing no code with the product ----------------------------
// The properties below decide "ours", "overlaps" and "covers a cluster range" with these few lines over
// bigints, never with the product's isOurs/ownershipTest/desiredRoutes, so a bug there cannot hide itself.

interface Net {
  readonly family: 4 | 6;
  readonly bits: number;
  /** The network address, host bits cleared. */
  readonly value: bigint;
  readonly length: number;
}

function net(text: string | undefined): Net | undefined {
  const m = /^([0-9a-fA-F.:]+)\/(\d{1,3})$/.exec((text ?? '').trim());
  if (!m?.[1] || !m[2]) return undefined;
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    address = ipaddr.parse(m[1]);
  } catch {
    return undefined;
  }
  if (address.kind() === 'ipv4' && !ipaddr.IPv4.isValidFourPartDecimal(m[1])) return undefined;
  const bytes = address.toByteArray();
  const bits = bytes.length * 8;
  const length = Number(m[2]);
  if (length > bits) return undefined;
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  const hostBits = BigInt(bits - length);
  return { family: bits === 32 ? 4 : 6, bits, value: (value >> hostBits) << hostBits, length };
}

/** `inner` lies inside `outer` (equal counts). */
function within(outer: Net, inner: Net): boolean {
  if (outer.family !== inner.family || inner.length < outer.length) return false;
  const shift = BigInt(outer.bits - outer.length);
  return inner.value >> shift === outer.value >> shift;
}

const overlap = (a: Net, b: Net) => within(a, b) || within(b, a);

/** Ours, by DESIGN 2.1: the prefix lies inside a cluster CIDR. Anything else (tags, garbage) is not. */
function oracleOurs(route: Route, config: PlannerConfig): boolean {
  const prefix = net(route.addressPrefix);
  return prefix !== undefined && config.clusterCIDRs.some((c) => within(net(c)!, prefix));
}

const sameIp = (a: string | undefined, b: string) => {
  try {
    return a !== undefined && ipaddr.parse(a).toNormalizedString() === ipaddr.parse(b).toNormalizedString();
  } catch {
    return false;
  }
};

/** The table as the product may be told it is: "is cidr -> ip already in it?" (test-side arithmetic). */
function inTable(routes: readonly Route[]) {
  return (cidr: string, ip: string) => {
    const want = net(cidr);
    return routes.some((r) => {
      const have = net(r.addressPrefix);
      return (
        want !== undefined &&
        have !== undefined &&
        have.family === want.family &&
        have.length === want.length &&
        have.value === want.value &&
        r.nextHopType.toLowerCase() === 'virtualappliance' &&
        sameIp(r.nextHopIpAddress, ip)
      );
    });
  };
}

/** Every route the plan leaves in the table as ours: created, updated, kept. */
function planned(plan: TablePlan): Route[] {
  return [
    ...plan.creates.map((c) => c.route),
    ...plan.updates.map((u) => u.to),
    ...plan.keeps.map((k) => k.route),
  ];
}

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
// Nested and covering ones too: /25s and /26s inside the /24s, a /23 and a /20 around them, the cluster
// ranges themselves, a /65 inside a /64.
const OVERLAPPING = [
  '10.0.0.0/25',
  '10.0.0.128/25',
  '10.0.1.64/26',
  '10.0.2.0/23',
  '10.0.0.0/20',
  '10.0.0.0/16',
  'fd00:0:0:1:8000::/65',
  'fd00::/48',
];
const POD_CIDRS = [
  ...V4_CIDRS,
  ...V6_CIDRS,
  ...OVERLAPPING,
  '10.0.0.1/24',
  'bad',
  '10.99.0.0/24',
  '0.0.0.0/0',
  '::/0',
];
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
    fc.integer({ min: 1, max: 4 }).map((day) => `2024-02-${String(day).padStart(2, '0')}T00:00:00Z`),
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
    .tuple(
      fc.integer({ min: 0, max: 999 }),
      fc.constantFrom(...V4_CIDRS, ...V6_CIDRS, ...OVERLAPPING),
      nextHopArb,
    )
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
  // The empty list cannot come from config (--cluster-cidr is required); the planner must still be safe.
  clusterCIDRs: fc.constantFrom<readonly string[]>([], ['10.0.0.0/16', 'fd00::/48'], ['10.0.0.0/20']),
  routeLimit: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 20 }), fc.constant(400)),
  nodeMaskSize: fc.constantFrom({ v4: 24, v6: 64 }, { v4: 16, v6: 48 }),
});

/**
 * Routes for the nodes' own pod CIDRs, as a previous run (or a human) may have left them: via one of the
 * node's addresses or another next hop, under the node's route name or a hand-made one. Drawn from the nodes
 * directly, not from desiredRoutes, so the oracle's inputs do not depend on the code under test.
 */
function existingRoutesArb(nodes: readonly NodeInfo[]): fc.Arbitrary<Route> {
  const claims = nodes.flatMap((n) => n.podCIDRs.map((cidr) => ({ node: n, cidr })));
  if (claims.length === 0) return routeArb;
  const claim = fc.constantFrom(...claims);
  const viaNode = (n: NodeInfo) =>
    n.internalIPs.length > 0
      ? fc
          .constantFrom(...n.internalIPs)
          .map((ip) => ({ nextHopType: 'VirtualAppliance', nextHopIpAddress: ip }))
      : nextHopArb;
  return fc.oneof(
    claim.chain(({ node, cidr }) =>
      fc
        .tuple(
          fc.integer({ min: 0, max: 999 }),
          fc.oneof(viaNode(node), viaNode(node), nextHopArb),
          fc.boolean(),
        )
        .map(([i, hop, ourName]) => ({
          name: ourName ? formatRouteName(node.name, cidr) : `adopt-${i}`,
          addressPrefix: cidr,
          ...hop,
        })),
    ),
    // A foreign route squatting on the name a node's new route would get.
    fc
      .tuple(claim, fc.constantFrom(...OUTSIDE, 'AzureCloud'), nextHopArb)
      .map(([{ node, cidr }, prefix, hop]) => ({
        name: formatRouteName(node.name, cidr),
        addressPrefix: prefix,
        ...hop,
      })),
  );
}

const STATES = [undefined, 'Succeeded', 'Succeeded', 'Failed', 'Updating'] as const;

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
        .array(
          fc
            .tuple(fc.oneof(routeArb, existingRoutesArb(nodes)), fc.constantFrom(...STATES))
            .map(([route, state]) => (state === undefined ? route : { ...route, provisioningState: state })),
          { maxLength: 16 },
        )
        .map(asAzureWould),
      tableState: fc.constantFrom(...STATES),
      /** Tell the product which routes are in place (true), or leave it to age alone (false). */
      tellInPlace: fc.boolean(),
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

interface Scenario {
  nodes: NodeInfo[];
  routes: Route[];
  config: PlannerConfig;
  tableState?: string | undefined;
  tellInPlace?: boolean;
}

function run({ nodes, routes, config, tableState, tellInPlace }: Scenario) {
  const desired = desiredRoutes(nodes, config, tellInPlace ? inTable(routes) : undefined);
  const context: PlanContext = { tableProvisioningState: tableState };
  const plan = planTable(desired, routes, config, context);
  const result = applyChanges(routes, tableChanges(plan));
  return { desired, plan, result };
}

/** The table after a PUT that Succeeded: every route reads Succeeded. */
const settled = (routes: readonly Route[]) => routes.map((r) => ({ ...r, provisioningState: 'Succeeded' }));

function findByName(routes: readonly Route[], name: string): Route | undefined {
  return routes.find((route) => route.name.toLowerCase() === name.toLowerCase());
}

describe('planner properties', () => {
  it('never changes or deletes a route that is not ours (outside every cluster CIDR)', () => {
    fc.assert(
      fc.property(scenarioArb, ({ scenario }) => {
        const { plan, result } = run(scenario);
        const { config } = scenario;
        for (const route of scenario.routes) {
          if (!oracleOurs(route, config)) expect(findByName(result, route.name)).toEqual(route);
        }
        for (const { from, to } of plan.updates) {
          expect(oracleOurs(from, config)).toBe(true);
          expect(oracleOurs(to, config)).toBe(true);
        }
        for (const { route } of plan.creates) expect(oracleOurs(route, config)).toBe(true);
        for (const route of plan.deletes) expect(oracleOurs(route, config)).toBe(true);
        for (const route of plan.frozen ?? []) expect(findByName(result, route.name)).toEqual(route);
        // With no cluster CIDR, nothing at all is touched.
        if (config.clusterCIDRs.length === 0)
          expect(tableChanges(plan)).toEqual({ upserts: [], deletes: [] });
      }),
      RUNS,
    );
  });

  it('no two routes it plans overlap, and none equals or contains a cluster range', () => {
    fc.assert(
      fc.property(scenarioArb, ({ scenario }) => {
        const { plan, result } = run(scenario);
        const ours = planned(plan).map((r) => ({ r, n: net(r.addressPrefix)! }));
        for (const { r, n } of ours) {
          for (const cluster of scenario.config.clusterCIDRs) {
            expect(within(n, net(cluster)!), `${r.addressPrefix} covers ${cluster}`).toBe(false);
          }
        }
        for (let i = 0; i < ours.length; i++) {
          for (let j = i + 1; j < ours.length; j++) {
            const [a, b] = [ours[i]!, ours[j]!];
            expect(overlap(a.n, b.n), `${a.r.addressPrefix} overlaps ${b.r.addressPrefix}`).toBe(false);
          }
        }
        // And the table as written: no two routes of ours in it overlap (frozen ones included).
        const inResult = result
          .filter((r) => oracleOurs(r, scenario.config))
          .map((r) => net(r.addressPrefix)!);
        for (let i = 0; i < inResult.length; i++) {
          for (let j = i + 1; j < inResult.length; j++)
            expect(overlap(inResult[i]!, inResult[j]!)).toBe(false);
        }
      }),
      RUNS,
    );
  });

  it('re-drives a table that does not read Succeeded, and a table whose kept route does not', () => {
    fc.assert(
      fc.property(scenarioArb, ({ scenario }) => {
        const { plan } = run(scenario);
        const notSucceeded = (state: string | undefined) => state !== undefined && state !== 'Succeeded';
        const expected =
          notSucceeded(scenario.tableState) ||
          plan.keeps.some((k) => notSucceeded(k.route.provisioningState));
        expect(plan.redrive).toBe(expected);
        if (expected) expect(hasChanges(plan)).toBe(true);
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

  it('is idempotent: planning the planned table again, once its write Succeeded, changes nothing', () => {
    fc.assert(
      fc.property(scenarioArb, ({ scenario }) => {
        const { desired, plan, result } = run(scenario);
        const again = planTable(desired, settled(result), scenario.config, {
          tableProvisioningState: 'Succeeded',
        });
        expect(hasChanges(again)).toBe(false);
        expect(again.conflicts).toEqual(
          plan.conflicts.map((c) => ({ ...c, existing: findByName(settled(result), c.existing.name) })),
        );
      }),
      RUNS,
    );
  });

  it('does not depend on the order of nodes or routes', () => {
    fc.assert(
      fc.property(scenarioArb, ({ scenario, shuffledNodes, shuffledRoutes }) => {
        const { desired, plan } = run(scenario);
        const shuffled = run({ ...scenario, nodes: shuffledNodes, routes: shuffledRoutes });
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
        // A default route a node claims is never written; one already in the table (foreign) stays as it was.
        for (const route of result) {
          if (route.addressPrefix === '::/0' || route.addressPrefix === '0.0.0.0/0') {
            expect(scenario.routes).toContainEqual(route);
          }
        }
      }),
      RUNS,
    );
  });
});
