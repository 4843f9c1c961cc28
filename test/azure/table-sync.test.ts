import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { AzureError } from '../../src/azure/errors.ts';
import { createRouteTableStore } from '../../src/azure/store.ts';
import { refusedUpserts, syncTable, type TablePlanLike } from '../../src/azure/table-sync.ts';
import type { RouteChanges, RouteTableStore, TableRef, TableSnapshot } from '../../src/azure/types.ts';
import { hasChanges, planTable, tableChanges } from '../../src/domain/planner.ts';
import type { DesiredState, PlannerConfig, Route, TablePlan } from '../../src/domain/types.ts';
import {
  API,
  ARM,
  asyncOperationPath,
  azureConfig,
  fakeCredential,
  fixture,
  REF,
  reply,
  silentLogger,
  TABLE_PATH,
  useNock,
  withEtag,
  withoutHeader,
  type Fixture,
} from './helpers.ts';

useNock();

/** A stand-in for the planner: node routes wanted in the table; ours are named `worker-*`. */
interface TestPlan extends TablePlanLike {
  readonly label: string;
  readonly seen: readonly string[];
}

const WANTED: readonly Route[] = [
  {
    name: 'worker-0____10200024',
    addressPrefix: '10.200.0.0/24',
    nextHopType: 'VirtualAppliance',
    nextHopIpAddress: '10.240.0.20',
  },
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
];

function planner(calls: (readonly Route[])[]) {
  return (routes: readonly Route[]): TestPlan => {
    calls.push(routes);
    const byName = new Map(routes.map((r) => [r.name, r]));
    const upserts = WANTED.filter((w) => {
      const have = byName.get(w.name);
      return !have || have.nextHopIpAddress !== w.nextHopIpAddress || have.addressPrefix !== w.addressPrefix;
    });
    const deletes = routes
      .filter((r) => r.name.startsWith('worker-') && !WANTED.some((w) => w.name === r.name))
      .map((r) => r.name);
    return {
      changes: { upserts, deletes },
      hasChanges: upserts.length + deletes.length > 0,
      label: `plan #${calls.length}`,
      seen: routes.map((r) => r.name),
    };
  };
}

function recordingSleep() {
  const sleeps: number[] = [];
  const sleep = (ms: number) => {
    sleeps.push(ms);
    return Promise.resolve();
  };
  return { sleeps, sleep };
}

/** The store over nock; its waits between operation polls return at once (store.test.ts covers them). */
function nockStore(maxRetries = 0) {
  return createRouteTableStore(azureConfig(), fakeCredential(), {
    logger: silentLogger,
    retry: { maxRetries, retryDelayInMs: 1, maxRetryDelayInMs: 5 },
    sleep: () => Promise.resolve(),
  });
}

/** PUT 201 -> poll Succeeded -> final GET, with the PUT's If-Match and body recorded. */
function acceptWrite(expectedEtag: string, bodies: unknown[]) {
  const put = fixture('route-table.put.201');
  reply(
    nock(ARM)
      .put(TABLE_PATH, (body: unknown) => {
        bodies.push(body);
        return true;
      })
      .query(API)
      .matchHeader('if-match', expectedEtag),
    put,
  );
  reply(nock(ARM).get(asyncOperationPath(put)).query(API), fixture('operation.succeeded'));
  reply(nock(ARM).get(TABLE_PATH).query(API), fixture('route-table.get.after-write'));
}

const OTHER_ETAG = 'W/"0d7e5c3a-1b2f-4a6d-8e9c-5f4a3b2c1d0e"';

