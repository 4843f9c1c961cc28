// `run`: the node informer feeds the reconcile loop; only the Lease holder reconciles; every replica serves
// /healthz, /readyz and /metrics.
import { randomBytes } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { TokenCredential } from '@azure/identity';
import { createRouteTableStore, type RouteTableStoreOptions } from '../azure/store.ts';
import type { RouteTableStore } from '../azure/types.ts';
import type { RunConfig } from '../config/run.ts';
import { createKubeClient } from '../kube/client.ts';
import { createNodeInformer } from '../kube/informer.ts';
import { createLeaderElector } from '../kube/lease.ts';
import { startServer, type RunningServer } from '../server/http.ts';
import { ReconcileLoop, type RunOutcome } from './loop.ts';
import { createMetrics, observeReport, type Metrics } from './metrics.ts';
import { reconcile } from './reconcile.ts';
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
  /** Resolves after the first reconcile this replica ran as leader (tests). */
  lastReport(): SyncReport | undefined;
  /** Graceful shutdown: stop taking work, let the write in flight finish within the grace period, release the Lease. */
  stop(): Promise<void>;
}

export async function startController(config: RunConfig, deps: ControllerDeps): Promise<RunningController> {
  const { logger, timers } = deps;
  const metrics = createMetrics();
  const store =
    deps.store ??
    createRouteTableStore(config.azure, deps.credential, {
      logger: logger.child({ component: 'azure' }),
      ...(deps.azureRetry ? { retry: deps.azureRetry } : {}),
      onRequest: (info) => {
        metrics.azureRequests.inc({ operation: info.operation, code: String(info.status ?? 0) });
        if (info.retryAfterMs !== undefined && (info.status === 429 || info.status === 409)) {
          metrics.throttleWait.inc(info.retryAfterMs / 1000);
        }
      },
    });
  const kube = createKubeClient(deps.kubeConfig, logger.child({ component: 'kube' }));

  let reconciles = 0;
  let last: SyncReport | undefined;
  const run = async (signal: AbortSignal, reason: string): Promise<RunOutcome> => {
    if (config.leaderElection.enabled && !elector?.isLeader()) return { ok: true };
    const reconcileId = `${++reconciles}-${randomBytes(3).toString('hex')}`;
    const log = logger.child({ reconcileId });
    const report = await reconcile(
      informer.nodes(),
      {
        planner: config.planner,
        routeTables: config.azure.routeTables,
        dryRun: false,
        createRouteTable: false,
        maxWriteAttempts: config.maxWriteAttempts,
        allowEmptyNodeList: config.allowEmptyNodeList,
        nodeConditions: config.nodeConditions,
        events: 'onConditionChange',
      },
      { store, status: kube, events: kube, logger: log, timers, random: deps.random },
      signal,
    );
    last = report;
    observeReport(metrics, report, timers.now());
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
    // Conflicts and refused nodes are not transient: they are reported and re-checked on the next trigger or
    // resync, not retried in a tight loop. Azure and Kubernetes failures back off and retry.
    const transient = s.failedTables > 0 || report.conditions.some((c) => c.result === 'failed');
    // Azure's Retry-After, when the last attempt was throttled, bounds the backoff from below.
    const retryAfterMs = Math.max(0, ...report.tables.map((t) => t.error?.retryAfterMs ?? 0));
    return { ok: !transient, retryAfterMs: retryAfterMs > 0 ? retryAfterMs : undefined };
  };

  const loop = new ReconcileLoop(run, {
    debounceMs: config.debounceMs,
    maxDelayMs: config.maxDelayMs,
    resyncMs: config.resyncMs,
    backoff: config.backoff,
    timers,
    random: deps.random,
    logger: logger.child({ component: 'loop' }),
  });

  const informer = createNodeInformer(deps.kubeConfig, {
    logger: logger.child({ component: 'informer' }),
    timers,
    onChange: (change) => {
      metrics.watchEvents.inc({ type: change.type, relevant: 'true' });
      logger.debug({ node: change.node, change: change.type }, 'node changed');
      loop.trigger(`${change.type}:${change.node}`);
    },
  });

  const elector = config.leaderElection.enabled
    ? createLeaderElector(deps.kubeConfig, {
        namespace: config.leaderElection.namespace,
        name: config.leaderElection.leaseName,
        identity: config.leaderElection.identity,
        leaseDurationMs: config.leaderElection.leaseDurationMs,
        renewDeadlineMs: config.leaderElection.renewDeadlineMs,
        retryPeriodMs: config.leaderElection.retryPeriodMs,
        timers,
        random: deps.random,
        logger: logger.child({ component: 'leader-election' }),
        onStartedLeading: () => {
          metrics.leader.set(1);
          logger.info({ identity: config.leaderElection.identity }, 'became leader; reconciling');
          void startWhenSynced();
        },
        onStoppedLeading: () => {
          metrics.leader.set(0);
          if (stopping) logger.info('stopped leading (shutting down)');
          else logger.warn({ identity: config.leaderElection.identity }, 'lost leadership; stopped writing');
          void loop.stop(0);
        },
      })
    : undefined;

  let stopping = false;
  const startWhenSynced = async () => {
    try {
      await informer.waitForSync();
    } catch {
      return; // stopped before the first sync: nothing to start
    }
    if (stopping || (elector && !elector.isLeader())) return;
    loop.start();
  };

  const server = await startServer({
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
  logger.info({ url: server.url }, 'serving /healthz, /readyz and /metrics');

  await informer.start();
  let electorDone: Promise<void> | undefined;
  if (elector) {
    electorDone = elector.run();
  } else {
    metrics.leader.set(1);
    void startWhenSynced();
  }

  return {
    metrics,
    server,
    isLeader: () => (elector ? elector.isLeader() : true),
    lastReport: () => last,
    stop: async () => {
      if (stopping) return;
      stopping = true;
      logger.info({ gracePeriodMs: config.shutdownGraceMs }, 'shutting down');
      await loop.stop(config.shutdownGraceMs);
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
