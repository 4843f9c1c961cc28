// The narrow port between the reconcile logic and Kubernetes. Only what the controller calls.
import type { NetworkCondition, NodeInfo } from '../domain/types.ts';

export interface NodeRef {
  readonly name: string;
  readonly uid: string;
  /**
   * The status of the node's NetworkUnavailable condition as last read (undefined: it has none). The status
   * writer moves lastTransitionTime only when the new status differs from it (DESIGN 2.5).
   */
  readonly networkUnavailableStatus?: string | undefined;
}

export interface NodeLister {
  /** Every Node, reduced to the fields the planner needs. */
  list(signal?: AbortSignal): Promise<NodeInfo[]>;
}

// Defined in the domain, which computes it; re-exported here for the Kubernetes adapters.
export type { NetworkCondition } from '../domain/types.ts';

export interface NodeStatusWriter {
  /**
   * Strategic-merge patch of nodes/<name>/status setting the NetworkUnavailable condition. The signal cancels
   * the request (leadership lost, shutting down): it then rejects with the signal's reason.
   */
  setNetworkUnavailable(
    node: NodeRef,
    condition: NetworkCondition,
    now: Date,
    signal?: AbortSignal,
  ): Promise<void>;
}

export interface EventRecorder {
  /** A Warning event on the Node (core/v1 Event in namespace "default", as the upstream recorder does). */
  warning(node: NodeRef, reason: string, message: string, signal?: AbortSignal): Promise<void>;
}