describe('syncTable against Azure-shaped nock fixtures', () => {
  it('on 412 re-reads, re-plans against the new table and writes with the new etag', async () => {
    const get = fixture('route-table.get');
    // The second read: someone else added a route meanwhile, so the table has a new etag.
    const changed = withEtag(get, OTHER_ETAG);
    const body = changed.body as { properties: { routes: unknown[] } };
    const extra = {
      name: 'added-by-someone-else',
      id: `${TABLE_PATH}/routes/added-by-someone-else`,
      etag: OTHER_ETAG,
      properties: {
        provisioningState: 'Succeeded',
        addressPrefix: '192.168.0.0/16',
        nextHopType: 'VnetLocal',
      },
    };
    const changedTable = {
      ...changed,
      body: { ...body, properties: { ...body.properties, routes: [...body.properties.routes, extra] } },
    };

    reply(nock(ARM).get(TABLE_PATH).query(API), get);
    reply(
      nock(ARM).put(TABLE_PATH).query(API).matchHeader('if-match', get.headers['ETag']!),
      fixture('error.412.precondition-failed'),
    );
    reply(nock(ARM).get(TABLE_PATH).query(API), changedTable);
    const bodies: unknown[] = [];
    acceptWrite(OTHER_ETAG, bodies);

    const calls: (readonly Route[])[] = [];
    const { sleeps, sleep } = recordingSleep();
    const result = await syncTable({
      store: nockStore(),
      ref: REF,
      plan: planner(calls),
      dryRun: false,
      maxAttempts: 3,
      sleep,
      logger: silentLogger,
    });

    expect(result.error).toBeUndefined();
    expect(result.written).toBe(true);
    expect(result.attempts).toBe(2);
    expect(result.writes).toBe(2);
    expect(sleeps).toEqual([]); // 412 re-reads at once
    expect(calls).toHaveLength(2);
    // The generic plan type comes back as the caller made it.
    expect(result.plan?.label).toBe('plan #2');
    expect(result.plan?.seen).toContain('added-by-someone-else');
    // The retried PUT keeps the route someone else added.
    const names = (bodies[0] as { properties: { routes: { name: string }[] } }).properties.routes.map(
      (r) => r.name,
    );
    expect(names).toEqual([
      'worker-0____10200024',
      'worker-1____10200124',
      'default-via-firewall',
      'added-by-someone-else',
      'worker-2____10200224',
    ]);
    expect(result.snapshot?.etag).toBe('W/"a2d94f1b-7c3e-4b58-9f06-1e8d2c7b5a39"');
  });

  it('on 429 waits the Retry-After (injected sleep), re-reads and retries', async () => {
    const get = fixture('route-table.get');
    reply(nock(ARM).get(TABLE_PATH).query(API), get);
    reply(nock(ARM).put(TABLE_PATH).query(API), fixture('error.429.throttled'));
    reply(nock(ARM).get(TABLE_PATH).query(API), get);
    acceptWrite(get.headers['ETag']!, []);

    const { sleeps, sleep } = recordingSleep();
    const result = await syncTable({
      store: nockStore(0),
      ref: REF,
      plan: planner([]),
      dryRun: false,
      maxAttempts: 3,
      sleep,
      logger: silentLogger,
    });
    expect(result.error).toBeUndefined();
    expect(result.written).toBe(true);
    expect(sleeps).toEqual([1000]);
    expect(result.attempts).toBe(2);
  });

  it('on 409 RetryableErrorDueToAnotherOperation waits as Azure asks and retries', async () => {
    const get = fixture('route-table.get');
    reply(nock(ARM).get(TABLE_PATH).query(API), get);
    reply(nock(ARM).put(TABLE_PATH).query(API), fixture('error.409.another-operation'));
    reply(nock(ARM).get(TABLE_PATH).query(API), get);
    acceptWrite(get.headers['ETag']!, []);

    const { sleeps, sleep } = recordingSleep();
    const result = await syncTable({
      store: nockStore(),
      ref: REF,
      plan: planner([]),
      dryRun: false,
      maxAttempts: 3,
      sleep,
      logger: silentLogger,
    });
    expect(result.written).toBe(true);
    expect(sleeps).toEqual([11_000]);
  });

  it('an LRO that ends Failed is an error and never a success', async () => {
    const get = fixture('route-table.get');
    const put = fixture('route-table.put.201');
    reply(nock(ARM).get(TABLE_PATH).query(API), get);
    reply(nock(ARM).put(TABLE_PATH).query(API), put);
    reply(nock(ARM).get(asyncOperationPath(put)).query(API), fixture('operation.in-progress'));
    reply(nock(ARM).get(asyncOperationPath(put)).query(API), fixture('operation.failed'));

    const { sleeps, sleep } = recordingSleep();
    const result = await syncTable({
      store: nockStore(),
      ref: REF,
      plan: planner([]),
      dryRun: false,
      maxAttempts: 3,
      sleep,
      logger: silentLogger,
    });
    expect(result.written).toBe(false);
    expect(result.error?.kind).toBe('OperationFailed');
    expect(result.error?.message).toContain('NetworkingInternalOperationError');
    expect(result.writes).toBe(1);
    expect(result.attempts).toBe(1);
    expect(sleeps).toEqual([]);
    // The snapshot is the table as last read, not what the failed write asked for.
    expect(result.snapshot?.etag).toBe(get.headers['ETag']);
  });

  it('a missing table comes back as snapshot null without an error (the caller may create it)', async () => {
    reply(nock(ARM).get(TABLE_PATH).query(API), fixture('error.404.resource-not-found'));
    const result = await syncTable({
      store: nockStore(),
      ref: REF,
      plan: planner([]),
      dryRun: false,
      maxAttempts: 3,
      sleep: recordingSleep().sleep,
      logger: silentLogger,
    });
    expect(result.snapshot).toBeNull();
    expect(result.error).toBeUndefined();
    expect(result.plan).toBeUndefined();
    expect(result.written).toBe(false);
  });

  it('a missing subscription fails the table with SubscriptionNotFound', async () => {
    reply(nock(ARM).get(TABLE_PATH).query(API), fixture('error.404.subscription-not-found'));
    const result = await syncTable({
      store: nockStore(),
      ref: REF,
      plan: planner([]),
      dryRun: false,
      maxAttempts: 3,
      sleep: recordingSleep().sleep,
      logger: silentLogger,
    });
    expect(result.snapshot).toBeNull();
    expect(result.error?.kind).toBe('SubscriptionNotFound');
  });
});

