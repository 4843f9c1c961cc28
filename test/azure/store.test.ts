import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { AzureError } from '../../src/azure/errors.ts';
import { createCredential, INSECURE_TEST_TOKEN } from '../../src/azure/credentials.ts';
import {
  createRouteTableStore,
  type AzureRequestInfo,
  type RouteTableStoreOptions,
} from '../../src/azure/store.ts';
import type { TableSnapshot } from '../../src/azure/types.ts';
import type { AzureConfig } from '../../src/config/types.ts';
import {
  API,
  ARM,
  asyncOperationPath,
  azureConfig,
  fakeCredential,
  FAKE_TOKEN,
  fixture,
  REF,
  reply,
  silentLogger,
  SUB,
  TABLE_PATH,
  useNock,
  withEtag,
  withHeader,
  withoutHeader,
  type Fixture,
} from './helpers.ts';

useNock();

/**
 * The store under test. Its waits between operation polls go through an injected sleep that records what
 * was asked and returns at once, so no test sleeps through Azure's Retry-After: 2.
 */
function makeStore(
  config: Partial<AzureConfig> = {},
  options: Partial<RouteTableStoreOptions> = {},
  credential = fakeCredential(),
) {
  const requests: AzureRequestInfo[] = [];
  const sleeps: number[] = [];
  const store = createRouteTableStore(azureConfig(config), credential, {
    logger: silentLogger,
    onRequest: (info) => requests.push(info),
    retry: { maxRetries: 3, retryDelayInMs: 1, maxRetryDelayInMs: 5 },
    sleep: (ms) => {
      sleeps.push(ms);
      // Marks where in the request sequence each wait happened.
      requests.push({ operation: `sleep ${ms}`, status: undefined, durationMs: 0 });
      return Promise.resolve();
    },
    ...options,
  });
  return { store, requests, sleeps, credential };
}

/** The HTTP requests only (the sleep markers left out). */
function httpOf(requests: readonly AzureRequestInfo[]): AzureRequestInfo[] {
  return requests.filter((r) => !r.operation.startsWith('sleep '));
}

async function readTable(store: ReturnType<typeof makeStore>['store']): Promise<TableSnapshot> {
  const get = fixture('route-table.get');
  const scope = reply(nock(ARM).get(TABLE_PATH).query(API), get);
  const snapshot = await store.read(REF);
  expect(scope.isDone()).toBe(true);
  expect(snapshot).not.toBeNull();
  return snapshot!;
}

async function rejection(promise: Promise<unknown>): Promise<AzureError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(AzureError);
    return err as AzureError;
  }
  throw new Error('expected the promise to reject');
}

const OUR_CHANGES = {
  upserts: [
    {
      name: 'worker-1____10200124',
      addressPrefix: '10.200.1.0/24',
      nextHopType: 'VirtualAppliance',
      nextHopIpAddress: '10.240.0.21',
    },
    {
      name: 'worker-2____10200224',
      addressPrefix: '10.200.2.0/24',
      nextHopType: 'VirtualAppliance',
      nextHopIpAddress: '10.240.0.22',
    },
  ],
  deletes: ['worker-9____10200924'],
};

