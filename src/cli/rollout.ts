// `pgha rollout --transport ssm`: what `pulumi up` runs (components/rollout.ts) to converge the
// running nodes of a stack to their new bundles over SSM Run Command. The plan (region, and per
// node its role, bundle hash and instance id) comes from PGHA_ROLLOUT_PLAN or --plan <file>.
import * as fs from "fs";
import { Command } from "commander";
import { formatRollout, runRollout, type RolloutPlan } from "../rollout/rollout";
import { ssmTransport } from "../rollout/ssm";
import { formatRestart, restartAfterRollout } from "../rollout/restart";

function readPlan(file?: string): RolloutPlan {
  const text = file ? fs.readFileSync(file === "-" ? 0 : file, "utf8") : process.env.PGHA_ROLLOUT_PLAN;
  if (!text) throw Object.assign(new Error("no rollout plan: set PGHA_ROLLOUT_PLAN (pulumi up does) or pass --plan <file>"), { exitCode: 2 });
  const plan = JSON.parse(text) as RolloutPlan;
  if (!plan.region || !Array.isArray(plan.nodes) || plan.nodes.some((n) => !n.name || !n.role || !/^[0-9a-f]{64}$/.test(n.hash) || !n.instanceId)) {
    throw Object.assign(new Error("the rollout plan must be {region, nodes: [{name, role, hash (sha256), instanceId}]}"), { exitCode: 2 });
  }
  return plan;
}

export function registerRolloutCommand(program: Command): void {
  program
    .command("rollout")
    .description("converge a stack's running nodes to their bundles, one at a time (etcd, HAProxy, replicas, leader); run by `pulumi up`")
    .option("--transport <transport>", "how to reach the nodes: ssm (AWS Systems Manager Run Command)", "ssm")
    .option("--plan <file>", "the plan as JSON (default: $PGHA_ROLLOUT_PLAN)")
    .option("--json", "print the report as JSON")
    .action(async (opts: { transport: string; plan?: string; json?: boolean }) => {
      if (opts.transport !== "ssm") throw Object.assign(new Error(`--transport must be ssm (the sandbox rolls out with \`npx pgha sandbox apply\`), not ${opts.transport}`), { exitCode: 2 });
      const plan = readPlan(opts.plan);
      const transport = ssmTransport({
        region: plan.region,
        instanceIds: Object.fromEntries(plan.nodes.map((n) => [n.name, n.instanceId])),
        aws: process.env.PGHA_AWS_CLI,
        pollMs: process.env.PGHA_SSM_POLL_MS ? Number(process.env.PGHA_SSM_POLL_MS) : undefined,
      });
      const log = (l: string) => process.stderr.write(`[rollout] ${l}\n`);
      const report = await runRollout({ transport, nodes: plan.nodes, log });
      // What the rollout left pending is restarted now when the maintenance window allows it.
      const after = await restartAfterRollout({ transport, nodes: plan.nodes, rollout: report, window: plan.maintenanceWindow ?? null, log });
      const text = [formatRollout(report), ...(after.decision ? [`pending restarts: ${after.decision.reason}`] : []), ...(after.restart ? [formatRestart(after.restart)] : [])].join("\n");
      process.stdout.write(`${opts.json ? JSON.stringify({ ...report, afterRollout: after }, null, 2) : text}\n`);
      process.exitCode = report.ok && (after.restart?.ok ?? true) ? 0 : 1;
    });
}
