// `pgha restore --stack <s> --instance-ids <file>`: the in-place restore of a stack on AWS, run
// from the operator's machine over SSM Run Command — the same procedure (src/restore/in-place.ts)
// and guard rails as `npx pgha sandbox restore --in-place`: a plan first, --yes or a typed
// confirmation, every target validated on the leader before anything stops, the old data kept
// aside until the restored cluster is healthy and put back if the restore fails.
import * as fs from "fs";
import * as readline from "readline";
import { Command } from "commander";
import { loadStack } from "../config/stack-file";
import { nodesOf } from "../spec";
import { NODE_PATHS } from "../node-paths";
import { formatPlan, planInPlace, runInPlace, RestoreRefusedError, type InPlacePlan, type RestoreType } from "../restore/in-place";
import { ssmTransport } from "../rollout/ssm";

const TYPES: RestoreType[] = ["time", "xid", "lsn", "name", "immediate"];
const refuse = (message: string) => Object.assign(new Error(message), { exitCode: 2 });

/** `pulumi stack output instanceIds --json`: node name → instance id. */
export function readInstanceIds(file: string, members: string[]): Record<string, string> {
  let ids: Record<string, string>;
  try {
    ids = JSON.parse(fs.readFileSync(file === "-" ? 0 : file, "utf8"));
  } catch (e) {
    throw refuse(`--instance-ids ${file}: not readable as JSON (${(e as Error).message}); write it with \`pulumi stack output instanceIds --json > ids.json\``);
  }
  const missing = members.filter((m) => typeof ids?.[m] !== "string" || !/^i-[0-9a-f]{8,17}$/.test(ids[m]));
  if (missing.length) throw refuse(`--instance-ids ${file}: no instance id (i-…) for ${missing.join(", ")}; the stack's members are ${members.join(", ")}`);
  return ids;
}

export function registerRestoreCommand(program: Command): void {
  program
    .command("restore")
    .description("restore a stack's cluster in place to a point in time, on AWS over SSM (a plan first, then --yes); the sandbox has `sandbox restore`")
    .requiredOption("-s, --stack <stack>", "stack name or path to its Pulumi.<stack>.yaml (region, cluster name and members come from it)")
    .requiredOption("--instance-ids <file>", "node name → instance id as JSON: `pulumi stack output instanceIds --json > ids.json` (- reads stdin)")
    .requiredOption("--type <type>", TYPES.join(", "))
    .option("--target <value>", "the time with a zone ('2026-11-25 10:00:00+00'), xid, LSN (0/3000060) or a catalogued restore point's name")
    .option("--set <label>", "restore this backup set")
    .option("--timeline <id>", "follow this timeline (a target on a timeline an earlier in-place restore abandoned)")
    .option("--yes", "go ahead without asking")
    .option("--dry-run", "print the plan and stop")
    .option("--json", "print the plan (--dry-run) or the result as JSON")
    .action(async (opts: { stack: string; instanceIds: string; type: string; target?: string; set?: string; timeline?: string; yes?: boolean; dryRun?: boolean; json?: boolean }) => {
      if (!TYPES.includes(opts.type as RestoreType)) throw refuse(`--type must be ${TYPES.join(", ")}, not ${opts.type}`);
      if (opts.timeline !== undefined && !/^[1-9]\d*$/.test(opts.timeline)) throw refuse(`--timeline must be a timeline id (a positive integer), not ${opts.timeline}`);
      const { spec } = loadStack(opts.stack);
      const members = nodesOf(spec, "postgres").map((n) => n.name);
      const transport = ssmTransport({
        region: spec.region,
        instanceIds: readInstanceIds(opts.instanceIds, members),
        aws: process.env.PGHA_AWS_CLI,
        pollMs: process.env.PGHA_SSM_POLL_MS ? Number(process.env.PGHA_SSM_POLL_MS) : undefined,
      });
      const log = (l: string) => process.stderr.write(`[restore] ${l}\n`);
      const options = { transport, cluster: spec.scope, members, dataDir: NODE_PATHS.dataDir, log };
      let plan: InPlacePlan;
      try {
        plan = await planInPlace(options, { type: opts.type as RestoreType, target: opts.target, set: opts.set, timeline: opts.timeline ? Number(opts.timeline) : undefined });
      } catch (e) {
        if (e instanceof RestoreRefusedError) throw refuse(e.message);
        throw e;
      }
      if (opts.dryRun) {
        process.stdout.write(opts.json ? `${JSON.stringify(plan, null, 2)}\n` : `${formatPlan(plan)}\n(dry run: nothing was changed; run again with --yes to restore)\n`);
        return;
      }
      process.stderr.write(`${formatPlan(plan)}\n`);
      let yes = Boolean(opts.yes);
      if (!yes && process.stdin.isTTY) {
        const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
        const answer = await new Promise<string>((resolve) => rl.question(`Type the cluster's name (${plan.cluster}) to restore it in place, anything else to stop: `, resolve));
        rl.close();
        yes = answer.trim() === plan.cluster;
      }
      if (!yes) throw refuse("restore not confirmed, nothing was stopped: pass --yes (or answer the prompt with the cluster's name) to restore in place");
      const r = await runInPlace(options, plan);
      process.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : `${r.message}${r.next ? `\nnext: ${r.next}` : ""}\n`);
      process.exitCode = r.ok ? 0 : 1;
    });
}
