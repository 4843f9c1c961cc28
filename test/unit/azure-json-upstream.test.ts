// Real-shaped azure.json files, as CAPZ and a cloud-controller-manager install write them (test/fixtures/azure-json):
// no warning, the credential upstream would choose, and the route table upstream would manage.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAzureJson, parseTags } from '../../src/config/azure-json.ts';
import { ConfigError } from '../../src/config/errors.ts';
import { loadSyncConfig, type Environment } from '../../src/config/load.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/azure-json/', import.meta.url));
const SUB = '6b3c5a9e-2f1d-4c8b-9e7a-0d4f1a2b3c4d';

function loadFixture(name: string, env: Record<string, string> = {}) {
  const path = `${FIXTURES}${name}`;
  const environment: Environment = { env, readFile: (p) => readFileSync(p, 'utf8') };
  return loadSyncConfig({ cloudConfig: path, clusterCidr: ['10.244.0.0/16'] }, environment);
}

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).not.toContain('\n');
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('a CAPZ azure.json (user-assigned managed identity, VMSS)', () => {
  const config = loadFixture('capz.json');

  it('draws no warning', () => {
    expect(config.warnings).toEqual([]);
  });

  it('uses the managed identity by its resource ID, as upstream does', () => {
    expect(config.azure.credential).toEqual({
      kind: 'managedIdentity',
      resourceId: `/subscriptions/${SUB}/resourceGroups/capz-demo/providers/Microsoft.ManagedIdentity/userAssignedIdentities/capz-demo-cloud-provider`,
    });
  });

  it('manages the node route table in the cluster resource group', () => {
    expect(config.azure.routeTables).toEqual([
      { subscriptionId: SUB, resourceGroup: 'capz-demo', name: 'capz-demo-node-routetable' },
    ]);
    expect(config.azure.location).toBe('westeurope');
    expect(config.azure.armEndpoint).toBe('https://management.azure.com');
    expect(config.azure.discovery).toBeUndefined();
  });

  it('lists the keys that do not apply to routes for a debug line', () => {
    expect(config.ignoredKeys).toEqual(
      expect.arrayContaining(['enableVmssFlexNodes', 'loadBalancerSku', 'cloudProviderBackoff', 'vmType']),
    );
    expect(config.ignoredKeys).not.toContain('routeTableName');
  });
});

describe('a cloud-controller-manager azure.json (service principal, availability sets, tags)', () => {
  const config = loadFixture('ccm.json');

  it('draws no warning', () => {
    expect(config.warnings).toEqual([]);
  });

  it('uses the client secret', () => {
    expect(config.azure.credential).toEqual({
      kind: 'clientSecret',
      tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
      clientId: '0e6a1c55-3b7d-4f2a-9c8e-1d4b7a2f5c90',
      clientSecret: 'ccm-sp-secret-value',
    });
  });

  it('manages the table in routeTableResourceGroup', () => {
    expect(config.azure.routeTables).toEqual([
      { subscriptionId: SUB, resourceGroup: 'k8s-network', name: 'k8s-routes' },
    ]);
  });

  it('knows tags, rate limits and backoff as upstream keys', () => {
    expect(config.ignoredKeys).toEqual(
      expect.arrayContaining([
        'cloudProviderBackoffMode',
        'routeRateLimit',
        'enableVmssFlexNodes',
        'userAgent',
      ]),
    );
  });
});

