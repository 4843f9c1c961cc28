// Maps the configured identity to its @azure/identity credential. The config layer decides which one;
// this module only builds it, always against the cloud's authority host.
import {
  ClientCertificateCredential,
  ClientSecretCredential,
  DefaultAzureCredential,
  ManagedIdentityCredential,
  WorkloadIdentityCredential,
  type AccessToken,
  type TokenCredential,
} from '@azure/identity';
import type { CredentialSpec } from '../config/types.ts';
import { credentialError } from './errors.ts';

/** The placeholder bearer token of the test credential. It is not a secret and grants nothing. */
export const INSECURE_TEST_TOKEN = 'insecure-test-token';

/**
 * A credential that returns a fixed placeholder token. Only for a plain-HTTP loopback endpoint (the
 * simulator): the store refuses to send any other credential's token over plain HTTP.
 */
export class InsecureTestCredential implements TokenCredential {
  getToken(): Promise<AccessToken> {
    return Promise.resolve({ token: INSECURE_TEST_TOKEN, expiresOnTimestamp: Date.now() + 60 * 60 * 1000 });
  }
}

export function isInsecureTestCredential(credential: TokenCredential): boolean {
  return credential instanceof InsecureTestCredential;
}

/**
 * Builds the credential. A spec the SDK rejects up front (e.g. workload identity without a token file)
 * throws AzureError kind 'Credential' naming the settings to check.
 */
export function createCredential(spec: CredentialSpec, authorityHost: string): TokenCredential {
  try {
    return build(spec, authorityHost);
  } catch (err) {
    throw credentialError(err, spec, authorityHost);
  }
}

function build(spec: CredentialSpec, authorityHost: string): TokenCredential {
  switch (spec.kind) {
    case 'clientSecret':
      return new ClientSecretCredential(spec.tenantId, spec.clientId, spec.clientSecret, { authorityHost });
    case 'clientCertificate':
      return new ClientCertificateCredential(
        spec.tenantId,
        spec.clientId,
        {
          certificatePath: spec.certificatePath,
          ...(spec.certificatePassword !== undefined
            ? { certificatePassword: spec.certificatePassword }
            : {}),
        },
        { authorityHost },
      );
    case 'managedIdentity':
      return spec.clientId !== undefined
        ? new ManagedIdentityCredential({ clientId: spec.clientId, authorityHost })
        : new ManagedIdentityCredential({ authorityHost });
    case 'workloadIdentity':
      return new WorkloadIdentityCredential({
        authorityHost,
        ...(spec.tenantId !== undefined ? { tenantId: spec.tenantId } : {}),
        ...(spec.clientId !== undefined ? { clientId: spec.clientId } : {}),
        ...(spec.tokenFilePath !== undefined ? { tokenFilePath: spec.tokenFilePath } : {}),
      });
    case 'default':
      return new DefaultAzureCredential({
        authorityHost,
        ...(spec.managedIdentityClientId !== undefined
          ? { managedIdentityClientId: spec.managedIdentityClientId }
          : {}),
      });
    case 'insecureTest':
      return new InsecureTestCredential();
  }
}
