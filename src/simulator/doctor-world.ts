// A cluster as `doctor` sees it, seeded into the Azure simulator and the fake Kubernetes API server: a VNet with
// the nodes' subnet (and a second one), one NIC and VM per node, the route table and its association, the
// caller's permissions, and the Leases of the cloud-controller-manager and of this controller. Used by the
// doctor tests and by `npm run sandbox -- --doctor-faults`.
import type { AzureSimulator, SimpleRoute } from './azure.ts';
import type { SeedPermission } from './azure/inventory.ts';
import type { FakeKubeApi } from './kube-api.ts';

export interface DoctorWorldNode {
  readonly name: string;
  /** Omit for a node that has none yet. */
  readonly podCIDRs?: readonly string[];
  readonly internalIP: string;
  /** Which subnet its NIC is in. Default 'nodes' (the one the table is associated with). */
  readonly subnet?: 'nodes' | 'other';
  /** Default true. */
  readonly ipForwarding?: boolean;
  /** Whether spec.providerID names its VM (default true); without it doctor finds the NIC by IP. */
  readonly providerID?: boolean;
}

export interface LeaseSeed {
  readonly namespace: string;
  readonly name: string;
  readonly holder: string;
  /** How long ago it was last renewed, by the simulator's clock (Date.now). */
  readonly renewedAgoMs: number;
  /** Default 15, client-go's default. */
  readonly leaseDurationSeconds?: number;
}

export interface DoctorWorld {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly table: string;
  readonly location: string;
  readonly nodes: readonly DoctorWorldNode[];
  readonly routes?: readonly SimpleRoute[];
  /** Whether the table is associated with the nodes' subnet. Default true. */
  readonly associate?: boolean;
  /** The caller's permissions at the resource group. Default: the simulator's `*`. */
  readonly permissions?: readonly SeedPermission[];
  readonly leases?: readonly LeaseSeed[];
}

export const VNET = 'kubernetes-vnet';
export const NODES_SUBNET = 'kubernetes-subnet';
export const OTHER_SUBNET = 'other-subnet';

export function providerIdOf(world: DoctorWorld, node: string): string {
  return `azure:///subscriptions/${world.subscriptionId}/resourceGroups/${world.resourceGroup}/providers/Microsoft.Compute/virtualMachines/${node}`;
}

export async function seedDoctorWorld(
  sim: AzureSimulator,
  kube: FakeKubeApi,
  world: DoctorWorld,
): Promise<void> {
  const { subscriptionId, resourceGroup } = world;
  const subnet = (name: string, addressPrefix: string) =>
    sim.inventory.addSubnet({ subscriptionId, resourceGroup, vnet: VNET, name, addressPrefix });
  const subnets = {
    nodes: subnet(NODES_SUBNET, '10.240.0.0/16'),
    other: subnet(OTHER_SUBNET, '10.241.0.0/16'),
  };
  sim.putTable(subscriptionId, resourceGroup, world.table, {
    location: world.location,
    routes: world.routes ?? [],
    subnets: world.associate === false ? [] : [subnets.nodes],
  });
  for (const node of world.nodes) {
    const nic = sim.inventory.addNic({
      subscriptionId,
      resourceGroup,
      name: `${node.name}-nic`,
      privateIPAddresses: [node.internalIP],
      subnetId: subnets[node.subnet ?? 'nodes'],
      enableIPForwarding: node.ipForwarding ?? true,
      location: world.location,
    });
    sim.inventory.addVm({
      subscriptionId,
      resourceGroup,
      name: node.name,
      nicIds: [nic],
      location: world.location,
    });
    kube.addNode({
      name: node.name,
      internalIPs: [node.internalIP],
      ...(node.podCIDRs ? { podCIDRs: node.podCIDRs } : {}),
    });
    if (node.providerID !== false) {
      kube.updateNode(node.name, (n) => {
        n.spec = { ...n.spec, providerID: providerIdOf(world, node.name) };
      });
    }
  }
  if (world.permissions) {
    sim.inventory.setPermissions(
      `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}`,
      world.permissions,
    );
  }
  for (const lease of world.leases ?? []) await putLease(kube, lease);
}

