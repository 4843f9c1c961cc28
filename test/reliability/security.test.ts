// Security: secrets never reach a log line (at any level, trace included), a metric or an error message, and
// Azure Resource Manager is reached over HTTPS only, plain HTTP being allowed for a loopback simulator with an
// explicit test-only switch and a placeholder token. Each secret is a known value that the tests grep for in
// everything the controller writes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { INSECURE_TEST_TOKEN } from '../../src/azure/credentials.ts';
import { AzureError } from '../../src/azure/errors.ts';
import { createRouteTableStore } from '../../src/azure/store.ts';
import { loadRunConfig } from '../../src/config/run.ts';
import { startAzureSimulator, type AzureSimulator } from '../../src/simulator/azure.ts';
import { startFakeKubeApi, type FakeKubeApi } from '../../src/simulator/kube-api.ts';
import { expectExit, expectOneLineError, runCli } from '../support/cli.ts';
import { controllerFlags } from '../support/controller.ts';
import { spawnCli } from '../support/process.ts';
import {
  LOCATION,
  RESOURCE_GROUP,
  SUBNET_ID,
  SUBSCRIPTION,
  TABLE,
  routeFor,
  startSandbox,
  worker,
  workers,
  type Sandbox,
} from '../support/sandbox.ts';
import {
  SwitchableCredential,
  httpGet,
  isRouteCreated,
  startProxy,
  startReliabilityController,
  waitFor,
  type Proxy,
  type ReliabilityController,
} from './support.ts';

/** An Entra client secret has this shape (letters, digits, '~', '.', '_', '-'). */
const AZ_SECRET = 'Qx8~uF2.kR_7sV-T0pLm9nW3bYc5dZe1aGh4jK6';
const KUBE_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.kube-sa-token-for-the-route-controller.c2lnbmF0dXJl';
const BEARER = 'eyJ0eXAiOiJKV1QifQ.arm-bearer-token-value-0123456789.c2lnbmF0dXJlMg';
const SP_SECRET = 'Zz9~secret.of.the.service.principal_42';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** Everything a secret could leak into, as one text; the caller says which secrets must not be in it. */
function expectNoSecret(text: string, secrets: readonly string[]): void {
  for (const secret of secrets) {
    expect(text.includes(secret), `secret ${secret.slice(0, 6)}... leaked`).toBe(false);
    // Not even a recognisable part of it.
    expect(text.includes(secret.slice(0, 16)), `secret ${secret.slice(0, 6)}... partly leaked`).toBe(false);
  }
}

interface SecretWorld {
  readonly sim: AzureSimulator;
  readonly kube: FakeKubeApi;
  readonly dir: string;
  readonly kubeconfig: string;
  readonly azureJson: string;
  readonly flags: string[];
}

/** The simulator (which demands a bearer token) and an API server that demands KUBE_TOKEN, and an azure.json holding AZ_SECRET. */
async function secretWorld(): Promise<SecretWorld> {
  const sim = await startAzureSimulator({
    subscriptions: [SUBSCRIPTION],
    resourceGroups: [{ subscriptionId: SUBSCRIPTION, name: RESOURCE_GROUP, location: LOCATION }],
    requireAuthorization: true,
  });
  sim.putTable(SUBSCRIPTION, RESOURCE_GROUP, TABLE, { subnets: [SUBNET_ID] });
  const kube = await startFakeKubeApi({ requireToken: KUBE_TOKEN });
  kube.addNodes([...workers(3), { name: 'hostile', podCIDRs: ['0.0.0.0/0'], internalIPs: ['10.240.0.66'] }]);
  const dir = mkdtempSync(join(tmpdir(), 'arc-secrets-'));
  const kubeconfig = join(dir, 'kubeconfig');
  await kube.writeKubeconfig(kubeconfig);
  const azureJson = join(dir, 'azure.json');
  writeFileSync(
    azureJson,
    JSON.stringify({
      cloud: 'AzurePublicCloud',
      tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
      aadClientId: '11111111-2222-3333-4444-555555555555',
      aadClientSecret: AZ_SECRET,
      subscriptionId: SUBSCRIPTION,
      resourceGroup: RESOURCE_GROUP,
      routeTableName: TABLE,
    }),
  );
  cleanup.push(async () => {
    await Promise.all([sim.close(), kube.close()]);
    rmSync(dir, { recursive: true, force: true });
  });
  const flags = [
    '--cloud-config',
    azureJson,
    '--kubeconfig',
    kubeconfig,
    '--arm-endpoint',
    sim.url,
    '--allow-insecure-arm-endpoint',
    '--cluster-cidr',
    '10.200.0.0/16',
    '--poll-interval',
    '20ms',
    '--log-level',
    'trace',
  ];
  return { sim, kube, dir, kubeconfig, azureJson, flags };
}

