import { createCredential } from '../../azure/credentials.ts';
import { loadRunConfig, type RunFlags } from '../../config/run.ts';
import { startController } from '../../controller/controller.ts';
import { realTimers } from '../../support/timers.ts';
import { loadKubeConfig } from '../../kube/client.ts';
import type { CliIo } from '../program.ts';
import { prepareCommand } from './setup.ts';

/** `run`: the long-running controller. Resolves with exit code 0 after a graceful shutdown on SIGTERM/SIGINT. */
export async function runCommand(flags: RunFlags, io: CliIo): Promise<number> {
  const loaded = loadRunConfig(flags, io.environment);
  const kubeConfig = loadKubeConfig(loaded.kubeconfigSearch);
  const { config, logger } = await prepareCommand(loaded, io);
  const credential = createCredential(config.azure.credential, config.azure.authorityHost);
  logger.info(
    {
      routeTables: config.azure.routeTables.map((t) => `${t.resourceGroup}/${t.name}`),
      clusterCIDRs: config.planner.clusterCIDRs,
      leaderElection: config.leaderElection.enabled,
      identity: config.leaderElection.identity,
    },
    'starting',
  );
  const controller = await startController(config, {
    kubeConfig,
    credential,
    logger,
    timers: realTimers,
    random: Math.random,
  });
  await new Promise<void>((resolve) => {
    if (io.signal?.aborted) return resolve();
    io.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  await controller.stop();
  return 0;
}
