// Reduces a Kubernetes Node to the few fields the planner reads (DESIGN 1), so big clusters stay small in memory.
import type { V1Node } from '@kubernetes/client-node';
import { UNMANAGED_NODE_LABEL } from '../domain/desired.ts';
import type { NodeInfo } from '../domain/types.ts';

/**
 * A Node from a list call carries Date objects (client-node deserialises them), but one from a watch event
 * carries the raw RFC 3339 strings; accept both and always answer with second-precision RFC 3339.
 */
function timestamp(value: unknown): string {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? '' : rfc3339(value);
  if (typeof value === 'string') {
    const parsed = new Date(value);
    return Number.isNaN(parsed.getTime()) ? value : rfc3339(parsed);
  }
  return '';
}

function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function toNodeInfo(node: V1Node): NodeInfo {
  const spec = node.spec;
  const status = node.status;
  const podCIDRs =
    spec?.podCIDRs !== undefined && spec.podCIDRs.length > 0
      ? [...spec.podCIDRs]
      : spec?.podCIDR !== undefined && spec.podCIDR !== ''
        ? [spec.podCIDR]
        : [];
  const internalIPs = (status?.addresses ?? [])
    .filter((address) => address.type === 'InternalIP' && address.address !== '')
    .map((address) => address.address);
  const condition = status?.conditions?.find((c) => c.type === 'NetworkUnavailable');
  return {
    name: node.metadata?.name ?? '',
    uid: node.metadata?.uid ?? '',
    creationTimestamp: timestamp(node.metadata?.creationTimestamp),
    podCIDRs,
    internalIPs,
    ...(node.metadata?.labels?.[UNMANAGED_NODE_LABEL] === 'false' ? { unmanaged: true } : {}),
    networkUnavailable:
      condition === undefined
        ? undefined
        : {
            status: condition.status,
            ...(condition.reason === undefined ? {} : { reason: condition.reason }),
            ...(condition.message === undefined ? {} : { message: condition.message }),
          },
  };
}
