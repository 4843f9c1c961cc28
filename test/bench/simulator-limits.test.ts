// The simulator features the benchmark prices API cost with: ARM's separate deletes bucket, and the
// Retry-After of every throttled or busy answer in the request log.
import { afterEach, describe, expect, it } from 'vitest';
import {
  ARM_DEFAULT_THROTTLING,
  startAzureSimulator,
  type AzureSimulator,
} from '../../src/simulator/azure.ts';
import { armCost } from '../../bench/lib/world.ts';

const SUB = '11111111-2222-3333-4444-555555555555';
const RG = 'rg1';
const ROUTE = {
  addressPrefix: '10.200.0.0/24',
  nextHopType: 'VirtualAppliance',
  nextHopIpAddress: '10.240.0.4',
};

let sim: AzureSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function start(options: Parameters<typeof startAzureSimulator>[0] = {}): Promise<AzureSimulator> {
  sim = await startAzureSimulator({
    subscriptions: [SUB],
    resourceGroups: [{ subscriptionId: SUB, name: RG, location: 'westus' }],
    lroPolls: 0,
    ...options,
  });
  return sim;
}

function call(s: AzureSimulator, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(
    `${s.url}/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Network/routeTables/${path}?api-version=2026-01-01`,
    {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    },
  );
}

describe('simulator limits for the benchmark', () => {
  it("publishes ARM's per-region subscription buckets, deletes included", () => {
    expect(ARM_DEFAULT_THROTTLING).toEqual({
      writes: { bucket: 200, refillPerSecond: 10 },
      reads: { bucket: 250, refillPerSecond: 25 },
      deletes: { bucket: 200, refillPerSecond: 10 },
    });
  });

  it('counts DELETEs in a bucket of their own when one is configured', async () => {
    let clock = 0;
    const s = await start({
      now: () => clock,
      throttling: { writes: { bucket: 1, refillPerSecond: 1 }, deletes: { bucket: 2, refillPerSecond: 1 } },
    });
    s.putTable(SUB, RG, 'rt', { routes: [{ name: 'a', ...ROUTE }] });
    const write = await call(s, 'PATCH', 'rt', { tags: {} });
    expect(write.headers.get('x-ms-ratelimit-remaining-subscription-writes')).toBe('0');
    expect((await call(s, 'PATCH', 'rt', { tags: {} })).status).toBe(429);
    // The writes bucket is empty; the deletes bucket is not.
    const del = await call(s, 'DELETE', 'rt/routes/a');
    expect(del.status).toBe(202);
    expect(del.headers.get('x-ms-ratelimit-remaining-subscription-deletes')).toBe('1');
    expect((await call(s, 'DELETE', 'rt/routes/b')).status).toBe(204);
    const limited = await call(s, 'DELETE', 'rt/routes/c');
    expect(limited.status).toBe(429);
    expect(((await limited.json()) as { error: { message: string } }).error.message).toContain(
      "Number of 'delete' requests",
    );
    clock += 1_000;
    expect((await call(s, 'DELETE', 'rt/routes/c')).status).toBe(204);
  });

  it('draws DELETEs from the writes bucket when there is no deletes bucket', async () => {
    const s = await start({ throttling: { writes: { bucket: 1, refillPerSecond: 0.001 } } });
    s.putTable(SUB, RG, 'rt');
    expect((await call(s, 'DELETE', 'rt/routes/a')).status).toBe(204);
    expect((await call(s, 'PATCH', 'rt', { tags: {} })).status).toBe(429);
  });

  it('logs the Retry-After of throttled and busy answers, and armCost adds them up', async () => {
    const s = await start({
      lroDurationMs: 60_000,
      busyStatus: 429,
      busyRetryAfterSeconds: 3,
      throttling: { writes: { bucket: 2, refillPerSecond: 0.5 } },
    });
    s.putTable(SUB, RG, 'rt');
    expect((await call(s, 'PUT', 'rt/routes/a', { properties: ROUTE })).status).toBe(201);
    // The table is busy with the first write's operation: RetryableErrorDueToAnotherOperation.
    const busy = await call(s, 'PUT', 'rt/routes/b', {
      properties: { ...ROUTE, addressPrefix: '10.200.1.0/24' },
    });
    expect(busy.status).toBe(429);
    // The writes bucket is now empty: throttled, with the time until a token is back.
    const throttled = await call(s, 'PUT', 'rt/routes/b', {
      properties: { ...ROUTE, addressPrefix: '10.200.1.0/24' },
    });
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('2');
    expect(s.requests.map((r) => [r.status, r.errorCode, r.retryAfterSeconds])).toEqual([
      [201, undefined, undefined],
      [429, 'RetryableErrorDueToAnotherOperation', 3],
      [429, 'SubscriptionRequestsThrottled', 2],
    ]);
    expect(armCost(s.requests)).toEqual({
      writes: 3,
      acceptedWrites: 1,
      reads: 0,
      polls: 0,
      throttled: 2,
      busy: 1,
      retryAfterSeconds: 5,
    });
  });
});
