// Idle: a converged cluster with nothing changing, observed over a number of resync periods. Expected: no ARM
// write at all and exactly one read (GET) per table per resync. Time is compressed by shortening
// --resync-period: a 1 s resync stands for the 1 min default, so 10 resyncs are 10 simulated minutes.
import { startControllerProcess } from '../lib/controller.ts';
import { sleep, waitUntil } from '../lib/stats.ts';
import { armCost, benchRoute, startWorld, type ArmCost, type AzureProfile } from '../lib/world.ts';

export interface IdleOptions {
  readonly profile: AzureProfile;
  readonly nodes: number;
  readonly tables: number;
  readonly resyncMs: number;
  /** Resync periods observed (simulated minutes, at a 1 min default). */
  readonly resyncs: number;
  /** Extra `run` flags (none: production defaults). */
  readonly flags?: readonly string[] | undefined;
}

export interface IdleResult extends ArmCost {
  readonly profile: string;
  readonly nodes: number;
  readonly tables: number;
  readonly resyncMs: number;
  readonly resyncs: number;
  readonly windowMs: number;
  /** GETs of each table in the window. */
  readonly readsByTable: Readonly<Record<string, number>>;
  /** Reads per table per resync (target exactly 1). */
  readonly readsPerTablePerResync: number;
  /** Node status PATCHes and Events sent to the API server in the window (nothing changed, so 0). */
  readonly kubeWrites: number;
}

export async function idle(options: IdleOptions): Promise<IdleResult> {
  const tables = Array.from({ length: options.tables }, (_, t) => `kubernetes-routes-${t}`);
  const world = await startWorld({
    profile: options.profile,
    nodes: options.nodes,
    tables,
    routeLimit: Math.max(400, options.nodes),
    routed: true,
    seedRoutes: Array.from({ length: options.nodes }, (_, i) => benchRoute(i)),
  });
  let controller: Awaited<ReturnType<typeof startControllerProcess>> | undefined;
  try {
    controller = await startControllerProcess(world, {
      resyncPeriod: `${options.resyncMs}ms`,
      extraFlags: options.flags,
    });
    // The first reconcile (at start) reads every table. Resyncs follow every resyncMs after the loop started;
    // the window opens half a period after a read, once that first reconcile is over, so it holds exactly
    // `resyncs` resyncs.
    const c = controller;
    const isRead = (op: string) => op === 'RouteTables_Get';
    const ready = await waitUntil(() => c.logs().some((r) => r['msg'] === 'reconciled'), 30_000);
    if (!ready) throw new Error('idle: the controller never reconciled');
    const first = world.sim.requests.find((r) => isRead(r.operation))!;
    let opensAt = first.time + options.resyncMs / 2;
    while (opensAt < Date.now()) opensAt += options.resyncMs;
    await sleep(opensAt - Date.now());
    const azureFrom = world.sim.requests.length;
    const kubeFrom = world.kube.requests.length;
    const windowMs = options.resyncs * options.resyncMs;
    await sleep(windowMs);
    const log = world.sim.requests.slice(azureFrom);
    const readsByTable: Record<string, number> = {};
    for (const table of tables) {
      readsByTable[table] = log.filter((r) => isRead(r.operation) && r.path.endsWith(`/${table}`)).length;
    }
    const kubeWrites = world.kube.requests
      .slice(kubeFrom)
      .filter((r) => r.method !== 'GET' && (r.path.endsWith('/status') || r.path.includes('/events'))).length;
    const reads = Object.values(readsByTable);
    return {
      profile: options.profile.name,
      nodes: options.nodes,
      tables: options.tables,
      resyncMs: options.resyncMs,
      resyncs: options.resyncs,
      windowMs,
      readsByTable,
      readsPerTablePerResync: reads.reduce((a, b) => a + b, 0) / (tables.length * options.resyncs),
      kubeWrites,
      ...armCost(log),
    };
  } finally {
    await controller?.stop();
    await world.close();
  }
}
