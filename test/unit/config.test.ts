// loadCommonConfig / loadSyncConfig with an injected Environment: no real files, no process.env.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.ts';
import {
  loadCommonConfig,
  loadSyncConfig,
  type CommonFlags,
  type Environment,
  type SyncFlags,
} from '../../src/config/load.ts';

const SUB = '00000000-0000-0000-0000-000000000001';
const SUB2 = '11111111-2222-3333-4444-555555555555';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '8a1c3d4e-0000-4000-8000-000000000abc';
const AZURE_JSON = '/etc/kubernetes/azure.json';

/** An Environment over an in-memory file system. Reading any other path fails as fs does (ENOENT). */
function environment(
  files: Readonly<Record<string, string>> = {},
  env: Readonly<Record<string, string | undefined>> = {},
): Environment {
  return {
    env,
    readFile: (path) => {
      const text = files[path];
      if (text === undefined) {
        throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), {
          code: 'ENOENT',
        });
      }
      return text;
    },
  };
}

/** An Environment with one azure.json, and flags that point at it. */
function withAzureJson(json: unknown, flags: SyncFlags = {}, env: Record<string, string> = {}) {
  const text = typeof json === 'string' ? json : JSON.stringify(json);
  return {
    flags: { cloudConfig: AZURE_JSON, ...flags },
    environment: environment({ [AZURE_JSON]: text }, env),
  };
}

/** The least a sync needs: one table, its group and subscription. */
const MINIMAL: SyncFlags = {
  subscriptionId: SUB,
  resourceGroup: 'rg',
  routeTable: ['routes'],
  clusterCidr: ['10.244.0.0/16'],
};

/** Loads with --cluster-cidr 10.244.0.0/16 unless the flags give their own (it is required; tested below). */
function load(flags: SyncFlags, env: Environment = environment()) {
  return loadSyncConfig({ ...flags, clusterCidr: flags.clusterCidr ?? ['10.244.0.0/16'] }, env);
}

/** The ConfigError a load throws (fails the test when it does not throw one). */
function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const error = err as ConfigError;
    expect(error.message, 'a ConfigError is one line').not.toContain('\n');
    return error;
  }
  throw new Error('expected a ConfigError, but the configuration loaded');
}

describe('defaults', () => {
  it('fills every setting the flags leave out', () => {
    const config = load(MINIMAL);
    expect(config.azure).toMatchObject({
      cloud: 'AzurePublicCloud',
      armEndpoint: 'https://management.azure.com',
      tokenScope: 'https://management.azure.com/.default',
      authorityHost: 'https://login.microsoftonline.com',
      subscriptionId: SUB,
      routeTables: [{ subscriptionId: SUB, resourceGroup: 'rg', name: 'routes' }],
      location: undefined,
      credential: { kind: 'default' },
      allowInsecureEndpoint: false,
      operationTimeoutMs: 300_000,
      pollIntervalMs: 2_000,
    });
    expect(config.planner).toEqual({
      clusterCIDRs: ['10.244.0.0/16'],
      routeLimit: 400,
      nodeMaskSize: { v4: 24, v6: 64 },
    });
    expect(config).toMatchObject({
      kubeconfig: undefined,
      nodeConditions: true,
      allowEmptyNodeList: false,
      maxWriteAttempts: 5,
      logLevel: 'info',
      dryRun: false,
      output: 'text',
      createRouteTable: false,
      warnings: [],
    });
  });

  it('takes the value of every flag', () => {
    const config = load({
      ...MINIMAL,
      clusterCidr: ['10.200.0.0/16'],
      location: 'westeurope',
      kubeconfig: '/k/config',
      nodeConditions: false,
      logLevel: 'DEBUG',
      routeLimit: '1000',
      nodeCidrMaskSizeIpv4: '20',
      nodeCidrMaskSizeIpv6: '56',
      allowEmptyNodeList: true,
      maxWriteAttempts: '9',
      operationTimeout: '90s',
      pollInterval: '250ms',
      dryRun: true,
      output: 'json',
      createRouteTable: true,
    });
    expect(config).toMatchObject({
      kubeconfig: '/k/config',
      nodeConditions: false,
      allowEmptyNodeList: true,
      maxWriteAttempts: 9,
      logLevel: 'debug',
      dryRun: true,
      output: 'json',
      createRouteTable: true,
      planner: { clusterCIDRs: ['10.200.0.0/16'], routeLimit: 1000, nodeMaskSize: { v4: 20, v6: 56 } },
    });
    expect(config.azure).toMatchObject({
      location: 'westeurope',
      operationTimeoutMs: 90_000,
      pollIntervalMs: 250,
    });
  });

  it('returns a deeply frozen Config', () => {
    const config = load({ ...MINIMAL, routeTable: ['a', 'rg2/b'], clusterCidr: ['10.200.0.0/16'] });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.azure)).toBe(true);
    expect(Object.isFrozen(config.azure.routeTables)).toBe(true);
    expect(Object.isFrozen(config.azure.routeTables[1])).toBe(true);
    expect(Object.isFrozen(config.azure.credential)).toBe(true);
    expect(Object.isFrozen(config.planner.clusterCIDRs)).toBe(true);
    expect(Object.isFrozen(config.planner.nodeMaskSize)).toBe(true);
    expect(Object.isFrozen(config.warnings)).toBe(true);
    expect(() => {
      (config.azure.routeTables as unknown as unknown[]).push({});
    }).toThrow(TypeError);
    expect(() => {
      (config as { dryRun: boolean }).dryRun = true;
    }).toThrow(TypeError);
  });

  it('loadCommonConfig gives the same shared settings without the sync-only ones', () => {
    const common = loadCommonConfig(MINIMAL as CommonFlags, environment());
    expect(common.azure.routeTables).toEqual(load(MINIMAL).azure.routeTables);
    expect(common).not.toHaveProperty('dryRun');
    expect(Object.isFrozen(common)).toBe(true);
  });
});

