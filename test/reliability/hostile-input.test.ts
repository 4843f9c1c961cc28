// Hostile and broken input. A Node is anyone's to write (a compromised kubelet can set its own pod CIDR), and
// a route table is shared with other teams, so every bad input gets a clear, specific message, a Warning event
// on the Node where one is involved, and no route: it must never hijack the default route or a foreign prefix.
//
// The cluster of each block is reconciled by the real `run` controller (in-process); the reasons in
// `sync-routes --dry-run --output json` (a documented interface) are read once from the same cluster.
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Node } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SyncReport } from '../../src/controller/report.ts';
import type { SimpleRoute } from '../../src/simulator/azure.ts';
import { expectExit, expectOneLineError, parseReport } from '../support/cli.ts';
import { spawnCli } from '../support/process.ts';
import { routeFor, startSandbox, storedRoute, worker, workers, type Sandbox } from '../support/sandbox.ts';
import {
  FOREIGN_ROUTES,
  M,
  condition,
  httpGet,
  isRouteCreated,
  metric,
  scrape,
  startReliabilityController,
  waitFor,
  type ReliabilityController,
  type Samples,
} from './support.ts';

const CLUSTER = ['10.200.0.0/16', 'fd00:200::/56'];

/** A DNS-subdomain node name of exactly 253 characters (four labels), differing only in its last character. */
const longName = (last: string) =>
  `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(59)}-${last}`;
const LONG_1 = longName('1');
const LONG_2 = longName('2');

const UNUSED_HOP_ROUTES: readonly SimpleRoute[] = [
  // Outside the cluster range: foreign, left exactly as they are.
  { name: 'to-internet', addressPrefix: '203.0.113.0/24', nextHopType: 'Internet' },
  { name: 'vnet-local', addressPrefix: '10.1.0.0/16', nextHopType: 'VnetLocal' },
  // Inside the cluster range: ours by the upstream rule, whatever the next hop.
  { name: 'legacy-worker-1', addressPrefix: '10.200.1.0/24', nextHopType: 'Internet' },
  { name: 'stale-blackhole', addressPrefix: '10.200.99.0/24', nextHopType: 'None' },
  { name: 'stale-gateway', addressPrefix: '10.200.98.0/24', nextHopType: 'VirtualNetworkGateway' },
];

const UNUSABLE_IPS = [
  ['loopback', '127.0.0.1', '10.200.10.0/24'],
  ['link-local', '169.254.10.10', '10.200.11.0/24'],
  ['multicast', '224.0.0.5', '10.200.12.0/24'],
  ['unspecified', '0.0.0.0', '10.200.13.0/24'],
] as const;

async function reasons(sb: Sandbox, clusterCidr: string | null): Promise<SyncReport> {
  const result = await sb.syncRoutes(['--dry-run', '--output', 'json', '--log-level', 'silent'], {
    clusterCidr,
  });
  expectExit(result, 1);
  return parseReport(result);
}

function skipOf(report: SyncReport, node: string, cidr?: string) {
  return report.skipped.find((s) => s.node === node && (cidr === undefined || s.cidr === cidr));
}

/** The node is told: NoRouteCreated with the message, and a Warning event with it. */
async function expectTold(sb: Sandbox, node: string, message: RegExp): Promise<void> {
  await waitFor(() =>
    expect(condition(sb, node)).toMatchObject({
      status: 'True',
      reason: 'NoRouteCreated',
      message: expect.stringMatching(message),
    }),
  );
  const events = sb.warningEvents(node);
  expect(events).toHaveLength(1);
  expect(events[0]).toMatchObject({
    type: 'Warning',
    reason: 'FailedToCreateRoute',
    involvedObject: { kind: 'Node', name: node },
    message: expect.stringMatching(message),
  });
}

