// The eight checks. Each is a pure function of what was read (World) and the plan (Judgement): it says what it
// found, and for every problem the exact fix.
import type { PermissionEntry } from '../azure/inventory.ts';
import { tableId, type TableRef } from '../azure/types.ts';
import type { DoctorConfig } from '../config/run.ts';
import { cidrContains } from '../domain/cidr.ts';
import { isRefusal } from '../domain/desired.ts';
import { parseRouteName } from '../domain/naming.ts';
import { ownershipTest } from '../domain/ownership.ts';
import { CCM_LEASE } from './gather.ts';
import * as fix from './fixes.ts';
import type { Judgement } from './plan.ts';
import type { CheckId, CheckResult, CheckStatus, World } from './types.ts';

export const REQUIRED_ACTIONS = [
  'Microsoft.Network/routeTables/read',
  'Microsoft.Network/routeTables/write',
  'Microsoft.Network/locations/operations/read',
] as const;

/** Near the route limit: warn once the table would be this full. */
const NEAR_LIMIT = 0.9;

const label = (ref: TableRef) => `${ref.resourceGroup}/${ref.name}`;
const worst = (statuses: readonly CheckStatus[]): CheckStatus =>
  statuses.includes('fail') ? 'fail' : statuses.includes('warn') ? 'warn' : 'ok';

/** Collects findings; the check's status is the worst of them. */
class Findings {
  readonly statuses: CheckStatus[] = [];
  readonly details: string[] = [];
  readonly fixes: string[] = [];
  add(status: CheckStatus, detail: string, ...fixes: string[]): void {
    this.statuses.push(status);
    this.details.push(detail);
    for (const f of fixes) if (!this.fixes.includes(f)) this.fixes.push(f);
  }
  /** The summary names the first problem of the worst kind, so the check's one line says what is wrong. */
  result(id: CheckId, summary: (status: CheckStatus) => string): CheckResult {
    const status = worst(this.statuses);
    const problems = this.details.filter((_, i) => this.statuses[i] === status);
    const line =
      status === 'ok' || problems.length === 0
        ? summary(status)
        : `${summary(status)}: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`;
    return { id, status, summary: line, details: this.details, fixes: this.fixes };
  }
}

export function identityCheck(world: World): CheckResult {
  if (world.identity.ok) {
    return {
      id: 'identity',
      status: 'ok',
      summary: `got a token for ${world.tokenScope} from ${world.credential}`,
      details: [],
      fixes: [],
    };
  }
  const error = world.identity.error;
  const advice = error.includes('): ') ? error.slice(error.lastIndexOf('): ') + 3) : error;
  return {
    id: 'identity',
    status: 'fail',
    summary: `no token for ${world.tokenScope} from ${world.credential}`,
    details: [error],
    fixes: [advice],
  };
}

