// The real controller as the image runs it: `node <ENTRYPOINT flags> dist/cli/main.js run ...` in a child process of its own, pointed at
// a World. Its /metrics (memory, throttling) and /proc/<pid>/status (peak RSS) are read from the outside.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLUSTER_CIDR, RESOURCE_GROUP, SUBSCRIPTION, type World } from './world.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI_ENTRY = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/** What the image runs: the compiled entry point (`npm run bench` builds it first)... */
export const DIST_ENTRY = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** ...with the Node flags of the Dockerfile's ENTRYPOINT, so memory is measured as it will be in production. */
export function imageNodeFlags(): string[] {
  const dockerfile = readFileSync(fileURLToPath(new URL('../../Dockerfile', import.meta.url)), 'utf8');
  const m = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile);
  if (!m) throw new Error('Dockerfile has no ENTRYPOINT in exec form');
  const entrypoint = JSON.parse(m[1]!) as string[];
  return entrypoint.slice(1, -1);
}

export interface ControllerOptions {
  /** --resync-period; the production default is 1m. */
  readonly resyncPeriod?: string;
  /** Extra flags, appended last. */
  readonly extraFlags?: readonly string[];
  /** Bound on how long to wait for the metrics endpoint to come up. Default 20 s. */
  readonly startTimeoutMs?: number;
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
}

export interface ControllerProcess {
  readonly pid: number;
  /** Date.now() just before the spawn. */
  readonly spawnedAt: number;
  readonly metricsUrl: string;
  /** The controller's flags, for the report. */
  readonly args: readonly string[];
  metrics(): Promise<MetricSample[]>;
  /** One sample of the controller's memory, from its /metrics. */
  memory(): Promise<MemorySample>;
  /** VmHWM (peak RSS since start) and VmRSS from /proc/<pid>/status, in bytes; undefined off Linux. */
  procStatus(): { hwmBytes: number; rssBytes: number } | undefined;
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
  const home = mkdtempSync(join(tmpdir(), 'arc-bench-home-'));
  const spawnedAt = Date.now();
  const child: ChildProcess = spawn(process.execPath, [...imageNodeFlags(), DIST_ENTRY, ...args], {
    cwd: REPO_ROOT,
    // A clean environment: nothing from the caller's KUBECONFIG or AZURE_* leaks in.
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8' },
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
    metrics,
    async memory() {
      const samples = await metrics();
      return {
        time: Date.now(),
        context: {},
        rssBytes: metricValue(samples, 'process_resident_memory_bytes'),
        heapUsedBytes: metricValue(samples, 'nodejs_heap_size_used_bytes'),
        heapTotalBytes: metricValue(samples, 'nodejs_heap_size_total_bytes'),
      };
    },
    procStatus() {
      try {
        const text = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
        return { hwmBytes: kb('VmHWM') * 1024, rssBytes: kb('VmRSS') * 1024 };
      } catch {
        return undefined;
      }
    },
    logs: () => records,
    stop,
  };
}

/** The sum over every label set of a metric (name without the controller's prefix). */
export function metricValue(
  samples: readonly MetricSample[],
  name: string,
  labels: Record<string, string> = {},
): number {
  let total = 0;
  for (const s of samples) {
    if (s.name !== METRIC_PREFIX + name) continue;
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

  peak(since = 0): { rssBytes: number; heapUsedBytes: number; heapTotalBytes: number } {
    const from = this.samples.filter((s) => s.time >= since);
    return {
      rssBytes: Math.max(0, ...from.map((s) => s.rssBytes)),
      heapUsedBytes: Math.max(0, ...from.map((s) => s.heapUsedBytes)),
      heapTotalBytes: Math.max(0, ...from.map((s) => s.heapTotalBytes)),
    };
  }
}
