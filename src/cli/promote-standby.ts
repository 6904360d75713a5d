// `pgha promote-standby --stack <standby> --instance-ids <file> [--old-stack <primary>
// --old-instance-ids <file>] [--fence-old] [--yes]`: the promotion of a standby cluster on AWS,
// run from the operator's machine over SSM Run Command — the steps, guards and result of
// `npx pgha sandbox promote-standby` (src/standby/promote.ts), each change made on the nodes by
// pgha-standby. The old primary's nodes are asked over SSM too: a region that is gone does not
// answer within --old-timeout, and the promotion goes on without it.
import { Command } from "commander";
import { loadStack } from "../config/stack-file";
import { nodesOf, PORTS, type ClusterSpec } from "../spec";
import { ssmTransport } from "../rollout/ssm";
import { formatPromotion, promoteStandbyCluster, type RegionCluster } from "../standby/promote";
import { readInstanceIds } from "./restore";

const refuse = (message: string) => Object.assign(new Error(message), { exitCode: 2 });

function regionCluster(spec: ClusterSpec, idsFile: string, onlineTimeoutSeconds: number): RegionCluster {
  const members = nodesOf(spec, "postgres").map((n) => n.name);
  return {
    stack: spec.stack,
    members,
    transport: ssmTransport({
      region: spec.region,
      instanceIds: readInstanceIds(idsFile, members),
      onlineTimeoutSeconds,
      aws: process.env.PGHA_AWS_CLI,
      pollMs: process.env.PGHA_SSM_POLL_MS ? Number(process.env.PGHA_SSM_POLL_MS) : undefined,
    }),
    readWrite: { host: spec.serviceNames.readWrite, port: PORTS.readWrite },
  };
}

export function registerPromoteStandbyCommand(program: Command): void {
  program
    .command("promote-standby")
    .description("promote a standby cluster (a stack with postgres-ha:standby) to a primary on AWS, over SSM: with --fence-old its old primary first follows it (nothing lost); refused while the old primary takes writes and is not fenced, unless --yes; the sandbox has `sandbox promote-standby`")
    .requiredOption("-s, --stack <stack>", "the standby stack (name or path to its Pulumi.<stack>.yaml)")
    .requiredOption("--instance-ids <file>", "its node name → instance id as JSON: `pulumi stack output instanceIds --json -s <stack> > ids.json`")
    .option("--old-stack <stack>", "the primary stack it follows (default: its postgres-ha:standby.primaryStack)")
    .option("--old-instance-ids <file>", "the old primary's node name → instance id JSON; without it its state cannot be checked and --yes is required")
    .option("--old-timeout <seconds>", "how long the old primary's nodes may take to answer over SSM before it counts as gone", "60")
    .option("--fence-old", "drain the old primary (read-only, writing sessions ended after 10 s), wait for the standby to replay it, then make it follow the promoted cluster (planned promotion: RPO 0); its VPC must resolve the standby's rw name (README)")
    .option("--yes", "promote although the old primary takes writes and is not fenced, or cannot be asked")
    .option("--json", "print {rpoBytes, rpoSeconds, promotedAt, firstWriteAt, …} as JSON")
    .action(async (opts: { stack: string; instanceIds: string; oldStack?: string; oldInstanceIds?: string; oldTimeout: string; fenceOld?: boolean; yes?: boolean; json?: boolean }) => {
      const { spec } = loadStack(opts.stack);
      if (!spec.standby) throw refuse(`stack ${spec.stack} is not a standby cluster (no postgres-ha:standby): nothing to promote`);
      const oldTimeout = Number(opts.oldTimeout);
      if (!Number.isInteger(oldTimeout) || oldTimeout < 5 || oldTimeout > 3600) throw refuse(`--old-timeout must be whole seconds from 5 to 3600, not ${opts.oldTimeout}`);
      if (opts.fenceOld && !opts.oldInstanceIds) throw refuse("--fence-old needs --old-instance-ids (the old primary's nodes are fenced over SSM)");
      const oldSpec = opts.oldInstanceIds ? loadStack(opts.oldStack ?? spec.standby.primaryStack).spec : undefined;
      const log = (l: string) => process.stderr.write(`[promote-standby] ${l}\n`);
      const r = await promoteStandbyCluster({
        standby: regionCluster(spec, opts.instanceIds, 120),
        old: oldSpec ? regionCluster(oldSpec, opts.oldInstanceIds!, oldTimeout) : undefined,
        fenceOld: opts.fenceOld,
        yes: opts.yes,
        log,
        stateTimeoutMs: (oldTimeout + 60) * 1000,
      });
      process.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatPromotion(r)}\n`);
      if (!r.backupAt) process.exitCode = 1;
    });
}