/** Azure's action matching: case-insensitive, `*` matches any run of characters (`*`, `Microsoft.Network/*`). */
export function actionMatches(pattern: string, action: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`, 'i');
  return re.test(action);
}

/** An action is allowed when some entry grants it and that same entry's notActions do not take it away. */
export function isAllowed(entries: readonly PermissionEntry[], action: string): boolean {
  return entries.some(
    (e) =>
      e.actions.some((a) => actionMatches(a, action)) && !e.notActions.some((n) => actionMatches(n, action)),
  );
}

export function permissionsCheck(world: World, config: DoctorConfig): CheckResult {
  const f = new Findings();
  for (const table of world.tables) {
    const scope = tableId(table.ref);
    const read = table.permissions;
    if (!read.ok) {
      if (read.forbidden) {
        f.add(
          'warn',
          `${label(table.ref)}: the identity may not read its own permissions (Microsoft.Authorization/permissions/read), so write access is not proven`,
          fix.assignDoctorRole(config, scope),
        );
      } else {
        f.add('warn', `${label(table.ref)}: permissions not checked: ${read.error}`);
      }
      continue;
    }
    const missing = REQUIRED_ACTIONS.filter((a) => !isAllowed(read.value, a));
    if (missing.length === 0) {
      f.add('ok', `${label(table.ref)}: ${REQUIRED_ACTIONS.join(', ')} allowed`);
      continue;
    }
    const canRead = !missing.includes('Microsoft.Network/routeTables/read');
    f.add(
      'fail',
      `${label(table.ref)}: ${canRead ? 'can read but not write the table: ' : ''}not allowed: ${missing.join(', ')}`,
      fix.assignControllerRole(config, scope),
    );
  }
  return f.result('permissions', (s) =>
    s === 'ok'
      ? `the identity may read and write every table (${REQUIRED_ACTIONS.length} actions allowed)`
      : s === 'fail'
        ? 'the identity lacks actions the controller needs'
        : 'write access could not be proven without writing',
  );
}

export function tableCheck(world: World, judgement: Judgement, config: DoctorConfig): CheckResult {
  const f = new Findings();
  const isOurs = ownershipTest(config.planner);
  const limit = config.planner.routeLimit;
  const wanted = judgement.desired?.routes.length ?? 0;
  for (const table of world.tables) {
    const name = label(table.ref);
    if (!table.snapshot.ok) {
      f.add(
        'fail',
        `${name}: cannot be read: ${table.snapshot.error}`,
        ...(table.snapshot.forbidden ? [fix.assignControllerRole(config, tableId(table.ref))] : []),
      );
      continue;
    }
    const snapshot = table.snapshot.value;
    if (snapshot === null) {
      f.add('fail', `${name}: not found`, fix.createTable(table.ref, config.azure.location));
      continue;
    }
    const ours = snapshot.routes.filter(isOurs).length;
    const foreign = snapshot.routes.length - ours;
    const needed = foreign + wanted;
    const state = table.facts?.provisioningState ?? snapshot.provisioningState;
    const line =
      `${name}: ${snapshot.location}, provisioningState ${state}, disableBgpRoutePropagation ${table.facts?.disableBgpRoutePropagation ?? false}; ` +
      `${ours} ours, ${foreign} foreign, ${Math.max(0, limit - snapshot.routes.length)} free of ${limit}`;
    if (needed > limit) {
      f.add(
        'fail',
        `${line}; the nodes do not fit: ${wanted} node route(s) + ${foreign} foreign = ${needed} > ${limit}`,
        fix.ROUTE_LIMIT,
      );
    } else if (needed >= NEAR_LIMIT * limit) {
      f.add(
        'warn',
        `${line}; near the limit: ${needed} of ${limit} needed for ${wanted} node route(s)`,
        fix.ROUTE_LIMIT,
      );
    } else if (state !== 'Succeeded') {
      f.add(
        'warn',
        `${line}; the table is not Succeeded, so its routes are not all in effect`,
        fix.redrive(table.ref),
      );
    } else {
      f.add('ok', `${line}; the ${wanted} node route(s) fit`);
    }
  }
  return f.result('table', (s) =>
    s === 'ok'
      ? `every table exists and the nodes fit`
      : s === 'fail'
        ? 'a table is missing, unreadable or full'
        : 'a table needs attention',
  );
}

export function subnetsCheck(world: World, config: DoctorConfig): CheckResult {
  const f = new Findings();
  const associated = new Set<string>();
  const prefixes: string[] = [];
  let unknownPrefixes = false;
  for (const table of world.tables) {
    if (!table.facts) {
      f.add('warn', `${label(table.ref)}: association not checked (the table was not read)`);
      continue;
    }
    if (table.facts.subnetIds.length === 0) {
      f.add(
        'fail',
        `${label(table.ref)} is associated with no subnet: its routes have no effect`,
        fix.associate(table.ref, nodeSubnet(world) ?? fix.SUBNET_PLACEHOLDER),
      );
    } else {
      f.add(
        'ok',
        `${label(table.ref)} is associated with ${table.facts.subnetIds.map(shortSubnet).join(', ')}`,
      );
    }
    for (const id of table.facts.subnetIds) associated.add(id.toLowerCase());
    for (const read of table.subnets.values()) {
      if (read.ok && read.value) prefixes.push(...read.value.addressPrefixes);
      else unknownPrefixes = true;
    }
  }
  const firstTable = world.tables[0]!.ref;
  for (const n of world.nics) {
    const subnetId = n.nic.ok && n.nic.value ? subnetOf(n.nic.value, n.ip) : undefined;
    if (subnetId !== undefined) {
      if (!associated.has(subnetId.toLowerCase())) {
        f.add(
          'fail',
          `node ${n.node} (${n.ip}) is in subnet ${shortSubnet(subnetId)}, which uses none of the configured tables`,
          fix.associate(firstTable, subnetId),
        );
      }
      continue;
    }
    if (n.ip === undefined) continue;
    if (prefixes.some((p) => cidrContains(p, n.ip!.includes(':') ? `${n.ip}/128` : `${n.ip}/32`))) continue;
    if (unknownPrefixes || associated.size === 0) {
      f.add(
        'warn',
        `node ${n.node} (${n.ip}): its subnet is not known (NIC not found and subnet prefixes not readable)`,
        fix.assignDoctorRole(
          config,
          `/subscriptions/${firstTable.subscriptionId}/resourceGroups/${firstTable.resourceGroup}`,
        ),
      );
    } else {
      f.add(
        'fail',
        `node ${n.node} (${n.ip}) lies in none of the subnets that use the tables (${prefixes.join(', ')})`,
        fix.associate(firstTable, fix.SUBNET_PLACEHOLDER),
      );
    }
  }
  return f.result('subnets', (s) =>
    s === 'ok'
      ? "every table is associated, and every node's subnet uses one"
      : s === 'fail'
        ? "a table or a node's subnet is not associated"
        : 'association partly checked',
  );
}

export function ipForwardingCheck(world: World, config: DoctorConfig): CheckResult {
  const f = new Findings();
  const readerScope = (() => {
    const t = world.tables[0]!.ref;
    return `/subscriptions/${t.subscriptionId}/resourceGroups/${t.resourceGroup}`;
  })();
  if (!world.identity.ok) f.add('warn', 'not checked: no Azure token (see identity)');
  else if (!world.nodes.ok) f.add('warn', 'not checked: the nodes could not be listed');
  else if (world.nics.length === 0) f.add('warn', 'no nodes to check');
  for (const n of world.nics) {
    if (!n.nic.ok) {
      const needs =
        n.via === 'providerID'
          ? 'Microsoft.Compute/virtualMachines/read and Microsoft.Network/networkInterfaces/read'
          : 'Microsoft.Network/networkInterfaces/read';
      f.add(
        'warn',
        n.nic.forbidden
          ? `node ${n.node}: NIC not readable: needs ${needs} (beyond the controller's role)`
          : `node ${n.node}: ${n.nic.error}`,
        ...(n.nic.forbidden ? [fix.assignDoctorRole(config, readerScope)] : []),
      );
    } else if (n.nic.value === null) {
      f.add(
        'warn',
        `node ${n.node}: no NIC found ${n.via === 'providerID' ? 'on the VM its spec.providerID names' : `holding ${n.ip ?? 'its InternalIP'} in the tables' resource groups`}`,
      );
    } else if (!n.nic.value.enableIPForwarding) {
      f.add(
        'fail',
        `node ${n.node}: NIC ${n.nic.value.name} has IP forwarding off: Azure drops the pod traffic routed to it`,
        fix.ipForwarding(n.nic.value),
      );
    } else {
      f.add('ok', `node ${n.node}: NIC ${n.nic.value.name} forwards IP`);
    }
  }
  return f.result('ip-forwarding', (s) =>
    s === 'ok'
      ? "every node's NIC has IP forwarding on"
      : s === 'fail'
        ? "a node's NIC has IP forwarding off"
        : 'IP forwarding partly checked',
  );
}

