// Which routes are ours (DESIGN 2.1). A route that is not ours is never changed or deleted.
import { parsePrefix, prefixContainmentTest, type Prefix } from './cidr.ts';
import { cidrKey, parseRouteName } from './naming.ts';
import type { PlannerConfig, Route } from './types.ts';

/**
 * Builds the ownership test for one configuration, parsing the cluster CIDRs once.
 *
 * - With cluster CIDRs: ours iff the route's prefix lies inside one of them, whatever its name or next-hop
 *   type (blackhole `None` routes included). This is upstream's `isResponsibleForRoute`.
 * - Without: ours iff the name follows our scheme AND its CIDR key is the key of the route's own prefix. The
 *   second half keeps a hand-made route that merely looks like ours (`gateway____1`) out of our hands.
 *
 * A route whose prefix is not a CIDR (a service tag, garbage) is never ours.
 */
export function ownershipTest(config: PlannerConfig): (route: Route) => boolean {
  const ownsPrefix = prefixOwnershipTest(config);
  return (route) => ownsPrefix(route.name, parsePrefix(route.addressPrefix));
}

/** The same test, for callers that have already parsed the route's prefix (undefined: not a CIDR). */
export function prefixOwnershipTest(
  config: PlannerConfig,
): (name: string, prefix: Prefix | undefined) => boolean {
  if (config.clusterCIDRs.length > 0) {
    const insideCluster = prefixContainmentTest(config.clusterCIDRs);
    return (_name, prefix) => prefix !== undefined && insideCluster(prefix);
  }
  return (name, prefix) => {
    if (prefix === undefined) return false;
    const parsed = parseRouteName(name);
    return parsed !== undefined && parsed.cidrKey.toLowerCase() === cidrKey(prefix.cidr);
  };
}

export function isOurs(route: Route, config: PlannerConfig): boolean {
  return ownershipTest(config)(route);
}
