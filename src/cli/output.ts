// Renders a SyncReport for people (text) or programs (JSON). Pure string building; the caller writes it.
import type { RouteRow, SyncReport, TableReport } from '../controller/report.ts';
import { isRefusal } from '../domain/desired.ts';

export function renderJson(report: SyncReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

export function renderText(report: SyncReport): string {
  const out: string[] = [];
  for (const table of report.tables) out.push(...renderTable(table, report.dryRun), '');

  const refused = report.skipped.filter(isRefusal);
  const waiting = report.skipped.filter((s) => !isRefusal(s));
  if (refused.length > 0) {
    out.push('Refused nodes (no route):');
    out.push(...grid(refused.map((s) => ['  ' + s.node, s.cidr ?? '-', s.reason, s.message])));
    out.push('');
  }
  if (waiting.length > 0) {
    out.push(`Nodes without a pod CIDR yet (not an error): ${waiting.map((s) => s.node).join(', ')}`, '');
  }

  const changedConditions = report.conditions.filter(
    (c) => c.result !== 'unchanged' && c.result !== 'disabled',
  );
  if (changedConditions.length > 0) {
    out.push(report.dryRun ? 'Node conditions (would set):' : 'Node conditions:');
    out.push(
      ...grid(
        changedConditions.map((c) => [
          '  ' + c.node,
          `NetworkUnavailable=${c.status}`,
          c.reason,
          c.result + (c.error ? `: ${c.error}` : ''),
        ]),
      ),
    );
    out.push('');
  }
  for (const w of report.warnings) out.push(`warning: ${w}`);

  const s = report.summary;
  const verdict: Record<SyncReport['result'], string> = {
    InSync: 'in sync, nothing to change',
    Applied: 'changes applied',
    PendingChanges: 'dry run: changes pending, nothing written',
    Failed: 'FAILED (see above)',
  };
  out.push(
    `Summary: ${s.create} create, ${s.update} update, ${s.delete} delete, ${s.keep} keep, ${s.conflict} conflict, ` +
      // Shown only when there are any, so the line people and scripts know stays as it was.
      `${s.overLimit} over limit, ${s.rejected > 0 ? `${s.rejected} rejected by Azure, ` : ''}` +
      `${s.refused} refused node CIDR(s); ` +
      `${s.writes} table write(s)${s.redrives > 0 ? ` (${s.redrives} re-drive(s))` : ''}. ` +
      `Result: ${verdict[report.result]} (exit ${report.exitCode}).`,
  );
  return out.join('\n') + '\n';
}

function renderTable(t: TableReport, dryRun: boolean): string[] {
  const out = [`Route table ${t.name} (resource group ${t.resourceGroup}, subscription ${t.subscriptionId})`];
  const rows: string[][] = [['  ACTION', 'NAME', 'PREFIX', 'NEXT HOP', 'NODE']];
  const hop = (r: { nextHopType: string; nextHopIpAddress?: string | undefined }) =>
    r.nextHopType === 'VirtualAppliance'
      ? (r.nextHopIpAddress ?? '?')
      : `${r.nextHopType}${r.nextHopIpAddress ? ' ' + r.nextHopIpAddress : ''}`;
  const add = (action: string, r: RouteRow, nextHop = hop(r)) =>
    rows.push(['  ' + action, r.name, r.addressPrefix, nextHop, r.node ?? '-']);
  // A kept route that did not read Succeeded is not in effect until the re-drive PUT: say so on its row.
  for (const r of t.actions.keep)
    add(notSucceeded(r.provisioningState) ? `keep (${r.provisioningState})` : 'keep', r);
  for (const r of t.actions.create) add('create', r);
  for (const r of t.actions.update) add('update', r, `${hop(r.from)} -> ${hop(r)}`);
  for (const r of t.actions.delete) add('delete', r);
  for (const c of t.actions.conflict) {
    // A foreign route holding our route's name has a prefix of its own: show both, so the row is not misread.
    const held =
      c.kind === 'NameHeldByForeignRoute'
        ? `name held by foreign ${c.existing.addressPrefix} via ${hop(c.existing)}, left alone`
        : `${hop(c.existing)} (foreign, left alone)`;
    rows.push(['  conflict', c.existing.name, c.addressPrefix, held, c.node]);
  }
  for (const o of t.actions.overLimit) rows.push(['  over-limit', '-', o.addressPrefix, '-', o.node]);
  for (const r of t.rejected) rows.push(['  rejected', '-', r.addressPrefix, 'refused by Azure', r.node]);
  if (rows.length > 1) out.push(...grid(rows));
  else out.push('  (no routes of ours, and no node wants one)');
  out.push(`  foreign routes left untouched: ${t.foreignRoutes}`);
  for (const w of t.warnings) out.push(`  warning: ${w}`);
  for (const r of t.rejected) out.push(`  rejected by Azure: ${r.node} ${r.addressPrefix}: ${r.message}`);
  if (t.redrive) {
    out.push(
      `  re-drive: ${redriveCause(t)}; ` +
        (dryRun
          ? 'a sync without --dry-run re-writes it as it stands'
          : 're-written as it stands with a guarded PUT'),
    );
  }
  if (t.error) out.push(`  error: ${t.error.message}`);
  const status: Record<TableReport['status'], string> = {
    InSync: 'in sync',
    Applied: `${t.redrive ? 're-driven' : 'applied'} (${t.writes} write${t.writes === 1 ? '' : 's'}, Azure reported Succeeded)`,
    WouldApply: 'would apply (dry run)',
    NotFound: t.created && dryRun ? 'not found; would be created (dry run)' : 'not found',
    Failed: 'FAILED',
  };
  out.push(`  status: ${t.created && !dryRun ? 'created, ' : ''}${status[t.status]}`);
  if (t.routes) {
    out.push(`  routes now in ${t.name}${dryRun ? ' (as they would be)' : ''}:`);
    out.push(...grid(t.routes.map((r) => ['    ' + r.name, r.addressPrefix, hop(r)])));
  }
  return out;
}

function redriveCause(t: TableReport): string {
  const state = t.provisioningStateRead;
  return state !== undefined && notSucceeded(state)
    ? `the table read ${state}`
    : 'a route of ours in the table did not read Succeeded';
}

function notSucceeded(state: string | undefined): boolean {
  return state !== undefined && state.toLowerCase() !== 'succeeded';
}

/** Left-aligned columns; the last column is not padded. */
function grid(rows: readonly string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '),
  );
}
