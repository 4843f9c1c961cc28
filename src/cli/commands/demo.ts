// `demo`: the real sync-routes code path, over HTTP, against the built-in Azure simulator and a fake cluster
// modelled on "Kubernetes the Hard Way on Azure". Needs no Azure account and no cluster.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSyncConfig } from '../../config/load.ts';
import { startAzureSimulator } from '../../simulator/azure.ts';
import { startFakeKubeApi } from '../../simulator/kube-api.ts';
import { renderJson, renderText } from '../output.ts';
import type { CliIo } from '../program.ts';
import { syncRoutes } from './sync.ts';

export const DEMO = {
  subscriptionId: '00000000-0000-0000-0000-000000000001',
  resourceGroup: 'kubernetes',
  location: 'westeurope',
  routeTable: 'kubernetes-routes',
  subnetId:
    '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/kubernetes/providers/Microsoft.Network/virtualNetworks/kubernetes-vnet/subnets/kubernetes-subnet',
  clusterCidr: '10.200.0.0/16',
  workers: [0, 1, 2].map((i) => ({
    name: `worker-${i}`,
    podCIDRs: [`10.200.${i}.0/24`],
    internalIPs: [`10.240.0.${20 + i}`],
  })),
  initialRoutes: [
    // Foreign: the subnet's default route to a firewall. Outside the cluster CIDR, so never touched.
    {
      name: 'default-to-firewall',
      addressPrefix: '0.0.0.0/0',
      nextHopType: 'VirtualAppliance',
      nextHopIpAddress: '10.240.255.4',
    },
    // Made by hand, the Kubernetes the Hard Way way; it already matches worker-0, so it is adopted as is.
    {
      name: 'kubernetes-route-10-200-0-0-24',
      addressPrefix: '10.200.0.0/24',
      nextHopType: 'VirtualAppliance',
      nextHopIpAddress: '10.240.0.20',
    },
    // Stale: a worker that no longer exists.
    {
      name: 'worker-9____102009024',
      addressPrefix: '10.200.9.0/24',
      nextHopType: 'VirtualAppliance',
      nextHopIpAddress: '10.240.0.29',
    },
  ],
};

export async function demoCommand(flags: { output: string; logLevel: string }, io: CliIo): Promise<number> {
  const sim = await startAzureSimulator({
    subscriptions: [DEMO.subscriptionId],
    resourceGroups: [
      { subscriptionId: DEMO.subscriptionId, name: DEMO.resourceGroup, location: DEMO.location },
    ],
  });
  const kube = await startFakeKubeApi();
  const dir = mkdtempSync(join(tmpdir(), 'azure-route-controller-demo-'));
  try {
    sim.putTable(DEMO.subscriptionId, DEMO.resourceGroup, DEMO.routeTable, {
      location: DEMO.location,
      routes: DEMO.initialRoutes,
      subnets: [DEMO.subnetId],
    });
    for (const w of DEMO.workers) kube.addNode(w);
    const kubeconfig = join(dir, 'kubeconfig');
    await kube.writeKubeconfig(kubeconfig);

    const config = loadSyncConfig(
      {
        armEndpoint: sim.url,
        allowInsecureArmEndpoint: true,
        subscriptionId: DEMO.subscriptionId,
        resourceGroup: DEMO.resourceGroup,
        routeTable: [DEMO.routeTable],
        clusterCidr: [DEMO.clusterCidr],
        kubeconfig,
        logLevel: flags.logLevel,
        output: flags.output,
        pollInterval: '50ms',
      },
      io.environment,
    );
    if (config.output === 'text') {
      io.stdout.write(
        [
          'Demo: sync-routes against the built-in Azure simulator and a fake cluster (Kubernetes the Hard Way).',
          `  nodes: ${DEMO.workers.map((w) => `${w.name} ${w.podCIDRs[0]} -> ${w.internalIPs[0]}`).join(', ')}`,
          `  table ${DEMO.routeTable} starts with: ${DEMO.initialRoutes.map((r) => `${r.name} (${r.addressPrefix})`).join(', ')}`,
          `  --cluster-cidr ${DEMO.clusterCidr}`,
          '',
          '',
        ].join('\n'),
      );
    }
    const report = await syncRoutes(config, io, { includeRoutes: true });
    io.stdout.write(config.output === 'json' ? renderJson(report) : renderText(report));
    if (config.output === 'text') {
      const writes = sim.counts().writes;
      io.stdout.write(`\nThe simulator saw ${writes} write request(s) (whole-table PUT with If-Match).\n`);
    }
    return report.exitCode;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await Promise.all([sim.close(), kube.close()]);
  }
}
