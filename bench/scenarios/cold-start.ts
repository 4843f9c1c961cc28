// Cold start: N nodes, an empty route table (but for a foreign route), and the real `run` controller started
// as a child process. Measures ARM writes and reads, the time to convergence, throttling, and the
// controller's memory while it converges and after. Then the per-route baseline on a fresh simulator with the
// same profile and limits.
import {
  MemorySampler,
  startControllerProcess,
  type Entry,
  type FileBackedSplit,
  type MemorySample,
} from '../lib/controller.ts';
import { runPerRouteBaseline, type BaselineResult } from '../lib/baseline.ts';
import { MB, round, sleep, within } from '../lib/stats.ts';
import { RouteCreatedWatch, TableWatch, countPresent } from '../lib/watch.ts';
import {
  RESOURCE_GROUP,
  SUBSCRIPTION,
  armCost,
  benchRoute,
  startWorld,
  type ArmCost,
  type AzureProfile,
} from '../lib/world.ts';

export interface ColdStartOptions {
  readonly nodes: number;
  readonly profile: AzureProfile;
  /** Time to keep sampling memory after convergence. */
  readonly settleMs: number;
  /** Bound on the wait for convergence. */
  readonly timeoutMs: number;
  /** Extra `run` flags (none: production defaults). */
  readonly flags?: readonly string[] | undefined;
  /** What to start (default: the image's command line). */
  readonly entry?: Entry | undefined;
}

export interface ColdStartResult extends ArmCost {
  readonly nodes: number;
  readonly profile: string;
  readonly converged: boolean;
  /** From the controller's first node LIST to every route being in the table. */
  readonly wallMs: number;
  /** From spawning the process (Node start-up included) to every route being in the table. */
  readonly wallFromSpawnMs: number;
  /** Whole-table PUTs per table. */
  readonly putsPerTable: number;
  /** The controller's own azure_throttle_wait_seconds_total. */
  readonly throttleWaitSeconds: number;
  /** Target: debounce (250 ms) + one LRO + 1 s. */
  readonly targetMs: number;
  /** The command line that ran (entry label). */
  readonly entry: string;
  /** From spawning the process to its first /readyz 200 (the node informer synced). */
  readonly readyFromSpawnMs: number;
  /** From the first node LIST to the last node's condition patched to False/RouteCreated. */
  readonly allRouteCreatedMs: number;
  /** From the end of the table's operation (every route in place) to the last node RouteCreated. */
  readonly routeCreatedAfterRoutesMs: number;
  readonly memory: MemoryResult;
}

export interface MemoryResult {
  readonly samples: number;
  /** Peak of process_resident_memory_bytes over the samples, during and after convergence. */
  readonly peakRssMB: number;
  readonly peakHeapUsedMB: number;
  readonly peakHeapTotalMB: number;
  /** VmHWM from /proc: the true peak RSS since start, between samples included. */
  readonly hwmMB: number;
  /** Peak anonymous memory (/proc/<pid>/smaps_rollup) over the samples; the rest of RSS is file-backed. */
  readonly peakAnonMB: number;
  /** File-backed RSS (the node binary, libraries, mapped files) at the last sample. */
  readonly settledFileMB: number;
  /** The same, after settling, by where it comes from (/proc/<pid>/smaps). */
  readonly settledFileSplitMB?: FileBackedSplit | undefined;
  readonly settledAnonMB: number;
  readonly peakExternalMB: number;
  /** V8 heap spaces in use at the last sample (code_space is compiled code), MB. */
  readonly settledSpacesMB: Readonly<Record<string, number>>;
  /** The last sample, after convergence and settling. */
  readonly settledRssMB: number;
  readonly settledHeapUsedMB: number;
  /**
   * RSS (from /metrics) at the first sample, once the nodes were listed (last sample before any ARM request),
   * once the table was written (last sample before the first condition patch) and once every node's condition
   * was patched; NaN where the phase was shorter than the sampling interval.
   */
  readonly phases: {
    readonly firstSampleMB: number;
    readonly listedMB: number;
    readonly tableWrittenMB: number;
    readonly conditionsPatchedMB: number;
  };
}

const DEBOUNCE_MS = 250;

