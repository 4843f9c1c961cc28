import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { AzureError } from '../../src/azure/errors.ts';
import { createRouteTableStore } from '../../src/azure/store.ts';
import { syncTable, type TablePlanLike } from '../../src/azure/table-sync.ts';
import type { RouteChanges, RouteTableStore, TableRef, TableSnapshot } from '../../src/azure/types.ts';
import type { Route } from '../../src/domain/types.ts';
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

function nockStore(maxRetries = 0) {
  return createRouteTableStore(azureConfig(), fakeCredential(), {
    logger: silentLogger,
    retry: { maxRetries, retryDelayInMs: 1, maxRetryDelayInMs: 5 },
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

describe('syncTable against recorded Azure responses', () => {
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

function snapshotOf(routes: readonly Route[], etag: string): TableSnapshot {
  return { ref: REF, etag, location: 'westus2', routes, subnetCount: 1, source: { routes } };
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
