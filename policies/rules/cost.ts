// The budget promise (issue 17): the stack's monthly cost, estimated from the resources it
// registers exactly as `pgha cost` estimates it (src/cost: on-demand list prices of the stack's
// region, the stated assumptions), stays within the budget the stack states
// (objectives.monthlyBudgetUsd) or the rule's policy config sets. Mandatory in prod, advisory
// elsewhere, like every rule (rules/index.ts). A resource the price table cannot price is a
// violation too: an estimate that silently left it out would pass any budget.
import type { StackValidationPolicy } from "@pulumi/policy";
import { TIER_DEFAULTS } from "../../src/config/defaults";
import { backupSettings, estimateCost } from "../../src/cost/estimate";
import { usd } from "../../src/cost/format";
import { MissingPriceError } from "../../src/cost/prices";
import { configOf } from "./common";
import { stackContext, statedConfig, statedTier } from "./intent";

interface BudgetConfig {
  monthlyBudgetUsd?: number;
}

/** The region prices are read for when neither the stack config nor the engine says (the program's default). */
export const DEFAULT_COST_REGION = "eu-west-1";

export const monthlyBudget: StackValidationPolicy = {
  name: "monthly-budget",
  description: "The stack's estimated monthly cost (`pgha cost`: on-demand list prices, stated assumptions) is within its stated budget (objectives.monthlyBudgetUsd).",
  severity: "medium",
  tags: ["cost", "promise"],
  configSchema: { properties: { monthlyBudgetUsd: { type: "number", minimum: 1, description: "the budget in USD per month (default: the stack's objectives.monthlyBudgetUsd)" } } },
  remediationSteps: "Run `npx pgha cost --stack <stack>` to see every priced line; choose smaller instance types or fewer nodes, lower the data volumes' IOPS/throughput or the backup retention — or state a realistic `objectives.monthlyBudgetUsd`.",
  validateStack: (args, report) => {
    const stated = statedConfig();
    const fromPolicy = configOf<BudgetConfig>(args, {}).monthlyBudgetUsd;
    const budget = typeof fromPolicy === "number" ? { value: fromPolicy, source: "policy config" } : typeof stated?.objectives.monthlyBudgetUsd === "number" ? { value: stated.objectives.monthlyBudgetUsd, source: "objectives.monthlyBudgetUsd in the stack config" } : undefined;
    if (!budget) args.notApplicable("the stack states no budget (objectives.monthlyBudgetUsd)");
    const region = stackContext().config?.["aws:region"] ?? stated?.region ?? DEFAULT_COST_REGION;
    const tier = stated?.tier ?? statedTier() ?? "prod";
    const backup = backupSettings(stated ?? TIER_DEFAULTS[tier]);
    const resources = args.resources.map((r) => ({ type: r.type, name: r.name, inputs: r.props }));
    let total: number;
    let top: string;
    try {
      const estimate = estimateCost({ region, resources, backup });
      total = estimate.monthly.total;
      top = [...estimate.monthly.lines].sort((a, b) => b.monthly - a.monthly).slice(0, 3).map((l) => `${l.resource} ${usd(l.monthly)}`).join(", ");
    } catch (e) {
      if (!(e instanceof MissingPriceError)) throw e;
      report(`the monthly cost cannot be estimated, so the budget of ${usd(budget!.value)} cannot be verified: ${e.message}`);
      return;
    }
    if (total > budget!.value) {
      report(`estimated ${usd(total)} per month (on-demand list prices, ${region}) exceeds the budget of ${usd(budget!.value)} (${budget!.source}); largest: ${top}.`);
    }
  },
};
