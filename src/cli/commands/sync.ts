import { createCredential } from '../../azure/credentials.ts';
import { createRouteTableStore } from '../../azure/store.ts';
import { loadSyncConfig, type SyncFlags } from '../../config/load.ts';
import type { SyncConfig } from '../../config/types.ts';
import { reconcile } from '../../controller/reconcile.ts';
import { realTimers } from '../../support/timers.ts';
import type { SyncReport } from '../../controller/report.ts';
import { createKubeClient, loadKubeConfig } from '../../kube/client.ts';
import { renderJson, renderText } from '../output.ts';
import type { CliIo } from '../program.ts';
import { prepareCommand } from './setup.ts';

export async function syncRoutesCommand(flags: SyncFlags, io: CliIo): Promise<number> {
  const config = loadSyncConfig(flags, io.environment);
  const report = await syncRoutes(config, io);
  io.stdout.write(config.output === 'json' ? renderJson(report) : renderText(report));
  // stdout carries the report; a failed table also gets its one-line error on stderr (README "Errors are one
  // line on stderr"), so a script or a Job log shows why it exited 1 even with --output json or --log-level silent.
  for (const table of report.tables) {
    if (table.error) io.stderr.write(`error: ${table.error.message}\n`);
  }
  const unpatched = report.conditions.filter((c) => c.result === 'failed');
  if (unpatched.length > 0) {
    io.stderr.write(
      `error: could not patch the NetworkUnavailable condition of ${unpatched.length} node(s) (${unpatched[0]!.node}: ${unpatched[0]!.error ?? 'unknown error'})\n`,
    );
  }
  return report.exitCode;
}

/** The one-shot reconcile behind `sync-routes` (and the demo): list, plan, write, patch conditions. */
export async function syncRoutes(
  loaded: SyncConfig,
  io: CliIo,
  options: { includeRoutes?: boolean } = {},
): Promise<SyncReport> {
  const kubeConfig = loadKubeConfig(loaded.kubeconfigSearch);
  const { config, logger } = await prepareCommand(loaded, io);
  const kube = createKubeClient(kubeConfig, logger.child({ component: 'kube' }));
  const credential = createCredential(config.azure.credential, config.azure.authorityHost);
  const store = createRouteTableStore(config.azure, credential, {
    logger: logger.child({ component: 'azure' }),
  });

  const nodes = await kube.list(io.signal);
  logger.info(
    { nodes: nodes.length, tables: config.azure.routeTables.length, dryRun: config.dryRun },
    'planning',
  );
  const report = await reconcile(
    nodes,
    {
      planner: config.planner,
      routeTables: config.azure.routeTables,
      dryRun: config.dryRun,
      createRouteTable: config.createRouteTable,
      location: config.azure.location,
      tags: config.azure.tags,
      settleTimeoutMs: config.azure.settleTimeoutMs,
      maxWriteAttempts: config.maxWriteAttempts,
      allowEmptyNodeList: config.allowEmptyNodeList,
      nodeConditions: config.nodeConditions,
      includeRoutes: options.includeRoutes ?? false,
    },
    { store, status: kube, events: kube, logger, timers: realTimers },
    io.signal,
  );
  logger.info(
    { result: report.result, ...report.summary, durationMs: report.durationMs },
    'sync-routes finished',
  );
  return report;
}
