// A narrow, read-only port for what `doctor` checks around the route tables: subnets, NICs, VMs and the
// caller's effective permissions. Same credential and the same loopback rule as the route-table store;
// subnets and NICs through @azure/arm-network, VMs and permissions as plain GETs on the same pipeline
// (ADR 0010: two plain reads do not justify @azure/arm-compute and @azure/arm-authorization).
import { NetworkManagementClient, type NetworkInterface, type RouteTable } from '@azure/arm-network';
import {
  createDefaultHttpClient,
  createPipelineRequest,
  isRestError,
  type HttpClient,
} from '@azure/core-rest-pipeline';
import type { TokenCredential } from '@azure/identity';
import type { AzureConfig } from '../config/types.ts';
import { createNetworkClient, guardCredential } from './arm-client.ts';
import { AzureError, credentialError, isIdentityError, parseArmError } from './errors.ts';
import type { TableSnapshot } from './types.ts';

export const COMPUTE_API_VERSION = '2024-07-01';
export const AUTHORIZATION_API_VERSION = '2022-04-01';

export interface SubnetInfo {
  readonly id: string;
  readonly addressPrefixes: readonly string[];
  /** The associated route table's resource id, if any. */
  readonly routeTableId?: string | undefined;
}

export interface NicInfo {
  readonly id: string;
  readonly name: string;
  readonly resourceGroup: string;
  readonly enableIPForwarding: boolean;
  readonly ipConfigurations: readonly {
    readonly privateIPAddress?: string | undefined;
    readonly subnetId?: string | undefined;
  }[];
  readonly virtualMachineId?: string | undefined;
}

export interface VmInfo {
  readonly id: string;
  /** NIC resource ids, the primary one first. */
  readonly nicIds: readonly string[];
}

/** One entry of a permissions list: its notActions subtract from its own actions only. */
export interface PermissionEntry {
  readonly actions: readonly string[];
  readonly notActions: readonly string[];
}

/** What the route-table snapshot says beyond its routes. */
export interface TableFacts {
  readonly disableBgpRoutePropagation: boolean;
  readonly subnetIds: readonly string[];
  readonly provisioningState: string;
}

export interface AzureInventory {
  /** Gets a token for the Resource Manager scope; throws AzureError kind 'Credential' when none can be had. */
  token(signal?: AbortSignal): Promise<{ readonly expiresOnTimestamp: number }>;
  /** null on 404. Throws AzureError (kind 'Forbidden' naming the action) otherwise. */
  subnet(id: string, signal?: AbortSignal): Promise<SubnetInfo | null>;
  /** Every NIC in a resource group (all pages). */
  nics(subscriptionId: string, resourceGroup: string, signal?: AbortSignal): Promise<NicInfo[]>;
  nic(id: string, signal?: AbortSignal): Promise<NicInfo | null>;
  vm(id: string, signal?: AbortSignal): Promise<VmInfo | null>;
  /** The caller's effective permissions at a resource scope (all pages). */
  permissions(scope: string, signal?: AbortSignal): Promise<PermissionEntry[]>;
}

const ID =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/([^/]+)\/([^/]+)\/([^/]+)(?:\/([^/]+)\/([^/]+))?\/?$/i;

/** The parts of a resource id: subscription, resource group, and the names after the provider. */
export function parseResourceId(
  id: string,
): { subscriptionId: string; resourceGroup: string; names: string[] } | undefined {
  const m = ID.exec(id);
  if (!m) return undefined;
  return {
    subscriptionId: m[1]!,
    resourceGroup: m[2]!,
    names: [m[5]!, ...(m[7] !== undefined ? [m[7]] : [])],
  };
}

/** Reads what the store keeps opaque: the snapshot's source is the RouteTable exactly as Azure returned it. */
export function tableFacts(snapshot: TableSnapshot): TableFacts {
  const table = snapshot.source as RouteTable | undefined;
  return {
    disableBgpRoutePropagation: table?.disableBgpRoutePropagation === true,
    subnetIds: (table?.subnets ?? []).map((s) => s.id ?? '').filter((id) => id !== ''),
    provisioningState: table?.provisioningState ?? snapshot.provisioningState ?? 'Succeeded',
  };
}

/** What every read of the inventory shares: the configuration, the guarded credential and the SDK clients. */
interface InventoryContext {
  readonly config: AzureConfig;
  readonly credential: TokenCredential;
  readonly guardedCredential: TokenCredential;
  readonly scopes: string[];
  readonly clients: Map<string, NetworkManagementClient>;
  /** For the plain GETs (VMs, permissions), made on the first; the network client keeps its own. */
  httpClient: HttpClient | undefined;
}

