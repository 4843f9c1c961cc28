// The simulator against real Azure: replays the route-table requests of a recording of Azure Resource Manager
// traffic (../shared/azure-recordings/TestRouteTableTestSuite.json, see INDEX.txt beside it; the repository's copy in
// test/fixtures/azure-recordings/, held to it by recording-copy.test.ts) and asserts the
// same status codes, long-running-operation headers and body shapes. Where they differ, the simulator is wrong.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzureSimulator } from '../../src/simulator/azure.ts';
import type { AzureSimulator } from '../../src/simulator/azure.ts';
import { loadRecording } from '../support/recording.ts';

interface RecordedEntry {
  readonly RequestUri: string;
  readonly RequestMethod: string;
  readonly RequestBody: unknown;
  readonly StatusCode: number;
  readonly ResponseHeaders: Readonly<Record<string, string | readonly string[]>>;
  readonly ResponseBody: unknown;
}

const entries = loadRecording<RecordedEntry>().Entries;

// The recording's ids are sanitized; map them onto the simulator's world.
const RECORDED_SUB = '00000000-0000-0000-0000-000000000000';
const RECORDED_RG = 'Sanitized';
const SUB = '3f2c7b9e-5d41-4a8e-9c06-1b2d3e4f5a6b';
const RG = 'contract-rg';
const LOCATION = 'westus';

// Entries 00 and 17 create and delete the resource group through Microsoft.Resources, which the simulator does
// not serve; the resource group is registered up front instead. Everything in between is replayed.
const REPLAYED = entries.slice(1, 17);

/** Headers whose presence (and, for Retry-After, value) must match the recording's. */
const HEADERS = [
  'azure-asyncoperation',
  'azure-asyncnotification',
  'location',
  'retry-after',
  'etag',
  'content-type',
  'cache-control',
  'pragma',
  'expires',
  'x-ms-request-id',
  'x-ms-correlation-request-id',
  'x-ms-routing-request-id',
  'x-ms-ratelimit-remaining-subscription-reads',
  'x-ms-ratelimit-remaining-subscription-global-reads',
  'x-ms-ratelimit-remaining-subscription-writes',
  'x-ms-ratelimit-remaining-subscription-global-writes',
  'x-ms-ratelimit-remaining-subscription-deletes',
  'x-ms-ratelimit-remaining-subscription-global-deletes',
] as const;

/** Body fields the sanitizer left alone, so their values must match too; every other leaf compares by type. */
const COMPARED_VALUES = new Set([
  'provisioningState',
  'status',
  'type',
  'location',
  'addressPrefix',
  'nextHopType',
  'nextHopIpAddress',
  'hasBgpOverride',
  'disableBgpRoutePropagation',
]);

function shape(value: unknown, key?: string): unknown {
  if (Array.isArray(value)) return value.map((item) => shape(item));
  if (typeof value === 'object' && value !== null) {
    const object = value as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(object)
        .sort()
        .map((k) => [k, shape(object[k], k)]),
    );
  }
  return key !== undefined && COMPARED_VALUES.has(key) ? value : typeof value;
}

/** A list's items in a stable order: the subscription-wide list holds tables of four regions. */
function byLocation(body: unknown): unknown {
  const list = body as { value: { location: string }[] };
  return { ...list, value: [...list.value].sort((a, b) => a.location.localeCompare(b.location)) };
}

function recordedHeaders(entry: RecordedEntry): Map<string, string> {
  return new Map(
    Object.entries(entry.ResponseHeaders).map(([name, value]) => [
      name.toLowerCase(),
      Array.isArray(value) ? value.join(', ') : String(value),
    ]),
  );
}

/** A recorded ARM path in the simulator's world. */
function mapPath(recordedPath: string): string {
  return recordedPath
    .replace(`/subscriptions/${RECORDED_SUB}`, `/subscriptions/${SUB}`)
    .replace(new RegExp(`/resourceGroups/${RECORDED_RG}(?=/|$)`, 'i'), `/resourceGroups/${RG}`);
}

/** What an operation URL must look like, with the operation id (and Azure's signature parameters) left out. */
function operationUrlShape(url: string): string {
  const parsed = new URL(url);
  const pathShape = mapPath(parsed.pathname).replace(
    /\/(operations|operationResults)\/[0-9a-f-]{36}$/i,
    '/$1/{id}',
  );
  return `${pathShape}?api-version=${parsed.searchParams.get('api-version')}`;
}

function describeEntry(entry: RecordedEntry, index: number): string {
  const tail = new URL(entry.RequestUri).pathname.split('/providers/')[1] ?? '';
  return `${String(index + 1).padStart(2, '0')} ${entry.RequestMethod} ${tail} -> ${entry.StatusCode}`;
}

let sim: AzureSimulator;
/** The operation URLs the simulator's last long-running answer gave, for the polls that follow it. */
let lastAsyncOperation: string | undefined;

beforeAll(async () => {
  // Default options, the faithful ones (Retry-After 2 included), except that an operation completes on its
  // first poll, as every operation in the recording did.
  sim = await startAzureSimulator({
    subscriptions: [SUB],
    resourceGroups: [{ subscriptionId: SUB, name: RG, location: LOCATION }],
    lroPolls: 0,
  });
  seedOtherTables();
});

