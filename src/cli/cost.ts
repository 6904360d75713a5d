// pgha cost: what a stack costs per month, from the resources its program registers under the
// same mocks as `pgha plan`, priced at AWS's on-demand list prices (src/cost/prices.ts), beside
// RDS for PostgreSQL of the same class and storage.
import * as fs from "fs";
import type { Command } from "commander";
import { PROJECT_ROOT } from "../config/stack-file";

// Loaded when the command runs (the harness loads the Pulumi SDK): `pgha --help` stays fast.
const costModules = async () => ({
  ...(await import("../cost/shipped")),
  ...(await import("../cost/format")),
});

class CostCliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

export function registerCostCommand(program: Command): void {
  program
    .command("cost")
    .summary("monthly cost of a stack at AWS on-demand list prices, beside RDS Multi-AZ of the same class")
    .description(
      "monthly cost of a stack at AWS on-demand list prices (dated, in src/cost/prices.ts): every resource its program registers (under the mocks of `plan`), each assumption beside the figure it drives, and RDS for PostgreSQL (Multi-AZ DB cluster and Multi-AZ DB instance) of the same class and storage",
    )
    .option("-s, --stack <stack>", "stack name (dev, staging, prod) or path to a Pulumi.<stack>.yaml")
    .option("--json", "machine-readable: {currency, region, priceDate, monthly: {total, lines}, assumptions, comparison}")
    .option("--readme", "rewrite the cost table of README.md from every shipped stack (Pulumi.<stack>.yaml)")
    .addHelpText("after", "\nExamples:\n  npx pgha cost --stack prod\n  npx pgha cost --stack staging --json\n  npx pgha cost --readme")
    .action(async (opts: { stack?: string; json?: boolean; readme?: boolean }) => {
      const m = await costModules();
      if (opts.readme) {
        const costs = await m.shippedCosts(PROJECT_ROOT);
        const file = m.readmePath(PROJECT_ROOT);
        fs.writeFileSync(file, m.readmeWithCostTable(fs.readFileSync(file, "utf8"), costs));
        process.stdout.write(costs.map((c) => `${c.stack}: ${m.usd(c.monthly.total)} per month`).join("\n") + "\nREADME.md cost table updated\n");
        for (const u of m.unpricedShippedStacks(PROJECT_ROOT)) process.stderr.write(`${u.stack}: not in the table, src/cost/prices.ts has no prices for ${u.region}\n`);
        if (!opts.stack) return;
      }
      if (!opts.stack) throw new CostCliError("pgha cost: --stack <stack> is required (or --readme)", 2);
      let cost;
      try {
        cost = await m.costOfStack(PROJECT_ROOT, opts.stack);
      } catch (e) {
        throw new CostCliError(`pgha cost: ${(e as Error).message}`, 2);
      }
      process.stdout.write(opts.json ? JSON.stringify(m.costJson(cost), null, 2) + "\n" : m.formatCostText(cost));
    });
}