export function createAzureInventory(config: AzureConfig, credential: TokenCredential): AzureInventory {
  const ctx: InventoryContext = {
    config,
    credential,
    guardedCredential: guardCredential(config, credential),
    scopes: [config.tokenScope],
    clients: new Map<string, NetworkManagementClient>(),
    httpClient: undefined,
  };
  return {
    token: (signal) => readToken(ctx, signal),
    subnet: (id, signal) => readSubnet(ctx, id, signal),
    nics: (subscriptionId, resourceGroup, signal) => listNics(ctx, subscriptionId, resourceGroup, signal),
    nic: (id, signal) => readNic(ctx, id, signal),
    vm: (id, signal) => readVm(ctx, id, signal),
    permissions: (scope, signal) => listPermissions(ctx, scope, signal),
  };
}

function clientFor(ctx: InventoryContext, subscriptionId: string): NetworkManagementClient {
  const existing = ctx.clients.get(subscriptionId);
  if (existing) return existing;
  const client = createNetworkClient(ctx, subscriptionId, {
    retry: { maxRetries: 2 },
    userAgentPrefix: 'azure-route-controller-doctor',
  });
  ctx.clients.set(subscriptionId, client);
  return client;
}

/** A plain GET on the same pipeline (auth, retries, user agent) as the network client's. */
async function getJson(
  ctx: InventoryContext,
  path: string,
  apiVersion: string,
  signal?: AbortSignal,
): Promise<unknown> {
  const { config } = ctx;
  const client = clientFor(ctx, config.subscriptionId);
  ctx.httpClient ??= createDefaultHttpClient();
  const request = createPipelineRequest({
    url: `${config.armEndpoint}${path}${path.includes('?') ? '&' : '?'}api-version=${apiVersion}`,
    method: 'GET',
    ...(signal ? { abortSignal: signal } : {}),
    ...(config.allowInsecureEndpoint ? { allowInsecureConnection: true } : {}),
  });
  const response = await client.pipeline.sendRequest(ctx.httpClient, request);
  if (response.status >= 400) {
    const body = parseArmError(response.bodyAsText ?? undefined);
    throw new AzureError({
      kind: kindOf(response.status),
      status: response.status,
      code: body?.code,
      operation: 'GET',
      message: `GET ${path} failed (${response.status}${body?.code ? ` ${body.code}` : ''})${body?.message ? `: ${body.message}` : ''}`,
    });
  }
  return JSON.parse(response.bodyAsText ?? 'null') as unknown;
}

async function nullOn404<T>(ctx: InventoryContext, what: string, fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn();
  } catch (err) {
    const mapped = mapError(err, what, ctx.config);
    if (mapped.kind === 'NotFound') return null;
    throw mapped;
  }
}

async function readToken(
  ctx: InventoryContext,
  signal: AbortSignal | undefined,
): Promise<{ readonly expiresOnTimestamp: number }> {
  const token = await ctx.guardedCredential.getToken(ctx.scopes, signal ? { abortSignal: signal } : {});
  if (!token)
    throw new AzureError({ kind: 'Credential', message: 'the credential returned no access token' });
  return { expiresOnTimestamp: token.expiresOnTimestamp };
}

function readSubnet(
  ctx: InventoryContext,
  id: string,
  signal: AbortSignal | undefined,
): Promise<SubnetInfo | null> {
  return nullOn404(ctx, `subnet ${id}`, async () => {
    const parsed = parseResourceId(id);
    if (!parsed || parsed.names.length !== 2) {
      throw new AzureError({ kind: 'BadRequest', message: `"${id}" is not a subnet resource id` });
    }
    const subnet = await clientFor(ctx, parsed.subscriptionId).subnets.get(
      parsed.resourceGroup,
      parsed.names[0]!,
      parsed.names[1]!,
      signal ? { abortSignal: signal } : {},
    );
    const prefixes = [
      ...(subnet.addressPrefix ? [subnet.addressPrefix] : []),
      ...(subnet.addressPrefixes ?? []),
    ];
    return { id: subnet.id ?? id, addressPrefixes: prefixes, routeTableId: subnet.routeTable?.id };
  });
}

async function listNics(
  ctx: InventoryContext,
  subscriptionId: string,
  resourceGroup: string,
  signal: AbortSignal | undefined,
): Promise<NicInfo[]> {
  try {
    const out: NicInfo[] = [];
    const pages = clientFor(ctx, subscriptionId).networkInterfaces.list(
      resourceGroup,
      signal ? { abortSignal: signal } : {},
    );
    for await (const nic of pages) out.push(toNic(nic, resourceGroup));
    return out;
  } catch (err) {
    throw mapError(err, `the network interfaces of resource group "${resourceGroup}"`, ctx.config);
  }
}

