// The store and the write loop against the Azure simulator over loopback HTTP: the simulator answers as the
// recording shows Azure does (Retry-After 2 on the PUT, goal state stored at once, Failed kept), so these
// check that our polling, re-drive and refusal handling hold against those answers end to end.
import { afterEach, describe, expect, it } from 'vitest';
import { createCredential } from '../../src/azure/credentials.ts';
import { createRouteTableStore } from '../../src/azure/store.ts';
import { syncTable } from '../../src/azure/table-sync.ts';
import type { TableRef, TableSnapshot } from '../../src/azure/types.ts';
import { hasChanges, planTable, tableChanges } from '../../src/domain/planner.ts';
import type { DesiredState, PlannerConfig, Route } from '../../src/domain/types.ts';
import { startAzureSimulator, type AzureSimulator } from '../../src/simulator/azure.ts';
import { azureConfig, silentLogger } from './helpers.ts';

const SUB = '11111111-2222-3333-4444-555555555555';
const RG = 'rg1';
const REF: TableRef = { subscriptionId: SUB, resourceGroup: RG, name: 'kubernetes-routes' };

const CONFIG: PlannerConfig = {
  clusterCIDRs: ['10.200.0.0/16'],
  routeLimit: 400,
  nodeMaskSize: { v4: 24, v6: 64 },
};
const DESIRED: DesiredState = {
  routes: [0, 1, 2].map((i) => ({
    node: `worker-${i}`,
    cidr: `10.200.${i}.0/24`,
    family: 4 as const,
    nextHopIpAddress: `10.240.0.2${i}`,
    name: `worker-${i}____10200${i}24`,
    nodeCreationTimestamp: `2026-01-0${i + 1}T00:00:00Z`,
  })),
  skipped: [],
  frozenPrefixes: [],
};

const plan = (routes: readonly Route[], snapshot: TableSnapshot, rejected: ReadonlyMap<string, string>) => {
  const p = planTable(DESIRED, routes, CONFIG, {
    tableProvisioningState: snapshot.provisioningState,
    rejected,
  });
  return { plan: p, changes: tableChanges(p), hasChanges: hasChanges(p) };
};

let sim: AzureSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function setup(options: Parameters<typeof startAzureSimulator>[0] = {}) {
  sim = await startAzureSimulator({
    subscriptions: [SUB],
    resourceGroups: [{ subscriptionId: SUB, name: RG, location: 'westus' }],
    ...options,
  });
  sim.putTable(SUB, RG, REF.name, {
    routes: [
      {
        name: 'firewall',
        addressPrefix: '0.0.0.0/0',
        nextHopType: 'VirtualAppliance',
        nextHopIpAddress: '10.240.255.4',
      },
    ],
  });
  const sleeps: number[] = [];
  const config = azureConfig({
    armEndpoint: sim.url,
    tokenScope: `${sim.url}/.default`,
    allowInsecureEndpoint: true,
    credential: { kind: 'insecureTest' },
    subscriptionId: SUB,
    routeTables: [REF],
    pollIntervalMs: 2_000,
  });
  const store = createRouteTableStore(
    config,
    createCredential({ kind: 'insecureTest' }, 'https://login.microsoftonline.com'),
    {
      logger: silentLogger,
      retry: { maxRetries: 0 },
      sleep: (ms) => {
        sleeps.push(ms);
        return Promise.resolve();
      },
    },
  );
  const sync = () =>
    syncTable({
      store,
      ref: REF,
      plan,
      dryRun: false,
      maxAttempts: 3,
      sleep: () => Promise.resolve(),
      logger: silentLogger,
    });
  return { sim, store, sleeps, sync };
}

describe('store and write loop against the simulator', () => {
  it("waits the PUT's Retry-After (2 s, as Azure sends it) before the first poll, then backs off from 250 ms", async () => {
    const { sleeps, sync } = await setup({ lroPolls: 3 });
    const result = await sync();
    expect(result.error).toBeUndefined();
    expect(result.written).toBe(true);
    // Three InProgress answers without Retry-After, then Succeeded.
    expect(sleeps).toEqual([2_000, 250, 500, 1_000]);
    expect(result.snapshot?.provisioningState).toBe('Succeeded');
  });

  it('an operation that ends Failed is an error; the next pass re-drives the Failed table and succeeds', async () => {
    const { sim, sync } = await setup();
    sim.faults.add({ times: 1, kind: 'lroFailed', match: { method: 'PUT' }, code: 'InternalServerError' });
    const first = await sync();
    expect(first.written).toBe(false);
    expect(first.error?.kind).toBe('OperationFailed');
    expect(first.error?.message).toContain('InternalServerError');
    // Azure kept the goal state, Failed: every route is there, which must not read as in place.
    const failedTable = sim.getTable(SUB, RG, REF.name) as { properties: { provisioningState: string } };
    expect(failedTable.properties.provisioningState).toBe('Failed');

    const second = await sync();
    expect(second.error).toBeUndefined();
    expect(second.plan?.plan.redrive).toBe(true);
    expect(second.plan?.changes).toEqual({ upserts: [], deletes: [] });
    expect(second.written).toBe(true);
    expect(second.snapshot?.provisioningState).toBe('Succeeded');
  });

  it('a route the simulator refuses (by prefix) is set aside and the rest of the table is written', async () => {
    const { sim, sync } = await setup();
    sim.faults.add({ kind: 'refuseRoute', prefix: '10.200.1.0/24' });
    const result = await sync();
    expect(result.error).toBeUndefined();
    expect(result.written).toBe(true);
    expect([...result.rejected.keys()]).toEqual(['10.200.1.0/24']);
    expect(result.rejected.get('10.200.1.0/24')).toContain('worker-1____10200124');
    expect(
      sim
        .routes(SUB, RG, REF.name)
        .map((r) => r.name)
        .sort(),
    ).toEqual(['firewall', 'worker-0____10200024', 'worker-2____10200224']);
  });
});
