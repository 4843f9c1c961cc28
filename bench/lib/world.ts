// One benchmark "world": the Azure simulator and the fake Kubernetes API server over real HTTP on loopback,
// a kubeconfig for the fake server, N nodes, and the route tables the controller manages.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ARM_DEFAULT_THROTTLING,
  startAzureSimulator,
  type AzureSimulator,
  type RequestLogEntry,
  type SimpleRoute,
} from '../../src/simulator/azure.ts';
import { startFakeKubeApi, type FakeKubeApi } from '../../src/simulator/kube-api.ts';
import { benchNode } from './nodes.ts';

export { CLUSTER_CIDR, benchNode, benchRoute } from './nodes.ts';

export const SUBSCRIPTION = '00000000-0000-0000-0000-0000000000be';
export const RESOURCE_GROUP = 'kubernetes';
export const LOCATION = 'westeurope';
export const SUBNET_ID = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${RESOURCE_GROUP}/providers/Microsoft.Network/virtualNetworks/kubernetes-vnet/subnets/kubernetes-subnet`;
/** A route that is not ours (outside the cluster CIDR): every whole-table write must carry it back. */
export const FOREIGN_ROUTE: SimpleRoute = {
  name: 'default-to-firewall',
  addressPrefix: '0.0.0.0/0',
  nextHopType: 'VirtualAppliance',
  nextHopIpAddress: '10.240.255.4',
};

/** How Azure behaves: per-request round trip and the time a write's long-running operation takes. */
export interface AzureProfile {
  readonly name: string;
  /** Added to every request, polls included. */
  readonly latencyMs: number;
  /** Age a long-running operation must reach before it reports Succeeded (and its change takes effect). */
  readonly lroDurationMs: number;
  /**
   * Retry-After on the simulator's LRO answers (its `lroRetryAfterSeconds`): 2 s by default, as real Azure sends
   * (../shared/azure-recordings); 'none' for an Azure that gives no hint, so the poller's own schedule shows.
   */
  readonly lroRetryAfterSeconds?: number | 'none' | undefined;
}

/** The benchmark's Azure: ~50 ms per request, 2 s per write (Azure's route-table LROs take about 1-3 s). */
export const REALISTIC: AzureProfile = Object.freeze({
  name: 'realistic',
  latencyMs: 50,
  lroDurationMs: 2_000,
});
/** A fast operation (200 ms) with no Retry-After: how soon a node is reported ready when Azure is quick. */
export const FAST_LRO: AzureProfile = Object.freeze({
  name: 'fast-operation',
  latencyMs: 50,
  lroDurationMs: 200,
  lroRetryAfterSeconds: 'none',
});
/** The same operation, with the Retry-After of 1 s the issue measured against. */
export const FAST_LRO_RETRY_1: AzureProfile = Object.freeze({
  name: 'fast-operation-retry-after-1',
  latencyMs: 50,
  lroDurationMs: 200,
  lroRetryAfterSeconds: 1,
});
/**
 * Azure with no delay at all: isolates what the controller itself adds. No Retry-After either: real Azure's 2 s
 * hint on an operation that has already finished would only measure the hint.
 */
export const INSTANT: AzureProfile = Object.freeze({
  name: 'instant',
  latencyMs: 0,
  lroDurationMs: 0,
  lroRetryAfterSeconds: 'none',
});

export interface WorldOptions {
  readonly profile: AzureProfile;
  /** Nodes present before anything starts (node i = benchNode(i)). */
  readonly nodes: number;
  /** Route tables to create (empty but for FOREIGN_ROUTE); default one. */
  readonly tables?: readonly string[];
  /** Azure's limit is 400; raised for the 5,000-node runs. */
  readonly routeLimit?: number;
  /** Routes to seed into every table (e.g. an already converged table). */
  readonly seedRoutes?: readonly SimpleRoute[];
  /** The nodes already carry NetworkUnavailable=False (RouteCreated): a converged cluster. */
  readonly routed?: boolean;
  /**
   * Seed FOREIGN_ROUTE too. Off by default: a foreign route takes one of the table's 400 places, and the
   * 400-node runs need them all.
   */
  readonly foreignRoute?: boolean;
}

export interface World {
  readonly sim: AzureSimulator;
  readonly kube: FakeKubeApi;
  readonly profile: AzureProfile;
  readonly tables: readonly string[];
  readonly routeLimit: number;
  readonly kubeconfig: string;
  /** The routes of a table, as the simulator holds them now (completes operations that are due). */
  routes(table?: string): SimpleRoute[];
  close(): Promise<void>;
}

export const DEFAULT_TABLE = 'kubernetes-routes';

export async function startWorld(options: WorldOptions): Promise<World> {
  const tables = options.tables ?? [DEFAULT_TABLE];
  const routeLimit = options.routeLimit ?? 400;
  const sim = await startAzureSimulator({
    subscriptions: [SUBSCRIPTION],
    resourceGroups: [{ subscriptionId: SUBSCRIPTION, name: RESOURCE_GROUP, location: LOCATION }],
    latencyMs: options.profile.latencyMs,
    lroDurationMs: options.profile.lroDurationMs,
    ...(options.profile.lroRetryAfterSeconds !== undefined
      ? { lroRetryAfterSeconds: options.profile.lroRetryAfterSeconds }
      : {}),
    // An operation completes by age alone, so it takes effect at lroDurationMs whoever polls it.
    lroPolls: 0,
    throttling: ARM_DEFAULT_THROTTLING,
    // Azure's network RP serialises writes to one route table: RetryableErrorDueToAnotherOperation.
    busyStatus: 429,
    routeLimit,
  });
  const kube = await startFakeKubeApi();
  const dir = mkdtempSync(join(tmpdir(), 'arc-bench-'));
  const kubeconfig = join(dir, 'kubeconfig');
  await kube.writeKubeconfig(kubeconfig);
  for (const table of tables) {
    sim.putTable(SUBSCRIPTION, RESOURCE_GROUP, table, {
      location: LOCATION,
      subnets: [SUBNET_ID],
      routes: [...(options.foreignRoute ? [FOREIGN_ROUTE] : []), ...(options.seedRoutes ?? [])],
    });
  }
  for (let i = 0; i < options.nodes; i++) kube.addNode(benchNode(i, { routed: options.routed === true }));
  return {
    sim,
    kube,
    profile: options.profile,
    tables,
    routeLimit,
    kubeconfig,
    routes: (table = tables[0]!) => sim.routes(SUBSCRIPTION, RESOURCE_GROUP, table),
    async close() {
      await Promise.all([sim.close(), kube.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** What a stretch of the simulator's request log cost, in ARM terms. */
export interface ArmCost {
  /** PUT, PATCH and DELETE requests, answered or not (a throttled write still spends a token). */
  readonly writes: number;
  /** Of them, the ones Azure accepted (2xx). */
  readonly acceptedWrites: number;
  /** GETs of tables and routes. */
  readonly reads: number;
  /** GETs of long-running operation status (ARM counts them as reads). */
  readonly polls: number;
  /** Answers with status 429 (throttled, or a busy route table). */
  readonly throttled: number;
  /** Of them, RetryableErrorDueToAnotherOperation (the table was busy with another write). */
  readonly busy: number;
  /** Sum of the Retry-After seconds of those answers: the time Azure asked callers to wait. */
  readonly retryAfterSeconds: number;
}

export function armCost(entries: readonly RequestLogEntry[]): ArmCost {
  let writes = 0;
  let acceptedWrites = 0;
  let reads = 0;
  let polls = 0;
  let throttled = 0;
  let busy = 0;
  let retryAfterSeconds = 0;
  for (const e of entries) {
    if (e.operation === 'Operations_Get' || e.operation === 'OperationResults_Get') polls++;
    else if (e.method === 'GET') reads++;
    else {
      writes++;
      if (e.status >= 200 && e.status < 300) acceptedWrites++;
    }
    if (e.status === 429 || e.status === 409) {
      throttled++;
      if (e.errorCode === 'RetryableErrorDueToAnotherOperation') busy++;
      retryAfterSeconds += e.retryAfterSeconds ?? 0;
    }
  }
  return { writes, acceptedWrites, reads, polls, throttled, busy, retryAfterSeconds };
}

/** The log entries from index `from` on (the log is append-only between resets). */
export function logSince(sim: AzureSimulator, from: number): RequestLogEntry[] {
  return sim.requests.slice(from);
}
