// `pgha restart --stack <s> --instance-ids <file>`: the rolling restart of a stack on AWS, run
// from the operator's machine over SSM Run Command — the same procedure (src/rollout/restart.ts)
// as `npx pgha sandbox restart`: replicas one at a time, one switchover, the old leader last.
import { Command } from "commander";
import { loadStack } from "../config/stack-file";
import { formatRestart, runRestart } from "../rollout/restart";
import { ssmTransport } from "../rollout/ssm";
import { readInstanceIds } from "./restore";

export function registerRestartCommand(program: Command): void {
  program
    .command("restart")
    .description("rolling restart of a stack on AWS over SSM: replicas one at a time, one switchover, the old leader last (--pending: only what a change left pending, etcd and HAProxy too); the sandbox has `sandbox restart`")
    .requiredOption("-s, --stack <stack>", "stack name or path to its Pulumi.<stack>.yaml (region and nodes come from it)")
    .requiredOption("--instance-ids <file>", "node name → instance id as JSON: `pulumi stack output instanceIds --json > ids.json` (- reads stdin)")
    .option("--pending", "only what is pending a restart, on every role")
    .option("--member <name>", "only this node (the leader is switched over first)")
    .option("--json", "print the report as JSON")
    .action(async (opts: { stack: string; instanceIds: string; pending?: boolean; member?: string; json?: boolean }) => {
      const { spec } = loadStack(opts.stack);
      const transport = ssmTransport({
        region: spec.region,
        instanceIds: readInstanceIds(opts.instanceIds, spec.nodes.map((n) => n.name)),
        aws: process.env.PGHA_AWS_CLI,
        pollMs: process.env.PGHA_SSM_POLL_MS ? Number(process.env.PGHA_SSM_POLL_MS) : undefined,
      });
      const r = await runRestart({ transport, nodes: spec.nodes, pendingOnly: opts.pending, member: opts.member, log: (l) => process.stderr.write(`[restart] ${l}\n`) });
      process.stdout.write(`${opts.json ? JSON.stringify(r, null, 2) : formatRestart(r)}\n`);
      process.exitCode = r.ok ? 0 : 1;
    });
}
