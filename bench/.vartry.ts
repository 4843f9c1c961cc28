import { BUNDLE_ENTRY } from './lib/controller.ts';
import { REALISTIC } from './lib/world.ts';
import { coldStart } from './scenarios/cold-start.ts';
const n = Number(process.argv[2]);
const variants = JSON.parse(process.argv[3]!) as [string[], Record<string, string>][];
for (const [flags, env] of variants) {
  const x = await coldStart({
    nodes: n,
    profile: REALISTIC,
    settleMs: 3000,
    timeoutMs: 60000,
    entry: { label: 'x', script: BUNDLE_ENTRY, nodeFlags: flags, env },
  });
  const m = x.memory;
  console.log(
    JSON.stringify(flags),
    JSON.stringify(env),
    'hwm',
    m.hwmMB,
    'anon',
    m.peakAnonMB,
    'settledAnon',
    m.settledAnonMB,
    'file',
    m.settledFileMB,
    'heapT',
    m.peakHeapTotalMB,
    'heapU',
    m.peakHeapUsedMB,
    'ext',
    m.peakExternalMB,
    'ready',
    x.readyFromSpawnMs,
    'allRC',
    x.allRouteCreatedMs,
  );
}
process.exit(0);
