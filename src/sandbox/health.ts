// Is the sandbox's cluster healthy, and if not, what is the real problem? Patroni's /cluster is
// the DCS' view: for up to `ttl` seconds after a leader's host dies it still lists that member
// as `leader / running`, and the replicas, cut off from it, report `in archive recovery`. A status
// built on that view alone blames the healthy replicas for the dead leader. So every member is
// also asked directly (its host's state, Patroni's own /liveness), and the reasons are ordered by
// cause: a leader that cannot be reached, no leader (election, or etcd without quorum), then
// what follows from it.
import type { Sandbox } from "./cluster";
import { hostExec, hostState, type HostState } from "./hosts";
import { PORTS, nodesOf } from "../spec";
import { sleep } from "./shell";

export interface Health {
  healthy: boolean;
  /** Most important first: the cause before what follows from it. */
  reasons: string[];
  leader?: string;
}

/** A member as seen directly, not through the DCS. */
export interface MemberReach {
  name: string;
  reachable: boolean;
  /** Why not, in words ("host stopped", "Patroni does not answer: …"). */
  why?: string;
}

/** Each PostgreSQL member's host state and Patroni's /liveness, in parallel (≤ 1.5 s). */
export async function probeMembers(sb: Sandbox): Promise<Map<string, MemberReach>> {
  const names = nodesOf(sb.spec, "postgres").map((n) => n.name);
  const probes = await Promise.all(
    names.map(async (name): Promise<MemberReach> => {
      const state: HostState | "unknown" = await hostState(name).catch(() => "unknown" as const);
      if (state !== "running") return { name, reachable: false, why: state === "unknown" ? "host unknown" : `host ${state}` };
      try {
        const r = await sb.client.rest(name, "GET", "/liveness", undefined, { timeoutMs: 1500 });
        return r.status === 200 ? { name, reachable: true } : { name, reachable: false, why: `Patroni answers /liveness with ${r.status}` };
      } catch (e) {
        return { name, reachable: false, why: `Patroni does not answer (${(e as Error).message.split("\n")[0]})` };
      }
    }),
  );
  return new Map(probes.map((p) => [p.name, p]));
}

/** etcdctl's TLS flags as the nodes use them (none when the stack runs without TLS). */
export function etcdctlTlsArgs(sb: Sandbox): string[] {
  return sb.spec.tls.enabled ? ["--cacert=/etc/pgha/tls/ca.crt", "--cert=/etc/pgha/tls/node.crt", "--key=/etc/pgha/tls/node.key"] : [];
}

/** etcd members that answer `endpoint health` (asked on each etcd host, TLS as the nodes use it). */
export async function etcdHealth(sb: Sandbox): Promise<{ name: string; clientUrl: string; healthy: boolean; memberId: string | null }[]> {
  const { spec, layout } = sb;
  const health = await Promise.all(
    nodesOf(spec, "etcd").map(async (n) => {
      const url = `${spec.tls.enabled ? "https" : "http"}://${layout.addresses[n.name]}:${PORTS.etcdClient}`;
      let healthy = false;
      if ((await hostState(n.name).catch(() => "stopped")) === "running") {
        const r = await hostExec(n.name, [
          "etcdctl", `--endpoints=${url}`,
          ...etcdctlTlsArgs(sb),
          "--command-timeout=2s", "endpoint", "health",
        ], { timeoutMs: 5000 }).catch(() => undefined);
        healthy = r?.code === 0;
      }
      return { name: n.name, clientUrl: url, healthy };
    }),
  );
  // Member ids (hex, as etcdctl prints them) from one healthy member's list: "id status name peer-urls".
  const ids = new Map<string, string>();
  const anchor = health.find((h) => h.healthy);
  if (anchor) {
    const list = await hostExec(anchor.name, ["pgha-etcd", "members"], { timeoutMs: 10_000 }).catch(() => undefined);
    for (const line of list?.code === 0 ? list.stdout.trim().split("\n") : []) {
      const [id, , name] = line.split(" ");
      if (id && name) ids.set(name, id);
    }
  }
  return health.map((h) => ({ ...h, memberId: ids.get(h.name) ?? null }));
}

/**
 * Healthy: one leader that answers, every other member streaming, the rw endpoint writable.
 * `probes` may be passed when the caller has them already (status).
 */
