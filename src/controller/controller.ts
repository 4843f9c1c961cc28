// `run`: the node informer feeds the reconcile loop; only the Lease holder reconciles; every replica serves
// /healthz, /readyz and /metrics.
import { randomBytes } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { TokenCredential } from '@azure/identity';
import { createRouteTableStore, type RouteTableStoreOptions } from '../azure/store.ts';
import type { RouteTableStore } from '../azure/types.ts';
import type { RunConfig } from '../config/run.ts';
import { createKubeClient, type KubeClient } from '../kube/client.ts';
import { createNodeInformer, type NodeInformer } from '../kube/informer.ts';
import { createLeaderElector, type LeaderElector } from '../kube/lease.ts';
import { startServer, type RunningServer } from '../server/http.ts';
import { ReconcileLoop, type RunOutcome } from './loop.ts';
import { createMetrics, observeAzureRequest, observeReport, type Metrics } from './metrics.ts';
import { nodeProblems, reconcile } from './reconcile.ts';
import type { SyncReport } from './report.ts';
import type { Timers } from '../support/timers.ts';

export interface ControllerDeps {
  readonly kubeConfig: KubeConfig;
  readonly credential: TokenCredential;
  readonly logger: Logger;
  readonly timers: Timers;
  readonly random: () => number;
  /** Tests may inject a store (e.g. one that counts calls); production builds it from the config. */
  readonly store?: RouteTableStore;
  /**
   * The SDK's per-request retry delays (default 1 s doubling, 3 retries). Tests scale them down to compress an
   * outage of minutes into seconds; production leaves them alone.
   */
  readonly azureRetry?: RouteTableStoreOptions['retry'];
}

export interface RunningController {
  readonly metrics: Metrics;
  readonly server: RunningServer;
  isLeader(): boolean;
  /** The report of the last reconcile that ran to the end (tests). */
  lastReport(): SyncReport | undefined;
  /** Resolves once no reconcile is in flight (tests: after leadership is lost, nothing more is being written). */
  whenIdle(): Promise<void>;
  /** Graceful shutdown: stop taking work, let the write in flight finish within the grace period, release the Lease. */
  stop(): Promise<void>;
}

export async function startController(config: RunConfig, deps: ControllerDeps): Promise<RunningController> {
  const { logger } = deps;
  const metrics = createMetrics();
  const store = deps.store ?? buildStore(config, deps, metrics);
  const kube = createKubeClient(deps.kubeConfig, logger.child({ component: 'kube' }));

  // The reconciler reads the informer and the elector, built below, only once the loop runs.
  const reconciler = createReconciler(config, deps, {
    store,
    kube,
    metrics,
    nodes: () => informer.nodes(),
    mayWrite: () => !config.leaderElection.enabled || elector?.isLeader() === true,
  });
  const loop = new ReconcileLoop(reconciler.run, {
    debounceMs: config.debounceMs,
    maxDelayMs: config.maxDelayMs,
    resyncMs: config.resyncMs,
    backoff: config.backoff,
    timers: deps.timers,
    random: deps.random,
    logger: logger.child({ component: 'loop' }),
  });
  const informer = createNodeInformer(deps.kubeConfig, {
    logger: logger.child({ component: 'informer' }),
    timers: deps.timers,
    onChange: (change) => {
      metrics.watchEvents.inc({ type: change.type, relevant: 'true' });
      logger.debug({ node: change.node, change: change.type }, 'node changed');
      loop.trigger(`${change.type}:${change.node}`);
    },
  });
  const leadership = createLeadership(logger, loop, informer, metrics);
  const elector = config.leaderElection.enabled ? buildElector(config, deps, leadership) : undefined;

  const server = await startHealthServer(config, metrics, loop, informer);
  logger.info({ url: server.url }, 'serving /healthz, /readyz and /metrics');

  await informer.start();
  const electorDone = elector?.run();
  if (!elector) leadership.started();

  return {
    metrics,
    server,
    isLeader: () => (elector ? elector.isLeader() : true),
    lastReport: reconciler.lastReport,
    whenIdle: () => loop.whenIdle(),
    stop: async () => {
      if (!leadership.beginStopping()) return;
      logger.info({ gracePeriodMs: config.shutdownGraceMs }, 'shutting down');
      // Every write in flight settles (finished, or aborted and answered) before the Lease is handed back.
      await loop.stop(config.shutdownGraceMs);
      await leadership.settled();
      if (elector) {
        await elector.stop({ release: true });
        await electorDone;
      }
      metrics.leader.set(0);
      await informer.stop();
      await server.close();
      logger.info('stopped');
    },
  };
}

