// A stack's cost from a recorded run of its program (src/plan/run.ts): the resources it
// registered, its region (aws:region) and its backup settings (the resolved stack config).
import { loadStackConfig } from "../config/load";
import type { ProgramRun } from "../plan/run";
import { DEFAULT_ASSUMPTIONS, type AssumptionValues } from "./assumptions";
import type { CostResource } from "./catalog";
import { backupSettings, estimateCost, postgresInstances, type CostEstimate } from "./estimate";
import { MissingPriceError } from "./prices";
import { compareWithRds, type RdsComparison } from "./rds";

export interface StackCost extends CostEstimate {
  stack: string;
  tier: string;
  /** The stack's stated objectives.monthlyBudgetUsd (null: none). */
  budget: number | null;
  comparison: RdsComparison | null;
  /**
   * The PostgreSQL members alone — their instances, root and data volumes, detailed monitoring
   * and the WAL sent to standbys — without etcd, HAProxy, the network and the backups: the part
   * of the stack that does what the RDS options do.
   */
  postgresNodesMonthly: number;
  /** Why there is no comparison (e.g. no RDS price for the class). */
  comparisonUnavailable?: string;
}

/**
 * The run's resources in name order. Registration order is not stable: an instance registers once
 * its inputs resolve, and the image plan (components/imageRoll.ts) resolves them all together, so
 * the lines of an estimate would otherwise change order from run to run.
 */
export function costResourcesOf(run: Pick<ProgramRun, "resources">): CostResource[] {
  return [...run.resources]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.type < b.type ? -1 : a.type > b.type ? 1 : 0))
    .map((r) => ({ type: r.type, name: r.name, custom: r.custom, inputs: r.inputs }));
}

export function stackCost(run: Pick<ProgramRun, "stack" | "config" | "resources">, assumptions: Partial<AssumptionValues> = {}): StackCost {
  const region = run.config["aws:region"];
  if (!region) throw new MissingPriceError(`stack ${run.stack} states no aws:region: prices are per region`);
  const config = loadStackConfig(run.config, { stack: run.stack, region });
  const resources = costResourcesOf(run);
  const estimate = estimateCost({ region, resources, backup: backupSettings(config), assumptions });
  const members = new Set(postgresInstances(resources));
  const nodesOnly = estimateCost({ region, resources: resources.filter((r) => members.has(r) || r.type === "aws:ebs/volume:Volume"), backup: backupSettings(config), assumptions });
  let comparison: RdsComparison | null = null;
  let comparisonUnavailable: string | undefined;
  try {
    const hours = assumptions.hoursPerMonth ?? DEFAULT_ASSUMPTIONS.hoursPerMonth;
    comparison = compareWithRds(region, resources, estimate.monthly.total, hours);
  } catch (e) {
    if (!(e instanceof MissingPriceError)) throw e;
    comparisonUnavailable = e.message;
  }
  return {
    stack: run.stack,
    tier: config.tier,
    budget: config.objectives.monthlyBudgetUsd,
    ...estimate,
    comparison,
    postgresNodesMonthly: nodesOnly.monthly.total,
    ...(comparisonUnavailable ? { comparisonUnavailable } : {}),
  };
}