describe('read', () => {
  it('returns the etag, location, routes, subnet count and the table as read', async () => {
    const { store, requests, credential } = makeStore();
    const snapshot = await readTable(store);
    expect(snapshot.etag).toBe('W/"6f1c2a4e-8d3b-4f7a-9e21-3c5d7b9a1e04"');
    expect(snapshot.location).toBe('westus2');
    expect(snapshot.subnetCount).toBe(1);
    expect(snapshot.ref).toEqual(REF);
    expect(snapshot.provisioningState).toBe('Succeeded');
    expect(snapshot.routes).toEqual([
      {
        name: 'worker-0____10200024',
        addressPrefix: '10.200.0.0/24',
        nextHopType: 'VirtualAppliance',
        nextHopIpAddress: '10.240.0.20',
        provisioningState: 'Succeeded',
      },
      {
        name: 'worker-1____10200124',
        addressPrefix: '10.200.1.0/24',
        nextHopType: 'VirtualAppliance',
        nextHopIpAddress: '10.240.0.99',
        provisioningState: 'Succeeded',
      },
      {
        name: 'default-via-firewall',
        addressPrefix: '0.0.0.0/0',
        nextHopType: 'VirtualAppliance',
        nextHopIpAddress: '10.240.255.4',
        provisioningState: 'Succeeded',
      },
      {
        name: 'worker-9____10200924',
        addressPrefix: '10.200.9.0/24',
        nextHopType: 'VirtualAppliance',
        nextHopIpAddress: '10.240.0.29',
        provisioningState: 'Succeeded',
      },
    ]);
    expect(snapshot.source).toMatchObject({
      tags: { owner: 'platform-team' },
      disableBgpRoutePropagation: true,
    });
    expect(requests).toEqual([{ operation: 'RouteTables_Get', status: 200, durationMs: expect.any(Number) }]);
    expect(credential.scopes).toContain('https://management.azure.com/.default');
  });

  it('takes the etag from the ETag header when the body has none', async () => {
    const { store } = makeStore();
    const get = fixture('route-table.get');
    const body = { ...(get.body as Record<string, unknown>) };
    delete body['etag'];
    const scope = reply(nock(ARM).get(TABLE_PATH).query(API), { ...get, body });
    const snapshot = await store.read(REF);
    expect(scope.isDone()).toBe(true);
    expect(snapshot?.etag).toBe('W/"6f1c2a4e-8d3b-4f7a-9e21-3c5d7b9a1e04"');
  });

  it('resolves null when the table does not exist (404 ResourceNotFound)', async () => {
    const { store } = makeStore();
    const scope = reply(nock(ARM).get(TABLE_PATH).query(API), fixture('error.404.resource-not-found'));
    expect(await store.read(REF)).toBeNull();
    expect(scope.isDone()).toBe(true);
  });

  it('throws SubscriptionNotFound naming the subscription and where it comes from', async () => {
    const { store } = makeStore();
    const scope = reply(nock(ARM).get(TABLE_PATH).query(API), fixture('error.404.subscription-not-found'));
    const err = await rejection(store.read(REF));
    expect(scope.isDone()).toBe(true);
    expect(err.kind).toBe('SubscriptionNotFound');
    expect(err.status).toBe(404);
    expect(err.retryable).toBe(false);
    expect(err.message).toContain(SUB);
    expect(err.message).toContain('--subscription-id');
    expect(err.message).toContain('azure.json "subscriptionId"');
  });

  it('throws ResourceGroupNotFound naming the resource group and the flag', async () => {
    const { store } = makeStore();
    const scope = reply(nock(ARM).get(TABLE_PATH).query(API), fixture('error.404.resource-group-not-found'));
    const err = await rejection(store.read(REF));
    expect(scope.isDone()).toBe(true);
    expect(err.kind).toBe('ResourceGroupNotFound');
    expect(err.message).toContain('"kubernetes-the-hard-way"');
    expect(err.message).toContain('--resource-group');
  });

  it('maps 401 to Unauthorized without echoing the token', async () => {
    const { store } = makeStore();
    const scope = reply(nock(ARM).get(TABLE_PATH).query(API), fixture('error.401.invalid-token'));
    const err = await rejection(store.read(REF));
    expect(scope.isDone()).toBe(true);
    expect(err.kind).toBe('Unauthorized');
    expect(err.message).toContain('401 InvalidAuthenticationToken');
    expect(err.message).toContain('tenantId');
    expect(err.message).not.toContain(FAKE_TOKEN);
  });

  it('maps a refused connection to Network, naming the endpoint', async () => {
    const { store } = makeStore({}, { retry: { maxRetries: 0 } });
    const scope = nock(ARM)
      .get(TABLE_PATH)
      .query(API)
      .replyWithError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    const err = await rejection(store.read(REF));
    expect(scope.isDone()).toBe(true);
    expect(err.kind).toBe('Network');
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('https://management.azure.com');
    expect(err.message).toContain('ECONNREFUSED');
  });

  it('lets the SDK retry a 5xx and reports every attempt', async () => {
    const { store, requests } = makeStore();
    const scope = nock(ARM)
      .get(TABLE_PATH)
      .query(API)
      .reply(503, { error: { code: 'ServiceUnavailable', message: 'The service is unavailable.' } });
    reply(scope.get(TABLE_PATH).query(API), fixture('route-table.get'));
    const snapshot = await store.read(REF);
    expect(scope.isDone()).toBe(true);
    expect(snapshot?.routes).toHaveLength(4);
    expect(requests.map((r) => [r.operation, r.status])).toEqual([
      ['RouteTables_Get', 503],
      ['RouteTables_Get', 200],
    ]);
  });

  it('maps a failing credential to Credential, naming the identity and the settings, never the secret', async () => {
    const secret = 'Zq8~s3cr3t-value-that-must-not-leak';
    const failing = {
      getToken: () =>
        Promise.reject(
          Object.assign(
            new Error(
              `invalid_client: AADSTS7000215: Invalid client secret provided. client_secret=${secret}`,
            ),
            {
              name: 'AuthenticationError',
            },
          ),
        ),
    };
    const { store } = makeStore(
      { credential: { kind: 'clientSecret', tenantId: 't-1', clientId: 'app-1', clientSecret: secret } },
      {},
      failing as never,
    );
    const err = await rejection(store.read(REF));
    expect(err.kind).toBe('Credential');
    expect(err.message).toContain('application "app-1"');
    expect(err.message).toContain('aadClientSecret');
    expect(err.message).toContain('AADSTS7000215');
    expect(err.message).not.toContain(secret);
  });
});

