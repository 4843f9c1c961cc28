// The per-cloud endpoints. Azure Stack Hub and the simulator come in through --arm-endpoint instead.
import type { CloudName } from '../config/types.ts';

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

export const CLOUD_NAMES: readonly CloudName[] = ['AzurePublicCloud', 'AzureChinaCloud', 'AzureUSGovernment'];

const ENDPOINTS: Readonly<
  Record<CloudName, { readonly armEndpoint: string; readonly authorityHost: string }>
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

export function cloudSettings(name: CloudName): CloudSettings {
  const endpoints = ENDPOINTS[name];
  const audience = new URL(endpoints.armEndpoint).origin;
  return {
    name,
    armEndpoint: endpoints.armEndpoint,
    authorityHost: endpoints.authorityHost,
    audience,
    tokenScope: `${audience}/.default`,
  };
}

/**
 * The token scope for a Resource Manager endpoint: its origin plus `/.default`. An --arm-endpoint override
 * moves the scope with it, so a token minted for one cloud is never presented to another.
 */
export function tokenScopeFor(armEndpoint: string): string {
  return `${new URL(armEndpoint).origin}/.default`;
}