function buildStore(config: RunConfig, deps: ControllerDeps, metrics: Metrics): RouteTableStore {
  return createRouteTableStore(config.azure, deps.credential, {
    logger: deps.logger.child({ component: 'azure' }),
    ...(deps.azureRetry ? { retry: deps.azureRetry } : {}),
    onRequest: (info) => observeAzureRequest(metrics, info),
  });
}

interface ReconcilerParts {
  readonly store: RouteTableStore;
  readonly kube: KubeClient;
  readonly metrics: Metrics;
  readonly nodes: () => ReturnType<NodeInformer['nodes']>;
  /** Only the Lease holder writes. */
  readonly mayWrite: () => boolean;
}

/**
 * One reconcile per call of `run`, with what `run` keeps from one pass to the next: the last report, and the
 * problem each node was last reported with, so FailedToCreateRoute is emitted when a node's problem changes
 * (DESIGN 2.5), not on every pass, whether or not node conditions are managed.
 */
function createReconciler(config: RunConfig, deps: ControllerDeps, parts: ReconcilerParts) {
  let reconciles = 0;
  let last: SyncReport | undefined;
  let problems: ReadonlyMap<string, string> = new Map();
  const run = async (signal: AbortSignal, reason: string): Promise<RunOutcome> => {
    if (!parts.mayWrite()) return { ok: true };
    const reconcileId = `${++reconciles}-${randomBytes(3).toString('hex')}`;
    const log = deps.logger.child({ reconcileId });
    const report = await reconcile(
      parts.nodes(),
      {
        planner: config.planner,
        routeTables: config.azure.routeTables,
        dryRun: false,
        createRouteTable: false,
        settleTimeoutMs: config.azure.settleTimeoutMs,
        maxWriteAttempts: config.maxWriteAttempts,
        allowEmptyNodeList: config.allowEmptyNodeList,
        nodeConditions: config.nodeConditions,
        previousProblems: problems,
      },
      {
        store: parts.store,
        status: parts.kube,
        events: parts.kube,
        logger: log,
        timers: deps.timers,
        random: deps.random,
      },
      signal,
    );
    last = report;
    problems = nodeProblems(report);
    observeReport(parts.metrics, report, deps.timers.now());
    logReconciled(log, reason, report);
    return outcomeOf(report);
  };
  return { run, lastReport: () => last };
}

function logReconciled(log: Logger, reason: string, report: SyncReport): void {
  const s = report.summary;
  log.info(
    {
      reason,
      result: report.result,
      create: s.create,
      update: s.update,
      delete: s.delete,
      keep: s.keep,
      conflict: s.conflict,
      overLimit: s.overLimit,
      refused: s.refused,
      writes: s.writes,
      failedTables: s.failedTables,
      conditionsPatched: report.conditions.filter((c) => c.result === 'patched').length,
      durationMs: report.durationMs,
    },
    'reconciled',
  );
}

