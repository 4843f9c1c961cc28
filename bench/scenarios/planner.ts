// The planner alone: desiredRoutes + planTable for N nodes against an N-route table, in a fresh process.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT, imageNodeFlags } from '../lib/controller.ts';
import { median, quantile, round } from '../lib/stats.ts';

const WORKER = fileURLToPath(new URL('./planner-worker.ts', import.meta.url));

export interface PlannerOptions {
  readonly nodes: number;
  readonly iterations: number;
  /** Node flags of the fresh process: the image's (what ships) unless told otherwise. */
  readonly nodeFlags?: readonly string[];
}

export interface PlannerResult {
  /** The Node flags the planner ran under (the image's ENTRYPOINT flags). */
  readonly nodeFlags: readonly string[];
  /** The same first and warm calls under Node's default flags, for what the image's flags cost. */
  readonly defaultFlags?: { readonly firstCallMs: number; readonly warmMedianMs: number } | undefined;
  readonly nodes: number;
  readonly routes: number;
  readonly plan: { creates: number; updates: number; deletes: number; keeps: number };
  /** The first call in a fresh process (cold JIT): desiredRoutes + planTable. */
  readonly firstCallMs: number;
  readonly firstDesiredMs: number;
  readonly firstPlanMs: number;
  readonly iterations: number;
  readonly warmMedianMs: number;
  readonly warmP90Ms: number;
  readonly warmDesiredMedianMs: number;
  readonly warmPlanMedianMs: number;
}

export async function planner(options: PlannerOptions): Promise<PlannerResult> {
  const nodeFlags = options.nodeFlags ?? imageNodeFlags();
  const result = await plannerOnce(options, nodeFlags);
  const plain = await plannerOnce(options, []);
  return {
    ...result,
    defaultFlags: { firstCallMs: plain.firstCallMs, warmMedianMs: plain.warmMedianMs },
  };
}

async function plannerOnce(options: PlannerOptions, nodeFlags: readonly string[]): Promise<PlannerResult> {
  const child = spawn(
    process.execPath,
    [...nodeFlags, '--expose-gc', WORKER, String(options.nodes), String(options.iterations)],
    {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`planner worker exited with ${code}`);
  const r = JSON.parse(out) as {
    nodes: number;
    routes: number;
    plan: PlannerResult['plan'];
    first: { desiredMs: number; planMs: number; totalMs: number };
    warm: number[];
    warmDesired: number[];
    warmPlan: number[];
  };
  return {
    nodeFlags,
    nodes: r.nodes,
    routes: r.routes,
    plan: r.plan,
    firstCallMs: round(r.first.totalMs, 1),
    firstDesiredMs: round(r.first.desiredMs, 1),
    firstPlanMs: round(r.first.planMs, 1),
    iterations: r.warm.length,
    warmMedianMs: round(median(r.warm), 1),
    warmP90Ms: round(quantile(r.warm, 0.9), 1),
    warmDesiredMedianMs: round(median(r.warmDesired), 1),
    warmPlanMedianMs: round(median(r.warmPlan), 1),
  };
}
