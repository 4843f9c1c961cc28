import {
  ClientCertificateCredential,
  ClientSecretCredential,
  DefaultAzureCredential,
  ManagedIdentityCredential,
  WorkloadIdentityCredential,
} from '@azure/identity';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cloudSettings, isCloudName, tokenScopeFor } from '../../src/azure/clouds.ts';
import {
  createCredential,
  INSECURE_TEST_TOKEN,
  InsecureTestCredential,
  isInsecureTestCredential,
} from '../../src/azure/credentials.ts';
import { AzureError } from '../../src/azure/errors.ts';

const PEM_FIXTURE = fileURLToPath(new URL('../fixtures/azure-json/certs/sp.pem', import.meta.url));

describe('clouds', () => {
  it.each([
    ['AzurePublicCloud', 'https://management.azure.com', 'https://login.microsoftonline.com'],
    ['AzureChinaCloud', 'https://management.chinacloudapi.cn', 'https://login.chinacloudapi.cn'],
    ['AzureUSGovernment', 'https://management.usgovcloudapi.net', 'https://login.microsoftonline.us'],
  ] as const)('%s', (name, arm, authority) => {
    const cloud = cloudSettings(name);
    expect(cloud.armEndpoint).toBe(arm);
    expect(cloud.authorityHost).toBe(authority);
    expect(cloud.audience).toBe(arm);
    expect(cloud.tokenScope).toBe(`${arm}/.default`);
  });

  it('derives the token scope from an --arm-endpoint override', () => {
    expect(tokenScopeFor('https://management.local.azurestack.external/')).toBe(
      'https://management.local.azurestack.external/.default',
    );
    expect(tokenScopeFor('http://127.0.0.1:8080/some/path')).toBe('http://127.0.0.1:8080/.default');
  });

  it('recognises cloud names', () => {
    expect(isCloudName('AzureChinaCloud')).toBe(true);
    expect(isCloudName('AzureGermanCloud')).toBe(false);
  });
});

describe('createCredential', () => {
  const authority = 'https://login.microsoftonline.us';
  const tenantId = '72f988bf-86f1-41af-91ab-2d7cd011db47';
  const clientId = '0e6a1c55-3b7d-4f2a-9c8e-1d4b7a2f5c90';

  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('maps every kind to its @azure/identity credential', () => {
    expect(
      createCredential({ kind: 'clientSecret', tenantId, clientId, clientSecret: 'x' }, authority),
    ).toBeInstanceOf(ClientSecretCredential);
    expect(
      createCredential(
        { kind: 'clientCertificate', tenantId, clientId, certificatePath: PEM_FIXTURE },
        authority,
      ),
    ).toBeInstanceOf(ClientCertificateCredential);
    expect(createCredential({ kind: 'managedIdentity' }, authority)).toBeInstanceOf(
      ManagedIdentityCredential,
    );
    expect(createCredential({ kind: 'managedIdentity', clientId }, authority)).toBeInstanceOf(
      ManagedIdentityCredential,
    );
    expect(
      createCredential(
        { kind: 'workloadIdentity', tenantId, clientId, tokenFilePath: '/var/run/token' },
        authority,
      ),
    ).toBeInstanceOf(WorkloadIdentityCredential);
    expect(
      createCredential({ kind: 'default', managedIdentityClientId: clientId }, authority),
    ).toBeInstanceOf(DefaultAzureCredential);
  });

  it('gives the placeholder token for insecureTest, and only that credential is marked insecure', async () => {
    const credential = createCredential({ kind: 'insecureTest' }, authority);
    expect(credential).toBeInstanceOf(InsecureTestCredential);
    expect(isInsecureTestCredential(credential)).toBe(true);
    expect((await credential.getToken('http://127.0.0.1/.default'))?.token).toBe(INSECURE_TEST_TOKEN);
    expect(isInsecureTestCredential(createCredential({ kind: 'managedIdentity' }, authority))).toBe(false);
  });

  it('turns an incomplete workload identity into a Credential error naming the settings', () => {
    vi.stubEnv('AZURE_CLIENT_ID', '');
    vi.stubEnv('AZURE_TENANT_ID', '');
    vi.stubEnv('AZURE_FEDERATED_TOKEN_FILE', '');
    let caught: unknown;
    try {
      createCredential({ kind: 'workloadIdentity' }, authority);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(AzureError);
    expect((caught as AzureError).kind).toBe('Credential');
    expect((caught as AzureError).message).toContain('aadFederatedTokenFile');
  });
});