describe('precedence: flags > azure.json > defaults', () => {
  const json = {
    cloud: 'AzureChinaCloud',
    subscriptionId: SUB2,
    resourceGroup: 'json-rg',
    location: 'chinanorth',
    routeTableName: 'json-routes',
  };

  it('uses azure.json for what the flags leave out', () => {
    const { flags, environment: env } = withAzureJson(json);
    const config = load(flags, env);
    expect(config.azure).toMatchObject({
      cloud: 'AzureChinaCloud',
      armEndpoint: 'https://management.chinacloudapi.cn',
      subscriptionId: SUB2,
      location: 'chinanorth',
      routeTables: [{ subscriptionId: SUB2, resourceGroup: 'json-rg', name: 'json-routes' }],
    });
  });

  it('lets every flag override its azure.json key', () => {
    const { flags, environment: env } = withAzureJson(json, {
      cloud: 'AzureUSGovernment',
      subscriptionId: SUB,
      resourceGroup: 'flag-rg',
      location: 'usgovvirginia',
      routeTable: ['flag-routes'],
    });
    const config = load(flags, env);
    expect(config.azure).toMatchObject({
      cloud: 'AzureUSGovernment',
      armEndpoint: 'https://management.usgovcloudapi.net',
      subscriptionId: SUB,
      location: 'usgovvirginia',
      routeTables: [{ subscriptionId: SUB, resourceGroup: 'flag-rg', name: 'flag-routes' }],
    });
  });

  it('normalises the cloud names cloud-provider-azure accepts in azure.json', () => {
    for (const [name, cloud] of [
      ['AzureCloud', 'AzurePublicCloud'],
      ['azurepubliccloud', 'AzurePublicCloud'],
      ['AZURECHINACLOUD', 'AzureChinaCloud'],
      ['AzureUSGovernmentCloud', 'AzureUSGovernment'],
    ] as const) {
      const { flags, environment: env } = withAzureJson({ cloud: name }, MINIMAL);
      expect(load(flags, env).azure.cloud, name).toBe(cloud);
    }
    const { flags, environment: env } = withAzureJson({ cloud: 'AzureGermanCloud' }, MINIMAL);
    expect(configError(() => load(flags, env)).message).toMatch(/azure\.json "cloud".*AzureGermanCloud/);
  });

  describe('resource group: --resource-group, then routeTableResourceGroup, then resourceGroup', () => {
    const both = {
      subscriptionId: SUB,
      routeTableName: 't',
      routeTableResourceGroup: 'rt-rg',
      resourceGroup: 'cluster-rg',
    };

    it('--resource-group wins over both keys', () => {
      const { flags, environment: env } = withAzureJson(both, { resourceGroup: 'flag-rg' });
      expect(load(flags, env).azure.routeTables[0]!.resourceGroup).toBe('flag-rg');
    });

    it('routeTableResourceGroup wins over resourceGroup', () => {
      const { flags, environment: env } = withAzureJson(both);
      expect(load(flags, env).azure.routeTables[0]!.resourceGroup).toBe('rt-rg');
    });

    it('resourceGroup is the last resort', () => {
      const { flags, environment: env } = withAzureJson({ ...both, routeTableResourceGroup: undefined });
      expect(load(flags, env).azure.routeTables[0]!.resourceGroup).toBe('cluster-rg');
    });

    it('an empty routeTableResourceGroup counts as absent', () => {
      const { flags, environment: env } = withAzureJson({ ...both, routeTableResourceGroup: '' });
      expect(load(flags, env).azure.routeTables[0]!.resourceGroup).toBe('cluster-rg');
    });

    it('names the source of an invalid resource group', () => {
      const { flags, environment: env } = withAzureJson({ ...both, routeTableResourceGroup: 'bad/rg' });
      expect(configError(() => load(flags, env)).message).toContain('azure.json "routeTableResourceGroup"');
      expect(configError(() => load({ ...MINIMAL, resourceGroup: 'ends-with-dot.' })).message).toContain(
        '--resource-group',
      );
    });

    it('explains how to give a resource group when there is none', () => {
      const error = configError(() => load({ subscriptionId: SUB, routeTable: ['routes'] }));
      expect(error.message).toContain('--resource-group');
      expect(error.message).toContain('RG/routes');
    });
  });
});

