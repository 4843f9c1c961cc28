// Reads everything the checks judge, once, with GETs and lists only. Every read that fails is kept as a
// failed Read rather than thrown, so one missing permission never hides the other checks.
import { describeCredential } from '../azure/errors.ts';
import { parseResourceId, tableFacts, type AzureInventory, type NicInfo } from '../azure/inventory.ts';
import { tableId, type RouteTableStore, type TableRef } from '../azure/types.ts';
import type { DoctorConfig } from '../config/run.ts';
import { mapLimit } from '../controller/concurrency.ts';
import { canonicalIp } from '../domain/cidr.ts';
import type { ClusterReader, NodeDetails } from '../kube/leases.ts';
import { failedRead, type NodeNic, type Read, type TableWorld, type World } from './types.ts';

export interface DoctorDeps {
  readonly store: RouteTableStore;
  readonly inventory: AzureInventory;
  readonly cluster: ClusterReader;
  readonly now: () => number;
}

/** The cloud-controller-manager's leader Lease (cloud-provider-azure's default name and namespace). */
export const CCM_LEASE = { namespace: 'kube-system', name: 'cloud-controller-manager' } as const;

const CONCURRENCY = 8;

async function read<T>(fn: () => Promise<T>): Promise<Read<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    return failedRead(err);
  }
}

const notChecked = (why: string) => ({ ok: false as const, error: why, forbidden: false });

export async function gatherWorld(
  config: DoctorConfig,
  deps: DoctorDeps,
  signal?: AbortSignal,
): Promise<World> {
  const identity = await read(async () => {
    await deps.inventory.token(signal);
    return true as const;
  });
  const [nodes, ccmLease, ownLease] = await Promise.all([
    read(() => deps.cluster.nodes(signal)),
    read(() => deps.cluster.lease(CCM_LEASE.namespace, CCM_LEASE.name, signal)),
    read(() => deps.cluster.lease(config.lease.namespace, config.lease.name, signal)),
  ]);
  const azureReady = identity.ok;
  const noToken = notChecked('not checked: no Azure token (see identity)');
  const tables = await Promise.all(
    config.azure.routeTables.map((ref) =>
      azureReady ? readTable(ref, deps, signal) : Promise.resolve(unreadTable(ref, noToken)),
    ),
  );
  const nics =
    azureReady && nodes.ok ? await findNics(nodes.value, config.azure.routeTables, deps, signal) : [];
  return {
    now: deps.now(),
    credential: describeCredential(config.azure.credential),
    tokenScope: config.azure.tokenScope,
    identity,
    nodes,
    tables,
    nics,
    ccmLease,
    ownLease,
  };
}

function unreadTable(ref: TableRef, why: Read<never>): TableWorld {
  return { ref, snapshot: why, facts: undefined, permissions: why, subnets: new Map() };
}

async function readTable(ref: TableRef, deps: DoctorDeps, signal?: AbortSignal): Promise<TableWorld> {
  const [snapshot, permissions] = await Promise.all([
    read(() => deps.store.read(ref, signal)),
    read(() => deps.inventory.permissions(tableId(ref), signal)),
  ]);
  const facts = snapshot.ok && snapshot.value ? tableFacts(snapshot.value) : undefined;
  const subnets = new Map<string, Read<Awaited<ReturnType<AzureInventory['subnet']>>>>();
  for (const id of facts?.subnetIds ?? []) {
    subnets.set(id.toLowerCase(), await read(() => deps.inventory.subnet(id, signal)));
  }
  return { ref, snapshot, facts, permissions, subnets };
}

const VM_PROVIDER_ID =
  /^azure:\/\/(\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Compute\/virtualMachines\/[^/]+)$/i;

/**
 * Each node's NIC: from the VM its providerID names (the NIC holding the node's InternalIP, else the primary),
 * or, without such a providerID (scale sets, bare clusters), the NIC holding its InternalIP among the NICs of
 * the route tables' resource groups.
 */
async function findNics(
  nodes: readonly NodeDetails[],
  tables: readonly TableRef[],
  deps: DoctorDeps,
  signal?: AbortSignal,
): Promise<NodeNic[]> {
  const groupNics = new Map<string, Promise<Read<NicInfo[]>>>();
  const nicsOf = (subscriptionId: string, resourceGroup: string) => {
    const key = `${subscriptionId}/${resourceGroup}`.toLowerCase();
    let entry = groupNics.get(key);
    if (!entry) {
      entry = read(() => deps.inventory.nics(subscriptionId, resourceGroup, signal));
      groupNics.set(key, entry);
    }
    return entry;
  };
  return mapLimit(nodes, CONCURRENCY, async (node): Promise<NodeNic> => {
    const ip = node.info.internalIPs.map((a) => canonicalIp(a) ?? a)[0];
    const vmId = VM_PROVIDER_ID.exec(node.providerID ?? '')?.[1];
    if (vmId !== undefined) {
      return { node: node.info.name, ip, via: 'providerID', nic: await nicOfVm(vmId, node, deps, signal) };
    }
    const groups = [
      ...new Map(tables.map((t) => [`${t.subscriptionId}/${t.resourceGroup}`.toLowerCase(), t])).values(),
    ];
    for (const t of groups) {
      const listed = await nicsOf(t.subscriptionId, t.resourceGroup);
      if (!listed.ok) return { node: node.info.name, ip, via: 'ip', nic: listed };
      const found = listed.value.find((nic) => holdsAnyIp(nic, node.info.internalIPs));
      if (found) return { node: node.info.name, ip, via: 'ip', nic: { ok: true, value: found } };
    }
    return { node: node.info.name, ip, via: 'ip', nic: { ok: true, value: null } };
  });
}

async function nicOfVm(
  vmId: string,
  node: NodeDetails,
  deps: DoctorDeps,
  signal?: AbortSignal,
): Promise<Read<NicInfo | null>> {
  const vm = await read(() => deps.inventory.vm(vmId, signal));
  if (!vm.ok) return vm;
  if (vm.value === null) {
    return notChecked(
      `the VM ${parseResourceId(vmId)?.names[0] ?? vmId} that spec.providerID names does not exist`,
    );
  }
  let first: NicInfo | null = null;
  for (const nicId of vm.value.nicIds) {
    const nic = await read(() => deps.inventory.nic(nicId, signal));
    if (!nic.ok) return nic;
    if (nic.value && holdsAnyIp(nic.value, node.info.internalIPs)) return nic;
    first ??= nic.value;
  }
  return { ok: true, value: first };
}

function holdsAnyIp(nic: NicInfo, ips: readonly string[]): boolean {
  const wanted = new Set(ips.map((ip) => canonicalIp(ip) ?? ip));
  return nic.ipConfigurations.some(
    (c) =>
      c.privateIPAddress !== undefined && wanted.has(canonicalIp(c.privateIPAddress) ?? c.privateIPAddress),
  );
}