export async function coldStart(options: ColdStartOptions): Promise<ColdStartResult> {
  const n = options.nodes;
  const world = await startWorld({ profile: options.profile, nodes: n, routeLimit: Math.max(400, n) });
  const desired = Array.from({ length: n }, (_, i) => benchRoute(i));
  const watch = new TableWatch(() => world.routes(), n > 1_000 ? 20 : 10);
  const routeCreated = new RouteCreatedWatch(world.kube, n > 1_000 ? 10 : 5);
  let controller: Awaited<ReturnType<typeof startControllerProcess>> | undefined;
  const firstList = firstNodeList(world.kube.requests);
  try {
    const converged = watch.when((index) => countPresent(index, desired) === n);
    const allRouteCreated = Promise.all(Array.from({ length: n }, (_, i) => routeCreated.when(`node-${i}`)));
    controller = await startControllerProcess(world, { extraFlags: options.flags, entry: options.entry });
    const ready = readyAt(controller.metricsUrl.replace(/\/metrics$/, '/readyz'), options.timeoutMs);
    // Where the controller is at each sample: ARM requests made, node conditions patched.
    let kubeSeen = 0;
    let patches = 0;
    const kubeLog = world.kube.requests;
    const sampler = new MemorySampler(controller, 250, () => {
      for (; kubeSeen < kubeLog.length; kubeSeen++) {
        const r = kubeLog[kubeSeen]!;
        if (r.method === 'PATCH' && r.path.endsWith('/status')) patches++;
      }
      return { arm: world.sim.requests.length, patches };
    });
    sampler.start();
    let convergedAt: number | undefined;
    try {
      convergedAt = await within(converged, options.timeoutMs, `cold start at ${n} nodes did not converge`);
    } catch {
      convergedAt = undefined;
    }
    let allCreatedAt: number | undefined;
    try {
      const times = await within(
        allRouteCreated,
        options.timeoutMs,
        `cold start: not every node RouteCreated`,
      );
      allCreatedAt = Math.max(...times);
    } catch {
      allCreatedAt = undefined;
    }
    const readyTime = await ready;
    await sleep(options.settleMs);
    await sampler.sample();
    sampler.stop();
    const proc = controller.procStatus();
    const fileSplit = controller.fileBacked();
    const samples = await controller.metrics();
    const throttleWaitSeconds = samples
      .filter((s) => s.name === 'azure_route_controller_azure_throttle_wait_seconds_total')
      .reduce((a, s) => a + s.value, 0);
    const cost = armCost(world.sim.requests);
    const puts = world.sim.requests.filter((r) => r.operation === 'RouteTables_CreateOrUpdate').length;
    const listAt = firstList.time() ?? controller.spawnedAt;
    const peak = sampler.peak();
    const last = sampler.samples.at(-1);
    // RSS by phase: the last sample before the first ARM request (nodes listed), the last before the first
    // condition patch (table written), and the first once every node's condition is patched.
    const rssMB = (sample: { rssBytes: number } | undefined) =>
      round((sample?.rssBytes ?? Number.NaN) / MB, 1);
    const beforeArm = sampler.samples.filter((x) => x.context['arm'] === 0).at(-1);
    const beforePatches = sampler.samples.filter((x) => x.context['patches'] === 0).at(-1);
    const patched = sampler.samples.find((x) => (x.context['patches'] ?? 0) >= n);
    const lastProc = last?.proc;
    const spacesMB = (sample: MemorySample | undefined) =>
      Object.fromEntries(Object.entries(sample?.spaces ?? {}).map(([k, v]) => [k, round(v / MB, 1)]));
    return {
      entry: controller.entry,
      readyFromSpawnMs: readyTime === undefined ? Number.NaN : readyTime - controller.spawnedAt,
      allRouteCreatedMs: allCreatedAt === undefined ? Number.NaN : allCreatedAt - listAt,
      routeCreatedAfterRoutesMs:
        allCreatedAt === undefined || convergedAt === undefined ? Number.NaN : allCreatedAt - convergedAt,
      nodes: n,
      profile: options.profile.name,
      converged: convergedAt !== undefined,
      wallMs: convergedAt === undefined ? Number.NaN : convergedAt - listAt,
      wallFromSpawnMs: convergedAt === undefined ? Number.NaN : convergedAt - controller.spawnedAt,
      ...cost,
      putsPerTable: puts / world.tables.length,
      throttleWaitSeconds,
      targetMs: DEBOUNCE_MS + options.profile.lroDurationMs + 1_000,
      memory: {
        samples: sampler.samples.length,
        peakRssMB: round(peak.rssBytes / MB, 1),
        peakHeapUsedMB: round(peak.heapUsedBytes / MB, 1),
        peakHeapTotalMB: round(peak.heapTotalBytes / MB, 1),
        hwmMB: round((proc?.hwmBytes ?? Number.NaN) / MB, 1),
        peakAnonMB: round(peak.anonBytes / MB, 1),
        settledFileMB: round((lastProc?.fileBytes ?? Number.NaN) / MB, 1),
        settledFileSplitMB: fileSplit,
        settledAnonMB: round((lastProc?.anonBytes ?? Number.NaN) / MB, 1),
        peakExternalMB: round(peak.externalBytes / MB, 1),
        settledSpacesMB: spacesMB(last),
        settledRssMB: round((last?.rssBytes ?? Number.NaN) / MB, 1),
        settledHeapUsedMB: round((last?.heapUsedBytes ?? Number.NaN) / MB, 1),
        phases: {
          firstSampleMB: rssMB(sampler.samples[0]),
          listedMB: rssMB(beforeArm),
          tableWrittenMB: rssMB(beforePatches),
          conditionsPatchedMB: rssMB(patched),
        },
      },
    };
  } finally {
    watch.stop();
    routeCreated.stop();
    firstList.stop();
    await controller?.stop();
    await world.close();
  }
}

