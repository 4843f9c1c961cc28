// Runs the scenarios of a plan, one after another (they share two cores: never two at once), and gathers
// their results with the targets they are held to.
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { ARM_DEFAULT_THROTTLING } from '../src/simulator/azure.ts';
import type { BenchPlan, Mode } from './plans.ts';
import { FAST_LRO, FAST_LRO_RETRY_1, INSTANT, REALISTIC } from './lib/world.ts';
import { round } from './lib/stats.ts';
import {
  baselineColdStart,
  coldStart,
  type BaselineColdStartResult,
  type ColdStartResult,
  type MemoryResult,
} from './scenarios/cold-start.ts';
import { nodeAdd, type NodeAddResult } from './scenarios/node-add.ts';
import { churn, type ChurnResult } from './scenarios/churn.ts';
import { idle, type IdleResult } from './scenarios/idle.ts';
import { planner, type PlannerResult } from './scenarios/planner.ts';
import { footprint, type FootprintRow } from './scenarios/footprint.ts';
import { imageEntry } from './lib/controller.ts';
import { memory as memorySideBySide, type MemoryRun } from './scenarios/memory.ts';

export const SCENARIOS = [
  'cold-start',
  'baseline',
  'node-add',
  'churn',
  'idle',
  'planner',
  'footprint',
  'memory',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface Machine {
  readonly nproc: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly cpu: string;
  readonly kernel: string;
  /** 1-minute load average when the run started and when it ended: other work on the machine skews figures. */
  readonly loadAverage: readonly [number, number];
}

export interface ColdStartRow {
  readonly nodes: number;
  readonly ours?: ColdStartResult | undefined;
  readonly baseline?: BaselineColdStartResult | undefined;
  /** Ours divided by the baseline's (smaller is better). */
  readonly ratios?:
    | {
        readonly writes: number;
        readonly wall: number;
        /** True when the baseline hit the deadline, so the wall ratio is an upper bound. */
        readonly wallIsUpperBound: boolean;
        readonly throttled: number;
      }
    | undefined;
}

export interface Target {
  readonly id: string;
  readonly description: string;
  readonly measured: string;
  readonly met: boolean;
}

export interface BenchResults {
  readonly schemaVersion: 1;
  readonly mode: Mode;
  readonly date: string;
  readonly command: string;
  readonly durationS: number;
  readonly machine: Machine;
  readonly azure: {
    readonly profiles: Readonly<
      Record<
        string,
        { latencyMs: number; lroDurationMs: number; lroRetryAfterSeconds?: number | 'none' | undefined }
      >
    >;
    readonly throttling: typeof ARM_DEFAULT_THROTTLING;
    readonly busyTable: string;
  };
  readonly controllerFlags: string;
  /** The image's command line as the benchmark runs it (Dockerfile ENTRYPOINT and ENV). */
  readonly imageCommand?: string | undefined;
  /** The bound on one per-route baseline run. */
  readonly baselineDeadlineMs: number;
  readonly coldStart: readonly ColdStartRow[];
  readonly memory: readonly ({ readonly nodes: number } & MemoryResult)[];
  readonly nodeAdd: readonly NodeAddResult[];
  readonly churn?: ChurnResult | undefined;
  readonly idle?: IdleResult | undefined;
  readonly planner?: PlannerResult | undefined;
  /** RSS and heap of a fresh process after importing only a module: where the memory floor comes from. */
  readonly footprint?: readonly FootprintRow[] | undefined;
  /**
   * Cold starts by the image's command line before issue 13 and now, side by side, and by one-flag variants:
   * memory from /proc and /metrics, start-up to /readyz, and the time to every node RouteCreated.
   */
  readonly memoryRuns?: readonly MemoryRun[] | undefined;
  readonly targets: readonly Target[];
}

export interface SuiteOptions {
  readonly only?: ReadonlySet<ScenarioName> | undefined;
  /**
   * Run the scenarios at the same time. Only for the unit test, which checks that the harness works: the
   * scenarios compete for the CPUs, so their figures mean nothing.
   */
  readonly concurrent?: boolean;
  readonly command: string;
  readonly log: (message: string) => void;
}

export function machine(loadAtStart = loadavg()[0] ?? 0): Machine {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu;
  } catch {
    // Not Linux: os.cpus() it is.
  }
  return {
    nproc: availableParallelism(),
    memoryGiB: round(totalmem() / 1024 ** 3, 1),
    node: process.version,
    cpu,
    kernel: release(),
    loadAverage: [round(loadAtStart, 2), round(loadavg()[0] ?? 0, 2)],
  };
}