export function otherWritersCheck(world: World, judgement: Judgement, config: DoctorConfig): CheckResult {
  const f = new Findings();
  const ccm = leaseState(world, world.ccmLease);
  const own = leaseState(world, world.ownLease);
  if (ccm.kind === 'error') {
    f.add(
      'warn',
      `Lease ${CCM_LEASE.namespace}/${CCM_LEASE.name} not readable: ${ccm.error}`,
      fix.canGetLease(CCM_LEASE.namespace),
    );
  } else if (ccm.kind === 'recent') {
    f.add(
      'fail',
      `the cloud-controller-manager leads (Lease ${CCM_LEASE.namespace}/${CCM_LEASE.name} held by ${ccm.holder}, renewed ${ccm.ageSeconds}s ago): its route controller may write these routes too`,
      fix.CCM_ROUTES_OFF,
    );
  } else if (ccm.kind === 'stale') {
    f.add(
      'ok',
      `Lease ${CCM_LEASE.namespace}/${CCM_LEASE.name} last renewed ${ccm.ageSeconds}s ago (held by ${ccm.holder || 'nobody'}): not running`,
    );
  } else {
    f.add('ok', `no cloud-controller-manager Lease in ${CCM_LEASE.namespace}`);
  }
  const writerActive = ccm.kind === 'recent' || own.kind === 'recent';
  for (const view of judgement.plans) {
    const disagreeing = view.plan.updates.filter((u) => parseRouteName(u.from.name) !== undefined);
    if (disagreeing.length === 0) continue;
    const sample = disagreeing
      .slice(0, 3)
      .map(
        (u) =>
          `${u.from.name} -> ${u.from.nextHopIpAddress ?? u.from.nextHopType}, node ${u.desired.node} has ${u.desired.nextHopIpAddress}`,
      )
      .join('; ');
    f.add(
      writerActive ? 'fail' : 'warn',
      `${label(view.ref)}: ${disagreeing.length} route(s) named by our scheme point away from their node (${sample})${writerActive ? ' while a route controller is running: two writers disagree' : ''}`,
      fix.whoWrote(view.ref),
    );
  }
  const where = `${config.lease.namespace}/${config.lease.name}`;
  if (own.kind === 'error')
    f.add(
      'warn',
      `this controller's Lease ${where} not readable: ${own.error}`,
      fix.canGetLease(config.lease.namespace),
    );
  else if (own.kind === 'absent')
    f.add('ok', `this controller's Lease ${where}: none (no replica of run leads)`);
  else
    f.add(
      'ok',
      `this controller's Lease ${where}: held by ${own.holder || 'nobody'}${own.since ? ` since ${own.since}` : ''}, renewed ${own.ageSeconds}s ago`,
    );
  return f.result('other-writers', (s) =>
    s === 'ok'
      ? 'no other route writer found'
      : s === 'fail'
        ? 'another controller writes these routes'
        : 'another writer could not be ruled out',
  );
}