describe('--route-table', () => {
  it('takes NAME in --resource-group', () => {
    expect(load(MINIMAL).azure.routeTables).toEqual([
      { subscriptionId: SUB, resourceGroup: 'rg', name: 'routes' },
    ]);
  });

  it('takes RG/NAME, overriding --resource-group for that table', () => {
    expect(load({ ...MINIMAL, routeTable: ['routes', 'other-rg/routes-b'] }).azure.routeTables).toEqual([
      { subscriptionId: SUB, resourceGroup: 'rg', name: 'routes' },
      { subscriptionId: SUB, resourceGroup: 'other-rg', name: 'routes-b' },
    ]);
  });

  it('takes RG/NAME without --resource-group', () => {
    const config = load({ subscriptionId: SUB, routeTable: ['other-rg/routes-b'] });
    expect(config.azure.routeTables).toEqual([
      { subscriptionId: SUB, resourceGroup: 'other-rg', name: 'routes-b' },
    ]);
  });

  it('takes a full resource ID, whose subscription wins', () => {
    const id = `/subscriptions/${SUB2.toUpperCase()}/resourceGroups/id-rg/providers/Microsoft.Network/routeTables/id-routes`;
    const config = load({ ...MINIMAL, routeTable: [id] });
    expect(config.azure.routeTables).toEqual([
      { subscriptionId: SUB2, resourceGroup: 'id-rg', name: 'id-routes' },
    ]);
    expect(config.azure.subscriptionId).toBe(SUB2);
  });

  it('needs no --subscription-id or --resource-group with a full resource ID', () => {
    const id = `/subscriptions/${SUB2}/resourceGroups/id-rg/providers/Microsoft.Network/routeTables/id-routes`;
    expect(load({ routeTable: [id] }).azure.routeTables).toEqual([
      { subscriptionId: SUB2, resourceGroup: 'id-rg', name: 'id-routes' },
    ]);
  });

  it('replaces azure.json routeTableName', () => {
    const { flags, environment: env } = withAzureJson({ routeTableName: 'json-routes' }, MINIMAL);
    expect(load(flags, env).azure.routeTables.map((t) => t.name)).toEqual(['routes']);
  });

  it('refuses a table given twice, in any spelling', () => {
    for (const routeTable of [
      ['routes', 'routes'],
      ['routes', 'ROUTES'],
      ['routes', 'rg/routes'],
      ['routes', `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Network/routeTables/routes`],
    ]) {
      const error = configError(() => load({ ...MINIMAL, routeTable }));
      expect(error.message, routeTable.join(' ')).toMatch(/--route-table: .* is given twice/);
    }
  });

  it('refuses malformed values, naming the flag', () => {
    for (const value of [
      'a/b/c',
      '/subscriptions/x/routeTables/y',
      '-starts-with-dash',
      'ends.with.dot.',
      'has space',
    ]) {
      expect(configError(() => load({ ...MINIMAL, routeTable: [value] })).message, value).toContain(
        '--route-table',
      );
    }
    const badSub = `/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.Network/routeTables/t`;
    expect(configError(() => load({ ...MINIMAL, routeTable: [badSub] })).message).toMatch(
      /--route-table.*not a GUID/,
    );
  });

  it('asks for a table when there is none', () => {
    const error = configError(() => load({ subscriptionId: SUB, resourceGroup: 'rg' }));
    expect(error.message).toContain('--route-table');
    expect(error.message).toContain('routeTableName');
  });

  it('asks for a subscription when there is none', () => {
    const error = configError(() => load({ resourceGroup: 'rg', routeTable: ['routes'] }));
    expect(error.message).toContain('--subscription-id');
  });

  it('refuses a subscription that is not a GUID, naming its source', () => {
    expect(configError(() => load({ ...MINIMAL, subscriptionId: 'my-subscription' })).message).toContain(
      '--subscription-id',
    );
    const { flags, environment: env } = withAzureJson({
      subscriptionId: 'nope',
      routeTableName: 't',
      resourceGroup: 'rg',
    });
    expect(configError(() => load(flags, env)).message).toContain('azure.json "subscriptionId"');
  });
});

