// `npm run bench`: the benchmark. Starts the Azure simulator and the fake Kubernetes API server on loopback,
// runs the real controller, as the image runs it (`node <Dockerfile ENTRYPOINT flags> dist/cli/main.js run`), against them, and the per-route baseline beside it.
//
//   npm run bench                              every scenario at full size (about 25 minutes)
//   npm run bench -- --quick                   smaller, under 2 minutes
//   npm run -s bench -- --json                 the same figures as JSON on stdout (-s: no npm banner)
//   npm run bench -- --only cold-start,idle    some scenarios only
//   npm run bench -- --markdown BENCHMARKS.md  also (re)write BENCHMARKS.md from this run's figures
//   npm run bench -- --render .bench-out/results-full.json --markdown BENCHMARKS.md
//                                              re-render a saved run (no new measurement)
//
// Progress goes to stderr; results to stdout and to .bench-out/results-<mode>.json.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchmarksMarkdown } from './benchmarks-md.ts';
import { REPO_ROOT } from './lib/controller.ts';
import { PLANS } from './plans.ts';
import { rows, textTable } from './report.ts';
import { SCENARIOS, runSuite, type BenchResults, type ScenarioName } from './suite.ts';

const USAGE = `usage: npm run bench -- [--quick] [--json] [--only ${SCENARIOS.join(',')}] [--markdown FILE] [--render RESULTS.json]`;

const argv = process.argv.slice(2);
let values: {
  quick?: boolean;
  json?: boolean;
  only?: string;
  markdown?: string;
  render?: string;
  help?: boolean;
};
try {
  ({ values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      json: { type: 'boolean' },
      only: { type: 'string' },
      markdown: { type: 'string' },
      render: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
let only: Set<ScenarioName> | undefined;
if (values.only !== undefined) {
  const names = values.only.split(',').map((s) => s.trim());
  const unknown = names.filter((n) => !(SCENARIOS as readonly string[]).includes(n));
  if (unknown.length > 0) {
    process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}\n${USAGE}\n`);
    process.exit(2);
  }
  only = new Set(names as ScenarioName[]);
}

function print(results: BenchResults): void {
  if (values.markdown !== undefined) writeFileSync(values.markdown, benchmarksMarkdown(results));
  process.stdout.write(
    values.json ? JSON.stringify({ ...results, table: rows(results) }, null, 2) + '\n' : textTable(results),
  );
}

if (values.render !== undefined) {
  // Figures from a saved run, rendered again (e.g. after the report's wording changed): nothing is measured.
  print(JSON.parse(readFileSync(values.render, 'utf8')) as BenchResults);
  process.exit(0);
}

const plan = PLANS[values.quick ? 'quick' : 'full'];
const started = Date.now();
// A bound on the whole run, whatever happens inside it.
const guard = setTimeout(
  () => {
    process.stderr.write('bench: gave up after the overall time bound\n');
    process.exit(1);
  },
  values.quick ? 5 * 60_000 : 60 * 60_000,
);
guard.unref();

const command = `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`;
const results = await runSuite(plan, {
  only,
  command,
  log: (message) =>
    process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(1)}s] ${message}\n`),
});

const outDir = join(REPO_ROOT, '.bench-out');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, `results-${plan.mode}.json`), JSON.stringify(results, null, 2) + '\n');
print(results);
process.stderr.write(`[bench] done in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
// Child processes and servers are closed by each scenario; nothing should keep the loop alive, but do not wait.
process.exit(0);
