// Turns results into rows (scenario, figure, value, target), and the rows into a text table, Markdown, or
// BENCHMARKS.md as a whole. Every figure printed comes from the results object; nothing is typed in by hand.
import type { BenchResults, ColdStartRow, Target } from './suite.ts';
import { round } from './lib/stats.ts';

export interface Row {
  readonly scenario: string;
  readonly figure: string;
  readonly value: string;
  /** The target this figure is held to, with whether it is met. */
  readonly target?: string | undefined;
}

const num = (n: number) => n.toLocaleString('en-US');
const sec = (ms: number) =>
  !Number.isFinite(ms) ? 'n/a' : ms >= 100_000 ? `${num(round(ms / 1000))} s` : `${round(ms / 1000, 2)} s`;
const msf = (ms: number) => (Number.isFinite(ms) ? `${round(ms)} ms` : 'n/a');
const mark = (t: Target | undefined) => (t ? `${t.met ? 'met' : 'MISSED'}: ${t.description}` : undefined);

export function rows(r: BenchResults): Row[] {
  const out: Row[] = [];
  const target = (id: string) => mark(r.targets.find((t) => t.id === id));
  const profile = (name: string) => {
    const p = r.azure.profiles[name];
    if (!p) return name;
    // The simulator's default Retry-After on LRO answers is 2 s, as real Azure sends.
    const retry =
      p.lroRetryAfterSeconds === undefined
        ? '2 s'
        : p.lroRetryAfterSeconds === 'none'
          ? 'none'
          : `${p.lroRetryAfterSeconds} s`;
    return `${name} Azure: ${p.latencyMs} ms/request, LRO ${p.lroDurationMs} ms, Retry-After ${retry}`;
  };

  for (const c of r.coldStart) {
    const scenario = `Cold start, ${num(c.nodes)} nodes`;
    const o = c.ours;
    if (o) {
      out.push({ scenario, figure: 'Azure', value: profile(o.profile) });
      out.push({
        scenario,
        figure: 'ARM writes (whole-table PUTs per table)',
        value: `${o.writes} (${o.putsPerTable} per table)`,
        target: c.nodes === 400 ? target('cold-start-400-puts') : undefined,
      });
      out.push({ scenario, figure: 'ARM reads (GETs + LRO polls)', value: `${o.reads} + ${o.polls} polls` });
      out.push({
        scenario,
        figure: 'Wall time to convergence (from the first node LIST)',
        value: o.converged ? sec(o.wallMs) : 'did not converge',
        target: c.nodes === 400 ? target('cold-start-400-wall') : undefined,
      });
      out.push({
        scenario,
        figure: 'Wall time from process spawn (Node start-up included)',
        value: sec(o.wallFromSpawnMs),
      });
      out.push({
        scenario,
        figure: '429s; time waiting on throttling',
        value: `${o.throttled}; ${round(o.throttleWaitSeconds, 1)} s`,
        target: c.nodes === 400 ? target('cold-start-400-429s') : undefined,
      });
    }
    const b = c.baseline;
    if (b) {
      out.push({
        scenario,
        figure: 'Baseline (per-route): ARM writes (accepted)',
        value: `${num(b.writes)} (${num(b.acceptedWrites)})`,
      });
      out.push({
        scenario,
        figure: 'Baseline: ARM reads (GETs + LRO polls)',
        value: `${num(b.reads)} + ${num(b.polls)} polls`,
      });
      out.push({
        scenario,
        figure: 'Baseline: wall time to convergence',
        value: b.converged
          ? sec(b.wallMs)
          : `not converged: ${num(b.routesPresent)}/${num(b.nodes)} routes after ${sec(b.wallMs)} (projected ${b.routesPresent > 0 ? sec(b.projectedWallMs) : 'never'})`,
      });
      out.push({
        scenario,
        figure: 'Baseline: 429s (of them, busy table); Retry-After summed over those answers',
        value: `${num(b.throttled)} (${num(b.busy)}); ${num(round(b.retryAfterSeconds))} s`,
      });
    }
    if (c.ratios) out.push(...ratioRows(scenario, c, target));
  }

  for (const m of r.memory) {
    const scenario = `Memory, ${num(m.nodes)} nodes (real \`run\` process)`;
    out.push({
      scenario,
      figure: 'Peak RSS: /metrics samples; VmHWM',
      value: `${m.peakRssMB} MB; ${m.hwmMB} MB`,
      target: target(`memory-${m.nodes}`),
    });
    out.push({
      scenario,
      figure: 'Peak heap used / heap total',
      value: `${m.peakHeapUsedMB} MB / ${m.peakHeapTotalMB} MB`,
    });
    out.push({
      scenario,
      figure: 'After convergence: RSS; heap used',
      value: `${m.settledRssMB} MB; ${m.settledHeapUsedMB} MB`,
    });
    const ph = m.phases;
    out.push({
      scenario,
      figure: 'RSS by phase: first sample -> nodes listed -> table written -> all conditions patched',
      value: [ph.firstSampleMB, ph.listedMB, ph.tableWrittenMB, ph.conditionsPatchedMB]
        .map((v) => (Number.isFinite(v) ? `${v} MB` : 'n/a'))
        .join(' -> '),
    });
  }

  for (const run of r.memoryRuns ?? []) {
    const c = run.result;
    const scenario = `Memory side by side, ${num(run.nodes)} nodes: ${run.kind}`;
    if (!c) {
      out.push({ scenario, figure: 'Did not run', value: run.error ?? 'unknown' });
      continue;
    }
    const m = c.memory;
    const spaces = m.settledSpacesMB;
    out.push({ scenario, figure: 'Command line', value: c.entry });
    out.push({
      scenario,
      figure: 'VmHWM; peak anonymous (smaps_rollup); file-backed after convergence',
      value: `${m.hwmMB} MB; ${m.peakAnonMB} MB; ${m.settledFileMB} MB`,
      target: run.kind === 'image' ? target(`memory-${run.nodes}`) : undefined,
    });
    out.push({
      scenario,
      figure: 'Peak heap used / total; peak external',
      value: `${m.peakHeapUsedMB} / ${m.peakHeapTotalMB} MB; ${m.peakExternalMB} MB`,
    });
    out.push({
      scenario,
      figure: 'After convergence: heap old / code / large-object / new space',
      value: `${spaces['old'] ?? 'n/a'} / ${spaces['code'] ?? 'n/a'} / ${spaces['large_object'] ?? 'n/a'} / ${spaces['new'] ?? 'n/a'} MB; RSS ${m.settledRssMB} MB, anonymous ${m.settledAnonMB} MB`,
    });
    out.push({
      scenario,
      figure: 'Spawn to /readyz 200; first LIST to every route present; to every node RouteCreated',
      value: `${sec(c.readyFromSpawnMs)}; ${sec(c.wallMs)}; ${sec(c.allRouteCreatedMs)}`,
      target:
        run.kind === 'image' && run.nodes === 400
          ? [target('start-up-400-ready'), target('cold-start-400-route-created')].filter(Boolean).join('; ')
          : undefined,
    });
  }

  for (const f of r.footprint ?? []) {
    out.push({
      scenario: 'Memory floor: a fresh process after importing only',
      figure: f.module,
      value: `RSS ${f.rssMB} MB; heap used ${f.heapUsedMB} MB`,
    });
  }

  for (const n of r.nodeAdd) {
    const scenario = `Node-add latency, ${profile(n.profile)}`;
    const fast = n.lroDurationMs === 0 && n.latencyMs === 0;
    out.push({
      scenario,
      figure: 'Adds (measured); spacing; nodes before',
      value: `${n.adds} (${n.measured}); ${msf(n.spacingMs)}; ${n.baseNodes}`,
    });
    out.push({
      scenario,
      figure: 'p50',
      value: sec(n.p50Ms),
      target: fast ? target('node-add-p50') : undefined,
    });
    out.push({ scenario, figure: 'p90', value: sec(n.p90Ms) });
    out.push({
      scenario,
      figure: 'p99',
      value: sec(n.p99Ms),
      target: fast ? target('node-add-p99') : undefined,
    });
    out.push({ scenario, figure: 'max', value: sec(n.maxMs) });
    out.push({
      scenario,
      figure: 'ARM writes (PUTs); reads + polls; 429s',
      value: `${n.writes} (${n.puts}); ${n.reads} + ${n.polls}; ${n.throttled}`,
    });
    const rc = n.routeCreated;
    out.push({
      scenario,
      figure: 'Node created -> condition RouteCreated (Azure confirmed): p50; p90; p99; max (measured)',
      value: `${sec(rc.p50Ms)}; ${sec(rc.p90Ms)}; ${sec(rc.p99Ms)}; ${sec(rc.maxMs)} (${rc.measured}/${n.adds})`,
      target:
        n.lroDurationMs === 200 && n.lroRetryAfterSeconds === 'none'
          ? target('node-add-route-created-p50')
          : undefined,
    });
  }

  if (r.churn) {
    const c = r.churn;
    const compressed = c.minuteMs !== 60_000;
    const scenario = `Churn, ${c.nodes} nodes, ${c.replacementsPerMinute} replaced per ${compressed ? 'simulated ' : ''}minute${compressed ? ` (${sec(c.minuteMs)})` : ''}`;
    out.push({ scenario, figure: 'Azure; resync', value: `${profile(c.profile)}; ${c.resyncPeriod}` });
    out.push({
      scenario,
      figure: 'Minutes; replacements (measured changes)',
      value: `${c.minutes}; ${c.replacements} (${c.measured}/${2 * c.replacements})`,
    });
    out.push({
      scenario,
      figure: 'Whole-table PUTs per minute: mean (each minute)',
      value: `${round(c.meanPutsPerMinute, 1)} (${c.putsPerMinute.join(', ')})`,
    });
    out.push({
      scenario,
      figure: 'ARM writes per minute; reads per minute',
      value: `${round(c.meanWritesPerMinute, 1)}; ${round(c.meanReadsPerMinute, 1)}`,
    });
    out.push({ scenario, figure: '429s', value: String(c.throttled) });
    out.push({
      scenario,
      figure: 'Staleness (change in API server -> table): p50; p99; max',
      value: `${sec(c.staleness.p50Ms)}; ${sec(c.staleness.p99Ms)}; ${sec(c.staleness.maxMs)}`,
    });
  }

  if (r.idle) {
    const i = r.idle;
    const scenario = `Idle, ${i.nodes} nodes, ${i.tables} tables, ${i.resyncs} simulated minutes (resync ${msf(i.resyncMs)} = 1 min)`;
    out.push({ scenario, figure: 'ARM writes', value: String(i.writes), target: target('idle-writes') });
    out.push({
      scenario,
      figure: 'ARM reads per table (per table per resync)',
      value: `${Object.values(i.readsByTable).join(', ')} (${round(i.readsPerTablePerResync, 2)})`,
      target: target('idle-reads'),
    });
    out.push({
      scenario,
      figure: 'LRO polls; 429s; node status patches and events',
      value: `${i.polls}; ${i.throttled}; ${i.kubeWrites}`,
    });
  }

  if (r.planner) {
    const p = r.planner;
    const scenario = `Planner, ${num(p.nodes)} nodes x ${num(p.routes)}-route table`;
    out.push({
      scenario,
      figure: 'Plan',
      value: `${p.plan.creates} create, ${p.plan.updates} update, ${p.plan.deletes} delete, ${p.plan.keeps} keep`,
    });
    out.push({
      scenario,
      figure: 'desiredRoutes + planTable, warm median (p90); of which desired / plan',
      value: `${p.warmMedianMs} ms (${p.warmP90Ms} ms); ${p.warmDesiredMedianMs} / ${p.warmPlanMedianMs} ms`,
      target: target('planner-warm'),
    });
    out.push({
      scenario,
      figure: 'First call in a fresh process; of which desired / plan',
      value: `${p.firstCallMs} ms; ${p.firstDesiredMs} / ${p.firstPlanMs} ms`,
      target: target('planner-first'),
    });
    out.push({
      scenario,
      figure: "Node flags (the image's ENTRYPOINT); the same with Node's defaults: first call, warm median",
      value: `${p.nodeFlags?.join(' ') || '(none)'}; ${p.defaultFlags ? `${p.defaultFlags.firstCallMs} ms, ${p.defaultFlags.warmMedianMs} ms` : 'not measured'}`,
    });
  }
  return out;
}

