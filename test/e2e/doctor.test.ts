// End to end: `doctor` through the real CLI against the Azure simulator and the fake Kubernetes API server.
// Each check is seen ok, fail and (where it has one) warn; every run is shown to write nothing, anywhere.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckId, CheckResult, DoctorReport } from '../../src/doctor/types.ts';
import { seedDoctorWorld, type DoctorWorld, type DoctorWorldNode } from '../../src/simulator/doctor-world.ts';
import { describeRun, expectExit, expectOneLineError, runCli, type CliResult } from '../support/cli.ts';
import {
  CLUSTER_CIDR,
  FIREWALL_ROUTE,
  LOCATION,
  RESOURCE_GROUP,
  SUBSCRIPTION,
  TABLE,
  routeName,
  startSandbox,
  type Sandbox,
} from '../support/sandbox.ts';

const CHECKS: readonly CheckId[] = [
  'identity',
  'permissions',
  'table',
  'subnets',
  'ip-forwarding',
  'other-writers',
  'nodes',
  'plan',
];

const worker = (i: number, extra: Partial<DoctorWorldNode> = {}): DoctorWorldNode => ({
  name: `worker-${i}`,
  podCIDRs: [`10.200.${i}.0/24`],
  internalIP: `10.240.0.${20 + i}`,
  ...extra,
});

const routeOf = (node: DoctorWorldNode, nextHop = node.internalIP) => ({
  name: routeName(node.name, node.podCIDRs![0]!),
  addressPrefix: node.podCIDRs![0]!,
  nextHopType: 'VirtualAppliance',
  nextHopIpAddress: nextHop,
});

const base = {
  subscriptionId: SUBSCRIPTION,
  resourceGroup: RESOURCE_GROUP,
  table: TABLE,
  location: LOCATION,
};

interface Run {
  readonly sb: Sandbox;
  readonly result: CliResult;
  readonly report: DoctorReport;
  check(id: CheckId): CheckResult;
}

/** Starts an empty sandbox, seeds `world`, runs doctor once with -o json and keeps both request logs. */
async function doctorOn(
  world: Omit<DoctorWorld, keyof typeof base>,
  args: readonly string[] = [],
  prepare?: (sb: Sandbox) => void,
): Promise<Run> {
  const sb = await startSandbox({ table: false });
  await seedDoctorWorld(sb.sim, sb.kube, { ...base, ...world });
  prepare?.(sb);
  sb.sim.resetLog();
  sb.kube.resetLog();
  const result = await runCli(['doctor', ...sb.flags(), '-o', 'json', '--log-level', 'silent', ...args]);
  let report: DoctorReport;
  try {
    report = JSON.parse(result.stdout) as DoctorReport;
  } catch {
    throw new Error(`doctor did not print JSON:\n${describeRun(result)}`);
  }
  return {
    sb,
    result,
    report,
    check(id) {
      const found = report.checks.find((c) => c.id === id);
      if (!found) throw new Error(`no check ${id}:\n${describeRun(result)}`);
      return found;
    },
  };
}

function expectNoWrites(run: Run): void {
  const azure = run.sb.sim.requests;
  const kube = run.sb.kube.requests;
  expect(azure.length, 'doctor read Azure').toBeGreaterThan(0);
  expect(kube.length, 'doctor read Kubernetes').toBeGreaterThan(0);
  expect(azure.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`)).toEqual([]);
  expect(kube.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`)).toEqual([]);
}

function expectCheck(run: Run, id: CheckId, status: CheckResult['status'], ...patterns: RegExp[]): void {
  const check = run.check(id);
  expect(check.status, `${id}: ${JSON.stringify(check, null, 2)}`).toBe(status);
  const text = [check.summary, ...check.details, ...check.fixes].join('\n');
  for (const pattern of patterns) expect(text, id).toMatch(pattern);
}

const HEALTHY_NODES = [worker(0), worker(1), worker(2)];

