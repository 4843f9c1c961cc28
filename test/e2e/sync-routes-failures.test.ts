// End to end: the runs that exit 1. Conflicts with foreign routes, refused nodes and failed writes each leave
// the nodes' conditions telling the truth; Azure and Kubernetes failures give one line on stderr, no stack.
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SimpleRoute } from '../../src/simulator/azure.ts';
import { expectExit, expectOneLineError, messageLines, parseReport, stackFrames } from '../support/cli.ts';
import {
  FIREWALL_ROUTE,
  RESOURCE_GROUP,
  TABLE,
  routeFor,
  startSandbox,
  storedRoute,
  worker,
  workers,
  type Sandbox,
} from '../support/sandbox.ts';

let sb: Sandbox | undefined;
afterEach(async () => {
  await sb?.close();
  sb = undefined;
});

describe('a conflict with a foreign route', () => {
  // Every route inside --cluster-cidr is ours (DESIGN 2.1), so a foreign route can only block us by holding the
  // name our route would get: here a route outside the range that someone named like worker-1's route.
  it('leaves the route alone, marks the node NetworkUnavailable and records a Warning event; exit 1', async () => {
    const nodes = workers(3);
    const foreign: SimpleRoute = {
      name: routeFor(nodes[1]!).name,
      addressPrefix: '192.168.50.0/24',
      nextHopType: 'VirtualAppliance',
      nextHopIpAddress: '10.240.255.4',
    };
    sb = await startSandbox({
      nodes,
      table: { tags: { owner: 'network-team' }, disableBgpRoutePropagation: true, routes: [foreign] },
    });
    const before = sb.table()!;

    const result = await sb.syncRoutes([]);
    expectExit(result, 1);

    // The other nodes' routes still went in, with one PUT; the foreign route is exactly as it was.
    expect(sb.azureWrites()).toHaveLength(1);
    expect(storedRoute(sb.table(), foreign.name)).toEqual(storedRoute(before, foreign.name));
    expect(
      sb
        .routes()
        .map((r) => r.name)
        .sort(),
    ).toEqual([foreign.name, routeFor(nodes[0]!).name, routeFor(nodes[2]!).name].sort());
    expect(sb.routes().filter((r) => r.addressPrefix === '10.200.1.0/24')).toEqual([]);
    expect(sb.table()!['tags']).toEqual({ owner: 'network-team' });
    expect((sb.table()!['properties'] as Record<string, unknown>)['disableBgpRoutePropagation']).toBe(true);

    expect(sb.networkUnavailable('worker-1')).toMatchObject({
      status: 'True',
      reason: 'NoRouteCreated',
      message: expect.stringContaining(foreign.name),
    });
    for (const name of ['worker-0', 'worker-2']) {
      expect(sb.networkUnavailable(name), name).toMatchObject({ status: 'False', reason: 'RouteCreated' });
    }
    const events = sb.warningEvents();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'Warning',
      reason: 'FailedToCreateRoute',
      involvedObject: { kind: 'Node', name: 'worker-1' },
      message: expect.stringContaining(foreign.name),
    });

    expect(result.stdout).toMatch(
      /conflict\s+worker-1____102001024\s+10\.200\.1\.0\/24\s+name held by foreign 192\.168\.50\.0\/24 via 10\.240\.255\.4, left alone\s+worker-1/,
    );
    expect(result.stdout).toContain('Result: FAILED (see above) (exit 1).');

    // It stays a conflict: the next run writes nothing to Azure and still exits 1.
    const again = await sb.syncRoutes([]);
    expectExit(again, 1);
    expect(sb.azureWrites()).toEqual([]);
    expect(storedRoute(sb.table(), foreign.name)).toEqual(storedRoute(before, foreign.name));
  });
});

