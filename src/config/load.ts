// Builds the one frozen Config from flags > azure.json > defaults. The only module that reads files or env.
import { readFileSync } from 'node:fs';
import { delimiter } from 'node:path';
import { cloudSettings, tokenScopeFor } from '../azure/clouds.ts';
import type { TableRef } from '../azure/types.ts';
import { normalizeClusterCidr } from '../domain/cidr.ts';
import { parseAzureJson, type AzureJson } from './azure-json.ts';
import { ConfigError } from './errors.ts';
import type { AzureConfig, CloudName, CommonConfig, CredentialSpec, SyncConfig } from './types.ts';
import {
  parseChoice,
  parseDuration,
  parseGuid,
  parseInteger,
  parseResourceGroup,
  parseRouteTableName,
} from './values.ts';

export const CLOUDS: readonly CloudName[] = ['AzurePublicCloud', 'AzureChinaCloud', 'AzureUSGovernment'];
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

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
  nodeConditions?: boolean;
  logLevel?: string;
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
  const json = readAzureJson(flags.cloudConfig, environment, warnings);

  const cloudName = parseChoice(
    flags.cloud !== undefined ? '--cloud' : 'azure.json "cloud"',
    flags.cloud ?? normaliseCloudAlias(json.cloud) ?? 'AzurePublicCloud',
    CLOUDS,
  );
  const cloud = cloudSettings(cloudName);
  const { armEndpoint, allowInsecureEndpoint } = resolveEndpoint(
    flags.armEndpoint,
    cloud.armEndpoint,
    flags.allowInsecureArmEndpoint === true,
  );

  const subscriptionSource =
    flags.subscriptionId !== undefined ? '--subscription-id' : 'azure.json "subscriptionId"';
  const subscriptionRaw = flags.subscriptionId ?? json.subscriptionId;
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
  const clusterCIDRs = resolveClusterCidrs(flags.clusterCidr ?? [], warnings);

  const tenantId =
    json.tenantId === undefined ? undefined : parseGuid('azure.json "tenantId"', json.tenantId);
  const credential = allowInsecureEndpoint
    ? ({ kind: 'insecureTest' } as const)
    : credentialFrom(json, tenantId);

  const azure: AzureConfig = {
    cloud: cloudName,
    armEndpoint,
    tokenScope: flags.armEndpoint !== undefined ? tokenScopeFor(armEndpoint) : cloud.tokenScope,
    authorityHost: cloud.authorityHost,
    tenantId,
    subscriptionId: routeTables[0]!.subscriptionId,
    routeTables,
    location: flags.location ?? json.location,
    credential,
    allowInsecureEndpoint,
    // Both at least 1ms: 0 would time every write out at once, or poll Azure in a busy loop.
    operationTimeoutMs:
      flags.operationTimeout === undefined
        ? 300_000
        : parseDuration('--operation-timeout', flags.operationTimeout, 1),
    pollIntervalMs:
      flags.pollInterval === undefined ? 2_000 : parseDuration('--poll-interval', flags.pollInterval, 1),
  };

  const kubeconfig = resolveKubeconfig(flags.kubeconfig, environment.env['KUBECONFIG'], warnings);

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
    kubeconfig,
    nodeConditions: flags.nodeConditions !== false,
    allowEmptyNodeList: flags.allowEmptyNodeList === true,
    maxWriteAttempts:
      flags.maxWriteAttempts === undefined
        ? 5
        : parseInteger('--max-write-attempts', flags.maxWriteAttempts, 1, 100),
    logLevel: parseChoice('--log-level', flags.logLevel ?? 'info', LOG_LEVELS),
    warnings,
  });
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

function readAzureJson(file: string | undefined, environment: Environment, warnings: string[]): AzureJson {
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
  };
  return aliases[value.toLowerCase()] ?? value;
}

function resolveEndpoint(
  flag: string | undefined,
  cloudDefault: string,
  allowInsecure: boolean,
): { armEndpoint: string; allowInsecureEndpoint: boolean } {
  if (flag === undefined) {
    if (allowInsecure) {
      throw new ConfigError(
        '--allow-insecure-arm-endpoint only applies with an http:// loopback --arm-endpoint (a simulator); remove it',
      );
    }
    return { armEndpoint: cloudDefault, allowInsecureEndpoint: false };
  }
  let url: URL;
  try {
    url = new URL(flag);
  } catch {
    throw new ConfigError(
      `--arm-endpoint: "${flag}" is not a URL; use the Resource Manager endpoint, e.g. https://management.azure.com`,
    );
  }
  if (url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    throw new ConfigError(
      `--arm-endpoint: "${flag}" must be a bare origin such as https://management.azure.com, without a path or query`,
    );
  }
  const origin = url.origin;
  if (url.protocol === 'https:') return { armEndpoint: origin, allowInsecureEndpoint: false };
  if (url.protocol !== 'http:') {
    throw new ConfigError(`--arm-endpoint: "${flag}" must use https://`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
  if (!loopback || !allowInsecure) {
    throw new ConfigError(
      `--arm-endpoint: "${flag}" uses plain http; Azure Resource Manager must be reached over https. ` +
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

function credentialFrom(json: AzureJson, tenantId: string | undefined): CredentialSpec {
  const need = (key: keyof AzureJson, value: string | undefined, mode: string): string => {
    if (value === undefined) {
      throw new ConfigError(
        `azure.json: ${mode} needs "${key}"; add it, or remove the ${mode} keys to use the default credential chain`,
      );
    }
    return value;
  };
  if (json.useFederatedWorkloadIdentityExtension === true || json.aadFederatedTokenFile !== undefined) {
    return {
      kind: 'workloadIdentity',
      tenantId,
      clientId: json.aadClientId,
      tokenFilePath: json.aadFederatedTokenFile,
    };
  }
  if (json.useManagedIdentityExtension === true) {
    return { kind: 'managedIdentity', clientId: json.userAssignedIdentityID };
  }
  if (json.aadClientCertPath !== undefined) {
    const mode = 'a client certificate ("aadClientCertPath")';
    return {
      kind: 'clientCertificate',
      tenantId: need('tenantId', tenantId, mode),
      clientId: need('aadClientId', json.aadClientId, mode),
      certificatePath: json.aadClientCertPath,
      certificatePassword: json.aadClientCertPassword,
    };
  }
  if (json.aadClientSecret !== undefined) {
    const mode = 'a client secret ("aadClientSecret")';
    return {
      kind: 'clientSecret',
      tenantId: need('tenantId', tenantId, mode),
      clientId: need('aadClientId', json.aadClientId, mode),
      clientSecret: json.aadClientSecret,
    };
  }
  return { kind: 'default', managedIdentityClientId: json.userAssignedIdentityID };
}

function resolveKubeconfig(
  flag: string | undefined,
  env: string | undefined,
  warnings: string[],
): string | undefined {
  if (flag !== undefined) return flag;
  if (env === undefined || env === '') return undefined; // in-cluster configuration
  const paths = env.split(delimiter).filter((p) => p !== '');
  if (paths.length > 1) {
    warnings.push(
      `$KUBECONFIG lists ${paths.length} files; using the first, ${paths[0]}; pass --kubeconfig to choose`,
    );
  }
  return paths[0];
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
