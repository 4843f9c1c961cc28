// The real controller as the image runs it: `node <ENTRYPOINT flags> dist/cli/azure-route-controller.js run ...` (the
// bundle) in a child process of its own, pointed at a World. Its /metrics (heap, throttling) and /proc/<pid>
// (VmHWM, RSS split into anonymous and file-backed) are read from the outside.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLUSTER_CIDR, RESOURCE_GROUP, SUBSCRIPTION, type World } from './world.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI_ENTRY = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/** What the image runs: the bundle (`npm run bench` builds it first, scripts/build.ts)... */
export const BUNDLE_ENTRY = fileURLToPath(
  new URL('../../dist/cli/azure-route-controller.js', import.meta.url),
);
/** The entry point before issue 13: tsc's output, about two thousand module files loaded one by one. */
export const TSC_ENTRY = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** ...with the Node flags and environment of the Dockerfile, so memory is measured as it will be in production. */
export function imageNodeFlags(): string[] {
  const m = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile());
  if (!m) throw new Error('Dockerfile has no ENTRYPOINT in exec form');
  const entrypoint = JSON.parse(m[1]!) as string[];
  return entrypoint.slice(1, -1);
}

/** The script the image's ENTRYPOINT runs, relative to /app (the repository root here). */
export function imageScript(): string {
  const m = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile());
  const entrypoint = JSON.parse(m![1]!) as string[];
  return entrypoint.at(-1)!.replace(/^\/app\//, '');
}

/** The runtime stage's ENV lines that tune Node or glibc (NODE_OPTIONS, MALLOC_*), which the image runs with. */
export function imageEnvironment(): Record<string, string> {
  const runtime =
    dockerfile()
      .split(/^FROM /m)
      .at(-1) ?? '';
  const env: Record<string, string> = {};
  for (const m of runtime.matchAll(/^ENV\s+(MALLOC_[A-Z_]+|NODE_OPTIONS)=(\S+)\s*$/gm)) env[m[1]!] = m[2]!;
  return env;
}

function dockerfile(): string {
  return readFileSync(fileURLToPath(new URL('../../Dockerfile', import.meta.url)), 'utf8');
}

