// Churn: N nodes, a fraction of them replaced (one deleted, a new one with a new pod CIDR added) every
// minute, spread evenly over the minute. Measures ARM writes per minute and staleness: the time from each
// change in the API server to the table reflecting it (a deleted node's route gone, a new node's route in place).
import { startControllerProcess } from '../lib/controller.ts';
import { max, quantile, sleep, waitUntil, within } from '../lib/stats.ts';
import { TableWatch, hasRoute } from '../lib/watch.ts';
import { armCost, benchNode, benchRoute, startWorld, type ArmCost, type AzureProfile } from '../lib/world.ts';

export interface ChurnOptions {
  readonly profile: AzureProfile;
  readonly nodes: number;
  /** Share of the nodes replaced per (simulated) minute. */
  readonly fractionPerMinute: number;
  /** Length of a simulated minute: 60,000 for real time; less to compress time. */
  readonly minuteMs: number;
  readonly minutes: number;
  /** --resync-period: 1m for real time, scaled with minuteMs when compressed. */
  readonly resyncPeriod: string;
  readonly drainTimeoutMs: number;
  /** Extra `run` flags (none: production defaults). */
  readonly flags?: readonly string[] | undefined;
}

export interface ChurnResult extends ArmCost {
  readonly profile: string;
  readonly nodes: number;
  readonly minutes: number;
  readonly minuteMs: number;
  readonly replacementsPerMinute: number;
  readonly replacements: number;
  readonly resyncPeriod: string;
  /** Whole-table PUTs in each simulated minute. */
  readonly putsPerMinute: readonly number[];
  readonly meanPutsPerMinute: number;
  /** ARM writes (PUT/DELETE/PATCH, throttled ones included) per simulated minute, on average. */
  readonly meanWritesPerMinute: number;
  readonly meanReadsPerMinute: number;
  /** Changes whose effect was seen in the table within the bound. */
  readonly measured: number;
  readonly staleness: { readonly p50Ms: number; readonly p99Ms: number; readonly maxMs: number };
}

export async function churn(options: ChurnOptions): Promise<ChurnResult> {
  const n = options.nodes;
  const perMinute = Math.max(1, Math.round(n * options.fractionPerMinute));
  const total = perMinute * options.minutes;
  const world = await startWorld({
    profile: options.profile,
    nodes: n,
    routeLimit: Math.max(400, n),
    routed: true,
    seedRoutes: Array.from({ length: n }, (_, i) => benchRoute(i)),
  });
  const watch = new TableWatch(() => world.routes(), 10);
  let controller: Awaited<ReturnType<typeof startControllerProcess>> | undefined;
  try {
    controller = await startControllerProcess(world, {
      resyncPeriod: options.resyncPeriod,
      extraFlags: options.flags,
    });
    const c = controller;
    const ready = await waitUntil(() => c.logs().some((r) => r['msg'] === 'reconciled'), 30_000);
    if (!ready) throw new Error('churn: the controller never reconciled');

    const logStart = world.sim.requests.length;
    const started = Date.now();
    const gapMs = options.minuteMs / perMinute;
    const staleness: Promise<number>[] = [];
    let oldest = 0;
    let next = n;
    for (let k = 0; k < total; k++) {
      const due = started + k * gapMs;
      await sleep(due - Date.now());
      const victimIndex = oldest++;
      const victim = benchNode(victimIndex);
      const gone = benchRoute(victimIndex).addressPrefix;
      const newcomer = next++;
      const route = benchRoute(newcomer);
      const at = Date.now();
      world.kube.deleteNode(victim.name);
      world.kube.addNode(benchNode(newcomer));
      staleness.push(watch.when((index) => !index.has(gone)).then((t) => t - at));
      staleness.push(watch.when((index) => hasRoute(index, route)).then((t) => t - at));
    }
    await sleep(started + options.minutes * options.minuteMs - Date.now());
    let values: number[];
    try {
      values = await within(Promise.all(staleness), options.drainTimeoutMs, 'churn: changes not reflected');
    } catch {
      values = [];
    }
    const log = world.sim.requests.slice(logStart);
    const putsPerMinute = Array.from({ length: options.minutes }, (_, m) => {
      const from = started + m * options.minuteMs;
      const to = from + options.minuteMs;
      return log.filter((r) => r.operation === 'RouteTables_CreateOrUpdate' && r.time >= from && r.time < to)
        .length;
    });
    const window = log.filter((r) => r.time < started + options.minutes * options.minuteMs);
    const cost = armCost(window);
    return {
      profile: options.profile.name,
      nodes: n,
      minutes: options.minutes,
      minuteMs: options.minuteMs,
      replacementsPerMinute: perMinute,
      replacements: total,
      resyncPeriod: options.resyncPeriod,
      putsPerMinute,
      meanPutsPerMinute: putsPerMinute.reduce((a, b) => a + b, 0) / options.minutes,
      meanWritesPerMinute: cost.writes / options.minutes,
      meanReadsPerMinute: cost.reads / options.minutes,
      measured: values.length,
      staleness: { p50Ms: quantile(values, 0.5), p99Ms: quantile(values, 0.99), maxMs: max(values) },
      ...cost,
    };
  } finally {
    watch.stop();
    await controller?.stop();
    await world.close();
  }
}
