// Node-add latency: with a converged table, add nodes one at a time, spaced out, and time each from the
// Node's creation in the API server to its route being in place in Azure (the simulator).
import { startControllerProcess } from '../lib/controller.ts';
import { max, quantile, sleep, waitUntil, within } from '../lib/stats.ts';
import { RouteCreatedWatch, TableWatch, hasRoute } from '../lib/watch.ts';
import { armCost, benchNode, benchRoute, startWorld, type ArmCost, type AzureProfile } from '../lib/world.ts';

export interface NodeAddOptions {
  readonly profile: AzureProfile;
  /** Nodes (with their routes already in place) before the adds. */
  readonly baseNodes: number;
  readonly adds: number;
  /** Time between two adds. */
  readonly spacingMs: number;
  /** Bound on the wait for the last routes after the last add. */
  readonly drainTimeoutMs: number;
  /** Extra `run` flags (none: production defaults). */
  readonly flags?: readonly string[] | undefined;
}

export interface NodeAddResult extends ArmCost {
  readonly profile: string;
  readonly latencyMs: number;
  readonly lroDurationMs: number;
  readonly baseNodes: number;
  readonly adds: number;
  readonly spacingMs: number;
  /** Adds whose route appeared within the bound. */
  readonly measured: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Whole-table PUTs during the adds. */
  readonly puts: number;
  /** Retry-After on the simulator's LRO answers (lroRetryAfterSeconds; undefined: its default of 2 s). */
  readonly lroRetryAfterSeconds: number | 'none' | undefined;
  /** Node creation to its condition patched False/RouteCreated (Azure confirmed the write). */
  readonly routeCreated: {
    readonly measured: number;
    readonly p50Ms: number;
    readonly p90Ms: number;
    readonly p99Ms: number;
    readonly maxMs: number;
  };
}

export async function nodeAdd(options: NodeAddOptions): Promise<NodeAddResult> {
  const base = options.baseNodes;
  const world = await startWorld({
    profile: options.profile,
    nodes: base,
    routeLimit: Math.max(400, base + options.adds),
    routed: true,
    seedRoutes: Array.from({ length: base }, (_, i) => benchRoute(i)),
  });
  const watch = new TableWatch(() => world.routes(), 5);
  const routeCreated = new RouteCreatedWatch(world.kube, 5);
  let controller: Awaited<ReturnType<typeof startControllerProcess>> | undefined;
  try {
    controller = await startControllerProcess(world, { extraFlags: options.flags });
    const c = controller;
    // The first reconcile finds the table in sync; the adds start after it.
    const ready = await waitUntil(() => c.logs().some((r) => r['msg'] === 'reconciled'), 30_000);
    if (!ready) throw new Error('node-add: the controller never reconciled');
    const logStart = world.sim.requests.length;
    const latencies: Promise<number | undefined>[] = [];
    const created: Promise<number>[] = [];
    for (let k = 0; k < options.adds; k++) {
      const i = base + k;
      const route = benchRoute(i);
      const createdAt = Date.now();
      world.kube.addNode(benchNode(i));
      latencies.push(watch.when((index) => hasRoute(index, route)).then((t) => t - createdAt));
      created.push(routeCreated.when(`node-${i}`).then((t) => t - createdAt));
      await sleep(options.spacingMs);
    }
    const all = Promise.all(latencies);
    let values: number[];
    try {
      values = (await within(all, options.drainTimeoutMs, 'node-add: routes missing')).filter(
        (v): v is number => v !== undefined,
      );
    } catch {
      values = [];
    }
    let createdValues: number[];
    try {
      createdValues = await within(
        Promise.all(created),
        options.drainTimeoutMs,
        'node-add: RouteCreated missing',
      );
    } catch {
      createdValues = [];
    }
    const log = world.sim.requests.slice(logStart);
    return {
      profile: options.profile.name,
      latencyMs: options.profile.latencyMs,
      lroDurationMs: options.profile.lroDurationMs,
      baseNodes: base,
      adds: options.adds,
      spacingMs: options.spacingMs,
      measured: values.length,
      p50Ms: quantile(values, 0.5),
      p90Ms: quantile(values, 0.9),
      p99Ms: quantile(values, 0.99),
      maxMs: max(values),
      puts: log.filter((r) => r.operation === 'RouteTables_CreateOrUpdate').length,
      lroRetryAfterSeconds: options.profile.lroRetryAfterSeconds,
      routeCreated: {
        measured: createdValues.length,
        p50Ms: quantile(createdValues, 0.5),
        p90Ms: quantile(createdValues, 0.9),
        p99Ms: quantile(createdValues, 0.99),
        maxMs: max(createdValues),
      },
      ...armCost(log),
    };
  } finally {
    watch.stop();
    routeCreated.stop();
    await controller?.stop();
    await world.close();
  }
}
