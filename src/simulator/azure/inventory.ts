// What `doctor` reads beyond route tables: subnets (with their route-table association), network interfaces
// (enableIPForwarding, IP configurations), virtual machines (their NICs) and the caller's effective permissions
// at a scope. Read-only, as the shapes of Microsoft.Network (Subnets_Get, NetworkInterfaces_List/Get),
// Microsoft.Compute (VirtualMachines_Get) and Microsoft.Authorization (Permissions_ListFor*) have them.
import { randomUUID } from 'node:crypto';
import { ArmError, badRequest, resourceNotFound } from './errors.ts';
import { newEtag } from './model.ts';
import type { JsonObject } from './types.ts';

export type InventoryOperation =
  | 'Subnets_Get'
  | 'Subnets_List'
  | 'NetworkInterfaces_Get'
  | 'NetworkInterfaces_List'
  | 'VirtualMachines_Get'
  | 'Permissions_ListForResource'
  | 'Permissions_ListForResourceGroup';

export interface SeedSubnet {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly vnet: string;
  readonly name: string;
  readonly addressPrefix: string;
}

export interface SeedNic {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
  /** The private IP of each IP configuration, in order; the first is primary. */
  readonly privateIPAddresses: readonly string[];
  readonly subnetId: string;
  /** Azure's default is false. */
  readonly enableIPForwarding?: boolean | undefined;
  readonly location?: string | undefined;
}

export interface SeedVm {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
  /** Resource ids of its NICs; the first is primary. Each NIC's virtualMachine.id is set to this VM. */
  readonly nicIds: readonly string[];
  readonly location?: string | undefined;
}

/** One entry of the permissions list: Azure subtracts notActions from actions within the same entry. */
export interface SeedPermission {
  readonly actions: readonly string[];
  readonly notActions?: readonly string[] | undefined;
}

export interface InventoryHooks {
  /** The id of the route table whose properties.subnets lists this subnet, if any (the association). */
  readonly routeTableOf: (subnetId: string) => string | undefined;
  /** Throws ArmError when the subscription or resource group does not exist. */
  readonly requireGroup: (subscriptionId: string, resourceGroup: string) => void;
  readonly requireSubscription: (subscriptionId: string) => void;
  readonly pageSize: number;
}

interface Match {
  readonly operation: InventoryOperation;
  readonly sub: string;
  readonly rg: string | undefined;
  /** The resource id the request names (the scope, for permissions). */
  readonly id: string;
}

const NETWORK = 'Microsoft.Network';
const key = (id: string) => id.toLowerCase().replace(/\/+$/, '');

/**
 * Seeded resources, and the answers to GETs of them. With no permissions seeded, every scope answers `*`:
 * the simulator lets every route-table write through, so claiming less would be a world it does not model.
 */
export class Inventory {
  readonly #hooks: InventoryHooks;
  readonly #subnets = new Map<string, JsonObject>();
  readonly #nics = new Map<string, JsonObject>();
  readonly #vms = new Map<string, JsonObject>();
  readonly #permissions = new Map<string, readonly SeedPermission[]>();

  constructor(hooks: InventoryHooks) {
    this.#hooks = hooks;
  }