export interface BaselineColdStartOptions {
  readonly nodes: number;
  readonly profile: AzureProfile;
  /** The benchmark's bound on the baseline; it is reported as not converged when reached. */
  readonly deadlineMs: number;
}

export interface BaselineColdStartResult extends ArmCost {
  readonly nodes: number;
  readonly profile: string;
  readonly converged: boolean;
  /** From the baseline's start to every route in the table; the deadline when it did not converge. */
  readonly wallMs: number;
  /** Routes in the table when it converged or was stopped. */
  readonly routesPresent: number;
  /** When not converged: elapsed x N / routes placed, a linear projection of its convergence time. */
  readonly projectedWallMs: number;
  readonly rounds: number;
  readonly calls: number;
  readonly failedCalls: number;
}

export async function baselineColdStart(options: BaselineColdStartOptions): Promise<BaselineColdStartResult> {
  const n = options.nodes;
  const world = await startWorld({ profile: options.profile, nodes: 0, routeLimit: Math.max(400, n) });
  const desired = Array.from({ length: n }, (_, i) => benchRoute(i));
  const watch = new TableWatch(() => world.routes(), n > 1_000 ? 20 : 10);
  try {
    const converged = watch.when((index) => countPresent(index, desired) === n);
    let convergedAt: number | undefined;
    // The baseline's own loop would only notice at its next round (10 s later): stop it once every route is in.
    const seen = new AbortController();
    void converged.then((t) => {
      convergedAt = t;
      seen.abort();
    });
    const started = Date.now();
    const result: BaselineResult = await runPerRouteBaseline({
      endpoint: world.sim.url,
      subscriptionId: SUBSCRIPTION,
      resourceGroup: RESOURCE_GROUP,
      table: world.tables[0]!,
      desired,
      isOurs: (route) => inClusterCidr(route.addressPrefix),
      deadlineMs: options.deadlineMs,
      signal: seen.signal,
    });
    // One more look: the last operation may have completed after the last tick.
    if (convergedAt === undefined && countPresent(watch.index(), desired) === n) convergedAt = Date.now();
    const present = countPresent(watch.index(), desired);
    const elapsed = (convergedAt ?? Date.now()) - started;
    return {
      nodes: n,
      profile: options.profile.name,
      converged: convergedAt !== undefined,
      wallMs: elapsed,
      routesPresent: present,
      projectedWallMs: convergedAt !== undefined ? elapsed : present > 0 ? (elapsed * n) / present : Infinity,
      rounds: result.rounds,
      calls: result.calls,
      failedCalls: result.failedCalls,
      ...armCost(world.sim.requests),
    };
  } finally {
    watch.stop();
    await world.close();
  }
}

/** 10.192.0.0/10, the benchmark's cluster CIDR: a route there is the controller's (upstream's rule). */
function inClusterCidr(prefix: string): boolean {
  const m = /^10\.(\d+)\.\d+\.\d+\/\d+$/.exec(prefix);
  return m !== null && Number(m[1]) >= 192 && Number(m[1]) <= 255;
}

/** Date.now() at the first /readyz 200, polled every 10 ms; undefined if it never came within the bound. */
async function readyAt(url: string, timeoutMs: number): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status === 200) return Date.now();
    } catch {
      // Not listening yet, or busy: try again.
    }
    await sleep(10);
  }
  return undefined;
}

/** Notes when the controller first lists the nodes (its informer starting), by watching the fake server's log. */
function firstNodeList(requests: readonly { method: string; path: string; watch: boolean }[]): {
  time(): number | undefined;
  stop(): void;
} {
  let seen = 0;
  let time: number | undefined;
  const timer = setInterval(() => {
    for (; seen < requests.length; seen++) {
      const r = requests[seen]!;
      if (r.method === 'GET' && r.path === '/api/v1/nodes' && !r.watch) {
        time = Date.now();
        clearInterval(timer);
        return;
      }
    }
  }, 5);
  return { time: () => time, stop: () => clearInterval(timer) };
}
