// Starts the real controller (startController) in-process against a Sandbox, with logs captured as records.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createCredential } from '../../src/azure/credentials.ts';
import type { RouteTableStore } from '../../src/azure/types.ts';
import { loadRunConfig, type RunFlags } from '../../src/config/run.ts';
import { startController, type RunningController } from '../../src/controller/controller.ts';
import { realTimers } from '../../src/support/timers.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { CLUSTER_CIDR, RESOURCE_GROUP, SUBSCRIPTION, TABLE, type Sandbox } from './sandbox.ts';

export interface TestController extends RunningController {
  readonly logs: Record<string, unknown>[];
  /**
   * Calls `listener` with each log record as it is written, synchronously (pino writes to the sink at once), so
   * a test can take a snapshot of other state at the exact moment a line is logged. Returns an unsubscribe.
   */
  onLog(listener: (record: Record<string, unknown>) => void): () => void;
}

/** Flags for an in-process controller: fast loop, no leader election, an ephemeral port, silent unless captured. */
export function controllerFlags(sandbox: Sandbox, overrides: Partial<RunFlags> = {}): RunFlags {
  return {
    kubeconfig: sandbox.kubeconfig,
    armEndpoint: sandbox.sim.url,
    allowInsecureArmEndpoint: true,
    subscriptionId: SUBSCRIPTION,
    resourceGroup: RESOURCE_GROUP,
    routeTable: [TABLE],
    clusterCidr: [CLUSTER_CIDR],
    pollInterval: '20ms',
    debounce: '100ms',
    maxDelay: '1s',
    resyncPeriod: '1m',
    backoffBase: '200ms',
    backoffMax: '2s',
    leaderElect: false,
    leaderElectNamespace: 'kube-system',
    bindAddress: '127.0.0.1:0',
    logLevel: 'debug',
    ...overrides,
  };
}

export async function startTestController(
  sandbox: Sandbox,
  overrides: Partial<RunFlags> = {},
  options: { store?: RouteTableStore } = {},
): Promise<TestController> {
  const config = loadRunConfig(controllerFlags(sandbox, overrides), { env: {}, readFile: () => '' });
  const logs: Record<string, unknown>[] = [];
  const listeners = new Set<(record: Record<string, unknown>) => void>();
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        const record = JSON.parse(line) as Record<string, unknown>;
        logs.push(record);
        for (const listener of listeners) listener(record);
      }
      done();
    },
  });
  const logger = pino({ level: config.logLevel }, sink);
  const controller = await startController(config, {
    kubeConfig: loadKubeConfig(config.kubeconfig),
    credential: createCredential(config.azure.credential, config.azure.authorityHost),
    logger,
    timers: realTimers,
    random: Math.random,
    ...(options.store ? { store: options.store } : {}),
  });
  const onLog = (listener: (record: Record<string, unknown>) => void) => {
    listeners.add(listener);
    return () => listeners.delete(listener);
  };
  return Object.assign(Object.create(controller) as RunningController, controller, { logs, onLog });
}

/** Prometheus text exposition parsed into samples; throws on a malformed line. */
export function parseMetrics(
  text: string,
): { name: string; labels: Record<string, string>; value: number }[] {
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`malformed metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]!] = pair[2]!;
    }
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}
