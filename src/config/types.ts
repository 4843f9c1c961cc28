// The validated configuration. Built once at the edge (src/config/load.ts), frozen, and handed down.
import type { TableRef } from '../azure/types.ts';
import type { PlannerConfig } from '../domain/types.ts';

export type CloudName = 'AzurePublicCloud' | 'AzureChinaCloud' | 'AzureUSGovernment' | 'AzureStackCloud';

/** Which @azure/identity credential to build. Secrets live only here and in the credential itself. */
export type CredentialSpec =
  | {
      readonly kind: 'clientSecret';
      readonly tenantId: string;
      readonly clientId: string;
      readonly clientSecret: string;
    }
  | {
      readonly kind: 'clientCertificate';
      readonly tenantId: string;
      readonly clientId: string;
      /** PEM, or PKCS#12 (PFX) as upstream expects it; the file is read when the credential is built. */
      readonly certificatePath: string;
      readonly certificatePassword?: string | undefined;
    }
  /** A user-assigned identity by client ID, or by resource ID (sent as mi_res_id), as upstream tells them apart. */
  | {
      readonly kind: 'managedIdentity';
      readonly clientId?: string | undefined;
      readonly resourceId?: string | undefined;
    }
  | {
      readonly kind: 'workloadIdentity';
      readonly tenantId?: string | undefined;
      readonly clientId?: string | undefined;
      readonly tokenFilePath?: string | undefined;
    }
  | {
      readonly kind: 'default';
      readonly managedIdentityClientId?: string | undefined;
      readonly managedIdentityResourceId?: string | undefined;
    }
  /** Only with --allow-insecure-arm-endpoint against loopback: a fixed placeholder token, never a real one. */
  | { readonly kind: 'insecureTest' };

/**
 * Endpoints read at start-up from `<resourceManagerEndpoint>/metadata/endpoints` (Azure Stack Hub and any
 * azure.json with "resourceManagerEndpoint", as upstream does; ADR 9). Until resolved, AzureConfig's armEndpoint,
 * tokenScope and authorityHost are the cloud's defaults.
 */
export interface CloudDiscovery {
  readonly metadataUrl: string;
  /** Picks the entry of a list response, by name (case-insensitive). */
  readonly cloudName: string;
  /** Where the endpoint came from, for messages. */
  readonly source: string;
  /** From AZURE_ENVIRONMENT_FILEPATH (AzureStackCloud only); each wins over the metadata, as upstream. */
  readonly overrides: {
    readonly armEndpoint?: string | undefined;
    readonly audience?: string | undefined;
    readonly authorityHost?: string | undefined;
  };
}

export interface AzureConfig {
  readonly cloud: CloudName;
  /** Set when the audience and authority must still be read from the cloud's metadata endpoint. */
  readonly discovery?: CloudDiscovery | undefined;
  /** Resource Manager endpoint, without a trailing slash. */
  readonly armEndpoint: string;
  /** `<armEndpoint>/.default`, or the cloud's audience. */
  readonly tokenScope: string;
  /** Microsoft Entra authority host for the cloud. */
  readonly authorityHost: string;
  readonly tenantId?: string | undefined;
  readonly subscriptionId: string;
  readonly routeTables: readonly TableRef[];
  readonly location?: string | undefined;
  /** azure.json `tags` and `tagsMap`: put on a table that --create-route-table creates (never on existing ones). */
  readonly tags: Readonly<Record<string, string>>;
  readonly credential: CredentialSpec;
  /** Plain HTTP to a loopback endpoint, for the simulator. Never for real Azure. */
  readonly allowInsecureEndpoint: boolean;
  /** Bound on one long-running operation (PUT until Succeeded). */
  readonly operationTimeoutMs: number;
  /**
   * How long one pass waits for a table that another write left Updating: like our own writes, bounded by the
   * operation timeout, and never past 30 s in one pass (the next pass waits again).
   */
  readonly settleTimeoutMs: number;
  /** Poll interval for long-running operations when Azure gives no Retry-After. */
  readonly pollIntervalMs: number;
}

/** Where to look for a kubeconfig, in kubectl's order (DESIGN 4): each is tried until one exists. */
export interface KubeconfigSearch {
  /** --kubeconfig: only this file. */
  readonly flag?: string | undefined;
  /** $KUBECONFIG's files, merged as kubectl merges them (the first to set a name or current-context wins). */
  readonly envFiles: readonly string[];
  /** ~/.kube/config, from $HOME: tried after the in-cluster configuration. */
  readonly homeFile?: string | undefined;
  /** --context NAME, instead of current-context. */
  readonly context?: string | undefined;
}

export interface CommonConfig {
  readonly azure: AzureConfig;
  readonly planner: PlannerConfig;
  /** The --kubeconfig flag alone (callers that search the way kubectl does use kubeconfigSearch). */
  readonly kubeconfig?: string | undefined;
  readonly kubeconfigSearch: KubeconfigSearch;
  readonly nodeConditions: boolean;
  /** Whether an empty node list may delete routes (DESIGN 2.6). */
  readonly allowEmptyNodeList: boolean;
  /** How many times one table is re-read and re-planned after 412 or a retryable conflict. */
  readonly maxWriteAttempts: number;
  readonly logLevel: string;
  /** `--log-format`; undefined: text on a terminal, else JSON. */
  readonly logFormat?: 'json' | 'text' | undefined;
  /** Warnings found while loading (normalised CIDRs, unknown azure.json keys); logged once by the CLI. */
  readonly warnings: readonly string[];
  /** azure.json keys upstream defines that do not apply to routes; the CLI logs them once at debug. */
  readonly ignoredKeys: readonly string[];
}

export interface SyncConfig extends CommonConfig {
  readonly dryRun: boolean;
  readonly output: 'text' | 'json';
  readonly createRouteTable: boolean;
}