/** No route in any table points at this next hop or carries this prefix. */
function expectNoRoute(sb: Sandbox, where: { prefix?: string; nextHop?: string; node?: string }): void {
  for (const r of sb.routes()) {
    if (where.prefix !== undefined)
      expect(
        r.addressPrefix === where.prefix &&
          r.nextHopType === 'VirtualAppliance' &&
          r.nextHopIpAddress !== '10.240.255.4',
      ).toBe(false);
    if (where.nextHop !== undefined) expect(r.nextHopIpAddress).not.toBe(where.nextHop);
    if (where.node !== undefined) expect(r.name.startsWith(`${where.node}____`)).toBe(false);
  }
}

describe('hostile and broken nodes, with --cluster-cidr', () => {
  let sb: Sandbox;
  let c: ReliabilityController;
  let report: SyncReport;
  let metrics: Samples;
  let before: ReturnType<Sandbox['table']>;

  beforeAll(async () => {
    const noStatus: V1Node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'no-status' },
      spec: { podCIDR: '10.200.22.0/24', podCIDRs: ['10.200.22.0/24'] },
    };
    sb = await startSandbox({
      nodes: [
        ...workers(2),
        { name: 'hijack-default-v4', podCIDRs: ['0.0.0.0/0'], internalIPs: ['10.240.0.50'] },
        { name: 'hijack-default-v6', podCIDRs: ['::/0'], internalIPs: ['10.240.0.51', 'fd00:240::51'] },
        { name: 'hijack-onprem', podCIDRs: ['192.168.0.0/16'], internalIPs: ['10.240.0.52'] },
        { name: 'host-bits', podCIDRs: ['10.200.7.1/24'], internalIPs: ['10.240.0.53'] },
        {
          name: 'v6-without-v6-ip',
          podCIDRs: ['10.200.8.0/24', 'fd00:200:0:8::/64'],
          internalIPs: ['10.240.0.54'],
        },
        ...UNUSABLE_IPS.map(([kind, ip, cidr]) => ({
          name: `ip-${kind}`,
          podCIDRs: [cidr],
          internalIPs: [ip],
        })),
        {
          name: 'ip6-unusable',
          podCIDRs: ['fd00:200:0:14::/64'],
          internalIPs: ['::1', 'fe80::1', 'ff02::1', '::'],
        },
        { name: 'dup-a', podCIDRs: ['10.200.9.0/24'], internalIPs: ['10.240.0.55'] },
        { name: 'dup-b', podCIDRs: ['10.200.9.0/24'], internalIPs: ['10.240.0.56'] },
        { name: LONG_1, podCIDRs: ['10.200.20.0/24'], internalIPs: ['10.240.0.60'] },
        { name: LONG_2, podCIDRs: ['10.200.21.0/24'], internalIPs: ['10.240.0.61'] },
      ],
      table: { routes: [...FOREIGN_ROUTES, ...UNUSED_HOP_ROUTES] },
    });
    sb.kube.addNode(noStatus);
    before = sb.table();
    c = await startReliabilityController(sb, { clusterCidr: CLUSTER });
    await waitFor(() => {
      expect(sb.routes()).toContainEqual(routeFor(worker(0)));
      expect(isRouteCreated(sb, LONG_2)).toBe(true);
      expect(sb.warningEvents('no-status')).toHaveLength(1);
      expect(c.logs.some((l) => l['msg'] === 'reconciled')).toBe(true);
    });
    metrics = await scrape(c);
    report = await reasons(sb, CLUSTER.join(','));
  });
  afterAll(async () => {
    await c?.stop();
    await sb?.close();
  });

  it('a pod CIDR of 0.0.0.0/0 is refused (outside --cluster-cidr) and never touches the default route', async () => {
    expect(skipOf(report, 'hijack-default-v4')).toMatchObject({
      cidr: '0.0.0.0/0',
      reason: 'OutsideClusterCIDR',
    });
    await expectTold(
      sb,
      'hijack-default-v4',
      /Node hijack-default-v4 has pod CIDR 0\.0\.0\.0\/0, which lies outside --cluster-cidr 10\.200\.0\.0\/16,fd00:200::\/56/,
    );
    expect(storedRoute(sb.table(), 'default-to-firewall')).toEqual(
      storedRoute(before, 'default-to-firewall'),
    );
    expect(sb.routes().filter((r) => r.addressPrefix === '0.0.0.0/0')).toEqual([FOREIGN_ROUTES[0]]);
    expectNoRoute(sb, { nextHop: '10.240.0.50', node: 'hijack-default-v4' });
  });

  it('a pod CIDR of ::/0 is refused and gets no route', async () => {
    expect(skipOf(report, 'hijack-default-v6')).toMatchObject({ cidr: '::/0', reason: 'OutsideClusterCIDR' });
    await expectTold(
      sb,
      'hijack-default-v6',
      /Node hijack-default-v6 has pod CIDR ::\/0, which lies outside --cluster-cidr/,
    );
    expect(sb.routes().some((r) => r.addressPrefix === '::/0')).toBe(false);
    expectNoRoute(sb, { nextHop: 'fd00:240::51', node: 'hijack-default-v6' });
  });

  it("a pod CIDR that is a foreign route's prefix (outside --cluster-cidr) is refused; the foreign route is untouched", async () => {
    expect(skipOf(report, 'hijack-onprem')).toMatchObject({
      cidr: '192.168.0.0/16',
      reason: 'OutsideClusterCIDR',
    });
    await expectTold(sb, 'hijack-onprem', /pod CIDR 192\.168\.0\.0\/16, which lies outside --cluster-cidr/);
    expect(storedRoute(sb.table(), 'to-onprem')).toEqual(storedRoute(before, 'to-onprem'));
    expectNoRoute(sb, { nextHop: '10.240.0.52', node: 'hijack-onprem' });
  });

  it('a pod CIDR with host bits set is refused, naming the network address to use', async () => {
    expect(skipOf(report, 'host-bits')).toMatchObject({ cidr: '10.200.7.1/24', reason: 'HostBitsSet' });
    await expectTold(
      sb,
      'host-bits',
      /pod CIDR 10\.200\.7\.1\/24 with host bits set; set spec\.podCIDRs to the network address 10\.200\.7\.0\/24 instead/,
    );
    expectNoRoute(sb, { nextHop: '10.240.0.53' });
  });

  it('an IPv6 pod CIDR on a node with no IPv6 InternalIP gets no route (its IPv4 route still goes in)', async () => {
    expect(skipOf(report, 'v6-without-v6-ip')).toMatchObject({
      cidr: 'fd00:200:0:8::/64',
      reason: 'NoInternalIP',
    });
    await expectTold(
      sb,
      'v6-without-v6-ip',
      /has pod CIDR fd00:200:0:8::\/64 but it reports no IPv6 InternalIP/,
    );
    expect(sb.routes().some((r) => r.addressPrefix === 'fd00:200:0:8::/64')).toBe(false);
    expect(sb.routes()).toContainEqual(
      expect.objectContaining({ addressPrefix: '10.200.8.0/24', nextHopIpAddress: '10.240.0.54' }),
    );
  });

  for (const [kind, ip, cidr] of UNUSABLE_IPS) {
    it(`an InternalIP that is ${kind} (${ip}) is no next hop: no route`, async () => {
      const node = `ip-${kind}`;
      expect(skipOf(report, node)).toMatchObject({ cidr, reason: 'NoInternalIP' });
      await expectTold(
        sb,
        node,
        new RegExp(
          `its IPv4 InternalIPs \\(${ip.replace(/\./g, '\\.')}\\) are all loopback, link-local, multicast, broadcast or unspecified`,
        ),
      );
      expect(sb.routes().some((r) => r.addressPrefix === cidr || r.nextHopIpAddress === ip)).toBe(false);
    });
  }

  it('IPv6 InternalIPs that are loopback, link-local, multicast and unspecified: no route', async () => {
    expect(skipOf(report, 'ip6-unusable')).toMatchObject({ reason: 'NoInternalIP' });
    await expectTold(
      sb,
      'ip6-unusable',
      /its IPv6 InternalIPs \(::1, fe80::1, ff02::1, ::\) are all loopback/,
    );
    expect(sb.routes().some((r) => r.addressPrefix === 'fd00:200:0:14::/64')).toBe(false);
  });

  it('two nodes with the same pod CIDR: neither gets the route, each is told about the other', async () => {
    expect(skipOf(report, 'dup-a')).toMatchObject({ reason: 'DuplicatePodCIDR' });
    expect(skipOf(report, 'dup-b')).toMatchObject({ reason: 'DuplicatePodCIDR' });
    await expectTold(
      sb,
      'dup-a',
      /Node dup-a claims pod CIDR 10\.200\.9\.0\/24, which node dup-b also claims/,
    );
    await expectTold(
      sb,
      'dup-b',
      /Node dup-b claims pod CIDR 10\.200\.9\.0\/24, which node dup-a also claims/,
    );
    expect(sb.routes().some((r) => r.addressPrefix === '10.200.9.0/24')).toBe(false);
  });

  it('a 253-character node name gets a valid, unique route name (and its route)', async () => {
    const names = [LONG_1, LONG_2].map((node) => {
      const prefix = node === LONG_1 ? '10.200.20.0/24' : '10.200.21.0/24';
      const route = sb.routes().find((r) => r.addressPrefix === prefix);
      expect(route, node).toBeDefined();
      expect(route!.nextHopIpAddress).toBe(node === LONG_1 ? '10.240.0.60' : '10.240.0.61');
      expect(isRouteCreated(sb, node)).toBe(true);
      return route!.name;
    });
    for (const name of names) {
      // Azure's rule: 1-80 of [A-Za-z0-9_.-], starting with a letter or digit, ending with one or '_'.
      expect(name).toMatch(/^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$/);
    }
    expect(new Set(names.map((n) => n.toLowerCase())).size).toBe(2);
    expect(sb.warningEvents(LONG_1)).toEqual([]);
  });

  it('a Node with no status at all gets no route and is told why', async () => {
    expect(skipOf(report, 'no-status')).toMatchObject({ cidr: '10.200.22.0/24', reason: 'NoInternalIP' });
    await expectTold(
      sb,
      'no-status',
      /Node no-status has pod CIDR 10\.200\.22\.0\/24 but it reports no IPv4 InternalIP/,
    );
    expect(sb.routes().some((r) => r.addressPrefix === '10.200.22.0/24')).toBe(false);
  });

  it('routes with next-hop types we do not use: foreign ones untouched, ours (inside --cluster-cidr) corrected or removed', () => {
    for (const name of ['to-internet', 'vnet-local', ...FOREIGN_ROUTES.map((r) => r.name)]) {
      expect(storedRoute(sb.table(), name), name).toEqual(storedRoute(before, name));
    }
    // worker-1's prefix was held by a route of ours with next hop Internet: corrected, name kept.
    expect(sb.routes()).toContainEqual({
      name: 'legacy-worker-1',
      addressPrefix: '10.200.1.0/24',
      nextHopType: 'VirtualAppliance',
      nextHopIpAddress: worker(1).internalIPs![0],
    });
    expect(isRouteCreated(sb, 'worker-1')).toBe(true);
    // Blackhole and gateway routes inside the pod range that no node claims are ours and stale: removed.
    expect(sb.routes().map((r) => r.name)).not.toContain('stale-blackhole');
    expect(sb.routes().map((r) => r.name)).not.toContain('stale-gateway');
  });

  it('metrics count every refused pod CIDR by reason; the good nodes are routed', () => {
    expect(metric(metrics, M.skipped, { reason: 'OutsideClusterCIDR' })).toBe(3);
    expect(metric(metrics, M.skipped, { reason: 'HostBitsSet' })).toBe(1);
    expect(metric(metrics, M.skipped, { reason: 'NoInternalIP' })).toBe(7);
    expect(metric(metrics, M.skipped, { reason: 'DuplicatePodCIDR' })).toBe(2);
    for (let i = 0; i < 2; i++) expect(isRouteCreated(sb, `worker-${i}`)).toBe(true);
    // Every route now in the table is either foreign, or a route some valid node asked for.
    const allowed = new Set([
      ...FOREIGN_ROUTES.map((r) => r.name),
      'to-internet',
      'vnet-local',
      'legacy-worker-1',
      routeFor(worker(0)).name,
    ]);
    const ours = sb.routes().filter((r) => !allowed.has(r.name));
    expect(ours.map((r) => r.addressPrefix).sort()).toEqual([
      '10.200.20.0/24',
      '10.200.21.0/24',
      '10.200.8.0/24',
    ]);
  });
});

