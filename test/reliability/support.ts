// Shared machinery of the reliability suite: an in-process `run` controller with the seams the fault matrix
// needs (a credential that can fail, scaled SDK retries), a TCP proxy that can make ARM unreachable, and a
// monitor that samples the safety invariants all through a fault.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import type { AccessToken } from '@azure/identity';
import { pino } from 'pino';
import { vi } from 'vitest';
import { INSECURE_TEST_TOKEN, InsecureTestCredential } from '../../src/azure/credentials.ts';
import type { RouteTableStoreOptions } from '../../src/azure/store.ts';
import { loadRunConfig, type RunConfig, type RunFlags } from '../../src/config/run.ts';
import { startController, type RunningController } from '../../src/controller/controller.ts';
import { realTimers } from '../../src/support/timers.ts';
import { desiredRoutes } from '../../src/domain/desired.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { toNodeInfo } from '../../src/kube/nodes.ts';
import type { JsonObject, SimpleRoute } from '../../src/simulator/azure.ts';
import { controllerFlags, parseMetrics } from '../support/controller.ts';
import { storedRoute, type Sandbox } from '../support/sandbox.ts';
import type { V1Node } from '@kubernetes/client-node';

/**
 * Foreign routes every fault scenario seeds: the subnet's default route to a firewall, a route to on-premises
 * and a blackhole, all outside the cluster range. None of them may ever change.
 */
export const FOREIGN_ROUTES: readonly SimpleRoute[] = [
  {
    name: 'default-to-firewall',
    addressPrefix: '0.0.0.0/0',
    nextHopType: 'VirtualAppliance',
    nextHopIpAddress: '10.240.255.4',
  },
  { name: 'to-onprem', addressPrefix: '192.168.0.0/16', nextHopType: 'VirtualNetworkGateway' },
  { name: 'blackhole-metadata', addressPrefix: '169.254.169.254/32', nextHopType: 'None' },
];

/**
 * The SDK's own per-request retries, scaled from 1 s doubling (about 7 s for three retries) to 20 ms doubling,
 * so a reconcile against an unreachable or failing ARM ends in well under a second.
 */
export const SCALED_SDK_RETRY: NonNullable<RouteTableStoreOptions['retry']> = {
  maxRetries: 3,
  retryDelayInMs: 20,
  maxRetryDelayInMs: 200,
};

/**
 * The loop's timings of a fault test, scaled about 300x from the defaults (backoff 1 s..5 m, resync 1 m,
 * operation timeout 5 m): minutes of outage become seconds.
 */
export const SCALED_FLAGS: Partial<RunFlags> = {
  resyncPeriod: '1s',
  backoffBase: '100ms',
  backoffMax: '1s',
  operationTimeout: '5s',
};

/**
 * The placeholder test credential (so the store still sends it over plain HTTP to the loopback simulator,
 * ADR 4), but one that a test can break: `fail` makes every token request throw, as an identity endpoint that is
 * down does; `token` replaces the placeholder with a value the security tests look for.
 */
export class SwitchableCredential extends InsecureTestCredential {
  fail: Error | undefined;
  token = INSECURE_TEST_TOKEN;
  requests = 0;

  override getToken(): Promise<AccessToken> {
    this.requests += 1;
    if (this.fail) return Promise.reject(this.fail);
    return Promise.resolve({ token: this.token, expiresOnTimestamp: Date.now() + 60 * 60 * 1000 });
  }
}

export interface ReliabilityController extends RunningController {
  readonly config: RunConfig;
  /** Every log record so far (the logger writes JSON lines into memory, at the configured level). */
  readonly logs: Record<string, unknown>[];
  /** The raw log text, for grepping. */
  logText(): string;
}

export interface ControllerOptions {
  readonly credential?: InsecureTestCredential;
  readonly azureRetry?: RouteTableStoreOptions['retry'];
  /** Adjusts the loaded config (e.g. the credential spec whose secret messages must scrub). */
  readonly config?: (config: RunConfig) => RunConfig;
}