describe('doctor on a healthy cluster', () => {
  let run: Run;
  beforeAll(async () => {
    run = await doctorOn(
      {
        nodes: HEALTHY_NODES,
        routes: [FIREWALL_ROUTE, ...HEALTHY_NODES.map((n) => routeOf(n))],
        leases: [
          { namespace: 'kube-system', name: 'azure-route-controller', holder: 'arc-0', renewedAgoMs: 1_000 },
        ],
      },
      ['--leader-elect-namespace', 'kube-system'],
    );
  });
  afterAll(() => run?.sb.close());

  it('says ok for every check, in order, and exits 0', () => {
    expectExit(run.result, 0);
    expect(run.report.schemaVersion).toBe(1);
    expect(run.report.result).toBe('ok');
    expect(run.report.exitCode).toBe(0);
    expect(run.report.checks.map((c) => [c.id, c.status])).toEqual(CHECKS.map((id) => [id, 'ok']));
  });

  it('says what it found', () => {
    expectCheck(run, 'identity', 'ok', /placeholder test credential/);
    expectCheck(run, 'permissions', 'ok', /routeTables\/write/);
    expectCheck(run, 'table', 'ok', /3 ours, 1 foreign, 396 free of 400/, /disableBgpRoutePropagation false/);
    expectCheck(run, 'subnets', 'ok', /kubernetes-vnet\/kubernetes-subnet/);
    expectCheck(run, 'ip-forwarding', 'ok', /worker-2: NIC worker-2-nic forwards IP/);
    expectCheck(run, 'other-writers', 'ok', /no cloud-controller-manager Lease/, /held by arc-0/);
    expectCheck(run, 'nodes', 'ok', /3 node\(s\): 3 routable/);
    expectCheck(run, 'plan', 'ok', /0 create, 0 update, 0 delete, 3 keep/);
  });

  it('writes nothing, neither to Azure nor to Kubernetes', () => {
    expectNoWrites(run);
    // It read what the checks need: the VM and NIC of each node, the subnet, the permissions.
    const operations = new Set(run.sb.sim.requests.map((r) => r.operation));
    for (const op of ['RouteTables_Get', 'VirtualMachines_Get', 'NetworkInterfaces_Get', 'Subnets_Get']) {
      expect(operations).toContain(op);
    }
    expect([...operations].some((op) => op.startsWith('Permissions_'))).toBe(true);
  });
});