/** Failures on every path that builds an error message: Azure 401, 403, 429, 500, a Failed LRO; Kubernetes 401, 403, 500. */
function injectFailures(w: SecretWorld): void {
  w.sim.faults.add({ kind: 'unauthorized', times: 1, match: { method: 'GET' } });
  w.sim.faults.add({ kind: 'forbidden', times: 1, match: { method: 'PUT' } });
  w.sim.faults.add({ kind: 'throttle', retryAfterSeconds: 1, times: 1, match: { method: 'PUT' } });
  w.sim.faults.add({ kind: 'serverError', status: 500, times: 4, match: { method: 'PUT' } });
  w.sim.faults.add({ kind: 'lroFailed', times: 1, match: { method: 'PUT' } });
  w.kube.failNext({ method: 'GET', pathIncludes: '/api/v1/nodes?', status: 500 });
  w.kube.failNext({ method: 'PATCH', pathIncludes: '/status', status: 401 });
  w.kube.failNext({ method: 'POST', pathIncludes: '/events', status: 403 });
}

describe('secrets never appear in logs, metrics or error messages', () => {
  it('run at --log-level trace, through Azure and Kubernetes failures: stdout, stderr and /metrics hold no secret', async () => {
    const w = await secretWorld();
    injectFailures(w);
    const p = spawnCli([
      'run',
      ...w.flags,
      '--leader-elect-namespace',
      'kube-system',
      '--bind-address',
      '127.0.0.1:0',
      '--debounce',
      '50ms',
      '--backoff-base',
      '100ms',
      '--backoff-max',
      '500ms',
    ]);
    cleanup.push(async () => {
      p.kill('SIGKILL');
      await p.exited;
    });
    await waitFor(() => {
      for (let i = 0; i < 3; i++)
        expect(w.sim.routes(SUBSCRIPTION, RESOURCE_GROUP, TABLE)).toContainEqual(routeFor(worker(i)));
      expect(w.kube.getNode('worker-0')?.status?.conditions?.some((c) => c.reason === 'RouteCreated')).toBe(
        true,
      );
      expect(w.sim.faults.list()).toEqual([]);
    }, 25_000);
    // The failures did happen, and were logged at the levels where their messages appear.
    const logs = p.logs();
    expect(logs.some((l) => l['msg'] === 'route table sync failed' && l['kind'] === 'Unauthorized')).toBe(
      true,
    );
    expect(logs.some((l) => l['msg'] === 'route table sync failed' && l['kind'] === 'Forbidden')).toBe(true);
    expect(logs.some((l) => l['level'] === 10 || l['level'] === 20)).toBe(true);
    const url = String(logs.find((l) => l['msg'] === 'serving /healthz, /readyz and /metrics')?.['url']);
    const metrics = (await httpGet(`${url}/metrics`)).body;
    expect(metrics).toContain('azure_route_controller_reconciles_total');
    p.kill('SIGTERM');
    expect(await p.exited).toEqual({ code: 0, signal: null });

    const everything = [p.stdout(), p.stderr(), metrics].join('\n');
    expectNoSecret(everything, [AZ_SECRET, KUBE_TOKEN, INSECURE_TEST_TOKEN]);
    expect(everything).not.toMatch(/Bearer\s+[A-Za-z0-9]/);
    // The Kubernetes events and conditions the controller wrote carry no secret either.
    expectNoSecret(JSON.stringify([w.kube.events(), w.kube.nodes()]), [AZ_SECRET, KUBE_TOKEN]);
  });

  it('sync-routes at --log-level trace with --output json, failing: stdout and stderr hold no secret', async () => {
    const w = await secretWorld();
    w.sim.faults.add({ kind: 'unauthorized', match: { method: 'PUT' } });
    w.kube.failNext({ method: 'PATCH', pathIncludes: '/status', status: 401, times: 10 });
    const result = await runCli(['sync-routes', ...w.flags, '--output', 'json']);
    expectExit(result, 1);
    expect(result.stderr).toMatch(/^error: Azure Resource Manager rejected the access token/m);
    expectNoSecret(result.stdout + result.stderr, [AZ_SECRET, KUBE_TOKEN, INSECURE_TEST_TOKEN]);
  });

  it('in-process at trace: an identity error that echoes the client secret, and the bearer token sent, never show', async () => {
    const sb = await startSandbox({ nodes: workers(2) });
    cleanup.push(() => sb.close());
    // A tap on the wire to Azure, to prove the bearer token really is sent (and so could have leaked).
    let wire = '';
    const proxy: Proxy = await startProxy(sb.sim.url, {
      onRequestBytes: (b) => (wire += b.toString('latin1')),
    });
    cleanup.push(() => proxy.close());
    const credential = new SwitchableCredential();
    credential.token = BEARER;
    // A misbehaving identity library that puts the secret and a token into its error message.
    credential.fail = Object.assign(
      new Error(
        `AADSTS7000215: Invalid client secret provided. Request body: client_id=11111111-2222-3333-4444-555555555555&client_secret=${SP_SECRET}&grant_type=client_credentials; secret ${SP_SECRET}; previous token ${BEARER}`,
      ),
      { name: 'AuthenticationError' },
    );
    const c: ReliabilityController = await startReliabilityController(
      sb,
      { armEndpoint: proxy.url, logLevel: 'trace' },
      {
        credential,
        config: (cfg) => ({
          ...cfg,
          azure: {
            ...cfg.azure,
            credential: {
              kind: 'clientSecret',
              tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
              clientId: '11111111-2222-3333-4444-555555555555',
              clientSecret: SP_SECRET,
            },
          },
        }),
      },
    );
    cleanup.push(() => c.stop());
    await waitFor(() =>
      expect(c.logs.some((l) => l['msg'] === 'route table sync failed' && l['kind'] === 'Credential')).toBe(
        true,
      ),
    );
    const failure = c.logs.find((l) => l['kind'] === 'Credential');
    expect(String(failure?.['err'])).toContain('(AADSTS7000215: Invalid client secret provided)');
    expect(String(failure?.['err'])).toContain(
      'the client secret of application "11111111-2222-3333-4444-555555555555"',
    );

    // One without an AADSTS code, so the whole message is kept: the secret and the token are cut out of it.
    const from = c.logs.length;
    credential.fail = Object.assign(
      new Error(
        `invalid_client: the secret ${SP_SECRET} was rejected (client_secret=${SP_SECRET}); last token ${BEARER}`,
      ),
      { name: 'AuthenticationError' },
    );
    await waitFor(() =>
      expect(c.logs.slice(from).some((l) => String(l['err']).includes('invalid_client: the secret'))).toBe(
        true,
      ),
    );
    const scrubbed = String(
      c.logs.slice(from).find((l) => String(l['err']).includes('invalid_client'))?.['err'],
    );
    expect(scrubbed).toContain(
      '(invalid_client: the secret [redacted] was rejected (client_secret=[redacted]',
    );
    expect(scrubbed).toContain('last token [redacted token])');

    // The identity recovers; a 401 from Azure on the way; then the routes go in with the bearer token.
    sb.sim.faults.add({ kind: 'unauthorized', times: 1 });
    credential.fail = undefined;
    await waitFor(() => {
      for (let i = 0; i < 2; i++) expect(isRouteCreated(sb, `worker-${i}`)).toBe(true);
    });
    expect(wire).toContain(`Bearer ${BEARER}`);

    const everything = [
      c.logText(),
      await c.metrics.registry.metrics(),
      JSON.stringify(c.lastReport()),
      JSON.stringify([sb.kube.events(), sb.kube.nodes()]),
    ].join('\n');
    expectNoSecret(everything, [SP_SECRET, BEARER]);
  });

  it('a kubeconfig that is broken YAML next to its token: exit 2, one line, no token', async () => {
    const sb = await startSandbox({ nodes: workers(1) });
    cleanup.push(() => sb.close());
    const file = join(sb.dir, 'broken-kubeconfig');
    writeFileSync(
      file,
      sb.kube.kubeconfig().replace('token: fake-token', `token: ${KUBE_TOKEN}\n   bad-indent: [`),
    );
    const result = await runCli([
      'run',
      ...sb.flags().map((f) => (f === sb.kubeconfig ? file : f)),
      '--leader-elect=false',
    ]);
    expectExit(result, 2);
    expect(expectOneLineError(result)).toMatch(
      /^error: Kubeconfig .* is not valid YAML \(line \d+, column \d+: /,
    );
    expectNoSecret(result.stdout + result.stderr, [KUBE_TOKEN]);
  });
});

describe('the ARM endpoint must be HTTPS', () => {
  let sb: Sandbox;
  const start = async () => {
    sb = await startSandbox({ nodes: workers(1) });
    cleanup.push(() => sb.close());
  };
  const withEndpoint = (endpoint: string, insecure: boolean) => [
    'run',
    ...sb
      .flags()
      .flatMap((f, i, all) =>
        f === '--allow-insecure-arm-endpoint' ? [] : all[i - 1] === '--arm-endpoint' ? [endpoint] : [f],
      ),
    ...(insecure ? ['--allow-insecure-arm-endpoint'] : []),
    '--leader-elect=false',
  ];

  it('refuses plain http to the loopback simulator without --allow-insecure-arm-endpoint: exit 2, nothing sent', async () => {
    await start();
    const result = await runCli(withEndpoint(sb.sim.url, false));
    expectExit(result, 2);
    expect(expectOneLineError(result)).toBe(
      `error: --arm-endpoint: "${sb.sim.url}" uses plain http; Azure Resource Manager must be reached over https. Plain http is allowed only for a loopback simulator, together with --allow-insecure-arm-endpoint`,
    );
    expect(sb.sim.requests).toEqual([]);
    expect(sb.kube.requests).toEqual([]);
  });

  it('refuses plain http to a host that is not loopback, even with --allow-insecure-arm-endpoint: exit 2, nothing sent', async () => {
    await start();
    // Neither is loopback by name; the second even connects to the simulator if anything tried.
    const port = new URL(sb.sim.url).port;
    for (const endpoint of ['http://management.azure.com', `http://[::ffff:127.0.0.1]:${port}`]) {
      const result = await runCli(withEndpoint(endpoint, true));
      expectExit(result, 2);
      expect(expectOneLineError(result)).toMatch(
        /uses plain http; Azure Resource Manager must be reached over https\. Plain http is allowed only for a loopback simulator/,
      );
    }
    expect(sb.sim.requests).toEqual([]);
  });

  it('refuses the switch without an http loopback endpoint, and any scheme but https', async () => {
    await start();
    const noEndpoint = await runCli(
      withEndpoint('', true).filter((f, i, all) => f !== '' && all[i + 1] !== ''),
    );
    expectExit(noEndpoint, 2);
    expect(expectOneLineError(noEndpoint)).toContain(
      '--allow-insecure-arm-endpoint only applies with an http:// loopback --arm-endpoint',
    );
    const ftp = await runCli(withEndpoint('ftp://127.0.0.1', true));
    expectExit(ftp, 2);
    expect(expectOneLineError(ftp)).toContain('must use https://');
  });

  it('at run time, the store sends no real token over http and nothing at all to a host that is not loopback', async () => {
    await start();
    const config = loadRunConfig(controllerFlags(sb), { env: {}, readFile: () => '' });
    const logger = pino({ level: 'silent' });
    const ref = config.azure.routeTables[0]!;
    let asked = 0;
    const real: TokenCredential = {
      getToken: (): Promise<AccessToken> => {
        asked += 1;
        return Promise.resolve({ token: BEARER, expiresOnTimestamp: Date.now() + 3_600_000 });
      },
    };
    // A credential that is not the placeholder, over http to the loopback simulator: refused before sending.
    const store = createRouteTableStore(config.azure, real, { logger, retry: { maxRetries: 0 } });
    const refusal = await store.read(ref).catch((err: unknown) => err);
    expect(refusal).toBeInstanceOf(AzureError);
    expect(refusal).toMatchObject({
      kind: 'Credential',
      message: `refusing to send a real Azure token over plain HTTP to ${sb.sim.url}: use an https:// --arm-endpoint`,
    });
    expect(asked).toBe(0);

    // Even the placeholder goes to no host that is not loopback by name (this one would reach the simulator).
    const port = new URL(sb.sim.url).port;
    const elsewhere = createRouteTableStore(
      { ...config.azure, armEndpoint: `http://[::ffff:127.0.0.1]:${port}` },
      new SwitchableCredential(),
      { logger, retry: { maxRetries: 0 } },
    );
    const refused = await elsewhere.read(ref).catch((err: unknown) => err);
    expect(String((refused as Error).message)).toMatch(
      /refusing to send a token over plain HTTP to http:\/\/\[::ffff:7f00:1\]:\d+: only a loopback --arm-endpoint may use http:\/\//,
    );
    expect(sb.sim.requests).toEqual([]);
  });
});