/** The real controller (startController), in-process, against a Sandbox. */
export async function startReliabilityController(
  sb: Sandbox,
  overrides: Partial<RunFlags> = {},
  options: ControllerOptions = {},
): Promise<ReliabilityController> {
  const loaded = loadRunConfig(controllerFlags(sb, { ...SCALED_FLAGS, ...overrides }), {
    env: {},
    readFile: () => '',
  });
  const config = options.config ? options.config(loaded) : loaded;
  const logs: Record<string, unknown>[] = [];
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      const s = chunk.toString('utf8');
      text += s;
      for (const line of s.split('\n')) {
        if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  const logger = pino({ level: config.logLevel }, sink);
  const controller = await startController(config, {
    kubeConfig: loadKubeConfig(config.kubeconfig),
    credential: options.credential ?? new SwitchableCredential(),
    logger,
    timers: realTimers,
    random: Math.random,
    azureRetry: options.azureRetry ?? SCALED_SDK_RETRY,
  });
  return Object.assign(Object.create(controller) as RunningController, controller, {
    config,
    logs,
    logText: () => text,
  });
}

// ---------------------------------------------------------------------------------------------------------
// Observations

export const waitFor = <T>(fn: () => T | Promise<T>, timeout = 10_000) =>
  vi.waitFor(fn, { timeout, interval: 25 });

export async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

export type Samples = ReturnType<typeof parseMetrics>;

/** The value of one metric sample (labels must match those given), or undefined. */
export function metric(
  samples: Samples,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    ?.value;
}

export async function scrape(c: RunningController): Promise<Samples> {
  return parseMetrics(await c.metrics.registry.metrics());
}

export const M = {
  reconciles: 'azure_route_controller_reconciles_total',
  requests: 'azure_route_controller_azure_requests_total',
  throttleWait: 'azure_route_controller_azure_throttle_wait_seconds_total',
  writes: 'azure_route_controller_route_table_writes_total',
  lastSuccess: 'azure_route_controller_last_successful_sync_timestamp_seconds',
  skipped: 'azure_route_controller_nodes_skipped',
  routes: 'azure_route_controller_routes',
  leader: 'azure_route_controller_leader',
} as const;

/** Sum of a counter over every label set that matches. */
export function total(samples: Samples, name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}

export function condition(sb: Sandbox, node: string) {
  return sb.networkUnavailable(node);
}

export function isRouteCreated(sb: Sandbox, node: string): boolean {
  const c = condition(sb, node);
  return c?.status === 'False' && c.reason === 'RouteCreated';
}

// ---------------------------------------------------------------------------------------------------------
// The invariant monitor

export interface Monitor {
  /** Starts watching another foreign route (one a foreign writer added), as it is now. */
  addForeign(name: string): void;
  /** Stops sampling, samples one last time, and returns every violation seen. */
  stop(): string[];
  readonly samples: number;
}

/**
 * Samples, every `everyMs`, the two invariants no fault may break:
 * - every foreign route is exactly as it was (the stored body: name, prefix, next hop, id, etag...);
 * - no node is marked RouteCreated unless each of its routes is in Azure, pointing at its InternalIP.
 * The Kubernetes and Azure state are both in this process, so each sample reads them in the same tick.
 */
export function startMonitor(
  sb: Sandbox,
  options: { readonly clusterCIDRs: readonly string[]; readonly everyMs?: number },
): Monitor {
  const foreign = new Map<string, JsonObject | undefined>();
  const table = sb.table();
  for (const r of FOREIGN_ROUTES) {
    if (storedRoute(table, r.name)) foreign.set(r.name, storedRoute(table, r.name));
  }
  const violations = new Set<string>();
  const planner = {
    clusterCIDRs: options.clusterCIDRs,
    routeLimit: 400,
    minPrefixLength: { v4: 16, v6: 48 },
  };
  let samples = 0;
  const check = () => {
    samples += 1;
    const now = sb.table();
    for (const [name, before] of foreign) {
      const after = storedRoute(now, name);
      if (!isDeepStrictEqual(after, before)) {
        violations.add(
          `foreign route ${name} changed: ${JSON.stringify(before)} -> ${JSON.stringify(after)}`,
        );
      }
    }
    const routes = sb.routes();
    for (const node of sb.kube.nodes()) {
      const name = node.metadata?.name ?? '';
      if (!isRouteCreated(sb, name)) continue;
      const wanted = desiredRoutes([toNodeInfo(node as unknown as V1Node)], planner).routes;
      for (const want of wanted) {
        const there = routes.some(
          (r) =>
            r.addressPrefix === want.cidr &&
            r.nextHopType === 'VirtualAppliance' &&
            r.nextHopIpAddress === want.nextHopIpAddress,
        );
        if (!there) {
          violations.add(
            `${name} is RouteCreated but ${want.cidr} -> ${want.nextHopIpAddress} is not in Azure`,
          );
        }
      }
    }
  };
  const timer = setInterval(check, options.everyMs ?? 40);
  return {
    addForeign(name) {
      foreign.set(name, storedRoute(sb.table(), name));
    },
    stop() {
      clearInterval(timer);
      check();
      return [...violations];
    },
    get samples() {
      return samples;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// A TCP proxy in front of the simulator: down() makes ARM unreachable (connections refused, open ones reset).

export interface Proxy {
  readonly url: string;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startProxy(
  target: string,
  options: { readonly onRequestBytes?: (chunk: Buffer) => void } = {},
): Promise<Proxy> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    if (options.onRequestBytes) client.on('data', options.onRequestBytes);
    client.pipe(upstream).pipe(client);
  });
  let listening = false;
  let boundPort = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(boundPort, '127.0.0.1', () => {
        server.off('error', reject);
        listening = true;
        const address = server.address();
        boundPort = typeof address === 'object' && address ? address.port : boundPort;
        resolve();
      });
    });
  await listen();
  const down = async () => {
    if (!listening) return;
    listening = false;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of sockets) s.destroy();
    await closed;
  };
  return {
    url: `http://127.0.0.1:${boundPort}`,
    down,
    async up() {
      if (!listening) await listen();
    },
    close: down,
  };
}

/** Log records from index `from` on. */
export function logsSince(c: ReliabilityController, from: number): Record<string, unknown>[] {
  return c.logs.slice(from);
}

export const reconciledLines = (logs: readonly Record<string, unknown>[]) =>
  logs.filter((l) => l['msg'] === 'reconciled');
