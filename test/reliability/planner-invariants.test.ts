// Planner invariants over random clusters and random tables full of foreign routes (fast-check).
//
// test/unit/planner.property.test.ts checks the same invariants over small, collision-heavy pools. This file
// adds what that leaves open:
// - oracles written here, over ipaddr.js, that share no code with the planner: which routes are foreign, and
//   which routes the cluster should get, overlap refusals included (so desiredRoutes itself is checked, not
//   trusted);
// - clusters of up to 80 nodes against tables of up to 120 routes, including 0.0.0.0/0, ::/0, over-broad,
//   host-bit and garbage pod CIDRs, unusable InternalIPs, and every next-hop type;
// - a stateful run: many reconciles in a row over a churning cluster while a foreign writer adds routes;
// - the whole-table write itself (src/azure/store.ts applyChanges): foreign routes go back byte for byte,
//   unknown fields included, and so do the table's own properties.
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import type { RouteTable } from '@azure/arm-network';
import { describe, expect, it } from 'vitest';
import { applyChanges as applyToArmTable } from '../../src/azure/store.ts';
import { desiredRoutes } from '../../src/domain/desired.ts';
import { formatRouteName } from '../../src/domain/naming.ts';
import { applyChanges, hasChanges, planTable, tableChanges } from '../../src/domain/planner.ts';
import type { NodeInfo, PlannerConfig, Route, TablePlan } from '../../src/domain/types.ts';

// ---------------------------------------------------------------------------------------------------------
// Independent oracles (ipaddr.js only)

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

function parseCidr(text: string): Cidr | undefined {
  if (!/^[0-9a-f.:]+\/\d{1,3}$/i.test(text)) return undefined;
  try {
    return ipaddr.parseCIDR(text);
  } catch {
    return undefined;
  }
}

/** Canonical network text of a CIDR, host bits cleared; undefined when it is not one. */
function network(text: string): string | undefined {
  const parsed = parseCidr(text);
  if (!parsed) return undefined;
  const [address, length] = parsed;
  const net =
    address.kind() === 'ipv4'
      ? ipaddr.IPv4.networkAddressFromCIDR(text)
      : ipaddr.IPv6.networkAddressFromCIDR(text);
  return `${net.toString()}/${length}`;
}

function inside(inner: string, outers: readonly string[]): boolean {
  const parsed = parseCidr(inner);
  if (!parsed) return false;
  return outers.some((outer) => {
    const o = parseCidr(outer)!;
    return parsed[0].kind() === o[0].kind() && parsed[1] >= o[1] && parsed[0].match(o);
  });
}

/** Whether two CIDRs share any address (one nests in the other). */
function overlaps(a: string, b: string): boolean {
  return inside(a, [b]) || inside(b, [a]);
}

/**
 * Foreign, by DESIGN 2.1, computed without the planner's code: not inside any cluster CIDR. The name plays
 * no part (another cluster's routes carry names of our scheme), and with no cluster CIDR nothing is ours.
 */
function oracleForeign(route: Route, config: PlannerConfig): boolean {
  return !inside(route.addressPrefix, config.clusterCIDRs);
}

function usable(ip: string): { family: 4 | 6; ip: string } | undefined {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    if (!ipaddr.isValid(ip) || !/^[0-9a-f.:]+$/i.test(ip)) return undefined;
    parsed = ipaddr.parse(ip);
  } catch {
    return undefined;
  }
  const bad = ['unspecified', 'loopback', 'linkLocal', 'multicast', 'broadcast'];
  if (bad.includes(parsed.range())) return undefined;
  return { family: parsed.kind() === 'ipv4' ? 4 : 6, ip: parsed.toString() };
}

interface OracleClaim {
  node: string;
  time: number;
  nextHop?: string | undefined;
}

/**
 * The routes a cluster should get (DESIGN 2.3), computed from scratch: "cidr -> nextHop". Valid claims inside
 * the cluster range, no broader than the node mask size and covering no cluster range; then, oldest claim
 * first (ties by node name), a CIDR stands unless it overlaps one that already stands; a CIDR that stands
 * routes only if exactly one node claims it and that node has a usable address of its family. Quadratic, on
 * purpose: simple enough to be obviously right for 80 nodes.
 */
