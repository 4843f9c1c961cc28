// The cloud-provider-azure configuration file (azure.json), read key by key as upstream reads it (ADR 9): the keys
// that matter to routes are type-checked once; every other key upstream defines is known, so it is ignored
// quietly (listed for a debug log) instead of being called misspelt.
import { ConfigError } from './errors.ts';

export interface AzureJson {
  cloud?: string;
  tenantId?: string;
  subscriptionId?: string;
  resourceGroup?: string;
  location?: string;
  routeTableName?: string;
  routeTableResourceGroup?: string;
  aadClientId?: string;
  aadClientSecret?: string;
  aadClientCertPath?: string;
  aadClientCertPassword?: string;
  useManagedIdentityExtension?: boolean;
  userAssignedIdentityID?: string;
  aadFederatedTokenFile?: string;
  useFederatedWorkloadIdentityExtension?: boolean;
  resourceManagerEndpoint?: string;
  identitySystem?: string;
  networkResourceTenantID?: string;
  networkResourceSubscriptionID?: string;
  aadMSIDataPlaneIdentityPath?: string;
  /** `a=b,c=d`: tags upstream puts on the route table it manages. */
  tags?: string;
  tagsMap?: Readonly<Record<string, string>>;
  /** Comma-separated tag keys (or key prefixes) upstream owns on shared resources. */
  systemTags?: string;
}

const STRING_KEYS = [
  'cloud',
  'tenantId',
  'subscriptionId',
  'resourceGroup',
  'location',
  'routeTableName',
  'routeTableResourceGroup',
  'aadClientId',
  'aadClientSecret',
  'aadClientCertPath',
  'aadClientCertPassword',
  'userAssignedIdentityID',
  'aadFederatedTokenFile',
  'resourceManagerEndpoint',
  'identitySystem',
  'networkResourceTenantID',
  'networkResourceSubscriptionID',
  'aadMSIDataPlaneIdentityPath',
  'tags',
  'systemTags',
] as const;
const BOOLEAN_KEYS = ['useManagedIdentityExtension', 'useFederatedWorkloadIdentityExtension'] as const;
const STRING_MAP_KEYS = ['tagsMap'] as const;

/**
 * Every other key that cloud-provider-azure's Config (pkg/provider/config/azure.go and the structs it inlines:
 * azure_auth.go, azure_cache.go, pkg/azclient/arm_conf.go, auth_conf.go, policy/ratelimit) defines. They configure
 * load balancers, caches, VM sets, rate limits and retries of the CCM; none changes how routes are written here.
 */
const UPSTREAM_IGNORED_KEYS = new Set([
  // pkg/provider/config/azure.go
  'cloudConfigType',
  'extendedLocationName',
  'extendedLocationType',
  'vnetName',
  'vnetResourceGroup',
  'subnetName',
  'securityGroupName',
  'securityGroupResourceGroup',
  'primaryAvailabilitySetName',
  'vmType',
  'primaryScaleSetName',
  'loadBalancerSku',
  'loadBalancerName',
  'loadBalancerResourceGroup',
  'preConfiguredBackendPoolLoadBalancerTypes',
  'disableAvailabilitySetNodes',
  'enableVmssFlexNodes',
  'useInstanceMetadata',
  'cloudProviderBackoffExponent',
  'cloudProviderBackoffJitter',
  'excludeMasterFromStandardLB',
  'disableOutboundSNAT',
  'maximumLoadBalancerRuleCount',
  'loadBalancerBackendPoolConfigurationType',
  'putVMSSVMBatchSize',
  'privateLinkServiceResourceGroup',
  'enableMigrateToIPBasedBackendPoolAPI',
  'enableIPTagMutationForExistingPublicIP',
  'multipleStandardLoadBalancerConfigurations',
  'routeUpdateIntervalInSeconds',
  'loadBalancerBackendPoolUpdateIntervalInSeconds',
  'clusterServiceLoadBalancerHealthProbeMode',
  'clusterServiceSharedLoadBalancerHealthProbePort',
  'clusterServiceSharedLoadBalancerHealthProbePath',
  'serviceGatewayEnabled',
  'nodeInstanceNotFoundGracePeriodInSeconds',
  // Older releases' keys, still in files written for them.
  'enableMultipleStandardLoadBalancers',
  'nodePoolsWithoutDedicatedSLB',
  'cloudProviderBackoffMode',
  'availabilitySetNodesCacheTTLInSeconds',
  'nsgCacheTTLInSeconds',
  // pkg/provider/config/azure_auth.go
  'cloudProviderBackoffRetries',
  'cloudProviderBackoffDuration',
  // pkg/azclient/arm_conf.go
  'userAgent',
  'cloudProviderBackoff',
  'disableAzureStackCloud',
  'enableMinimumRetryAfter',
  // pkg/azclient/auth_conf.go
  'auxiliaryTokenProvider',
  'auxiliaryTokenSecretURI',
  // pkg/provider/config/azure_cache.go
  'disableAPICallCache',
  'nonVmssUniformNodesCacheTTLInSeconds',
  'vmssCacheTTLInSeconds',
  'vmssVirtualMachinesCacheTTLInSeconds',
  'listVmssVirtualMachinesWithoutInstanceView',
  'vmssFlexCacheTTLInSeconds',
  'vmssFlexVMCacheTTLInSeconds',
  'vmCacheTTLInSeconds',
  'loadBalancerCacheTTLInSeconds',
  'routeTableCacheTTLInSeconds',
  'plsCacheTTLInSeconds',
  'availabilitySetsCacheTTLInSeconds',
  'publicIPCacheTTLInSeconds',
  'routeUpdateWaitingInSeconds',
  // pkg/azclient/policy/ratelimit: the defaults, then one entry per client (<client>RateLimit).
  'cloudProviderRateLimit',
  'cloudProviderRateLimitQPS',
  'cloudProviderRateLimitBucket',
  'cloudProviderRateLimitQPSWrite',
  'cloudProviderRateLimitBucketWrite',
  'routeRateLimit',
  'subnetsRateLimit',
  'interfaceRateLimit',
  'routeTableRateLimit',
  'loadBalancerRateLimit',
  'publicIPAddressRateLimit',
  'securityGroupRateLimit',
  'virtualMachineRateLimit',
  'storageAccountRateLimit',
  'diskRateLimit',
  'snapshotRateLimit',
  'virtualMachineScaleSetRateLimit',
  'virtualMachineSizesRateLimit',
  'availabilitySetRateLimit',
  'attachDetachDiskRateLimit',
  'containerServiceRateLimit',
  'deploymentRateLimit',
  'privateDNSRateLimit',
  'privateDNSZoneGroupRateLimit',
  'privateEndpointRateLimit',
  'privateLinkServiceRateLimit',
  'virtualNetworkRateLimit',
  'ipGroupRateLimit',
  'natGatewayRateLimit',
  'serviceGatewayRateLimit',
]);

