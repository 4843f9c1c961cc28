// What each mode runs: `full` (npm run bench), `quick` (--quick, under 2 minutes) and `tiny` (the unit test).
import { FAST_LRO, FAST_LRO_RETRY_1, INSTANT, REALISTIC, type AzureProfile } from './lib/world.ts';
import type { MemoryPlan } from './scenarios/memory.ts';

export type Mode = 'full' | 'quick' | 'tiny';

export interface BenchPlan {
  readonly mode: Mode;
  readonly coldStart: {
    readonly profile: AzureProfile;
    readonly sizes: readonly number[];
    /** Sizes the per-route baseline runs at (same profile, a fresh simulator each). */
    readonly baselineSizes: readonly number[];
    /** The benchmark's bound on one baseline run. */
    readonly baselineDeadlineMs: number;
    /** Memory sampling after convergence. */
    readonly settleMs: number;
    readonly timeoutMs: number;
  };
  readonly nodeAdd: readonly {
    readonly profile: AzureProfile;
    readonly baseNodes: number;
    readonly adds: number;
    readonly spacingMs: number;
  }[];
  readonly churn: {
    readonly profile: AzureProfile;
    readonly nodes: number;
    readonly fractionPerMinute: number;
    readonly minuteMs: number;
    readonly minutes: number;
    readonly resyncPeriod: string;
  };
  readonly idle: {
    readonly profile: AzureProfile;
    readonly nodes: number;
    readonly tables: number;
    readonly resyncMs: number;
    readonly resyncs: number;
  };
  readonly planner: { readonly nodes: number; readonly iterations: number };
  /** Memory (and start-up, and RouteCreated) before issue 13 and now, side by side; flag variants. */
  readonly memory: MemoryPlan;
  /** Flags added to every `run` controller (none: production defaults). */
  readonly controllerFlags?: readonly string[];
  /** Which import footprints to measure: every module, or bare Node only (the unit test). */
  readonly footprint: 'all' | 'bare';
}

/** For the unit test only: Azure answers fast, so the harness is exercised in seconds. */
export const TEST_PROFILE: AzureProfile = Object.freeze({ name: 'test', latencyMs: 5, lroDurationMs: 100 });

export const PLANS: Readonly<Record<Mode, BenchPlan>> = {
  full: {
    mode: 'full',
    coldStart: {
      profile: REALISTIC,
      sizes: [3, 50, 400, 5_000],
      baselineSizes: [3, 50, 400, 5_000],
      baselineDeadlineMs: 120_000,
      settleMs: 5_000,
      timeoutMs: 60_000,
    },
    nodeAdd: [
      { profile: INSTANT, baseNodes: 100, adds: 200, spacingMs: 600 },
      { profile: REALISTIC, baseNodes: 100, adds: 200, spacingMs: 3_000 },
      { profile: FAST_LRO, baseNodes: 100, adds: 100, spacingMs: 1_500 },
      { profile: FAST_LRO_RETRY_1, baseNodes: 100, adds: 30, spacingMs: 2_000 },
    ],
    churn: {
      profile: REALISTIC,
      nodes: 400,
      fractionPerMinute: 0.1,
      minuteMs: 60_000,
      minutes: 3,
      resyncPeriod: '1m',
    },
    idle: { profile: REALISTIC, nodes: 400, tables: 2, resyncMs: 1_000, resyncs: 10 },
    planner: { nodes: 5_000, iterations: 50 },
    memory: {
      profile: REALISTIC,
      sizes: [400, 5_000],
      variantNodes: 400,
      variants: true,
      leaveOneOutSizes: [400, 5_000],
      settleMs: 5_000,
      timeoutMs: 60_000,
    },
    footprint: 'all',
  },
  quick: {
    mode: 'quick',
    coldStart: {
      profile: REALISTIC,
      sizes: [3, 400, 5_000],
      baselineSizes: [400],
      baselineDeadlineMs: 10_000,
      settleMs: 1_000,
      timeoutMs: 30_000,
    },
    nodeAdd: [
      { profile: INSTANT, baseNodes: 100, adds: 20, spacingMs: 600 },
      { profile: REALISTIC, baseNodes: 100, adds: 5, spacingMs: 3_000 },
      { profile: FAST_LRO, baseNodes: 100, adds: 20, spacingMs: 1_500 },
    ],
    churn: {
      profile: REALISTIC,
      nodes: 400,
      fractionPerMinute: 0.1,
      minuteMs: 6_000,
      minutes: 2,
      resyncPeriod: '6s',
    },
    idle: { profile: REALISTIC, nodes: 400, tables: 2, resyncMs: 1_000, resyncs: 5 },
    planner: { nodes: 5_000, iterations: 20 },
    memory: {
      profile: REALISTIC,
      sizes: [400],
      variantNodes: 400,
      variants: false,
      settleMs: 1_000,
      timeoutMs: 30_000,
    },
    footprint: 'all',
  },
  tiny: {
    mode: 'tiny',
    coldStart: {
      profile: TEST_PROFILE,
      sizes: [3],
      baselineSizes: [3],
      baselineDeadlineMs: 8_000,
      settleMs: 200,
      timeoutMs: 15_000,
    },
    nodeAdd: [{ profile: INSTANT, baseNodes: 2, adds: 2, spacingMs: 300 }],
    churn: {
      profile: TEST_PROFILE,
      nodes: 5,
      fractionPerMinute: 0.4,
      minuteMs: 1_000,
      minutes: 1,
      resyncPeriod: '1s',
    },
    idle: { profile: TEST_PROFILE, nodes: 3, tables: 2, resyncMs: 1_000, resyncs: 2 },
    planner: { nodes: 50, iterations: 3 },
    memory: {
      profile: TEST_PROFILE,
      sizes: [3],
      variantNodes: 3,
      variants: false,
      settleMs: 200,
      timeoutMs: 15_000,
    },
    // Polls every 2 s by default; the tiny runs would spend most of their time waiting for that.
    controllerFlags: ['--poll-interval', '50ms'],
    footprint: 'bare',
  },
};
