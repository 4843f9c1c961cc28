import { NetworkManagementClient } from '@azure/arm-network';
import type { RouteTable } from '@azure/arm-network';
import { afterEach, describe, expect, it } from 'vitest';
import { ARM_DEFAULT_THROTTLING, startAzureSimulator } from '../../src/simulator/azure.ts';
import { formatIp, parseCidr, parseIp } from '../../src/simulator/azure/ip.ts';
import type { AzureSimulator, AzureSimulatorOptions, JsonObject } from '../../src/simulator/azure.ts';

const SUB = '11111111-2222-3333-4444-555555555555';
const RG = 'rg1';
const API = 'api-version=2026-01-01';

let sim: AzureSimulator | undefined;

afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function start(options: AzureSimulatorOptions = {}): Promise<AzureSimulator> {
  sim = await startAzureSimulator({
    subscriptions: [SUB],
    resourceGroups: [{ subscriptionId: SUB, name: RG, location: 'westus' }],
    ...options,
  });
  return sim;
}

function tablePath(name = '', rg = RG): string {
  return `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Network/routeTables${name ? `/${name}` : ''}`;
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  // Tests read into bodies freely; the simulator's shapes are what is under test.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly body: any;
}

async function call(
  s: AzureSimulator,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const url = path.startsWith('http') ? path : `${s.url}${path}${path.includes('?') ? '&' : '?'}${API}`;
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

/** Polls an Azure-AsyncOperation URL until the operation ends; returns every status seen. */
async function pollToEnd(s: AzureSimulator, asyncUrl: string): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let i = 0; i < 20; i++) {
    const answer = await call(s, 'GET', asyncUrl);
    answers.push(answer);
    if (answer.body?.status !== 'InProgress') return answers;
  }
  throw new Error('operation never ended');
}

const WORKER_0 = {
  name: 'worker-0____10200024',
  addressPrefix: '10.200.0.0/24',
  nextHopType: 'VirtualAppliance',
  nextHopIpAddress: '10.240.0.20',
};
const FOREIGN = { name: 'to-internet', addressPrefix: '0.0.0.0/0', nextHopType: 'Internet' };

function routeBody(route: {
  name: string;
  addressPrefix: string;
  nextHopType: string;
  nextHopIpAddress?: string;
}) {
  const { name, ...properties } = route;
  return { name, properties };
}

// ---- The real SDK, pointed at plain HTTP.

type Credential = ConstructorParameters<typeof NetworkManagementClient>[0];
const credential: Credential = {
  getToken: async () => ({ token: 'simulator-token', expiresOnTimestamp: Date.now() + 3_600_000 }),
};

/**
 * core-rest-pipeline's bearerTokenAuthenticationPolicy refuses any non-https URL, whatever
 * `allowInsecureConnection` says. So: build the client as production does, then swap that one policy for one
 * that sets the same header from the same credential.
 */
function sdkClient(s: AzureSimulator): NetworkManagementClient {
  const client = new NetworkManagementClient(credential, SUB, {
    endpoint: s.url,
    allowInsecureConnection: true,
    retryOptions: { maxRetries: 0 },
  });
  client.pipeline.removePolicy({ name: 'bearerTokenAuthenticationPolicy' });
  client.pipeline.addPolicy(
    {
      name: 'simulatorBearerTokenPolicy',
      async sendRequest(request, next) {
        const token = await credential.getToken('https://management.azure.com/.default');
        if (token) request.headers.set('authorization', `Bearer ${token.token}`);
        return next(request);
      },
    },
    { phase: 'Sign' },
  );
  return client;
}