describe('--cluster-cidr', () => {
  it('is required: without it the load fails with one line naming the flag and where its value lives', () => {
    const { clusterCidr: _omitted, ...withoutCidr } = MINIMAL;
    const error = configError(() => loadSyncConfig(withoutCidr, environment()));
    expect(error.message).toMatch(/^--cluster-cidr is required; /);
    expect(error.message).toContain('kube-controller-manager');
    expect(error.message).toContain('networking.podSubnet');
    expect(error.message).toContain('10.200.0.0/16');
    // A value that is only separators leaves no range either.
    expect(configError(() => load({ ...MINIMAL, clusterCidr: [','] })).message).toMatch(
      /^--cluster-cidr is required; /,
    );
  });

  it('masks host bits with a warning, as kube-controller-manager does', () => {
    const config = load({ ...MINIMAL, clusterCidr: ['ace:cab:deca::/8'] });
    expect(config.planner.clusterCIDRs).toEqual(['a00::/8']);
    expect(config.warnings).toEqual([expect.stringMatching(/--cluster-cidr: "ace:cab:deca::\/8".*a00::\/8/)]);

    const v4 = load({ ...MINIMAL, clusterCidr: ['10.200.7.1/16'] });
    expect(v4.planner.clusterCIDRs).toEqual(['10.200.0.0/16']);
    expect(v4.warnings).toHaveLength(1);
  });

  it('accepts comma-separated and repeated values, dual-stack, and drops duplicates', () => {
    const config = load({
      ...MINIMAL,
      clusterCidr: ['10.200.0.0/16, fd00:10:200::/56', '10.200.0.0/16', 'FD00:10:200:0::/56'],
    });
    expect(config.planner.clusterCIDRs).toEqual(['10.200.0.0/16', 'fd00:10:200::/56']);
    expect(config.warnings).toEqual([]);
  });

  it('refuses /0, which would make every route ours', () => {
    for (const cidr of ['0.0.0.0/0', '::/0', '10.0.0.0/0']) {
      const error = configError(() => load({ ...MINIMAL, clusterCidr: [cidr] }));
      expect(error.message, cidr).toContain('--cluster-cidr');
      expect(error.message, cidr).toContain('every');
    }
  });

  it('refuses an empty value, which would silently switch ownership to route names', () => {
    for (const clusterCidr of [[''], ['  '], ['10.200.0.0/16', '']]) {
      expect(configError(() => load({ ...MINIMAL, clusterCidr })).message).toMatch(
        /^--cluster-cidr: the value is empty/,
      );
    }
    // A stray comma inside a list is harmless.
    expect(load({ ...MINIMAL, clusterCidr: ['10.200.0.0/16,'] }).planner.clusterCIDRs).toEqual([
      '10.200.0.0/16',
    ]);
  });

  it('refuses what is not a CIDR, naming the flag and the value', () => {
    for (const cidr of ['10.200.0.0/33', '10.200.0.0', 'ten/8', '10.200.0.0/16,nope']) {
      const error = configError(() => load({ ...MINIMAL, clusterCidr: [cidr] }));
      expect(error.message, cidr).toMatch(/^--cluster-cidr: ".*" is not a CIDR/);
    }
  });
});

