// Kubernetes nodes -> the routes every managed table should hold (DESIGN 2.3), with a reason for each node or
// pod CIDR that gets none.
import { canonicalPrefix, cidrContainmentTest, parseNodeIp, parsePodCidr } from './cidr.ts';
import { formatRouteName } from './naming.ts';
import type { DesiredRoute, DesiredState, IpFamily, NodeInfo, PlannerConfig, SkippedNode } from './types.ts';

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function familyName(family: IpFamily): string {
  return family === 4 ? 'IPv4' : 'IPv6';
}

/** A node's pod CIDRs as it lists them, ignoring empty entries (an unset spec.podCIDR reads as ''). */
export function nodePodCidrs(node: NodeInfo): string[] {
  return node.podCIDRs.filter((cidr) => cidr.trim() !== '');
}

interface Claim {
  readonly node: NodeInfo;
  /** As the node gave it. */
  readonly raw: string;
  readonly cidr: string;
  readonly family: IpFamily;
}

interface NodeAddresses {
  readonly usable: ReadonlyMap<IpFamily, string>;
  readonly unusable: ReadonlyMap<IpFamily, readonly string[]>;
  readonly invalid: readonly string[];
}

function nodeAddresses(node: NodeInfo): NodeAddresses {
  const usable = new Map<IpFamily, string>();
  const unusable = new Map<IpFamily, string[]>();
  const invalid: string[] = [];
  for (const raw of node.internalIPs) {
    const parsed = parseNodeIp(raw);
    if (parsed.ok) {
      // The kubelet lists the primary address first; upstream uses the first one of the family too.
      if (!usable.has(parsed.family)) usable.set(parsed.family, parsed.ip);
    } else if (parsed.reason === 'unusable') {
      unusable.set(parsed.family, [...(unusable.get(parsed.family) ?? []), raw]);
    } else {
      invalid.push(raw);
    }
  }
  return { usable, unusable, invalid };
}

function noInternalIpMessage(claim: Claim, addresses: NodeAddresses): string {
  const family = familyName(claim.family);
  const unusable = addresses.unusable.get(claim.family) ?? [];
  const what =
    unusable.length > 0
      ? `its ${family} InternalIPs (${unusable.join(', ')}) are all loopback, link-local, multicast, broadcast or unspecified`
      : `it reports no ${family} InternalIP` +
        (addresses.invalid.length > 0 ? ` (unparseable addresses: ${addresses.invalid.join(', ')})` : '');
  return (
    `Node ${claim.node.name} has pod CIDR ${claim.cidr} but ${what}, so its route has no next hop; ` +
    `make the kubelet report a routable ${family} InternalIP (for example with --node-ip).`
  );
}

function skip(
  node: string,
  cidr: string | undefined,
  reason: SkippedNode['reason'],
  message: string,
): SkippedNode {
  return cidr === undefined ? { node, reason, message } : { node, cidr, reason, message };
}

/**
 * The desired routes for a set of nodes. Pure and deterministic: the output is sorted by node name, then
 * CIDR, whatever the order of the input.
 */
