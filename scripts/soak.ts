// `npm run soak -- --minutes N [--seed S]`: the real `run` controller, as a child process, against the Azure
// simulator and the fake Kubernetes API server (both in this process), under random node churn, hostile nodes,
// a foreign writer, out-of-band drift and random faults on both sides, all from one seeded PRNG.
//
// All along it checks that no foreign route is ever lost or changed, that no hostile node is ever routed and
// that the controller stays up and healthy. At the end it stops the churn, clears every fault, and asserts that
// everything converges, that the controller's heap (from its own /metrics, start-after-warm-up vs end) grew
// no more than a bound, and that its resident memory, read from /proc (so a wedged process cannot hide it), ended
// within --max-rss-growth-pct of its value after warm-up and never peaked (VmHWM) above --max-rss-mb. The
// controller is the bundle the image runs, with the image's Node flags and environment (the Dockerfile's
// ENTRYPOINT and ENV). Prints a summary; exits 1 on any failure, 2 on bad usage.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { imageEntry, readProcMemory } from '../bench/lib/controller.ts';
import { startAzureSimulator, type Fault, type SimpleRoute } from '../src/simulator/azure.ts';
import { startFakeKubeApi, type WireNode } from '../src/simulator/kube-api.ts';

// ---------------------------------------------------------------------------------------------------------
// Usage

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '2' },
    seed: { type: 'string' },
    nodes: { type: 'string', default: '30' },
    'max-heap-growth-mb': { type: 'string', default: '24' },
    'max-rss-growth-pct': { type: 'string', default: '20' },
    'max-rss-mb': { type: 'string', default: '150' },
    // What runs: the image's command line (default), or the TypeScript sources with no flag, as before issue 13.
    controller: { type: 'string', default: 'image' },
    verbose: { type: 'boolean', default: false },
  },
});
const minutes = Number(values.minutes);
const initialNodes = Number(values.nodes);
const maxHeapGrowthMb = Number(values['max-heap-growth-mb']);
const maxRssGrowthPct = Number(values['max-rss-growth-pct']);
const maxRssMb = Number(values['max-rss-mb']);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
if (
  !(minutes > 0 && minutes <= 24 * 60) ||
  !Number.isInteger(seed) ||
  !(initialNodes >= 0 && initialNodes <= 200) ||
  !(maxHeapGrowthMb > 0) ||
  !(maxRssGrowthPct > 0) ||
  !(maxRssMb > 0) ||
  !['image', 'source'].includes(values.controller)
) {
  console.error(
    'usage: npm run soak -- --minutes N [--seed S] [--nodes 30] [--max-heap-growth-mb 24] [--max-rss-growth-pct 20] [--max-rss-mb 150] [--controller image|source] [--verbose]\n' +
      '  --minutes: 0 < N <= 1440; --seed: an integer; --nodes: 0..200',
  );
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------------------
// The seeded PRNG (mulberry32) and helpers

let state = seed >>> 0;
function random(): number {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const between = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
function weighted<T extends string>(table: Record<T, number>): T {
  const entries = Object.entries(table) as [T, number][];
  let r = random() * entries.reduce((n, [, w]) => n + w, 0);
  for (const [k, w] of entries) if ((r -= w) < 0) return k;
  return entries[0]![0];
}
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const same = (a: SimpleRoute | undefined, b: SimpleRoute | undefined) =>
  a !== undefined &&
  b !== undefined &&
  a.name === b.name &&
  a.addressPrefix === b.addressPrefix &&
  a.nextHopType === b.nextHopType &&
  a.nextHopIpAddress === b.nextHopIpAddress;
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;

// ---------------------------------------------------------------------------------------------------------
// The world

const SUB = '00000000-0000-0000-0000-000000000001';
const RG = 'kubernetes';
const TABLE = 'kubernetes-routes';
const CLUSTER_CIDR = '10.200.0.0/16';
const SUBNET = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/nodes`;
const BASE_FOREIGN: SimpleRoute[] = [
  {
    name: 'default-to-firewall',
    addressPrefix: '0.0.0.0/0',
    nextHopType: 'VirtualAppliance',
    nextHopIpAddress: '10.240.255.4',
  },
  { name: 'to-onprem', addressPrefix: '192.168.0.0/16', nextHopType: 'VirtualNetworkGateway' },
  { name: 'blackhole-metadata', addressPrefix: '169.254.169.254/32', nextHopType: 'None' },
];

console.log(
  `soak: seed ${seed}, ${minutes} minute(s), ${initialNodes} initial nodes (rerun: npm run soak -- --minutes ${minutes} --seed ${seed})`,
);

const sim = await startAzureSimulator({
  subscriptions: [SUB],
  resourceGroups: [{ subscriptionId: SUB, name: RG, location: 'westeurope' }],
  // As in Azure, an operation ends by age, whether or not anyone polls it: a write whose poller was cut off
  // (a dropped connection, a 500 on the poll) still settles, and the table leaves Updating.
  lroPolls: 0,
  lroDurationMs: 300,
});
sim.putTable(SUB, RG, TABLE, { routes: BASE_FOREIGN, subnets: [SUBNET] });
const kube = await startFakeKubeApi();
const dir = mkdtempSync(join(tmpdir(), 'arc-soak-'));
const kubeconfig = join(dir, 'kubeconfig');
await kube.writeKubeconfig(kubeconfig);

/** The foreign routes that must be in the table, exactly: name -> route. */
const foreign = new Map(BASE_FOREIGN.map((r) => [r.name, r] as const));

interface NodeModel {
  readonly name: string;
  cidr: string | undefined;
  ip: string;
  readonly hostile: boolean;
}
const nodes = new Map<string, NodeModel>();
const freeCidrs = Array.from({ length: 256 }, (_, i) => `10.200.${i}.0/24`);
let nextNode = 0;
let nextIp = 0;
const newIp = () => {
  const i = nextIp++;
  return `10.240.${Math.floor(i / 250) % 250}.${(i % 250) + 4}`;
};
const takeCidr = () => freeCidrs.splice(Math.floor(random() * freeCidrs.length), 1)[0];
const HOSTILE = [
  { cidr: '0.0.0.0/0', ip: '10.240.254.1' },
  { cidr: '192.168.7.0/24', ip: '10.240.254.2' }, // inside the foreign on-premises range, outside the cluster's
  { cidr: '10.200.77.1/24', ip: '10.240.254.3' }, // host bits set
  { cidr: '10.201.0.0/24', ip: '10.240.254.4' }, // outside --cluster-cidr
  { cidr: `10.200.250.0/24`, ip: '127.0.0.1' }, // loopback next hop
] as const;
freeCidrs.splice(freeCidrs.indexOf('10.200.250.0/24'), 1);

function addNode(hostile = false): void {
  const name = `${hostile ? 'hostile' : 'worker'}-${nextNode++}`;
  const h = hostile ? pick(HOSTILE) : undefined;
  const cidr = h ? h.cidr : takeCidr();
  if (cidr === undefined) return;
  const model: NodeModel = { name, cidr, ip: h ? h.ip : newIp(), hostile };
  nodes.set(name, model);
  kube.addNode({ name, podCIDRs: [cidr], internalIPs: [model.ip] });
}
for (let i = 0; i < initialNodes; i++) addNode();

// ---------------------------------------------------------------------------------------------------------
// The controller under test

const entry =
  values.controller === 'source'
    ? {
        label: 'node src/cli/main.ts (the sources, no flag: the soak before issue 13)',
        script: fileURLToPath(new URL('../src/cli/main.ts', import.meta.url)),
        nodeFlags: [] as string[],
        env: {} as Record<string, string>,
      }
    : imageEntry();
console.log(`controller: ${entry.label}`);
const child = spawn(
  process.execPath,
  [
    ...entry.nodeFlags,
    entry.script,
    'run',
    '--kubeconfig',
    kubeconfig,
    '--arm-endpoint',
    sim.url,
    '--allow-insecure-arm-endpoint',
    '--subscription-id',
    SUB,
    '--resource-group',
    RG,
    '--route-table',
    TABLE,
    '--cluster-cidr',
    CLUSTER_CIDR,
    '--leader-elect=false',
    '--bind-address',
    '127.0.0.1:0',
    '--poll-interval',
    '50ms',
    '--debounce',
    '100ms',
    '--max-delay',
    '1s',
    '--resync-period',
    '5s',
    '--backoff-base',
    '200ms',
    '--backoff-max',
    '5s',
    '--operation-timeout',
    '10s',
    '--log-level',
    'info',
  ],
  {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, ...entry.env },
  },
);
let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
const exit = new Promise<void>((resolve) =>
  child.on('exit', (code, signal) => ((exited = { code, signal }), resolve())),
);
const lastLines: string[] = [];
const logCounts = { warn: 0, error: 0, fatal: 0 };
let metricsUrl: string | undefined;
let pending = '';
child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
  pending += chunk;
  const lines = pending.split('\n');
  pending = lines.pop() ?? '';
  for (const line of lines) {
    if (line.trim() === '') continue;
    lastLines.push(line);
    if (lastLines.length > 200) lastLines.shift();
    if (values.verbose) console.log(`  | ${line}`);
    let record: Record<string, unknown> | undefined;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const level = Number(record['level']);
    if (level >= 60) logCounts.fatal++;
    else if (level >= 50) logCounts.error++;
    else if (level >= 40) logCounts.warn++;
    if (record['msg'] === 'serving /healthz, /readyz and /metrics') metricsUrl = String(record['url']);
  }
});
child.stdout!.resume();

/** prom-client's process and Node.js metrics, under the controller's prefix or the standard name. */
function processMetric(m: Map<string, number>, name: string): number | undefined {
  return m.get(`azure_route_controller_${name}`) ?? m.get(name);
}

async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(`${metricsUrl}/metrics`, { signal: AbortSignal.timeout(5_000) });
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Safety checks, all the time

const failures: string[] = [];
function fail(message: string): void {
  if (failures.includes(message) || failures.length >= 50) return;
  failures.push(message);
  console.error(`FAIL: ${message}`);
}

function checkSafety(): void {
  const routes = sim.routes(SUB, RG, TABLE);
  for (const [name, route] of foreign) {
    const now = routes.find((r) => r.name === name);
    if (!same(now, route)) {
      fail(`foreign route ${name} lost or changed: ${JSON.stringify(route)} -> ${JSON.stringify(now)}`);
      foreign.delete(name);
    }
  }
  const hostileHops = new Set<string>(HOSTILE.map((h) => h.ip));
  for (const r of routes) {
    if (foreign.has(r.name)) continue;
    if (r.nextHopIpAddress !== undefined && hostileHops.has(r.nextHopIpAddress))
      fail(`a hostile node is routed: ${JSON.stringify(r)}`);
    if (r.addressPrefix === '0.0.0.0/0') fail(`a second default route: ${JSON.stringify(r)}`);
    if (!r.addressPrefix.startsWith('10.200.'))
      fail(`a route of ours outside --cluster-cidr: ${JSON.stringify(r)}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Churn and faults

const events: Record<string, number> = {};
const faults: Record<string, number> = {};
const count = (bag: Record<string, number>, key: string) => (bag[key] = (bag[key] ?? 0) + 1);
let nextForeign = 0;

/**
 * Out-of-band writes (the foreign writer, a hand deleting our route) go straight into the simulator's state. Azure
 * refuses any write to a table while an operation on it runs (409 AnotherOperationInProgress), so these hands wait
 * too: otherwise the operation's commit would overwrite them, which Azure never does.
 */
const tableBusy = () => sim.pendingOperations() > 0;

function churn(): void {
  const legit = [...nodes.values()].filter((n) => !n.hostile);
  const hostile = [...nodes.values()].filter((n) => n.hostile);
  const action = weighted({
    add: legit.length < 60 ? 4 : 0,
    delete: legit.length > 5 ? 3 : 0,
    ip: legit.length > 0 ? 3 : 0,
    podCidr: legit.length > 0 ? 1 : 0,
    hostileAdd: hostile.length < 4 ? 1 : 0,
    hostileDelete: hostile.length > 0 ? 1 : 0,
    drift: tableBusy() ? 0 : 1,
    foreignAdd: foreign.size < 40 && !tableBusy() ? 2 : 0,
    foreignDelete: tableBusy() ? 0 : foreign.size > 60 ? 4 : foreign.size > BASE_FOREIGN.length ? 1 : 0,
  });
  count(events, action);
  switch (action) {
    case 'add':
      addNode();
      break;
    case 'hostileAdd':
      addNode(true);
      break;
    case 'delete':
    case 'hostileDelete': {
      const victim = pick(action === 'delete' ? legit : hostile);
      kube.deleteNode(victim.name);
      nodes.delete(victim.name);
      if (!victim.hostile && victim.cidr !== undefined) freeCidrs.push(victim.cidr);
      break;
    }
    case 'ip': {
      const n = pick(legit);
      n.ip = newIp();
      kube.updateNode(n.name, (w: WireNode) => {
        w.status!.addresses = [
          { type: 'InternalIP', address: n.ip },
          { type: 'Hostname', address: n.name },
        ];
      });
      break;
    }
    case 'podCidr': {
      // A node loses its pod CIDR (as if re-registered) or gets a new one.
      const n = pick(legit);
      if (n.cidr !== undefined) freeCidrs.push(n.cidr);
      n.cidr = random() < 0.3 ? undefined : takeCidr();
      kube.updateNode(n.name, (w: WireNode) => {
        w.spec = n.cidr === undefined ? {} : { podCIDR: n.cidr, podCIDRs: [n.cidr] };
      });
      break;
    }
    case 'drift': {
      // Someone deletes one of our routes by hand; the next resync must put it back.
      const ours = sim.routes(SUB, RG, TABLE).filter((r) => !foreign.has(r.name));
      if (ours.length > 0) sim.deleteRoute(SUB, RG, TABLE, pick(ours).name);
      break;
    }
    case 'foreignAdd': {
      const i = nextForeign++;
      const route: SimpleRoute = {
        name: `team-${i}`,
        addressPrefix: `172.${16 + (i % 16)}.${Math.floor(i / 16) % 256}.0/24`,
        nextHopType: pick(['VirtualAppliance', 'VirtualNetworkGateway', 'None', 'Internet']),
      };
      if (route.nextHopType === 'VirtualAppliance')
        (route as { nextHopIpAddress?: string }).nextHopIpAddress = '10.240.255.9';
      try {
        sim.putRoute(SUB, RG, TABLE, route);
        foreign.set(route.name, route);
      } catch {
        // the table is at its limit: the foreign writer is refused, as Azure would refuse it
      }
      break;
    }
    case 'foreignDelete': {
      const mine = [...foreign.keys()].filter((k) => k.startsWith('team-'));
      if (mine.length > 0) {
        const name = pick(mine);
        foreign.delete(name);
        sim.deleteRoute(SUB, RG, TABLE, name);
      }
      break;
    }
  }
}

const AZURE_FAULTS: Record<string, () => Fault> = {
  throttle: () => ({ kind: 'throttle', retryAfterSeconds: 1 }),
  conflict409: () => ({
    kind: 'retryableConflict',
    status: 409,
    retryAfterSeconds: 1,
    match: { method: 'PUT' },
  }),
  conflict429: () => ({
    kind: 'retryableConflict',
    status: 429,
    retryAfterSeconds: 1,
    match: { method: 'PUT' },
  }),
  server500: () => ({ kind: 'serverError', status: 500 }),
  server503: () => ({ kind: 'serverError', status: 503, match: { method: 'PUT' } }),
  drop: () => ({ kind: 'dropConnection' }),
  lroFailed: () => ({ kind: 'lroFailed', match: { method: 'PUT' } }),
  forbidden: () => ({ kind: 'forbidden', match: { method: 'PUT' } }),
  latency: () => ({ kind: 'latency', ms: 300 }),
};

/** One fault, held for a random while, then cleared. Resolves once cleared. */
async function fault(): Promise<void> {
  const kind = weighted({
    ...Object.fromEntries(Object.keys(AZURE_FAULTS).map((k) => [k, 2])),
    writer412: 2,
    kubeDown: 2,
    kubeExpire: 2,
    kubeRestart: 1,
    kubePatch500: 1,
  } as Record<string, number>);
  count(faults, kind);
  // Held for a random while, but never past the end of the run: a fault may well be on when the run ends.
  const holdMs = Math.min(between(500, 4_000), Math.max(0, durationMs - (Date.now() - started)));
  if (kind in AZURE_FAULTS) {
    const handle = sim.faults.add(AZURE_FAULTS[kind]!());
    await sleep(holdMs);
    handle.remove();
  } else if (kind === 'writer412') {
    // A foreign writer that slips a route in between our GET and our PUT.
    const unhook = sim.onBeforeWrite((w) => {
      // Bounded, so that the table never fills up to Azure's 400 routes with the writer's routes.
      if (w.method !== 'PUT' || foreign.size >= 150 || tableBusy()) return;
      const i = nextForeign++;
      const route: SimpleRoute = {
        name: `team-${i}`,
        addressPrefix: `172.${16 + (i % 16)}.${Math.floor(i / 16) % 256}.0/24`,
        nextHopType: 'None',
      };
      try {
        sim.putRoute(w.subscriptionId, w.resourceGroup, w.tableName, route);
        foreign.set(route.name, route);
      } catch {
        // at the limit
      }
    });
    await sleep(holdMs);
    unhook();
  } else if (kind === 'kubeDown') {
    await kube.down();
    await sleep(holdMs);
    await kube.up();
  } else if (kind === 'kubeExpire') {
    kube.expireWatches({ mode: random() < 0.5 ? 'event' : 'http' });
  } else if (kind === 'kubeRestart') {
    kube.restart();
  } else if (kind === 'kubePatch500') {
    kube.failNext({ method: 'PATCH', pathIncludes: '/status', status: 500, times: between(1, 5) });
    await sleep(holdMs);
    kube.clearFaults();
  }
}

// ---------------------------------------------------------------------------------------------------------
// The run

const started = Date.now();
const durationMs = minutes * 60_000;
const warmupMs = Math.min(30_000, durationMs / 4);
/** One sample every 5 s: heap from /metrics, RSS and anonymous memory from /proc. */
interface MemorySample {
  readonly at: number;
  readonly used: number;
  readonly total: number;
  readonly external: number;
  readonly rss: number;
  readonly anon: number;
}
const heap: MemorySample[] = [];
let healthFailures = 0;
let stop = false;

// Wait for the controller to serve, then for the first convergence before the chaos starts.
while (metricsUrl === undefined && exited === undefined && Date.now() - started < 30_000) await sleep(50);
if (metricsUrl === undefined) {
  fail('the controller did not start serving /metrics within 30 s');
} else {
  await waitForConvergence(60_000);
}

const samplers = [
  (async () => {
    while (!stop) {
      await sleep(500);
      checkSafety();
      if (exited !== undefined) {
        fail(`the controller exited during the soak: ${JSON.stringify(exited)}`);
        stop = true;
      }
    }
  })(),
  (async () => {
    while (!stop) {
      // /proc first: read even when the controller does not answer /metrics.
      const proc = readProcMemory(child.pid ?? -1);
      try {
        const m = await scrape();
        heap.push({
          at: Date.now() - started,
          used: processMetric(m, 'nodejs_heap_size_used_bytes') ?? NaN,
          total: processMetric(m, 'nodejs_heap_size_total_bytes') ?? NaN,
          external: processMetric(m, 'nodejs_external_memory_bytes') ?? NaN,
          rss: proc?.rssBytes ?? NaN,
          anon: proc?.anonBytes ?? NaN,
        });
        const health = await fetch(`${metricsUrl}/healthz`, { signal: AbortSignal.timeout(5_000) });
        if (health.status !== 200) healthFailures++;
      } catch {
        healthFailures++;
      }
      await sleep(5_000);
    }
  })(),
  (async () => {
    while (!stop && Date.now() - started < durationMs) {
      churn();
      await sleep(between(100, 900));
    }
  })(),
  (async () => {
    while (!stop && Date.now() - started < durationMs) {
      await sleep(Math.min(between(1_000, 6_000), Math.max(0, durationMs - (Date.now() - started))));
      if (Date.now() - started < durationMs) await fault();
    }
  })(),
  (async () => {
    let lastReport = Date.now();
    while (!stop && Date.now() - started < durationMs) {
      await sleep(1_000);
      sim.resetLog();
      kube.resetLog();
      if (Date.now() - lastReport >= 30_000) {
        lastReport = Date.now();
        const h = heap.at(-1);
        console.log(
          `  ${Math.round((Date.now() - started) / 1000)}s: ${nodes.size} nodes, ${foreign.size} foreign routes, ` +
            `${Object.values(events).reduce((a, b) => a + b, 0)} events, ${Object.values(faults).reduce((a, b) => a + b, 0)} faults` +
            (h ? `, heap ${mb(h.used)} of ${mb(h.total)}, rss ${mb(h.rss)} (anon ${mb(h.anon)})` : ''),
        );
      }
    }
  })(),
];
await Promise.all(samplers.slice(2));

// The end: every fault cleared, Kubernetes up, then everything must converge.
sim.faults.clear();
kube.clearFaults();
await kube.up();
const churnEndedAt = Date.now();
let convergedAfterMs: number | undefined;
if (exited === undefined) convergedAfterMs = await waitForConvergence(90_000);
stop = true;
await Promise.all(samplers.slice(0, 2));
checkSafety();

/** Resolves with the time it took, or fails after `limitMs`. */
async function waitForConvergence(limitMs: number): Promise<number | undefined> {
  const from = Date.now();
  let last = '';
  while (Date.now() - from < limitMs) {
    last = divergence();
    if (last === '') return Date.now() - from;
    await sleep(250);
  }
  fail(`did not converge within ${limitMs / 1000} s: ${last}`);
  return undefined;
}

/** '' when Azure and the node conditions are exactly what the cluster asks for; else the first difference. */
function divergence(): string {
  const routes = sim.routes(SUB, RG, TABLE);
  const ours = routes.filter((r) => !foreign.has(r.name));
  const want = new Map<string, string>();
  for (const n of nodes.values()) if (!n.hostile && n.cidr !== undefined) want.set(n.cidr, n.ip);
  if (ours.length !== want.size) return `${ours.length} routes of ours in Azure, ${want.size} wanted`;
  for (const r of ours) {
    if (r.nextHopType !== 'VirtualAppliance' || want.get(r.addressPrefix) !== r.nextHopIpAddress) {
      return `route ${r.name} ${r.addressPrefix} -> ${r.nextHopIpAddress} is not wanted`;
    }
  }
  for (const [name, route] of foreign) {
    if (
      !same(
        routes.find((r) => r.name === name),
        route,
      )
    )
      return `foreign route ${name} differs`;
  }
  for (const n of nodes.values()) {
    const c = kube.getNode(n.name)?.status?.conditions?.find((x) => x.type === 'NetworkUnavailable');
    const created = c?.status === 'False' && c.reason === 'RouteCreated';
    if (n.cidr === undefined) continue;
    if (!n.hostile && !created) return `${n.name} is not RouteCreated (${c?.reason ?? 'no condition'})`;
    if (n.hostile && c?.reason !== 'NoRouteCreated')
      return `hostile ${n.name} is not NoRouteCreated (${c?.reason ?? 'no condition'})`;
  }
  return '';
}

// ---------------------------------------------------------------------------------------------------------
// Heap: the minimum (the live set after a collection) of a window after warm-up vs the last window.

const windowMs = Math.max(15_000, Math.min(120_000, (durationMs - warmupMs) / 4));
const first = heap.filter((h) => h.at >= warmupMs && h.at < warmupMs + windowMs);
const lastAt = heap.at(-1)?.at ?? 0;
const last = heap.filter((h) => h.at > lastAt - windowMs);
const minOf = (xs: readonly { used: number }[]) => Math.min(...xs.map((h) => h.used).filter(Number.isFinite));
const heapStart = minOf(first);
const heapEnd = minOf(last);
const growth = heapEnd - heapStart;
if (!Number.isFinite(heapStart) || !Number.isFinite(heapEnd))
  fail(`not enough heap samples (${heap.length})`);
else if (growth > maxHeapGrowthMb * 2 ** 20)
  fail(`heap grew by ${mb(growth)}, more than --max-heap-growth-mb ${maxHeapGrowthMb}`);
// Resident memory, from /proc: the median of the same two windows (RSS moves with each collection; a median is
// what it sits at), and the peak since the process started (VmHWM).
const medianOf = (xs: readonly number[]) => {
  const sorted = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor(sorted.length / 2)]!;
};
const rssStart = medianOf(first.map((h) => h.rss));
const rssEnd = medianOf(last.map((h) => h.rss));
const hwm = readProcMemory(child.pid ?? -1)?.hwmBytes ?? NaN;
const peakSample = heap.reduce<MemorySample | undefined>(
  (a, h) => (a === undefined || h.rss > a.rss ? h : a),
  undefined,
);
if (!Number.isFinite(rssStart) || !Number.isFinite(rssEnd) || !Number.isFinite(hwm)) {
  fail("could not read the controller's RSS from /proc");
} else {
  if (rssEnd > rssStart * (1 + maxRssGrowthPct / 100))
    fail(
      `RSS grew from ${mb(rssStart)} to ${mb(rssEnd)}, more than --max-rss-growth-pct ${maxRssGrowthPct}%`,
    );
  if (hwm > maxRssMb * 2 ** 20) fail(`peak RSS (VmHWM) ${mb(hwm)} is over --max-rss-mb ${maxRssMb}`);
}
if (healthFailures > 0) fail(`/healthz failed or did not answer ${healthFailures} time(s)`);
if (logCounts.fatal > 0) fail(`${logCounts.fatal} fatal log record(s)`);

let reconciles: string;
try {
  const m = await scrape();
  const r = (result: string) => m.get(`azure_route_controller_reconciles_total{result="${result}"}`) ?? 0;
  reconciles =
    `applied ${r('applied')}, in sync ${r('in_sync')}, incomplete ${r('incomplete')} (a refused node or a conflict), ` +
    `failed ${r('failed')} (a fault; retried with backoff)`;
} catch (err) {
  reconciles = `(could not scrape: ${String(err)})`;
}

child.kill('SIGTERM');
const killGuard = setTimeout(() => child.kill('SIGKILL'), 30_000);
await exit;
clearTimeout(killGuard);
if (exited?.code !== 0) fail(`the controller did not exit 0 on SIGTERM: ${JSON.stringify(exited)}`);
await Promise.all([sim.close(), kube.close()]);
rmSync(dir, { recursive: true, force: true });

const list = (bag: Record<string, number>) =>
  `${Object.values(bag).reduce((a, b) => a + b, 0)} (${Object.entries(bag)
    .sort()
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')})`;
const legitNodes = [...nodes.values()].filter((n) => !n.hostile);
const routesNow = legitNodes.filter((n) => n.cidr !== undefined).length;
console.log(`
== soak summary ==
seed            ${seed}   (rerun: npm run soak -- --minutes ${minutes} --seed ${seed})
duration        ${((churnEndedAt - started) / 1000).toFixed(1)} s of churn and faults (warm-up ${warmupMs / 1000} s), then ${convergedAfterMs === undefined ? 'NO convergence' : `converged in ${(convergedAfterMs / 1000).toFixed(1)} s`}
events          ${list(events)}
faults          ${list(faults)}
reconciles      ${reconciles}
controller log  ${logCounts.warn} warn, ${logCounts.error} error, ${logCounts.fatal} fatal
final state     ${nodes.size} nodes (${nodes.size - legitNodes.length} hostile, ${legitNodes.length - routesNow} without a pod CIDR); ${routesNow} routes of ours, as wanted; ${foreign.size} foreign routes, all intact
heap (used)     start ${mb(heapStart)} (min of ${first.length} samples after warm-up), end ${mb(heapEnd)} (min of ${last.length}), growth ${mb(growth)}, bound ${maxHeapGrowthMb} MB
heap (total)    start ${mb(first[0]?.total ?? NaN)}, end ${mb(heap.at(-1)?.total ?? NaN)}; external start ${mb(first[0]?.external ?? NaN)}, end ${mb(heap.at(-1)?.external ?? NaN)}
rss (/proc)     start ${mb(rssStart)} (median after warm-up), end ${mb(rssEnd)} (median of the last window), growth ${((rssEnd / rssStart - 1) * 100).toFixed(1)}%, bound ${maxRssGrowthPct}%
rss peak        VmHWM ${mb(hwm)} (bound ${maxRssMb} MB); largest sample ${mb(peakSample?.rss ?? NaN)} at ${Math.round((peakSample?.at ?? NaN) / 1000)} s; anonymous start ${mb(medianOf(first.map((h) => h.anon)))}, end ${mb(medianOf(last.map((h) => h.anon)))}
result          ${failures.length === 0 ? 'PASS' : `FAIL (${failures.length})`}`);
if (failures.length > 0) {
  for (const f of failures) console.log(`  - ${f}`);
  console.log('\nlast controller log lines:');
  for (const line of lastLines.slice(-30)) console.log(`  | ${line}`);
  process.exit(1);
}