describe('credentials from azure.json', () => {
  const base = { subscriptionId: SUB, resourceGroup: 'rg', routeTableName: 't' };
  const credential = (json: object) => {
    const { flags, environment: env } = withAzureJson({ ...base, ...json });
    return load(flags, env).azure.credential;
  };

  it('uses the default chain when no identity key is set', () => {
    expect(credential({})).toEqual({ kind: 'default', managedIdentityClientId: undefined });
    expect(credential({ userAssignedIdentityID: CLIENT })).toEqual({
      kind: 'default',
      managedIdentityClientId: CLIENT,
    });
  });

  it('a client secret', () => {
    expect(credential({ tenantId: TENANT, aadClientId: CLIENT, aadClientSecret: 'shh' })).toEqual({
      kind: 'clientSecret',
      tenantId: TENANT,
      clientId: CLIENT,
      clientSecret: 'shh',
    });
  });

  it('a client certificate, with or without a password', () => {
    expect(credential({ tenantId: TENANT, aadClientId: CLIENT, aadClientCertPath: '/etc/cert.pem' })).toEqual(
      {
        kind: 'clientCertificate',
        tenantId: TENANT,
        clientId: CLIENT,
        certificatePath: '/etc/cert.pem',
        certificatePassword: undefined,
      },
    );
    expect(
      credential({
        tenantId: TENANT,
        aadClientId: CLIENT,
        aadClientCertPath: '/c.pfx',
        aadClientCertPassword: 'pw',
      }),
    ).toMatchObject({ kind: 'clientCertificate', certificatePassword: 'pw' });
  });

  it('a managed identity, system- or user-assigned', () => {
    expect(credential({ useManagedIdentityExtension: true })).toEqual({
      kind: 'managedIdentity',
      clientId: undefined,
    });
    expect(credential({ useManagedIdentityExtension: true, userAssignedIdentityID: CLIENT })).toEqual({
      kind: 'managedIdentity',
      clientId: CLIENT,
    });
  });

  // Upstream (pkg/azclient/auth_conf.go): the flag, or AZURE_FEDERATED_TOKEN_FILE, selects workload identity; a
  // token file alone does not (it used to here).
  it('workload identity, from the flag with its token file, never from the token file alone', () => {
    const file = '/var/run/secrets/azure/tokens/azure-identity-token';
    expect(
      credential({
        useFederatedWorkloadIdentityExtension: true,
        aadFederatedTokenFile: file,
        tenantId: TENANT,
        aadClientId: CLIENT,
      }),
    ).toEqual({ kind: 'workloadIdentity', tenantId: TENANT, clientId: CLIENT, tokenFilePath: file });
    const { flags, environment: env } = withAzureJson({ ...base, aadFederatedTokenFile: file });
    const config = load(flags, env);
    expect(config.azure.credential.kind).toBe('default');
    expect(config.warnings).toEqual([
      expect.stringContaining('"useFederatedWorkloadIdentityExtension" is not true'),
    ]);
  });

  it('workload identity wins over managed identity, which wins over a certificate and a secret', () => {
    const all = {
      tenantId: TENANT,
      aadClientId: CLIENT,
      aadClientSecret: 's',
      aadClientCertPath: '/c.pem',
      useManagedIdentityExtension: true,
    };
    expect(
      credential({ ...all, useFederatedWorkloadIdentityExtension: true, aadFederatedTokenFile: '/t' }).kind,
    ).toBe('workloadIdentity');
    expect(credential(all).kind).toBe('managedIdentity');
    // Upstream tries the secret before the certificate (this used to pick the certificate).
    expect(credential({ ...all, useManagedIdentityExtension: false }).kind).toBe('clientSecret');
    const { aadClientSecret: _secret, ...noSecret } = all;
    expect(credential({ ...noSecret, useManagedIdentityExtension: false }).kind).toBe('clientCertificate');
  });

  it('names the missing key of a service principal', () => {
    const noTenant = withAzureJson({ ...base, aadClientId: CLIENT, aadClientSecret: 'shh' });
    const error = configError(() => load(noTenant.flags, noTenant.environment));
    expect(error.message).toContain('"tenantId"');
    expect(error.message).toContain('aadClientSecret');
    expect(error.message).not.toContain('shh');

    const noClient = withAzureJson({ ...base, tenantId: TENANT, aadClientCertPath: '/c.pem' });
    expect(configError(() => load(noClient.flags, noClient.environment)).message).toContain('"aadClientId"');
  });

  it('refuses a tenantId that is not a GUID', () => {
    const { flags, environment: env } = withAzureJson({ ...base, tenantId: 'contoso.onmicrosoft.com' });
    expect(configError(() => load(flags, env)).message).toContain('azure.json "tenantId"');
  });

  it('never uses them with the insecure test endpoint: a placeholder token only', () => {
    const { flags, environment: env } = withAzureJson(
      { ...base, tenantId: TENANT, aadClientId: CLIENT, aadClientSecret: 'shh' },
      { armEndpoint: 'http://127.0.0.1:8080', allowInsecureArmEndpoint: true },
    );
    expect(load(flags, env).azure.credential).toEqual({ kind: 'insecureTest' });
  });
});

