// The exact commands the checks suggest. Only non-secret parts of the configuration appear in them.
import type { NicInfo } from '../azure/inventory.ts';
import { tableId, type TableRef } from '../azure/types.ts';
import type { DoctorConfig } from '../config/run.ts';

export const SUBNET_PLACEHOLDER =
  '/subscriptions/<subscription>/resourceGroups/<resource-group>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>';

/** The identity to grant a role to: its client ID when the configuration names one. */
function assignee(config: DoctorConfig): string {
  const c = config.azure.credential;
  switch (c.kind) {
    case 'clientSecret':
    case 'clientCertificate':
      return c.clientId;
    case 'managedIdentity':
    case 'workloadIdentity':
      return c.clientId ?? '<principal-id>';
    case 'default':
      return c.managedIdentityClientId ?? '<principal-id>';
    case 'insecureTest':
      return '<principal-id>';
  }
}

export function assignControllerRole(config: DoctorConfig, scope: string): string {
  return (
    `az role definition create --role-definition @deploy/azure/route-controller-role.json (once), then ` +
    `az role assignment create --assignee ${assignee(config)} --role "Azure Route Controller" --scope ${scope}`
  );
}

export function assignDoctorRole(config: DoctorConfig, scope: string): string {
  return (
    `optional, for doctor only: az role definition create --role-definition @deploy/azure/doctor-reader-role.json (once), then ` +
    `az role assignment create --assignee ${assignee(config)} --role "Azure Route Controller Doctor" --scope ${scope}`
  );
}

export function createTable(ref: TableRef, location: string | undefined): string {
  return (
    `az network route-table create --subscription ${ref.subscriptionId} --resource-group ${ref.resourceGroup} ` +
    `--name ${ref.name} --location ${location ?? '<region>'} (or sync-routes --create-route-table --location ${location ?? '<region>'})`
  );
}

export function associate(ref: TableRef, subnetId: string): string {
  const m =
    /\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Network\/virtualNetworks\/([^/]+)\/subnets\/([^/]+)$/i.exec(
      subnetId,
    );
  const [rg, vnet, subnet] = m ? [m[1], m[2], m[3]] : ['<resource-group>', '<vnet>', '<subnet>'];
  return `az network vnet subnet update --resource-group ${rg} --vnet-name ${vnet} --name ${subnet} --route-table ${tableId(ref)}`;
}

export function ipForwarding(nic: NicInfo): string {
  return `az network nic update --resource-group ${nic.resourceGroup} --name ${nic.name} --ip-forwarding true`;
}

export function redrive(ref: TableRef): string {
  return `azure-route-controller sync-routes (same flags) re-drives a table that is not Succeeded; to see its state: az network route-table show --resource-group ${ref.resourceGroup} --name ${ref.name} --query provisioningState`;
}

export function whoWrote(ref: TableRef): string {
  return `az monitor activity-log list --resource-id ${tableId(ref)} --offset 1h --query "[?operationName.value=='Microsoft.Network/routeTables/write'].caller" -o tsv`;
}

export function canGetLease(namespace: string): string {
  return `kubectl auth can-i get leases.coordination.k8s.io --namespace ${namespace} (grant get on leases to doctor's identity)`;
}

export function podCidrs(config: DoctorConfig): string {
  return (
    `kubectl get nodes -o custom-columns=NAME:.metadata.name,PODCIDRS:.spec.podCIDRs; pod CIDRs come from kube-controller-manager ` +
    `--allocate-node-cidrs=true --cluster-cidr=${config.planner.clusterCIDRs.join(',')}`
  );
}

export function inspectNode(node: string): string {
  return `kubectl get node ${node} -o jsonpath='{.spec.podCIDRs}{" "}{.status.addresses}{"\\n"}'`;
}

export const ROUTE_LIMIT =
  "Azure's limit is 400 routes per table: move some nodes to a subnet with a table of its own, or drop foreign routes that are no longer needed";

export const CCM_ROUTES_OFF =
  'run the cloud-controller-manager with --configure-cloud-routes=false, then: kubectl --namespace kube-system get lease cloud-controller-manager';

export const CAN_LIST_NODES = 'kubectl auth can-i list nodes (doctor lists nodes as sync-routes does)';

export const SYNC =
  'azure-route-controller sync-routes (same flags) applies this plan; add --dry-run to see it route by route';

export const SYNC_DRY_RUN =
  'azure-route-controller sync-routes --dry-run (same flags) names each conflict and over-limit route';