// ---------------------------------------------------------------------------------------------------------

function snapshotOf(routes: readonly Route[], etag: string, provisioningState = 'Succeeded'): TableSnapshot {
  return {
    ref: REF,
    etag,
    location: 'westus2',
    provisioningState,
    routes,
    subnetCount: 1,
    source: { routes },
  };
}

/** A scripted store: each read/write takes the next scripted outcome. */
function scriptedStore(script: {
  reads: (TableSnapshot | null | AzureError)[];
  writes: (TableSnapshot | AzureError)[];
}): RouteTableStore & { written: { etag: string; changes: RouteChanges }[] } {
  const written: { etag: string; changes: RouteChanges }[] = [];
  const next = <T>(queue: (T | AzureError)[], what: string): Promise<T> => {
    const item = queue.shift();
    if (item === undefined) throw new Error(`unexpected ${what}`);
    return item instanceof AzureError ? Promise.reject(item) : Promise.resolve(item);
  };
  return {
    written,
    read: (_ref: TableRef) => next(script.reads, 'read'),
    write: (snapshot: TableSnapshot, changes: RouteChanges) => {
      written.push({ etag: snapshot.etag, changes });
      return next(script.writes, 'write');
    },
    create: () => Promise.reject(new Error('unexpected create')),
  };
}

const precondition = () => new AzureError({ kind: 'PreconditionFailed', status: 412, message: 'changed' });