describe('a refused node', () => {
  // DESIGN 2.3: no route may capture another node's traffic.
  for (const [label, clusterCidr, podCidr, reason] of [
    ['outside --cluster-cidr', '10.200.0.0/16', '0.0.0.0/0', 'OutsideClusterCIDR'],
    ['equal to the --cluster-cidr range', '10.200.0.0/16', '10.200.0.0/16', 'CoversClusterCIDR'],
    ['broader than --node-cidr-mask-size-ipv4 (24)', '10.200.0.0/15', '10.201.0.0/20', 'PrefixTooBroad'],
  ] as const) {
    it(`with pod CIDR ${podCidr} (${label}) never gets a route; exit 1`, async () => {
      const nodes = workers(2);
      const hostile = { name: 'hostile', podCIDRs: [podCidr], internalIPs: ['10.240.0.66'] };
      sb = await startSandbox({ nodes: [...nodes, hostile], table: { routes: [FIREWALL_ROUTE] } });
      const before = sb.table()!;

      const result = await sb.syncRoutes(['--output', 'json'], { clusterCidr });
      expectExit(result, 1);

      // The default route is the firewall's, exactly as before; the good nodes got theirs.
      expect(storedRoute(sb.table(), FIREWALL_ROUTE.name)).toEqual(storedRoute(before, FIREWALL_ROUTE.name));
      expect(sb.routes().filter((r) => r.addressPrefix === '0.0.0.0/0')).toEqual([FIREWALL_ROUTE]);
      expect(sb.routes().some((r) => r.name.startsWith('hostile'))).toBe(false);
      expect(sb.routes()).toHaveLength(3);

      const r = parseReport(result);
      expect(r).toMatchObject({ result: 'Failed', exitCode: 1, summary: { refused: 1, create: 2 } });
      expect(r.skipped).toMatchObject([
        { node: 'hostile', cidr: podCidr, reason, message: expect.any(String) },
      ]);
      expect(sb.networkUnavailable('hostile')).toMatchObject({ status: 'True', reason: 'NoRouteCreated' });
      expect(sb.warningEvents('hostile')).toHaveLength(1);
      for (const node of nodes) {
        expect(sb.networkUnavailable(node.name)).toMatchObject({ status: 'False', reason: 'RouteCreated' });
      }
    });
  }

  it('is listed in the text output with its reason', async () => {
    sb = await startSandbox({
      nodes: [worker(0), { name: 'no-ip', podCIDRs: ['10.200.50.0/24'] }],
    });
    const result = await sb.syncRoutes();
    expectExit(result, 1);
    expect(result.stdout).toContain('Refused nodes (no route):');
    expect(result.stdout).toMatch(/no-ip\s+10\.200\.50\.0\/24\s+NoInternalIP/);
  });
});

describe('a write whose long-running operation ends Failed', () => {
  it('is not reported as applied, and the nodes whose routes it carried get NoRouteCreated; exit 1', async () => {
    const nodes = workers(3);
    // worker-0's route is already in place; worker-1's and worker-2's ride on the write that fails.
    sb = await startSandbox({ nodes, table: { routes: [routeFor(nodes[0]!)] } });
    sb.sim.faults.add({ kind: 'lroFailed', match: { method: 'PUT' } });

    const result = await sb.syncRoutes(['--output', 'json', '--log-level', 'silent']);
    expectExit(result, 1);
    expect(sb.azureWrites()).toHaveLength(1);
    const r = parseReport(result);
    expect(r.result).toBe('Failed');
    expect(r.tables[0]).toMatchObject({
      status: 'Failed',
      writes: 0,
      error: { kind: 'OperationFailed', message: expect.stringContaining('ended Failed') },
    });
    expect(r.summary).toMatchObject({ failedTables: 1, writes: 0 });
    expect(sb.networkUnavailable('worker-0')).toMatchObject({ status: 'False', reason: 'RouteCreated' });
    for (const name of ['worker-1', 'worker-2']) {
      expect(sb.networkUnavailable(name), name).toMatchObject({ status: 'True', reason: 'NoRouteCreated' });
      expect(sb.warningEvents(name), name).toHaveLength(1);
    }
    expect(expectOneLineError(result)).toContain('ended Failed');
  });
});

