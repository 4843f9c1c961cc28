// The per-cloud endpoints, and the metadata endpoint that gives them for Azure Stack Hub and custom clouds (ADR 9).
import type { AzureConfig, CloudDiscovery, CloudName } from '../config/types.ts';
import { AzureError } from './errors.ts';

export interface CloudSettings {
  readonly name: CloudName;
  /** Resource Manager endpoint, without a trailing slash. */
  readonly armEndpoint: string;
  /** Microsoft Entra authority host. */
  readonly authorityHost: string;
  /** The audience of Resource Manager tokens (the endpoint's origin). */
  readonly audience: string;
  /** `<audience>/.default`: the scope a client-credential token is requested for. */
  readonly tokenScope: string;
}

/** The clouds whose endpoints are built in. AzureStackCloud's come from its metadata endpoint. */
export const CLOUD_NAMES: readonly CloudName[] = ['AzurePublicCloud', 'AzureChinaCloud', 'AzureUSGovernment'];

const ENDPOINTS: Readonly<
  Record<
    Exclude<CloudName, 'AzureStackCloud'>,
    { readonly armEndpoint: string; readonly authorityHost: string }
  >
> = {
  AzurePublicCloud: {
    armEndpoint: 'https://management.azure.com',
    authorityHost: 'https://login.microsoftonline.com',
  },
  AzureChinaCloud: {
    armEndpoint: 'https://management.chinacloudapi.cn',
    authorityHost: 'https://login.chinacloudapi.cn',
  },
  AzureUSGovernment: {
    armEndpoint: 'https://management.usgovcloudapi.net',
    authorityHost: 'https://login.microsoftonline.us',
  },
};

export function isCloudName(value: string): value is CloudName {
  return (CLOUD_NAMES as readonly string[]).includes(value);
}

/** Built-in endpoints; AzureStackCloud starts from the public cloud's until its metadata is read. */
export function cloudSettings(name: CloudName): CloudSettings {
  const endpoints = ENDPOINTS[name === 'AzureStackCloud' ? 'AzurePublicCloud' : name];
  const audience = new URL(endpoints.armEndpoint).origin;
  return {
    name,
    armEndpoint: endpoints.armEndpoint,
    authorityHost: endpoints.authorityHost,
    audience,
    tokenScope: scopeForAudience(audience),
  };
}

/**
 * The token scope for a Resource Manager endpoint: its origin plus `/.default`. An --arm-endpoint override
 * moves the scope with it, so a token minted for one cloud is never presented to another.
 */
export function tokenScopeFor(armEndpoint: string): string {
  return scopeForAudience(new URL(armEndpoint).origin);
}

/** `<audience>/.default`, without doubling a trailing slash (Azure Stack Hub audiences end with one). */
export function scopeForAudience(audience: string): string {
  return `${audience.replace(/\/+$/, '')}/.default`;
}

/** The metadata endpoint upstream reads (pkg/azclient/cloud.go), and its api-version. */
export function metadataUrlFor(armEndpoint: string): string {
  return `${armEndpoint.replace(/\/+$/, '')}/metadata/endpoints?api-version=2019-05-01`;
}

export type FetchLike = (url: string, init: { signal: AbortSignal }) => Promise<Response>;

export interface ResolveCloudOptions {
  /** Test seam: the HTTP client (default: the platform fetch). */
  readonly fetch?: FetchLike;
  /** Bound on the metadata request (default 30 s). */
  readonly timeoutMs?: number;
}

/**
 * Fills the endpoints a CloudDiscovery leaves open by reading the metadata endpoint; a config without discovery
 * comes back unchanged. Failures are AzureError 'Config' naming the URL and the azure.json key to check.
 */
export async function resolveCloudEndpoints(
  azure: AzureConfig,
  options: ResolveCloudOptions = {},
): Promise<AzureConfig> {
  const discovery = azure.discovery;
  if (discovery === undefined) return azure;
  const { overrides } = discovery;
  const complete =
    overrides.armEndpoint !== undefined &&
    overrides.audience !== undefined &&
    overrides.authorityHost !== undefined;
  const fromMetadata = complete ? undefined : await readMetadata(discovery, options);
  const armEndpoint = trimSlash(overrides.armEndpoint ?? fromMetadata?.armEndpoint ?? azure.armEndpoint);
  const audience = overrides.audience ?? fromMetadata?.audience;
  const authorityHost = trimSlash(
    overrides.authorityHost ?? fromMetadata?.authorityHost ?? azure.authorityHost,
  );
  if (audience === undefined) {
    throw new AzureError({
      kind: 'Other',
      message: `${discovery.metadataUrl} gave no token audience (authentication.audiences); check ${discovery.source}`,
    });
  }
  return {
    ...azure,
    discovery: undefined,
    armEndpoint,
    authorityHost,
    tokenScope: scopeForAudience(audience),
  };
}

interface MetadataEndpoints {
  readonly armEndpoint?: string | undefined;
  readonly audience?: string | undefined;
  readonly authorityHost?: string | undefined;
}

async function readMetadata(
  discovery: CloudDiscovery,
  options: ResolveCloudOptions,
): Promise<MetadataEndpoints> {
  const fetchFn: FetchLike = options.fetch ?? ((url, init) => fetch(url, init));
  const where = `the cloud metadata at ${discovery.metadataUrl} (from ${discovery.source})`;
  let body: unknown;
  try {
    const response = await fetchFn(discovery.metadataUrl, {
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
    });
    if (!response.ok) {
      throw new AzureError({
        kind: response.status >= 500 ? 'ServerError' : 'Other',
        status: response.status,
        message: `${where} answered HTTP ${response.status}; check the endpoint`,
      });
    }
    body = await response.json();
  } catch (err) {
    if (err instanceof AzureError) throw err;
    const why = err instanceof SyntaxError ? 'it is not JSON' : oneLine(err);
    throw new AzureError({
      kind: err instanceof SyntaxError ? 'Other' : 'Network',
      message: `Cannot read ${where}: ${why}; check the endpoint and that it is reachable`,
      cause: err,
    });
  }
  return pickEntry(body, discovery, where);
}

/**
 * api-version 2019-05-01 answers a list of clouds, each with its name; older Azure Stack Hub builds answer one
 * object without a name. Upstream picks the entry whose name matches "cloud"; a single entry is taken as it is.
 */
function pickEntry(body: unknown, discovery: CloudDiscovery, where: string): MetadataEndpoints {
  const entries = Array.isArray(body) ? body : [body];
  const objects = entries.filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null);
  const named = objects.find(
    (e) => typeof e['name'] === 'string' && e['name'].toLowerCase() === discovery.cloudName.toLowerCase(),
  );
  const entry = named ?? (objects.length === 1 ? objects[0] : undefined);
  if (entry === undefined) {
    const names = objects.map((e) => String(e['name'])).join(', ');
    throw new AzureError({
      kind: 'Other',
      message: `${where} lists clouds ${names || '(none)'} but none named ${discovery.cloudName}; set azure.json "cloud" to one of them`,
    });
  }
  const auth = (entry['authentication'] ?? {}) as Record<string, unknown>;
  const audiences = Array.isArray(auth['audiences']) ? auth['audiences'] : [];
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  return {
    armEndpoint: str(entry['resourceManager']),
    audience: str(audiences[0]),
    authorityHost: str(auth['loginEndpoint']),
  };
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

function oneLine(err: unknown): string {
  const message =
    err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
  return message.replace(/\s+/g, ' ').trim();
}
