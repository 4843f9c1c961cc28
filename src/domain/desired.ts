// Kubernetes nodes -> the routes every managed table should hold (DESIGN 2.3), with a reason for each node or
// pod CIDR that gets none.
//
// The loops over every node, claim and route index their arrays rather than use for...of: until V8 has
// optimized a function, each for...of step allocates an iterator result, and the planner's first call in a
// process (the start-up reconcile, 5,000 nodes in under 50 ms) runs cold code.
import {
  canonicalPrefix,
  networkKey,
  networkValue,
  parseNodeIp,
  parsePodPrefix,
  parsePrefix,
  prefixContainmentTest,
  prefixContains,
  type PodPrefixResult,
  type Prefix,
} from './cidr.ts';
import { formatCanonicalRouteName } from './naming.ts';
import type { DesiredRoute, DesiredState, IpFamily, NodeInfo, PlannerConfig, SkippedNode } from './types.ts';

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function familyName(family: IpFamily): string {
  return family === 4 ? 'IPv4' : 'IPv6';
}

/** A node's pod CIDRs as it lists them, ignoring empty entries (an unset spec.podCIDR reads as ''). */
export function nodePodCidrs(node: NodeInfo): readonly string[] {
  const listed = node.podCIDRs;
  let blank = 0;
  for (let i = 0; i < listed.length; i++) if (listed[i]!.trim() === '') blank++;
  // Nearly always none is blank: the node's own (read-only) list then serves, with no copy per node.
  return blank === 0 ? listed : listed.filter((cidr) => cidr.trim() !== '');
}

interface Claim {
  readonly node: NodeInfo;
  /** The node's InternalIPs, parsed once for all of its claims. */
  readonly addresses: NodeAddresses;
  /** As the node gave it. */
  readonly raw: string;
  readonly cidr: string;
  readonly family: IpFamily;
  readonly prefix: Prefix;
}

// Plain fields rather than Maps: every node's addresses are parsed, and the lists are nearly always empty.
interface NodeAddresses {
  /** The first usable InternalIP of each family, canonical. */
  readonly v4: string | undefined;
  readonly v6: string | undefined;
  /** InternalIPs that parse but cannot be a next hop, in the node's order. */
  readonly unusable: readonly { readonly family: IpFamily; readonly raw: string }[];
  readonly invalid: readonly string[];
}

const NONE: readonly never[] = [];

function nodeAddresses(node: NodeInfo): NodeAddresses {
  let v4: string | undefined;
  let v6: string | undefined;
  let unusable: { family: IpFamily; raw: string }[] | undefined;
  let invalid: string[] | undefined;
  for (let i = 0; i < node.internalIPs.length; i++) {
    const raw = node.internalIPs[i]!;
    const parsed = parseNodeIp(raw);
    if (parsed.ok) {
      // The kubelet lists the primary address first; upstream uses the first one of the family too.
      if (parsed.family === 4) v4 ??= parsed.ip;
      else v6 ??= parsed.ip;
    } else if (parsed.reason === 'unusable') {
      (unusable ??= []).push({ family: parsed.family, raw });
    } else {
      (invalid ??= []).push(raw);
    }
  }
  return { v4, v6, unusable: unusable ?? NONE, invalid: invalid ?? NONE };
}

function usableAddress(addresses: NodeAddresses, family: IpFamily): string | undefined {
  return family === 4 ? addresses.v4 : addresses.v6;
}