describe('write', () => {
  it('PUTs the table as read with only our changes, guarded by If-Match, and waits for Succeeded', async () => {
    const { store, requests } = makeStore();
    const snapshot = await readTable(store);
    requests.length = 0;

    const put = fixture('route-table.put.201');
    let sentBody: unknown;
    const scope = nock(ARM)
      .put(TABLE_PATH, (body: unknown) => {
        sentBody = body;
        return true;
      })
      .query(API)
      .matchHeader('if-match', snapshot.etag)
      .matchHeader('authorization', `Bearer ${FAKE_TOKEN}`);
    reply(scope, put);
    reply(nock(ARM).get(asyncOperationPath(put)).query(API), fixture('operation.in-progress'));
    reply(nock(ARM).get(asyncOperationPath(put)).query(API), fixture('operation.succeeded'));
    reply(nock(ARM).get(TABLE_PATH).query(API), fixture('route-table.get.after-write'));

    const written = await store.write(snapshot, OUR_CHANGES);

    const id = (name: string) => `${TABLE_PATH}/routes/${name}`;
    expect(sentBody).toEqual({
      id: TABLE_PATH,
      location: 'westus2',
      tags: { owner: 'platform-team', 'cost-center': '4711' },
      properties: {
        disableBgpRoutePropagation: true,
        routes: [
          {
            name: 'worker-0____10200024',
            id: id('worker-0____10200024'),
            properties: {
              addressPrefix: '10.200.0.0/24',
              nextHopType: 'VirtualAppliance',
              nextHopIpAddress: '10.240.0.20',
            },
          },
          {
            name: 'worker-1____10200124',
            id: id('worker-1____10200124'),
            properties: {
              addressPrefix: '10.200.1.0/24',
              nextHopType: 'VirtualAppliance',
              nextHopIpAddress: '10.240.0.21',
            },
          },
          {
            // The firewall's default route is not ours: it goes back exactly as read.
            name: 'default-via-firewall',
            id: id('default-via-firewall'),
            properties: {
              addressPrefix: '0.0.0.0/0',
              nextHopType: 'VirtualAppliance',
              nextHopIpAddress: '10.240.255.4',
            },
          },
          {
            name: 'worker-2____10200224',
            properties: {
              addressPrefix: '10.200.2.0/24',
              nextHopType: 'VirtualAppliance',
              nextHopIpAddress: '10.240.0.22',
            },
          },
        ],
      },
    });

    expect(written.etag).toBe('W/"a2d94f1b-7c3e-4b58-9f06-1e8d2c7b5a39"');
    expect(written.routes.map((r) => `${r.name} ${r.addressPrefix} ${r.nextHopIpAddress}`)).toEqual([
      'worker-0____10200024 10.200.0.0/24 10.240.0.20',
      'worker-1____10200124 10.200.1.0/24 10.240.0.21',
      'default-via-firewall 0.0.0.0/0 10.240.255.4',
      'worker-2____10200224 10.200.2.0/24 10.240.0.22',
    ]);
    expect(written.subnetCount).toBe(1);
    expect(written.provisioningState).toBe('Succeeded');
    // The first poll waits the PUT's Retry-After: 2; the in-progress answer has none, so the next wait is
    // the backoff's first step (250 ms, capped here by pollIntervalMs: 1).
    expect(requests.map((r) => [r.operation, r.status])).toEqual([
      ['RouteTables_CreateOrUpdate', 201],
      ['sleep 2000', undefined],
      ['Operations_Get', 200],
      ['sleep 1', undefined],
      ['Operations_Get', 200],
      ['RouteTables_Get', 200],
    ]);
  });

  it('throws PreconditionFailed on 412', async () => {
    const { store } = makeStore();
    const snapshot = await readTable(store);
    const scope = reply(
      nock(ARM).put(TABLE_PATH).query(API).matchHeader('if-match', snapshot.etag),
      fixture('error.412.precondition-failed'),
    );
    const err = await rejection(store.write(snapshot, OUR_CHANGES));
    expect(scope.isDone()).toBe(true);
    expect(err.kind).toBe('PreconditionFailed');
    expect(err.status).toBe(412);
    expect(err.message).toContain('changed since it was read');
  });

  it("never resolves when the operation ends Failed: OperationFailed with Azure's message", async () => {
    const { store } = makeStore();
    const snapshot = await readTable(store);
    const put = fixture('route-table.put.201');
    reply(nock(ARM).put(TABLE_PATH).query(API), put);
    reply(nock(ARM).get(asyncOperationPath(put)).query(API), fixture('operation.in-progress'));
    reply(nock(ARM).get(asyncOperationPath(put)).query(API), fixture('operation.failed'));
    const err = await rejection(store.write(snapshot, OUR_CHANGES));
    expect(err.kind).toBe('OperationFailed');
    expect(err.code).toBe('NetworkingInternalOperationError');
    expect(err.message).toContain('ended Failed');
    expect(err.message).toContain('An unexpected error occured while processing the network operation');
    expect(err.message).toContain('not counted as applied');
  });

  it('treats a Canceled operation as OperationFailed', async () => {
    const { store } = makeStore();
    const snapshot = await readTable(store);
    const put = fixture('route-table.put.201');
    reply(nock(ARM).put(TABLE_PATH).query(API), put);
    nock(ARM).get(asyncOperationPath(put)).query(API).reply(200, { status: 'Canceled' });
    const err = await rejection(store.write(snapshot, OUR_CHANGES));
    expect(err.kind).toBe('OperationFailed');
    expect(err.message).toContain('ended Canceled');
  });

  it('403 AuthorizationFailed names the missing action, the scope and the fix', async () => {
    const { store } = makeStore();
    const snapshot = await readTable(store);
    const scope = reply(nock(ARM).put(TABLE_PATH).query(API), fixture('error.403.authorization-failed'));
    const err = await rejection(store.write(snapshot, OUR_CHANGES));
    expect(scope.isDone()).toBe(true);
    expect(err.kind).toBe('Forbidden');
    expect(err.code).toBe('AuthorizationFailed');
    expect(err.message).toContain('Microsoft.Network/routeTables/write');
    expect(err.message).toContain(TABLE_PATH);
    expect(err.message).toContain('Network Contributor');
    expect(err.message).toContain('resource group "kubernetes-the-hard-way"');
    expect(err.message).toContain('0e6a1c55-3b7d-4f2a-9c8e-1d4b7a2f5c90');
  });

  it('lets the SDK honour a 429 Retry-After and reports the wait', async () => {
    const { store, requests } = makeStore();
    const snapshot = await readTable(store);
    requests.length = 0;
    const put = fixture('route-table.put.201');
    reply(nock(ARM).put(TABLE_PATH).query(API), fixture('error.429.throttled'));
    reply(nock(ARM).put(TABLE_PATH).query(API).matchHeader('if-match', snapshot.etag), put);
    reply(nock(ARM).get(asyncOperationPath(put)).query(API), fixture('operation.succeeded'));
    reply(nock(ARM).get(TABLE_PATH).query(API), fixture('route-table.get.after-write'));

    const started = performance.now();
    const written = await store.write(snapshot, OUR_CHANGES);
    const elapsed = performance.now() - started;

    expect(written.etag).toBe('W/"a2d94f1b-7c3e-4b58-9f06-1e8d2c7b5a39"');
    // Retry-After: 1 (second). Allow for timer granularity.
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(requests[0]).toEqual({
      operation: 'RouteTables_CreateOrUpdate',
      status: 429,
      retryAfterMs: 1000,
      durationMs: expect.any(Number),
    });
    expect(httpOf(requests.slice(1)).map((r) => [r.operation, r.status])).toEqual([
      ['RouteTables_CreateOrUpdate', 201],
      ['Operations_Get', 200],
      ['RouteTables_Get', 200],
    ]);
  });

  it('surfaces a 429 as Throttled with the Retry-After once the SDK retries are spent', async () => {
    const { store } = makeStore({}, { retry: { maxRetries: 0 } });
    const snapshot = await readTable(store);
    reply(nock(ARM).put(TABLE_PATH).query(API), fixture('error.429.throttled'));
    const err = await rejection(store.write(snapshot, OUR_CHANGES));
    expect(err.kind).toBe('Throttled');
    expect(err.retryAfterMs).toBe(1000);
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('throttled');
    expect(err.message).toContain('retry after 1s');
  });

  it('maps 409 RetryableErrorDueToAnotherOperation (inner code) to RetryableConflict', async () => {
    const { store, requests } = makeStore();
    const snapshot = await readTable(store);
    reply(nock(ARM).put(TABLE_PATH).query(API), fixture('error.409.another-operation'));
    const err = await rejection(store.write(snapshot, OUR_CHANGES));
    expect(requests.at(-1)).toEqual({
      operation: 'RouteTables_CreateOrUpdate',
      status: 409,
      retryAfterMs: 11_000,
      durationMs: expect.any(Number),
    });
    expect(err.kind).toBe('RetryableConflict');
    expect(err.retryAfterMs).toBe(11_000);
    expect(err.message).toContain('RetryableErrorDueToAnotherOperation');
  });

  it('bounds the wait with operationTimeoutMs: Timeout, and says the write may still complete', async () => {
    const { store } = makeStore({ operationTimeoutMs: 300 });
    const snapshot = await readTable(store);
    const put = fixture('route-table.put.201');
    reply(nock(ARM).put(TABLE_PATH).query(API), put);
    const op = fixture('operation.in-progress');
    nock(ARM)
      .get(asyncOperationPath(put))
      .query(API)
      .delay(2_000)
      .reply(op.status, JSON.stringify(op.body), op.headers);
    const err = await rejection(store.write(snapshot, OUR_CHANGES));
    expect(err.kind).toBe('Timeout');
    expect(err.message).toContain('may still complete in Azure');
    expect(err.message).toContain('--operation-timeout');
  });

  it('reports a cancelled write as Aborted', async () => {
    const { store } = makeStore();
    const snapshot = await readTable(store);
    const put = fixture('route-table.put.201');
    reply(nock(ARM).put(TABLE_PATH).query(API), put);
    const op = fixture('operation.in-progress');
    nock(ARM)
      .get(asyncOperationPath(put))
      .query(API)
      .delay(2_000)
      .reply(op.status, JSON.stringify(op.body), op.headers);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const err = await rejection(store.write(snapshot, OUR_CHANGES, controller.signal));
    expect(err.kind).toBe('Aborted');
  });
});

