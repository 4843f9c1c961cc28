// The benchmark harness at tiny sizes, so it keeps working: every scenario runs end to end (real `run` child
// processes, the simulator and the fake API server over loopback) and every figure reaches the report.
// Performance targets are not asserted here; `npm run bench` measures them.
import { describe, expect, it } from 'vitest';
import { benchmarksMarkdown } from '../../bench/benchmarks-md.ts';
import { PLANS } from '../../bench/plans.ts';
import { markdownTable, rows, textTable } from '../../bench/report.ts';
import { SCENARIOS, runSuite } from '../../bench/suite.ts';

describe('npm run bench, at tiny sizes', () => {
  it('runs every scenario and reports its figures', { timeout: 90_000 }, async () => {
    const results = await runSuite(PLANS.tiny, { command: 'vitest', log: () => {}, concurrent: true });

    const cold = results.coldStart.find((c) => c.nodes === 3);
    expect(cold?.ours).toMatchObject({ converged: true, writes: 1, putsPerTable: 1, throttled: 0 });
    expect(cold?.ours?.wallMs).toBeGreaterThan(0);
    expect(cold?.ours?.memory.samples).toBeGreaterThan(0);
    expect(cold?.ours?.memory.peakRssMB).toBeGreaterThan(10);
    expect(cold?.ours?.memory.peakHeapUsedMB).toBeGreaterThan(1);
    // The per-route baseline writes each route on its own: at least one PUT per route.
    expect(cold?.baseline?.routesPresent).toBe(3);
    expect(cold?.baseline?.converged).toBe(true);
    expect(cold?.baseline?.acceptedWrites).toBeGreaterThanOrEqual(3);
    expect(cold?.ratios?.writes).toBeLessThan(1);
    expect(results.memory.map((m) => m.nodes)).toEqual([3]);
    // The cold start reports start-up and every node RouteCreated, and memory from /proc as well as /metrics.
    expect(cold?.ours?.readyFromSpawnMs).toBeGreaterThan(0);
    expect(cold?.ours?.allRouteCreatedMs).toBeGreaterThan(0);
    expect(cold?.ours?.memory.peakAnonMB).toBeGreaterThan(1);
    expect(cold?.ours?.memory.settledFileMB).toBeGreaterThan(1);
    // Memory side by side: the command line from before issue 13 and the image's, in the same run.
    expect(results.memoryRuns?.map((m) => [m.nodes, m.kind])).toEqual([
      [3, 'before'],
      [3, 'image'],
    ]);
    expect(results.memoryRuns?.[0]?.result?.entry).toMatch(/dist\/cli\/main\.js/);
    expect(results.memoryRuns?.[1]?.result?.entry).toMatch(/dist\/cli\/azure-route-controller\.js/);
    for (const run of results.memoryRuns ?? []) {
      expect(run.result?.converged).toBe(true);
      expect(run.result?.memory.hwmMB).toBeGreaterThan(10);
    }

    const [add] = results.nodeAdd;
    expect(add).toMatchObject({ adds: 2, measured: 2 });
    expect(add!.p50Ms).toBeGreaterThan(0);
    expect(add!.puts).toBeGreaterThanOrEqual(1);
    // Each added node's condition reached RouteCreated.
    expect(add!.routeCreated.measured).toBe(2);
    expect(add!.routeCreated.p50Ms).toBeGreaterThan(0);

    expect(results.churn).toMatchObject({ replacements: 2, measured: 4 });
    expect(results.churn!.staleness.maxMs).toBeGreaterThan(0);
    expect(results.churn!.putsPerMinute).toHaveLength(1);

    // Nothing changes while idle: no write, whatever the timing; reads come from resyncs only.
    expect(results.idle).toMatchObject({ writes: 0, polls: 0, kubeWrites: 0, tables: 2 });
    for (const reads of Object.values(results.idle!.readsByTable)) {
      expect(reads).toBeGreaterThanOrEqual(1);
      expect(reads).toBeLessThanOrEqual(3);
    }

    expect(results.planner).toMatchObject({ nodes: 50, iterations: 3 });
    expect(results.planner!.plan).toEqual({ creates: 1, updates: 1, deletes: 1, keeps: 48 });
    expect(results.footprint?.[0]?.rssMB).toBeGreaterThan(10);

    // Targets that apply at these sizes are evaluated; the 400-node ones need the real sizes.
    expect(results.targets.map((t) => t.id)).toEqual(
      expect.arrayContaining(['idle-writes', 'idle-reads', 'planner-warm', 'planner-first']),
    );
    expect(results.machine.nproc).toBeGreaterThan(0);

    const all = rows(results);
    const scenarios = new Set(all.map((r) => r.scenario.split(',')[0]));
    expect([...scenarios]).toEqual(
      expect.arrayContaining(['Cold start', 'Memory', 'Node-add latency', 'Churn', 'Idle', 'Planner']),
    );
    expect(all.every((r) => r.value !== '' && !r.value.includes('undefined'))).toBe(true);
    expect(textTable(results)).toContain('Targets');
    expect(markdownTable(results).split('\n')).toHaveLength(all.length + 2);
    expect(benchmarksMarkdown(results)).toContain('## Every figure');
    // The results survive JSON (what --json prints).
    expect(JSON.parse(JSON.stringify(results)).coldStart[0].nodes).toBe(3);
  });

  it('names its scenarios for --only', () => {
    expect(SCENARIOS).toEqual([
      'cold-start',
      'baseline',
      'node-add',
      'churn',
      'idle',
      'planner',
      'footprint',
      'memory',
    ]);
  });
});