function ratioRows(scenario: string, c: ColdStartRow, target: (id: string) => string | undefined): Row[] {
  const r = c.ratios!;
  const b = c.baseline!;
  const o = c.ours!;
  return [
    {
      scenario,
      figure: 'Ours / baseline: ARM writes',
      value: `1 / ${num(round(1 / r.writes))} (${o.writes} vs ${num(b.writes)})`,
      target: c.nodes === 400 ? target('cold-start-400-writes-vs-baseline') : undefined,
    },
    {
      scenario,
      figure: 'Ours / baseline: wall time',
      value: r.wallIsUpperBound
        ? `< 1 / ${num(round(1 / r.wall))} (baseline stopped at the bound)` +
          (Number.isFinite(b.projectedWallMs)
            ? `; 1 / ${num(round(b.projectedWallMs / o.wallMs))} against its projection`
            : '')
        : `1 / ${num(round(1 / r.wall, 1))}`,
    },
    {
      scenario,
      figure: 'Ours / baseline: 429s',
      value: Number.isNaN(r.throttled) ? `${o.throttled} vs 0` : `${o.throttled} / ${num(b.throttled)}`,
    },
  ];
}

/** A plain-text table for the terminal. */
export function textTable(r: BenchResults): string {
  const all = rows(r);
  const w1 = Math.max(...all.map((x) => x.figure.length));
  const lines: string[] = [];
  let last = '';
  for (const x of all) {
    if (x.scenario !== last) {
      lines.push('', x.scenario);
      last = x.scenario;
    }
    lines.push(`  ${x.figure.padEnd(w1)}  ${x.value}${x.target ? `   [${x.target}]` : ''}`);
  }
  lines.push('', 'Targets');
  for (const t of r.targets) lines.push(`  ${t.met ? 'met   ' : 'MISSED'}  ${t.description}: ${t.measured}`);
  return lines.join('\n').trimStart() + '\n';
}

const cell = (text: string) => text.replace(/\|/g, '\\|');

export function markdownTable(r: BenchResults): string {
  const lines = ['| Scenario | Figure | Measured | Target |', '|---|---|---|---|'];
  for (const x of rows(r)) {
    lines.push(`| ${cell(x.scenario)} | ${cell(x.figure)} | ${cell(x.value)} | ${cell(x.target ?? '')} |`);
  }
  return lines.join('\n');
}

export function markdownTargets(r: BenchResults): string {
  const lines = ['| Target | Measured | |', '|---|---|---|'];
  for (const t of r.targets)
    lines.push(`| ${cell(t.description)} | ${cell(t.measured)} | ${t.met ? 'met' : '**missed**'} |`);
  return lines.join('\n');
}

export function machineLine(r: BenchResults): string {
  const m = r.machine;
  return (
    `${m.nproc} CPUs (nproc), ${m.memoryGiB} GiB memory, ${m.cpu}, Node ${m.node}, Linux ${m.kernel}; ` +
    `load average ${m.loadAverage[0]} at the start, ${m.loadAverage[1]} at the end`
  );
}