type LeaseState =
  | { kind: 'error'; error: string }
  | { kind: 'absent' }
  | { kind: 'recent' | 'stale'; holder: string; ageSeconds: number; since: string | undefined };

function leaseState(world: World, read: World['ccmLease']): LeaseState {
  if (!read.ok) return { kind: 'error', error: read.error };
  const lease = read.value;
  if (lease === null) return { kind: 'absent' };
  const ageMs = lease.renewTime === undefined ? Infinity : world.now - lease.renewTime;
  // Renewed within two lease durations (at least a minute): a leader that is running renews every few seconds.
  const fresh = Math.max(60_000, 2 * 1000 * (lease.leaseDurationSeconds ?? 15));
  return {
    kind: lease.holderIdentity !== '' && ageMs <= fresh ? 'recent' : 'stale',
    holder: lease.holderIdentity,
    ageSeconds: Number.isFinite(ageMs) ? Math.max(0, Math.round(ageMs / 1000)) : -1,
    since: lease.acquireTime === undefined ? undefined : new Date(lease.acquireTime).toISOString(),
  };
}

export function nodesCheck(world: World, judgement: Judgement, config: DoctorConfig): CheckResult {
  const f = new Findings();
  if (!world.nodes.ok || !judgement.desired) {
    f.add(
      'fail',
      `the nodes could not be listed: ${world.nodes.ok ? '' : world.nodes.error}`,
      fix.CAN_LIST_NODES,
    );
    return f.result('nodes', () => 'nodes not listed');
  }
  const desired = judgement.desired;
  const waiting = desired.skipped.filter((s) => s.reason === 'NoPodCIDR');
  const unmanaged = desired.skipped.filter((s) => s.reason === 'UnmanagedNode');
  const refused = desired.skipped.filter(isRefusal);
  for (const s of waiting) f.add('warn', `node ${s.node}: no pod CIDR yet`, fix.podCidrs(config));
  for (const s of unmanaged)
    f.add('ok', `node ${s.node}: not an Azure VM (kubernetes.azure.com/managed=false), no route`);
  for (const s of refused)
    f.add(
      'fail',
      `node ${s.node}${s.cidr ? ` ${s.cidr}` : ''}: ${s.reason}: ${s.message}`,
      fix.inspectNode(s.node),
    );
  for (const line of notYetRouted(judgement)) f.add('ok', line);
  const routable = new Set(desired.routes.map((r) => r.node)).size;
  return f.result(
    'nodes',
    () =>
      `${judgement.nodes.length} node(s): ${routable} routable, ${waiting.length} without a pod CIDR yet, ${new Set(refused.map((s) => s.node)).size} refused`,
  );
}