describe('Azure errors: one line on stderr, exit 1', () => {
  it('a missing route table suggests --create-route-table', async () => {
    sb = await startSandbox({ nodes: workers(2), table: false });
    const result = await sb.syncRoutes(['--log-level', 'silent']);
    expectExit(result, 1);
    const line = expectOneLineError(result);
    expect(line).toContain(`route table "${TABLE}" not found in resource group "${RESOURCE_GROUP}"`);
    expect(line).toContain('--create-route-table');
    expect(sb.azureWrites()).toEqual([]);
    // The nodes' conditions say why, rather than blaming a bug.
    expect(sb.networkUnavailable('worker-0')).toMatchObject({
      status: 'True',
      reason: 'NoRouteCreated',
      message: expect.stringContaining(`route table ${TABLE}`),
    });
    expect(sb.networkUnavailable('worker-0')!.message).not.toContain('bug');
  });

  it('a wrong subscription', async () => {
    sb = await startSandbox({ nodes: workers(1) });
    const other = '00000000-0000-0000-0000-0000000000ff';
    const result = await sb.syncRoutes(['--log-level', 'silent'], { subscriptionId: other });
    expectExit(result, 1);
    const line = expectOneLineError(result);
    expect(line).toContain(`subscription "${other}" was not found`);
    expect(line).toContain('--subscription-id');
  });

  it('a 403 on the write names the missing action', async () => {
    sb = await startSandbox({ nodes: workers(2) });
    sb.sim.faults.add({ kind: 'forbidden', match: { method: 'PUT' } });
    const result = await sb.syncRoutes(['--log-level', 'silent']);
    expectExit(result, 1);
    expect(expectOneLineError(result)).toContain('Microsoft.Network/routeTables/write');
    expect(sb.routes()).toEqual([]);
    expect(result.stdout).toContain('0 table write(s)');
  });

  it('a 403 on the read names the missing action', async () => {
    sb = await startSandbox({ nodes: workers(2) });
    sb.sim.faults.add({ kind: 'forbidden', match: { method: 'GET' } });
    const result = await sb.syncRoutes(['--log-level', 'silent']);
    expectExit(result, 1);
    expect(expectOneLineError(result)).toContain('Microsoft.Network/routeTables/read');
    expect(sb.azureWrites()).toEqual([]);
  });

  it('with the default log level, the error is still the only line that is not a log record', async () => {
    sb = await startSandbox({ nodes: workers(1), table: false });
    const result = await sb.syncRoutes();
    expectExit(result, 1);
    expect(stackFrames(result.stderr)).toEqual([]);
    expect(messageLines(result.stderr)).toEqual([
      expect.stringMatching(/^error: route table .*--create-route-table/),
    ]);
  });
});

describe('Kubernetes errors', () => {
  it('a kubeconfig pointing at a closed port: one line, exit 1, nothing written to Azure', async () => {
    sb = await startSandbox({ nodes: workers(1) });
    // A port that was just free: listen, note it, close.
    const port = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    const closed = join(sb.dir, 'closed-kubeconfig');
    writeFileSync(closed, sb.kube.kubeconfig().replace(sb.kube.url, `http://127.0.0.1:${port}`));

    const result = await sb.syncRoutes(['--log-level', 'silent', '--kubeconfig', closed]);
    expectExit(result, 1);
    expect(expectOneLineError(result)).toContain(`127.0.0.1:${port}`);
    expect(sb.sim.requests).toEqual([]);
  });

  it('a node status patch refused with 403: the condition is reported failed, one line on stderr, exit 1', async () => {
    sb = await startSandbox({ nodes: workers(2) });
    sb.kube.failNext({ method: 'PATCH', pathIncludes: '/status', status: 403, times: 2 });
    const result = await sb.syncRoutes(['--log-level', 'silent', '--output', 'json']);
    expectExit(result, 1);
    // The routes are in Azure; only the conditions failed.
    expect(sb.routes()).toHaveLength(2);
    const r = parseReport(result);
    expect(r.tables[0]).toMatchObject({ status: 'Applied', writes: 1 });
    expect(r.conditions.map((c) => c.result)).toEqual(['failed', 'failed']);
    expect(expectOneLineError(result)).toMatch(
      /^error: could not patch the NetworkUnavailable condition of 2 node\(s\)/,
    );
  });
});