describe('Azure simulator over HTTP', () => {
  it('answers a GET with the body of RouteTableGet.json, a weak etag and ARM headers', async () => {
    const s = await start();
    s.putTable(SUB, RG, 'kubernetes-routes', { routes: [WORKER_0, FOREIGN] });
    const answer = await call(s, 'GET', tablePath('kubernetes-routes'));
    expect(answer.status).toBe(200);
    expect(answer.headers.get('etag')).toMatch(/^W\/"[0-9a-f-]{36}"$/);
    expect(answer.body.etag).toBe(answer.headers.get('etag'));
    expect(answer.headers.get('x-ms-request-id')).toBeTruthy();
    expect(answer.headers.get('x-ms-ratelimit-remaining-subscription-reads')).toBeTruthy();
    expect(answer.body).toMatchObject({
      name: 'kubernetes-routes',
      id: tablePath('kubernetes-routes'),
      type: 'Microsoft.Network/routeTables',
      location: 'westus',
      properties: {
        provisioningState: 'Succeeded',
        disableBgpRoutePropagation: false,
        routes: [
          {
            name: WORKER_0.name,
            id: `${tablePath('kubernetes-routes')}/routes/${WORKER_0.name}`,
            type: 'Microsoft.Network/routeTables/routes',
            properties: {
              provisioningState: 'Succeeded',
              addressPrefix: '10.200.0.0/24',
              nextHopType: 'VirtualAppliance',
              nextHopIpAddress: '10.240.0.20',
              hasBgpOverride: false,
            },
          },
          { name: 'to-internet', properties: { addressPrefix: '0.0.0.0/0', nextHopType: 'Internet' } },
        ],
      },
    });
    expect(answer.body.properties.resourceGuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(answer.body.properties.routes[0].etag).toMatch(/^W\/"/);
    expect(answer.body.properties.routes[1].properties).not.toHaveProperty('nextHopIpAddress');
  });

  it('matches resource groups and names case-insensitively and keeps the creating casing in ids', async () => {
    const s = await start();
    s.putTable(SUB, RG, 'Kubernetes-Routes');
    const answer = await call(
      s,
      'GET',
      `/SUBSCRIPTIONS/${SUB}/RESOURCEGROUPS/RG1/PROVIDERS/microsoft.network/ROUTETABLES/kubernetes-routes`,
    );
    expect(answer.status).toBe(200);
    expect(answer.body.id).toBe(tablePath('Kubernetes-Routes'));
  });

  it('answers ARM errors: missing api-version, unknown subscription, resource group and table', async () => {
    const s = await start();
    const noVersion = await fetch(`${s.url}${tablePath('t')}`);
    expect(noVersion.status).toBe(400);
    expect(((await noVersion.json()) as JsonObject)['error']).toMatchObject({
      code: 'MissingApiVersionParameter',
    });

    const noSub = await call(s, 'GET', tablePath('t').replace(SUB, 'ffffffff-0000-0000-0000-000000000000'));
    expect(noSub.status).toBe(404);
    expect(noSub.body.error.code).toBe('SubscriptionNotFound');

    const noGroup = await call(s, 'GET', tablePath('t', 'nope'));
    expect(noGroup.status).toBe(404);
    expect(noGroup.body.error).toEqual({
      code: 'ResourceGroupNotFound',
      message: "Resource group 'nope' could not be found.",
    });

    const noTable = await call(s, 'GET', tablePath('missing'));
    expect(noTable.status).toBe(404);
    expect(noTable.body.error.code).toBe('ResourceNotFound');
    expect(noTable.body.error.message).toContain(
      "The Resource 'Microsoft.Network/routeTables/missing' under resource group 'rg1' was not found.",
    );

    s.putTable(SUB, RG, 't');
    const noRoute = await call(s, 'GET', `${tablePath('t')}/routes/r9`);
    expect(noRoute.status).toBe(404);
    expect(noRoute.body.error.message).toContain("'Microsoft.Network/routeTables/t/routes/r9'");
  });

  it('runs a PUT as a long-running operation: 201 Updating, InProgress, Succeeded, then the new state', async () => {
    const s = await start();
    const put = await call(s, 'PUT', tablePath('rt'), {
      location: 'West US',
      properties: { routes: [routeBody(WORKER_0)] },
    });
    expect(put.status).toBe(201);
    expect(put.body.properties.provisioningState).toBe('Updating');
    expect(put.body.location).toBe('westus');
    const asyncUrl = put.headers.get('azure-asyncoperation') ?? '';
    expect(asyncUrl).toMatch(
      new RegExp(
        `^${s.url}/subscriptions/${SUB}/providers/Microsoft.Network/locations/westus/operations/[0-9a-f-]{36}\\?api-version=2026-01-01$`,
      ),
    );
    expect(put.headers.get('azure-asyncnotification')).toBe('Enabled');
    expect(put.headers.get('x-ms-ratelimit-remaining-subscription-writes')).toBeTruthy();
    expect(put.headers.get('x-ms-correlation-request-id')).toBeTruthy();
    // As the recording of real Azure shows: Retry-After 2 on the PUT's answer, the etag in the body only.
    expect(put.headers.get('retry-after')).toBe('2');
    expect(put.headers.get('etag')).toBeNull();
    expect(put.body.etag).toMatch(/^W\/"/);

    const during = await call(s, 'GET', tablePath('rt'));
    expect(during.body.properties.provisioningState).toBe('Updating');

    const polls = await pollToEnd(s, asyncUrl);
    expect(polls.map((p) => p.body)).toEqual([{ status: 'InProgress' }, { status: 'Succeeded' }]);
    for (const poll of polls) expect(poll.headers.get('retry-after')).toBeNull();

    const after = await call(s, 'GET', tablePath('rt'));
    expect(after.body.properties.provisioningState).toBe('Succeeded');
    expect(after.body.etag).toBe(put.body.etag);
    expect(s.routes(SUB, RG, 'rt')).toEqual([WORKER_0]);
  });

  it('puts Retry-After (default 2, or lroRetryAfterSeconds, or none) on PUT and DELETE answers, never on polls', async () => {
    const s = await start({ lroRetryAfterSeconds: 0 });
    const put = await call(s, 'PUT', tablePath('rt'), { location: 'westus' });
    expect(put.headers.get('retry-after')).toBe('0');
    const poll = await call(s, 'GET', put.headers.get('azure-asyncoperation') ?? '');
    expect(poll.headers.get('retry-after')).toBeNull();
    s.settle();
    const routePut = await call(
      s,
      'PUT',
      `${tablePath('rt')}/routes/r1`,
      routeBody({ ...FOREIGN, name: 'r1' }),
    );
    expect(routePut.headers.get('retry-after')).toBe('0');
    s.settle();
    const del = await call(s, 'DELETE', tablePath('rt'));
    expect(del.status).toBe(202);
    expect(del.headers.get('retry-after')).toBe('0');
    await s.close();

    const none = await start({ lroRetryAfterSeconds: 'none' });
    const quiet = await call(none, 'PUT', tablePath('rt'), { location: 'westus' });
    expect(quiet.status).toBe(201);
    expect(quiet.headers.get('retry-after')).toBeNull();
    expect(quiet.headers.get('azure-asyncoperation')).toBeTruthy();

    await expect(startAzureSimulator({ lroRetryAfterSeconds: -1 })).rejects.toThrow(/lroRetryAfterSeconds/);
  });

  it('stores a PUT as the goal state at once: new etag, Updating table and changed routes, then Succeeded', async () => {
    const s = await start();
    const seeded = s.putTable(SUB, RG, 'rt', { routes: [FOREIGN, WORKER_0] });
    const moved = { ...WORKER_0, nextHopIpAddress: '10.240.0.99' };
    const added = { ...WORKER_0, name: 'worker-1____10200124', addressPrefix: '10.200.1.0/24' };
    const put = await call(
      s,
      'PUT',
      tablePath('rt'),
      {
        location: 'westus',
        properties: { routes: [routeBody(FOREIGN), routeBody(moved), routeBody(added)] },
      },
      { 'if-match': String(seeded['etag']) },
    );
    expect(put.status).toBe(200);
    expect(put.body.etag).not.toBe(seeded['etag']);
    const states = (body: { properties: { routes: { name: string; properties: JsonObject }[] } }) =>
      Object.fromEntries(body.properties.routes.map((r) => [r.name, r.properties['provisioningState']]));
    const updating = { 'to-internet': 'Succeeded', [WORKER_0.name]: 'Updating', [added.name]: 'Updating' };
    expect(put.body.properties.provisioningState).toBe('Updating');
    expect(states(put.body)).toEqual(updating);

    // While the operation runs, every read shows the goal state, with the etag the write was given.
    const during = await call(s, 'GET', tablePath('rt'));
    expect(during.headers.get('etag')).toBe(put.body.etag);
    expect(during.body.etag).toBe(put.body.etag);
    expect(during.body.properties.provisioningState).toBe('Updating');
    expect(states(during.body)).toEqual(updating);
    expect(during.body.properties.routes[1].properties.nextHopIpAddress).toBe('10.240.0.99');
    const routeDuring = await call(s, 'GET', `${tablePath('rt')}/routes/${added.name}`);
    expect(routeDuring.body.properties.provisioningState).toBe('Updating');
    const listDuring = await call(s, 'GET', `${tablePath('rt')}/routes`);
    expect(
      listDuring.body.value.map((r: { properties: JsonObject }) => r.properties['provisioningState']),
    ).toEqual(['Succeeded', 'Updating', 'Updating']);
    const tablesDuring = await call(s, 'GET', tablePath());
    expect(tablesDuring.body.value[0].properties.provisioningState).toBe('Updating');
    // The unchanged route keeps its etag; the changed one got a new one.
    const seededRoutes = (seeded['properties'] as { routes: JsonObject[] }).routes;
    expect(during.body.properties.routes[0].etag).toBe(seededRoutes[0]?.['etag']);
    expect(during.body.properties.routes[1].etag).not.toBe(seededRoutes[1]?.['etag']);

    const busy = await call(s, 'PUT', tablePath('rt'), { location: 'westus' }, { 'if-match': put.body.etag });
    expect(busy.status).toBe(409);
    expect(busy.body.error.code).toBe('RetryableErrorDueToAnotherOperation');
    expect(busy.headers.get('retry-after')).toBe('1');
    const busyRoute = await call(s, 'DELETE', `${tablePath('rt')}/routes/to-internet`);
    expect(busyRoute.status).toBe(409);

    await pollToEnd(s, put.headers.get('azure-asyncoperation') ?? '');
    const after = await call(s, 'GET', tablePath('rt'));
    expect(after.body.etag).toBe(put.body.etag);
    expect(after.body.properties.provisioningState).toBe('Succeeded');
    expect(states(after.body)).toEqual({
      'to-internet': 'Succeeded',
      [WORKER_0.name]: 'Succeeded',
      [added.name]: 'Succeeded',
    });
    expect(s.routes(SUB, RG, 'rt')).toEqual([FOREIGN, moved, added]);
  });

  it('keeps the goal state of a failed write, reading Failed, until a later write succeeds', async () => {
    const s = await start();
    const seeded = s.putTable(SUB, RG, 'rt', { routes: [FOREIGN] });
    s.faults.add({ times: 1, kind: 'lroFailed', match: { method: 'PUT' }, code: 'InternalServerError' });
    const put = await call(
      s,
      'PUT',
      tablePath('rt'),
      { location: 'westus', properties: { routes: [routeBody(FOREIGN), routeBody(WORKER_0)] } },
      { 'if-match': String(seeded['etag']) },
    );
    const polls = await pollToEnd(s, put.headers.get('azure-asyncoperation') ?? '');
    expect(polls.at(-1)?.body.status).toBe('Failed');

    const failed = await call(s, 'GET', tablePath('rt'));
    expect(failed.body.etag).toBe(put.body.etag);
    expect(failed.body.properties.provisioningState).toBe('Failed');
    expect(failed.body.properties.routes.map((r: { properties: JsonObject }) => r.properties)).toMatchObject([
      { addressPrefix: '0.0.0.0/0', provisioningState: 'Succeeded' },
      { addressPrefix: '10.200.0.0/24', provisioningState: 'Failed' },
    ]);
    const failedRoute = await call(s, 'GET', `${tablePath('rt')}/routes/${WORKER_0.name}`);
    expect(failedRoute.body.properties.provisioningState).toBe('Failed');
    expect(s.routes(SUB, RG, 'rt')).toEqual([FOREIGN, WORKER_0]);

    // Writing the same body again is Azure's way back: the routes that were Failed are re-driven.
    const again = await call(
      s,
      'PUT',
      tablePath('rt'),
      { location: 'westus', properties: { routes: [routeBody(FOREIGN), routeBody(WORKER_0)] } },
      { 'if-match': failed.body.etag },
    );
    expect(again.status).toBe(200);
    expect(again.body.etag).not.toBe(failed.body.etag);
    expect(again.body.properties.routes[1].properties.provisioningState).toBe('Updating');
    await pollToEnd(s, again.headers.get('azure-asyncoperation') ?? '');
    const healed = await call(s, 'GET', tablePath('rt'));
    expect(healed.body.properties.provisioningState).toBe('Succeeded');
    expect(
      healed.body.properties.routes.map((r: { properties: JsonObject }) => r.properties['provisioningState']),
    ).toEqual(['Succeeded', 'Succeeded']);

    // A failed route PUT leaves that route, and its table, Failed too.
    s.faults.add({ times: 1, kind: 'lroFailed', match: { operation: 'Routes_CreateOrUpdate' } });
    const extra = { ...WORKER_0, name: 'w1', addressPrefix: '10.200.1.0/24' };
    const routePut = await call(s, 'PUT', `${tablePath('rt')}/routes/w1`, routeBody(extra));
    expect(routePut.body.properties.provisioningState).toBe('Updating');
    expect((await call(s, 'GET', tablePath('rt'))).body.properties.provisioningState).toBe('Updating');
    await pollToEnd(s, routePut.headers.get('azure-asyncoperation') ?? '');
    const afterRoute = await call(s, 'GET', tablePath('rt'));
    expect(afterRoute.body.properties.provisioningState).toBe('Failed');
    expect(afterRoute.body.properties.routes[2].properties.provisioningState).toBe('Failed');
    expect(afterRoute.body.properties.routes[1].properties.provisioningState).toBe('Succeeded');
  });

  it("reverts a failed write when lroFailureMode is 'revert'", async () => {
    const s = await start({ lroFailureMode: 'revert' });
    const seeded = s.putTable(SUB, RG, 'rt', { routes: [FOREIGN] });
    s.faults.add({ kind: 'lroFailed', match: { method: 'PUT' } });
    const put = await call(s, 'PUT', tablePath('rt'), {
      location: 'westus',
      properties: { routes: [routeBody(FOREIGN), routeBody(WORKER_0)] },
    });
    // The goal state is shown while the operation runs, as ever.
    expect((await call(s, 'GET', tablePath('rt'))).body.properties.routes).toHaveLength(2);
    await pollToEnd(s, put.headers.get('azure-asyncoperation') ?? '');
    const reverted = await call(s, 'GET', tablePath('rt'));
    expect(reverted.body.properties.provisioningState).toBe('Failed');
    expect(reverted.body.etag).not.toBe(seeded['etag']);
    expect(reverted.body.etag).not.toBe(put.body.etag);
    expect(s.routes(SUB, RG, 'rt')).toEqual([FOREIGN]);

    const create = await call(s, 'PUT', tablePath('new'), { location: 'westus' });
    expect((await call(s, 'GET', tablePath('new'))).body.properties.provisioningState).toBe('Updating');
    await pollToEnd(s, create.headers.get('azure-asyncoperation') ?? '');
    expect(s.getTable(SUB, RG, 'new')).toBeUndefined();

    await expect(startAzureSimulator({ lroFailureMode: 'undo' as unknown as 'revert' })).rejects.toThrow(
      /lroFailureMode/,
    );
  });

  it("lets a later table PUT supersede a running one when concurrentWrites is 'supersede'", async () => {
    const s = await start({ concurrentWrites: 'supersede' });
    s.putTable(SUB, RG, 'rt', { routes: [FOREIGN] });
    const first = await call(s, 'PUT', tablePath('rt'), {
      location: 'westus',
      properties: { routes: [routeBody(FOREIGN), routeBody(WORKER_0)] },
    });
    // If-Match is still checked: the first write changed the etag when it was accepted.
    const stale = await call(s, 'PUT', tablePath('rt'), { location: 'westus' }, { 'if-match': 'W/"old"' });
    expect(stale.status).toBe(412);
    const second = await call(
      s,
      'PUT',
      tablePath('rt'),
      { location: 'westus', properties: { routes: [routeBody(FOREIGN), routeBody(WORKER_0)] } },
      { 'if-match': first.body.etag },
    );
    expect(second.status).toBe(200);
    // The route the first write added is still being driven by the second.
    expect(second.body.properties.routes[1].properties.provisioningState).toBe('Updating');
    const firstPoll = await call(s, 'GET', first.headers.get('azure-asyncoperation') ?? '');
    expect(firstPoll.body.status).toBe('Canceled');
    expect(firstPoll.body.error.details[0].code).toBe('CanceledAndSupersededDueToAnotherOperation');
    expect(firstPoll.body.error.details[0].message).toMatch(
      /^Operation PutRouteTableOperation \(.+\) was canceled and superseded by operation PutRouteTableOperation \(.+\)\.$/,
    );
    await pollToEnd(s, second.headers.get('azure-asyncoperation') ?? '');
    const after = await call(s, 'GET', tablePath('rt'));
    expect(after.body.properties.provisioningState).toBe('Succeeded');
    expect(s.routes(SUB, RG, 'rt')).toEqual([FOREIGN, WORKER_0]);
    // Other writes over a running operation are still refused.
    await call(s, 'PUT', tablePath('rt'), { location: 'westus' });
    expect((await call(s, 'PATCH', tablePath('rt'), { tags: {} })).status).toBe(409);
  });

  it('refuses exactly one route, by name or by prefix, with a 400 naming it (refuseRoute)', async () => {
    const s = await start();
    s.putTable(SUB, RG, 'rt', { routes: [FOREIGN] });
    const other = { ...WORKER_0, name: 'worker-1____10200124', addressPrefix: '10.200.1.0/24' };
    const byName = s.faults.add({ kind: 'refuseRoute', route: WORKER_0.name.toUpperCase() });
    const body = { location: 'westus', properties: { routes: [routeBody(FOREIGN), routeBody(WORKER_0)] } };
    const refused = await call(s, 'PUT', tablePath('rt'), body);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toEqual({
      code: 'InvalidNextHopIpAddress',
      message:
        `The next hop IP address '10.240.0.20' of resource ${tablePath('rt')}/routes/${WORKER_0.name} is not ` +
        "valid for the next hop type 'VirtualAppliance'.",
    });
    expect(byName.hits).toBe(1);
    expect(s.pendingOperations()).toBe(0);
    expect(s.routes(SUB, RG, 'rt')).toEqual([FOREIGN]);
    // The rest of the table is accepted.
    const rest = await call(s, 'PUT', tablePath('rt'), {
      location: 'westus',
      properties: { routes: [routeBody(FOREIGN), routeBody(other)] },
    });
    expect(rest.status).toBe(200);
    s.settle();
    // A route PUT of the refused route is refused as well.
    const single = await call(s, 'PUT', `${tablePath('rt')}/routes/${WORKER_0.name}`, routeBody(WORKER_0));
    expect(single.status).toBe(400);
    byName.remove();

    s.faults.add({
      kind: 'refuseRoute',
      prefix: '10.200.1.0/24',
      times: 1,
      code: 'RouteNotAllowed',
      message: 'no',
    });
    const byPrefix = await call(s, 'PUT', tablePath('rt'), body);
    expect(byPrefix.status).toBe(200);
    s.settle();
    const withOther = await call(s, 'PUT', tablePath('rt'), {
      location: 'westus',
      properties: { routes: [routeBody(FOREIGN), routeBody(WORKER_0), routeBody(other)] },
    });
    expect(withOther.status).toBe(400);
    expect(withOther.body.error).toEqual({ code: 'RouteNotAllowed', message: 'no' });
    // Spent after one refusal.
    expect(
      (
        await call(s, 'PUT', tablePath('rt'), {
          location: 'westus',
          properties: { routes: [routeBody(FOREIGN), routeBody(WORKER_0), routeBody(other)] },
        })
      ).status,
    ).toBe(200);
    expect(() => s.faults.add({ kind: 'refuseRoute' })).toThrow(/route name or a prefix/);
  });

  it('can answer a busy table with 429 instead', async () => {
    const s = await start({ busyStatus: 429, busyRetryAfterSeconds: 3 });
    await call(s, 'PUT', tablePath('rt'), { location: 'westus' });
    const busy = await call(s, 'PATCH', tablePath('rt'), { tags: { a: 'b' } });
    expect(busy.status).toBe(429);
    expect(busy.body.error.code).toBe('RetryableErrorDueToAnotherOperation');
    expect(busy.headers.get('retry-after')).toBe('3');
  });

  it('checks If-Match and If-None-Match', async () => {
    const s = await start();
    const seeded = s.putTable(SUB, RG, 'rt');
    const stale = await call(s, 'PUT', tablePath('rt'), { location: 'westus' }, { 'if-match': 'W/"stale"' });
    expect(stale.status).toBe(412);
    expect(stale.body.error.code).toBe('PreconditionFailed');
    expect(stale.body.error.message).toContain(String(seeded['etag']));

    const starMissing = await call(s, 'PUT', tablePath('other'), { location: 'westus' }, { 'if-match': '*' });
    expect(starMissing.status).toBe(412);
    const noneMatchExisting = await call(
      s,
      'PUT',
      tablePath('rt'),
      { location: 'westus' },
      { 'if-none-match': '*' },
    );
    expect(noneMatchExisting.status).toBe(412);
    const deleteStale = await call(s, 'DELETE', tablePath('rt'), undefined, { 'if-match': 'W/"stale"' });
    expect(deleteStale.status).toBe(412);
    const patchStale = await call(s, 'PATCH', tablePath('rt'), { tags: {} }, { 'if-match': 'W/"stale"' });
    expect(patchStale.status).toBe(412);

    const create = await call(s, 'PUT', tablePath('other'), { location: 'westus' }, { 'if-none-match': '*' });
    expect(create.status).toBe(201);
    const fresh = await call(
      s,
      'PUT',
      tablePath('rt'),
      { location: 'westus' },
      { 'if-match': String(seeded['etag']) },
    );
    expect(fresh.status).toBe(200);
  });

  it('validates routes with Azure-style 400 errors', async () => {
    const s = await start({ routeLimit: 2 });
    const put = (routes: unknown[]) =>
      call(s, 'PUT', tablePath('rt'), { location: 'westus', properties: { routes } });
    const code = async (routes: unknown[]) => (await put(routes)).body.error?.code;

    const conflict = await put([
      routeBody(WORKER_0),
      routeBody({ ...WORKER_0, name: 'by-hand', nextHopIpAddress: '10.240.0.99' }),
    ]);
    // Azure's codes and wording; each message names the offending route by its resource id.
    const routeId = (name: string) => `${tablePath('rt')}/routes/${name}`;
    expect(conflict.status).toBe(400);
    expect(conflict.body.error).toEqual({
      code: 'RouteConflict',
      message: `Route: ${routeId('by-hand')} conflicts with Route: ${routeId(WORKER_0.name)}. Routes cannot have the same AddressPrefix.`,
    });

    const badPrefix = await put([routeBody({ ...FOREIGN, addressPrefix: '10.0.0.0/33' })]);
    expect(badPrefix.status).toBe(400);
    expect(badPrefix.body.error).toEqual({
      code: 'InvalidAddressPrefixFormat',
      message:
        `Address prefix 10.0.0.0/33 of resource ${routeId('to-internet')} is not formatted correctly. ` +
        'It should follow CIDR notation, for example 10.0.0.0/24.',
    });
    expect(await code([routeBody({ ...FOREIGN, addressPrefix: 'not a prefix' })])).toBe(
      'InvalidAddressPrefixFormat',
    );
    const hostBits = await put([routeBody({ ...FOREIGN, addressPrefix: '10.0.0.1/24' })]);
    expect(hostBits.body.error).toEqual({
      code: 'InvalidCIDRNotation',
      message:
        `The address prefix 10.0.0.1/24 in resource ${routeId('to-internet')} has an invalid CIDR notation. ` +
        'For the given prefix length, the address prefix should be 10.0.0.0/24.',
    });
    expect(await code([{ name: 'np', properties: { nextHopType: 'None' } }])).toBe(
      'AddressPrefixStringCannotBeNullOrEmpty',
    );
    const noNextHop = await put([
      routeBody({ name: 'va', addressPrefix: '10.1.0.0/16', nextHopType: 'VirtualAppliance' }),
    ]);
    expect(noNextHop.status).toBe(400);
    expect(noNextHop.body.error.code).toBe('MissingNextHopIpAddress');
    expect(noNextHop.body.error.message).toContain(routeId('va'));
    const badNextHop = await put([
      routeBody({
        name: 'va',
        addressPrefix: '10.1.0.0/16',
        nextHopType: 'VirtualAppliance',
        nextHopIpAddress: '10.0.0.300',
      }),
    ]);
    expect(badNextHop.body.error.code).toBe('InvalidNextHopIpAddress');
    expect(badNextHop.body.error.message).toContain(routeId('va'));
    expect(await code([routeBody({ ...FOREIGN, nextHopIpAddress: '10.0.0.1' })])).toBe(
      'NextHopIpAddressNotAllowed',
    );
    expect(await code([routeBody({ ...FOREIGN, nextHopType: 'Teleport' })])).toBe('InvalidRequestFormat');
    expect(await code([routeBody(FOREIGN), routeBody({ ...FOREIGN, addressPrefix: '1.0.0.0/8' })])).toBe(
      'DuplicateResourceName',
    );
    expect(await code([routeBody({ ...FOREIGN, name: 'bad-' })])).toBe('InvalidResourceName');
    expect(await code([routeBody({ ...FOREIGN, name: 'x'.repeat(81) })])).toBe('InvalidResourceName');
    expect(
      await code([
        routeBody(FOREIGN),
        routeBody(WORKER_0),
        routeBody({ ...WORKER_0, name: 'w1', addressPrefix: '10.200.1.0/24' }),
      ]),
    ).toBe('RouteTableRoutesLimitReached');
    // IPv6 prefixes compare canonically; service tags are accepted.
    expect(
      await code([
        routeBody({ name: 'a', addressPrefix: 'fd00::/64', nextHopType: 'None' }),
        routeBody({ name: 'b', addressPrefix: 'FD00:0:0::/64', nextHopType: 'None' }),
      ]),
    ).toBe('RouteConflict');
    expect(
      (await put([routeBody({ name: 'tag', addressPrefix: 'AzureCloud.WestUS', nextHopType: 'Internet' })]))
        .status,
    ).toBe(201);
    // Nothing invalid was stored.
    expect(s.pendingOperations()).toBe(1);
  });

  it('preserves unknown properties and never lets a PUT change subnets', async () => {
    const s = await start();
    s.putTable(SUB, RG, 'rt');
    s.setSubnets(SUB, RG, 'rt', [
      '/subscriptions/x/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/v/subnets/s',
    ]);
    const put = await call(s, 'PUT', tablePath('rt'), {
      location: 'westus',
      tags: { team: 'net' },
      futureTopLevel: { keep: true },
      properties: {
        disableBgpRoutePropagation: true,
        futureFlag: 'on',
        subnets: [{ id: '/subscriptions/x/other' }],
        routes: [
          {
            name: 'r1',
            properties: { addressPrefix: '10.0.0.0/8', nextHopType: 'None', futureRouteField: 7 },
          },
        ],
      },
    });
    expect(put.status).toBe(200);
    s.settle();
    const table = s.getTable(SUB, RG, 'rt') as JsonObject & { properties: JsonObject };
    expect(table['tags']).toEqual({ team: 'net' });
    expect(table['futureTopLevel']).toEqual({ keep: true });
    expect(table.properties['futureFlag']).toBe('on');
    expect(table.properties['disableBgpRoutePropagation']).toBe(true);
    expect(table.properties['subnets']).toEqual([
      { id: '/subscriptions/x/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/v/subnets/s' },
    ]);
    expect((table.properties['routes'] as JsonObject[])[0]?.['properties']).toMatchObject({
      futureRouteField: 7,
    });

    s.setSubnets(SUB, RG, 'rt', []);
    expect((s.getTable(SUB, RG, 'rt') as { properties: JsonObject }).properties).not.toHaveProperty(
      'subnets',
    );
  });

  it('pages lists with nextLink', async () => {
    const s = await start({ pageSize: 2 });
    for (const name of ['a', 'b', 'c']) s.putTable(SUB, RG, name);
    s.putTable(SUB, 'rg2', 'd');
    const first = await call(s, 'GET', tablePath());
    expect(first.body.value.map((t: JsonObject) => t['name'])).toEqual(['a', 'b']);
    const second = await call(s, 'GET', first.body.nextLink);
    expect(second.body.value.map((t: JsonObject) => t['name'])).toEqual(['c']);
    expect(second.body.nextLink).toBeUndefined();

    const all = await call(s, 'GET', `/subscriptions/${SUB}/providers/Microsoft.Network/routeTables`);
    expect(all.body.value).toHaveLength(2);
    expect((await call(s, 'GET', all.body.nextLink)).body.value.map((t: JsonObject) => t['name'])).toEqual([
      'c',
      'd',
    ]);
    expect(s.counts().byOperation).toMatchObject({ RouteTables_List: 2, RouteTables_ListAll: 2 });
  });

  it('serves routes as sub-resources with their own long-running PUT and DELETE', async () => {
    const s = await start();
    s.putTable(SUB, RG, 'rt', { routes: [FOREIGN] });
    const before = s.getTable(SUB, RG, 'rt');
    const put = await call(s, 'PUT', `${tablePath('rt')}/routes/${WORKER_0.name}`, routeBody(WORKER_0));
    expect(put.status).toBe(201);
    expect(put.body).toMatchObject({ name: WORKER_0.name, properties: { provisioningState: 'Updating' } });
    // The recording: no ETag header on a PUT's answer.
    expect(put.headers.get('etag')).toBeNull();
    await pollToEnd(s, put.headers.get('azure-asyncoperation') ?? '');
    expect(s.getTable(SUB, RG, 'rt')?.['etag']).not.toBe(before?.['etag']);

    const got = await call(s, 'GET', `${tablePath('rt')}/routes/${WORKER_0.name.toUpperCase()}`);
    expect(got.status).toBe(200);
    expect(got.body.etag).toBe(put.body.etag);

    const conflict = await call(
      s,
      'PUT',
      `${tablePath('rt')}/routes/other`,
      routeBody({ ...FOREIGN, name: 'other' }),
    );
    expect(conflict.body.error.code).toBe('RouteConflict');

    const list = await call(s, 'GET', `${tablePath('rt')}/routes`);
    expect(list.body.value.map((r: JsonObject) => r['name'])).toEqual(['to-internet', WORKER_0.name]);

    const del = await call(s, 'DELETE', `${tablePath('rt')}/routes/to-internet`);
    expect(del.status).toBe(202);
    // While the delete runs, the route reads Deleting and its table Updating.
    const deleting = await call(s, 'GET', `${tablePath('rt')}/routes/to-internet`);
    expect(deleting.body.properties.provisioningState).toBe('Deleting');
    expect((await call(s, 'GET', tablePath('rt'))).body.properties.provisioningState).toBe('Updating');
    const location = del.headers.get('location') ?? '';
    expect(location).toContain('/operationResults/');
    expect(del.headers.get('azure-asyncoperation')).toContain('/operations/');
    expect((await call(s, 'GET', location)).status).toBe(202);
    expect((await call(s, 'GET', location)).status).toBe(204);
    expect(s.routes(SUB, RG, 'rt').map((r) => r.name)).toEqual([WORKER_0.name]);

    const again = await call(s, 'DELETE', `${tablePath('rt')}/routes/to-internet`);
    expect(again.status).toBe(204);
  });

  it('deletes a table through an operation; GET shows Deleting meanwhile', async () => {
    const s = await start();
    s.putTable(SUB, RG, 'rt');
    const del = await call(s, 'DELETE', tablePath('rt'));
    expect(del.status).toBe(202);
    expect((await call(s, 'GET', tablePath('rt'))).body.properties.provisioningState).toBe('Deleting');
    await pollToEnd(s, del.headers.get('azure-asyncoperation') ?? '');
    expect((await call(s, 'GET', tablePath('rt'))).status).toBe(404);
    expect((await call(s, 'DELETE', tablePath('rt'))).status).toBe(204);
  });

  it('updates tags synchronously with PATCH', async () => {
    const s = await start();
    const seeded = s.putTable(SUB, RG, 'rt', { routes: [FOREIGN] });
    const patch = await call(
      s,
      'PATCH',
      tablePath('rt'),
      { tags: { env: 'test' } },
      { 'if-match': String(seeded['etag']) },
    );
    expect(patch.status).toBe(200);
    expect(patch.body.tags).toEqual({ env: 'test' });
    expect(patch.body.etag).not.toBe(seeded['etag']);
    expect(patch.body.properties.provisioningState).toBe('Succeeded');
    expect(s.routes(SUB, RG, 'rt')).toEqual([FOREIGN]);
  });

  it('ends an operation Failed (or Canceled) on lroFailed, and never on lroNeverFinishes', async () => {
    const s = await start();
    s.putTable(SUB, RG, 'rt');
    s.faults.add({
      match: { operation: 'RouteTables_CreateOrUpdate' },
      times: 1,
      kind: 'lroFailed',
      code: 'InternalServerError',
      message: 'boom',
    });
    const put = await call(s, 'PUT', tablePath('rt'), {
      location: 'westus',
      properties: { routes: [routeBody(FOREIGN)] },
    });
    const polls = await pollToEnd(s, put.headers.get('azure-asyncoperation') ?? '');
    expect(polls.at(-1)?.body).toEqual({
      status: 'Failed',
      error: { code: 'InternalServerError', message: 'boom' },
    });
    // The goal state stays (DESIGN 5): the route the write added is there, Failed.
    expect(s.getTable(SUB, RG, 'rt')).toMatchObject({
      properties: {
        provisioningState: 'Failed',
        routes: [{ name: 'to-internet', properties: { provisioningState: 'Failed' } }],
      },
    });

    // A failed (or canceled) create leaves the table behind, Failed, as Azure does.
    s.faults.add({ match: { pathIncludes: '/new' }, kind: 'lroFailed', status: 'Canceled' });
    const create = await call(s, 'PUT', tablePath('new'), { location: 'westus' });
    expect((await pollToEnd(s, create.headers.get('azure-asyncoperation') ?? '')).at(-1)?.body.status).toBe(
      'Canceled',
    );
    expect(s.getTable(SUB, RG, 'new')).toMatchObject({ properties: { provisioningState: 'Failed' } });

    s.faults.add({ times: 1, kind: 'lroNeverFinishes' });
    const stuck = await call(s, 'PUT', tablePath('rt'), { location: 'westus' });
    const asyncUrl = stuck.headers.get('azure-asyncoperation') ?? '';
    for (let i = 0; i < 5; i++)
      expect((await call(s, 'GET', asyncUrl)).body).toEqual({ status: 'InProgress' });
    s.settle();
    expect((await call(s, 'GET', asyncUrl)).body.status).toBe('InProgress');
    expect((await call(s, 'PUT', tablePath('rt'), { location: 'westus' })).status).toBe(409);
  });

  it('completes operations by the injected clock when lroDurationMs is set', async () => {
    let clock = 1_000;
    const s = await start({ lroPolls: 0, lroDurationMs: 5_000, now: () => clock });
    const put = await call(s, 'PUT', tablePath('rt'), { location: 'westus' });
    const asyncUrl = put.headers.get('azure-asyncoperation') ?? '';
    expect((await call(s, 'GET', asyncUrl)).body.status).toBe('InProgress');
    clock += 5_000;
    expect((await call(s, 'GET', asyncUrl)).body.status).toBe('Succeeded');
  });

  it('injects throttling, conflicts, server errors, dropped connections, latency and auth failures', async () => {
    const s = await start();
    s.putTable(SUB, RG, 'rt');

    const throttle = s.faults.add({
      match: { method: 'GET' },
      times: 1,
      kind: 'throttle',
      retryAfterSeconds: 7,
    });
    const throttled = await call(s, 'GET', tablePath('rt'));
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('7');
    expect(throttled.body.error.code).toBe('SubscriptionRequestsThrottled');
    expect(throttle.hits).toBe(1);
    expect((await call(s, 'GET', tablePath('rt'))).status).toBe(200);

    s.faults.add({
      match: { method: 'PUT' },
      times: 1,
      kind: 'retryableConflict',
      status: 429,
      retryAfterSeconds: 2,
    });
    const conflict = await call(s, 'PUT', tablePath('rt'), { location: 'westus' });
    expect(conflict.status).toBe(429);
    expect(conflict.body.error.code).toBe('RetryableErrorDueToAnotherOperation');
    expect(conflict.headers.get('retry-after')).toBe('2');

    s.faults.add({ times: 1, kind: 'serverError', status: 503 });
    expect((await call(s, 'GET', tablePath('rt'))).status).toBe(503);

    s.faults.add({ times: 1, kind: 'dropConnection' });
    await expect(call(s, 'GET', tablePath('rt'))).rejects.toThrow();
    expect(s.requests.at(-1)).toMatchObject({ dropped: true, status: 0 });

    s.faults.add({ match: { operation: 'RouteTables_Get' }, times: 1, kind: 'latency', ms: 60 });
    const started = performance.now();
    expect((await call(s, 'GET', tablePath('rt'))).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(50);

    s.faults.add({ match: { pathIncludes: '/routeTables/rt' }, kind: 'forbidden', clientId: 'abc' });
    const forbidden = await call(s, 'PUT', tablePath('rt'), { location: 'westus' });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error).toEqual({
      code: 'AuthorizationFailed',
      message:
        "The client 'abc' with object id 'abc' does not have authorization to perform action " +
        `'Microsoft.Network/routeTables/write' over scope '${tablePath('rt')}' or the scope is invalid. ` +
        'If access was recently granted, please refresh your credentials.',
    });
    s.faults.clear();

    s.faults.add({ kind: 'unauthorized' });
    const unauthorized = await call(s, 'GET', tablePath('rt'));
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.body.error.code).toBe('InvalidAuthenticationToken');
    s.faults.clear();
    expect((await call(s, 'GET', tablePath('rt'))).status).toBe(200);
  });

  it('throttles with token buckets refilled by the injected clock', async () => {
    let clock = 0;
    const s = await start({
      now: () => clock,
      throttling: { writes: { bucket: 2, refillPerSecond: 1 }, reads: { bucket: 3, refillPerSecond: 25 } },
    });
    s.putTable(SUB, RG, 'rt');
    const patch = () => call(s, 'PATCH', tablePath('rt'), { tags: {} });
    const first = await patch();
    expect(first.headers.get('x-ms-ratelimit-remaining-subscription-writes')).toBe('1');
    expect((await patch()).headers.get('x-ms-ratelimit-remaining-subscription-writes')).toBe('0');
    const limited = await patch();
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('SubscriptionRequestsThrottled');
    expect(limited.body.error.message).toContain("Number of 'write' requests");
    expect(limited.headers.get('retry-after')).toBe('1');
    // Reads have their own bucket.
    expect((await call(s, 'GET', tablePath('rt'))).status).toBe(200);
    clock += 1_000;
    expect((await patch()).status).toBe(200);

    s.setThrottling(undefined);
    for (let i = 0; i < 5; i++) expect((await patch()).status).toBe(200);
    s.setThrottling(ARM_DEFAULT_THROTTLING);
    expect((await patch()).headers.get('x-ms-ratelimit-remaining-subscription-writes')).toBe('199');
  });

  it('lets a test write between a client GET and its PUT, so the stale If-Match fails', async () => {
    const s = await start();
    s.putTable(SUB, RG, 'rt', { routes: [FOREIGN] });
    const read = await call(s, 'GET', tablePath('rt'));
    const unhook = s.onBeforeWrite((context) => {
      expect(context).toMatchObject({
        method: 'PUT',
        operation: 'RouteTables_CreateOrUpdate',
        tableName: 'rt',
      });
      s.putRoute(SUB, RG, 'rt', { name: 'foreign-2', addressPrefix: '192.168.0.0/16', nextHopType: 'None' });
      unhook();
    });
    const put = await call(
      s,
      'PUT',
      tablePath('rt'),
      { location: 'westus', properties: { routes: [routeBody(FOREIGN), routeBody(WORKER_0)] } },
      { 'if-match': read.body.etag },
    );
    expect(put.status).toBe(412);
    expect(s.routes(SUB, RG, 'rt').map((r) => r.name)).toEqual(['to-internet', 'foreign-2']);
  });

  it('logs and counts requests', async () => {
    const s = await start();
    s.putTable(SUB, RG, 'rt');
    const got = await call(s, 'GET', tablePath('rt'));
    const put = await call(s, 'PUT', tablePath('rt'), { location: 'westus' }, { 'if-match': got.body.etag });
    await pollToEnd(s, put.headers.get('azure-asyncoperation') ?? '');
    await call(s, 'GET', tablePath('nope'));
    expect(s.requests.map((r) => [r.method, r.operation, r.status])).toEqual([
      ['GET', 'RouteTables_Get', 200],
      ['PUT', 'RouteTables_CreateOrUpdate', 200],
      ['GET', 'Operations_Get', 200],
      ['GET', 'Operations_Get', 200],
      ['GET', 'RouteTables_Get', 404],
    ]);
    expect(s.requests[1]?.ifMatch).toBe(got.body.etag);
    expect(s.counts()).toEqual({
      reads: 2,
      writes: 1,
      polls: 2,
      byOperation: { RouteTables_Get: 2, RouteTables_CreateOrUpdate: 1, Operations_Get: 2 },
      byStatus: { '200': 4, '404': 1 },
    });
    s.resetLog();
    expect(s.counts().reads).toBe(0);
  });

  it('requires an Authorization header when asked to', async () => {
    const s = await start({ requireAuthorization: true });
    const answer = await call(s, 'GET', tablePath('rt'));
    expect(answer.status).toBe(401);
    expect(answer.headers.get('www-authenticate')).toContain('Bearer');
    expect((await call(s, 'GET', tablePath('rt'), undefined, { authorization: 'Bearer x' })).status).toBe(
      404,
    );
  });
});

describe('Azure simulator with the real @azure/arm-network SDK', () => {
  const FAST = { updateIntervalInMs: 1 };

  it('gets a table with its etag and creates one through the poller', async () => {
    const s = await start({ requireAuthorization: true });
    s.putTable(SUB, RG, 'kubernetes-routes', {
      routes: [FOREIGN],
      subnets: ['/subscriptions/x/subnets/kubernetes-subnet'],
    });
    const client = sdkClient(s);

    const table = await client.routeTables.get(RG, 'kubernetes-routes');
    expect(table.etag).toBe(s.getTable(SUB, RG, 'kubernetes-routes')?.['etag']);
    expect(table.routes?.[0]).toMatchObject({
      name: 'to-internet',
      addressPrefix: '0.0.0.0/0',
      nextHopType: 'Internet',
    });
    expect(table.subnets).toEqual([{ id: '/subscriptions/x/subnets/kubernetes-subnet' }]);

    const created: RouteTable = await client.routeTables.createOrUpdate(
      RG,
      'new-table',
      {
        location: 'westus',
        routes: [
          {
            name: WORKER_0.name,
            addressPrefix: WORKER_0.addressPrefix,
            nextHopType: 'VirtualAppliance',
            nextHopIpAddress: WORKER_0.nextHopIpAddress,
          },
        ],
      },
      { ...FAST, requestOptions: { headers: { 'if-none-match': '*' } } },
    );
    expect(created.provisioningState).toBe('Succeeded');
    expect(created.etag).toBe(s.getTable(SUB, RG, 'new-table')?.['etag']);
    expect(s.routes(SUB, RG, 'new-table')).toEqual([WORKER_0]);
    expect(s.counts().byOperation).toMatchObject({
      RouteTables_CreateOrUpdate: 1,
      Operations_Get: 2,
      RouteTables_Get: 2,
    });
    expect(s.requests.every((r) => r.authorized)).toBe(true);
  });

  it('surfaces 412, RouteConflict, 403 and a failed operation as errors', async () => {
    const s = await start();
    s.putTable(SUB, RG, 'rt', { routes: [FOREIGN] });
    const client = sdkClient(s);
    const table = await client.routeTables.get(RG, 'rt');
    s.putRoute(SUB, RG, 'rt', { name: 'foreign-2', addressPrefix: '192.168.0.0/16', nextHopType: 'None' });

    await expect(
      client.routeTables.createOrUpdate(RG, 'rt', table, {
        ...FAST,
        requestOptions: { headers: { 'if-match': table.etag ?? '' } },
      }),
    ).rejects.toMatchObject({ statusCode: 412, code: 'PreconditionFailed' });

    await expect(
      client.routeTables.createOrUpdate(
        RG,
        'rt',
        {
          location: 'westus',
          routes: [
            { name: 'a', addressPrefix: '10.0.0.0/8', nextHopType: 'None' },
            { name: 'b', addressPrefix: '10.0.0.0/8', nextHopType: 'Internet' },
          ],
        },
        FAST,
      ),
    ).rejects.toMatchObject({ statusCode: 400, code: 'RouteConflict' });

    s.faults.add({ match: { method: 'PUT' }, times: 1, kind: 'forbidden' });
    await expect(
      client.routeTables.createOrUpdate(RG, 'rt', { location: 'westus' }, FAST),
    ).rejects.toMatchObject({
      statusCode: 403,
      code: 'AuthorizationFailed',
      message: expect.stringContaining("'Microsoft.Network/routeTables/write'"),
    });

    // core-lro rejects a Failed operation with a plain Error (not a RestError) whose message carries the code;
    // the poller's operationState tells failed from canceled.
    s.faults.add({
      times: 1,
      kind: 'lroFailed',
      code: 'InternalServerError',
      message: 'route table update failed',
    });
    const failing = client.routeTables.createOrUpdate(RG, 'rt', { location: 'westus' }, FAST);
    await expect(failing.pollUntilDone()).rejects.toThrow(
      'The long-running operation has failed. InternalServerError. route table update failed',
    );
    expect(failing.operationState?.status).toBe('failed');

    s.faults.add({ times: 1, kind: 'lroFailed', status: 'Canceled' });
    const canceled = client.routeTables.createOrUpdate(RG, 'rt', { location: 'westus' }, FAST);
    await expect(canceled.pollUntilDone()).rejects.toThrow('Operation was canceled');
    expect(canceled.operationState?.status).toBe('canceled');
  });

  it('answers a busy table with 409 and lists with paging', async () => {
    const s = await start({ pageSize: 2 });
    for (const name of ['a', 'b', 'c', 'd', 'e']) s.putTable(SUB, RG, name);
    const client = sdkClient(s);

    const names: string[] = [];
    for await (const table of client.routeTables.list(RG)) names.push(table.name ?? '');
    expect(names).toEqual(['a', 'b', 'c', 'd', 'e']);
    const all: string[] = [];
    for await (const table of client.routeTables.listAll()) all.push(table.name ?? '');
    expect(all).toHaveLength(5);
    expect(s.counts().byOperation['RouteTables_List']).toBe(3);

    s.faults.add({ times: 1, kind: 'lroNeverFinishes' });
    const poller = client.routeTables.createOrUpdate(RG, 'a', { location: 'westus' }, FAST);
    await poller.submitted();
    await expect(
      client.routeTables.createOrUpdate(RG, 'a', { location: 'westus' }, FAST),
    ).rejects.toMatchObject({
      statusCode: 409,
      code: 'RetryableErrorDueToAnotherOperation',
    });
    // Leave the stuck poller behind: closing the simulator ends it.
    poller.pollUntilDone().catch(() => {});
  });

  it('creates and deletes routes through their pollers', async () => {
    const s = await start();
    s.putTable(SUB, RG, 'rt');
    const client = sdkClient(s);
    const route = await client.routes.createOrUpdate(
      RG,
      'rt',
      WORKER_0.name,
      {
        addressPrefix: WORKER_0.addressPrefix,
        nextHopType: 'VirtualAppliance',
        nextHopIpAddress: WORKER_0.nextHopIpAddress,
      },
      FAST,
    );
    expect(route).toMatchObject({ name: WORKER_0.name, provisioningState: 'Succeeded' });
    await client.routes.delete(RG, 'rt', WORKER_0.name, FAST);
    expect(s.routes(SUB, RG, 'rt')).toEqual([]);
    await client.routeTables.delete(RG, 'rt', FAST);
    expect(s.getTable(SUB, RG, 'rt')).toBeUndefined();
  });
});

describe('simulator IP parsing', () => {
  it('canonicalises prefixes and flags host bits', () => {
    expect(parseCidr('10.200.0.0/24')).toMatchObject({ canonical: '10.200.0.0/24', hostBitsSet: false });
    expect(parseCidr('10.200.0.1/24')).toMatchObject({ canonical: '10.200.0.0/24', hostBitsSet: true });
    expect(parseCidr('FD00:0:0:0::/64')).toMatchObject({ canonical: 'fd00::/64', hostBitsSet: false });
    expect(parseCidr('::ffff:10.0.0.0/104')?.canonical).toBe('::ffff:a00:0/104');
    for (const bad of [
      '10.0.0.0',
      '10.0.0.0/33',
      '010.0.0.0/8',
      '1::2::3/64',
      'fe80::1%eth0/64',
      '10.0.0/8',
    ]) {
      expect(parseCidr(bad), bad).toBeUndefined();
    }
  });

  it('formats IPv6 per RFC 5952', () => {
    const format = (text: string) => formatIp(parseIp(text) ?? { family: 4, bytes: [] });
    expect(format('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(format('0:0:0:0:0:0:0:0')).toBe('::');
    expect(format('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1');
  });
});
