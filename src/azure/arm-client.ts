// What the route-table store and the doctor inventory share to reach Resource Manager: the guarded
// credential, the SDK network client for a subscription, and the loopback-only plain-HTTP auth policy that
// replaces the SDK's bearer policy for the simulator. One place, so the two cannot drift on who gets a token.
import { NetworkManagementClient } from '@azure/arm-network';
import {
  bearerTokenAuthenticationPolicyName,
  type HttpClient,
  type PipelinePolicy,
  type PipelineRequest,
} from '@azure/core-rest-pipeline';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import type { AzureConfig } from '../config/types.ts';
import { isInsecureTestCredential } from './credentials.ts';
import { AzureError, credentialError, isAbortError } from './errors.ts';

const PLAIN_HTTP_AUTH_POLICY_NAME = 'azureRouteControllerLoopbackAuthPolicy';

/** What a network client is built from: the configuration, the raw and the guarded credential, the scopes. */
export interface ArmAccess {
  readonly config: AzureConfig;
  /** As configured: only its identity decides whether a token may go over plain HTTP. */
  readonly credential: TokenCredential;
  /** The one that fetches tokens (see guardCredential). */
  readonly guardedCredential: TokenCredential;
  readonly scopes: string[];
}

export interface NetworkClientOptions {
  readonly retry: {
    readonly maxRetries: number;
    readonly retryDelayInMs?: number | undefined;
    readonly maxRetryDelayInMs?: number | undefined;
  };
  readonly userAgentPrefix: string;
  /** Shared with requests made outside the SDK, so they share sockets; the SDK's default otherwise. */
  readonly httpClient?: HttpClient | undefined;
}

/** Every token request goes through here, so a failing identity always surfaces as kind 'Credential'. */
export function guardCredential(config: AzureConfig, credential: TokenCredential): TokenCredential {
  return {
    getToken: async (tokenScopes: string | string[], tokenOptions?: GetTokenOptions) => {
      try {
        return await credential.getToken(tokenScopes, tokenOptions);
      } catch (err) {
        if (isAbortError(err)) throw err;
        throw credentialError(err, config.credential, config.authorityHost);
      }
    },
  };
}

/** A network client for one subscription, on the configured endpoint, authenticated as the loopback rule allows. */
export function createNetworkClient(
  access: ArmAccess,
  subscriptionId: string,
  options: NetworkClientOptions,
): NetworkManagementClient {
  const { config } = access;
  const { retry } = options;
  const client = new NetworkManagementClient(access.guardedCredential, subscriptionId, {
    endpoint: config.armEndpoint,
    ...(options.httpClient ? { httpClient: options.httpClient } : {}),
    credentials: { scopes: access.scopes },
    retryOptions: {
      maxRetries: retry.maxRetries,
      ...(retry.retryDelayInMs !== undefined ? { retryDelayInMs: retry.retryDelayInMs } : {}),
      ...(retry.maxRetryDelayInMs !== undefined ? { maxRetryDelayInMs: retry.maxRetryDelayInMs } : {}),
    },
    userAgentOptions: { userAgentPrefix: options.userAgentPrefix },
    ...(config.allowInsecureEndpoint ? { allowInsecureConnection: true } : {}),
  });
  if (config.allowInsecureEndpoint) {
    // The SDK's bearer policy refuses http:// outright. Only for the loopback simulator, swap it for one
    // that sends the placeholder token and refuses anything else (see plainHttpAuthPolicy).
    client.pipeline.removePolicy({ name: bearerTokenAuthenticationPolicyName });
    client.pipeline.addPolicy(
      plainHttpAuthPolicy(access.credential, access.guardedCredential, access.scopes),
    );
  }
  return client;
}

function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127(?:\.\d{1,3}){3}$/.test(host);
}

/**
 * Replaces the SDK's bearer policy when --allow-insecure-arm-endpoint is in force (the config layer allows
 * that only for a loopback http:// endpoint). Over plain HTTP it sends only the placeholder token of the
 * test credential, and only to a loopback host: a real token never leaves over plain HTTP.
 */
export function plainHttpAuthPolicy(
  rawCredential: TokenCredential,
  credential: TokenCredential,
  scopes: string[],
): PipelinePolicy {
  return {
    name: PLAIN_HTTP_AUTH_POLICY_NAME,
    async sendRequest(request: PipelineRequest, next) {
      const url = new URL(request.url);
      if (url.protocol !== 'https:') {
        if (!isLoopbackHost(url.hostname)) {
          throw new AzureError({
            kind: 'Other',
            message: `refusing to send a token over plain HTTP to ${url.origin}: only a loopback --arm-endpoint may use http://`,
          });
        }
        if (!isInsecureTestCredential(rawCredential)) {
          throw new AzureError({
            kind: 'Credential',
            message: `refusing to send a real Azure token over plain HTTP to ${url.origin}: use an https:// --arm-endpoint`,
          });
        }
      }
      const token: AccessToken | null = await credential.getToken(scopes, {
        abortSignal: request.abortSignal,
      });
      if (!token) {
        throw new AzureError({ kind: 'Credential', message: 'the credential returned no access token' });
      }
      request.headers.set('Authorization', `Bearer ${token.token}`);
      return next(request);
    },
  };
}
