// Shared setup for the nock-based Azure adapter tests. The fixtures in ./fixtures are hand-made in the
// shape of Azure's answers, not recorded: each says so in its "source" field, and the ones for the table PUT,
// the operation poll and the table GET take their status and header set from the real Azure traffic in
// ../shared/azure-recordings/TestRouteTableTestSuite.json, as copied into test/fixtures/azure-recordings/ (entries 01,
// 02 and 03; see fixtures.test.ts).
import { readFileSync } from 'node:fs';
import type { AccessToken, TokenCredential } from '@azure/identity';
import nock from 'nock';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import type { TableRef } from '../../src/azure/types.ts';
import { loadRecording } from '../support/recording.ts';
import type { AzureConfig } from '../../src/config/types.ts';

export const SUB = '3f2c9a61-5b8e-4d0a-9c47-8e1d2b6a7f30';
export const RG = 'kubernetes-the-hard-way';
export const TABLE = 'kubernetes-routes';
export const REF: TableRef = { subscriptionId: SUB, resourceGroup: RG, name: TABLE };
export const ARM = 'https://management.azure.com';
export const TABLE_PATH = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Network/routeTables/${TABLE}`;
export const API = { 'api-version': '2026-01-01' } as const;
export const FAKE_TOKEN = 'fake-arm-token-for-tests';

export interface Fixture {
  /** Where the fixture comes from: which recording entry it derives from, or that it is hand-made. */
  readonly source?: string;
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body?: unknown;
}

/** A hand-made Azure response (status, headers and body in Azure's shape); see its "source". */
export function fixture(name: string): Fixture {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), 'utf8')) as Fixture;
}

export interface RecordedEntry {
  readonly RequestUri: string;
  readonly RequestMethod: string;
  readonly StatusCode: number;
  readonly ResponseHeaders: Record<string, string>;
  readonly ResponseBody: unknown;
}

/** One entry of the real Azure recording (INDEX.txt beside it lists them). */
export function recordedEntry(index: number): RecordedEntry {
  return loadRecording<RecordedEntry>().Entries[index]!;
}

/** The fixture with one header removed (header names are case-insensitive). */
export function withoutHeader(f: Fixture, name: string): Fixture {
  const headers = Object.fromEntries(
    Object.entries(f.headers).filter(([k]) => k.toLowerCase() !== name.toLowerCase()),
  );
  return { ...f, headers };
}

/** The fixture with one header set. */
export function withHeader(f: Fixture, name: string, value: string): Fixture {
  return { ...f, headers: { ...withoutHeader(f, name).headers, [name]: value } };
}

/** A fixture with a different etag (header and body), for "someone else wrote the table" scenarios. */
export function withEtag(f: Fixture, etag: string): Fixture {
  const body = { ...(f.body as Record<string, unknown>), etag };
  return { ...f, headers: { ...f.headers, ETag: etag }, body };
}

export function reply(interceptor: nock.Interceptor, f: Fixture): nock.Scope {
  return interceptor.reply(f.status, f.body === undefined ? '' : JSON.stringify(f.body), f.headers);
}

/** The path of the Azure-AsyncOperation URL in a PUT fixture. */
export function asyncOperationPath(f: Fixture): string {
  const url = new URL(f.headers['Azure-AsyncOperation']!);
  return url.pathname;
}

export function azureConfig(overrides: Partial<AzureConfig> = {}): AzureConfig {
  return {
    cloud: 'AzurePublicCloud',
    armEndpoint: ARM,
    tokenScope: `${ARM}/.default`,
    authorityHost: 'https://login.microsoftonline.com',
    tags: {},
    settleTimeoutMs: 30_000,
    tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    subscriptionId: SUB,
    routeTables: [REF],
    location: 'westus2',
    credential: { kind: 'managedIdentity' },
    allowInsecureEndpoint: false,
    operationTimeoutMs: 10_000,
    pollIntervalMs: 1,
    ...overrides,
  };
}

/** A credential that never talks to Entra. */
export function fakeCredential(token = FAKE_TOKEN): TokenCredential & { scopes: string[] } {
  const scopes: string[] = [];
  return {
    scopes,
    getToken(requested: string | string[]): Promise<AccessToken> {
      scopes.push(...(Array.isArray(requested) ? requested : [requested]));
      return Promise.resolve({ token, expiresOnTimestamp: Date.now() + 3_600_000 });
    },
  };
}

export const silentLogger = pino({ level: 'silent' });

/**
 * nock for one test file: no real network while it runs, and every recorded interaction must be used by
 * the test that recorded it. Interception is switched off afterwards, so other files in the same worker
 * keep real sockets.
 */
export function useNock(): void {
  beforeAll(() => {
    if (!nock.isActive()) nock.activate();
    nock.disableNetConnect();
  });
  afterEach(() => {
    const pending = nock.pendingMocks();
    nock.cleanAll();
    expect(pending).toEqual([]);
  });
  afterAll(() => {
    nock.enableNetConnect();
    nock.restore();
  });
}