afterAll(async () => {
  await sim.close();
});

/**
 * The subscription-wide list (entry 04) shows three tables of other resource groups besides the one under
 * test. They are put in place, with the recorded locations, tags, routes and subnets, so the list compares.
 */
function seedOtherTables(): void {
  const listEntry = entries[4];
  const recorded = (listEntry?.ResponseBody as { value: RecordedTable[] } | undefined)?.value ?? [];
  recorded.slice(1).forEach((table, i) => {
    const rg = `other-rg-${i}`;
    sim.putTable(SUB, rg, `other-table-${i}`, {
      location: table.location,
      ...(table.tags === undefined ? {} : { tags: table.tags }),
      routes: table.properties.routes.map((route, j) => ({
        name: `route-${j}`,
        addressPrefix: route.properties.addressPrefix,
        nextHopType: route.properties.nextHopType,
        ...(route.properties.nextHopIpAddress === undefined
          ? {}
          : { nextHopIpAddress: route.properties.nextHopIpAddress }),
      })),
      subnets: (table.properties.subnets ?? []).map(
        (_, j) =>
          `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/s${j}`,
      ),
    });
  });
}

interface RecordedTable {
  readonly location: string;
  readonly tags?: Record<string, string>;
  readonly properties: {
    readonly routes: {
      readonly properties: { addressPrefix: string; nextHopType: string; nextHopIpAddress?: string };
    }[];
    readonly subnets?: { id: string }[];
  };
}

describe('the simulator replays real Azure route-table traffic (TestRouteTableTestSuite.json)', () => {
  it('has the entries INDEX.txt describes', () => {
    expect(entries).toHaveLength(18);
    expect(REPLAYED.map((e) => e.RequestMethod)).toEqual([
      'PUT',
      'GET',
      'GET',
      'GET',
      'GET',
      'GET',
      'PATCH',
      'PUT',
      'GET',
      'GET',
      'GET',
      'GET',
      'DELETE',
      'GET',
      'DELETE',
      'GET',
    ]);
  });

  REPLAYED.forEach((entry, i) => {
    it(describeEntry(entry, i), async () => {
      const recordedUrl = new URL(entry.RequestUri);
      const isPoll = /\/operations\//i.test(recordedUrl.pathname);
      let url: string;
      if (isPoll) {
        // A poll goes where the simulator's own answer sent it, and that URL has the recorded shape.
        expect(lastAsyncOperation, 'a poll follows a long-running answer').toBeDefined();
        url = lastAsyncOperation ?? '';
        expect(operationUrlShape(url)).toBe(operationUrlShape(entry.RequestUri));
      } else {
        url = `${sim.url}${mapPath(recordedUrl.pathname)}?api-version=${recordedUrl.searchParams.get('api-version')}`;
      }
      const hasBody = entry.RequestBody !== null && entry.RequestBody !== undefined;
      const response = await fetch(url, {
        method: entry.RequestMethod,
        headers: { accept: 'application/json', ...(hasBody ? { 'content-type': 'application/json' } : {}) },
        ...(hasBody ? { body: JSON.stringify(entry.RequestBody) } : {}),
      });
      const text = await response.text();
      const body: unknown = text === '' ? null : JSON.parse(text);

      expect(response.status).toBe(entry.StatusCode);

      const recorded = recordedHeaders(entry);
      const present = (names: Iterable<string>, has: (name: string) => boolean) =>
        [...names].filter((name) => has(name));
      expect(present(HEADERS, (name) => response.headers.has(name))).toEqual(
        present(HEADERS, (name) => recorded.has(name)),
      );
      if (recorded.has('retry-after')) {
        expect(response.headers.get('retry-after')).toBe(recorded.get('retry-after'));
      }
      const asyncOperation = response.headers.get('azure-asyncoperation');
      if (asyncOperation !== null) {
        expect(operationUrlShape(asyncOperation)).toBe(
          operationUrlShape(recorded.get('azure-asyncoperation') ?? ''),
        );
        lastAsyncOperation = asyncOperation;
      }
      const location = response.headers.get('location');
      if (location !== null) {
        expect(operationUrlShape(location)).toBe(operationUrlShape(recorded.get('location') ?? ''));
      }
      const etag = response.headers.get('etag');
      if (etag !== null) {
        const weakGuid = /^W\/"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"$/;
        expect(recorded.get('etag')).toMatch(weakGuid);
        expect(etag).toMatch(weakGuid);
        expect((body as { etag?: unknown }).etag).toBe(etag);
      }

      const compared = /\/providers\/Microsoft\.Network\/routeTables$/i.test(recordedUrl.pathname)
        ? [byLocation(body), byLocation(entry.ResponseBody)]
        : [body, entry.ResponseBody];
      expect(shape(compared[0])).toEqual(shape(compared[1]));

      // The sanitizer blanked the ids; the simulator's must name what was asked for.
      const id = (body as { id?: unknown } | null)?.id;
      if (typeof id === 'string') expect(id).toBe(mapPath(recordedUrl.pathname));
    });
  });

  it('leaves nothing running and the table gone, as the recording ends', async () => {
    expect(sim.pendingOperations()).toBe(0);
    expect(sim.getTable(SUB, RG, 'routetablehtum2Q')).toBeUndefined();
  });
});