/** Creates or renews a Lease through the fake API server, as a leader would. */
export async function putLease(kube: FakeKubeApi, lease: LeaseSeed): Promise<void> {
  const base = `${kube.url}/apis/coordination.k8s.io/v1/namespaces/${lease.namespace}/leases`;
  const renewTime = new Date(Date.now() - lease.renewedAgoMs).toISOString().replace('Z', '000Z');
  const spec = {
    holderIdentity: lease.holder,
    leaseDurationSeconds: lease.leaseDurationSeconds ?? 15,
    acquireTime: renewTime,
    renewTime,
    leaseTransitions: 0,
  };
  const existing = await fetch(`${base}/${lease.name}`);
  const current = existing.ok
    ? ((await existing.json()) as { metadata?: { resourceVersion?: string } })
    : undefined;
  const body = {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: lease.name,
      namespace: lease.namespace,
      ...(current?.metadata?.resourceVersion ? { resourceVersion: current.metadata.resourceVersion } : {}),
    },
    spec,
  };
  const response = await fetch(current ? `${base}/${lease.name}` : base, {
    method: current ? 'PUT' : 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok)
    throw new Error(
      `fake API server refused Lease ${lease.namespace}/${lease.name}: ${response.status} ${await response.text()}`,
    );
}

export interface FaultySandbox {
  readonly azureUrl: string;
  readonly kubeUrl: string;
  /** The flags that point doctor (or sync-routes) at this world. */
  readonly flags: string;
  close(): Promise<void>;
}

/**
 * A realistic cluster with one deliberate fault of each kind doctor finds: the identity can read but not write
 * the table; worker-1's NIC does not forward IP; worker-2 sits in a subnet that uses no table; the
 * cloud-controller-manager still leads (its Lease is renewed every 5 s) and has pointed worker-0's route
 * elsewhere; worker-3 has no pod CIDR yet; and the table holds 370 foreign routes, near Azure's 400.
 */
export async function startFaultySandbox(): Promise<FaultySandbox> {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { startAzureSimulator } = await import('./azure.ts');
  const { startFakeKubeApi } = await import('./kube-api.ts');
  const subscriptionId = '00000000-0000-0000-0000-000000000001';
  const resourceGroup = 'kubernetes';
  const sim = await startAzureSimulator({
    subscriptions: [subscriptionId],
    resourceGroups: [{ subscriptionId, name: resourceGroup, location: 'westeurope' }],
  });
  const kube = await startFakeKubeApi();
  const nodes: DoctorWorldNode[] = [
    { name: 'worker-0', podCIDRs: ['10.200.0.0/24'], internalIP: '10.240.0.20' },
    { name: 'worker-1', podCIDRs: ['10.200.1.0/24'], internalIP: '10.240.0.21', ipForwarding: false },
    { name: 'worker-2', podCIDRs: ['10.200.2.0/24'], internalIP: '10.241.0.22', subnet: 'other' },
    { name: 'worker-3', internalIP: '10.240.0.23' },
  ];
  const foreign: SimpleRoute[] = Array.from({ length: 370 }, (_, i) => ({
    name: `onprem-${i}`,
    addressPrefix: `172.${16 + Math.floor(i / 256)}.${i % 256}.0/24`,
    nextHopType: 'VirtualNetworkGateway',
  }));
  const ccm = {
    namespace: 'kube-system',
    name: 'cloud-controller-manager',
    holder: 'master-0_7f3c1d',
    renewedAgoMs: 0,
  };
  await seedDoctorWorld(sim, kube, {
    subscriptionId,
    resourceGroup,
    table: 'kubernetes-routes',
    location: 'westeurope',
    nodes,
    routes: [
      ...foreign,
      {
        name: 'worker-0____102000024',
        addressPrefix: '10.200.0.0/24',
        nextHopType: 'VirtualAppliance',
        nextHopIpAddress: '10.240.0.120',
      },
      {
        name: 'worker-1____102001024',
        addressPrefix: '10.200.1.0/24',
        nextHopType: 'VirtualAppliance',
        nextHopIpAddress: '10.240.0.21',
      },
    ],
    permissions: [
      {
        actions: [
          'Microsoft.Network/routeTables/read',
          'Microsoft.Network/locations/operations/read',
          'Microsoft.Network/virtualNetworks/subnets/read',
          'Microsoft.Network/networkInterfaces/read',
          'Microsoft.Compute/virtualMachines/read',
          'Microsoft.Authorization/permissions/read',
        ],
      },
    ],
    leases: [ccm],
  });
  const renew = setInterval(() => void putLease(kube, ccm).catch(() => undefined), 5_000);
  const dir = mkdtempSync(join(tmpdir(), 'azure-route-controller-doctor-'));
  const kubeconfig = join(dir, 'kubeconfig');
  await kube.writeKubeconfig(kubeconfig);
  return {
    azureUrl: sim.url,
    kubeUrl: kube.url,
    flags: `--kubeconfig ${kubeconfig} --arm-endpoint ${sim.url} --allow-insecure-arm-endpoint --subscription-id ${subscriptionId} --resource-group ${resourceGroup} --route-table kubernetes-routes --cluster-cidr 10.200.0.0/16`,
    async close() {
      clearInterval(renew);
      await Promise.all([sim.close(), kube.close()]);
    },
  };
}