  addSubnet(seed: SeedSubnet): string {
    const id = `/subscriptions/${seed.subscriptionId}/resourceGroups/${seed.resourceGroup}/providers/${NETWORK}/virtualNetworks/${seed.vnet}/subnets/${seed.name}`;
    this.#subnets.set(key(id), {
      name: seed.name,
      id,
      etag: newEtag(),
      type: `${NETWORK}/virtualNetworks/subnets`,
      properties: {
        provisioningState: 'Succeeded',
        addressPrefix: seed.addressPrefix,
        privateEndpointNetworkPolicies: 'Disabled',
        privateLinkServiceNetworkPolicies: 'Enabled',
      },
    });
    return id;
  }

  addNic(seed: SeedNic): string {
    const id = `/subscriptions/${seed.subscriptionId}/resourceGroups/${seed.resourceGroup}/providers/${NETWORK}/networkInterfaces/${seed.name}`;
    const etag = newEtag();
    this.#nics.set(key(id), {
      name: seed.name,
      id,
      etag,
      type: `${NETWORK}/networkInterfaces`,
      location: seed.location ?? 'westeurope',
      properties: {
        provisioningState: 'Succeeded',
        resourceGuid: randomUUID(),
        ipConfigurations: seed.privateIPAddresses.map((ip, i) => ({
          name: `ipconfig${i + 1}`,
          id: `${id}/ipConfigurations/ipconfig${i + 1}`,
          etag,
          type: `${NETWORK}/networkInterfaces/ipConfigurations`,
          properties: {
            provisioningState: 'Succeeded',
            privateIPAddress: ip,
            privateIPAllocationMethod: 'Static',
            privateIPAddressVersion: ip.includes(':') ? 'IPv6' : 'IPv4',
            subnet: { id: seed.subnetId },
            primary: i === 0,
          },
        })),
        dnsSettings: { dnsServers: [], appliedDnsServers: [] },
        enableAcceleratedNetworking: false,
        enableIPForwarding: seed.enableIPForwarding ?? false,
        disableTcpStateTracking: false,
        hostedWorkloads: [],
        tapConfigurations: [],
        nicType: 'Standard',
        vnetEncryptionSupported: false,
      },
    });
    return id;
  }

  addVm(seed: SeedVm): string {
    const id = `/subscriptions/${seed.subscriptionId}/resourceGroups/${seed.resourceGroup}/providers/Microsoft.Compute/virtualMachines/${seed.name}`;
    this.#vms.set(key(id), {
      name: seed.name,
      id,
      type: 'Microsoft.Compute/virtualMachines',
      location: seed.location ?? 'westeurope',
      properties: {
        vmId: randomUUID(),
        hardwareProfile: { vmSize: 'Standard_D2s_v5' },
        networkProfile: {
          networkInterfaces: seed.nicIds.map((nicId, i) => ({ id: nicId, properties: { primary: i === 0 } })),
        },
        provisioningState: 'Succeeded',
      },
    });
    for (const nicId of seed.nicIds) {
      const nic = this.#nics.get(key(nicId));
      if (nic) (nic['properties'] as JsonObject)['virtualMachine'] = { id };
    }
    return id;
  }

  /** Sets IP forwarding on a seeded NIC, as `az network nic update --ip-forwarding` would. */
  setIpForwarding(nicId: string, enabled: boolean): void {
    const nic = this.#nics.get(key(nicId));
    if (!nic) throw new Error(`simulator: no NIC ${nicId}`);
    (nic['properties'] as JsonObject)['enableIPForwarding'] = enabled;
  }

  /**
   * The caller's permissions at `scope` and every scope below it (a role assignment is inherited downwards).
   * A permissions list at a scope is the union of what is seeded at that scope and every scope above it.
   */
  setPermissions(scope: string, permissions: readonly SeedPermission[]): void {
    this.#permissions.set(key(scope), permissions);
  }

  /** Which inventory operation a request is, or undefined when it is not one of ours. */
  match(pathname: string): Match | undefined {
    const segments = pathname.split('/').filter((s) => s !== '');
    let decoded: string[];
    try {
      decoded = segments.map((s) => decodeURIComponent(s));
    } catch {
      return undefined;
    }
    const lower = decoded.map((s) => s.toLowerCase());
    if (lower[0] !== 'subscriptions' || decoded.length < 2) return undefined;
    const sub = decoded[1]!;
    const n = lower.length;
    if (n >= 5 && lower.slice(n - 3).join('/') === 'providers/microsoft.authorization/permissions') {
      const scope = `/${decoded.slice(0, n - 3).join('/')}`;
      const rg = lower[2] === 'resourcegroups' ? decoded[3] : undefined;
      return {
        operation: n - 3 === 4 ? 'Permissions_ListForResourceGroup' : 'Permissions_ListForResource',
        sub,
        rg,
        id: scope,
      };
    }
    if (lower[2] !== 'resourcegroups' || lower[4] !== 'providers') return undefined;
    const rg = decoded[3]!;
    const rest = lower.slice(5);
    const id = `/${decoded.join('/')}`;
    if (rest[0] === 'microsoft.network' && rest[1] === 'virtualnetworks' && rest[3] === 'subnets') {
      if (rest.length === 4) return { operation: 'Subnets_List', sub, rg, id };
      if (rest.length === 5) return { operation: 'Subnets_Get', sub, rg, id };
    }
    if (rest[0] === 'microsoft.network' && rest[1] === 'networkinterfaces') {
      if (rest.length === 2) return { operation: 'NetworkInterfaces_List', sub, rg, id };
      if (rest.length === 3) return { operation: 'NetworkInterfaces_Get', sub, rg, id };
    }
    if (rest[0] === 'microsoft.compute' && rest[1] === 'virtualmachines' && rest.length === 3) {
      return { operation: 'VirtualMachines_Get', sub, rg, id };
    }
    return undefined;
  }

  /** The answer to a GET the match named; throws ArmError as ARM answers. */
  answer(match: Match, url: URL, baseUrl: string): JsonObject {
    this.#hooks.requireSubscription(match.sub);
    if (match.rg !== undefined) this.#hooks.requireGroup(match.sub, match.rg);
    switch (match.operation) {
      case 'Subnets_Get': {
        const subnet = this.#subnets.get(key(match.id));
        if (!subnet)
          throw resourceNotFound(`${NETWORK}/virtualNetworks/subnets`, lastSegment(match.id), match.rg!);
        return this.#subnetView(subnet);
      }
      case 'Subnets_List': {
        const prefix = `${key(match.id)}/`;
        const items = [...this.#subnets.entries()]
          .filter(([k]) => k.startsWith(prefix))
          .map(([, s]) => this.#subnetView(s));
        return this.#page(items, url, baseUrl);
      }
      case 'NetworkInterfaces_Get': {
        const nic = this.#nics.get(key(match.id));
        if (!nic) throw resourceNotFound(`${NETWORK}/networkInterfaces`, lastSegment(match.id), match.rg!);
        return structuredClone(nic);
      }
      case 'NetworkInterfaces_List': {
        const prefix = `${key(match.id)}/`;
        const items = [...this.#nics.entries()]
          .filter(([k]) => k.startsWith(prefix))
          .map(([, nic]) => structuredClone(nic));
        return this.#page(items, url, baseUrl);
      }
      case 'VirtualMachines_Get': {
        const vm = this.#vms.get(key(match.id));
        if (!vm)
          throw resourceNotFound('Microsoft.Compute/virtualMachines', lastSegment(match.id), match.rg!);
        return structuredClone(vm);
      }
      case 'Permissions_ListForResource':
      case 'Permissions_ListForResourceGroup':
        return { value: this.#effectivePermissions(match.id) };
    }
  }

  #subnetView(subnet: JsonObject): JsonObject {
    const view = structuredClone(subnet);
    const table = this.#hooks.routeTableOf(String(view['id']));
    if (table !== undefined) (view['properties'] as JsonObject)['routeTable'] = { id: table };
    return view;
  }

  #effectivePermissions(scope: string): JsonObject[] {
    if (this.#permissions.size === 0) {
      return [{ actions: ['*'], notActions: [], dataActions: [], notDataActions: [] }];
    }
    const target = key(scope);
    const out: JsonObject[] = [];
    for (const [at, permissions] of this.#permissions) {
      if (target !== at && !target.startsWith(`${at}/`)) continue;
      for (const p of permissions) {
        out.push({
          actions: [...p.actions],
          notActions: [...(p.notActions ?? [])],
          dataActions: [],
          notDataActions: [],
        });
      }
    }
    return out;
  }

  #page(items: readonly JsonObject[], url: URL, baseUrl: string): JsonObject {
    const pageSize = this.#hooks.pageSize;
    const token = url.searchParams.get('$skiptoken');
    const start = token === null ? 0 : Number(token);
    if (!Number.isInteger(start) || start < 0) {
      throw badRequest('InvalidSkipToken', `The $skiptoken '${token}' is not valid.`);
    }
    const body: JsonObject = { value: items.slice(start, start + pageSize) };
    if (start + pageSize < items.length) {
      const apiVersion = url.searchParams.get('api-version') ?? '';
      body['nextLink'] =
        `${baseUrl}${url.pathname}?api-version=${encodeURIComponent(apiVersion)}&$skiptoken=${start + pageSize}`;
    }
    return body;
  }
}

function lastSegment(id: string): string {
  return id.split('/').filter(Boolean).at(-1) ?? '';
}

/** ARM answers a write to a read-only simulated resource this way. */
export function inventoryMethodNotAllowed(method: string): ArmError {
  return new ArmError(
    405,
    'MethodNotAllowed',
    `The requested resource does not support http method '${method}'.`,
  );
}