describe('syncTable loop rules', () => {
  it('does not write an unchanged table', async () => {
    const store = scriptedStore({ reads: [snapshotOf(WANTED, 'e1')], writes: [] });
    const result = await syncTable({
      store,
      ref: REF,
      plan: planner([]),
      dryRun: false,
      maxAttempts: 3,
      sleep: recordingSleep().sleep,
      logger: silentLogger,
    });
    expect(store.written).toEqual([]);
    expect(result).toMatchObject({ written: false, writes: 0, attempts: 1 });
    expect(result.plan?.hasChanges).toBe(false);
    expect(result.error).toBeUndefined();
  });

  it('does not write in a dry run, but returns the plan', async () => {
    const store = scriptedStore({ reads: [snapshotOf([], 'e1')], writes: [] });
    const result = await syncTable({
      store,
      ref: REF,
      plan: planner([]),
      dryRun: true,
      maxAttempts: 3,
      sleep: recordingSleep().sleep,
      logger: silentLogger,
    });
    expect(store.written).toEqual([]);
    expect(result.written).toBe(false);
    expect(result.plan?.changes.upserts).toHaveLength(3);
  });

  it('gives up after maxAttempts 412s, saying so', async () => {
    const store = scriptedStore({
      reads: [snapshotOf([], 'e1'), snapshotOf([], 'e2'), snapshotOf([], 'e3')],
      writes: [precondition(), precondition(), precondition()],
    });
    const result = await syncTable({
      store,
      ref: REF,
      plan: planner([]),
      dryRun: false,
      maxAttempts: 3,
      sleep: recordingSleep().sleep,
      logger: silentLogger,
    });
    expect(store.written.map((w) => w.etag)).toEqual(['e1', 'e2', 'e3']);
    expect(result.written).toBe(false);
    expect(result.error?.kind).toBe('PreconditionFailed');
    expect(result.error?.message).toContain('gave up after 3 attempts');
    expect(result.attempts).toBe(3);
    expect(result.writes).toBe(3);
  });

  it('backs off exponentially with full jitter when Azure gives no Retry-After', async () => {
    const throttled = () => new AzureError({ kind: 'Throttled', status: 429, message: 'slow down' });
    const store = scriptedStore({
      reads: [throttled(), throttled(), throttled(), snapshotOf(WANTED, 'e1')],
      writes: [],
    });
    const { sleeps, sleep } = recordingSleep();
    const result = await syncTable({
      store,
      ref: REF,
      plan: planner([]),
      dryRun: false,
      maxAttempts: 5,
      sleep,
      random: () => 0.5,
      backoff: { baseMs: 1000, maxMs: 3000 },
      logger: silentLogger,
    });
    expect(sleeps).toEqual([500, 1000, 1500]);
    expect(result.error).toBeUndefined();
    expect(result.attempts).toBe(4);
  });

  it('fails at once on a non-retryable error', async () => {
    const forbidden = new AzureError({ kind: 'Forbidden', status: 403, message: 'no' });
    const store = scriptedStore({ reads: [snapshotOf([], 'e1')], writes: [forbidden] });
    const { sleeps, sleep } = recordingSleep();
    const result = await syncTable({
      store,
      ref: REF,
      plan: planner([]),
      dryRun: false,
      maxAttempts: 5,
      sleep,
      logger: silentLogger,
    });
    expect(result.error).toBe(forbidden);
    expect(result.attempts).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it('stops when the signal fires during a wait', async () => {
    const conflict = new AzureError({
      kind: 'RetryableConflict',
      status: 409,
      retryAfterMs: 60_000,
      message: 'busy',
    });
    const store = scriptedStore({ reads: [snapshotOf([], 'e1')], writes: [conflict] });
    const controller = new AbortController();
    const result = await syncTable({
      store,
      ref: REF,
      plan: planner([]),
      dryRun: false,
      maxAttempts: 5,
      sleep: (_ms, signal) => {
        controller.abort();
        return Promise.reject(signal?.reason ?? new Error('aborted'));
      },
      signal: controller.signal,
      logger: silentLogger,
    });
    expect(result.error?.kind).toBe('Aborted');
    expect(result.written).toBe(false);
  });

  it('lets a throwing plan surface as the bug it is', async () => {
    const store = scriptedStore({ reads: [snapshotOf([], 'e1')], writes: [] });
    await expect(
      syncTable({
        store,
        ref: REF,
        plan: () => {
          throw new TypeError('planner bug');
        },
        dryRun: false,
        maxAttempts: 3,
        sleep: recordingSleep().sleep,
        logger: silentLogger,
      }),
    ).rejects.toThrow('planner bug');
  });
});

// ---------------------------------------------------------------------------------------------------------
// Provisioning state, refused routes and etag safety, with the real planner where the planner's answer is
// what drives the write loop.

const PLANNER_CONFIG: PlannerConfig = {
  clusterCIDRs: ['10.200.0.0/16'],
  routeLimit: 400,
  nodeMaskSize: { v4: 24, v6: 64 },
};

const DESIRED: DesiredState = {
  routes: WANTED.map((w, i) => ({
    node: `worker-${i}`,
    cidr: w.addressPrefix,
    family: 4 as const,
    nextHopIpAddress: w.nextHopIpAddress!,
    name: w.name,
    nodeCreationTimestamp: `2026-01-0${i + 1}T00:00:00Z`,
  })),
  skipped: [],
  frozenPrefixes: [],
};

interface RealPlan extends TablePlanLike {
  readonly plan: TablePlan;
  readonly rejectedSeen: ReadonlyMap<string, string>;
  readonly stateSeen: string;
}

/** The product's planner, wired as the reconcile wires it (table state and refused prefixes as context). */
function realPlanner(calls: RealPlan[] = []) {
  return (routes: readonly Route[], snapshot: TableSnapshot, rejected: ReadonlyMap<string, string>) => {
    const plan = planTable(DESIRED, routes, PLANNER_CONFIG, {
      tableProvisioningState: snapshot.provisioningState,
      rejected,
    });
    const result: RealPlan = {
      plan,
      changes: tableChanges(plan),
      hasChanges: hasChanges(plan),
      rejectedSeen: new Map(rejected),
      stateSeen: snapshot.provisioningState,
    };
    calls.push(result);
    return result;
  };
}

/** A fixture whose table (and every route) reads the given provisioningState. */
function withState(f: Fixture, state: string, routeState = state): Fixture {
  const body = f.body as { properties: { routes: { properties: Record<string, unknown> }[] } };
  return {
    ...f,
    body: {
      ...body,
      properties: {
        ...body.properties,
        provisioningState: state,
        routes: body.properties.routes.map((r) => ({
          ...r,
          properties: { ...r.properties, provisioningState: routeState },
        })),
      },
    },
  };
}

function routeNamesOf(body: unknown): string[] {
  return (body as { properties: { routes: { name: string }[] } }).properties.routes.map((r) => r.name);
}

function badRequest(code: string, message: string): Fixture {
  const template = fixture('error.412.precondition-failed');
  return { ...template, status: 400, body: { error: { code, message } } };
}

describe('provisioning state (DESIGN 2.4)', () => {
  it('waits on a table read Updating and plans only once it reads Succeeded', async () => {
    // During someone's operation a GET shows the goal state with Updating (the PUT answer of entry 01).
    const during = { ...fixture('route-table.get'), body: fixture('route-table.put.201').body };
    reply(nock(ARM).get(TABLE_PATH).query(API), during);
    reply(nock(ARM).get(TABLE_PATH).query(API), during);
    // Then it settles with every route we want in place: nothing to write.
    reply(nock(ARM).get(TABLE_PATH).query(API), fixture('route-table.get.after-write'));

    const calls: RealPlan[] = [];
    const { sleeps, sleep } = recordingSleep();
    const result = await syncTable({
      store: nockStore(),
      ref: REF,
      plan: realPlanner(calls),
      dryRun: false,
      maxAttempts: 3,
      sleep,
      random: () => 0.5,
      logger: silentLogger,
    });
    expect(result.error).toBeUndefined();
    expect(result.settleWaits).toBe(2);
    // Equal jitter over 500 ms, then 1 s.
    expect(sleeps).toEqual([375, 750]);
    expect(calls.map((c) => c.stateSeen)).toEqual(['Succeeded']);
    expect(result.written).toBe(false);
    expect(result.writes).toBe(0);
    expect(result.snapshot?.provisioningState).toBe('Succeeded');
  });

  it('fails a table that never settles with NotSettled, bounded in waits and time, and never plans it', async () => {
    const updating = snapshotOf(WANTED, 'e1', 'Updating');
    const store = scriptedStore({ reads: Array.from({ length: 50 }, () => updating), writes: [] });
    const calls: RealPlan[] = [];
    const { sleeps, sleep } = recordingSleep();
    const result = await syncTable({
      store,
      ref: REF,
      plan: realPlanner(calls),
      dryRun: false,
      maxAttempts: 3,
      sleep,
      random: () => 0.99,
      logger: silentLogger,
    });
    expect(result.error?.kind).toBe('NotSettled');
    expect(result.error?.message).toContain('route table "kubernetes-routes"');
    expect(result.error?.message).toContain('is still Updating after');
    expect(result.error?.message).toContain('the next sync retries');
    expect(sleeps.length).toBeLessThanOrEqual(10);
    expect(sleeps.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(30_000);
    expect(calls).toEqual([]);
    expect(store.written).toEqual([]);
    expect(result.written).toBe(false);
    // It is not retried within this sync: the bound is the bound.
    expect(result.attempts).toBe(1);
  });

  it('maxSettleWaits bounds the re-reads exactly', async () => {
    const updating = snapshotOf(WANTED, 'e1', 'Updating');
    const store = scriptedStore({ reads: [updating, updating, updating, updating], writes: [] });
    const { sleeps, sleep } = recordingSleep();
    const result = await syncTable({
      store,
      ref: REF,
      plan: realPlanner(),
      dryRun: false,
      maxAttempts: 3,
      sleep,
      maxSettleWaits: 2,
      logger: silentLogger,
    });
    expect(sleeps).toHaveLength(2);
    expect(result.error?.kind).toBe('NotSettled');
    expect(result.error?.message).toContain('after 3 reads');
  });

  it('counts the settle bound over the whole sync, re-reads after a 412 included', async () => {
    const updating = snapshotOf([], 'e1', 'Updating');
    const store = scriptedStore({
      reads: [updating, snapshotOf([], 'e1'), updating, updating, updating],
      writes: [precondition()],
    });
    const { sleeps, sleep } = recordingSleep();
    const result = await syncTable({
      store,
      ref: REF,
      plan: realPlanner(),
      dryRun: false,
      maxAttempts: 5,
      sleep,
      maxSettleWaits: 2,
      logger: silentLogger,
    });
    expect(sleeps).toHaveLength(2);
    expect(result.settleWaits).toBe(2);
    expect(result.error?.kind).toBe('NotSettled');
    expect(store.written).toHaveLength(1);
  });

  it('treats any state other than Succeeded, Failed or Canceled as not settled', async () => {
    const store = scriptedStore({
      reads: [snapshotOf(WANTED, 'e1', 'Deleting'), snapshotOf(WANTED, 'e1', 'Succeeded')],
      writes: [],
    });
    const result = await syncTable({
      store,
      ref: REF,
      plan: realPlanner(),
      dryRun: false,
      maxAttempts: 3,
      sleep: recordingSleep().sleep,
      logger: silentLogger,
    });
    expect(result.settleWaits).toBe(1);
    expect(result.error).toBeUndefined();
  });

  it('re-drives a Failed table that already holds every route: a guarded PUT of the table as read', async () => {
    const failed = withState(fixture('route-table.get.after-write'), 'Failed', 'Succeeded');
    reply(nock(ARM).get(TABLE_PATH).query(API), failed);
    const bodies: unknown[] = [];
    acceptWrite(failed.headers['ETag']!, bodies);

    const calls: RealPlan[] = [];
    const result = await syncTable({
      store: nockStore(),
      ref: REF,
      plan: realPlanner(calls),
      dryRun: false,
      maxAttempts: 3,
      sleep: recordingSleep().sleep,
      logger: silentLogger,
    });
    expect(result.error).toBeUndefined();
    expect(calls[0]?.plan.redrive).toBe(true);
    expect(calls[0]?.changes).toEqual({ upserts: [], deletes: [] });
    expect(result.written).toBe(true);
    expect(result.writes).toBe(1);
    // Nothing changed: the PUT carries exactly the routes as read.
    expect(routeNamesOf(bodies[0])).toEqual(routeNamesOf(failed.body));
    expect(result.snapshot?.provisioningState).toBe('Succeeded');
  });

  it('in a dry run reports the re-drive of a Failed table and writes nothing', async () => {
    const store = scriptedStore({ reads: [snapshotOf(WANTED, 'e1', 'Failed')], writes: [] });
    const result = await syncTable({
      store,
      ref: REF,
      plan: realPlanner(),
      dryRun: true,
      maxAttempts: 3,
      sleep: recordingSleep().sleep,
      logger: silentLogger,
    });
    expect(store.written).toEqual([]);
    expect(result.plan?.hasChanges).toBe(true);
    expect(result.plan?.plan.redrive).toBe(true);
    expect(result.written).toBe(false);
  });
});

describe('a route Azure refuses is set aside (DESIGN 2.4)', () => {
  const worker2Id = `${TABLE_PATH}/routes/worker-2____10200224`;

  it('on a 400 naming one route by its resource id, writes the rest and returns the refused prefix', async () => {
    const get = fixture('route-table.get');
    const etag = get.headers['ETag']!;
    reply(nock(ARM).get(TABLE_PATH).query(API), get);
    const refusal = badRequest(
      'InvalidNextHopIpAddress',
      `Route ${worker2Id} has an invalid NextHopIpAddress 10.240.0.22. The value must be an IP address.`,
    );
    const bodies: unknown[] = [];
    reply(
      nock(ARM)
        .put(TABLE_PATH, (body: unknown) => {
          bodies.push(body);
          return true;
        })
        .query(API)
        .matchHeader('if-match', etag),
      refusal,
    );
    // The second PUT: the same read (a 400 stored nothing), so the same etag.
    acceptWrite(etag, bodies);

    const calls: RealPlan[] = [];
    const result = await syncTable({
      store: nockStore(),
      ref: REF,
      plan: realPlanner(calls),
      dryRun: false,
      maxAttempts: 3,
      sleep: recordingSleep().sleep,
      logger: silentLogger,
    });
    expect(result.error).toBeUndefined();
    expect(result.written).toBe(true);
    expect(result.writes).toBe(2);
    expect(result.attempts).toBe(1);
    expect([...result.rejected.keys()]).toEqual(['10.200.2.0/24']);
    expect(result.rejected.get('10.200.2.0/24')).toBe(
      `InvalidNextHopIpAddress: Route ${worker2Id} has an invalid NextHopIpAddress 10.240.0.22. The value must be an IP address.`,
    );
    expect(calls.map((c) => [...c.rejectedSeen.keys()])).toEqual([[], ['10.200.2.0/24']]);
    expect(result.plan?.plan.rejected?.map((r) => r.desired.node)).toEqual(['worker-2']);
    expect(routeNamesOf(bodies[0])).toContain('worker-2____10200224');
    // The rest is written: worker-1's update and worker-9's delete go in, worker-2 stays out.
    expect(routeNamesOf(bodies[1])).toEqual([
      'worker-0____10200024',
      'worker-1____10200124',
      'default-via-firewall',
    ]);
  });

  it('recognises a route named by its address prefix or its bare name', async () => {
    const byPrefix = new AzureError({
      kind: 'BadRequest',
      status: 400,
      message: 'refused',
      azureMessage: 'InvalidCIDRNotation: 10.200.2.0/24 is refused.',
    });
    const byName = new AzureError({
      kind: 'BadRequest',
      status: 400,
      message: 'refused',
      azureMessage:
        'MissingNextHopIpAddress: NextHopIpAddress cannot be Null or Empty in route worker-1____10200124.',
    });
    expect(refusedUpserts(byPrefix, WANTED).map((r) => r.name)).toEqual(['worker-2____10200224']);
    expect(refusedUpserts(byName, WANTED).map((r) => r.name)).toEqual(['worker-1____10200124']);
  });

  it('never matches a route inside a longer name or prefix (node1 is not node10)', () => {
    const routes: Route[] = [
      { name: 'node1____10200124', addressPrefix: '10.200.1.0/24', nextHopType: 'VirtualAppliance' },
    ];
    const text = (t: string) =>
      new AzureError({ kind: 'BadRequest', status: 400, message: 'x', azureMessage: t });
    expect(refusedUpserts(text('Route node1____102001240 is invalid.'), routes)).toEqual([]);
    expect(refusedUpserts(text('Prefix 110.200.1.0/24 is invalid.'), routes)).toEqual([]);
    expect(refusedUpserts(text('Prefix 10.200.1.0/245 is invalid.'), routes)).toEqual([]);
    expect(refusedUpserts(text('Route x/routes/node1____10200124. is invalid.'), routes)).toHaveLength(1);
    // Only a 400 sets a route aside.
    const conflict = new AzureError({
      kind: 'RetryableConflict',
      status: 409,
      message: 'x',
      azureMessage: 'node1____10200124',
    });
    expect(refusedUpserts(conflict, routes)).toEqual([]);
  });

  it('fails the table on a 400 that names no route of ours', async () => {
    const get = fixture('route-table.get');
    reply(nock(ARM).get(TABLE_PATH).query(API), get);
    reply(
      nock(ARM).put(TABLE_PATH).query(API),
      badRequest('InvalidRequestFormat', 'Cannot parse the request. The body is empty.'),
    );
    const result = await syncTable({
      store: nockStore(),
      ref: REF,
      plan: realPlanner(),
      dryRun: false,
      maxAttempts: 3,
      sleep: recordingSleep().sleep,
      logger: silentLogger,
    });
    expect(result.error?.kind).toBe('BadRequest');
    expect(result.error?.message).toContain('InvalidRequestFormat');
    expect(result.written).toBe(false);
    expect(result.writes).toBe(1);
    expect(result.rejected.size).toBe(0);
  });

  it('fails the table on a 400 that names only a route that is not ours', async () => {
    const get = fixture('route-table.get');
    reply(nock(ARM).get(TABLE_PATH).query(API), get);
    reply(
      nock(ARM).put(TABLE_PATH).query(API),
      badRequest(
        'InvalidNextHopIpAddress',
        `Route ${TABLE_PATH}/routes/default-via-firewall has an invalid NextHopIpAddress 10.240.255.4.`,
      ),
    );
    const result = await syncTable({
      store: nockStore(),
      ref: REF,
      plan: realPlanner(),
      dryRun: false,
      maxAttempts: 3,
      sleep: recordingSleep().sleep,
      logger: silentLogger,
    });
    expect(result.error?.kind).toBe('BadRequest');
    expect(result.writes).toBe(1);
    expect(result.rejected.size).toBe(0);
  });

  const refusing = (prefix: string) =>
    new AzureError({
      kind: 'BadRequest',
      status: 400,
      code: 'InvalidNextHopIpAddress',
      message: `Azure refused ${prefix}`,
      azureMessage: `InvalidNextHopIpAddress: the next hop of ${prefix} is refused.`,
    });

  it('fails the table when Azure refuses a route already set aside (a plan that ignores the refusal)', async () => {
    const store = scriptedStore({
      reads: [snapshotOf([], 'e1')],
      writes: [refusing('10.200.2.0/24'), refusing('10.200.2.0/24'), snapshotOf(WANTED, 'e2')],
    });
    const result = await syncTable({
      store,
      ref: REF,
      plan: planner([]), // ignores `rejected`
      dryRun: false,
      maxAttempts: 5,
      sleep: recordingSleep().sleep,
      logger: silentLogger,
    });
    expect(result.error?.kind).toBe('BadRequest');
    expect(store.written.map((w) => w.etag)).toEqual(['e1', 'e1']);
    expect([...result.rejected.keys()]).toEqual(['10.200.2.0/24']);
  });

  it('bounds the refusal rounds by maxAttempts + the upserts of the first plan', async () => {
    // A pathological plan that offers a new prefix each round, each refused: without a bound this loops.
    let round = 0;
    const endless = (): TestPlan => {
      round += 1;
      const upserts = [0, 1].map((i) => ({
        name: `n${round}-${i}`,
        addressPrefix: `10.200.${round * 2 + i}.0/24`,
        nextHopType: 'VirtualAppliance',
        nextHopIpAddress: '10.240.0.9',
      }));
      return { changes: { upserts, deletes: [] }, hasChanges: true, label: `r${round}`, seen: [] };
    };
    // Each PUT's 400 names the first route of that round's plan.
    const writes: AzureError[] = Array.from({ length: 20 }, (_, i) => refusing(`10.200.${(i + 1) * 2}.0/24`));
    const store = scriptedStore({ reads: [snapshotOf([], 'e1')], writes });
    const result = await syncTable({
      store,
      ref: REF,
      plan: endless,
      dryRun: false,
      maxAttempts: 1,
      sleep: recordingSleep().sleep,
      logger: silentLogger,
    });
    expect(result.error?.kind).toBe('BadRequest');
    // maxAttempts 1 + 2 upserts: three PUTs at most.
    expect(result.writes).toBe(3);
    expect(store.written).toHaveLength(3);
  });

  it('keeps the refused routes across a 412: re-read, re-plan without them, write', async () => {
    const store = scriptedStore({
      reads: [snapshotOf([], 'e1'), snapshotOf([], 'e2')],
      writes: [refusing('10.200.2.0/24'), precondition(), snapshotOf([], 'e3')],
    });
    const calls: RealPlan[] = [];
    const result = await syncTable({
      store,
      ref: REF,
      plan: realPlanner(calls),
      dryRun: false,
      maxAttempts: 3,
      sleep: recordingSleep().sleep,
      logger: silentLogger,
    });
    expect(result.error).toBeUndefined();
    expect(result.written).toBe(true);
    expect(store.written.map((w) => [w.etag, w.changes.upserts.map((r) => r.addressPrefix)])).toEqual([
      ['e1', ['10.200.0.0/24', '10.200.1.0/24', '10.200.2.0/24']],
      ['e1', ['10.200.0.0/24', '10.200.1.0/24']],
      ['e2', ['10.200.0.0/24', '10.200.1.0/24']],
    ]);
    expect([...result.rejected.keys()]).toEqual(['10.200.2.0/24']);
  });
});

describe('etag safety', () => {
  it('refuses to write a table read without an etag: the table fails and no PUT is sent', async () => {
    const get = fixture('route-table.get');
    const body = { ...(get.body as Record<string, unknown>) };
    delete body['etag'];
    // No PUT interceptor: nock refuses any request not scripted, and useNock checks none was left unused.
    reply(nock(ARM).get(TABLE_PATH).query(API), { ...withoutHeader(get, 'ETag'), body });
    const result = await syncTable({
      store: nockStore(),
      ref: REF,
      plan: realPlanner(),
      dryRun: false,
      maxAttempts: 3,
      sleep: recordingSleep().sleep,
      logger: silentLogger,
    });
    expect(result.written).toBe(false);
    expect(result.error?.message).toContain('without an etag');
    expect(result.error?.message).toContain('cannot be written safely (If-Match)');
  });

  it('returns the table as read back after the write, with its new etag', async () => {
    const get = fixture('route-table.get');
    reply(nock(ARM).get(TABLE_PATH).query(API), get);
    acceptWrite(get.headers['ETag']!, []);
    const result = await syncTable({
      store: nockStore(),
      ref: REF,
      plan: realPlanner(),
      dryRun: false,
      maxAttempts: 3,
      sleep: recordingSleep().sleep,
      logger: silentLogger,
    });
    expect(result.written).toBe(true);
    expect(result.snapshot?.etag).toBe(fixture('route-table.get.after-write').headers['ETag']);
    expect(result.snapshot?.etag).not.toBe(get.headers['ETag']);
  });
});