/** Routable nodes whose routes are not in place yet, and why (the plan's pending actions). */
function notYetRouted(judgement: Judgement): string[] {
  const out: string[] = [];
  for (const view of judgement.plans) {
    const where = label(view.ref);
    for (const c of view.plan.creates)
      out.push(`node ${c.desired.node}: not yet routed in ${where} (route ${c.desired.cidr} to be created)`);
    for (const u of view.plan.updates)
      out.push(
        `node ${u.desired.node}: not yet routed in ${where} (route ${u.desired.cidr} points to ${u.from.nextHopIpAddress ?? u.from.nextHopType})`,
      );
    for (const c of view.plan.conflicts)
      out.push(
        `node ${c.desired.node}: not routed in ${where} (${c.desired.cidr} held by foreign route ${c.existing.name})`,
      );
    for (const o of view.plan.overLimit)
      out.push(`node ${o.node}: not routed in ${where} (over the route limit)`);
  }
  return out;
}

export function planCheck(world: World, judgement: Judgement): CheckResult {
  const f = new Findings();
  const planned = new Set(judgement.plans.map((p) => tableId(p.ref)));
  for (const table of world.tables) {
    if (!planned.has(tableId(table.ref)))
      f.add('warn', `${label(table.ref)}: not planned (the table was not read)`);
  }
  let creates = 0;
  let updates = 0;
  let deletes = 0;
  for (const view of judgement.plans) {
    const p = view.plan;
    creates += p.creates.length;
    updates += p.updates.length;
    deletes += p.deletes.length;
    const line =
      `${label(view.ref)}: ${p.creates.length} create, ${p.updates.length} update, ${p.deletes.length} delete, ` +
      `${p.keeps.length} keep, ${p.conflicts.length} conflict, ${p.overLimit.length} over limit` +
      `${p.redrive ? ', re-drive (table or a route not Succeeded)' : ''}` +
      `${view.withheldDeletes > 0 ? `, ${view.withheldDeletes} delete(s) withheld (empty node list)` : ''}`;
    if (p.conflicts.length > 0 || p.overLimit.length > 0) f.add('fail', line, fix.SYNC_DRY_RUN);
    else if (view.changes) f.add('warn', line, fix.SYNC);
    else f.add('ok', `${line}: in sync`);
  }
  return f.result('plan', (s) =>
    s === 'ok'
      ? 'sync-routes would change nothing'
      : `sync-routes would create ${creates}, update ${updates}, delete ${deletes}${s === 'fail' ? ', and could not place every route' : ''}`,
  );
}

function subnetOf(
  nic: {
    ipConfigurations: readonly { privateIPAddress?: string | undefined; subnetId?: string | undefined }[];
  },
  ip: string | undefined,
): string | undefined {
  const holding = nic.ipConfigurations.find((c) => c.privateIPAddress === ip) ?? nic.ipConfigurations[0];
  return holding?.subnetId;
}

/** The subnet of the first node whose NIC is known, for a fix that must name one. */
function nodeSubnet(world: World): string | undefined {
  for (const n of world.nics) {
    if (n.nic.ok && n.nic.value) {
      const id = subnetOf(n.nic.value, n.ip);
      if (id) return id;
    }
  }
  return undefined;
}

function shortSubnet(id: string): string {
  const m = /\/virtualNetworks\/([^/]+)\/subnets\/([^/]+)$/i.exec(id);
  return m ? `${m[1]}/${m[2]}` : id;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}
