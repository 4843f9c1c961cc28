// The plan sync-routes would make right now, from the same nodes and tables, by the same pure planner.
import type { TableRef } from '../azure/types.ts';
import type { CommonConfig } from '../config/types.ts';
import { desiredRoutes } from '../domain/desired.ts';
import { hasChanges, planTable } from '../domain/planner.ts';
import type { DesiredState, NodeInfo, TablePlan } from '../domain/types.ts';
import type { World } from './types.ts';

export interface TablePlanView {
  readonly ref: TableRef;
  readonly plan: TablePlan;
  readonly changes: boolean;
  /** Deletes held back because the node list is empty (DESIGN 2.6), as sync-routes holds them back. */
  readonly withheldDeletes: number;
}

export interface Judgement {
  readonly nodes: readonly NodeInfo[];
  readonly desired: DesiredState | undefined;
  /** One per table that could be read (and exists). */
  readonly plans: readonly TablePlanView[];
}

export function judge(world: World, config: CommonConfig): Judgement {
  const nodes = world.nodes.ok ? world.nodes.value.map((n) => n.info) : [];
  if (!world.nodes.ok) return { nodes, desired: undefined, plans: [] };
  const desired = desiredRoutes(nodes, config.planner);
  const withhold = nodes.length === 0 && !config.allowEmptyNodeList;
  const plans: TablePlanView[] = [];
  for (const table of world.tables) {
    if (!table.snapshot.ok || table.snapshot.value === null) continue;
    const snapshot = table.snapshot.value;
    let plan = planTable(desired, snapshot.routes, config.planner, {
      tableProvisioningState: snapshot.provisioningState,
    });
    let withheldDeletes = 0;
    if (withhold && plan.deletes.length > 0) {
      withheldDeletes = plan.deletes.length;
      plan = { ...plan, deletes: [] };
    }
    plans.push({ ref: table.ref, plan, changes: hasChanges(plan), withheldDeletes });
  }
  return { nodes, desired, plans };
}
