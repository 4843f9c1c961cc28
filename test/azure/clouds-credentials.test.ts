import {
  ClientCertificateCredential,
  ClientSecretCredential,
  DefaultAzureCredential,
  ManagedIdentityCredential,
  WorkloadIdentityCredential,
} from '@azure/identity';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  cloudSettings,
  isCloudName,
  resolveCloudEndpoints,
  tokenScopeFor,
  type FetchLike,
} from '../../src/azure/clouds.ts';
import {
  createCredential,
  INSECURE_TEST_TOKEN,
  InsecureTestCredential,
  isInsecureTestCredential,
} from '../../src/azure/credentials.ts';
import { AzureError } from '../../src/azure/errors.ts';
import type { AzureConfig, CloudDiscovery } from '../../src/config/types.ts';

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

describe('resolveCloudEndpoints (the metadata endpoint upstream reads)', () => {
  const pending = (discovery: Partial<CloudDiscovery> = {}): AzureConfig =>
    ({
      cloud: 'AzureStackCloud',
      armEndpoint: 'https://management.local.azurestack.external',
      tokenScope: 'https://management.local.azurestack.external/.default',
      authorityHost: 'https://login.microsoftonline.com',
      discovery: {
        metadataUrl: 'https://management.local.azurestack.external/metadata/endpoints?api-version=2019-05-01',
        cloudName: 'AzureStackCloud',
        source: 'azure.json "resourceManagerEndpoint"',
        overrides: {},
        ...discovery,
      },
    }) as unknown as AzureConfig;
  const answering =
    (body: unknown, status = 200): FetchLike =>
    () =>
      Promise.resolve(new Response(JSON.stringify(body), { status }));

  it('leaves a config without discovery as it is', async () => {
    const config = { cloud: 'AzurePublicCloud' } as unknown as AzureConfig;
    expect(await resolveCloudEndpoints(config)).toBe(config);
  });

  it('takes the one object older Azure Stack Hub builds answer, audience with its trailing slash', async () => {
    const resolved = await resolveCloudEndpoints(pending(), {
      fetch: answering({
        authentication: {
          loginEndpoint: 'https://adfs.local.azurestack.external/adfs/',
          audiences: ['https://management.x/abc/'],
        },
      }),
    });
    expect(resolved.tokenScope).toBe('https://management.x/abc/.default');
    expect(resolved.authorityHost).toBe('https://adfs.local.azurestack.external/adfs');
    expect(resolved.discovery).toBeUndefined();
  });

  it('picks the entry named like "cloud" from a list, and names the choices when none matches', async () => {
    const list = [
      { name: 'AzureCloud', authentication: { audiences: ['https://management.core.windows.net/'] } },
      {
        name: 'AzureStackCloud',
        authentication: { audiences: ['https://stack/aud'], loginEndpoint: 'https://l/' },
      },
    ];
    expect((await resolveCloudEndpoints(pending(), { fetch: answering(list) })).tokenScope).toBe(
      'https://stack/aud/.default',
    );
    await expect(
      resolveCloudEndpoints(pending({ cloudName: 'Other' }), { fetch: answering(list) }),
    ).rejects.toThrow(/lists clouds AzureCloud, AzureStackCloud but none named Other/);
  });

  it('fails with one line naming the URL and its source when the endpoint is down or wrong', async () => {
    const down: FetchLike = () =>
      Promise.reject(new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED') }));
    await expect(resolveCloudEndpoints(pending(), { fetch: down })).rejects.toThrow(
      /^Cannot read the cloud metadata at https:\/\/management\.local\.azurestack\.external\/metadata\/endpoints\?api-version=2019-05-01 \(from azure\.json "resourceManagerEndpoint"\): connect ECONNREFUSED/,
    );
    await expect(resolveCloudEndpoints(pending(), { fetch: answering({}, 404) })).rejects.toThrow(
      /answered HTTP 404/,
    );
    await expect(
      resolveCloudEndpoints(pending(), { fetch: answering({ authentication: {} }) }),
    ).rejects.toThrow(/gave no token audience/);
  });

  it('does not ask when AZURE_ENVIRONMENT_FILEPATH gave everything', async () => {
    const never: FetchLike = () => Promise.reject(new Error('must not be called'));
    const resolved = await resolveCloudEndpoints(
      pending({
        overrides: {
          armEndpoint: 'https://arm.e',
          audience: 'https://aud.e/',
          authorityHost: 'https://login.e/',
        },
      }),
      { fetch: never },
    );
    expect(resolved).toMatchObject({
      armEndpoint: 'https://arm.e',
      tokenScope: 'https://aud.e/.default',
      authorityHost: 'https://login.e',
    });
  });
});

describe('createCredential for managed identities', () => {
  it('builds a resource-ID identity (it goes out as mi_res_id: test/azure/identity-wire.test.ts)', () => {
    const credential = createCredential(
      {
        kind: 'managedIdentity',
        resourceId:
          '/subscriptions/s/resourceGroups/r/providers/Microsoft.ManagedIdentity/userAssignedIdentities/n',
      },
      'https://login.microsoftonline.com',
    );
    expect(credential).toBeInstanceOf(ManagedIdentityCredential);
  });
});
