// The rollout: converge every node of a running cluster to its desired bundle, in a safe order,
// stopping at the first failure with what to do next. One implementation, two transports: SSM
// Run Command on AWS (`pulumi up` runs it, components/rollout.ts) and `sandbox exec` locally
// (`npx pgha sandbox apply`). On each node it runs `pgha-node apply <hash> --json` (install what
// changed, reload what reloads, report pending restarts; never a PostgreSQL or etcd restart)
// and then `pgha-node check --wait` (the node's role is healthy again) before the next node.
//
// A leader the stack no longer lists (scale-in) hands over to a streaming member that stays
// before anything else changes: HAProxy and pg_hba must not drop it while it takes the writes.
//
// Order: the monitoring node first (it watches the rest of the rollout, and a change of its own
// touches no data path), etcd members one at a time (quorum is never at risk: each is healthy again before the
// next), then HAProxy nodes one at a time (clients always have one), then PostgreSQL replicas,
// the leader last (a change that misbehaves shows on a replica first).
import type { Role } from "../spec";

export interface CommandOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** How the rollout reaches a node: runs argv there as root. */
export interface Transport {
  /** Human name for messages: "SSM" or "sandbox exec". */
  readonly name: string;
  run(node: string, argv: string[], timeoutMs: number): Promise<CommandOutcome>;
  /** The command a person runs to look at a node after a failure. */
  howToReach(node: string): string;
}

/** What `pulumi up` hands the rollout (PGHA_ROLLOUT_PLAN): the region, and each node's bundle and instance. */
export interface RolloutPlan {
  region: string;
  /** maintenance.window: when the rollout may restart what it left pending (null: never; absent: null). */
  maintenanceWindow?: string | null;
  nodes: (RolloutNode & { instanceId: string })[];
}

export interface RolloutNode {
  name: string;
  role: Role;
  /** The bundle the node must run (sha256). */
  hash: string;
}

export interface NodeApplyResult {
  node: string;
  role: string;
  ok: boolean;
  oldHash: string | null;
  newHash: string;
  changed: string[];
  removed: string[];
  softwareInstalled: string | null;
  actions: string[];
  pendingRestart: { service: string; reason: string }[];
  message: string;
  /** Seconds from the start of this node's apply until its health check passed. */
  seconds: number;
}

export interface RolloutReport {
  ok: boolean;
  transport: string;
  order: string[];
  nodes: NodeApplyResult[];
  /** The leader the stack no longer lists, and the member it handed over to before anything changed. */
  handedOver?: { from: string; to: string; seconds: number };
  /**
   * The replicas that adopted the cluster's rotated passwords after the leader had set them
   * (postgres.credentialsVersion: in the first pass they keep the ones in use, reported pending).
   */
  credentialsAdopted?: string[];
  /** Set when the rollout stopped: what failed, and what to do next. */
  failure?: { node: string; step: "handover" | "apply" | "check" | "credentials"; message: string; next: string };
  seconds: number;
}

export class RolloutError extends Error {
  constructor(readonly report: RolloutReport) {
    super(`rollout stopped at ${report.failure!.node} (${report.failure!.step}): ${report.failure!.message}\nnext: ${report.failure!.next}`);
    this.name = "RolloutError";
  }
}

export const APPLY_TIMEOUT_MS = 15 * 60_000;
export const HEALTH_WAIT_SECONDS = 180;

interface PatroniClusterView {
  members?: { name: string; role: string; state: string; pending_restart?: boolean; lag?: number | string }[];
}

/** Patroni's view of the cluster from the first of `postgresNodes` that answers. */
async function clusterView(transport: Transport, postgresNodes: string[]): Promise<PatroniClusterView | undefined> {
  for (const n of postgresNodes) {
    const r = await transport.run(n, ["pgha-node", "cluster"], 30_000).catch(() => undefined);
    if (!r || r.code !== 0) continue;
    try {
      return JSON.parse(r.stdout) as PatroniClusterView;
    } catch {
      // not JSON: try the next member
    }
  }
  return undefined;
}

/** The leader's name as the PostgreSQL nodes see it (the first that answers). */
export async function findLeader(transport: Transport, postgresNodes: string[]): Promise<string | undefined> {
  const view = await clusterView(transport, postgresNodes);
  return view?.members?.find((m) => m.role === "leader" || m.role === "standby_leader")?.name;
}

/**
 * The member of `staying` to hand over to: a streaming one, a synchronous (quorum) standby first,
 * one without a pending restart first, then least lag. Undefined when none streams.
 */
export function handOverCandidate(view: PatroniClusterView | undefined, staying: string[]): string | undefined {
  const ok = (view?.members ?? []).filter((m) => staying.includes(m.name) && m.state === "streaming");
  const rank = (m: (typeof ok)[number]) => [m.role === "sync_standby" || m.role === "quorum_standby" ? 0 : 1, m.pending_restart ? 1 : 0, typeof m.lag === "number" ? m.lag : Number.MAX_SAFE_INTEGER];
  return ok.sort((a, b) => {
    const [x, y] = [rank(a), rank(b)];
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
  })[0]?.name;
}