describe('create', () => {
  it('PUTs an empty table with If-None-Match: * and waits for Succeeded', async () => {
    const { store } = makeStore();
    const put = fixture('route-table.create.201');
    let sentBody: unknown;
    reply(
      nock(ARM, { badheaders: ['if-match'] })
        .put(TABLE_PATH, (body: unknown) => {
          sentBody = body;
          return true;
        })
        .query(API)
        .matchHeader('if-none-match', '*'),
      put,
    );
    reply(nock(ARM).get(asyncOperationPath(put)).query(API), fixture('operation.succeeded'));
    reply(nock(ARM).get(TABLE_PATH).query(API), fixture('route-table.get.created'));

    const created = await store.create(REF, 'westus2');
    expect(sentBody).toEqual({ location: 'westus2', properties: { routes: [] } });
    expect(created.routes).toEqual([]);
    expect(created.etag).toBe('W/"e1f2a3b4-c5d6-4e7f-8091-a2b3c4d5e6f7"');
    expect(created.location).toBe('westus2');
    expect(created.subnetCount).toBe(0);
  });

  it('reports a table that appeared meanwhile (412 on If-None-Match)', async () => {
    const { store } = makeStore();
    reply(
      nock(ARM).put(TABLE_PATH).query(API).matchHeader('if-none-match', '*'),
      fixture('error.412.precondition-failed'),
    );
    const err = await rejection(store.create(REF, 'westus2'));
    expect(err.kind).toBe('PreconditionFailed');
    expect(err.message).toContain('already exists');
  });
});

