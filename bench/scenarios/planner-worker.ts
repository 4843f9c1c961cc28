// Runs in a fresh process (so the first call is really the first, with a cold JIT): desiredRoutes + planTable
// for N nodes against an N-route table, first call and warm. Prints one JSON object on stdout.
//   node --expose-gc bench/scenarios/planner-worker.ts <nodes> <warm iterations>
import { desiredRoutes } from '../../src/domain/desired.ts';
import { planTable } from '../../src/domain/planner.ts';
import type { NodeInfo, PlannerConfig, Route } from '../../src/domain/types.ts';
import { benchNode, benchRoute, CLUSTER_CIDR } from '../lib/nodes.ts';
import { plannerFixture } from './planner-fixture.ts';

const nodes = Number(process.argv[2] ?? 5_000);
const iterations = Number(process.argv[3] ?? 30);
const fixture = plannerFixture(nodes, benchNode, benchRoute, CLUSTER_CIDR);

function once(list: readonly NodeInfo[], routes: readonly Route[], config: PlannerConfig) {
  const t0 = performance.now();
  const desired = desiredRoutes(list, config);
  const t1 = performance.now();
  const plan = planTable(desired, routes, config);
  const t2 = performance.now();
  return { desiredMs: t1 - t0, planMs: t2 - t1, totalMs: t2 - t0, plan };
}

// Collect the fixture's garbage first, so the first call pays for cold code, not for the set-up.
(globalThis as { gc?: () => void }).gc?.();
const first = once(fixture.nodes, fixture.routes, fixture.config);
const warm: number[] = [];
const warmDesired: number[] = [];
const warmPlan: number[] = [];
for (let i = 0; i < iterations; i++) {
  const run = once(fixture.nodes, fixture.routes, fixture.config);
  warm.push(run.totalMs);
  warmDesired.push(run.desiredMs);
  warmPlan.push(run.planMs);
}
process.stdout.write(
  JSON.stringify({
    nodes,
    routes: fixture.routes.length,
    plan: {
      creates: first.plan.creates.length,
      updates: first.plan.updates.length,
      deletes: first.plan.deletes.length,
      keeps: first.plan.keeps.length,
    },
    first: { desiredMs: first.desiredMs, planMs: first.planMs, totalMs: first.totalMs },
    warm,
    warmDesired,
    warmPlan,
  }) + '\n',
);
