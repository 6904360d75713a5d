// `pgha logs --stack <s> --instance-ids <file> [host]`: the central logs of a stack on AWS — the
// journals every node sent to the monitoring node — read with journalctl on mon1 over SSM Run
// Command, the same query `npx pgha sandbox logs` runs on the sandbox's mon1.
import { Command } from "commander";
import { loadStack } from "../config/stack-file";
import { centralLogs, logsCommand } from "../sandbox/logs";
import { ssmTransport } from "../rollout/ssm";
import { readInstanceIds } from "./restore";

/** What get-command-invocation returns of a command's output at most: more is cut off by SSM. */
export const SSM_OUTPUT_LIMIT = 24_000;
/** Without -n, the last this many entries: SSM's inline output holds a few hundred lines. */
export const DEFAULT_LINES = 200;

export function registerLogsCommand(program: Command): void {
  program
    .command("logs [host]")
    .description("central logs of a stack on AWS: every node's journal as the monitoring node received it (journalctl on mon1 over SSM), or one host's; the sandbox has `sandbox logs`")
    .requiredOption("-s, --stack <stack>", "stack name or path to its Pulumi.<stack>.yaml (region and nodes come from it)")
    .requiredOption("--instance-ids <file>", "node name → instance id as JSON: `pulumi stack output instanceIds --json > ids.json` (- reads stdin); only the monitoring node's is used")
    .option("--since <time>", "only entries since this time (journalctl --since: \"10 min ago\", \"2025-01-01 12:00\")")
    .option("--grep <text>", "only entries whose message matches (journalctl -g)")
    .option("-n <lines>", `only the last <lines> entries (default ${DEFAULT_LINES}: SSM returns at most ${SSM_OUTPUT_LIMIT} characters)`)
    .option("--json", "one JSON object per entry (journalctl -o json)")
    .action(async (host: string | undefined, opts: { stack: string; instanceIds: string; since?: string; grep?: string; n?: string; json?: boolean }) => {
      const { spec } = loadStack(opts.stack);
      const query = { host, since: opts.since, grep: opts.grep, lines: opts.n === undefined ? DEFAULT_LINES : Number(opts.n), json: opts.json };
      const mon = logsCommand(spec, query).host; // validates the query and the stack before any AWS call
      const transport = ssmTransport({
        region: spec.region,
        instanceIds: readInstanceIds(opts.instanceIds, [mon]),
        aws: process.env.PGHA_AWS_CLI,
        pollMs: process.env.PGHA_SSM_POLL_MS ? Number(process.env.PGHA_SSM_POLL_MS) : undefined,
      });
      let cut = false;
      const lines = await centralLogs({ spec }, query, async (node, argv) => {
        const r = await transport.run(node, [...argv], 120_000);
        cut = r.stdout.length >= SSM_OUTPUT_LIMIT;
        // SSM keeps the first 24 000 characters: the last line may be a fragment.
        return cut ? { ...r, stdout: r.stdout.slice(0, r.stdout.lastIndexOf("\n") + 1) } : r;
      });
      for (const l of lines) process.stdout.write(`${l}\n`);
      if (cut) {
        process.stderr.write(`pgha logs: the answer reached SSM's limit of ${SSM_OUTPUT_LIMIT} characters: the newest entries are cut off after the ${lines.length} shown. Narrow it (--since, --grep, a smaller -n, a host) or read on ${mon} itself: aws ssm start-session --region ${spec.region} --target <${mon}'s instance id>, then journalctl --directory=/var/log/journal/remote\n`);
        process.exitCode = 3;
      }
    });
}