describe('the azure.json file', () => {
  it('warns about unknown keys, naming them, and ignores keys other components read', () => {
    const { flags, environment: env } = withAzureJson({
      ...{ subscriptionId: SUB, resourceGroup: 'rg', routeTableName: 't' },
      subscriptionID: SUB,
      vnetName: 'v',
      vmType: 'standard',
    });
    const config = load(flags, env);
    expect(config.warnings).toEqual([expect.stringContaining('"subscriptionID"')]);
    expect(config.warnings[0]).toContain(AZURE_JSON);
    expect(config.warnings[0]).not.toContain('vnetName');
  });

  it('refuses a key of the wrong type, naming the key', () => {
    for (const [json, key] of [
      [{ subscriptionId: 42 }, 'subscriptionId'],
      [{ routeTableName: ['a', 'b'] }, 'routeTableName'],
      [{ useManagedIdentityExtension: 'true' }, 'useManagedIdentityExtension'],
      [{ useFederatedWorkloadIdentityExtension: 1 }, 'useFederatedWorkloadIdentityExtension'],
    ] as const) {
      const { flags, environment: env } = withAzureJson(json, MINIMAL);
      const error = configError(() => load(flags, env));
      expect(error.message, key).toContain(`key "${key}"`);
      expect(error.message, key).toContain(AZURE_JSON);
    }
  });

  it('refuses a file that is not a JSON object, in one line that does not echo the file', () => {
    for (const text of [
      'nope\n',
      '{"aadClientSecret": s3cr3t-value}',
      '{"aadClientSecret": "s3cr3t-value",\n "tenantId": oops}',
      '',
    ]) {
      const { flags, environment: env } = withAzureJson(text, MINIMAL);
      const error = configError(() => load(flags, env));
      expect(error.message, text).toMatch(/^--cloud-config \/etc\/kubernetes\/azure\.json: not valid JSON/);
      expect(error.message, text).not.toContain('s3cr3t');
    }
    for (const text of ['[]', '"azure"', 'null', '42']) {
      const { flags, environment: env } = withAzureJson(text, MINIMAL);
      expect(configError(() => load(flags, env)).message, text).toContain('expected a JSON object');
    }
  });

  it('names the file it cannot read', () => {
    const error = configError(() => load({ ...MINIMAL, cloudConfig: '/missing/azure.json' }, environment()));
    expect(error.message).toBe(
      '--cloud-config /missing/azure.json: cannot read the file (no such file); pass the path of your azure.json',
    );
  });

  it('trims string values', () => {
    const { flags, environment: env } = withAzureJson({
      subscriptionId: ` ${SUB} `,
      resourceGroup: ' rg ',
      routeTableName: ' t\n',
    });
    expect(load(flags, env).azure.routeTables).toEqual([
      { subscriptionId: SUB, resourceGroup: 'rg', name: 't' },
    ]);
  });
});