function oracleDesired(nodes: readonly NodeInfo[], config: PlannerConfig): Set<string> {
  const claims = new Map<string, OracleClaim[]>();
  for (const node of nodes) {
    const seen = new Set<string>();
    for (const raw of node.podCIDRs) {
      const net = network(raw);
      if (net === undefined) continue; // not a CIDR
      const [address, length] = parseCidr(raw)!;
      if (net !== `${address.toString()}/${length}`) continue; // host bits set
      if (seen.has(net)) continue;
      seen.add(net);
      const family = address.kind() === 'ipv4' ? 4 : 6;
      if (!inside(raw, config.clusterCIDRs)) continue;
      if (config.clusterCIDRs.some((cluster) => inside(cluster, [net]))) continue;
      if (length < (family === 4 ? config.nodeMaskSize.v4 : config.nodeMaskSize.v6)) continue;
      const ip = node.internalIPs.map(usable).find((u) => u?.family === family)?.ip;
      const time = Date.parse(node.creationTimestamp);
      claims.set(net, [...(claims.get(net) ?? []), { node: node.name, time, nextHop: ip }]);
    }
  }
  const oldest = (who: readonly OracleClaim[]) =>
    [...who].sort((a, b) => a.time - b.time || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0))[0]!;
  const order = [...claims.entries()].sort(([cidrA, a], [cidrB, b]) => {
    const [x, y] = [oldest(a), oldest(b)];
    return x.time - y.time || (x.node < y.node ? -1 : x.node > y.node ? 1 : cidrA < cidrB ? -1 : 1);
  });
  const standing: string[] = [];
  const out = new Set<string>();
  for (const [cidr, who] of order) {
    if (standing.some((other) => overlaps(cidr, other))) continue;
    standing.push(cidr);
    if (who.length === 1 && who[0]!.nextHop !== undefined) out.add(`${cidr} -> ${who[0]!.nextHop}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Generators

const v4Pod = fc
  .tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 47 }))
  .map(([b, c]) => `10.${b}.${c}.0/24`);
/** Pod CIDRs that nest in, or contain, the /24s above: captured traffic unless refused. */
const nestedPod = fc.oneof(
  fc.integer({ min: 0, max: 47 }).map((c) => `10.0.${c}.128/25`),
  fc.integer({ min: 0, max: 47 }).map((c) => `10.0.${c}.64/26`),
  fc.integer({ min: 0, max: 23 }).map((c) => `10.0.${c * 2}.0/23`),
  fc.integer({ min: 0, max: 31 }).map((k) => `fd00:0:0:${k.toString(16)}:8000::/65`),
  fc.constantFrom('10.0.0.0/16', 'fd00::/48', '10.0.0.0/20'),
);
const v6Pod = fc.integer({ min: 0, max: 31 }).map((k) => `fd00:0:0:${k.toString(16)}::/64`);
const hostilePod = fc.constantFrom(
  '0.0.0.0/0',
  '::/0',
  '10.0.0.0/8',
  'fd00::/32',
  '10.0.3.1/24',
  'fd00:0:0:1::1/64',
  '192.168.1.0/24',
  'not-a-cidr',
  '10.0.0.0/33',
  '',
);
const podCidr = fc.oneof(
  { weight: 6, arbitrary: v4Pod },
  { weight: 2, arbitrary: v6Pod },
  { weight: 1, arbitrary: nestedPod },
  { weight: 1, arbitrary: hostilePod },
);
const goodIp = fc.oneof(
  fc
    .tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 4, max: 250 }))
    .map(([c, d]) => `10.240.${c}.${d}`),
  fc.integer({ min: 1, max: 500 }).map((k) => `fd00:240::${k.toString(16)}`),
);
const badIp = fc.constantFrom(
  '127.0.0.1',
  '169.254.0.9',
  '224.0.0.1',
  '0.0.0.0',
  '255.255.255.255',
  '::1',
  'fe80::9',
  'ff02::1',
  '::',
  'garbage',
);

const nodesArb = fc
  .array(
    fc.record({
      podCIDRs: fc.array(podCidr, { maxLength: 2 }),
      internalIPs: fc.array(fc.oneof({ weight: 5, arbitrary: goodIp }, { weight: 1, arbitrary: badIp }), {
        maxLength: 3,
      }),
      day: fc.integer({ min: 1, max: 28 }),
      long: fc.boolean(),
    }),
    { maxLength: 80, size: 'max' },
  )
  .map((specs) =>
    specs.map((s, i): NodeInfo => ({
      // node1 next to node10 and node100; some names long enough to be shortened with a hash.
      name: s.long ? `${'n'.repeat(70)}-${i}` : `node${i}`,
      uid: `uid-${i}`,
      creationTimestamp: `2024-03-${String(s.day).padStart(2, '0')}T00:00:00Z`,
      podCIDRs: s.podCIDRs,
      internalIPs: s.internalIPs,
    })),
  );

const HOPS = ['VirtualAppliance', 'None', 'Internet', 'VnetLocal', 'VirtualNetworkGateway'] as const;
const hop = fc.oneof(
  goodIp.map((ip) => ({ nextHopType: 'VirtualAppliance', nextHopIpAddress: ip })),
  fc.constantFrom(...HOPS.slice(1)).map((nextHopType) => ({ nextHopType })),
);
const outsidePrefix = fc.oneof(
  fc.integer({ min: 0, max: 255 }).map((c) => `192.168.${c}.0/24`),
  fc.integer({ min: 0, max: 255 }).map((c) => `172.16.${c}.0/24`),
  fc.constantFrom('0.0.0.0/0', '10.1.0.0/16', '::/0', 'fd01::/48', 'AzureCloud', 'Storage.WestEurope'),
);

function routesArb(nodes: readonly NodeInfo[]): fc.Arbitrary<Route[]> {
  const names = nodes.length > 0 ? fc.constantFrom(...nodes.map((n) => n.name)) : fc.constant('gone-node');
  const route = fc.oneof(
    // Foreign, elsewhere.
    fc
      .tuple(fc.integer({ min: 0, max: 9999 }), outsidePrefix, hop)
      .map(([i, addressPrefix, h]) => ({ name: `team-${i}`, addressPrefix, ...h })),
    // Inside the pod range, hand-made, any next hop.
    fc
      .tuple(fc.integer({ min: 0, max: 9999 }), fc.oneof(v4Pod, v6Pod), hop)
      .map(([i, addressPrefix, h]) => ({ name: `hand-${i}`, addressPrefix, ...h })),
    // In our naming scheme (a node's, or a node gone).
    fc
      .tuple(names, fc.oneof(v4Pod, v6Pod), hop)
      .map(([n, cidr, h]) => ({ name: formatRouteName(n, cidr), addressPrefix: cidr, ...h })),
    // Squatters: our name, a foreign prefix.
    fc
      .tuple(names, v4Pod, outsidePrefix, hop)
      .map(([n, cidr, addressPrefix, h]) => ({ name: formatRouteName(n, cidr), addressPrefix, ...h })),
  );
  return fc.array(route, { maxLength: 120, size: 'max' }).map(asAzureWould);
}

/** Azure keeps route names unique (case-insensitively) and refuses two routes with one prefix. */
function asAzureWould(routes: readonly Route[]): Route[] {
  const names = new Set<string>();
  const prefixes = new Set<string>();
  return routes.filter((r) => {
    const name = r.name.toLowerCase();
    const prefix = network(r.addressPrefix) ?? `tag:${r.addressPrefix.toLowerCase()}`;
    if (names.has(name) || prefixes.has(prefix)) return false;
    names.add(name);
    prefixes.add(prefix);
    return true;
  });
}

const configArb: fc.Arbitrary<PlannerConfig> = fc.record({
  // [] cannot come from config (--cluster-cidr is required); the planner must still touch nothing then.
  clusterCIDRs: fc.constantFrom<readonly string[]>(['10.0.0.0/16'], ['10.0.0.0/16', 'fd00::/48'], []),
  routeLimit: fc.oneof(fc.constant(400), fc.integer({ min: 0, max: 150 })),
  nodeMaskSize: fc.constantFrom({ v4: 24, v6: 64 }, { v4: 16, v6: 48 }),
});

const scenarioArb = fc
  .tuple(nodesArb, configArb)
  .chain(([nodes, config]) =>
    fc.record({ nodes: fc.constant(nodes), config: fc.constant(config), routes: routesArb(nodes) }),
  )
  .chain((s) =>
    fc.record({
      s: fc.constant(s),
      nodesShuffled: fc.shuffledSubarray(s.nodes, { minLength: s.nodes.length }),
      routesShuffled: fc.shuffledSubarray(s.routes, { minLength: s.routes.length }),
    }),
  );

const RUNS = { numRuns: 150 };

function plan(nodes: readonly NodeInfo[], routes: readonly Route[], config: PlannerConfig) {
  const desired = desiredRoutes(nodes, config);
  const p = planTable(desired, routes, config);
  return { desired, plan: p, result: applyChanges(routes, tableChanges(p)) };
}

const byName = (routes: readonly Route[], name: string) =>
  routes.find((r) => r.name.toLowerCase() === name.toLowerCase());
const key = (node: string, cidr: string) => `${node} ${cidr}`;
const reported = (p: TablePlan) =>
  new Set([
    ...p.conflicts.map((c) => key(c.desired.node, c.desired.cidr)),
    ...p.overLimit.map((d) => key(d.node, d.cidr)),
  ]);

/** The invariants every single plan must keep. */
function checkPlan(nodes: readonly NodeInfo[], routes: readonly Route[], config: PlannerConfig): Route[] {
  const { desired, plan: p, result } = plan(nodes, routes, config);

  // 1. Foreign routes are never changed or deleted (oracle: the README's rule, computed here).
  for (const r of routes) if (oracleForeign(r, config)) expect(byName(result, r.name)).toEqual(r);
  for (const u of p.updates) expect(oracleForeign(u.from, config)).toBe(false);
  for (const d of p.deletes) expect(oracleForeign(d, config)).toBe(false);

  // 2. Never two routes with one prefix (or one name).
  const prefixes = result.map((r) => network(r.addressPrefix) ?? `tag:${r.addressPrefix.toLowerCase()}`);
  expect(new Set(prefixes).size).toBe(prefixes.length);
  expect(new Set(result.map((r) => r.name.toLowerCase())).size).toBe(result.length);

  // 3. desiredRoutes wants exactly what the oracle says the cluster should get.
  const expected = oracleDesired(nodes, config);
  expect(new Set(desired.routes.map((d) => `${d.cidr} -> ${d.nextHopIpAddress}`))).toEqual(expected);

  // 4. Every desired route is in the table, pointing at its node, unless reported as a conflict or over the limit.
  const told = reported(p);
  for (const d of desired.routes) {
    if (told.has(key(d.node, d.cidr))) continue;
    expect(
      result.some(
        (r) =>
          network(r.addressPrefix) === d.cidr &&
          r.nextHopType === 'VirtualAppliance' &&
          r.nextHopIpAddress === d.nextHopIpAddress,
      ),
      `${d.node} ${d.cidr}`,
    ).toBe(true);
  }

  // 5. Whatever we write is a route the oracle wants: never a default route, never outside the range, never a
  //    refused or duplicate prefix, never an unusable next hop.
  for (const w of [...p.creates.map((c) => c.route), ...p.updates.map((u) => u.to)]) {
    expect(
      expected.has(`${w.addressPrefix} -> ${w.nextHopIpAddress}`),
      `${w.addressPrefix} -> ${w.nextHopIpAddress}`,
    ).toBe(true);
  }

  // 6. No captured traffic: no two routes we plan (creates, updates, keeps) overlap, and none equals or
  //    contains a cluster range.
  const ours = [
    ...p.creates.map((c) => c.route),
    ...p.updates.map((u) => u.to),
    ...p.keeps.map((k) => k.route),
  ];
  for (let i = 0; i < ours.length; i++) {
    const a = ours[i]!.addressPrefix;
    for (const cluster of config.clusterCIDRs)
      expect(inside(cluster, [a]), `${a} covers ${cluster}`).toBe(false);
    for (let j = i + 1; j < ours.length; j++) {
      const b = ours[j]!.addressPrefix;
      expect(overlaps(a, b), `${a} overlaps ${b}`).toBe(false);
    }
  }

  // 7. Idempotent: planning the planned table again changes nothing.
  expect(hasChanges(planTable(desired, result, config))).toBe(false);
  return result;
}

describe('planner invariants (independent oracles, large clusters)', () => {
  it('foreign routes untouched, no duplicate prefix, every desired route present or reported, nothing hostile written, idempotent', () => {
    fc.assert(
      fc.property(scenarioArb, ({ s }) => {
        checkPlan(s.nodes, s.routes, s.config);
      }),
      RUNS,
    );
  });

  it('the result does not depend on the order of nodes or routes', () => {
    fc.assert(
      fc.property(scenarioArb, ({ s, nodesShuffled, routesShuffled }) => {
        const a = plan(s.nodes, s.routes, s.config);
        const b = plan(nodesShuffled, routesShuffled, s.config);
        expect(tableChanges(b.plan)).toEqual(tableChanges(a.plan));
        expect(b.plan.conflicts).toEqual(a.plan.conflicts);
        expect(b.plan.overLimit).toEqual(a.plan.overLimit);
        expect(b.desired).toEqual(a.desired);
      }),
      RUNS,
    );
  });

  it('over many reconciles of a churning cluster, with a foreign writer adding routes in between, every invariant holds each time', () => {
    const round = fc.record({
      nodes: nodesArb,
      foreign: fc.array(fc.tuple(fc.integer({ min: 0, max: 9999 }), outsidePrefix, hop), { maxLength: 5 }),
    });
    fc.assert(
      fc.property(configArb, fc.array(round, { minLength: 2, maxLength: 6 }), (config, rounds) => {
        let table: Route[] = [];
        const foreign = new Map<string, Route>();
        for (const { nodes, foreign: added } of rounds) {
          // The foreign writer adds its routes where Azure lets it (unique name and prefix).
          for (const [i, addressPrefix, h] of added) {
            const r: Route = { name: `writer-${i}`, addressPrefix, ...h };
            const next = asAzureWould([...table, r]);
            if (next.length > table.length) {
              table = next;
              if (oracleForeign(r, config)) foreign.set(r.name, r);
            }
          }
          table = checkPlan(nodes, table, config);
          for (const r of foreign.values()) expect(byName(table, r.name)).toEqual(r);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('a whole-table write sends every foreign route back byte for byte, unknown fields and table properties included', () => {
    fc.assert(
      fc.property(scenarioArb, ({ s }) => {
        const { plan: p, result } = plan(s.nodes, s.routes, s.config);
        const armRoutes = s.routes.map((r, i) => ({
          id: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/routeTables/t/routes/${r.name}`,
          name: r.name,
          etag: `W/"etag-${i}"`,
          type: 'Microsoft.Network/routeTables/routes',
          addressPrefix: r.addressPrefix,
          nextHopType: r.nextHopType,
          ...(r.nextHopIpAddress !== undefined ? { nextHopIpAddress: r.nextHopIpAddress } : {}),
          provisioningState: 'Succeeded',
          hasBgpOverride: i % 2 === 0,
          futureField: { x: i },
        }));
        const source = {
          id: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/routeTables/t',
          name: 't',
          etag: 'W/"table"',
          location: 'westeurope',
          tags: { owner: 'network-team' },
          disableBgpRoutePropagation: true,
          subnets: [{ id: '/subscriptions/s/.../subnets/a' }],
          resourceGuid: 'guid',
          routes: armRoutes,
        } as unknown as RouteTable;
        const written = applyToArmTable(source, tableChanges(p));
        const { routes: _before, ...tableBefore } = source as unknown as Record<string, unknown>;
        const { routes: after, ...tableAfter } = written as unknown as Record<string, unknown> & {
          routes: Record<string, unknown>[];
        };
        expect(tableAfter).toEqual(tableBefore);
        for (const arm of armRoutes) {
          const domain = s.routes.find((r) => r.name === arm.name)!;
          if (oracleForeign(domain, s.config)) expect(after.find((r) => r['name'] === arm.name)).toBe(arm);
        }
        // The ARM table and the domain's view of the same write agree, route for route.
        const simple = (r: Record<string, unknown>) => ({
          name: r['name'],
          addressPrefix: r['addressPrefix'],
          nextHopType: r['nextHopType'],
          ...(r['nextHopIpAddress'] !== undefined ? { nextHopIpAddress: r['nextHopIpAddress'] } : {}),
        });
        const sort = (rs: readonly object[]) => [...rs].map((r) => JSON.stringify(r)).sort();
        expect(sort(after.map(simple))).toEqual(sort(result));
      }),
      RUNS,
    );
  });
});
