// `doctor`: reads everything around the route tables and says, check by check, what breaks routing and how to
// fix it. It writes nothing: no Azure write, no condition patch, no event, no Lease.
import { createAzureInventory } from '../../azure/inventory.ts';
import { createCredential } from '../../azure/credentials.ts';
import { createRouteTableStore } from '../../azure/store.ts';
import { loadDoctorConfig, type DoctorFlags } from '../../config/run.ts';
import { gatherWorld } from '../../doctor/gather.ts';
import { diagnose, renderDoctorJson, renderDoctorText } from '../../doctor/report.ts';
import { loadKubeConfig } from '../../kube/client.ts';
import { createClusterReader } from '../../kube/leases.ts';
import type { CliIo } from '../program.ts';
import { prepareCommand } from './setup.ts';

export async function doctorCommand(flags: DoctorFlags, io: CliIo): Promise<number> {
  const loaded = loadDoctorConfig(flags, io.environment);
  const cluster = createClusterReader(loadKubeConfig(loaded.kubeconfigSearch));
  const { config, logger } = await prepareCommand(loaded, io);
  let credential;
  try {
    credential = createCredential(config.azure.credential, config.azure.authorityHost);
  } catch (err) {
    // A credential the SDK refuses up front is the identity check's failure, not a crash.
    credential = { getToken: () => Promise.reject(err) };
  }
  const store = createRouteTableStore(config.azure, credential, {
    logger: logger.child({ component: 'azure' }),
    retry: { maxRetries: 1 },
  });
  const inventory = createAzureInventory(config.azure, credential);
  const world = await gatherWorld(config, { store, inventory, cluster, now: Date.now }, io.signal);
  const report = diagnose(world, config);
  io.stdout.write(config.output === 'json' ? renderDoctorJson(report) : renderDoctorText(report));
  return report.exitCode;
}
