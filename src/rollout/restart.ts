// The rolling restart: apply what only a restart applies (a PostgreSQL parameter such as
// max_connections or shared_buffers, a changed Patroni, etcd or HAProxy unit) one node at a
// time, with one switchover at most. One procedure over a Transport, like the rollout: `npx pgha
// sandbox restart` runs it over `sandbox exec`, `npx pgha restart --stack … --instance-ids …`
// over SSM. Each node step is `pgha-node restart` on that node (it refuses to restart a leader
// that has other members) and waits until the node's role is healthy again — a replica
// streaming — before the next node.
//
// Order: etcd members one at a time (each healthy again before the next: quorum holds), HAProxy
// nodes one at a time, PostgreSQL replicas, then the leader: `pgha-node switchover` on it (waits
// until no member is in Patroni's failsafe mode, hands over to the healthiest synchronous
// standby), then the old leader restarts as a replica. One exception: a decrease of a parameter
// a standby must hold at the primary's value or more (max_connections…) restarts the leader
// first, in place — the write gap of a restart instead of a switchover — then the replicas.
import type { Role } from "../spec";
import { restartDecision, type RestartDecision } from "../config/maintenance-window";
import { findLeader, rolloutOrder, type RolloutReport, type Transport } from "./rollout";

export interface RestartNode {
  name: string;
  role: Role;
}

export interface RestartOptions {
  transport: Transport;
  /** Every node of the cluster (the leader is found among the PostgreSQL ones). */
  nodes: RestartNode[];
  /** Restart only what a node reports pending (`pgha-node status`), on any role. Default: every PostgreSQL member. */
  pendingOnly?: boolean;
  /** Restart only this node (any role; the leader is switched over first). */
  member?: string;
  /** Seconds each node may take to be healthy again after its restart (default 300). */
  waitSeconds?: number;
  log?: (line: string) => void;
}

export interface RestartStep {
  node: string;
  role: Role;
  action: "restart" | "switchover";
  /** restart: the services restarted (none: nothing was pending); switchover: "from → to". */
  detail: string;
  seconds: number;
}

export interface RestartReport {
  ok: boolean;
  transport: string;
  /** The nodes chosen, in the order they were taken. */
  order: string[];
  steps: RestartStep[];
  leaderBefore?: string;
  leaderAfter?: string;
  /** Switchovers made (0 or 1). */
  switchovers: number;
  /** Set when the leader was restarted in place, first (a decrease the primary must take first): why. */
  leaderInPlace?: string;
  /** Restarts still pending afterwards, per node (on every node of the cluster). */
  stillPending: { node: string; services: string[] }[];
  failure?: { node: string; message: string; next: string };
  seconds: number;
}

/**
 * Parameters a hot standby must run at no less than the primary's value (PostgreSQL checks them
 * at start and on every change the primary logs). Patroni keeps a replica at the primary's value
 * (from pg_controldata) while it is higher, so a *decrease* reaches the replicas only after the
 * primary runs it: the leader restarts first, in place, then the replicas (as CloudNativePG does).
 */
export const STANDBY_MINIMUM_PARAMETERS = ["max_connections", "max_prepared_transactions", "max_locks_per_transaction", "max_wal_senders", "max_worker_processes"];

/** The parameters of a member's pending restart (Patroni's pending_restart_reason) that go down. */
export function decreasedStandbyParameters(reason: Record<string, { old_value?: string; new_value?: string }> | null | undefined): string[] {
  return Object.entries(reason ?? {})
    .filter(([name, v]) => STANDBY_MINIMUM_PARAMETERS.includes(name) && Number(v.new_value) < Number(v.old_value))
    .map(([name, v]) => `${name} ${v.old_value} → ${v.new_value}`);
}

export class RestartUsageError extends Error {
  readonly exitCode = 2;
}

interface NodeState {
  pendingRestart: { service: string; reason: string }[];
}

async function nodeState(t: Transport, node: string): Promise<NodeState | undefined> {
  const r = await t.run(node, ["pgha-node", "status", "--json", "--offline"], 60_000).catch(() => undefined);
  if (!r || r.code !== 0) return undefined;
  try {
    return JSON.parse(r.stdout) as NodeState;
  } catch {
    return undefined;
  }
}

/** The last JSON object a node command printed (its report), if any. */
function lastJson<T>(stdout: string): T | undefined {
  const line = stdout.trim().split("\n").reverse().find((l) => l.trim().startsWith("{"));
  const text = stdout.trim().startsWith("{") ? stdout.trim() : line;
  try {
    return text ? (JSON.parse(text) as T) : undefined;
  } catch {
    return undefined;
  }
}

const lastLines = (s: string, n = 3) => s.trim().split("\n").slice(-n).join(" | ");

