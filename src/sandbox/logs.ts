// Central logs from the machine (`npx pgha sandbox logs`): every node's journal as the monitoring
// node received it (systemd-journal-remote, one journal per host under NODE_PATHS.journalRemoteDir),
// read with journalctl on mon1 — the same files an operator reads there on EC2.
import { nodesOf, type ClusterSpec } from "../spec";
import { NODE_PATHS } from "../node-paths";
import { hostExec } from "./hosts/exec";

export interface LogsQuery {
  /** Only this node's entries (its _HOSTNAME: the node's name, which cloud-init sets). */
  host?: string;
  /** journalctl --since (e.g. "10 min ago", "2025-01-01 12:00"). */
  since?: string;
  /** journalctl -g: entries whose message matches (PCRE, case-insensitive when all lower case). */
  grep?: string;
  /** The last N entries. */
  lines?: number;
  /** One JSON object per line (journalctl -o json) instead of short-iso text. */
  json?: boolean;
}

function usageError(message: string): Error {
  return Object.assign(new Error(message), { exitCode: 2 });
}

/** The monitoring node and journalctl's arguments for the query; a usage error (exit 2) when there is no monitoring node or the host is not a node. */
export function logsCommand(spec: Pick<ClusterSpec, "stack" | "nodes">, q: LogsQuery): { host: string; argv: string[] } {
  const mon = nodesOf(spec as ClusterSpec, "monitor")[0];
  if (!mon) throw usageError(`stack ${spec.stack} has no monitoring node (monitoring.enabled is false): no central logs`);
  if (q.host !== undefined && !spec.nodes.some((n) => n.name === q.host)) {
    throw usageError(`${q.host} is not a node of stack ${spec.stack}: its nodes are ${spec.nodes.map((n) => n.name).join(", ")}`);
  }
  if (q.lines !== undefined && (!Number.isInteger(q.lines) || q.lines < 1)) throw usageError(`-n ${q.lines}: a number of lines, 1 or more`);
  // -q: no "-- Boot … --" separators (a node rebooted or power-cut during the span) or hints.
  const argv = ["journalctl", `--directory=${NODE_PATHS.journalRemoteDir}`, "--no-pager", "-q", "-o", q.json ? "json" : "short-iso"];
  if (q.since) argv.push("--since", q.since);
  if (q.grep) argv.push("-g", q.grep);
  if (q.lines !== undefined) argv.push("-n", String(q.lines));
  if (q.host) argv.push(`_HOSTNAME=${q.host}`);
  return { host: mon.name, argv };
}

export type Exec = (host: string, argv: readonly string[]) => Promise<{ code: number | null; stdout: string; stderr: string }>;

/** The matching lines of the central logs (no match: none; journalctl -g exits 1 then). */
export async function centralLogs(sb: { spec: Pick<ClusterSpec, "stack" | "nodes"> }, q: LogsQuery, exec: Exec = hostExec): Promise<string[]> {
  const { host, argv } = logsCommand(sb.spec, q);
  const r = await exec(host, argv);
  // Entries start with their time (or "{" with --json); journalctl's own markers ("-- Boot … --",
  // "-- No entries --") are not entries, even where -q leaves one.
  const lines = r.stdout.split("\n").filter((l) => l.length > 0 && !/^-- .* --$/.test(l));
  // journalctl -g exits 1 when nothing matched: no lines, not a failure.
  const noMatch = r.code === 1 && lines.length === 0 && q.grep !== undefined;
  if (r.code !== 0 && !noMatch) throw new Error(`journalctl on ${host} failed (${r.code}): ${r.stderr.trim()}`);
  return lines;
}
