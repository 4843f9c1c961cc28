// The validated configuration. Built once at the edge (src/config/load.ts), frozen, and handed down.
import type { TableRef } from '../azure/types.ts';
import type { PlannerConfig } from '../domain/types.ts';

export type CloudName = 'AzurePublicCloud' | 'AzureChinaCloud' | 'AzureUSGovernment';

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
      readonly certificatePath: string;
      readonly certificatePassword?: string | undefined;
    }
  | { readonly kind: 'managedIdentity'; readonly clientId?: string | undefined }
  | {
      readonly kind: 'workloadIdentity';
      readonly tenantId?: string | undefined;
      readonly clientId?: string | undefined;
      readonly tokenFilePath?: string | undefined;
    }
  | { readonly kind: 'default'; readonly managedIdentityClientId?: string | undefined }
  /** Only with --allow-insecure-arm-endpoint against loopback: a fixed placeholder token, never a real one. */
  | { readonly kind: 'insecureTest' };

export interface AzureConfig {
  readonly cloud: CloudName;
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
  readonly credential: CredentialSpec;
  /** Plain HTTP to a loopback endpoint, for the simulator. Never for real Azure. */
  readonly allowInsecureEndpoint: boolean;
  /** Bound on one long-running operation (PUT until Succeeded). */
  readonly operationTimeoutMs: number;
  /** Poll interval for long-running operations when Azure gives no Retry-After. */
  readonly pollIntervalMs: number;
}

export interface CommonConfig {
  readonly azure: AzureConfig;
  readonly planner: PlannerConfig;
  readonly kubeconfig?: string | undefined;
  readonly nodeConditions: boolean;
  /** Whether an empty node list may delete routes (DESIGN 2.6). */
  readonly allowEmptyNodeList: boolean;
  /** How many times one table is re-read and re-planned after 412 or a retryable conflict. */
  readonly maxWriteAttempts: number;
  readonly logLevel: string;
  /** Warnings found while loading (normalised CIDRs, unknown azure.json keys); logged once by the CLI. */
  readonly warnings: readonly string[];
}

export interface SyncConfig extends CommonConfig {
  readonly dryRun: boolean;
  readonly output: 'text' | 'json';
  readonly createRouteTable: boolean;
}