export async function runSuite(plan: BenchPlan, options: SuiteOptions): Promise<BenchResults> {
  const want = (name: ScenarioName) => options.only === undefined || options.only.has(name);
  const log = options.log;
  const started = Date.now();
  const loadAtStart = loadavg()[0] ?? 0;
  const flags = plan.controllerFlags;

  const cs = plan.coldStart;
  const ours = new Map<number, ColdStartResult>();
  const baselines = new Map<number, BaselineColdStartResult>();
  const nodeAdds: NodeAddResult[] = [];
  let churnResult: ChurnResult | undefined;
  let idleResult: IdleResult | undefined;
  let plannerResult: PlannerResult | undefined;
  let footprintRows: FootprintRow[] | undefined;
  let memoryRuns: MemoryRun[] | undefined;

  // One task per scenario; each runs its sizes in order.
  const tasks: Partial<Record<ScenarioName, () => Promise<void>>> = {
    'cold-start': async () => {
      for (const n of cs.sizes) {
        log(`cold start: ${n} nodes (controller)`);
        ours.set(
          n,
          await coldStart({
            nodes: n,
            profile: cs.profile,
            settleMs: cs.settleMs,
            timeoutMs: cs.timeoutMs,
            flags,
          }),
        );
      }
    },
    baseline: async () => {
      for (const n of cs.baselineSizes) {
        log(`cold start: ${n} nodes (per-route baseline, bound ${cs.baselineDeadlineMs / 1000} s)`);
        baselines.set(
          n,
          await baselineColdStart({ nodes: n, profile: cs.profile, deadlineMs: cs.baselineDeadlineMs }),
        );
      }
    },
    'node-add': async () => {
      for (const run of plan.nodeAdd) {
        log(`node-add: ${run.adds} adds every ${run.spacingMs} ms (${run.profile.name} Azure)`);
        nodeAdds.push(await nodeAdd({ ...run, drainTimeoutMs: 60_000, flags }));
      }
    },
    churn: async () => {
      const c = plan.churn;
      log(
        `churn: ${c.nodes} nodes, ${c.fractionPerMinute * 100}% replaced per minute, ${c.minutes} x ${c.minuteMs / 1000} s`,
      );
      churnResult = await churn({ ...c, drainTimeoutMs: 60_000, flags });
    },
    idle: async () => {
      const i = plan.idle;
      log(`idle: ${i.nodes} nodes, ${i.tables} tables, ${i.resyncs} resyncs of ${i.resyncMs} ms`);
      idleResult = await idle({ ...i, flags });
    },
    planner: async () => {
      log(`planner: ${plan.planner.nodes} nodes`);
      plannerResult = await planner(plan.planner);
    },
    footprint: async () => {
      log('footprint: memory of a fresh process after importing each dependency');
      footprintRows = await footprint(plan.footprint);
    },
    memory: async () => {
      memoryRuns = await memorySideBySide(plan.memory, log);
    },
  };
  const selected = SCENARIOS.filter(want).map((name) => tasks[name]!);
  if (options.concurrent) {
    await Promise.all(selected.map((task) => task()));
  } else {
    for (const task of selected) await task();
  }

  const coldStartRows: ColdStartRow[] = [...new Set([...ours.keys(), ...baselines.keys()])]
    .sort((a, b) => a - b)
    .map((nodes) => {
      const o = ours.get(nodes);
      const b = baselines.get(nodes);
      return { nodes, ours: o, baseline: b, ratios: o && b ? ratios(o, b) : undefined };
    });

  const memory = coldStartRows
    .filter((r) => r.ours !== undefined)
    .map((r) => ({ nodes: r.nodes, ...r.ours!.memory }));
  const results: Omit<BenchResults, 'targets'> = {
    schemaVersion: 1,
    mode: plan.mode,
    date: new Date(started).toISOString(),
    command: options.command,
    durationS: round((Date.now() - started) / 1000),
    machine: machine(loadAtStart),
    azure: {
      profiles: {
        [REALISTIC.name]: { latencyMs: REALISTIC.latencyMs, lroDurationMs: REALISTIC.lroDurationMs },
        ...Object.fromEntries(
          [INSTANT, FAST_LRO, FAST_LRO_RETRY_1].map((p) => [
            p.name,
            {
              latencyMs: p.latencyMs,
              lroDurationMs: p.lroDurationMs,
              lroRetryAfterSeconds: p.lroRetryAfterSeconds,
            },
          ]),
        ),
      },
      throttling: ARM_DEFAULT_THROTTLING,
      busyTable: '429 RetryableErrorDueToAnotherOperation, Retry-After 1 s, while a write to the table runs',
    },
    controllerFlags:
      'production defaults (--debounce 250ms, --max-delay 2s, --poll-interval 2s, --resync-period 1m, leader election on) unless a scenario says otherwise',
    baselineDeadlineMs: cs.baselineDeadlineMs,
    imageCommand: imageEntry().label,
    coldStart: coldStartRows,
    memory,
    nodeAdd: nodeAdds,
    churn: churnResult,
    idle: idleResult,
    planner: plannerResult,
    footprint: footprintRows,
    memoryRuns,
  };
  return { ...results, targets: targets(results) };
}

