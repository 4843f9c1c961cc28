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
import ipaddr from 'ipaddr.js';
import { realTimers } from '../../src/support/timers.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import type { JsonObject, SimpleRoute } from '../../src/simulator/azure.ts';
import { controllerFlags, parseMetrics } from '../support/controller.ts';
import { storedRoute, type Sandbox } from '../support/sandbox.ts';

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
  leader: 'azure_route_controller_is_leader',
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
// The invariant monitor, with its own oracle: which routes a node needs is worked out here from the node as the
// fake API server holds it, with ipaddr.js and the test's own rules, never with the product's desiredRoutes or
// toNodeInfo, so a bug there cannot hide from it.

interface Net {
  readonly family: 4 | 6;
  readonly bits: number;
  /** The network address, host bits cleared. */
  readonly value: bigint;
  readonly length: number;
  /** Whether the text had host bits set. */
  readonly hostBits: boolean;
  /** Canonical text of the network. */
  readonly text: string;
}

function net(text: unknown): Net | undefined {
  if (typeof text !== 'string') return undefined;
  const m = /^([0-9a-fA-F.:]+)\/(\d{1,3})$/.exec(text.trim());
  if (!m?.[1] || !m[2]) return undefined;
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    address = ipaddr.parse(m[1]);
  } catch {
    return undefined;
  }
  const bytes = address.toByteArray();
  const bits = bytes.length * 8;
  const length = Number(m[2]);
  if (length > bits) return undefined;
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  const host = BigInt(bits - length);
  const network = (value >> host) << host;
  return {
    family: bits === 32 ? 4 : 6,
    bits,
    value: network,
    length,
    hostBits: network !== value,
    text: `${m[1]}/${length}`,
  };
}

function within(outer: Net, inner: Net): boolean {
  if (outer.family !== inner.family || inner.length < outer.length) return false;
  const shift = BigInt(outer.bits - outer.length);
  return inner.value >> shift === outer.value >> shift;
}

const samePrefix = (a: Net, b: Net) => a.family === b.family && a.length === b.length && a.value === b.value;

function sameIp(a: unknown, b: string): boolean {
  try {
    return (
      typeof a === 'string' && ipaddr.parse(a).toNormalizedString() === ipaddr.parse(b).toNormalizedString()
    );
  } catch {
    return false;
  }
}

type WireAddress = { type?: string; address?: string };

/** The first InternalIP of the family that can carry a route (not loopback, link-local, multicast, ...). */
function nextHopFor(addresses: readonly WireAddress[], family: 4 | 6): string | undefined {
  const unusable = ['unspecified', 'loopback', 'linkLocal', 'multicast', 'broadcast'];
  for (const { type, address } of addresses) {
    if (type !== 'InternalIP' || address === undefined) continue;
    try {
      const ip = ipaddr.parse(address);
      if ((ip.kind() === 'ipv4' ? 4 : 6) === family && !unusable.includes(ip.range())) return address;
    } catch {
      // not an address: never a next hop
    }
  }
  return undefined;
}

type NeededRoute =
  | { readonly cidr: string; readonly prefix: Net; readonly nextHop: string }
  | { readonly cidr: string; readonly why: string };

/**
 * The routes a node needs before it may read RouteCreated: one per pod CIDR, via its InternalIP of that family.
 * A pod CIDR that no route may carry (not a CIDR, host bits, outside the cluster range, covering it, broader
 * than the node mask size, no usable InternalIP) comes back with the reason instead.
 */
function neededRoutes(
  node: { spec?: { podCIDR?: string; podCIDRs?: string[] }; status?: { addresses?: WireAddress[] } },
  clusters: readonly Net[],
  nodeMaskSize: { readonly v4: number; readonly v6: number },
): NeededRoute[] {
  const spec = node.spec ?? {};
  const cidrs = spec.podCIDRs?.length ? spec.podCIDRs : spec.podCIDR ? [spec.podCIDR] : [];
  const addresses = node.status?.addresses ?? [];
  return cidrs
    .filter((cidr) => cidr.trim() !== '')
    .map((cidr): NeededRoute => {
      const prefix = net(cidr);
      if (prefix === undefined) return { cidr, why: 'is not a CIDR' };
      if (prefix.hostBits) return { cidr, why: 'has host bits set' };
      if (!clusters.some((c) => within(c, prefix))) return { cidr, why: 'lies outside --cluster-cidr' };
      if (clusters.some((c) => within(prefix, c))) return { cidr, why: 'covers a --cluster-cidr range' };
      if (prefix.length < (prefix.family === 4 ? nodeMaskSize.v4 : nodeMaskSize.v6)) {
        return { cidr, why: 'is broader than the node mask size' };
      }
      const nextHop = nextHopFor(addresses, prefix.family);
      return nextHop === undefined
        ? { cidr, why: 'has no usable InternalIP of its family' }
        : { cidr, prefix, nextHop };
    });
}

