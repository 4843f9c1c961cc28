// Memory, side by side: the same cold start (N nodes, realistic Azure, every node's condition patched) run by
// the command line the image ran before issue 13 (tsc's dist/ with a 1 MiB semi-space) and by the one it runs
// now (the Dockerfile's ENTRYPOINT and ENV: the bundle), then by variants of the bundle that each change one
// runtime flag, so every flag the image keeps has the figure that justifies it. VmHWM, anonymous and
// file-backed memory from /proc; heap, heap spaces and external memory from the controller's /metrics.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
  BUNDLE_ENTRY,
  REPO_ROOT,
  beforeEntry,
  imageEntry,
  imageEnvironment,
  imageNodeFlags,
  type Entry,
} from '../lib/controller.ts';
import type { AzureProfile } from '../lib/world.ts';
import { coldStart, type ColdStartResult } from './cold-start.ts';

export interface MemoryPlan {
  readonly profile: AzureProfile;
  /** Sizes at which the image's command line runs beside the one from before. */
  readonly sizes: readonly number[];
  /** The size at which each flag variant runs. */
  readonly variantNodes: number;
  readonly variants: boolean;
  /** Sizes at which the image runs once without each of its flags and settings in turn (what each one earns). */
  readonly leaveOneOutSizes?: readonly number[];
  readonly settleMs: number;
  readonly timeoutMs: number;
}

export interface MemoryRun {
  readonly nodes: number;
  /** 'before', 'image', or the variant's name. */
  readonly kind: string;
  readonly result?: ColdStartResult | undefined;
  /** Why the run gave no figures (the process did not start, say). */
  readonly error?: string | undefined;
}

const bundle = (
  label: string,
  nodeFlags: readonly string[],
  env: Record<string, string> = {},
  script = BUNDLE_ENTRY,
): Entry => ({ label, script, nodeFlags, env });

/** `node scripts/build.ts --split`: the same code in chunks, each command's loaded on use. */
const SPLIT_ENTRY = join(REPO_ROOT, 'dist', 'cli-split', 'azure-route-controller.js');

/** One flag at a time, against the bundle with no flag at all. */
export function variants(): { kind: string; entry: Entry }[] {
  return [
    { kind: 'bundle, no flags', entry: bundle('node dist/cli/azure-route-controller.js', []) },
    {
      kind: 'bundle + semi-space 1 MiB',
      entry: bundle('node --max-semi-space-size=1 (bundle)', ['--max-semi-space-size=1']),
    },
    {
      kind: 'bundle + semi-space 1 MiB + MALLOC_ARENA_MAX=2',
      entry: bundle('MALLOC_ARENA_MAX=2 node --max-semi-space-size=1 (bundle)', ['--max-semi-space-size=1'], {
        MALLOC_ARENA_MAX: '2',
      }),
    },
    {
      kind: 'bundle + semi-space 1 MiB + MALLOC_ARENA_MAX=1',
      entry: bundle('MALLOC_ARENA_MAX=1 node --max-semi-space-size=1 (bundle)', ['--max-semi-space-size=1'], {
        MALLOC_ARENA_MAX: '1',
      }),
    },
    {
      kind: "split chunks (esbuild --splitting), the image's flags and environment",
      entry: bundle(
        `${Object.entries(imageEnvironment())
          .map(([k, v]) => `${k}=${v} `)
          .join('')}node ${imageNodeFlags().join(' ')} dist/cli-split/azure-route-controller.js`,
        imageNodeFlags(),
        imageEnvironment(),
        SPLIT_ENTRY,
      ),
    },
    {
      kind: 'bundle + semi-space 1 MiB + MALLOC_ARENA_MAX=1 + MALLOC_MMAP_THRESHOLD_=16384',
      entry: bundle(
        'MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=16384 node --max-semi-space-size=1 (bundle)',
        ['--max-semi-space-size=1'],
        { MALLOC_ARENA_MAX: '1', MALLOC_MMAP_THRESHOLD_: '16384' },
      ),
    },
    {
      kind: 'bundle + semi-space 1 MiB + --enable-source-maps',
      entry: bundle('node --max-semi-space-size=1 --enable-source-maps (bundle)', [
        '--max-semi-space-size=1',
        '--enable-source-maps',
      ]),
    },
    {
      kind: 'bundle + semi-space 1 MiB + --max-lazy',
      entry: bundle('node --max-semi-space-size=1 --max-lazy (bundle)', [
        '--max-semi-space-size=1',
        '--max-lazy',
      ]),
    },
    {
      // Not shipped: the JIT's floor. With TurboFan off too, the planner's warm call is several times slower.
      kind: "image + --no-opt (no optimizing compiler at all), the image's environment",
      entry: bundle(
        `${Object.entries(imageEnvironment())
          .map(([k, v]) => `${k}=${v} `)
          .join('')}node ${[...imageNodeFlags(), '--no-opt'].join(' ')} (bundle)`,
        [...imageNodeFlags(), '--no-opt'],
        imageEnvironment(),
      ),
    },
  ];
}

/**
 * The image's command line without one of its Node flags or environment settings, for each in turn: the
 * difference from the image's own row is what that setting earns where it is kept.
 */
export function leaveOneOut(): { kind: string; entry: Entry }[] {
  const flags = imageNodeFlags();
  const env = imageEnvironment();
  const label = (f: readonly string[], e: Record<string, string>) =>
    `${Object.entries(e)
      .map(([k, v]) => `${k}=${v} `)
      .join('')}node ${f.join(' ')} (bundle)`;
  const withoutFlag = flags.map((flag) => {
    const rest = flags.filter((f) => f !== flag);
    return { kind: `image without ${flag}`, entry: bundle(label(rest, env), rest, env) };
  });
  const withoutEnv = Object.keys(env).map((key) => {
    const rest = Object.fromEntries(Object.entries(env).filter(([k]) => k !== key));
    return { kind: `image without ${key}`, entry: bundle(label(flags, rest), flags, rest) };
  });
  return [...withoutFlag, ...withoutEnv];
}

export async function memory(plan: MemoryPlan, log: (message: string) => void): Promise<MemoryRun[]> {
  const runs: MemoryRun[] = [];
  const one = async (nodes: number, kind: string, entry: Entry) => {
    log(`memory: ${nodes} nodes, ${kind}`);
    try {
      const result = await coldStart({
        nodes,
        profile: plan.profile,
        settleMs: plan.settleMs,
        timeoutMs: plan.timeoutMs,
        entry,
      });
      runs.push({ nodes, kind, result });
    } catch (err) {
      // A variant that does not start is a finding, not the end of the run: it is reported, the others go on.
      log(`memory: ${nodes} nodes, ${kind}: ${(err as Error).message.split('\n')[0]}`);
      runs.push({ nodes, kind, error: (err as Error).message.split('\n')[0] });
    }
  };
  for (const nodes of plan.sizes) {
    // Before and after, one right after the other, so the machine's load is the same for both.
    await one(nodes, 'before', beforeEntry());
    await one(nodes, 'image', imageEntry());
  }
  for (const nodes of plan.leaveOneOutSizes ?? []) {
    for (const v of leaveOneOut()) await one(nodes, v.kind, v.entry);
  }
  if (plan.variants) {
    execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build.ts'), '--split'], { cwd: REPO_ROOT });
    for (const v of variants()) await one(plan.variantNodes, v.kind, v.entry);
  }
  return runs;
}