function readNic(
  ctx: InventoryContext,
  id: string,
  signal: AbortSignal | undefined,
): Promise<NicInfo | null> {
  return nullOn404(ctx, `network interface ${id}`, async () => {
    const parsed = parseResourceId(id);
    if (!parsed) throw new AzureError({ kind: 'BadRequest', message: `"${id}" is not a NIC resource id` });
    const nic = await clientFor(ctx, parsed.subscriptionId).networkInterfaces.get(
      parsed.resourceGroup,
      parsed.names[0]!,
      signal ? { abortSignal: signal } : {},
    );
    return toNic(nic, parsed.resourceGroup);
  });
}

function readVm(ctx: InventoryContext, id: string, signal: AbortSignal | undefined): Promise<VmInfo | null> {
  return nullOn404(ctx, `virtual machine ${id}`, async () => {
    const body = (await getJson(ctx, id, COMPUTE_API_VERSION, signal)) as {
      id?: string;
      properties?: {
        networkProfile?: { networkInterfaces?: { id?: string; properties?: { primary?: boolean } }[] };
      };
    };
    const nics = body.properties?.networkProfile?.networkInterfaces ?? [];
    const ordered = [
      ...nics.filter((n) => n.properties?.primary),
      ...nics.filter((n) => !n.properties?.primary),
    ];
    return { id: body.id ?? id, nicIds: ordered.map((n) => n.id ?? '').filter((x) => x !== '') };
  });
}

async function listPermissions(
  ctx: InventoryContext,
  scope: string,
  signal: AbortSignal | undefined,
): Promise<PermissionEntry[]> {
  try {
    const out: PermissionEntry[] = [];
    let path: string | undefined = `${scope}/providers/Microsoft.Authorization/permissions`;
    let version = AUTHORIZATION_API_VERSION;
    for (let page = 0; path !== undefined && page < 100; page++) {
      const body = (await getJson(ctx, path, version, signal)) as {
        value?: { actions?: string[]; notActions?: string[] }[];
        nextLink?: string;
      };
      for (const p of body.value ?? [])
        out.push({ actions: p.actions ?? [], notActions: p.notActions ?? [] });
      path = undefined;
      if (body.nextLink) {
        // nextLink carries its own api-version; strip it so getJson adds exactly one.
        const next = new URL(body.nextLink);
        version = next.searchParams.get('api-version') ?? version;
        next.searchParams.delete('api-version');
        path = `${next.pathname}${next.search}`;
      }
    }
    return out;
  } catch (err) {
    throw mapError(err, `the permissions list at ${scope}`, ctx.config);
  }
}

function toNic(nic: NetworkInterface, resourceGroup: string): NicInfo {
  return {
    id: nic.id ?? '',
    name: nic.name ?? '',
    resourceGroup: (nic.id && parseResourceId(nic.id)?.resourceGroup) || resourceGroup,
    enableIPForwarding: nic.enableIPForwarding === true,
    ipConfigurations: (nic.ipConfigurations ?? []).map((c) => ({
      privateIPAddress: c.privateIPAddress,
      subnetId: c.subnet?.id,
    })),
    virtualMachineId: nic.virtualMachine?.id,
  };
}

function kindOf(status: number): AzureError['kind'] {
  if (status === 401) return 'Unauthorized';
  if (status === 403) return 'Forbidden';
  if (status === 404) return 'NotFound';
  if (status === 429) return 'Throttled';
  if (status >= 500) return 'ServerError';
  if (status === 400) return 'BadRequest';
  return 'Other';
}

/** One sentence per failure, naming what was read; a 403 keeps ARM's message, which names the action. */
function mapError(err: unknown, what: string, config: AzureConfig): AzureError {
  if (err instanceof AzureError) return err;
  if (isIdentityError(err)) return credentialError(err, config.credential, config.authorityHost);
  if (isRestError(err)) {
    const status = err.statusCode ?? 0;
    const body = parseArmError(err.response?.bodyAsText ?? undefined);
    const said = body?.message ?? err.message;
    return new AzureError({
      kind: status === 0 ? 'Network' : kindOf(status),
      status: status === 0 ? undefined : status,
      code: body?.code ?? err.code,
      message: `could not read ${what} (${status || 'no response'}${body?.code ? ` ${body.code}` : ''}): ${said}`,
    });
  }
  return new AzureError({
    kind: 'Other',
    message: `could not read ${what}: ${err instanceof Error ? err.message : String(err)}`,
  });
}