export function desiredRoutes(nodes: readonly NodeInfo[], config: PlannerConfig): DesiredState {
  const sortedNodes = [...nodes].sort((a, b) => compareText(a.name, b.name) || compareText(a.uid, b.uid));
  const insideCluster = config.clusterCIDRs.length > 0 ? cidrContainmentTest(config.clusterCIDRs) : undefined;
  const skipped: SkippedNode[] = [];
  const claims: Claim[] = [];

  for (const node of sortedNodes) {
    const podCidrs = nodePodCidrs(node);
    if (podCidrs.length === 0) {
      skipped.push(
        skip(
          node.name,
          undefined,
          'NoPodCIDR',
          `Node ${node.name} has no pod CIDR yet (spec.podCIDRs is empty); it gets its route once a pod CIDR is ` +
            `assigned, for example by kube-controller-manager with --allocate-node-cidrs.`,
        ),
      );
      continue;
    }
    const seen = new Set<string>();
    for (const raw of podCidrs) {
      const parsed = parsePodCidr(raw);
      if (!parsed.ok) {
        if (parsed.reason === 'HostBitsSet') {
          skipped.push(
            skip(
              node.name,
              raw,
              'HostBitsSet',
              `Node ${node.name} has pod CIDR ${raw} with host bits set; set spec.podCIDRs to the network ` +
                `address ${canonicalPrefix(raw) ?? ''} instead.`,
            ),
          );
        } else {
          skipped.push(
            skip(
              node.name,
              raw,
              'InvalidPodCIDR',
              `Node ${node.name} has pod CIDR ${JSON.stringify(raw)}, which is not a valid CIDR; set ` +
                `spec.podCIDRs to a range such as 10.244.1.0/24 or fd00:10:244:1::/64.`,
            ),
          );
        }
        continue;
      }
      const { cidr, family, prefixLength } = parsed;
      if (seen.has(cidr)) continue;
      seen.add(cidr);
      if (insideCluster && !insideCluster(cidr)) {
        skipped.push(
          skip(
            node.name,
            raw,
            'OutsideClusterCIDR',
            `Node ${node.name} has pod CIDR ${cidr}, which lies outside --cluster-cidr ` +
              `${config.clusterCIDRs.join(',')}; give the node a pod CIDR inside that range or add its range ` +
              `to --cluster-cidr.`,
          ),
        );
        continue;
      }
      // A default route is never a pod route, whatever the configuration says.
      const minimum = Math.max(
        1,
        insideCluster ? 0 : family === 4 ? config.minPrefixLength.v4 : config.minPrefixLength.v6,
      );
      if (prefixLength < minimum) {
        skipped.push(
          skip(
            node.name,
            raw,
            'PrefixTooBroad',
            `Node ${node.name} has pod CIDR ${cidr}, broader than the /${minimum} allowed for ` +
              `${familyName(family)}${insideCluster ? '' : ' without --cluster-cidr'}; give the node a narrower ` +
              `pod CIDR or set --cluster-cidr to the range that contains it.`,
          ),
        );
        continue;
      }
      claims.push({ node, raw, cidr, family });
    }
  }

  const claimants = new Map<string, Claim[]>();
  for (const claim of claims) {
    const sameCidr = claimants.get(claim.cidr);
    if (sameCidr) sameCidr.push(claim);
    else claimants.set(claim.cidr, [claim]);
  }

  const routes: DesiredRoute[] = [];
  const frozen = new Set<string>();
  const addressCache = new Map<NodeInfo, NodeAddresses>();
  for (const claim of claims) {
    const { node, cidr } = claim;
    const others = (claimants.get(cidr) ?? [])
      .filter((other) => other.node !== node)
      .map((other) => other.node.name);
    if (others.length > 0) {
      frozen.add(cidr);
      skipped.push(
        skip(
          node.name,
          claim.raw,
          'DuplicatePodCIDR',
          `Node ${node.name} claims pod CIDR ${cidr}, which ${others.length === 1 ? 'node' : 'nodes'} ` +
            `${others.join(', ')} also ${others.length === 1 ? 'claims' : 'claim'}, so none of them gets a ` +
            `route; give each node its own pod CIDR.`,
        ),
      );
      continue;
    }
    let addresses = addressCache.get(node);
    if (!addresses) {
      addresses = nodeAddresses(node);
      addressCache.set(node, addresses);
    }
    const nextHop = addresses.usable.get(claim.family);
    if (nextHop === undefined) {
      frozen.add(cidr);
      skipped.push(skip(node.name, claim.raw, 'NoInternalIP', noInternalIpMessage(claim, addresses)));
      continue;
    }
    routes.push({
      node: node.name,
      cidr,
      family: claim.family,
      nextHopIpAddress: nextHop,
      name: formatRouteName(node.name, cidr),
      nodeCreationTimestamp: node.creationTimestamp,
    });
  }

  routes.sort((a, b) => compareText(a.node, b.node) || compareText(a.cidr, b.cidr));
  skipped.sort(
    (a, b) =>
      compareText(a.node, b.node) ||
      compareText(a.cidr ?? '', b.cidr ?? '') ||
      compareText(a.reason, b.reason),
  );
  return { routes, skipped, frozenPrefixes: [...frozen].sort(compareText) };
}