function noInternalIpMessage(claim: Claim, addresses: NodeAddresses): string {
  const family = familyName(claim.family);
  const unusable = addresses.unusable.filter((a) => a.family === claim.family).map((a) => a.raw);
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
 * Whether the route `cidr -> nextHopIp` is already in the table(s) as read, whatever its provisioningState: a
 * route that is there already carries traffic, so between two overlapping claims it is the one that stands.
 * `cidr` and `nextHopIp` are canonical. A caller managing several tables should answer true only when the
 * route is in every one of them, so that a route in place in one table alone does not outrank an older claim.
 */
export type InPlaceTest = (cidr: string, nextHopIp: string) => boolean;

// ---- step 1: each pod CIDR on its own --------------------------------------------------------------------

interface ClaimRules {
  readonly clusterCIDRs: readonly string[];
  readonly clusterPrefixes: readonly Prefix[];
  readonly insideCluster: (prefix: Prefix) => boolean;
  readonly nodeMaskSize: PlannerConfig['nodeMaskSize'];
}

function claimRules(config: PlannerConfig): ClaimRules {
  return {
    clusterCIDRs: config.clusterCIDRs,
    clusterPrefixes: config.clusterCIDRs.flatMap((cidr) => parsePrefix(cidr) ?? []),
    insideCluster: prefixContainmentTest(config.clusterCIDRs),
    nodeMaskSize: config.nodeMaskSize,
  };
}

function maskSizeFlag(family: IpFamily): string {
  return family === 4 ? '--node-cidr-mask-size-ipv4' : '--node-cidr-mask-size-ipv6';
}

/** One pod CIDR of one node, judged alone: a claim, or the reason it is refused. */
function judgePodCidr(
  node: NodeInfo,
  raw: string,
  parsed: PodPrefixResult,
  rules: ClaimRules,
  addressesOf: () => NodeAddresses,
): Claim | SkippedNode {
  if (!parsed.ok) {
    return parsed.reason === 'HostBitsSet'
      ? skip(
          node.name,
          raw,
          'HostBitsSet',
          `Node ${node.name} has pod CIDR ${raw} with host bits set; set spec.podCIDRs to the network ` +
            `address ${canonicalPrefix(raw) ?? ''} instead.`,
        )
      : skip(
          node.name,
          raw,
          'InvalidPodCIDR',
          `Node ${node.name} has pod CIDR ${JSON.stringify(raw)}, which is not a valid CIDR; set ` +
            `spec.podCIDRs to a range such as 10.244.1.0/24 or fd00:10:244:1::/64.`,
        );
  }
  const { prefix } = parsed;
  const { cidr, family, prefixLength } = prefix;
  if (!rules.insideCluster(prefix)) {
    const range = rules.clusterCIDRs.length > 0 ? rules.clusterCIDRs.join(',') : '(none is set)';
    return skip(
      node.name,
      raw,
      'OutsideClusterCIDR',
      `Node ${node.name} has pod CIDR ${cidr}, which lies outside --cluster-cidr ${range}; give the node a ` +
        `pod CIDR inside that range or add its range to --cluster-cidr.`,
    );
  }
  // Checked before the mask size: "it is the whole cluster range" says more than "it is too broad".
  const covered = rules.clusterPrefixes.find((cluster) => prefixContains(prefix, cluster));
  if (covered !== undefined) {
    return skip(
      node.name,
      raw,
      'CoversClusterCIDR',
      `Node ${node.name} has pod CIDR ${cidr}, which ${covered.cidr === cidr ? 'equals' : 'contains'} the ` +
        `--cluster-cidr range ${covered.cidr}, so its route would capture every node's pod traffic; give the ` +
        `node its own pod CIDR from inside that range.`,
    );
  }
  const maskSize = family === 4 ? rules.nodeMaskSize.v4 : rules.nodeMaskSize.v6;
  if (prefixLength < maskSize) {
    return skip(
      node.name,
      raw,
      'PrefixTooBroad',
      `Node ${node.name} has pod CIDR ${cidr}, broader than the ${familyName(family)} node mask size ` +
        `/${maskSize} (${maskSizeFlag(family)}), so its route could capture other nodes' traffic; give the ` +
        `node a pod CIDR of /${maskSize} or narrower, or set ${maskSizeFlag(family)} to the mask size ` +
        `kube-controller-manager allocates.`,
    );
  }
  return { node, addresses: addressesOf(), raw, cidr, family, prefix };
}

/** The label the cloud-controller-manager reads to tell nodes that are not Azure VMs (IsNodeUnmanaged). */
export const UNMANAGED_NODE_LABEL = 'kubernetes.azure.com/managed';

/** Whether a skipped node counts against the run: every reason but "no pod CIDR yet" and "not an Azure VM". */
export function isRefusal(skipped: Pick<SkippedNode, 'reason'>): boolean {
  return skipped.reason !== 'NoPodCIDR' && skipped.reason !== 'UnmanagedNode';
}

function unmanagedNode(node: NodeInfo): SkippedNode {
  return skip(
    node.name,
    undefined,
    'UnmanagedNode',
    `Node ${node.name} is labelled ${UNMANAGED_NODE_LABEL}=false (not an Azure VM), so it gets no route, as the ` +
      `cloud-controller-manager does; routing its pod CIDR is up to the network it lives in.`,
  );
}

function noPodCidr(node: NodeInfo): SkippedNode {
  return skip(
    node.name,
    undefined,
    'NoPodCIDR',
    `Node ${node.name} has no pod CIDR yet (spec.podCIDRs is empty); it gets its route once a pod CIDR is ` +
      `assigned, for example by kube-controller-manager with --allocate-node-cidrs.`,
  );
}

// ---- step 2: claims against each other (no captured traffic, DESIGN 2.3) ---------------------------------

/** One distinct pod CIDR and every node that claims it (more than one: a duplicate). */
interface Claimed {
  readonly cidr: string;
  readonly prefix: Prefix;
  /** In node-name order. */
  readonly claims: readonly Claim[];
}

/**
 * A Claimed with what decides its standing order. Only claims that overlap need it, so it is worked out only
 * when some do (a healthy cluster parses no timestamp and asks no in-place question here).
 */
interface Ranked extends Claimed {
  readonly inPlace: boolean;
  /** The oldest claimant's creationTimestamp, as a time (unparseable: +Infinity) and as text. */
  readonly time: number;
  readonly stamp: string;
  readonly firstNode: string;
}

/** Why a claim lost to an overlapping one: the claim that stands, and whether its age decided it. */
interface Refusal {
  readonly winner: Claimed;
  readonly olderWins: boolean;
}

function claimTime(node: NodeInfo): number {
  const time = Date.parse(node.creationTimestamp);
  return Number.isNaN(time) ? Number.POSITIVE_INFINITY : time;
}

function olderFirst(a: NodeInfo, b: NodeInfo): number {
  const ta = claimTime(a);
  const tb = claimTime(b);
  return (
    (ta < tb ? -1 : ta > tb ? 1 : 0) ||
    compareText(a.creationTimestamp, b.creationTimestamp) ||
    compareText(a.name, b.name)
  );
}

function groupClaims(claims: readonly Claim[]): Claimed[] {
  const byCidr = new Map<string, Claim[]>();
  for (let i = 0; i < claims.length; i++) {
    const claim = claims[i]!;
    const same = byCidr.get(claim.cidr);
    if (same) same.push(claim);
    else byCidr.set(claim.cidr, [claim]);
  }
  return [...byCidr.values()].map((group) => ({
    cidr: group[0]!.cidr,
    prefix: group[0]!.prefix,
    claims: group,
  }));
}

function rank(group: Claimed, isInPlace: (claim: Claim) => boolean): Ranked {
  const { claims } = group;
  // Nearly every group is one claim: no array to build and sort for it.
  const oldest =
    claims.length === 1 ? claims[0]!.node : claims.map((claim) => claim.node).sort(olderFirst)[0]!;
  return {
    ...group,
    inPlace: claims.some(isInPlace),
    time: claimTime(oldest),
    stamp: oldest.creationTimestamp,
    firstNode: oldest.name,
  };
}

/** The order in which claims stand: a route already in place first, then the oldest node, then by name. */
function standingOrder(a: Ranked, b: Ranked): number {
  return (
    (a.inPlace === b.inPlace ? 0 : a.inPlace ? -1 : 1) ||
    (a.time < b.time ? -1 : a.time > b.time ? 1 : 0) ||
    compareText(a.stamp, b.stamp) ||
    compareText(a.firstNode, b.firstNode) ||
    compareText(a.cidr, b.cidr)
  );
}

/**
 * Which distinct pod CIDRs lose to an overlapping one, each with the claim it loses to. In standing order, a
 * claim stands unless it overlaps (nests in, or contains) a claim that already stands; so the claims that
 * stand never overlap one another, and a claim is refused only for one that really stands (a /16 refused for
 * an older /24 inside it does not in turn refuse a younger /24 beside that one).
 *
 * Pod CIDRs nest or are disjoint, so "overlaps a standing claim" is two map look-ups per prefix length between
 * the cluster range and the claim: is a standing claim an ancestor of it, or is it an ancestor of a standing
 * claim. That is O(n * (32 or 128)) at worst, and a handful of lengths per claim in practice.
 */
function refuseOverlaps(
  claimed: readonly Claimed[],
  rules: ClaimRules,
  isInPlace: (claim: Claim) => boolean,
): Map<string, Refusal> {
  // The sweep costs a dozen map look-ups per claim; in a healthy cluster no two pod CIDRs overlap, nothing is
  // refused, and one sort by address shows it.
  if (!anyOverlap(claimed)) return new Map();
  const shortest = new Map<IpFamily, number>();
  for (const cluster of rules.clusterPrefixes) {
    shortest.set(cluster.family, Math.min(shortest.get(cluster.family) ?? 128, cluster.prefixLength));
  }
  // Keys from networkKey: numbers for IPv4 (no bigint or string per prefix length), text for IPv6.
  const standing = new Map<number | string, Ranked>();
  /** Every strict ancestor of a standing claim, mapped to the first standing claim inside it. */
  const holdsStanding = new Map<number | string, Ranked>();
  const refused = new Map<string, Refusal>();
  for (const claim of claimed.map((group) => rank(group, isInPlace)).sort(standingOrder)) {
    const { prefix } = claim;
    const value = networkValue(prefix);
    const floor = shortest.get(prefix.family) ?? 0;
    let blocker = holdsStanding.get(networkKey(value, prefix.prefixLength));
    for (let length = prefix.prefixLength - 1; blocker === undefined && length >= floor; length--) {
      blocker = standing.get(networkKey(value, length));
    }
    if (blocker !== undefined) {
      // Name the reason that decided it, and only that: once the older claim's route is written it is also
      // "in place", and a message that changed then would patch the node and record a second event for the
      // same problem.
      const olderWins = standingOrder({ ...blocker, inPlace: false }, { ...claim, inPlace: false }) < 0;
      refused.set(claim.cidr, { winner: blocker, olderWins });
      continue;
    }
    standing.set(networkKey(value, prefix.prefixLength), claim);
    for (let length = prefix.prefixLength - 1; length >= floor; length--) {
      const key = networkKey(value, length);
      // Whoever holds this ancestor already put every shorter one (down to the same floor) in the map too,
      // each mapped to a claim that stood first: nothing further down would change, so stop here.
      if (holdsStanding.has(key)) break;
      holdsStanding.set(key, claim);
    }
  }
  return refused;
}

/**
 * Whether any two of these distinct pod CIDRs overlap: sorted by network address, one starts before an
 * earlier one ends.
 */
function anyOverlap(claimed: readonly Claimed[]): boolean {
  // IPv4: each prefix packed into one number, network address * 64 + prefix length (under 2^38, exact), so a
  // Float64Array sorts them by address natively, with no comparator and no object per prefix.
  const v4 = new Float64Array(claimed.length);
  let v4Count = 0;
  const v6: { start: bigint; end: bigint }[] = [];
  for (let i = 0; i < claimed.length; i++) {
    const { prefix } = claimed[i]!;
    const start = networkValue(prefix);
    if (typeof start === 'number') v4[v4Count++] = start * 64 + prefix.prefixLength;
    else v6.push({ start, end: start + (1n << BigInt(128 - prefix.prefixLength)) });
  }
  const sorted = v4.subarray(0, v4Count).sort();
  let end = 0;
  for (let i = 0; i < sorted.length; i++) {
    const packed = sorted[i]!;
    const start = Math.floor(packed / 64);
    if (start < end) return true;
    end = Math.max(end, start + 2 ** (32 - (packed % 64)));
  }
  v6.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  let end6 = -1n;
  for (const range of v6) {
    if (range.start < end6) return true;
    if (range.end > end6) end6 = range.end;
  }
  return false;
}

function overlapMessage(claim: Claim, { winner, olderWins }: Refusal): string {
  const owners = winner.claims.map((c) => c.node.name);
  const whose = owners.length === 1 ? `node ${owners[0]}'s` : `nodes ${owners.join(', ')}'s`;
  const how = winner.prefix.prefixLength < claim.prefix.prefixLength ? 'lies inside' : 'contains';
  const why = olderWins ? 'which stands as the older claim' : 'whose route is already in place';
  return (
    `Node ${claim.node.name} has pod CIDR ${claim.cidr}, which ${how} ${whose} pod CIDR ${winner.cidr}, ` +
    `${why}; a route for it would capture that node's traffic, so give node ${claim.node.name} a pod CIDR ` +
    `that overlaps no other node's.`
  );
}

function duplicateMessage(claim: Claim, others: readonly string[]): string {
  return (
    `Node ${claim.node.name} claims pod CIDR ${claim.cidr}, which ${others.length === 1 ? 'node' : 'nodes'} ` +
    `${others.join(', ')} also ${others.length === 1 ? 'claims' : 'claim'}, so none of them gets a ` +
    `route; give each node its own pod CIDR.`
  );
}

// ---- the whole ------------------------------------------------------------------------------------------

/** Step 1 over every node: the claims that pass alone, the refusals, and the prefixes of unmanaged nodes. */
interface Collected {
  readonly claims: Claim[];
  readonly skipped: SkippedNode[];
  readonly unmanagedPrefixes: string[];
}

function collectClaims(sortedNodes: readonly NodeInfo[], rules: ClaimRules): Collected {
  const collected: Collected = { claims: [], skipped: [], unmanagedPrefixes: [] };
  for (let i = 0; i < sortedNodes.length; i++) {
    const node = sortedNodes[i]!;
    const podCidrs = nodePodCidrs(node);
    if (node.unmanaged === true) {
      // Not an Azure VM: no route of ours, and a route someone made for its range (to a VPN gateway, say) lies
      // inside the cluster range but is not ours to delete, so its prefixes are frozen.
      collected.skipped.push(unmanagedNode(node));
      for (const raw of podCidrs) {
        const parsed = parsePodPrefix(raw);
        if (parsed.ok) collected.unmanagedPrefixes.push(parsed.prefix.cidr);
      }
      continue;
    }
    if (podCidrs.length === 0) collected.skipped.push(noPodCidr(node));
    collectNodeClaims(node, podCidrs, rules, collected);
  }
  return collected;
}

function collectNodeClaims(
  node: NodeInfo,
  podCidrs: readonly string[],
  rules: ClaimRules,
  collected: Collected,
): void {
  // A node lists one or two pod CIDRs (one per family): an array is cheaper than a Set per node.
  const seen: string[] = [];
  let addresses: NodeAddresses | undefined;
  const addressesOf = () => (addresses ??= nodeAddresses(node));
  for (let i = 0; i < podCidrs.length; i++) {
    const raw = podCidrs[i]!;
    const parsed = parsePodPrefix(raw);
    // A CIDR a node lists twice (in two spellings, perhaps) is one claim, and at most one refusal.
    if (parsed.ok && seen.includes(parsed.prefix.cidr)) continue;
    if (parsed.ok) seen.push(parsed.prefix.cidr);
    const judged = judgePodCidr(node, raw, parsed, rules, addressesOf);
    if ('reason' in judged) collected.skipped.push(judged);
    else collected.claims.push(judged);
  }
}

function inPlaceTest(inPlace: InPlaceTest | undefined): (claim: Claim) => boolean {
  return (claim) => {
    const nextHop = inPlace ? usableAddress(claim.addresses, claim.family) : undefined;
    return nextHop !== undefined && inPlace!(claim.cidr, nextHop);
  };
}

/** Step 3: each claim becomes a route, or a refusal (frozen when its prefix may still hold a route we keep). */
function settleClaims(
  claimed: readonly Claimed[],
  refused: ReadonlyMap<string, Refusal>,
  skipped: SkippedNode[],
  frozen: Set<string>,
): DesiredRoute[] {
  const routes: DesiredRoute[] = [];
  for (let g = 0; g < claimed.length; g++) {
    const group = claimed[g]!;
    const refusal = refused.get(group.cidr);
    for (let c = 0; c < group.claims.length; c++) {
      const claim = group.claims[c]!;
      const { node, cidr } = claim;
      if (refusal !== undefined) {
        skipped.push(skip(node.name, claim.raw, 'OverlappingPodCIDR', overlapMessage(claim, refusal)));
        continue;
      }
      if (group.claims.length > 1) {
        frozen.add(cidr);
        const others = group.claims.filter((other) => other !== claim).map((other) => other.node.name);
        skipped.push(skip(node.name, claim.raw, 'DuplicatePodCIDR', duplicateMessage(claim, others)));
        continue;
      }
      const { addresses } = claim;
      const nextHop = usableAddress(addresses, claim.family);
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
        // claim.cidr is canonical already: the name needs no second parse of it.
        name: formatCanonicalRouteName(node.name, cidr),
        nodeCreationTimestamp: node.creationTimestamp,
      });
    }
  }
  return routes;
}