export interface Monitor {
  /** Starts watching another foreign route (one a foreign writer added), as it is now. */
  addForeign(name: string): void;
  /** Stops sampling, samples one last time, and returns every violation seen. */
  stop(): string[];
  readonly samples: number;
}

export interface MonitorOptions {
  readonly clusterCIDRs: readonly string[];
  /** --node-cidr-mask-size-ipv4/-ipv6 of the controller under watch; default 24 and 64, as its own defaults. */
  readonly nodeMaskSize?: { readonly v4: number; readonly v6: number };
  readonly everyMs?: number;
}

/**
 * Samples, every `everyMs`, the invariants no fault may break:
 * - every foreign route is exactly as it was (the stored body: name, prefix, next hop, id, etag...);
 * - no node is marked RouteCreated unless each of its routes is in Azure, pointing at its InternalIP, and does
 *   not read Failed (a failed write is never trusted, DESIGN 2.4); a node whose pod CIDR no route may carry is
 *   never RouteCreated;
 * - no two routes inside the cluster range overlap (no route captures another node's traffic, DESIGN 2.3).
 * The Kubernetes and Azure state are both in this process, so each sample reads them in the same tick.
 */
export function startMonitor(sb: Sandbox, options: MonitorOptions): Monitor {
  const foreign = new Map<string, JsonObject | undefined>();
  const table = sb.table();
  for (const r of FOREIGN_ROUTES) {
    if (storedRoute(table, r.name)) foreign.set(r.name, storedRoute(table, r.name));
  }
  const violations = new Set<string>();
  const clusters = options.clusterCIDRs.flatMap((c) => net(c) ?? []);
  const nodeMaskSize = options.nodeMaskSize ?? { v4: 24, v6: 64 };
  let samples = 0;

  const checkForeign = (now: JsonObject | undefined) => {
    for (const [name, before] of foreign) {
      const after = storedRoute(now, name);
      if (!isDeepStrictEqual(after, before)) {
        violations.add(
          `foreign route ${name} changed: ${JSON.stringify(before)} -> ${JSON.stringify(after)}`,
        );
      }
    }
  };
  const storedRoutes = (now: JsonObject | undefined) =>
    ((now?.['properties'] as { routes?: JsonObject[] } | undefined)?.routes ?? []).map((r) => {
      const props = (r['properties'] ?? {}) as Record<string, unknown>;
      return { name: String(r['name']), props, prefix: net(props['addressPrefix']) };
    });
  type Stored = ReturnType<typeof storedRoutes>[number];

  const checkRouteCreated = (stored: readonly Stored[]) => {
    for (const node of sb.kube.nodes()) {
      const name = node.metadata?.name ?? '';
      if (!isRouteCreated(sb, name)) continue;
      for (const need of neededRoutes(node, clusters, nodeMaskSize)) {
        if ('why' in need) {
          violations.add(`${name} is RouteCreated but its pod CIDR ${need.cidr} ${need.why}`);
          continue;
        }
        const there = stored.find(
          (r) =>
            r.prefix !== undefined &&
            samePrefix(r.prefix, need.prefix) &&
            r.props['nextHopType'] === 'VirtualAppliance' &&
            sameIp(r.props['nextHopIpAddress'], need.nextHop),
        );
        if (!there) {
          violations.add(`${name} is RouteCreated but ${need.cidr} -> ${need.nextHop} is not in Azure`);
        } else if (there.props['provisioningState'] === 'Failed') {
          violations.add(
            `${name} is RouteCreated but its route ${there.name} reads provisioningState Failed`,
          );
        }
      }
    }
  };
  const checkNoCapture = (stored: readonly Stored[]) => {
    const ours = stored.filter((r) => r.prefix !== undefined && clusters.some((c) => within(c, r.prefix!)));
    for (let i = 0; i < ours.length; i++) {
      for (let j = i + 1; j < ours.length; j++) {
        const [a, b] = [ours[i]!, ours[j]!];
        if (within(a.prefix!, b.prefix!) || within(b.prefix!, a.prefix!)) {
          violations.add(`routes ${a.name} (${a.prefix!.text}) and ${b.name} (${b.prefix!.text}) overlap`);
        }
      }
    }
  };

  const check = () => {
    samples += 1;
    const now = sb.table();
    checkForeign(now);
    const stored = storedRoutes(now);
    checkRouteCreated(stored);
    checkNoCapture(stored);
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
