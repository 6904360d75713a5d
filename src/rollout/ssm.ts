// The rollout's transport on AWS: SSM Run Command (AWS-RunShellScript) through awscli v2 on the
// machine that runs `pulumi up`, with its credentials. Waits until an instance is online in SSM
// (a new instance installs its packages first), runs one command on one instance, waits for
// the result and returns its output — what `sandbox exec` does in the sandbox.
import { spawn } from "child_process";
import type { CommandOutcome, Transport } from "./rollout";

export interface SsmTransportOptions {
  region: string;
  /** Instance id of every node, by node name. */
  instanceIds: Record<string, string>;
  /** How long a node may take to come online in SSM (first boot: packages, bootstrap). */
  onlineTimeoutSeconds?: number;
  /** awscli to call (tests put a stub first on PATH). */
  aws?: string;
  pollMs?: number;
}

function runAws(aws: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(aws, args, { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", (e) => reject(new Error(`cannot run ${aws}: ${e.message} (the rollout needs awscli v2 where pulumi up runs)`)));
    child.on("close", (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  });
}

/** POSIX-sh quoting of one argument (AWS-RunShellScript runs /bin/sh). */
export function shQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function ssmTransport(opts: SsmTransportOptions): Transport {
  const aws = opts.aws ?? "aws";
  const region = ["--region", opts.region];
  const pollMs = opts.pollMs ?? 3000;
  const online = new Set<string>();
  const idOf = (node: string) => {
    const id = opts.instanceIds[node];
    if (!id) throw new Error(`no instance id for node ${node}`);
    return id;
  };
  async function waitOnline(node: string): Promise<void> {
    const id = idOf(node);
    if (online.has(id)) return;
    const deadline = Date.now() + (opts.onlineTimeoutSeconds ?? 1800) * 1000;
    for (;;) {
      const r = await runAws(aws, ["ssm", "describe-instance-information", ...region, "--filters", `Key=InstanceIds,Values=${id}`, "--query", "InstanceInformationList[0].PingStatus", "--output", "text"]);
      if (r.code === 0 && r.stdout.trim() === "Online") break;
      if (Date.now() > deadline) {
        throw new Error(`${node} (${id}) is not online in SSM after ${opts.onlineTimeoutSeconds ?? 1800} s: check that its SSM agent runs and reaches the SSM endpoints (docs/aws.md, "Reaching a node"), then run pulumi up again`);
      }
      await sleep(pollMs);
    }
    online.add(id);
  }
  return {
    name: "SSM",
    howToReach: (node) => `aws ssm start-session --region ${opts.region} --target ${opts.instanceIds[node] ?? "<instance id>"}`,
    async run(node: string, argv: string[], timeoutMs: number): Promise<CommandOutcome> {
      await waitOnline(node);
      const id = idOf(node);
      const seconds = Math.ceil(timeoutMs / 1000);
      // A node that is still at its first boot finishes cloud-init (the bootstrap) first.
      const commands = ["cloud-init status --wait >/dev/null 2>&1 || true", argv.map(shQuote).join(" ")];
      const sent = await runAws(aws, [
        "ssm", "send-command", ...region, "--instance-ids", id, "--document-name", "AWS-RunShellScript",
        "--comment", `postgres-ha rollout: ${argv.slice(0, 2).join(" ")}`.slice(0, 100),
        "--timeout-seconds", String(Math.max(30, Math.min(seconds, 2592000))),
        "--parameters", JSON.stringify({ commands, executionTimeout: [String(seconds)] }),
        "--query", "Command.CommandId", "--output", "text",
      ]);
      if (sent.code !== 0) return { code: 255, stdout: "", stderr: `ssm send-command to ${node} (${id}) failed: ${sent.stderr.trim()}` };
      const commandId = sent.stdout.trim();
      const deadline = Date.now() + timeoutMs + 60_000;
      for (;;) {
        await sleep(pollMs);
        const r = await runAws(aws, ["ssm", "get-command-invocation", ...region, "--command-id", commandId, "--instance-id", id, "--output", "json"]);
        if (r.code === 0) {
          const inv = JSON.parse(r.stdout) as { Status: string; ResponseCode?: number; StandardOutputContent?: string; StandardErrorContent?: string };
          if (!["Pending", "InProgress", "Delayed"].includes(inv.Status)) {
            const code = inv.Status === "Success" ? 0 : inv.ResponseCode !== undefined && inv.ResponseCode > 0 ? inv.ResponseCode : 1;
            return { code, stdout: inv.StandardOutputContent ?? "", stderr: `${inv.StandardErrorContent ?? ""}${inv.Status === "Success" ? "" : `\n(SSM status ${inv.Status}, command ${commandId})`}` };
          }
        }
        if (Date.now() > deadline) return { code: 124, stdout: "", stderr: `SSM command ${commandId} on ${node} did not finish within ${seconds} s` };
      }
    },
  };
}