describe('doctor on a cluster with one fault of each kind', () => {
  let run: Run;
  const nodes = [
    worker(0),
    worker(1, { ipForwarding: false }),
    worker(2, { subnet: 'other', internalIP: '10.241.0.22' }),
    worker(3, { podCIDRs: ['10.99.0.0/24'] }),
  ];
  beforeAll(async () => {
    run = await doctorOn({
      nodes,
      routes: [
        FIREWALL_ROUTE,
        // Named by our scheme, next hop not worker-0's: someone else writes it.
        routeOf(nodes[0]!, '10.240.0.99'),
        routeOf(nodes[1]!),
        routeOf(nodes[2]!),
      ],
      permissions: [
        {
          actions: [
            'Microsoft.Network/*/read',
            'Microsoft.Compute/virtualMachines/read',
            'Microsoft.Authorization/permissions/read',
          ],
        },
      ],
      // A long lease, so "renewed recently" holds however slowly this machine starts the CLI.
      leases: [
        {
          namespace: 'kube-system',
          name: 'cloud-controller-manager',
          holder: 'master-0_1a2b',
          renewedAgoMs: 0,
          leaseDurationSeconds: 3600,
        },
      ],
    });
  });
  afterAll(() => run?.sb.close());

  it('exits 1, and writes nothing', () => {
    expectExit(run.result, 1);
    expect(run.report.result).toBe('fail');
    expectNoWrites(run);
  });

  it('permissions: fail when the identity can read but not write', () => {
    expectCheck(
      run,
      'permissions',
      'fail',
      /can read but not write the table: not allowed: Microsoft\.Network\/routeTables\/write/,
      /az role assignment create --assignee <principal-id> --role "Azure Route Controller" --scope \/subscriptions\/.*\/routeTables\/kubernetes-routes/,
    );
    expect(run.check('permissions').details.join('\n')).not.toMatch(/locations\/operations\/read/);
  });

  it('subnets: fail naming the node and the subnet that uses no table', () => {
    expectCheck(
      run,
      'subnets',
      'fail',
      /node worker-2 \(10\.241\.0\.22\) is in subnet kubernetes-vnet\/other-subnet, which uses none of the configured tables/,
      /az network vnet subnet update --resource-group kubernetes --vnet-name kubernetes-vnet --name other-subnet --route-table \/subscriptions\/.*\/routeTables\/kubernetes-routes/,
    );
  });

  it('ip-forwarding: fail with the az command that turns it on', () => {
    expectCheck(
      run,
      'ip-forwarding',
      'fail',
      /node worker-1: NIC worker-1-nic has IP forwarding off/,
      /az network nic update --resource-group kubernetes --name worker-1-nic --ip-forwarding true/,
    );
    expect(run.check('ip-forwarding').details.join('\n')).not.toMatch(/worker-0: NIC worker-0-nic has/);
  });

  it('other-writers: fail on a recently renewed cloud-controller-manager Lease and disagreeing routes', () => {
    expectCheck(
      run,
      'other-writers',
      'fail',
      /cloud-controller-manager leads \(Lease kube-system\/cloud-controller-manager held by master-0_1a2b/,
      /worker-0____102000024 -> 10\.240\.0\.99, node worker-0 has 10\.240\.0\.20/,
      /--configure-cloud-routes=false/,
      /az monitor activity-log list --resource-id/,
    );
  });

  it('nodes: fail naming the node whose pod CIDR is outside --cluster-cidr', () => {
    expectCheck(
      run,
      'nodes',
      'fail',
      /node worker-3 10\.99\.0\.0\/24: OutsideClusterCIDR/,
      /kubectl get node worker-3/,
    );
  });
});

describe('doctor where every problem is a warning', () => {
  let run: Run;
  const nodes = [worker(0), worker(1, { providerID: false }), worker(2, { podCIDRs: undefined })];
  // 36 foreign routes + 2 node routes = 38 of a 40-route limit.
  const foreign = Array.from({ length: 36 }, (_, i) => ({
    name: `onprem-${i}`,
    addressPrefix: `192.168.${i}.0/24`,
    nextHopType: 'VirtualNetworkGateway',
  }));
  beforeAll(async () => {
    run = await doctorOn(
      {
        nodes,
        routes: [...foreign, routeOf(nodes[0]!, '10.240.0.99')],
        leases: [
          {
            namespace: 'kube-system',
            name: 'cloud-controller-manager',
            holder: 'master-0_1a2b',
            renewedAgoMs: 3_600_000,
          },
        ],
      },
      ['--route-limit', '40'],
      (sb) => {
        for (const pathIncludes of [
          '/providers/Microsoft.Authorization/permissions',
          '/networkInterfaces',
          '/subnets/',
        ]) {
          sb.sim.faults.add({ kind: 'forbidden', match: { pathIncludes }, action: 'Microsoft.Network/read' });
        }
      },
    );
  });
  afterAll(() => run?.sb.close());

  it('exits 0 with result warn, and writes nothing', () => {
    expectExit(run.result, 0);
    expect(run.report.result).toBe('warn');
    expect(run.report.exitCode).toBe(0);
    expectNoWrites(run);
  });

  it('permissions: warn when the identity may not read its own permissions', () => {
    expectCheck(run, 'permissions', 'warn', /may not read its own permissions/, /doctor-reader-role\.json/);
  });

  it('table: warn near the route limit', () => {
    expectCheck(run, 'table', 'warn', /near the limit: 38 of 40 needed for 2 node route\(s\)/);
  });

  it('subnets: warn when neither the NIC nor the subnet can be read', () => {
    expectCheck(run, 'subnets', 'warn', /its subnet is not known/);
  });

  it('ip-forwarding: warn naming the read permission it lacks', () => {
    expectCheck(
      run,
      'ip-forwarding',
      'warn',
      /worker-0: NIC not readable: needs Microsoft\.Compute\/virtualMachines\/read and Microsoft\.Network\/networkInterfaces\/read/,
      /worker-1: NIC not readable: needs Microsoft\.Network\/networkInterfaces\/read/,
      /Azure Route Controller Doctor/,
    );
  });

  it('other-writers: warn on disagreeing routes while no route controller is running', () => {
    expectCheck(run, 'other-writers', 'warn', /1 route\(s\) named by our scheme point away/);
    const age = /last renewed (\d+)s ago \(held by master-0_1a2b\): not running/.exec(
      run.check('other-writers').details.join('\n'),
    );
    expect(Number(age?.[1])).toBeGreaterThanOrEqual(3600);
  });

  it('nodes: warn for a node without a pod CIDR yet', () => {
    expectCheck(
      run,
      'nodes',
      'warn',
      /node worker-2: no pod CIDR yet/,
      /--allocate-node-cidrs=true --cluster-cidr=10\.200\.0\.0\/16/,
    );
  });

  it('plan: warn with what sync-routes would change', () => {
    expectCheck(run, 'plan', 'warn', /would create 1, update 1, delete 0/, /sync-routes/);
  });
});

describe('doctor on missing, lonely and full tables', () => {
  let run: Run;
  beforeAll(async () => {
    run = await doctorOn({ nodes: HEALTHY_NODES, associate: false }, [
      '--route-table',
      'missing-routes',
      '--route-limit',
      '2',
    ]);
  });
  afterAll(() => run?.sb.close());

  it('table: fail on a missing table (with the command that creates it) and on nodes that do not fit', () => {
    expectExit(run.result, 1);
    expectCheck(
      run,
      'table',
      'fail',
      /kubernetes\/missing-routes: not found/,
      /az network route-table create --subscription .* --resource-group kubernetes --name missing-routes --location/,
      /the nodes do not fit: 3 node route\(s\) \+ 0 foreign = 3 > 2/,
    );
    expectNoWrites(run);
  });

  it('subnets: fail on a table associated with no subnet', () => {
    expectCheck(
      run,
      'subnets',
      'fail',
      /kubernetes\/kubernetes-routes is associated with no subnet: its routes have no effect/,
      /--vnet-name kubernetes-vnet --name kubernetes-subnet --route-table/,
    );
  });

  it('plan: fail when sync-routes could not place every route', () => {
    expectCheck(run, 'plan', 'fail', /2 create, 0 update, 0 delete, 0 keep, 0 conflict, 1 over limit/);
  });
});

describe('doctor without a token', () => {
  let sb: Sandbox;
  let result: CliResult;
  beforeAll(async () => {
    sb = await startSandbox({ table: false });
    await seedDoctorWorld(sb.sim, sb.kube, { ...base, nodes: HEALTHY_NODES });
    const azureJson = join(sb.dir, 'azure.json');
    writeFileSync(
      azureJson,
      JSON.stringify({
        tenantId: '00000000-0000-0000-0000-0000000000aa',
        aadClientId: '00000000-0000-0000-0000-0000000000bb',
        aadClientCertPath: join(sb.dir, 'no-such-cert.pem'),
        subscriptionId: SUBSCRIPTION,
        resourceGroup: RESOURCE_GROUP,
        routeTableName: TABLE,
      }),
    );
    sb.kube.resetLog();
    result = await runCli([
      'doctor',
      '--cloud-config',
      azureJson,
      '--kubeconfig',
      sb.kubeconfig,
      '--cluster-cidr',
      CLUSTER_CIDR,
      // Nothing listens there: no request may leave without a token anyway.
      '--arm-endpoint',
      'https://127.0.0.1:9',
      '-o',
      'json',
      '--log-level',
      'silent',
    ]);
  });
  afterAll(() => sb?.close());

  it('identity: fail naming the credential and what to check', () => {
    expectExit(result, 1);
    const report = JSON.parse(result.stdout) as DoctorReport;
    const identity = report.checks.find((c) => c.id === 'identity')!;
    expect(identity.status).toBe('fail');
    expect(identity.summary).toMatch(/no token for https:\/\/127\.0\.0\.1:9\/\.default from the certificate/);
    expect(identity.fixes.join('\n')).toMatch(/aadClientCertPath/);
    // The Azure checks say they could not run; the Kubernetes ones still do.
    expect(report.checks.find((c) => c.id === 'permissions')!.details.join('\n')).toMatch(
      /not checked: no Azure token/,
    );
    expect(report.checks.find((c) => c.id === 'nodes')!.status).toBe('ok');
    expect(sb.kube.requests.filter((r) => r.method !== 'GET')).toEqual([]);
  });
});

describe('doctor usage', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await startSandbox({ table: false });
  });
  afterAll(() => sb?.close());

  it('exits 2 with one line naming --cluster-cidr when it is missing', async () => {
    const result = await runCli(['doctor', ...sb.flags({ clusterCidr: null })]);
    expectExit(result, 2);
    expect(expectOneLineError(result)).toMatch(/--cluster-cidr is required/);
    expect(sb.sim.requests).toEqual([]);
  });

  it('exits 2 on an unknown output format', async () => {
    const result = await runCli(['doctor', ...sb.flags(), '-o', 'yaml']);
    expectExit(result, 2);
    expect(result.stderr).toMatch(/-o, --output <format>.*yaml.*Allowed choices are text, json/s);
  });

  it('prints one line per check in text, and the result', async () => {
    await seedDoctorWorld(sb.sim, sb.kube, {
      ...base,
      nodes: HEALTHY_NODES,
      routes: HEALTHY_NODES.map((n) => routeOf(n)),
    });
    const result = await runCli(['doctor', ...sb.flags(), '--log-level', 'silent']);
    expectExit(result, 0);
    const lines = result.stdout.split('\n');
    for (const id of CHECKS)
      expect(
        lines.filter((l) => new RegExp(`^ok\\s+${id}\\s`).test(l)),
        id,
      ).toHaveLength(1);
    expect(result.stdout).toMatch(/^Result: 0 fail, 0 warn, 8 ok \(exit 0\)\. doctor wrote nothing\.$/m);
  });
});