// DESIGN 2.3: no route may capture another node's traffic, even inside a wide --cluster-cidr.
describe("hostile nodes inside a wide --cluster-cidr: nothing captures another node's traffic", () => {
  const WIDE = ['10.0.0.0/8', 'fd00::/16'];
  let sb: Sandbox;
  let c: ReliabilityController;
  let report: SyncReport;
  let before: ReturnType<Sandbox['table']>;
  const onprem5: SimpleRoute = {
    name: 'onprem-5',
    addressPrefix: '192.168.5.0/24',
    nextHopType: 'VirtualNetworkGateway',
  };
  const at = (seconds: number) =>
    new Date(Date.UTC(2024, 0, 1) + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

  beforeAll(async () => {
    sb = await startSandbox({
      nodes: [
        worker(0),
        { name: 'whole-range-v4', podCIDRs: ['10.0.0.0/8'], internalIPs: ['10.240.0.70'] },
        { name: 'broad-v6', podCIDRs: ['fd00::/32'], internalIPs: ['fd00:240::71'] },
        { name: 'default-v4', podCIDRs: ['0.0.0.0/0'], internalIPs: ['10.240.0.72'] },
        { name: 'broad-v4', podCIDRs: ['10.201.0.0/16'], internalIPs: ['10.240.0.73'] },
        { name: 'squatter', podCIDRs: ['192.168.5.0/24'], internalIPs: ['10.240.0.74'] },
        // An older node's /24, and a newer node claiming a /25 inside it: the newer claim is refused.
        {
          name: 'older',
          podCIDRs: ['10.202.0.0/24'],
          internalIPs: ['10.240.0.75'],
          creationTimestamp: at(100),
        },
        {
          name: 'nested',
          podCIDRs: ['10.202.0.128/25'],
          internalIPs: ['10.240.0.76'],
          creationTimestamp: at(200),
        },
      ],
      table: { routes: [...FOREIGN_ROUTES, onprem5] },
    });
    before = sb.table();
    c = await startReliabilityController(sb, { clusterCidr: WIDE });
    await waitFor(() => {
      expect(isRouteCreated(sb, 'older')).toBe(true);
      expect(sb.warningEvents('nested')).toHaveLength(1);
    });
    report = await reasons(sb, WIDE.join(','));
  });
  afterAll(async () => {
    await c?.stop();
    await sb?.close();
  });

  it('a pod CIDR equal to a --cluster-cidr range is refused (CoversClusterCIDR)', async () => {
    expect(skipOf(report, 'whole-range-v4')).toMatchObject({
      cidr: '10.0.0.0/8',
      reason: 'CoversClusterCIDR',
    });
    await expectTold(sb, 'whole-range-v4', /10\.0\.0\.0\/8/);
    expectNoRoute(sb, { node: 'whole-range-v4', prefix: '10.0.0.0/8' });
  });

  it('a pod CIDR broader than the node mask size (/24 IPv4, /64 IPv6) is refused (PrefixTooBroad)', async () => {
    for (const [node, cidr, flag] of [
      ['broad-v4', '10.201.0.0/16', '--node-cidr-mask-size-ipv4'],
      ['broad-v6', 'fd00::/32', '--node-cidr-mask-size-ipv6'],
    ] as const) {
      expect(skipOf(report, node), node).toMatchObject({ cidr, reason: 'PrefixTooBroad' });
      await expectTold(sb, node, new RegExp(flag));
      expectNoRoute(sb, { node, prefix: cidr });
    }
  });

  it('0.0.0.0/0 and a foreign prefix lie outside the range: refused, and the foreign routes are untouched', async () => {
    expect(skipOf(report, 'default-v4')).toMatchObject({ cidr: '0.0.0.0/0', reason: 'OutsideClusterCIDR' });
    expect(skipOf(report, 'squatter')).toMatchObject({
      cidr: '192.168.5.0/24',
      reason: 'OutsideClusterCIDR',
    });
    await expectTold(sb, 'squatter', /outside --cluster-cidr/);
    expect(storedRoute(sb.table(), 'onprem-5')).toEqual(storedRoute(before, 'onprem-5'));
    expect(storedRoute(sb.table(), 'default-to-firewall')).toEqual(
      storedRoute(before, 'default-to-firewall'),
    );
  });

  it("a /25 nested in an older node's /24 is refused for the newer node; the older node is routed", async () => {
    expect(skipOf(report, 'nested')).toMatchObject({ cidr: '10.202.0.128/25', reason: 'OverlappingPodCIDR' });
    await expectTold(sb, 'nested', /older/);
    expectNoRoute(sb, { node: 'nested', nextHop: '10.240.0.76' });
    expect(sb.routes()).toContainEqual(
      expect.objectContaining({ addressPrefix: '10.202.0.0/24', nextHopIpAddress: '10.240.0.75' }),
    );
    expect(isRouteCreated(sb, 'older')).toBe(true);
  });
});

describe('a route table that already holds 400 foreign routes', () => {
  it('adds nothing, tells every node it is at the limit, and leaves all 400 exactly as they were', async () => {
    const foreign: SimpleRoute[] = Array.from({ length: 400 }, (_, i) => ({
      name: `branch-${i}`,
      addressPrefix: `172.${16 + Math.floor(i / 256)}.${i % 256}.0/24`,
      nextHopType: 'VirtualNetworkGateway',
    }));
    const sb = await startSandbox({ nodes: workers(2), table: { routes: foreign } });
    const c = await startReliabilityController(sb);
    try {
      const before = sb.table();
      for (const node of ['worker-0', 'worker-1']) {
        await expectTold(
          sb,
          node,
          new RegExp(
            `route for pod CIDR 10\\.200\\.${node.at(-1)}\\.0/24 was not created in route table kubernetes-routes because the table is at its route limit \\(--route-limit; Azure allows 400\\)`,
          ),
        );
      }
      expect(sb.azureWrites()).toEqual([]);
      expect(sb.table()).toEqual(before);
      const samples = await scrape(c);
      expect(
        metric(samples, M.routes, { route_table: 'kubernetes/kubernetes-routes', state: 'over_limit' }),
      ).toBe(2);
      expect(
        metric(samples, M.routes, { route_table: 'kubernetes/kubernetes-routes', state: 'foreign' }),
      ).toBe(400);
    } finally {
      await c.stop();
      await sb.close();
    }
  });
});

describe('broken configuration', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await startSandbox({ nodes: workers(2) });
  });
  afterAll(async () => {
    await sb?.close();
  });

  it('a malformed azure.json: run exits 2 with one line naming the file, never echoing its content', async () => {
    const file = join(sb.dir, 'malformed.json');
    writeFileSync(
      file,
      '{\n  "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",\n  "aadClientSecret": hunter2-secret\n}\n',
    );
    const p = spawnCli([
      'run',
      ...sb.flags(),
      '--leader-elect=false',
      '--bind-address',
      '127.0.0.1:0',
      '--cloud-config',
      file,
    ]);
    const exit = await p.exited;
    const result = { ...exit, stdout: p.stdout(), stderr: p.stderr(), args: [] };
    expectExit(result, 2);
    const line = expectOneLineError(result);
    expect(line).toContain(`--cloud-config ${file}: not valid JSON`);
    expect(p.stdout() + p.stderr()).not.toContain('hunter2');
    expect(sb.sim.requests).toEqual([]);
  });

  it('an azure.json with unknown keys: run warns, naming them, and works', async () => {
    const file = join(sb.dir, 'unknown-keys.json');
    writeFileSync(
      file,
      JSON.stringify({
        routeTableName: 'kubernetes-routes',
        vnetName: 'known-elsewhere',
        routeTabelName: 'typo',
        aadClientSecert: 'x',
      }),
    );
    const p = spawnCli([
      'run',
      ...sb.flags(),
      '--leader-elect=false',
      '--bind-address',
      '127.0.0.1:0',
      '--cloud-config',
      file,
    ]);
    await waitFor(() => expect(p.logs().some((l) => l['msg'] === 'reconciled')).toBe(true), 15_000);
    p.kill('SIGTERM');
    expect(await p.exited).toEqual({ code: 0, signal: null });
    const warning = p.logs().find((l) => l['level'] === 40 && String(l['msg']).includes('unknown key'));
    expect(String(warning?.['msg'])).toBe(
      `--cloud-config ${file}: ignoring unknown keys "routeTabelName", "aadClientSecert"; cloud-provider-azure does not define them: check the spelling (keys are case-sensitive)`,
    );
    expect(sb.routes()).toHaveLength(2);
  });

  it('a kubeconfig that does not exist: run exits 2 with one line, before any request', async () => {
    sb.sim.resetLog();
    const missing = join(sb.dir, 'nowhere', 'kubeconfig');
    const flags = sb.flags().map((f) => (f === sb.kubeconfig ? missing : f));
    const p = spawnCli(['run', ...flags, '--leader-elect=false', '--bind-address', '127.0.0.1:0']);
    const exit = await p.exited;
    const result = { ...exit, stdout: p.stdout(), stderr: p.stderr(), args: [] };
    expectExit(result, 2);
    expect(expectOneLineError(result)).toBe(
      `error: Cannot read kubeconfig ${missing}: the file does not exist. Pass --kubeconfig with a readable kubeconfig file, or set KUBECONFIG.`,
    );
    expect(sb.sim.requests).toEqual([]);
  });

  it('a kubeconfig pointing at a port nobody listens on: run stays up, not ready, says why, writes nothing; SIGTERM exits 0', async () => {
    sb.sim.resetLog();
    const port = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    const nowhere = join(sb.dir, 'nowhere-kubeconfig');
    writeFileSync(nowhere, sb.kube.kubeconfig().replace(sb.kube.url, `http://127.0.0.1:${port}`));
    const flags = sb.flags().map((f) => (f === sb.kubeconfig ? nowhere : f));
    const p = spawnCli(['run', ...flags, '--leader-elect=false', '--bind-address', '127.0.0.1:0']);
    await waitFor(
      () =>
        expect(
          p.logs().filter((l) => l['msg'] === 'cannot list nodes; will retry').length,
        ).toBeGreaterThanOrEqual(2),
      15_000,
    );
    const url = String(p.logs().find((l) => l['msg'] === 'serving /healthz, /readyz and /metrics')?.['url']);
    expect(await httpGet(`${url}/readyz`)).toEqual({
      status: 503,
      body: 'node informer has not synced yet\n',
    });
    expect((await httpGet(`${url}/healthz`)).status).toBe(200);
    const warned = p.logs().find((l) => l['msg'] === 'cannot list nodes; will retry');
    expect(warned).toMatchObject({
      level: 40,
      err: `Cannot reach the Kubernetes API server at http://127.0.0.1:${port} (connection refused) to list nodes. Check the server in the kubeconfig and that the API server is running.`,
    });
    // Without a node list nothing is planned, so nothing is written (not even a read of Azure).
    expect(sb.sim.requests).toEqual([]);
    p.kill('SIGTERM');
    expect(await p.exited).toEqual({ code: 0, signal: null });
  });
});
