// A route table that cannot be read says nothing about the routes in it. A node already RouteCreated keeps its
// condition (flipping it would taint the node, and with it the whole cluster, because Azure could not be asked);
// a node not known to be routed gets NoRouteCreated; a node refused for its own reasons is told as always.
import { describe, expect, it } from 'vitest';
import { nodeRouteOutcomes } from '../../src/domain/conditions.ts';
import { desiredRoutes } from '../../src/domain/desired.ts';
import { planTable } from '../../src/domain/planner.ts';
import type { NodeInfo, PlannerConfig } from '../../src/domain/types.ts';
import { expectExit, parseReport } from '../support/cli.ts';
import { routeFor, startSandbox, worker } from '../support/sandbox.ts';

const config: PlannerConfig = {
  clusterCIDRs: ['10.200.0.0/16'],
  routeLimit: 400,
  nodeMaskSize: { v4: 24, v6: 64 },
};
const node = (name: string, cidr: string, ip: string): NodeInfo => ({
  name,
  uid: name,
  creationTimestamp: '2024-01-01T00:00:00Z',
  podCIDRs: [cidr],
  internalIPs: [ip],
});

describe('a route table that could not be read', () => {
  it('makes each route unconfirmed, not failed; a refusal or a failed write elsewhere still counts', () => {
    const nodes = [node('a', '10.200.0.0/24', '10.240.0.4'), node('bad', '0.0.0.0/0', '10.240.0.5')];
    const desired = desiredRoutes(nodes, config);
    const plan = planTable(desired, [], config);
    const unread = nodeRouteOutcomes(nodes, desired, [{ plan, applied: false, name: 't', unread: true }]);
    expect(unread.get('a')).toEqual({
      routesCreated: false,
      problems: [
        "Node a's route for pod CIDR 10.200.0.0/24 could not be confirmed in route table t, which could not be read; the next sync retries it.",
      ],
      unconfirmedOnly: true,
    });
    // A refused node is refused whatever Azure says.
    expect(unread.get('bad')?.unconfirmedOnly).toBeUndefined();
    // One table unreadable, another whose write failed: the failure is known.
    const mixed = nodeRouteOutcomes(nodes, desired, [
      { plan, applied: false, name: 't', unread: true },
      { plan, applied: false, name: 'u' },
    ]);
    expect(mixed.get('a')?.unconfirmedOnly).toBeUndefined();
    expect(mixed.get('a')?.problems).toHaveLength(2);
  });

  it('sync-routes: a RouteCreated node keeps it (no patch, no event), a new node gets NoRouteCreated; exit 1', async () => {
    const sb = await startSandbox({ nodes: [worker(0)], table: { routes: [routeFor(worker(0))] } });
    try {
      expectExit(await sb.syncRoutes(), 0);
      expect(sb.networkUnavailable('worker-0')).toMatchObject({ status: 'False', reason: 'RouteCreated' });
      sb.kube.addNode(worker(1));
      // A 403 on the read (not retried by the SDK, so the test is quick); a 5xx or a timeout is the same case.
      sb.sim.faults.add({ kind: 'forbidden', match: { method: 'GET' } });

      const result = await sb.syncRoutes(['--output', 'json', '--log-level', 'silent']);
      expectExit(result, 1);
      const report = parseReport(result);
      expect(report.tables[0]).toMatchObject({ status: 'Failed', error: { kind: 'Forbidden' } });
      expect(report.conditions).toEqual([
        {
          node: 'worker-0',
          status: 'False',
          reason: 'RouteCreated',
          message: expect.stringMatching(/^RouteController created a route \(kept: .*could not be confirmed/),
          result: 'unchanged',
        },
        expect.objectContaining({
          node: 'worker-1',
          status: 'True',
          reason: 'NoRouteCreated',
          result: 'patched',
        }),
      ]);
      expect(sb.networkUnavailable('worker-0')).toMatchObject({ status: 'False', reason: 'RouteCreated' });
      expect(sb.warningEvents('worker-0')).toEqual([]);
      expect(sb.networkUnavailable('worker-1')).toMatchObject({ status: 'True', reason: 'NoRouteCreated' });
      expect(sb.warningEvents('worker-1')).toHaveLength(1);
      expect(result.stderr).toMatch(
        /^error: the Azure identity .* is not allowed to perform Microsoft\.Network\/routeTables\/read/m,
      );
    } finally {
      await sb.close();
    }
  });
});
