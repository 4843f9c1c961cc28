// Each identity mode, from an azure.json through the config layer to the token request on the wire. A small
// token endpoint on 127.0.0.1 plays Microsoft Entra ID, IMDS and the Azure Stack Hub metadata endpoint; the
// credential's HTTP client sends every request, unchanged but for the origin, to it (the original host travels in
// a header), so what is recorded is what the SDK would have sent to Azure.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDefaultHttpClient, type HttpClient } from '@azure/core-rest-pipeline';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { resolveCloudEndpoints } from '../../src/azure/clouds.ts';
import { createCredential } from '../../src/azure/credentials.ts';
import { loadCommonConfig, type Environment } from '../../src/config/load.ts';
import type { CommonConfig } from '../../src/config/types.ts';

const SUB = '00000000-0000-0000-0000-000000000001';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '0e6a1c55-3b7d-4f2a-9c8e-1d4b7a2f5c90';
const MI_RES_ID =
  '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/identities/providers/Microsoft.ManagedIdentity/userAssignedIdentities/route-controller';
const CERTS = fileURLToPath(new URL('../fixtures/azure-json/certs/', import.meta.url));
const PFX_PASSWORD = 'test-pfx-password';
const STACK_AUDIENCE = 'https://management.adfs.azurestack.local/4de154de-f8a8-4017-af41-df619da68155';
const STACK_LOGIN = 'https://login.stack.example/';

interface Recorded {
  readonly method: string;
  /** The host the SDK addressed. */
  readonly host: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage['headers'];
  readonly form: URLSearchParams;
}

const requests: Recorded[] = [];
let server: Server;
let origin: string;

function respond(req: Recorded): { status: number; body: unknown } {
  if (req.path.endsWith('/discovery/instance')) {
    const authority = req.query.get('authorization_endpoint') ?? '';
    const base = authority.replace(/\/oauth2\/v2\.0\/authorize$/, '');
    return {
      status: 200,
      body: {
        tenant_discovery_endpoint: `${base}/v2.0/.well-known/openid-configuration`,
        'api-version': '1.1',
        metadata: [],
      },
    };
  }
  if (req.path.endsWith('/.well-known/openid-configuration')) {
    const tenant = req.path.split('/')[1];
    const base = `https://${req.host}/${tenant}`;
    return {
      status: 200,
      body: {
        token_endpoint: `${base}/oauth2/v2.0/token`,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        issuer: `${base}/v2.0`,
        end_session_endpoint: `${base}/oauth2/v2.0/logout`,
        jwks_uri: `${base}/discovery/v2.0/keys`,
        response_types_supported: ['code'],
      },
    };
  }
  if (req.path.endsWith('/oauth2/v2.0/token')) {
    return { status: 200, body: { token_type: 'Bearer', expires_in: 3599, access_token: 'entra-token' } };
  }
  if (req.path === '/metadata/identity/oauth2/token') {
    const expires = Math.floor(Date.now() / 1000) + 3600;
    return {
      status: 200,
      body: {
        access_token: 'imds-token',
        expires_in: '3600',
        expires_on: String(expires),
        resource: req.query.get('resource'),
        token_type: 'Bearer',
      },
    };
  }
  if (req.path === '/metadata/endpoints') {
    return {
      status: 200,
      body: [
        {
          name: 'AzureStackCloud',
          resourceManager: 'https://management.local.azurestack.external/',
          authentication: { loginEndpoint: STACK_LOGIN, audiences: [STACK_AUDIENCE] },
        },
      ],
    };
  }
  return { status: 404, body: { error: 'not_found', error_description: `no route for ${req.path}` } };
}

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const recorded: Recorded = {
        method: req.method ?? '',
        host: String(req.headers['x-original-host'] ?? req.headers.host),
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        form: new URLSearchParams(body),
      };
      requests.push(recorded);
      const { status, body: out } = respond(recorded);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(out));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