/** A way to start the controller: the script, the Node flags in front of it, and extra environment. */
export interface Entry {
  readonly label: string;
  readonly script: string;
  readonly nodeFlags: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/** What the image runs now: the Dockerfile's ENTRYPOINT and ENV, read from the file. */
export function imageEntry(): Entry {
  const script = join(REPO_ROOT, imageScript());
  const flags = imageNodeFlags();
  const env = imageEnvironment();
  const envText = Object.entries(env)
    .map(([k, v]) => `${k}=${v} `)
    .join('');
  return {
    label: `${envText}node ${[...flags, imageScript()].join(' ')} (the image now)`,
    script,
    nodeFlags: flags,
    env,
  };
}

/** What the image ran before issue 13, for the side-by-side figures: tsc's dist/ with a 1 MiB semi-space. */
export function beforeEntry(): Entry {
  return {
    label: 'node --max-semi-space-size=1 dist/cli/main.js (before issue 13)',
    script: TSC_ENTRY,
    nodeFlags: ['--max-semi-space-size=1'],
    env: {},
  };
}

export interface ControllerOptions {
  /** --resync-period; the production default is 1m. */
  readonly resyncPeriod?: string;
  /** Extra flags, appended last. */
  readonly extraFlags?: readonly string[];
  /** Bound on how long to wait for the metrics endpoint to come up. Default 20 s. */
  readonly startTimeoutMs?: number;
  /** What to start; default the image's command line (imageEntry()). */
  readonly entry?: Entry | undefined;
}

/** One reading of /proc/<pid>/status and /proc/<pid>/smaps_rollup, in bytes. */
export interface ProcMemory {
  /** VmHWM: the peak RSS since the process started, between samples included. */
  readonly hwmBytes: number;
  readonly rssBytes: number;
  /** Anonymous memory (the heap, malloc, JIT code): what work and garbage grow. */
  readonly anonBytes: number;
  /** File-backed resident pages (the node binary, shared libraries, mapped files): RSS - anonymous. */
  readonly fileBytes: number;
}

export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface MemorySample {
  readonly time: number;
  /** What the sampler's `context` said at that moment (e.g. how far the controller has got). */
  readonly context: Readonly<Record<string, number>>;
  /** process_resident_memory_bytes from /metrics. */
  readonly rssBytes: number;
  /** nodejs_heap_size_used_bytes from /metrics. */
  readonly heapUsedBytes: number;
  /** nodejs_heap_size_total_bytes from /metrics. */
  readonly heapTotalBytes: number;
  /** nodejs_external_memory_bytes from /metrics: ArrayBuffers and other memory V8 is told about. */
  readonly externalBytes: number;
  /** nodejs_heap_space_size_used_bytes by space (new_space, old_space, code_space, large_object_space...). */
  readonly spaces: Readonly<Record<string, number>>;
  /** /proc at the same moment (undefined off Linux or once the process is gone). */
  readonly proc?: ProcMemory | undefined;
}

export interface ControllerProcess {
  readonly pid: number;
  /** Date.now() just before the spawn. */
  readonly spawnedAt: number;
  readonly metricsUrl: string;
  /** The controller's flags, for the report. */
  readonly args: readonly string[];
  /** The command line that started it (Entry.label). */
  readonly entry: string;
  metrics(): Promise<MetricSample[]>;
  /** One sample of the controller's memory, from its /metrics. */
  memory(): Promise<MemorySample>;
  /** /proc/<pid>/status and smaps_rollup, in bytes; undefined off Linux. */
  procStatus(): ProcMemory | undefined;
  /** The file-backed part of its RSS, split (readFileBacked). */
  fileBacked(): FileBackedSplit | undefined;
  /** The JSON log records written so far. */
  logs(): Record<string, unknown>[];
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it ended. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const METRIC_PREFIX = 'azure_route_controller_';

/** The flags that point `run` at a World, with every production default left as it is unless asked. */
export function controllerArgs(world: World, options: ControllerOptions = {}): string[] {
  return [
    'run',
    '--kubeconfig',
    world.kubeconfig,
    '--arm-endpoint',
    world.sim.url,
    '--allow-insecure-arm-endpoint',
    '--subscription-id',
    SUBSCRIPTION,
    '--resource-group',
    RESOURCE_GROUP,
    ...world.tables.flatMap((t) => ['--route-table', t]),
    '--cluster-cidr',
    CLUSTER_CIDR,
    '--route-limit',
    String(world.routeLimit),
    '--leader-elect-namespace',
    'kube-system',
    '--bind-address',
    '127.0.0.1:0',
    ...(options.resyncPeriod !== undefined ? ['--resync-period', options.resyncPeriod] : []),
    ...(options.extraFlags ?? []),
  ];
}

export async function startControllerProcess(
  world: World,
  options: ControllerOptions = {},
): Promise<ControllerProcess> {
  const args = controllerArgs(world, options);
  const entry = options.entry ?? imageEntry();
  const home = mkdtempSync(join(tmpdir(), 'arc-bench-home-'));
  const spawnedAt = Date.now();
  const child: ChildProcess = spawn(process.execPath, [...entry.nodeFlags, entry.script, ...args], {
    cwd: REPO_ROOT,
    // A clean environment: nothing from the caller's KUBECONFIG or AZURE_* leaks in; the image's ENV does.
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', ...entry.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const records: Record<string, unknown>[] = [];
  let partial = '';
  let stderrTail = '';
  let onRecord: (() => void) | undefined;
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-4_000);
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      try {
        records.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        records.push({ msg: line });
      }
    }
    onRecord?.();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      rmSync(home, { recursive: true, force: true });
      resolve({ code, signal });
    });
  });

  const stop = async (graceMs = 25_000) => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const result = await exited;
    clearTimeout(timer);
    return result;
  };

  // The metrics endpoint's URL is in the "serving /healthz ..." log line (the port is ephemeral).
  let metricsUrl: string;
  try {
    metricsUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('controller did not start serving /metrics in time')),
        options.startTimeoutMs ?? 20_000,
      );
      const check = () => {
        const serving = records.find((r) => typeof r['url'] === 'string' && /serving/.test(String(r['msg'])));
        if (serving) {
          clearTimeout(timer);
          onRecord = undefined;
          resolve(`${String(serving['url'])}/metrics`);
        }
      };
      onRecord = check;
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`controller exited early (code ${code}, signal ${signal}): ${stderrTail}`));
      });
      check();
    });
  } catch (err) {
    await stop(1_000);
    throw err;
  }

  const metrics = async (): Promise<MetricSample[]> => {
    const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(5_000) });
    return parseMetrics(await res.text());
  };

  return {
    pid: child.pid ?? -1,
    spawnedAt,
    metricsUrl,
    args,
    entry: entry.label,
    metrics,
    async memory() {
      const samples = await metrics();
      const spaces: Record<string, number> = {};
      for (const s of samples) {
        if (isMetric(s.name, 'nodejs_heap_space_size_used_bytes') && s.labels['space']) {
          spaces[s.labels['space']] = s.value;
        }
      }
      return {
        time: Date.now(),
        context: {},
        rssBytes: metricValue(samples, 'process_resident_memory_bytes'),
        heapUsedBytes: metricValue(samples, 'nodejs_heap_size_used_bytes'),
        heapTotalBytes: metricValue(samples, 'nodejs_heap_size_total_bytes'),
        externalBytes: metricValue(samples, 'nodejs_external_memory_bytes'),
        spaces,
        proc: readProcMemory(child.pid ?? -1),
      };
    },
    procStatus: () => readProcMemory(child.pid ?? -1),
    fileBacked: () => readFileBacked(child.pid ?? -1),
    logs: () => records,
    stop,
  };
}