/**
 * The order nodes are converged in: the monitoring node, etcd, HAProxy, PostgreSQL replicas, the PostgreSQL leader.
 * Within a role, by name; the leader is whatever the cluster says at the start of the rollout.
 */
export function rolloutOrder(nodes: RolloutNode[], leader: string | undefined): RolloutNode[] {
  const byName = (a: RolloutNode, b: RolloutNode) => a.name.localeCompare(b.name, undefined, { numeric: true });
  const of = (role: Role) => nodes.filter((n) => n.role === role).sort(byName);
  const postgres = of("postgres");
  return [...of("monitor"), ...of("etcd"), ...of("haproxy"), ...postgres.filter((n) => n.name !== leader), ...postgres.filter((n) => n.name === leader)];
}

function parseApply(node: RolloutNode, out: CommandOutcome, seconds: number): NodeApplyResult | undefined {
  const line = out.stdout.trim().split("\n").reverse().find((l) => l.startsWith("{"));
  const text = out.stdout.trim().startsWith("{") ? out.stdout.trim() : line;
  if (!text) return undefined;
  try {
    const j = JSON.parse(text);
    return { ...j, seconds } as NodeApplyResult;
  } catch {
    return undefined;
  }
}

/**
 * Hands leadership from `leader` (a member the stack no longer lists) to a streaming member of
 * `staying`, run on that member (the transport reaches only the listed nodes): waits up to 120 s
 * for one to stream.
 */