export interface LoadedAzureJson {
  readonly values: AzureJson;
  readonly warnings: string[];
  /** Keys upstream defines that do not apply to routes; worth a debug line, not a warning. */
  readonly ignoredKeys: string[];
}

/** Parses azure.json text. `file` is the path, used in every message. */
export function parseAzureJson(file: string, text: string): LoadedAzureJson {
  const input = parseObject(file, text);
  const values: Record<string, unknown> = {};
  for (const key of STRING_KEYS) {
    const v = input[key];
    if (v === undefined || v === null || v === '') continue;
    if (typeof v !== 'string') {
      throw new ConfigError(`--cloud-config ${file}: key "${key}" must be a string, found ${describe(v)}`);
    }
    const trimmed = v.trim();
    if (trimmed !== '') values[key] = trimmed;
  }
  for (const key of BOOLEAN_KEYS) {
    const v = input[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'boolean') {
      throw new ConfigError(
        `--cloud-config ${file}: key "${key}" must be true or false, found ${describe(v)}`,
      );
    }
    values[key] = v;
  }
  for (const key of STRING_MAP_KEYS) {
    const v = input[key];
    if (v === undefined || v === null) continue;
    values[key] = stringMap(file, key, v);
  }
  const read = new Set<string>([...STRING_KEYS, ...BOOLEAN_KEYS, ...STRING_MAP_KEYS]);
  const ignoredKeys = Object.keys(input).filter((k) => UPSTREAM_IGNORED_KEYS.has(k));
  const unknown = Object.keys(input).filter((k) => !read.has(k) && !UPSTREAM_IGNORED_KEYS.has(k));
  const warnings: string[] = [];
  if (unknown.length > 0) {
    warnings.push(
      `--cloud-config ${file}: ignoring unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; cloud-provider-azure does not define ${unknown.length > 1 ? 'them' : 'it'}: check the spelling (keys are case-sensitive)`,
    );
  }
  return { values: values as AzureJson, warnings, ignoredKeys };
}

/**
 * Upstream's `tags` format, `a=b,c=d`, as a map; `tagsMap` entries win over `tags` ones with the same key, as
 * upstream merges them. `file` names the azure.json in messages.
 */
export function parseTags(
  file: string,
  tags: string | undefined,
  tagsMap?: Readonly<Record<string, string>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of (tags ?? '').split(',')) {
    if (item.trim() === '') continue;
    const eq = item.indexOf('=');
    const key = (eq < 0 ? item : item.slice(0, eq)).trim();
    if (key === '') {
      throw new ConfigError(
        `--cloud-config ${file}: key "tags" has an entry without a name ("${item.trim()}"); write it as a=b,c=d`,
      );
    }
    out[key] = eq < 0 ? '' : item.slice(eq + 1).trim();
  }
  for (const [key, value] of Object.entries(tagsMap ?? {})) out[key] = value;
  return out;
}

function parseObject(file: string, text: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    const detail = syntaxErrorDetail(err);
    throw new ConfigError(
      `--cloud-config ${file}: not valid JSON (${detail}); it must be an azure.json object in the cloud-provider-azure format`,
    );
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(
      `--cloud-config ${file}: expected a JSON object of azure.json keys, found ${describe(raw)}`,
    );
  }
  return raw as Record<string, unknown>;
}

function stringMap(file: string, key: string, v: unknown): Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ConfigError(
      `--cloud-config ${file}: key "${key}" must be an object of string values, found ${describe(v)}`,
    );
  }
  const out: Record<string, string> = {};
  for (const [k, value] of Object.entries(v)) {
    if (typeof value !== 'string') {
      throw new ConfigError(
        `--cloud-config ${file}: key "${key}" entry "${k}" must be a string, found ${describe(value)}`,
      );
    }
    out[k] = value;
  }
  return out;
}

/**
 * JSON.parse's message without the slice of input V8 quotes in it ('Unexpected token 's', ..."Secret": s3cr3t}"
 * is not valid JSON'): azure.json holds aadClientSecret, and the slice may also hold a newline, which would break
 * the one-line error. What is left names the mistake and, in most forms, its line and column.
 */
function syntaxErrorDetail(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message
    .replace(/, (?:\.\.\.)?"[\s\S]*"(?:\.\.\.)? is not valid JSON$/, '')
    .replace(/\s+/g, ' ')
    .trim();
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return 'a string';
  return `a ${typeof v}`;
}