describe('plain HTTP to a loopback simulator', () => {
  const LOOPBACK = 'http://127.0.0.1:48123';
  const insecure = { armEndpoint: LOOPBACK, tokenScope: `${LOOPBACK}/.default`, allowInsecureEndpoint: true };

  it('works with the placeholder credential, sending only the placeholder token', async () => {
    const { store } = makeStore(
      { ...insecure, credential: { kind: 'insecureTest' } },
      {},
      createCredential({ kind: 'insecureTest' }, 'https://login.microsoftonline.com') as never,
    );
    const scope = reply(
      nock(LOOPBACK).get(TABLE_PATH).query(API).matchHeader('authorization', `Bearer ${INSECURE_TEST_TOKEN}`),
      fixture('route-table.get'),
    );
    const snapshot = await store.read(REF);
    expect(scope.isDone()).toBe(true);
    expect(snapshot?.routes).toHaveLength(4);
  });

  it("refuses to send a real credential's token over plain HTTP", async () => {
    const { store, credential } = makeStore(insecure);
    const err = await rejection(store.read(REF));
    expect(err.kind).toBe('Credential');
    expect(err.message).toContain('plain HTTP');
    expect(credential.scopes).toEqual([]);
  });

  it('is refused by the SDK when the insecure endpoint is not allowed', async () => {
    const { store } = makeStore({ armEndpoint: LOOPBACK, tokenScope: `${LOOPBACK}/.default` });
    const err = await rejection(store.read(REF));
    expect(err.message).toMatch(/non-TLS|https/i);
  });
});

