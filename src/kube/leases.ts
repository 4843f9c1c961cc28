// Read-only views of the cluster for `doctor`: Leases (who leads, since when, last renewed) and the nodes
// with their spec.providerID, which the planner's NodeInfo leaves out. GETs and lists only.
import { CoordinationV1Api, CoreV1Api, type KubeConfig, type V1NodeList } from '@kubernetes/client-node';
import type { NodeInfo } from '../domain/types.ts';
import { callOptions, serverForMessages, toKubeError, type Operation } from './client.ts';
import { toNodeInfo } from './nodes.ts';

export interface LeaseInfo {
  readonly namespace: string;
  readonly name: string;
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number | undefined;
  /** Epoch ms, or undefined when the Lease does not say. */
  readonly acquireTime: number | undefined;
  readonly renewTime: number | undefined;
}

export interface NodeDetails {
  readonly info: NodeInfo;
  /** spec.providerID, e.g. azure:///subscriptions/.../virtualMachines/worker-0 */
  readonly providerID: string | undefined;
}

export interface ClusterReader {
  readonly server: string;
  /** Resolves null when the Lease does not exist; throws KubeError otherwise. */
  lease(namespace: string, name: string, signal?: AbortSignal): Promise<LeaseInfo | null>;
  nodes(signal?: AbortSignal): Promise<NodeDetails[]>;
}

const TIMEOUT_MS = 30_000;

export function createClusterReader(kc: KubeConfig): ClusterReader {
  const server = serverForMessages(kc);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const core = kc.makeApiClient(CoreV1Api);

  async function call<T>(
    op: Operation,
    signal: AbortSignal | undefined,
    send: (o: ReturnType<typeof callOptions>) => Promise<T>,
  ): Promise<T> {
    const timeout = AbortSignal.timeout(TIMEOUT_MS);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    try {
      return await send(callOptions(combined, kc));
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw toKubeError(err, op, server, timeout.aborted ? TIMEOUT_MS : undefined);
    }
  }

  return {
    server,

    async lease(namespace, name, signal) {
      const op = { verb: 'get', resource: 'leases', group: 'coordination.k8s.io', name, namespace };
      try {
        const lease = await call(op, signal, (o) => coordination.readNamespacedLease({ name, namespace }, o));
        const spec = lease.spec;
        return {
          namespace,
          name,
          holderIdentity: spec?.holderIdentity ?? '',
          leaseDurationSeconds: spec?.leaseDurationSeconds,
          acquireTime: epoch(spec?.acquireTime),
          renewTime: epoch(spec?.renewTime),
        };
      } catch (err) {
        if ((err as { kind?: string }).kind === 'NotFound') return null;
        throw err;
      }
    },

    async nodes(signal) {
      const out: NodeDetails[] = [];
      let token: string | undefined;
      do {
        const page: V1NodeList = await call({ verb: 'list', resource: 'nodes', group: '' }, signal, (o) =>
          core.listNode({ limit: 500, ...(token === undefined ? {} : { _continue: token }) }, o),
        );
        for (const node of page.items) {
          out.push({ info: toNodeInfo(node), providerID: node.spec?.providerID || undefined });
        }
        token = page.metadata?._continue || undefined;
      } while (token !== undefined);
      return out;
    },
  };
}

/** MicroTime fields come back as raw RFC 3339 strings or as Dates, depending on the path through client-node. */
function epoch(value: unknown): number | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.getTime();
  if (typeof value === 'string' && value !== '') {
    const t = Date.parse(value);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}
