// `npm run sandbox -- --nodes N [--route-limit N]` (or `-- --doctor-faults`): an Azure simulator and a fake Kubernetes API server with N nodes, kept
// running so you can point the real CLI at them by hand. Prints the exact commands to try.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startAzureSimulator } from '../src/simulator/azure.ts';
import { startFakeKubeApi } from '../src/simulator/kube-api.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '3' },
    'lro-polls': { type: 'string', default: '1' },
    'doctor-faults': { type: 'boolean', default: false },
    // Azure's limit, as the simulator and the controller default to. Raising it models something Azure does not
    // offer, so it is never raised on the user's behalf.
    'route-limit': { type: 'string', default: '400' },
  },
});
if (values['doctor-faults']) {
  // A world with one deliberate fault of each kind doctor finds (src/simulator/doctor-world.ts).
  const { startFaultySandbox } = await import('../src/simulator/doctor-world.ts');
  const faulty = await startFaultySandbox();
  console.log(`Azure simulator:     ${faulty.azureUrl}
Fake Kubernetes API: ${faulty.kubeUrl} (4 nodes, one fault of each kind)

Try, in another terminal:
  npm run -s cli -- doctor ${faulty.flags}
  npm run -s cli -- doctor -o json ${faulty.flags}

Press Ctrl-C to stop.`);
  process.once('SIGINT', () => void faulty.close().then(() => process.exit(0)));
  // The servers keep running until Ctrl-C; nothing below is for this world.
  await new Promise<never>(() => {});
}
const count = Number(values.nodes);
if (!Number.isInteger(count) || count < 0 || count > 20_000) {
  console.error('--nodes: use a whole number from 0 to 20000');
  process.exit(2);
}

const routeLimit = Number(values['route-limit']);
if (!Number.isInteger(routeLimit) || routeLimit < 1) {
  console.error('--route-limit: use a whole number of 1 or more (Azure: 400)');
  process.exit(2);
}
if (count + 1 > routeLimit) {
  console.error(
    `note: ${count} nodes and the firewall route need ${count + 1} routes, more than the table's limit of ${routeLimit}${routeLimit === 400 ? " (Azure's)" : ''}: the controller reports the nodes over the limit, as it would in Azure. Pass --route-limit to model a larger limit on purpose.`,
  );
}

const subscriptionId = '00000000-0000-0000-0000-000000000001';
const sim = await startAzureSimulator({
  subscriptions: [subscriptionId],
  resourceGroups: [{ subscriptionId, name: 'kubernetes', location: 'westeurope' }],
  lroPolls: Number(values['lro-polls']),
  routeLimit,
});
sim.putTable(subscriptionId, 'kubernetes', 'kubernetes-routes', {
  location: 'westeurope',
  routes: [
    {
      name: 'default-to-firewall',
      addressPrefix: '0.0.0.0/0',
      nextHopType: 'VirtualAppliance',
      nextHopIpAddress: '10.240.255.4',
    },
  ],
  subnets: [
    `/subscriptions/${subscriptionId}/resourceGroups/kubernetes/providers/Microsoft.Network/virtualNetworks/kubernetes-vnet/subnets/kubernetes-subnet`,
  ],
});
const kube = await startFakeKubeApi();
for (let i = 0; i < count; i++) {
  kube.addNode({
    name: `worker-${i}`,
    podCIDRs: [`10.${200 + Math.floor(i / 256)}.${i % 256}.0/24`],
    internalIPs: [`10.240.${Math.floor(i / 250)}.${(i % 250) + 4}`],
  });
}
const dir = mkdtempSync(join(tmpdir(), 'azure-route-controller-sandbox-'));
const kubeconfig = join(dir, 'kubeconfig');
kube.writeKubeconfig(kubeconfig);

const flags = `--kubeconfig ${kubeconfig} --arm-endpoint ${sim.url} --allow-insecure-arm-endpoint --subscription-id ${subscriptionId} --resource-group kubernetes --route-table kubernetes-routes --cluster-cidr 10.192.0.0/10 --route-limit ${routeLimit}`;
console.log(`Azure simulator:     ${sim.url}
Fake Kubernetes API: ${kube.url} (${count} nodes)

Try, in another terminal:
  npm run -s cli -- sync-routes --dry-run ${flags}
  npm run -s cli -- sync-routes ${flags}
  npm run -s cli -- run --leader-elect=false --bind-address 127.0.0.1:8080 ${flags}

Press Ctrl-C to stop.`);
setInterval(() => {
  const c = sim.counts();
  process.stderr.write(`[sandbox] azure reads=${c.reads} writes=${c.writes} polls=${c.polls}\n`);
}, 10_000).unref();
process.once('SIGINT', () => void Promise.all([sim.close(), kube.close()]).then(() => process.exit(0)));