describe('clouds and the Resource Manager endpoint', () => {
  it('--cloud picks the endpoints and the token scope', () => {
    expect(load({ ...MINIMAL, cloud: 'AzureChinaCloud' }).azure).toMatchObject({
      cloud: 'AzureChinaCloud',
      armEndpoint: 'https://management.chinacloudapi.cn',
      tokenScope: 'https://management.chinacloudapi.cn/.default',
      authorityHost: 'https://login.chinacloudapi.cn',
    });
    expect(load({ ...MINIMAL, cloud: 'AzureUSGovernment' }).azure).toMatchObject({
      armEndpoint: 'https://management.usgovcloudapi.net',
      tokenScope: 'https://management.usgovcloudapi.net/.default',
      authorityHost: 'https://login.microsoftonline.us',
    });
    expect(configError(() => load({ ...MINIMAL, cloud: 'Mars' })).message).toMatch(/^--cloud: "Mars"/);
  });

  it('--arm-endpoint overrides the endpoint and moves the token scope with it', () => {
    const config = load({
      ...MINIMAL,
      cloud: 'AzureChinaCloud',
      armEndpoint: 'https://management.local.azurestack.external/',
    });
    expect(config.azure).toMatchObject({
      armEndpoint: 'https://management.local.azurestack.external',
      tokenScope: 'https://management.local.azurestack.external/.default',
      // The authority still comes from the cloud.
      authorityHost: 'https://login.chinacloudapi.cn',
      allowInsecureEndpoint: false,
    });
  });

  it('refuses an endpoint with a path or query, or that is not a URL', () => {
    for (const url of [
      'https://management.azure.com/subscriptions',
      'https://management.azure.com/?x=1',
      'management.azure.com',
      'ftp://x',
    ]) {
      expect(configError(() => load({ ...MINIMAL, armEndpoint: url })).message, url).toMatch(
        /^--arm-endpoint: /,
      );
    }
  });

  describe('plain http: a loopback simulator, with --allow-insecure-arm-endpoint, only', () => {
    it('allows loopback with the flag', () => {
      for (const url of [
        'http://127.0.0.1:8080',
        'http://localhost:1234',
        'http://[::1]:80',
        'http://127.5.6.7',
      ]) {
        const config = load({ ...MINIMAL, armEndpoint: url, allowInsecureArmEndpoint: true });
        expect(config.azure.allowInsecureEndpoint, url).toBe(true);
        expect(config.azure.credential, url).toEqual({ kind: 'insecureTest' });
        expect(config.azure.tokenScope, url).toBe(`${new URL(url).origin}/.default`);
      }
    });

    it('refuses loopback without the flag', () => {
      const error = configError(() => load({ ...MINIMAL, armEndpoint: 'http://127.0.0.1:8080' }));
      expect(error.message).toMatch(/^--arm-endpoint: .*plain http.*--allow-insecure-arm-endpoint/);
    });

    it('refuses anything but loopback, even with the flag', () => {
      for (const url of ['http://management.azure.com', 'http://10.0.0.1:8080', 'http://127.0.0.1.nip.io']) {
        const error = configError(() =>
          load({ ...MINIMAL, armEndpoint: url, allowInsecureArmEndpoint: true }),
        );
        expect(error.message, url).toMatch(/^--arm-endpoint: .*plain http/);
      }
    });

    it('refuses the flag without an endpoint', () => {
      const error = configError(() => load({ ...MINIMAL, allowInsecureArmEndpoint: true }));
      expect(error.message).toMatch(/^--allow-insecure-arm-endpoint/);
    });
  });
});

