// Where the controller's memory goes before it does any work: the RSS and heap of a fresh Node process after
// importing only a module (the CLI's own module graph, or one dependency). Explains the memory figures.
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import {
  BUNDLE_ENTRY,
  CLI_ENTRY,
  REPO_ROOT,
  TSC_ENTRY,
  readFileBacked,
  type FileBackedSplit,
} from '../lib/controller.ts';
import { MB, round } from '../lib/stats.ts';

export interface FootprintRow {
  readonly module: string;
  readonly rssMB: number;
  readonly heapUsedMB: number;
  /** Its file-backed pages by where they come from (readFileBacked). */
  readonly fileBacked?: FileBackedSplit | undefined;
}

const PROGRAM = pathToFileURL(CLI_ENTRY.replace(/main\.ts$/, 'program.ts')).href;

/** What `run` loads: the CLI program (every command's modules) and the run command. */
export const FOOTPRINT_MODULES: readonly {
  readonly label: string;
  readonly specifiers: readonly string[];
}[] = [
  { label: 'node (nothing imported)', specifiers: [] },
  {
    label: "node's type stripping (one trivial .ts module)",
    specifiers: [pathToFileURL(CLI_ENTRY.replace(/src\/cli\/main\.ts$/, 'bench/lib/stats.ts')).href],
  },
  {
    label: 'src/cli/program.ts + commands/run.ts (what `run` loads)',
    specifiers: [PROGRAM, PROGRAM.replace(/program\.ts$/, 'commands/run.ts')],
  },
  {
    label: 'dist/cli/program.js + commands/run.js, tsc output (what `run` loaded before issue 13)',
    specifiers: [
      pathToFileURL(TSC_ENTRY.replace(/main\.js$/, 'program.js')).href,
      pathToFileURL(TSC_ENTRY.replace(/main\.js$/, 'commands/run.js')).href,
    ],
  },
  {
    // Importing it runs the CLI with no arguments: it prints the usage (to stderr) and loads no command.
    label:
      'dist/cli/azure-route-controller.js, the bundle, parsed and its CLI program evaluated (no command run)',
    specifiers: [pathToFileURL(BUNDLE_ENTRY).href],
  },
  { label: '@kubernetes/client-node', specifiers: ['@kubernetes/client-node'] },
  { label: '@azure/arm-network', specifiers: ['@azure/arm-network'] },
  { label: '@azure/identity', specifiers: ['@azure/identity'] },
  {
    label:
      'everything else `run` uses (pino, prom-client, commander, ipaddr.js, core-rest-pipeline, core-lro)',
    specifiers: [
      'pino',
      'prom-client',
      'commander',
      'ipaddr.js',
      '@azure/core-rest-pipeline',
      '@azure/core-lro',
    ],
  },
];

export async function footprint(which: 'all' | 'bare' = 'all'): Promise<FootprintRow[]> {
  const out: FootprintRow[] = [];
  const modules = which === 'all' ? FOOTPRINT_MODULES : FOOTPRINT_MODULES.slice(0, 1);
  for (const m of modules) out.push({ module: m.label, ...(await measure(m.specifiers)) });
  return out;
}

async function measure(
  specifiers: readonly string[],
): Promise<{ rssMB: number; heapUsedMB: number; fileBacked?: FileBackedSplit | undefined }> {
  // The child reports, then waits to be killed, so its file-backed pages can be read from the outside.
  const script = `
    for (const s of ${JSON.stringify(specifiers)}) await import(s);
    setTimeout(() => {
      const u = process.memoryUsage();
      process.stdout.write(JSON.stringify({ rss: u.rss, heapUsed: u.heapUsed }) + '\\n');
      setTimeout(() => process.exit(0), 10_000);
    }, 300);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let text = '';
  let fileBacked: FileBackedSplit | undefined;
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    text += c;
    if (!text.endsWith('\n')) return;
    fileBacked = readFileBacked(child.pid ?? -1);
    child.kill();
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (!text.endsWith('\n')) throw new Error(`footprint: importing ${specifiers.join(', ')} failed (${code})`);
  const u = JSON.parse(text) as { rss: number; heapUsed: number };
  return { rssMB: round(u.rss / MB, 1), heapUsedMB: round(u.heapUsed / MB, 1), fileBacked };
}
