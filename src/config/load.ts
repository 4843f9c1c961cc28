// Builds the one frozen Config from flags > azure.json > defaults. The only module that reads files or env.
import { readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { cloudSettings, metadataUrlFor, scopeForAudience, tokenScopeFor } from '../azure/clouds.ts';
import type { TableRef } from '../azure/types.ts';
import { normalizeClusterCidr } from '../domain/cidr.ts';
import { parseAzureJson, parseTags, type AzureJson } from './azure-json.ts';
import { ConfigError } from './errors.ts';
import type {
  AzureConfig,
  CloudDiscovery,
  CloudName,
  CommonConfig,
  CredentialSpec,
  KubeconfigSearch,
  SyncConfig,
} from './types.ts';
import {
  parseChoice,
  parseDuration,
  parseGuid,
  parseInteger,
  parseResourceGroup,
  parseRouteTableName,
} from './values.ts';

export const CLOUDS: readonly CloudName[] = [
  'AzurePublicCloud',
  'AzureChinaCloud',
  'AzureUSGovernment',
  'AzureStackCloud',
];
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
/** `--log-format`: pino JSON, or one line per entry with the level name and an ISO time. */
export const LOG_FORMATS = ['json', 'text'] as const;

/** The shared flags, as the CLI parser hands them over (strings, before validation). */
export interface CommonFlags {
  cloudConfig?: string;
  subscriptionId?: string;
  resourceGroup?: string;
  routeTable?: string[];
  clusterCidr?: string[];
  cloud?: string;
  location?: string;
  armEndpoint?: string;
  allowInsecureArmEndpoint?: boolean;
  kubeconfig?: string;
  context?: string;
  nodeConditions?: boolean;
  logLevel?: string;
  logFormat?: string;
  routeLimit?: string;
  nodeCidrMaskSizeIpv4?: string;
  nodeCidrMaskSizeIpv6?: string;
  allowEmptyNodeList?: boolean;
  maxWriteAttempts?: string;
  operationTimeout?: string;
  pollInterval?: string;
}

export interface SyncFlags extends CommonFlags {
  dryRun?: boolean;
  output?: string;
  createRouteTable?: boolean;
}

export interface Environment {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly readFile: (path: string) => string;
}

export const processEnvironment = (): Environment => ({
  env: process.env,
  readFile: (path) => readFileSync(path, 'utf8'),
});

export function loadCommonConfig(flags: CommonFlags, environment: Environment): CommonConfig {
  const warnings: string[] = [];
  const ignoredKeys: string[] = [];
  const json = readAzureJson(flags.cloudConfig, environment, warnings, ignoredKeys);
  const azure = azureConfigFrom(flags, json, environment, warnings);
  const clusterCIDRs = resolveClusterCidrs(flags.clusterCidr ?? [], warnings);

  const kubeconfigSearch = resolveKubeconfig(flags, environment.env);

  return deepFreeze({
    azure,
    planner: {
      clusterCIDRs,
      routeLimit:
        flags.routeLimit === undefined ? 400 : parseInteger('--route-limit', flags.routeLimit, 1, 100_000),
      // kube-controller-manager's flags and defaults: a pod CIDR broader than the node mask is refused.
      nodeMaskSize: {
        v4:
          flags.nodeCidrMaskSizeIpv4 === undefined
            ? 24
            : parseInteger('--node-cidr-mask-size-ipv4', flags.nodeCidrMaskSizeIpv4, 1, 32),
        v6:
          flags.nodeCidrMaskSizeIpv6 === undefined
            ? 64
            : parseInteger('--node-cidr-mask-size-ipv6', flags.nodeCidrMaskSizeIpv6, 1, 128),
      },
    },
    kubeconfig: flags.kubeconfig,
    kubeconfigSearch,
    nodeConditions: flags.nodeConditions !== false,
    allowEmptyNodeList: flags.allowEmptyNodeList === true,
    maxWriteAttempts:
      flags.maxWriteAttempts === undefined
        ? 5
        : parseInteger('--max-write-attempts', flags.maxWriteAttempts, 1, 100),
    logLevel: parseChoice('--log-level', flags.logLevel ?? 'info', LOG_LEVELS),
    // Unset: text on a terminal, JSON otherwise (the logger decides; config does not know the terminal).
    logFormat:
      flags.logFormat === undefined ? undefined : parseChoice('--log-format', flags.logFormat, LOG_FORMATS),
    warnings,
    ignoredKeys,
  });
}

/** The Azure half of the config: the cloud and its endpoints, the tables, and the credential. */
function azureConfigFrom(
  flags: CommonFlags,
  json: AzureJson,
  environment: Environment,
  warnings: string[],
): AzureConfig {
  const cloudEndpoints = resolveCloud(flags, json, environment);
  const { cloudName, armEndpoint, allowInsecureEndpoint } = cloudEndpoints;

  const subscriptionSource =
    flags.subscriptionId !== undefined
      ? '--subscription-id'
      : json.networkResourceSubscriptionID !== undefined
        ? 'azure.json "networkResourceSubscriptionID"'
        : 'azure.json "subscriptionId"';
  // Route tables are network resources: upstream reads them in networkResourceSubscriptionID when it is set.
  const subscriptionRaw = flags.subscriptionId ?? json.networkResourceSubscriptionID ?? json.subscriptionId;
  const subscriptionId =
    subscriptionRaw === undefined ? undefined : parseGuid(subscriptionSource, subscriptionRaw.trim());

  // DESIGN 4: --resource-group, then azure.json routeTableResourceGroup, then azure.json resourceGroup.
  const rgSource =
    flags.resourceGroup !== undefined
      ? '--resource-group'
      : json.routeTableResourceGroup !== undefined
        ? 'azure.json "routeTableResourceGroup"'
        : 'azure.json "resourceGroup"';
  const rgRaw = flags.resourceGroup ?? json.routeTableResourceGroup ?? json.resourceGroup;
  const resourceGroup = rgRaw === undefined ? undefined : parseResourceGroup(rgSource, rgRaw);

  const routeTables = resolveRouteTables(
    flags.routeTable ?? [],
    json.routeTableName,
    subscriptionId,
    resourceGroup,
  );

  const tenantId =
    json.tenantId === undefined ? undefined : parseGuid('azure.json "tenantId"', json.tenantId);
  const credential = allowInsecureEndpoint
    ? ({ kind: 'insecureTest' } as const)
    : flags.cloudConfig === undefined
      ? ({ kind: 'default' } as const)
      : credentialFrom(json, tenantId, environment.env, warnings);

  const operationTimeoutMs =
    flags.operationTimeout === undefined
      ? 300_000
      : parseDuration('--operation-timeout', flags.operationTimeout, 1);
  return {
    cloud: cloudName,
    discovery: cloudEndpoints.discovery,
    armEndpoint,
    tokenScope: cloudEndpoints.tokenScope,
    authorityHost: cloudEndpoints.authorityHost,
    tenantId,
    subscriptionId: routeTables[0]!.subscriptionId,
    routeTables,
    location: flags.location ?? json.location,
    // Upstream puts these on the route table it creates; systemTags only governs which tags it may later remove
    // from a table, and this controller never rewrites an existing table's tags, so it does not apply.
    tags: parseTags(flags.cloudConfig ?? 'azure.json', json.tags, json.tagsMap),
    credential,
    allowInsecureEndpoint,
    // Both at least 1ms: 0 would time every write out at once, or poll Azure in a busy loop.
    operationTimeoutMs,
    settleTimeoutMs: Math.min(30_000, operationTimeoutMs),
    pollIntervalMs:
      flags.pollInterval === undefined ? 2_000 : parseDuration('--poll-interval', flags.pollInterval, 1),
  };
}

export function loadSyncConfig(flags: SyncFlags, environment: Environment): SyncConfig {
  const common = loadCommonConfig(flags, environment);
  const createRouteTable = flags.createRouteTable === true;
  if (createRouteTable && !common.azure.location) {
    throw new ConfigError(
      '--create-route-table needs a region for the new table: pass --location (e.g. --location westeurope) or set "location" in azure.json',
    );
  }
  return deepFreeze({
    ...common,
    dryRun: flags.dryRun === true,
    output: parseChoice('--output', flags.output ?? 'text', ['text', 'json'] as const),
    createRouteTable,
  });
}

function readAzureJson(
  file: string | undefined,
  environment: Environment,
  warnings: string[],
  ignoredKeys: string[],
): AzureJson {
  if (file === undefined) return {};
  let text: string;
  try {
    text = environment.readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code ?? err);
    throw new ConfigError(
      `--cloud-config ${file}: cannot read the file (${why}); pass the path of your azure.json`,
    );
  }
  const loaded = parseAzureJson(file, text);
  warnings.push(...loaded.warnings);
  ignoredKeys.push(...loaded.ignoredKeys);
  return loaded.values;
}

