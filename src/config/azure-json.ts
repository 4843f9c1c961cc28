// The cloud-provider-azure configuration file (azure.json): the keys we read, type-checked once.
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
] as const;
const BOOLEAN_KEYS = ['useManagedIdentityExtension', 'useFederatedWorkloadIdentityExtension'] as const;

// Keys of the same file that other cloud-provider-azure components read. They are expected in a shared
// azure.json, so they do not earn an "unknown key" warning.
const OTHER_KNOWN_KEYS = new Set([
  'vnetName',
  'vnetResourceGroup',
  'subnetName',
  'securityGroupName',
  'securityGroupResourceGroup',
  'primaryAvailabilitySetName',
  'primaryScaleSetName',
  'vmType',
  'loadBalancerSku',
  'loadBalancerName',
  'loadBalancerResourceGroup',
  'excludeMasterFromStandardLB',
  'disableOutboundSNAT',
  'maximumLoadBalancerRuleCount',
  'useInstanceMetadata',
  'cloudProviderBackoff',
  'cloudProviderBackoffMode',
  'cloudProviderBackoffRetries',
  'cloudProviderBackoffExponent',
  'cloudProviderBackoffDuration',
  'cloudProviderBackoffJitter',
  'cloudProviderRateLimit',
  'cloudProviderRateLimitQPS',
  'cloudProviderRateLimitBucket',
  'cloudProviderRateLimitQPSWrite',
  'cloudProviderRateLimitBucketWrite',
  'identitySystem',
  'userAgent',
  'enableMultipleStandardLoadBalancers',
  'putVMSSVMBatchSize',
  'nodePoolsWithoutDedicatedSLB',
  'networkResourceTenantID',
  'networkResourceSubscriptionID',
  'aadMSIDataPlaneIdentityPath',
  'availabilitySetNodesCacheTTLInSeconds',
  'vmssCacheTTLInSeconds',
  'vmssVirtualMachinesCacheTTLInSeconds',
  'vmCacheTTLInSeconds',
  'loadBalancerCacheTTLInSeconds',
  'nsgCacheTTLInSeconds',
  'routeTableCacheTTLInSeconds',
  'routeUpdateWaitingInSeconds',
  'enableMigrateToIPBasedBackendPoolAPI',
  'clusterServiceLoadBalancerHealthProbeMode',
  'clusterServiceSharedLoadBalancerHealthProbePort',
  'clusterServiceSharedLoadBalancerHealthProbePath',
  'extendedLocationName',
  'extendedLocationType',
]);

export interface LoadedAzureJson {
  readonly values: AzureJson;
  readonly warnings: string[];
}

/** Parses azure.json text. `file` is the path, used in every message. */
export function parseAzureJson(file: string, text: string): LoadedAzureJson {
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
  const input = raw as Record<string, unknown>;
  const values: Record<string, unknown> = {};
  const warnings: string[] = [];
  for (const key of STRING_KEYS) {
    const v = input[key];
    if (v === undefined || v === null || v === '') continue;
    if (typeof v !== 'string') {
      throw new ConfigError(`--cloud-config ${file}: key "${key}" must be a string, found ${describe(v)}`);
    }
    values[key] = v.trim();
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
  const read = new Set<string>([...STRING_KEYS, ...BOOLEAN_KEYS]);
  const unknown = Object.keys(input).filter((k) => !read.has(k) && !OTHER_KNOWN_KEYS.has(k));
  if (unknown.length > 0) {
    warnings.push(
      `--cloud-config ${file}: ignoring unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; check the spelling (keys are case-sensitive)`,
    );
  }
  return { values: values as AzureJson, warnings };
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