describe('provisioning state', () => {
  it('reads the table and each route as Azure gives them (Updating during an operation)', async () => {
    const { store } = makeStore();
    // The PUT's answer is the goal state with Updating (recording entry 01): a GET during the operation
    // shows the same.
    const put = fixture('route-table.put.201');
    const during = { ...fixture('route-table.get'), body: put.body };
    const scope = reply(nock(ARM).get(TABLE_PATH).query(API), during);
    const snapshot = await store.read(REF);
    expect(scope.isDone()).toBe(true);
    expect(snapshot?.provisioningState).toBe('Updating');
    expect(snapshot?.routes.map((r) => `${r.name} ${r.provisioningState}`)).toEqual([
      'worker-0____10200024 Succeeded',
      'worker-1____10200124 Updating',
      'default-via-firewall Succeeded',
      'worker-2____10200224 Updating',
    ]);
  });

  it('reads a Failed table as Failed', async () => {
    const { store } = makeStore();
    const get = fixture('route-table.get');
    const body = get.body as { properties: Record<string, unknown> };
    const failed = {
      ...get,
      body: { ...body, properties: { ...body.properties, provisioningState: 'Failed' } },
    };
    reply(nock(ARM).get(TABLE_PATH).query(API), failed);
    expect((await store.read(REF))?.provisioningState).toBe('Failed');
  });
});