let dir: string;
beforeEach(() => {
  requests.length = 0;
  dir = mkdtempSync(join(tmpdir(), 'arc-identity-'));
  // Nothing of the runner's may pick another managed identity source than IMDS.
  for (const name of [
    'IDENTITY_ENDPOINT',
    'IDENTITY_HEADER',
    'MSI_ENDPOINT',
    'MSI_SECRET',
    'IMDS_ENDPOINT',
  ]) {
    vi.stubEnv(name, undefined);
  }
  vi.stubEnv('AZURE_POD_IDENTITY_AUTHORITY_HOST', undefined);
  vi.stubEnv('AZURE_FEDERATED_TOKEN_FILE', undefined);
  vi.stubEnv('IDENTITY_SERVER_THUMBPRINT', undefined);
});
afterEach(() => {
  vi.unstubAllEnvs();
  rmSync(dir, { recursive: true, force: true });
});

/** Sends each request to the local endpoint, keeping its path, query, headers and body. */
const redirect: HttpClient = {
  sendRequest: (request) => {
    const target = new URL(request.url);
    request.headers.set('x-original-host', target.host);
    request.url = `${origin}${target.pathname}${target.search}`;
    request.allowInsecureConnection = true;
    return createDefaultHttpClient().sendRequest(request);
  },
};

function configFor(json: object, env: Record<string, string> = {}): CommonConfig {
  const file = join(dir, 'azure.json');
  writeFileSync(file, JSON.stringify(json));
  const environment: Environment = { env, readFile: (path) => readFileSync(path, 'utf8') };
  return loadCommonConfig({ cloudConfig: file, clusterCidr: ['10.244.0.0/16'] }, environment);
}

async function tokenFor(config: CommonConfig): Promise<string | undefined> {
  const azure = await resolveCloudEndpoints(config.azure, {
    fetch: (url, init) => {
      const target = new URL(url);
      return fetch(`${origin}${target.pathname}${target.search}`, {
        ...init,
        headers: { 'x-original-host': target.host },
      });
    },
  });
  const credential = createCredential(azure.credential, azure.authorityHost, { httpClient: redirect });
  return (await credential.getToken(azure.tokenScope))?.token;
}

const base = { subscriptionId: SUB, resourceGroup: 'rg', routeTableName: 'routes', tenantId: TENANT };

function tokenRequest(): Recorded {
  const found = requests.filter((r) => r.path.endsWith('/oauth2/v2.0/token'));
  expect(found, `requests: ${requests.map((r) => `${r.method} ${r.host}${r.path}`).join(', ')}`).toHaveLength(
    1,
  );
  return found[0]!;
}