describe('kubeconfig', () => {
  it('--kubeconfig wins over $KUBECONFIG', () => {
    expect(
      load({ ...MINIMAL, kubeconfig: '/flag' }, environment({}, { KUBECONFIG: '/env' })).kubeconfig,
    ).toBe('/flag');
  });

  // DESIGN 4 (changed): the whole $KUBECONFIG list is merged, as kubectl merges it, and ~/.kube/config comes last;
  // the kube adapter walks the search (test/e2e/kubeconfig.test.ts).
  it('searches $KUBECONFIG, then in-cluster, then ~/.kube/config under $HOME', () => {
    expect(
      load(MINIMAL, environment({}, { KUBECONFIG: '/env/config', HOME: '/home/u' })).kubeconfigSearch,
    ).toEqual({
      flag: undefined,
      envFiles: ['/env/config'],
      homeFile: '/home/u/.kube/config',
      context: undefined,
    });
    expect(load(MINIMAL, environment({}, { KUBECONFIG: '' })).kubeconfigSearch.envFiles).toEqual([]);
    expect(load(MINIMAL, environment()).kubeconfigSearch.homeFile).toBeUndefined();
  });

  it('keeps every file of a $KUBECONFIG list, in order, without a warning', () => {
    const config = load(MINIMAL, environment({}, { KUBECONFIG: '/a/config:/b/config' }));
    expect(config.kubeconfigSearch.envFiles).toEqual(['/a/config', '/b/config']);
    expect(config.warnings).toEqual([]);
  });

  it('passes --context on, and refuses an empty one', () => {
    expect(load({ ...MINIMAL, context: 'prod' }).kubeconfigSearch.context).toBe('prod');
    expect(configError(() => load({ ...MINIMAL, context: ' ' })).message).toMatch(/^--context: /);
  });

  it('reads no other environment variable', () => {
    const env = environment(
      {},
      {
        AZURE_SUBSCRIPTION_ID: SUB2,
        AZURE_TENANT_ID: TENANT,
        AZURE_CLIENT_ID: CLIENT,
        AZURE_CLIENT_SECRET: 'shh',
        KUBERNETES_SERVICE_HOST: '10.0.0.1',
      },
    );
    const config = load(MINIMAL, env);
    expect(config.azure.subscriptionId).toBe(SUB);
    expect(config.azure.credential).toEqual({ kind: 'default', managedIdentityClientId: undefined });
    expect(config.kubeconfig).toBeUndefined();
  });
});

describe('numbers, durations and choices name the flag', () => {
  it('durations', () => {
    expect(load({ ...MINIMAL, operationTimeout: '1.5m', pollInterval: '2s' }).azure).toMatchObject({
      operationTimeoutMs: 90_000,
      pollIntervalMs: 2_000,
    });
    for (const [flag, key] of [
      ['--operation-timeout', 'operationTimeout'],
      ['--poll-interval', 'pollInterval'],
    ] as const) {
      for (const value of ['90', 'soon', '5 minutes', '-1s', '1d']) {
        const error = configError(() => load({ ...MINIMAL, [key]: value }));
        expect(error.message, `${flag} ${value}`).toBe(
          `${flag}: "${value}" is not a duration; use a number with a unit, e.g. 500ms, 15s, 1m`,
        );
      }
    }
  });

  it('a zero duration, which would time out every write or poll in a busy loop', () => {
    expect(configError(() => load({ ...MINIMAL, operationTimeout: '0s' })).message).toBe(
      '--operation-timeout: "0s" is too short; use at least 1ms',
    );
    expect(configError(() => load({ ...MINIMAL, pollInterval: '0ms' })).message).toMatch(
      /^--poll-interval: /,
    );
  });

  it('integers, with their ranges', () => {
    for (const [flag, key, bad] of [
      ['--route-limit', 'routeLimit', ['0', 'many', '1.5', '-3', '100001']],
      ['--node-cidr-mask-size-ipv4', 'nodeCidrMaskSizeIpv4', ['0', '33', 'x']],
      ['--node-cidr-mask-size-ipv6', 'nodeCidrMaskSizeIpv6', ['0', '129', '']],
      ['--max-write-attempts', 'maxWriteAttempts', ['0', '101', '2e1']],
    ] as const) {
      for (const value of bad) {
        const error = configError(() => load({ ...MINIMAL, [key]: value }));
        expect(error.message, `${flag} ${value}`).toMatch(
          new RegExp(`^${flag}: ".*" is not valid; use a whole number from \\d+ to \\d+$`),
        );
      }
    }
  });

  it('choices', () => {
    expect(configError(() => load({ ...MINIMAL, output: 'yaml' })).message).toBe(
      '--output: "yaml" is not valid; use one of text, json',
    );
    expect(configError(() => load({ ...MINIMAL, logLevel: 'verbose' })).message).toMatch(
      /^--log-level: "verbose"/,
    );
  });
});

describe('--create-route-table', () => {
  it('needs a location, from --location or azure.json', () => {
    const error = configError(() => load({ ...MINIMAL, createRouteTable: true }));
    expect(error.message).toContain('--location');
    expect(configError(() => load({ ...MINIMAL, createRouteTable: true, location: '' })).message).toContain(
      '--location',
    );
    const { flags, environment: env } = withAzureJson(
      { location: 'westeurope' },
      { ...MINIMAL, createRouteTable: true },
    );
    expect(load(flags, env)).toMatchObject({ createRouteTable: true, azure: { location: 'westeurope' } });
  });
});
