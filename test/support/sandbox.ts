// Shared setup for end-to-end tests: the Azure simulator and the fake Kubernetes API server, both over real
// HTTP, a kubeconfig for the fake server in a temp dir, and the flags that point the real CLI at them.
// Used by the sync-routes e2e tests, and meant for the `run` e2e tests too.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startAzureSimulator,
  type AzureSimulator,
  type AzureSimulatorOptions,
  type JsonObject,
  type RequestLogEntry,
  type SeedTable,
  type SimpleRoute,
} from '../../src/simulator/azure.ts';
import {
  startFakeKubeApi,
  type FakeKubeApi,
  type FakeNodeSpec,
  type RequestRecord,
  type WireEvent,
} from '../../src/simulator/kube-api.ts';
import { runCli, type CliResult, type RunCliOptions } from './cli.ts';

export const SUBSCRIPTION = '00000000-0000-0000-0000-000000000001';
export const RESOURCE_GROUP = 'kubernetes';
export const LOCATION = 'westeurope';
export const TABLE = 'kubernetes-routes';
export const CLUSTER_CIDR = '10.200.0.0/16';
export const SUBNET_ID = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${RESOURCE_GROUP}/providers/Microsoft.Network/virtualNetworks/kubernetes-vnet/subnets/kubernetes-subnet`;

/** The subnet's default route to a firewall: outside every cluster CIDR, never ours. */
export const FIREWALL_ROUTE: SimpleRoute = {
  name: 'default-to-firewall',
  addressPrefix: '0.0.0.0/0',
  nextHopType: 'VirtualAppliance',
  nextHopIpAddress: '10.240.255.4',
};

/** Worker i: pod CIDR 10.(200 + i/256).(i%256).0/24, InternalIP 10.240.(i/250).(i%250 + 4). */
export function worker(i: number, extra: Partial<FakeNodeSpec> = {}): FakeNodeSpec {
  return {
    name: `worker-${i}`,
    podCIDRs: [`10.${200 + Math.floor(i / 256)}.${i % 256}.0/24`],
    internalIPs: [`10.240.${Math.floor(i / 250)}.${(i % 250) + 4}`],
    // Distinct, increasing creation times: the route limit admits the oldest nodes first.
    creationTimestamp: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    ...extra,
  };
}

export function workers(count: number): FakeNodeSpec[] {
  return Array.from({ length: count }, (_, i) => worker(i));
}

/** The name this controller (and the Azure cloud-controller-manager) gives a node's route (DESIGN 2.2). */
export function routeName(node: string, cidr: string): string {
  return `${node}____${cidr.replace(/[.:/]/g, '')}`;
}

/** The route a node should have: its pod CIDR via its InternalIP. */
export function routeFor(node: FakeNodeSpec): SimpleRoute {
  const cidr = node.podCIDRs![0]!;
  return {
    name: routeName(node.name, cidr),
    addressPrefix: cidr,
    nextHopType: 'VirtualAppliance',
    nextHopIpAddress: node.internalIPs![0]!,
  };
}

export interface SandboxOptions {
  readonly nodes?: readonly FakeNodeSpec[];
  /** The table TABLE in RESOURCE_GROUP to seed; false for none. Default: no routes, one subnet. */
  readonly table?: SeedTable | false;
  readonly simulator?: AzureSimulatorOptions;
}

export interface FlagOptions {
  /** --route-table values; default [TABLE]. */
  readonly routeTables?: readonly string[];
  /** --cluster-cidr; default CLUSTER_CIDR; null leaves the flag out. */
  readonly clusterCidr?: string | null;
  readonly subscriptionId?: string;
  readonly resourceGroup?: string;
}

export interface Sandbox {
  readonly sim: AzureSimulator;
  readonly kube: FakeKubeApi;
  /** A temp dir removed by close(). */
  readonly dir: string;
  readonly kubeconfig: string;
  /**
   * The flags that reach the simulator and the fake API server: kubeconfig, the plain-http ARM endpoint,
   * subscription and resource group, and a 20 ms LRO poll interval so polls are quick.
   */
  connectionFlags(options?: FlagOptions): string[];
  /** connectionFlags plus --route-table and --cluster-cidr. */
  flags(options?: FlagOptions): string[];
  /** `sync-routes <flags()> <args>`; clears both request logs first, so they hold this run only. */
  syncRoutes(args?: readonly string[], options?: FlagOptions & RunCliOptions): Promise<CliResult>;
  /** The routes of a table in the simulator. */
  routes(table?: string, resourceGroup?: string): SimpleRoute[];
  /** The stored body of a table, or undefined. */
  table(table?: string, resourceGroup?: string): JsonObject | undefined;
  /** The simulator's PUT/PATCH/DELETE requests since the last run started. */
  azureWrites(): RequestLogEntry[];
  /** Requests to the fake API server that change something (everything but GET). */
  kubeWrites(): RequestRecord[];
  /** A node's NetworkUnavailable condition. */
  networkUnavailable(node: string): { status?: string; reason?: string; message?: string } | undefined;
  /** Warning events with this reason (FailedToCreateRoute by default), optionally for one node. */
  warningEvents(node?: string, reason?: string): WireEvent[];
  close(): Promise<void>;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const sim = await startAzureSimulator({
    subscriptions: [SUBSCRIPTION],
    resourceGroups: [{ subscriptionId: SUBSCRIPTION, name: RESOURCE_GROUP, location: LOCATION }],
    // Real Azure answers a PUT with Retry-After: 2 (the simulator's default, checked by the contract test), and
    // the controller honours it. End-to-end tests leave it off to stay fast: they then exercise the poller's own
    // backoff from --poll-interval. Tests of the Retry-After path set it explicitly.
    lroRetryAfterSeconds: 'none',
    ...options.simulator,
  });
  const kube = await startFakeKubeApi();
  const dir = mkdtempSync(join(tmpdir(), 'arc-e2e-'));
  const kubeconfig = join(dir, 'kubeconfig');
  await kube.writeKubeconfig(kubeconfig);
  if (options.table !== false) {
    sim.putTable(SUBSCRIPTION, RESOURCE_GROUP, TABLE, {
      location: LOCATION,
      subnets: [SUBNET_ID],
      ...options.table,
    });
  }
  kube.addNodes(options.nodes ?? []);

  const connectionFlags = (o: FlagOptions = {}) => [
    '--kubeconfig',
    kubeconfig,
    '--arm-endpoint',
    sim.url,
    '--allow-insecure-arm-endpoint',
    '--subscription-id',
    o.subscriptionId ?? SUBSCRIPTION,
    '--resource-group',
    o.resourceGroup ?? RESOURCE_GROUP,
    '--poll-interval',
    '20ms',
  ];
  const flags = (o: FlagOptions = {}) => [
    ...connectionFlags(o),
    ...(o.routeTables ?? [TABLE]).flatMap((t) => ['--route-table', t]),
    ...(o.clusterCidr === null ? [] : ['--cluster-cidr', o.clusterCidr ?? CLUSTER_CIDR]),
  ];

  return {
    sim,
    kube,
    dir,
    kubeconfig,
    connectionFlags,
    flags,
    syncRoutes(args = [], o = {}) {
      sim.resetLog();
      kube.resetLog();
      return runCli(['sync-routes', ...flags(o), ...args], o);
    },
    routes: (table = TABLE, rg = RESOURCE_GROUP) => sim.routes(SUBSCRIPTION, rg, table),
    table: (table = TABLE, rg = RESOURCE_GROUP) => sim.getTable(SUBSCRIPTION, rg, table),
    azureWrites: () => sim.requests.filter((r) => r.method !== 'GET'),
    kubeWrites: () => kube.requests.filter((r) => r.method !== 'GET'),
    networkUnavailable(node) {
      return kube.getNode(node)?.status?.conditions?.find((c) => c.type === 'NetworkUnavailable');
    },
    warningEvents(node, reason = 'FailedToCreateRoute') {
      return kube
        .events()
        .filter(
          (e) =>
            e.type === 'Warning' &&
            e.reason === reason &&
            (node === undefined || e.involvedObject.name === node),
        );
    },
    async close() {
      await Promise.all([sim.close(), kube.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The route with this name in a stored table body, exactly as Azure serves it (id, etag, properties). */
export function storedRoute(table: JsonObject | undefined, name: string): JsonObject | undefined {
  const props = table?.['properties'] as { routes?: JsonObject[] } | undefined;
  return props?.routes?.find((r) => r['name'] === name);
}