/** A member's WAL position from its own `/patroni` (a primary's `location`, a replica's `replayed_location`). */
async function walPosition(t: Transport, node: string, field: "location" | "replayed_location"): Promise<bigint | undefined> {
  const r = await t.run(node, ["pgha-node", "member"], 30_000).catch(() => undefined);
  const v = r?.code === 0 ? lastJson<{ xlog?: Record<string, unknown> }>(r.stdout)?.xlog?.[field] : undefined;
  return typeof v === "number" || typeof v === "string" ? BigInt(v) : undefined;
}

/** Waits until `node` has replayed up to `lsn`; false when it has not within the time given. */
async function waitReplayed(t: Transport, node: string, lsn: bigint, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const at = await walPosition(t, node, "replayed_location");
    if (at !== undefined && at >= lsn) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * Which nodes a restart takes, in order. Exported for tests: the whole decision without a cluster.
 * `pending` holds each node's pending services (only consulted with pendingOnly).
 */
export function restartTargets(nodes: RestartNode[], leader: string | undefined, opts: { pendingOnly?: boolean; member?: string }, pending: Map<string, string[]>): RestartNode[] {
  let chosen: RestartNode[];
  if (opts.member !== undefined) {
    const m = nodes.find((n) => n.name === opts.member);
    if (!m) throw new RestartUsageError(`--member ${opts.member}: no such node; the nodes are ${nodes.map((n) => n.name).join(", ")}`);
    chosen = [m];
  } else if (opts.pendingOnly) {
    chosen = nodes.filter((n) => (pending.get(n.name) ?? []).length > 0);
  } else {
    chosen = nodes.filter((n) => n.role === "postgres");
  }
  return rolloutOrder(chosen.map((n) => ({ ...n, hash: "" })), leader).map(({ name, role }) => ({ name, role }));
}

export async function runRestart(opts: RestartOptions): Promise<RestartReport> {
  const log = opts.log ?? (() => undefined);
  const t = opts.transport;
  const started = Date.now();
  const wait = opts.waitSeconds ?? 300;
  const postgres = opts.nodes.filter((n) => n.role === "postgres").map((n) => n.name);
  const leader = await findLeader(t, postgres);
  const pending = new Map<string, string[]>();
  if (opts.pendingOnly) {
    for (const n of opts.nodes) {
      const s = await nodeState(t, n.name);
      if (!s) throw new Error(`cannot read ${n.name}'s pending restarts (pgha-node status): ${t.howToReach(n.name)}`);
      pending.set(n.name, s.pendingRestart.map((p) => p.service));
    }
  }
  let order = restartTargets(opts.nodes, leader, opts, pending);
  // A decrease of a standby-minimum parameter: the leader first, in place (see above).
  let leaderInPlace: string | undefined;
  if (leader && order.some((n) => n.name === leader) && postgres.length > 1) {
    const view = await t.run(leader, ["pgha-node", "member"], 30_000).catch(() => undefined);
    const reason = view?.code === 0 ? lastJson<{ pending_restart_reason?: Record<string, { old_value?: string; new_value?: string }> }>(view.stdout)?.pending_restart_reason : undefined;
    const decreased = decreasedStandbyParameters(reason);
    if (decreased.length) {
      leaderInPlace = `${decreased.join(", ")}: a standby must run at least the primary's value, so the primary takes a decrease first`;
      const first = order.find((n) => n.name === leader)!;
      order = [...order.filter((n) => n.role !== "postgres"), first, ...order.filter((n) => n.role === "postgres" && n.name !== leader)];
    }
  }
  const report: RestartReport = { ok: true, transport: t.name, order: order.map((n) => n.name), steps: [], leaderBefore: leader, switchovers: 0, leaderInPlace, stillPending: [], seconds: 0 };
  const how = leaderInPlace ? ` (leader ${leader} first, in place: ${leaderInPlace})` : leader && report.order.includes(leader) ? ` (leader ${leader} last, after a switchover)` : "";
  log(order.length ? `restart over ${t.name}: ${report.order.join(" → ")}${how}` : "nothing to restart");
  const fail = (node: string, message: string, next: string) => {
    report.ok = false;
    report.failure = { node, message, next };
  };
  const pendingFlag = opts.pendingOnly ? ["--pending"] : [];
  // After the leader's in-place restart (a decrease), the position each replica must have
  // replayed before its own restart: the leader logged the new values at its start, and a replica
  // restarted before replaying that record starts with the old ones (Patroni takes them from its
  // pg_controldata) and is pending again at once.
  let catchUpTo: bigint | undefined;
  for (const node of order) {
    if (catchUpTo !== undefined && node.role === "postgres" && node.name !== leader) {
      const caught = await waitReplayed(t, node.name, catchUpTo, 120_000);
      if (!caught) log(`${node.name}: has not replayed the leader's restart within 120 s; restarting it anyway`);
    }
    if (node.role === "postgres" && node.name === leader && postgres.length > 1 && !leaderInPlace) {
      const s0 = Date.now();
      const out = await t.run(node.name, ["pgha-node", "switchover", "--json"], 180_000);
      const r = lastJson<{ from: string; to: string; failsafeWaitSeconds: number; seconds: number }>(out.stdout);
      if (out.code !== 0 || !r) {
        fail(node.name, lastLines(out.stderr || out.stdout) || `exit status ${out.code}`, `${node.name} still leads and was not restarted; look at the cluster (${t.howToReach(node.name)}, then \`pgha-patronictl list\`) and run the restart again`);
        break;
      }
      report.switchovers++;
      report.steps.push({ node: node.name, role: node.role, action: "switchover", detail: `${r.from} → ${r.to}`, seconds: (Date.now() - s0) / 1000 });
      log(`switchover ${r.from} → ${r.to} in ${r.seconds} s (failsafe wait ${r.failsafeWaitSeconds} s)`);
    }
    const s1 = Date.now();
    const single = node.role === "postgres" && (postgres.length === 1 || (leaderInPlace !== undefined && node.name === leader));
    const argv = ["pgha-node", "restart", ...pendingFlag, ...(single ? ["--allow-leader"] : []), "--wait", String(wait), "--json"];
    const out = await t.run(node.name, argv, (wait + 120) * 1000);
    const r = lastJson<{ restarted: string[]; message: string }>(out.stdout);
    if (out.code !== 0 || !r) {
      fail(node.name, lastLines(out.stderr || out.stdout) || `exit status ${out.code}`, `look at the node (${t.howToReach(node.name)}; \`pgha-node status\`, \`journalctl -u ${node.role === "postgres" ? "patroni" : node.role}\`); the nodes after it were not restarted — run the restart again when it is healthy`);
      break;
    }
    const seconds = (Date.now() - s1) / 1000;
    if (leaderInPlace !== undefined && node.name === leader) catchUpTo = await walPosition(t, leader, "location");
    report.steps.push({ node: node.name, role: node.role, action: "restart", detail: r.restarted.join(", ") || "nothing pending", seconds });
    log(`${node.name}: ${r.message} (${seconds.toFixed(1)} s)`);
  }
  report.leaderAfter = await findLeader(t, postgres);
  for (const n of opts.nodes) {
    const s = await nodeState(t, n.name);
    if (s?.pendingRestart.length) report.stillPending.push({ node: n.name, services: s.pendingRestart.map((p) => p.service) });
  }
  report.seconds = (Date.now() - started) / 1000;
  return report;
}

/** A report as a person reads it. */
export function formatRestart(r: RestartReport): string {
  const lines = r.steps.map((s) => `${s.node.padEnd(7)} ${s.action.padEnd(10)} ${s.detail.padEnd(28)} ${s.seconds.toFixed(1)} s`);
  return [
    `${"node".padEnd(7)} ${"action".padEnd(10)} ${"what".padEnd(28)} time`,
    ...lines,
    `leader ${r.leaderBefore ?? "none"} → ${r.leaderAfter ?? "none"}, ${r.switchovers} switchover(s)${r.leaderInPlace ? `, leader restarted in place first (${r.leaderInPlace})` : ""}, ${r.seconds.toFixed(1)} s in all`,
    r.stillPending.length ? `still pending: ${r.stillPending.map((p) => `${p.node} (${p.services.join(", ")})`).join("; ")}` : "nothing pending a restart",
    ...(r.failure ? [`STOPPED at ${r.failure.node}: ${r.failure.message}`, `next: ${r.failure.next}`] : []),
  ].join("\n");
}

export interface AfterRollout {
  /** Whether the rollout left anything pending a restart (per its report). */
  pending: string[];
  decision?: RestartDecision;
  restart?: RestartReport;
}

/**
 * After a successful rollout: restart what it left pending when the stack's maintenance window
 * allows it now (`maintenance.window`), else leave it pending and say why and until when.
 */
export async function restartAfterRollout(opts: { transport: Transport; nodes: RestartNode[]; rollout: RolloutReport; window: string | null; now?: Date; log?: (l: string) => void }): Promise<AfterRollout> {
  const pending = opts.rollout.nodes.filter((n) => n.pendingRestart.length).map((n) => n.node);
  if (!opts.rollout.ok || !pending.length) return { pending };
  const decision = restartDecision(opts.window, opts.now ?? new Date());
  opts.log?.(`pending restart on ${pending.join(", ")}: ${decision.restart ? `restarting now (${decision.reason})` : decision.reason}`);
  if (!decision.restart) return { pending, decision };
  const restart = await runRestart({ transport: opts.transport, nodes: opts.nodes, pendingOnly: true, log: opts.log });
  return { pending, decision, restart };
}