/**
 * The desired routes for a set of nodes. Pure and deterministic: the output is sorted by node name, then
 * CIDR, whatever the order of the input.
 *
 * No route may capture another node's traffic (DESIGN 2.3). A pod CIDR that equals or contains a cluster
 * range (CoversClusterCIDR), or is broader than the node mask size (PrefixTooBroad), is refused on its own.
 * Equal claims are DuplicatePodCIDR on every claimant, and their prefix is frozen, as before. Claims that
 * overlap without being equal are settled by refuseOverlaps: the one already in place (per `inPlace`; without
 * it, none is), else the older node's, stands, and the others are refused as OverlappingPodCIDR, naming it.
 *
 * A refused overlapping claim is deliberately NOT frozen: it is not desired, so an existing route of ours for
 * it is deleted by the planner. That route nests in (or contains) a route that stands, so leaving it would
 * keep capturing that node's traffic (a more specific /25 wins over the /24 it sits in; a /23 around a /24
 * takes the rest of the /23). Only claims that stand can be frozen, so frozen and desired prefixes never
 * overlap either.
 */
export function desiredRoutes(
  nodes: readonly NodeInfo[],
  config: PlannerConfig,
  inPlace?: InPlaceTest,
): DesiredState {
  const sortedNodes = [...nodes].sort((a, b) => compareText(a.name, b.name) || compareText(a.uid, b.uid));
  const rules = claimRules(config);
  const { claims, skipped, unmanagedPrefixes } = collectClaims(sortedNodes, rules);

  const claimed = groupClaims(claims);
  const refused = refuseOverlaps(claimed, rules, inPlaceTest(inPlace));

  const frozen = new Set<string>();
  const routes = settleClaims(claimed, refused, skipped, frozen);

  for (const prefix of unmanagedPrefixes) frozen.add(prefix);
  routes.sort((a, b) => compareText(a.node, b.node) || compareText(a.cidr, b.cidr));
  skipped.sort(
    (a, b) =>
      compareText(a.node, b.node) ||
      compareText(a.cidr ?? '', b.cidr ?? '') ||
      compareText(a.reason, b.reason),
  );
  return { routes, skipped, frozenPrefixes: [...frozen].sort(compareText) };
}