function ratios(
  ours: ColdStartResult,
  baseline: BaselineColdStartResult,
): NonNullable<ColdStartRow['ratios']> {
  return {
    writes: ours.writes / baseline.writes,
    wall: ours.wallMs / baseline.wallMs,
    wallIsUpperBound: !baseline.converged,
    throttled: baseline.throttled === 0 ? Number.NaN : ours.throttled / baseline.throttled,
  };
}

const s = (ms: number) => `${round(ms / 1000, 2)} s`;

export function targets(r: Omit<BenchResults, 'targets'>): Target[] {
  const out: Target[] = [];
  const at400 = r.coldStart.find((c) => c.nodes === 400);
  if (at400?.ours) {
    const o = at400.ours;
    out.push({
      id: 'cold-start-400-puts',
      description: 'Cold start at 400 nodes: 1 PUT per table',
      measured: `${o.putsPerTable} PUT per table`,
      met: o.putsPerTable === 1,
    });
    out.push({
      id: 'cold-start-400-wall',
      description: `Cold start at 400 nodes: converged within debounce + one LRO + 1 s (${s(o.targetMs)})`,
      measured: o.converged ? s(o.wallMs) : 'did not converge',
      met: o.converged && o.wallMs <= o.targetMs,
    });
  }
  if (at400?.ours && at400.baseline) {
    const factor = at400.baseline.writes / at400.ours.writes;
    out.push({
      id: 'cold-start-400-writes-vs-baseline',
      description: 'Cold start at 400 nodes: at least 100x fewer ARM writes than the per-route baseline',
      measured: `${round(factor)}x fewer (${at400.ours.writes} vs ${at400.baseline.writes}${at400.baseline.converged ? '' : ', baseline stopped unconverged'})`,
      met: factor >= 100,
    });
    out.push({
      id: 'cold-start-400-429s',
      description: 'Cold start at 400 nodes: zero 429s where the baseline draws them',
      measured: `${at400.ours.throttled} vs ${at400.baseline.throttled}`,
      met: at400.ours.throttled === 0 && at400.baseline.throttled > 0,
    });
  }
  const fastOp = r.nodeAdd.find((n) => n.lroDurationMs === 200 && n.lroRetryAfterSeconds === 'none');
  if (fastOp) {
    out.push({
      id: 'node-add-route-created-p50',
      description: 'Node add to RouteCreated with a 200 ms operation (no Retry-After): p50 under 1 s',
      measured: s(fastOp.routeCreated.p50Ms),
      met: fastOp.routeCreated.measured === fastOp.adds && fastOp.routeCreated.p50Ms < 1_000,
    });
  }
  const image400 = r.memoryRuns?.find((m) => m.kind === 'image' && m.nodes === 400)?.result;
  const cold400 = image400 ?? at400?.ours;
  if (cold400) {
    out.push({
      id: 'cold-start-400-route-created',
      description: 'Cold start at 400 nodes: every node RouteCreated under 3 s (from the first node LIST)',
      measured: s(cold400.allRouteCreatedMs),
      met: cold400.allRouteCreatedMs < 3_000,
    });
    out.push({
      id: 'start-up-400-ready',
      description: 'Start-up at 400 nodes: process start to /readyz 200 within 1 s',
      measured: s(cold400.readyFromSpawnMs),
      met: cold400.readyFromSpawnMs <= 1_000,
    });
  }
  const fast = r.nodeAdd.find((n) => n.lroDurationMs === 0 && n.latencyMs === 0);
  if (fast) {
    out.push({
      id: 'node-add-p50',
      description: 'Node-add latency without the LRO: p50 under 0.5 s',
      measured: s(fast.p50Ms),
      met: fast.measured === fast.adds && fast.p50Ms < 500,
    });
    out.push({
      id: 'node-add-p99',
      description: 'Node-add latency without the LRO: p99 under 2 s',
      measured: s(fast.p99Ms),
      met: fast.measured === fast.adds && fast.p99Ms < 2_000,
    });
  }
  if (r.idle) {
    const i = r.idle;
    out.push({
      id: 'idle-writes',
      description: 'Idle: 0 writes',
      measured: `${i.writes} writes in ${i.resyncs} resyncs`,
      met: i.writes === 0,
    });
    out.push({
      id: 'idle-reads',
      description: 'Idle: exactly one read per table per resync',
      measured: `${Object.values(i.readsByTable).join(' and ')} reads of ${i.tables} tables in ${i.resyncs} resyncs`,
      met: Object.values(i.readsByTable).every((n) => n === i.resyncs) && i.polls === 0,
    });
  }
  for (const [nodes, limit] of [
    [400, 100],
    [5_000, 150],
  ] as const) {
    // The image's command line in the side-by-side runs, else the cold-start scenario's (the same command).
    const image = r.memoryRuns?.find((x) => x.kind === 'image' && x.nodes === nodes)?.result?.memory;
    const before = r.memoryRuns?.find((x) => x.kind === 'before' && x.nodes === nodes)?.result?.memory;
    const m = image ?? r.memory.find((x) => x.nodes === nodes);
    if (!m) continue;
    const peak = Math.max(m.peakRssMB, Number.isFinite(m.hwmMB) ? m.hwmMB : 0);
    const anon = Number.isFinite(m.peakAnonMB) ? `, anonymous ${m.peakAnonMB} MB` : '';
    const was = before
      ? `; before issue 13: ${Math.max(before.peakRssMB, before.hwmMB)} MB, anonymous ${before.peakAnonMB} MB`
      : '';
    out.push({
      id: `memory-${nodes}`,
      description: `Peak RSS (VmHWM) under ${limit} MB at ${nodes} nodes`,
      measured: `${peak} MB${anon}${was}`,
      met: peak < limit,
    });
  }
  if (r.planner) {
    out.push({
      id: 'planner-warm',
      description: `Planner: ${r.planner.nodes} nodes in under 50 ms (warm median, the image's Node flags)`,
      measured: `${r.planner.warmMedianMs} ms`,
      met: r.planner.warmMedianMs < 50,
    });
    out.push({
      id: 'planner-first',
      description: `Planner: ${r.planner.nodes} nodes in under 50 ms (first call, cold JIT, the image's Node flags)`,
      measured: `${r.planner.firstCallMs} ms`,
      met: r.planner.firstCallMs < 50,
    });
  }
  return out;
}