function outcomeOf(report: SyncReport): RunOutcome {
  // Conflicts and refused nodes are not transient: they are reported and re-checked on the next trigger or
  // resync, not retried in a tight loop. Azure and Kubernetes failures back off and retry.
  const transient = report.summary.failedTables > 0 || report.conditions.some((c) => c.result === 'failed');
  // Azure's Retry-After, when the last attempt was throttled, bounds the backoff from below.
  const retryAfterMs = Math.max(0, ...report.tables.map((t) => t.error?.retryAfterMs ?? 0));
  return { ok: !transient, retryAfterMs: retryAfterMs > 0 ? retryAfterMs : undefined };
}

/**
 * When this replica may reconcile. A term starts when it wins the Lease (or at once without leader election)
 * and ends when it loses it or stops. A term reconciles only from a fresh cache (DESIGN 2.6): the informer must
 * have heard from the API server after the term began (a watch event or bookmark), or it lists the nodes again
 * first; a standby's watch may have gone quiet without saying so. Ending a term aborts the reconcile in flight
 * at once (no Azure PUT is sent after that, and the Kubernetes writes in flight are cancelled).
 */
function createLeadership(logger: Logger, loop: ReconcileLoop, informer: NodeInformer, metrics: Metrics) {
  let stopping = false;
  let term: AbortController | undefined;
  let ending: Promise<void> = Promise.resolve();

  const begin = async (signal: AbortSignal, mark: number): Promise<void> => {
    try {
      await informer.waitForSync(signal);
      if (!informer.freshSince(mark)) {
        logger.info('nothing heard from the node watch since becoming leader; listing nodes again first');
        await informer.resync(signal);
      }
    } catch {
      return; // the term ended, or the informer stopped, before the cache was fresh: nothing to start
    }
    if (stopping || signal.aborted) return;
    loop.start();
  };

  return {
    started(): void {
      metrics.leader.set(1);
      term?.abort();
      term = new AbortController();
      void begin(term.signal, informer.mark());
    },
    stopped(identity: string): void {
      metrics.leader.set(0);
      term?.abort();
      term = undefined;
      if (stopping) logger.info('stopped leading (shutting down)');
      else logger.warn({ identity }, 'lost leadership; stopped writing');
      const previous = ending;
      const stopped = loop.stop(0);
      ending = Promise.all([previous, stopped]).then(() => undefined);
    },
    /** false when already stopping. */
    beginStopping(): boolean {
      if (stopping) return false;
      stopping = true;
      term?.abort();
      return true;
    },
    /** Resolves when the reconciles aborted by lost leadership have settled. */
    settled: () => ending,
  };
}

function buildElector(
  config: RunConfig,
  deps: ControllerDeps,
  leadership: ReturnType<typeof createLeadership>,
): LeaderElector {
  const le = config.leaderElection;
  return createLeaderElector(deps.kubeConfig, {
    namespace: le.namespace,
    name: le.leaseName,
    identity: le.identity,
    leaseDurationMs: le.leaseDurationMs,
    renewDeadlineMs: le.renewDeadlineMs,
    retryPeriodMs: le.retryPeriodMs,
    timers: deps.timers,
    random: deps.random,
    logger: deps.logger.child({ component: 'leader-election' }),
    onStartedLeading: () => {
      deps.logger.info({ identity: le.identity }, 'became leader; reconciling');
      leadership.started();
    },
    onStoppedLeading: () => leadership.stopped(le.identity),
  });
}

function startHealthServer(
  config: RunConfig,
  metrics: Metrics,
  loop: ReconcileLoop,
  informer: NodeInformer,
): Promise<RunningServer> {
  return startServer({
    host: config.bind.host,
    port: config.bind.port,
    registry: metrics.registry,
    healthy: () => {
      const running = loop.runningForMs();
      return running !== undefined && running > config.stallMs
        ? { ok: false, reason: `a reconcile has been running for ${Math.round(running / 1000)}s` }
        : { ok: true };
    },
    ready: () =>
      informer.synced() ? { ok: true } : { ok: false, reason: 'node informer has not synced yet' },
  });
}