describe('operation polling', () => {
  /** PUT (with the given answer), then the poll answers in order, then the final GET. */
  function scriptWrite(put: Fixture, polls: readonly Fixture[]) {
    reply(nock(ARM).put(TABLE_PATH).query(API), put);
    for (const poll of polls) reply(nock(ARM).get(asyncOperationPath(put)).query(API), poll);
    reply(nock(ARM).get(TABLE_PATH).query(API), fixture('route-table.get.after-write'));
  }

  it("never polls before the PUT's Retry-After, nor before a poll answer's Retry-After", async () => {
    const { store, requests } = makeStore({ pollIntervalMs: 2_000 });
    const snapshot = await readTable(store);
    requests.length = 0;
    const inProgress = fixture('operation.in-progress');
    scriptWrite(fixture('route-table.put.201'), [
      withHeader(inProgress, 'Retry-After', '3'),
      inProgress,
      fixture('operation.succeeded'),
    ]);
    await store.write(snapshot, OUR_CHANGES);
    expect(requests.map((r) => r.operation)).toEqual([
      'RouteTables_CreateOrUpdate',
      'sleep 2000', // the PUT's Retry-After: 2 (as in the recording)
      'Operations_Get',
      'sleep 3000', // this poll answer's Retry-After: 3
      'Operations_Get',
      'sleep 250', // no Retry-After: the backoff starts short
      'Operations_Get',
      'RouteTables_Get',
    ]);
  });

  it('with no Retry-After polls at 250 ms, 500 ms, 1 s, 2 s, then every pollIntervalMs (2 s)', async () => {
    const { store, sleeps } = makeStore({ pollIntervalMs: 2_000 });
    const snapshot = await readTable(store);
    const inProgress = fixture('operation.in-progress');
    scriptWrite(withoutHeader(fixture('route-table.put.201'), 'Retry-After'), [
      inProgress,
      inProgress,
      inProgress,
      inProgress,
      inProgress,
      fixture('operation.succeeded'),
    ]);
    await store.write(snapshot, OUR_CHANGES);
    expect(sleeps).toEqual([250, 500, 1_000, 2_000, 2_000, 2_000]);
  });

  it('caps the backoff at a shorter pollIntervalMs', async () => {
    const { store, sleeps } = makeStore({ pollIntervalMs: 400 });
    const snapshot = await readTable(store);
    const inProgress = fixture('operation.in-progress');
    scriptWrite(withoutHeader(fixture('route-table.put.201'), 'Retry-After'), [
      inProgress,
      inProgress,
      fixture('operation.succeeded'),
    ]);
    await store.write(snapshot, OUR_CHANGES);
    expect(sleeps).toEqual([250, 400, 400]);
  });

  it('with real timers, the first poll is sent no sooner than the Retry-After after the PUT', async () => {
    // Only the "not sooner than" direction is asserted; a loaded machine may be late, never early.
    const { store } = makeStore({ pollIntervalMs: 2_000 }, { sleep: undefined });
    const snapshot = await readTable(store);
    const put = withHeader(fixture('route-table.put.201'), 'Retry-After', '1');
    const sentAt: Record<string, number> = {};
    const stamp = (name: string, f: Fixture) =>
      function (): [number, string, Record<string, string>] {
        sentAt[name] = performance.now();
        return [f.status, JSON.stringify(f.body), f.headers];
      };
    nock(ARM).put(TABLE_PATH).query(API).reply(stamp('put', put));
    nock(ARM)
      .get(asyncOperationPath(put))
      .query(API)
      .reply(stamp('poll', fixture('operation.succeeded')));
    reply(nock(ARM).get(TABLE_PATH).query(API), fixture('route-table.get.after-write'));
    await store.write(snapshot, OUR_CHANGES);
    // Timer granularity: setTimeout may fire up to ~1 ms early against performance.now().
    expect(sentAt['poll']! - sentAt['put']!).toBeGreaterThanOrEqual(995);
  });

  it("an operation that ends Failed is OperationFailed with Azure's code and message, and no final GET", async () => {
    const { store, requests } = makeStore();
    const snapshot = await readTable(store);
    requests.length = 0;
    const put = fixture('route-table.put.201');
    reply(nock(ARM).put(TABLE_PATH).query(API), put);
    reply(nock(ARM).get(asyncOperationPath(put)).query(API), fixture('operation.failed'));
    const err = await rejection(store.write(snapshot, OUR_CHANGES));
    expect(err.kind).toBe('OperationFailed');
    expect(err.code).toBe('NetworkingInternalOperationError');
    expect(err.azureMessage).toContain('NetworkingInternalOperationError: An unexpected error occured');
    expect(err.message).toContain('ended Failed in Azure (NetworkingInternalOperationError: An unexpected');
    expect(httpOf(requests).map((r) => r.operation)).toEqual([
      'RouteTables_CreateOrUpdate',
      'Operations_Get',
    ]);
  });

  it('maps a failing poll request through the same error mapping (403 on the operation)', async () => {
    const { store } = makeStore();
    const snapshot = await readTable(store);
    const put = fixture('route-table.put.201');
    reply(nock(ARM).put(TABLE_PATH).query(API), put);
    const forbidden = fixture('error.403.authorization-failed');
    const body = forbidden.body as { error: { message: string } };
    const pollForbidden = {
      ...forbidden,
      body: {
        error: {
          ...body.error,
          message: body.error.message.replace('routeTables/write', 'locations/operations/read'),
        },
      },
    };
    reply(nock(ARM).get(asyncOperationPath(put)).query(API), pollForbidden);
    const err = await rejection(store.write(snapshot, OUR_CHANGES));
    expect(err.kind).toBe('Forbidden');
    expect(err.operation).toBe('Operations_Get');
    expect(err.message).toContain('Microsoft.Network/locations/operations/read');
  });

  it('refuses to poll (and send a token to) an operation URL outside the ARM endpoint', async () => {
    const { store, requests } = makeStore();
    const snapshot = await readTable(store);
    requests.length = 0;
    const put = fixture('route-table.put.201');
    const elsewhere = withHeader(
      put,
      'Azure-AsyncOperation',
      put.headers['Azure-AsyncOperation']!.replace('management.azure.com', 'attacker.example'),
    );
    reply(nock(ARM).put(TABLE_PATH).query(API), elsewhere);
    const err = await rejection(store.write(snapshot, OUR_CHANGES));
    expect(err.message).toContain('outside https://management.azure.com');
    expect(err.message).toContain('https://attacker.example');
    expect(httpOf(requests).map((r) => r.operation)).toEqual(['RouteTables_CreateOrUpdate']);
  });

  it('with no Azure-AsyncOperation header, reads the table until its provisioningState is final', async () => {
    const { store, sleeps } = makeStore({ pollIntervalMs: 2_000 });
    const snapshot = await readTable(store);
    const put = withoutHeader(
      withoutHeader(fixture('route-table.put.201'), 'Azure-AsyncOperation'),
      'Retry-After',
    );
    reply(nock(ARM).put(TABLE_PATH).query(API), put);
    const during = { ...fixture('route-table.get'), body: put.body };
    reply(nock(ARM).get(TABLE_PATH).query(API), during);
    reply(nock(ARM).get(TABLE_PATH).query(API), fixture('route-table.get.after-write'));
    // ... and the read-back after Succeeded.
    reply(nock(ARM).get(TABLE_PATH).query(API), fixture('route-table.get.after-write'));
    const written = await store.write(snapshot, OUR_CHANGES);
    expect(sleeps).toEqual([250, 500]);
    expect(written.provisioningState).toBe('Succeeded');
  });
});