export async function checkHealth(sb: Sandbox, probes?: Map<string, MemberReach>): Promise<Health> {
  const reach = probes ?? (await probeMembers(sb));
  const members = nodesOf(sb.spec, "postgres").map((n) => n.name);
  const unreachable = members.filter((m) => !reach.get(m)?.reachable);
  const cluster = await sb.client.cluster();
  if (!cluster) {
    const why = unreachable.length === members.length ? `no member answers (${unreachable.map((m) => `${m}: ${reach.get(m)?.why}`).join("; ")})` : "no Patroni member answers /cluster";
    return { healthy: false, reasons: [why] };
  }
  const reasons: string[] = [];
  // A standby cluster's leader is its "standby_leader": it follows the primary cluster.
  const leaders = cluster.members.filter((m) => m.role === "leader" || m.role === "standby_leader");
  const standbyCluster = leaders[0]?.role === "standby_leader";
  const leader = leaders[0]?.name;
  let leaderLost = false;
  if (leaders.length > 1) reasons.push(`${leaders.length} leaders: ${leaders.map((l) => l.name).join(", ")}`);
  else if (leader && !reach.get(leader)?.reachable && members.includes(leader)) {
    leaderLost = true;
    reasons.push(`leader ${leader} is unreachable (${reach.get(leader)?.why}): its lock expires within ${sb.spec.patroni.ttl} s, then a replica is elected`);
  } else if (!leader) {
    leaderLost = true;
    const etcd = await etcdHealth(sb).catch(() => []);
    const up = etcd.filter((e) => e.healthy).length;
    if (etcd.length && up <= etcd.length / 2) {
      reasons.push(`no leader, and etcd has no quorum (${up} of ${etcd.length} members healthy): no member can take the leader lock until etcd is back`);
    } else {
      reasons.push("no leader: an election is in progress (the replicas compare their WAL positions; the most advanced one is promoted)");
    }
  }
  const waiting: string[] = [];
  for (const name of members) {
    const m = cluster.members.find((x) => x.name === name);
    const r = reach.get(name);
    if (name === leader && leaderLost) continue;
    if (!r?.reachable) reasons.push(`${name} is unreachable (${r?.why})`);
    else if (!m) reasons.push(`${name} is not registered`);
    else if (m.role === "leader" && m.state !== "running") reasons.push(`leader ${name} is ${m.state}`);
    else if (m.role === "standby_leader" && m.state !== "streaming") reasons.push(`standby leader ${name} is ${m.state}, not streaming from the primary cluster`);
    else if (m.role !== "leader" && m.role !== "standby_leader" && m.state !== "streaming") {
      // Without a leader a replica cannot stream: that is the leader's problem, not the replica's.
      if (leaderLost) waiting.push(name);
      else reasons.push(`${name} is ${m.state}`);
    }
  }
  if (waiting.length) reasons.push(`${waiting.join(", ")} ${waiting.length > 1 ? "wait" : "waits"} for a leader to stream from`);
  if (!reasons.length && standbyCluster) {
    // No rw endpoint while it follows: its ro endpoint must serve reads.
    try {
      const rows = await sb.client.query("ro", "select pg_is_in_recovery() as r");
      if (!rows[0].r) reasons.push("ro endpoint of a standby cluster reaches a primary");
    } catch (e) {
      reasons.push(`ro endpoint: ${(e as Error).message}`);
    }
  } else if (!reasons.length) {
    try {
      const rows = await sb.client.query("rw", "select pg_is_in_recovery() as r");
      if (rows[0].r) reasons.push("rw endpoint reaches a replica");
    } catch (e) {
      reasons.push(`rw endpoint: ${(e as Error).message}`);
    }
  }
  return { healthy: reasons.length === 0, reasons, leader: leaderLost ? undefined : leader };
}

export async function waitHealthy(sb: Sandbox, timeoutMs: number): Promise<Health> {
  const deadline = Date.now() + timeoutMs;
  let h: Health = { healthy: false, reasons: ["not checked"] };
  while (Date.now() < deadline) {
    h = await checkHealth(sb);
    if (h.healthy) return h;
    await sleep(1000);
  }
  throw new Error(`the cluster is not healthy after ${timeoutMs / 1000} s: ${h.reasons.join("; ")} — see \`npx pgha sandbox status\` and \`npx pgha sandbox exec db1 -- journalctl -u patroni\``);
}