function jwtHeader(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('managed identity (useManagedIdentityExtension)', () => {
  it('a client ID goes to IMDS as client_id', async () => {
    const config = configFor({ ...base, useManagedIdentityExtension: true, userAssignedIdentityID: CLIENT });
    expect(await tokenFor(config)).toBe('imds-token');
    const imds = requests.filter((r) => r.path === '/metadata/identity/oauth2/token');
    expect(imds.length).toBeGreaterThanOrEqual(1);
    const req = imds.at(-1)!;
    expect(req.host).toBe('169.254.169.254');
    expect(req.headers['metadata']).toBe('true');
    expect(req.query.get('client_id')).toBe(CLIENT);
    expect(req.query.has('msi_res_id')).toBe(false);
    expect(req.query.get('resource')).toBe('https://management.azure.com');
  });

  it('a resource ID goes to IMDS as mi_res_id, as upstream sends it', async () => {
    const config = configFor({
      ...base,
      useManagedIdentityExtension: true,
      userAssignedIdentityID: MI_RES_ID,
    });
    expect(await tokenFor(config)).toBe('imds-token');
    const req = requests.filter((r) => r.path === '/metadata/identity/oauth2/token').at(-1)!;
    expect(req.query.get('msi_res_id')).toBe(MI_RES_ID);
    expect(req.query.has('client_id')).toBe(false);
  });

  it('without an ID, the system-assigned identity: neither parameter', async () => {
    const config = configFor({ ...base, useManagedIdentityExtension: true });
    expect(await tokenFor(config)).toBe('imds-token');
    const req = requests.filter((r) => r.path === '/metadata/identity/oauth2/token').at(-1)!;
    expect(req.query.has('client_id')).toBe(false);
    expect(req.query.has('msi_res_id')).toBe(false);
  });
});

describe('service principal', () => {
  it('a client secret is sent as client_secret, to the tenant, for the ARM scope', async () => {
    const config = configFor({ ...base, aadClientId: CLIENT, aadClientSecret: 'sp-secret-value' });
    expect(await tokenFor(config)).toBe('entra-token');
    const req = tokenRequest();
    expect(req.host).toBe('login.microsoftonline.com');
    expect(req.path).toBe(`/${TENANT}/oauth2/v2.0/token`);
    expect(req.form.get('grant_type')).toBe('client_credentials');
    expect(req.form.get('client_id')).toBe(CLIENT);
    expect(req.form.get('client_secret')).toBe('sp-secret-value');
    expect(req.form.get('scope')).toBe('https://management.azure.com/.default');
    expect(req.form.has('client_assertion')).toBe(false);
  });

  it('with both a secret and a certificate, the secret is used, as upstream tries it first', async () => {
    const config = configFor({
      ...base,
      aadClientId: CLIENT,
      aadClientSecret: 'sp-secret-value',
      aadClientCertPath: join(CERTS, 'sp.pfx'),
      aadClientCertPassword: PFX_PASSWORD,
    });
    await tokenFor(config);
    expect(tokenRequest().form.get('client_secret')).toBe('sp-secret-value');
  });

  const thumbprints = (() => {
    const cert = new X509Certificate(readFileSync(join(CERTS, 'sp.crt')));
    const b64url = (hex: string) => Buffer.from(hex.replace(/:/g, ''), 'hex').toString('base64url');
    return {
      sha1: b64url(cert.fingerprint),
      sha256: b64url(cert.fingerprint256),
      der: cert.raw.toString('base64'),
    };
  })();

  it.each([
    ['a PFX with its password', 'sp.pfx', PFX_PASSWORD],
    ['a PFX in the legacy (3DES) encryption', 'sp-legacy.pfx', PFX_PASSWORD],
    ['a PFX without a password', 'sp-nopass.pfx', undefined],
    ['a PEM', 'sp.pem', undefined],
  ])(
    'a certificate, %s, signs a client_assertion naming its thumbprint and chain',
    async (_name, file, password) => {
      const config = configFor({
        ...base,
        aadClientId: CLIENT,
        aadClientCertPath: join(CERTS, file),
        ...(password ? { aadClientCertPassword: password } : {}),
      });
      expect(await tokenFor(config)).toBe('entra-token');
      const req = tokenRequest();
      expect(req.form.has('client_secret')).toBe(false);
      expect(req.form.get('client_assertion_type')).toBe(
        'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      );
      const header = jwtHeader(req.form.get('client_assertion')!);
      const x5t = header['x5t#S256'] ?? header['x5t'];
      expect([thumbprints.sha1, thumbprints.sha256]).toContain(x5t);
      // sendCertificateChain, as upstream: the certificate itself travels in x5c.
      expect(header['x5c']).toEqual([thumbprints.der]);
      expect(JSON.stringify(requests)).not.toContain(PFX_PASSWORD);
    },
  );

  it('a PFX with the wrong password fails with one line naming the keys, not the password', () => {
    const config = configFor({
      ...base,
      aadClientId: CLIENT,
      aadClientCertPath: join(CERTS, 'sp.pfx'),
      aadClientCertPassword: 'not-the-password',
    });
    let caught: unknown;
    try {
      createCredential(config.azure.credential, config.azure.authorityHost);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(Error);
    const message = (caught as Error).message;
    expect(message).toContain('"aadClientCertPassword"');
    expect(message).toContain('sp.pfx');
    expect(message).not.toContain('not-the-password');
    expect(message).not.toContain('\n');
  });
});

describe('workload identity', () => {
  it('the federated token file is sent as the client_assertion', async () => {
    const tokenFile = join(dir, 'azure-identity-token');
    writeFileSync(tokenFile, 'eyJhbGciOiJSUzI1NiJ9.federated-sa-token.sig');
    const config = configFor({
      ...base,
      aadClientId: CLIENT,
      useFederatedWorkloadIdentityExtension: true,
      aadFederatedTokenFile: tokenFile,
      useManagedIdentityExtension: true,
    });
    expect(config.azure.credential.kind).toBe('workloadIdentity');
    expect(await tokenFor(config)).toBe('entra-token');
    const req = tokenRequest();
    expect(req.path).toBe(`/${TENANT}/oauth2/v2.0/token`);
    expect(req.form.get('client_id')).toBe(CLIENT);
    expect(req.form.get('client_assertion')).toBe('eyJhbGciOiJSUzI1NiJ9.federated-sa-token.sig');
    expect(req.form.get('client_assertion_type')).toBe(
      'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    );
    expect(requests.some((r) => r.path === '/metadata/identity/oauth2/token')).toBe(false);
  });

  it("the webhook's AZURE_* variables select it and win over the file's keys, as upstream", async () => {
    const tokenFile = join(dir, 'webhook-token');
    writeFileSync(tokenFile, 'webhook-projected-token');
    const webhookClient = '11111111-2222-3333-4444-555555555555';
    const config = configFor(
      { ...base, aadClientId: CLIENT, useManagedIdentityExtension: true },
      { AZURE_FEDERATED_TOKEN_FILE: tokenFile, AZURE_CLIENT_ID: webhookClient },
    );
    await tokenFor(config);
    const req = tokenRequest();
    expect(req.form.get('client_id')).toBe(webhookClient);
    expect(req.form.get('client_assertion')).toBe('webhook-projected-token');
  });
});

describe('Azure Stack Hub (cloud AzureStackCloud)', () => {
  it('asks for a token for the audience and from the authority its metadata endpoint gives', async () => {
    const config = configFor({
      ...base,
      cloud: 'AzureStackCloud',
      resourceManagerEndpoint: 'https://management.local.azurestack.external/',
      aadClientId: CLIENT,
      aadClientSecret: 'sp-secret-value',
    });
    expect(await tokenFor(config)).toBe('entra-token');
    const metadata = requests.find((r) => r.path === '/metadata/endpoints')!;
    expect(metadata.host).toBe('management.local.azurestack.external');
    expect(metadata.query.get('api-version')).toBe('2019-05-01');
    const req = tokenRequest();
    expect(req.host).toBe('login.stack.example');
    expect(req.form.get('scope')).toBe(`${STACK_AUDIENCE}/.default`);
  });

  it('takes the audience and authority from AZURE_ENVIRONMENT_FILEPATH without asking the metadata endpoint', async () => {
    const envFile = join(dir, 'azurestackcloud.json');
    writeFileSync(
      envFile,
      JSON.stringify({
        name: 'AzureStackCloud',
        resourceManagerEndpoint: 'https://management.region.stack.example/',
        tokenAudience: 'https://management.stack-tenant.onmicrosoft.com/0123',
        activeDirectoryEndpoint: 'https://login.envfile.example/',
      }),
    );
    const config = configFor(
      { ...base, cloud: 'AzureStackCloud', aadClientId: CLIENT, aadClientSecret: 'sp-secret-value' },
      { AZURE_ENVIRONMENT_FILEPATH: envFile },
    );
    await tokenFor(config);
    expect(requests.some((r) => r.path === '/metadata/endpoints')).toBe(false);
    const req = tokenRequest();
    expect(req.host).toBe('login.envfile.example');
    expect(req.form.get('scope')).toBe('https://management.stack-tenant.onmicrosoft.com/0123/.default');
  });
});