async function handOverFrom(t: Transport, leader: string, staying: string[], log: (l: string) => void): Promise<{ from: string; to: string; seconds: number } | { failure: NonNullable<RolloutReport["failure"]> }> {
  const deadline = Date.now() + 120_000;
  let candidate: string | undefined;
  while (!(candidate = handOverCandidate(await clusterView(t, staying), staying))) {
    if (Date.now() > deadline) {
      return { failure: { node: leader, step: "handover", message: `${leader} leads but is no longer in the stack, and none of ${staying.join(", ")} streamed within 120 s to take over`, next: "nothing was changed: bring a remaining member to streaming (pgha-node status on it), then run the update again" } };
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
  log(`${leader} leads and leaves the stack: switching over to ${candidate} first`);
  const started = Date.now();
  const out = await t.run(candidate, ["pgha-node", "switchover", "--candidate", candidate, "--json"], 300_000);
  if (out.code !== 0) {
    return { failure: { node: candidate, step: "handover", message: (out.stderr.trim() || out.stdout.trim()).split("\n").slice(-3).join(" | "), next: `nothing was changed: ${t.howToReach(candidate)}, then \`pgha-patronictl list\`; run the update again once a standby streams` } };
  }
  const seconds = (Date.now() - started) / 1000;
  log(`${leader} → ${candidate}: switched over in ${seconds.toFixed(1)} s`);
  return { from: leader, to: candidate, seconds };
}

export interface RolloutOptions {
  transport: Transport;
  nodes: RolloutNode[];
  log?: (line: string) => void;
  /** Wait this long for each node's health after its apply (default 180 s). */
  healthWaitSeconds?: number;
}

export async function runRollout(opts: RolloutOptions): Promise<RolloutReport> {
  const log = opts.log ?? (() => undefined);
  const started = Date.now();
  const t = opts.transport;
  const postgres = opts.nodes.filter((n) => n.role === "postgres").map((n) => n.name);
  let leader = await findLeader(t, postgres);
  let handedOver: RolloutReport["handedOver"];
  if (leader && postgres.length && !postgres.includes(leader)) {
    // The leader is leaving the stack (scale-in): hand over before any HAProxy or pg_hba drops it.
    const handed = await handOverFrom(t, leader, postgres, log);
    if ("failure" in handed) {
      return { ok: false, transport: t.name, order: [], nodes: [], failure: handed.failure, seconds: (Date.now() - started) / 1000 };
    }
    handedOver = handed;
    leader = handed.to;
  }
  const order = rolloutOrder(opts.nodes, leader);
  const report: RolloutReport = { ok: true, transport: t.name, order: order.map((n) => n.name), nodes: [], seconds: 0, ...(handedOver ? { handedOver } : {}) };
  log(`rollout over ${t.name}: ${report.order.join(" → ")}${leader ? ` (leader ${leader} last)` : ""}`);
  const wait = opts.healthWaitSeconds ?? HEALTH_WAIT_SECONDS;
  for (const node of order) {
    const nodeStart = Date.now();
    const out = await t.run(node.name, ["pgha-node", "apply", node.hash, "--json"], APPLY_TIMEOUT_MS);
    const result = parseApply(node, out, 0);
    if (out.code !== 0 || !result?.ok) {
      const message = result?.message ?? (out.stderr.trim().split("\n").slice(-5).join(" | ") || `exit status ${out.code}`);
      report.ok = false;
      if (result) report.nodes.push({ ...result, seconds: (Date.now() - nodeStart) / 1000 });
      report.failure = {
        node: node.name,
        step: "apply",
        message,
        next: `look at the node (${t.howToReach(node.name)}; then \`pgha-node status\` and \`journalctl -t pgha-node -t pgha-setup\`), fix the cause, and apply again — the nodes already converged keep their new bundle, the rest keep the old one`,
      };
      break;
    }
    const check = await t.run(node.name, ["pgha-node", "check", "--wait", String(wait)], (wait + 60) * 1000);
    const seconds = (Date.now() - nodeStart) / 1000;
    report.nodes.push({ ...result, seconds });
    const summary = `${node.name}: ${result.oldHash ? result.oldHash.slice(0, 12) : "none"} → ${result.newHash.slice(0, 12)}` +
      `${result.changed.length + result.removed.length ? `, ${result.changed.length + result.removed.length} file(s)` : result.softwareInstalled ? "" : ", unchanged"}` +
      `${result.softwareInstalled ? `, node software ${result.softwareInstalled.slice(0, 12)}` : ""}` +
      `${result.actions.length ? `, ran ${result.actions.join(", ")}` : ""}` +
      `${result.pendingRestart.length ? `, pending restart: ${result.pendingRestart.map((p) => p.service).join(", ")}` : ""}`;
    if (check.code !== 0) {
      report.ok = false;
      report.failure = {
        node: node.name,
        step: "check",
        message: (check.stderr.trim() || check.stdout.trim()).split("\n").slice(-3).join(" | "),
        next: `the new bundle is installed on ${node.name} but its ${node.role} service is not healthy after ${wait} s: ${t.howToReach(node.name)}, then \`pgha-node status\`; the rollout did not touch the nodes after it`,
      };
      log(`${summary} — NOT healthy`);
      break;
    }
    log(`${summary} (${seconds.toFixed(1)} s)`);
  }
  if (report.ok) await adoptRotatedCredentials(t, report, leader, log);
  report.seconds = (Date.now() - started) / 1000;
  return report;
}

/** How long a replica waits for the leader's new verifiers to replay before its second pass fails. */
export const CREDENTIALS_WAIT_SECONDS = 60;

/**
 * The cluster's own passwords rotate leader first: the replicas' `credentials` action ran before
 * the leader's (which set the new verifiers), so they kept the passwords in use. Now each runs
 * `pgha-secrets rotate --wait`: it adopts them once the verifiers have replayed there, and
 * reloads Patroni. A stream that is up stays up throughout.
 */
async function adoptRotatedCredentials(t: Transport, report: RolloutReport, leader: string | undefined, log: (l: string) => void): Promise<void> {
  const ran = report.nodes.filter((n) => n.role === "postgres" && n.actions.includes("credentials"));
  if (!ran.length) return;
  const replicas = ran.map((n) => n.node).filter((n) => n !== leader);
  report.credentialsAdopted = [];
  for (const node of replicas) {
    const out = await t.run(node, ["pgha-secrets", "rotate", "--wait", String(CREDENTIALS_WAIT_SECONDS)], (CREDENTIALS_WAIT_SECONDS + 60) * 1000);
    if (out.code !== 0) {
      report.ok = false;
      report.failure = {
        node,
        step: "credentials",
        message: (out.stderr.trim() || out.stdout.trim()).split("\n").slice(-3).join(" | ") || `exit status ${out.code}`,
        next: `${node} keeps the passwords in use (the leader has the new ones): ${t.howToReach(node)}, then \`pgha-secrets rotate --wait 60\` once it replays from the leader again; its stream stays up until it reconnects`,
      };
      log(`${node}: could not adopt the rotated passwords — ${report.failure.message}`);
      return;
    }
    report.credentialsAdopted.push(node);
  }
  log(`the cluster's rotated passwords: set on ${leader ?? "the leader"}, adopted by ${replicas.join(", ") || "no replica"} (Patroni reloaded, no restart)`);
}

/** A report as a table a person reads at a glance. */
export function formatRollout(r: RolloutReport): string {
  const pad = (v: string, n: number) => v.padEnd(n);
  const lines = [
    `rollout over ${r.transport}: ${r.ok ? "converged" : "STOPPED"} in ${r.seconds.toFixed(1)} s`,
    ...(r.handedOver ? [`handed over first: ${r.handedOver.from} (leaving the stack) → ${r.handedOver.to} in ${r.handedOver.seconds.toFixed(1)} s`] : []),
    `${pad("node", 7)} ${pad("bundle (old → new)", 29)} ${pad("files", 5)} ${pad("ran", 36)} pending restart`,
    ...r.nodes.map(
      (n) =>
        `${pad(n.node, 7)} ${pad(`${n.oldHash ? n.oldHash.slice(0, 12) : "none"} → ${n.newHash.slice(0, 12)}`, 29)} ${pad(String(n.changed.length + n.removed.length), 5)} ${pad(n.actions.join(",") || "-", 36)} ${n.pendingRestart.map((p) => `${p.service} (${p.reason})`).join("; ") || "-"}`,
    ),
  ];
  if (r.failure) lines.push("", `stopped at ${r.failure.node} (${r.failure.step}): ${r.failure.message}`, `next: ${r.failure.next}`);
  return lines.join("\n");
}