/** VmHWM and VmRSS from /proc/<pid>/status, anonymous memory from /proc/<pid>/smaps_rollup; undefined off Linux. */
export function readProcMemory(pid: number): ProcMemory | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (text: string, key: string) =>
      Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
    const rss = kb(rollup, 'Rss');
    const anon = kb(rollup, 'Anonymous');
    return {
      hwmBytes: kb(status, 'VmHWM'),
      rssBytes: kb(status, 'VmRSS'),
      anonBytes: anon,
      fileBytes: rss - anon,
    };
  } catch {
    return undefined;
  }
}

/** File-backed resident memory by where it comes from, MB: the node binary's code and read-only data, the rest. */
export interface FileBackedSplit {
  /** The node binary's executable pages that were touched: V8 (its compilers included), OpenSSL, libuv, Node. */
  readonly binaryCodeMB: number;
  /** Its read-only data that was touched: Node's built-in JavaScript sources, ICU data, V8's snapshot. */
  readonly binaryReadOnlyMB: number;
  /** Shared libraries (libc, libstdc++) and any other mapped file. */
  readonly otherMB: number;
}

/** /proc/<pid>/smaps, file-backed mappings only, summed by the split above; undefined once the process is gone. */
export function readFileBacked(pid: number, binary = process.execPath): FileBackedSplit | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return undefined;
  }
  let code = 0;
  let readOnly = 0;
  let other = 0;
  let current: { path: string; perms: string } | undefined;
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (head) {
      // Inode 0: anonymous ([heap], [stack], plain mmap), not file-backed.
      current = head[2] === '0' ? undefined : { perms: head[1]!, path: head[3] ?? '' };
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (!rss || !current) continue;
    const kb = Number(rss[1]);
    if (current.path !== binary) other += kb;
    else if (current.perms.includes('x')) code += kb;
    else readOnly += kb;
  }
  const mb = (kb: number) => Math.round((kb / 1024) * 10) / 10;
  return { binaryCodeMB: mb(code), binaryReadOnlyMB: mb(readOnly), otherMB: mb(other) };
}

/**
 * The controller's own metrics carry its prefix; prom-client's process and Node.js metrics may carry it or not
 * (the standard names), so both are accepted for those.
 */
function isMetric(sampleName: string, name: string): boolean {
  if (sampleName === METRIC_PREFIX + name) return true;
  return /^(process|nodejs)_/.test(name) && sampleName === name;
}

/** The sum over every label set of a metric (name without the controller's prefix). */
export function metricValue(
  samples: readonly MetricSample[],
  name: string,
  labels: Record<string, string> = {},
): number {
  let total = 0;
  for (const s of samples) {
    if (!isMetric(s.name, name)) continue;
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}

/** Prometheus text exposition into samples (the subset prom-client writes). */
export function parseMetrics(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const pair of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]!] = pair[2]!;
    }
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** Samples the controller's memory every `intervalMs` until stopped; keeps the peaks. */
export class MemorySampler {
  readonly #controller: ControllerProcess;
  readonly #intervalMs: number;
  readonly #context: () => Record<string, number>;
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  readonly samples: MemorySample[] = [];

  constructor(
    controller: ControllerProcess,
    intervalMs = 250,
    context: () => Record<string, number> = () => ({}),
  ) {
    this.#controller = controller;
    this.#intervalMs = intervalMs;
    this.#context = context;
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.sample(), this.#intervalMs);
  }

  async sample(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const context = this.#context();
      this.samples.push({ ...(await this.#controller.memory()), context });
    } catch {
      // The controller may be busy or stopping; a missed sample is not a failure.
    } finally {
      this.#busy = false;
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  peak(since = 0): {
    rssBytes: number;
    heapUsedBytes: number;
    heapTotalBytes: number;
    anonBytes: number;
    externalBytes: number;
  } {
    const from = this.samples.filter((s) => s.time >= since);
    const most = (f: (s: MemorySample) => number) => Math.max(0, ...from.map(f).filter(Number.isFinite));
    return {
      // RSS from /proc as well as from /metrics: a wedged process cannot hide it.
      rssBytes: most((s) => Math.max(s.rssBytes, s.proc?.rssBytes ?? 0)),
      heapUsedBytes: most((s) => s.heapUsedBytes),
      heapTotalBytes: most((s) => s.heapTotalBytes),
      anonBytes: most((s) => s.proc?.anonBytes ?? Number.NaN),
      externalBytes: most((s) => s.externalBytes),
    };
  }
}