/** cloud-provider-azure also accepts "AzurePublicCloud"-style names in other cases; normalise what it allows. */
function normaliseCloudAlias(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const aliases: Record<string, CloudName> = {
    azurecloud: 'AzurePublicCloud',
    azurepubliccloud: 'AzurePublicCloud',
    azurechinacloud: 'AzureChinaCloud',
    azureusgovernment: 'AzureUSGovernment',
    azureusgovernmentcloud: 'AzureUSGovernment',
    azurestackcloud: 'AzureStackCloud',
  };
  return aliases[value.toLowerCase()] ?? value;
}

/** Validates an ARM endpoint given by `source` (a flag or azure.json key, named in every message). */
function resolveEndpoint(
  source: string,
  flag: string,
  allowInsecure: boolean,
): { armEndpoint: string; allowInsecureEndpoint: boolean } {
  let url: URL;
  try {
    url = new URL(flag);
  } catch {
    throw new ConfigError(
      `${source}: "${flag}" is not a URL; use the Resource Manager endpoint, e.g. https://management.azure.com`,
    );
  }
  if (url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    throw new ConfigError(
      `${source}: "${flag}" must be a bare origin such as https://management.azure.com, without a path or query`,
    );
  }
  const origin = url.origin;
  if (url.protocol === 'https:') return { armEndpoint: origin, allowInsecureEndpoint: false };
  if (url.protocol !== 'http:') {
    throw new ConfigError(`${source}: "${flag}" must use https://`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
  if (!loopback || !allowInsecure) {
    throw new ConfigError(
      `${source}: "${flag}" uses plain http; Azure Resource Manager must be reached over https. ` +
        'Plain http is allowed only for a loopback simulator, together with --allow-insecure-arm-endpoint',
    );
  }
  return { armEndpoint: origin, allowInsecureEndpoint: true };
}

const TABLE_ID =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Network\/routeTables\/([^/]+)\/?$/i;

function resolveRouteTables(
  flags: readonly string[],
  jsonName: string | undefined,
  subscriptionId: string | undefined,
  resourceGroup: string | undefined,
): TableRef[] {
  const specs = flags.length > 0 ? flags.map((v) => ({ source: '--route-table', value: v.trim() })) : [];
  if (specs.length === 0 && jsonName !== undefined)
    specs.push({ source: 'azure.json "routeTableName"', value: jsonName });
  if (specs.length === 0) {
    throw new ConfigError(
      'no route table to manage: pass --route-table NAME (repeatable; RG/NAME or a resource ID also work) or set "routeTableName" in azure.json',
    );
  }
  const refs: TableRef[] = [];
  for (const { source, value } of specs) {
    const ref = parseTableSpec(source, value, subscriptionId, resourceGroup);
    const key = `${ref.subscriptionId}/${ref.resourceGroup}/${ref.name}`.toLowerCase();
    if (refs.some((r) => `${r.subscriptionId}/${r.resourceGroup}/${r.name}`.toLowerCase() === key)) {
      throw new ConfigError(`${source}: route table "${value}" is given twice; list each table once`);
    }
    refs.push(ref);
  }
  return refs;
}

function parseTableSpec(
  source: string,
  value: string,
  subscriptionId: string | undefined,
  resourceGroup: string | undefined,
): TableRef {
  const id = TABLE_ID.exec(value);
  if (id) {
    return {
      subscriptionId: parseGuid(`${source} ${value}`, id[1]!),
      resourceGroup: parseResourceGroup(source, id[2]!),
      name: parseRouteTableName(source, id[3]!),
    };
  }
  if (value.startsWith('/')) {
    throw new ConfigError(
      `${source}: "${value}" is not a route table resource ID; use /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Network/routeTables/NAME, RG/NAME or NAME`,
    );
  }
  const parts = value.split('/');
  if (parts.length > 2) {
    throw new ConfigError(`${source}: "${value}" is not valid; use NAME, RG/NAME or a full resource ID`);
  }
  const name = parseRouteTableName(source, parts.at(-1)!);
  const rg = parts.length === 2 ? parseResourceGroup(source, parts[0]!) : resourceGroup;
  if (rg === undefined) {
    throw new ConfigError(
      `${source}: no resource group for route table "${name}"; pass --resource-group, write RG/${name}, or set "routeTableResourceGroup" or "resourceGroup" in azure.json`,
    );
  }
  if (subscriptionId === undefined) {
    throw new ConfigError(
      `no subscription for route table "${name}": pass --subscription-id, set "subscriptionId" in azure.json, or give the table's full resource ID`,
    );
  }
  return { subscriptionId, resourceGroup: rg, name };
}

function resolveClusterCidrs(values: readonly string[], warnings: string[]): string[] {
  const out: string[] = [];
  if (values.some((v) => v.trim() === '')) {
    // An empty value is most often an unset shell variable: name it rather than report a missing flag.
    throw new ConfigError(`--cluster-cidr: the value is empty; ${CLUSTER_CIDR_HELP}`);
  }
  for (const item of values.flatMap((v) => v.split(','))) {
    const text = item.trim();
    if (text === '') continue;
    const parsed = normalizeClusterCidr(text);
    if (!parsed.ok) {
      throw new ConfigError(
        `--cluster-cidr: "${text}" is not a CIDR; use the cluster's pod range(s), e.g. 10.244.0.0/16 or 10.244.0.0/16,fd00:10:244::/56`,
      );
    }
    if (parsed.prefixLength === 0) {
      throw new ConfigError(
        `--cluster-cidr: "${text}" covers every address, so every route in the table would count as ours (including foreign ones like 0.0.0.0/0); give the cluster's pod range`,
      );
    }
    if (parsed.hadHostBits) {
      warnings.push(`--cluster-cidr: "${text}" has host bits set; using ${parsed.cidr}`);
    }
    if (!out.includes(parsed.cidr)) out.push(parsed.cidr);
  }
  if (out.length === 0) {
    // DESIGN 2.1: ownership is by range only. Without the range nothing can be told ours from another
    // cluster's routes of the same name scheme, so refuse to run rather than guess (upstream requires it too).
    throw new ConfigError(`--cluster-cidr is required; ${CLUSTER_CIDR_HELP}`);
  }
  return out;
}

const CLUSTER_CIDR_HELP =
  "give the cluster's pod range(s), e.g. --cluster-cidr 10.244.0.0/16 (dual-stack: 10.244.0.0/16,fd00:10:244::/56). " +
  "It is kube-controller-manager's --cluster-cidr, kubeadm's networking.podSubnet " +
  '(kubectl -n kube-system get configmap kubeadm-config -o yaml), or 10.200.0.0/16 in Kubernetes the Hard Way. ' +
  'Routes inside it are ours; every other route is left alone';

/**
 * The credential, chosen in upstream's order and on upstream's conditions (pkg/azclient/auth.go, ADR 9): workload
 * identity when AZURE_FEDERATED_TOKEN_FILE is set or "useFederatedWorkloadIdentityExtension" is true; then a
 * managed identity when "useManagedIdentityExtension" is true; then a client secret; then a client certificate.
 * As upstream, AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET (what the workload identity webhook
 * injects) win over the azure.json keys. Without any of them: the default chain (DESIGN 4).
 */
function credentialFrom(
  json: AzureJson,
  jsonTenantId: string | undefined,
  env: Environment['env'],
  warnings: string[],
): CredentialSpec {
  if (json.identitySystem !== undefined && json.identitySystem.toLowerCase() === 'adfs') {
    throw new ConfigError(
      'azure.json "identitySystem": "adfs" (Azure Stack Hub with AD FS) is not supported; use Microsoft Entra ID ("azure_ad", the default)',
    );
  }
  const ids = identityInputs(json, jsonTenantId, env);
  return (
    workloadIdentity(json, ids, warnings) ??
    managedIdentity(json, ids) ??
    servicePrincipal(json, ids) ??
    defaultCredential(json)
  );
}

/** The IDs and secrets a credential may use, the webhook's environment winning over the file (as upstream). */
interface IdentityInputs {
  readonly tenantId: string | undefined;
  readonly clientId: string | undefined;
  readonly clientSecret: string | undefined;
  readonly envTokenFile: string | undefined;
  /** networkResourceTenantID differs from the tenant: the route tables live in another tenant. */
  readonly multiTenant: boolean;
}

function identityInputs(
  json: AzureJson,
  jsonTenantId: string | undefined,
  env: Environment['env'],
): IdentityInputs {
  const fromEnv = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const envTenant = fromEnv('AZURE_TENANT_ID');
  const tenantId = envTenant !== undefined ? parseGuid('AZURE_TENANT_ID', envTenant) : jsonTenantId;
  return {
    tenantId,
    clientId: fromEnv('AZURE_CLIENT_ID') ?? json.aadClientId,
    clientSecret: fromEnv('AZURE_CLIENT_SECRET') ?? json.aadClientSecret,
    envTokenFile: fromEnv('AZURE_FEDERATED_TOKEN_FILE'),
    multiTenant:
      json.networkResourceTenantID !== undefined &&
      json.networkResourceTenantID.toLowerCase() !== (tenantId ?? '').toLowerCase(),
  };
}

function need(value: string | undefined, what: string, mode: string): string {
  if (value === undefined) {
    throw new ConfigError(`azure.json: ${mode} needs ${what}; add it, or remove the ${mode} keys`);
  }
  return value;
}

const TENANT_HELP = '"tenantId" (or AZURE_TENANT_ID)';
const CLIENT_HELP = '"aadClientId" (or AZURE_CLIENT_ID)';

function workloadIdentity(
  json: AzureJson,
  ids: IdentityInputs,
  warnings: string[],
): CredentialSpec | undefined {
  if (ids.envTokenFile === undefined && json.useFederatedWorkloadIdentityExtension !== true) {
    if (json.aadFederatedTokenFile !== undefined) {
      warnings.push(
        'azure.json "aadFederatedTokenFile" is set but "useFederatedWorkloadIdentityExtension" is not true, so the token file is not used (as in cloud-provider-azure); set it to true to use workload identity',
      );
    }
    return undefined;
  }
  const mode = 'workload identity ("useFederatedWorkloadIdentityExtension")';
  return {
    kind: 'workloadIdentity',
    tenantId: need(ids.tenantId, TENANT_HELP, mode),
    clientId: need(ids.clientId, CLIENT_HELP, mode),
    tokenFilePath: need(
      ids.envTokenFile ?? json.aadFederatedTokenFile,
      '"aadFederatedTokenFile" (or AZURE_FEDERATED_TOKEN_FILE)',
      mode,
    ),
  };
}

function managedIdentity(json: AzureJson, ids: IdentityInputs): CredentialSpec | undefined {
  if (json.useManagedIdentityExtension !== true) return undefined;
  if (ids.multiTenant) {
    throw new ConfigError(
      'azure.json "networkResourceTenantID" differs from "tenantId": with a managed identity cloud-provider-azure reaches the other tenant through an auxiliary token in Key Vault, which this controller does not support; use a service principal ("aadClientId" with "aadClientSecret" or "aadClientCertPath")',
    );
  }
  const id = json.userAssignedIdentityID;
  return isResourceId(id)
    ? { kind: 'managedIdentity', resourceId: id }
    : { kind: 'managedIdentity', clientId: id };
}

/** A secret before a certificate, as upstream; in the network resources' tenant when that differs. */
function servicePrincipal(json: AzureJson, ids: IdentityInputs): CredentialSpec | undefined {
  const tenant = (mode: string): string =>
    ids.multiTenant
      ? parseGuid('azure.json "networkResourceTenantID"', json.networkResourceTenantID!)
      : need(ids.tenantId, TENANT_HELP, mode);
  if (ids.clientSecret !== undefined) {
    const mode = 'a client secret ("aadClientSecret")';
    return {
      kind: 'clientSecret',
      tenantId: tenant(mode),
      clientId: need(ids.clientId, CLIENT_HELP, mode),
      clientSecret: ids.clientSecret,
    };
  }
  if (json.aadClientCertPath !== undefined) {
    const mode = 'a client certificate ("aadClientCertPath")';
    return {
      kind: 'clientCertificate',
      tenantId: tenant(mode),
      clientId: need(ids.clientId, CLIENT_HELP, mode),
      certificatePath: json.aadClientCertPath,
      certificatePassword: json.aadClientCertPassword,
    };
  }
  return undefined;
}

function defaultCredential(json: AzureJson): CredentialSpec {
  if (json.aadMSIDataPlaneIdentityPath !== undefined) {
    throw new ConfigError(
      'azure.json "aadMSIDataPlaneIdentityPath" (msi-dataplane credentials) is not supported; use "useManagedIdentityExtension", workload identity or a service principal',
    );
  }
  const id = json.userAssignedIdentityID;
  return isResourceId(id)
    ? { kind: 'default', managedIdentityResourceId: id }
    : { kind: 'default', managedIdentityClientId: id };
}

/** Upstream tells a user-assigned identity's resource ID from its client ID by the /subscriptions/ segment. */
function isResourceId(id: string | undefined): id is string {
  return id !== undefined && id.toUpperCase().includes('/SUBSCRIPTIONS/');
}

interface CloudEndpoints {
  readonly cloudName: CloudName;
  readonly armEndpoint: string;
  readonly allowInsecureEndpoint: boolean;
  readonly tokenScope: string;
  readonly authorityHost: string;
  readonly discovery?: CloudDiscovery | undefined;
}

/**
 * The cloud and its endpoints. As upstream (pkg/azclient/cloud.go): an azure.json "resourceManagerEndpoint" means
 * the audience and authority are read from its metadata endpoint at start-up; for AzureStackCloud the file named
 * by AZURE_ENVIRONMENT_FILEPATH wins over the metadata. --arm-endpoint alone keeps the scope of its origin, except
 * on AzureStackCloud, whose audience is never the endpoint's origin.
 */
function resolveCloud(flags: CommonFlags, json: AzureJson, environment: Environment): CloudEndpoints {
  const cloudName = parseChoice(
    flags.cloud !== undefined ? '--cloud' : 'azure.json "cloud"',
    flags.cloud ?? normaliseCloudAlias(json.cloud) ?? 'AzurePublicCloud',
    CLOUDS,
  );
  const cloud = cloudSettings(cloudName);
  const allowInsecure = flags.allowInsecureArmEndpoint === true;
  const stack = cloudName === 'AzureStackCloud';
  const envFile = stack ? environment.env['AZURE_ENVIRONMENT_FILEPATH'] : undefined;
  const overrides = envFile ? readEnvironmentFile(envFile, environment, allowInsecure) : {};
  const source =
    flags.armEndpoint !== undefined
      ? '--arm-endpoint'
      : json.resourceManagerEndpoint !== undefined
        ? 'azure.json "resourceManagerEndpoint"'
        : undefined;
  const raw = flags.armEndpoint ?? json.resourceManagerEndpoint;
  if (stack && raw === undefined && overrides.armEndpoint === undefined) {
    throw new ConfigError(
      'cloud AzureStackCloud needs its Resource Manager endpoint: set "resourceManagerEndpoint" in azure.json (e.g. https://management.local.azurestack.external) or pass --arm-endpoint, or point AZURE_ENVIRONMENT_FILEPATH at an environment file with "resourceManagerEndpoint"',
    );
  }
  if (raw === undefined && overrides.armEndpoint === undefined) {
    if (allowInsecure) {
      throw new ConfigError(
        '--allow-insecure-arm-endpoint only applies with an http:// loopback --arm-endpoint (a simulator); remove it',
      );
    }
    return { cloudName, ...cloud, allowInsecureEndpoint: false };
  }
  const { armEndpoint, allowInsecureEndpoint } =
    raw !== undefined
      ? resolveEndpoint(source!, raw, allowInsecure)
      : { armEndpoint: overrides.armEndpoint!, allowInsecureEndpoint: false };
  const discover = !allowInsecureEndpoint && (stack || flags.armEndpoint === undefined);
  if (!discover) {
    return {
      cloudName,
      armEndpoint,
      allowInsecureEndpoint,
      tokenScope: tokenScopeFor(armEndpoint),
      authorityHost: cloud.authorityHost,
    };
  }
  return {
    cloudName,
    armEndpoint: overrides.armEndpoint ?? armEndpoint,
    allowInsecureEndpoint,
    tokenScope: overrides.audience ? scopeForAudience(overrides.audience) : tokenScopeFor(armEndpoint),
    authorityHost: overrides.authorityHost ?? cloud.authorityHost,
    discovery: {
      metadataUrl: metadataUrlFor(armEndpoint),
      cloudName,
      source: source ?? `AZURE_ENVIRONMENT_FILEPATH ${envFile}`,
      overrides,
    },
  };
}

/** Upstream's AZURE_ENVIRONMENT_FILEPATH file: an endpoint with its audience, and the login endpoint. */
function readEnvironmentFile(
  file: string,
  environment: Environment,
  allowInsecure: boolean,
): CloudDiscovery['overrides'] {
  const where = `AZURE_ENVIRONMENT_FILEPATH ${file}`;
  let raw: unknown;
  try {
    raw = JSON.parse(environment.readFile(file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code !== undefined ? String(code) : 'not valid JSON';
    throw new ConfigError(
      `${where}: cannot read it (${why}); point it at the Azure Stack Hub environment JSON file, or unset it`,
    );
  }
  const obj = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const str = (key: string): string | undefined => {
    const v = obj[key];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw new ConfigError(`${where}: key "${key}" must be a string`);
    return v.trim();
  };
  const endpoint = str('resourceManagerEndpoint');
  const audience = str('tokenAudience');
  const login = str('activeDirectoryEndpoint');
  // Upstream takes the endpoint and the audience only together.
  const both = endpoint !== undefined && audience !== undefined;
  return {
    armEndpoint: both
      ? resolveEndpoint(`${where} "resourceManagerEndpoint"`, endpoint, allowInsecure).armEndpoint
      : undefined,
    audience: both ? audience : undefined,
    authorityHost: login === undefined ? undefined : login.replace(/\/+$/, ''),
  };
}

/**
 * Where the kubeconfig is looked for, in kubectl's order (DESIGN 4): --kubeconfig; then $KUBECONFIG (a list,
 * merged); then the in-cluster configuration; then ~/.kube/config under $HOME. The kube adapter tries them.
 */
function resolveKubeconfig(flags: CommonFlags, env: Environment['env']): KubeconfigSearch {
  if (flags.context !== undefined && flags.context.trim() === '') {
    throw new ConfigError(
      '--context: the value is empty; give a context name from the kubeconfig (kubectl config get-contexts)',
    );
  }
  const home = env['HOME'];
  return {
    flag: flags.kubeconfig,
    envFiles: (env['KUBECONFIG'] ?? '').split(delimiter).filter((p) => p !== ''),
    homeFile: home !== undefined && home !== '' ? join(home, '.kube', 'config') : undefined,
    context: flags.context?.trim(),
  };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