describe('etag safety', () => {
  it('refuses to write a table read without an etag, and sends nothing', async () => {
    const { store, requests } = makeStore();
    const snapshot = await readTable(store);
    requests.length = 0;
    const err = await rejection(store.write({ ...snapshot, etag: '' }, OUR_CHANGES));
    expect(err.message).toContain('without an etag');
    expect(err.message).toContain('If-Match');
    expect(err.retryable).toBe(false);
    expect(requests).toEqual([]);
  });

  it('reads the etag back after a write: the snapshot returned carries the etag Azure now holds', async () => {
    const { store } = makeStore();
    const snapshot = await readTable(store);
    const put = fixture('route-table.put.201');
    reply(nock(ARM).put(TABLE_PATH).query(API).matchHeader('if-match', snapshot.etag), put);
    reply(nock(ARM).get(asyncOperationPath(put)).query(API), fixture('operation.succeeded'));
    // The read-back's etag differs from the PUT answer's (someone's PATCH of tags, say, after the
    // operation ended) and is only in the ETag header: the snapshot must carry it, not the PUT's.
    const NEWER = 'W/"9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f"';
    const after = withEtag(fixture('route-table.get.after-write'), NEWER);
    const body = { ...(after.body as Record<string, unknown>) };
    delete body['etag'];
    reply(nock(ARM).get(TABLE_PATH).query(API), { ...after, body });
    const written = await store.write(snapshot, OUR_CHANGES);
    expect(written.etag).toBe(NEWER);
    expect(written.etag).not.toBe(snapshot.etag);
    expect(written.etag).not.toBe((put.body as { etag: string }).etag);
  });
});