describe('keys upstream defines, key by key', () => {
  it('warns only about keys upstream does not define, naming them', () => {
    const parsed = parseAzureJson(
      '/a.json',
      JSON.stringify({ routeTableName: 't', subscriptionID: 'x', enableVmssFlexNodes: true }),
    );
    expect(parsed.warnings).toEqual([expect.stringContaining('"subscriptionID"')]);
    expect(parsed.warnings[0]).not.toContain('enableVmssFlexNodes');
    expect(parsed.ignoredKeys).toEqual(['enableVmssFlexNodes']);
  });

  it('parses tags as upstream writes them, tagsMap winning', () => {
    const parsed = parseAzureJson('/a.json', JSON.stringify({ tags: 'a=1, b = 2,c', tagsMap: { b: 'x=y' } }));
    expect(parseTags('/a.json', parsed.values.tags, parsed.values.tagsMap)).toEqual({
      a: '1',
      b: 'x=y',
      c: '',
    });
    expect(() => parseAzureJson('/a.json', JSON.stringify({ tagsMap: { a: 1 } }))).toThrow(
      /"tagsMap" entry "a"/,
    );
  });

  it('networkResourceSubscriptionID holds the route tables, as upstream reads network resources there', () => {
    const other = '11111111-2222-3333-4444-555555555555';
    const environment: Environment = {
      env: {},
      readFile: () =>
        JSON.stringify({
          subscriptionId: SUB,
          networkResourceSubscriptionID: other,
          resourceGroup: 'rg',
          routeTableName: 't',
        }),
    };
    const config = loadSyncConfig({ cloudConfig: '/a.json', clusterCidr: ['10.0.0.0/16'] }, environment);
    expect(config.azure.routeTables[0]!.subscriptionId).toBe(other);
  });

  it('each new mode fails with one line naming the key and the fix', () => {
    const withJson =
      (json: object, env: Record<string, string> = {}) =>
      () =>
        loadSyncConfig(
          { cloudConfig: '/etc/kubernetes/azure.json', clusterCidr: ['10.0.0.0/16'] },
          {
            env,
            readFile: (path) => {
              if (path !== '/etc/kubernetes/azure.json') {
                throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
              }
              return JSON.stringify({
                subscriptionId: SUB,
                resourceGroup: 'rg',
                routeTableName: 't',
                ...json,
              });
            },
          },
        );
    expect(configError(withJson({ cloud: 'AzureStackCloud' })).message).toMatch(
      /AzureStackCloud.*"resourceManagerEndpoint"/,
    );
    expect(configError(withJson({ resourceManagerEndpoint: 'http://stack.example' })).message).toMatch(
      /^azure.json "resourceManagerEndpoint": .*https/,
    );
    expect(
      configError(
        withJson({
          useFederatedWorkloadIdentityExtension: true,
          aadClientId: 'c',
          tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
        }),
      ).message,
    ).toContain('"aadFederatedTokenFile" (or AZURE_FEDERATED_TOKEN_FILE)');
    expect(configError(withJson({ identitySystem: 'adfs' })).message).toContain('"identitySystem"');
    expect(configError(withJson({ aadMSIDataPlaneIdentityPath: '/x' })).message).toContain(
      '"aadMSIDataPlaneIdentityPath"',
    );
    expect(
      configError(
        withJson({
          useManagedIdentityExtension: true,
          tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
          networkResourceTenantID: '11111111-2222-3333-4444-555555555555',
        }),
      ).message,
    ).toContain('"networkResourceTenantID"');
    expect(
      configError(withJson({ cloud: 'AzureStackCloud' }, { AZURE_ENVIRONMENT_FILEPATH: '/nope.json' }))
        .message,
    ).toMatch(/^AZURE_ENVIRONMENT_FILEPATH \/nope.json: cannot read it/);
    expect(
      configError(
        withJson(
          { tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47', aadClientId: 'c', aadClientSecret: 's' },
          { AZURE_TENANT_ID: 'contoso' },
        ),
      ).message,
    ).toMatch(/^AZURE_TENANT_ID/);
  });

  it('AzureStackCloud with a resourceManagerEndpoint reads its metadata at start-up', () => {
    const config = loadSyncConfig(
      { cloudConfig: '/a.json', clusterCidr: ['10.0.0.0/16'] },
      {
        env: {},
        readFile: () =>
          JSON.stringify({
            cloud: 'AzureStackCloud',
            resourceManagerEndpoint: 'https://management.local.azurestack.external/',
            subscriptionId: SUB,
            resourceGroup: 'rg',
            routeTableName: 't',
          }),
      },
    );
    expect(config.azure.cloud).toBe('AzureStackCloud');
    expect(config.azure.armEndpoint).toBe('https://management.local.azurestack.external');
    expect(config.azure.discovery?.metadataUrl).toBe(
      'https://management.local.azurestack.external/metadata/endpoints?api-version=2019-05-01',
    );
  });
});
