// The sandbox cluster: faults and operations — stop, start and reboot members, partition and
// heal the network, patronictl, switchover and failover.
import { nodesOf } from "../../spec";
import { hostExec, powerCut, rebootHost, shutdownHost, startHost, waitForBoot } from "../hosts";
import { heal, isolate, partition } from "../network";
import { sleep } from "../shell";
import type { Sandbox } from "./types";

export async function killMember(name: string, hard: boolean): Promise<void> {
  if (hard) await powerCut(name);
  else await shutdownHost(name);
}

export async function startMember(name: string): Promise<void> {
  await startHost(name);
  await waitForBoot(name);
}

export async function rebootMember(name: string): Promise<void> {
  await rebootHost(name);
}

export async function partitionMembers(sb: Sandbox, members: string[], from?: string[]): Promise<void> {
  if (!from || from.length === 0) {
    for (const m of members) await isolate(m);
    return;
  }
  const addr = (n: string) => sb.layout.addresses[n] ?? (() => { throw new Error(`unknown host ${n}`); })();
  await partition(members.map(addr), from.map(addr));
}

export async function healNetwork(): Promise<void> {
  await heal();
}

/** Runs pgha-patronictl on a PostgreSQL host (the leader's or the first running one). */
export async function patronictl(sb: Sandbox, args: string[], host?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const target = host ?? (await sb.client.leader()) ?? nodesOf(sb.spec, "postgres")[0].name;
  return hostExec(target, ["/usr/local/bin/pgha-patronictl", ...args], { timeoutMs: 120_000 });
}

/**
 * Waits until no member reports Patroni's failsafe mode as active (`GET /patroni` →
 * failsafe_mode_is_active). After an etcd outage, replicas keep the leader's failsafe ping as
 * lock owner for up to `ttl` and do not take a released leader key meanwhile: a switchover then
 * costs ≈ ttl of writes instead of ≈ 2 s (../shared/notes/cluster-facts.md, docs/facts.md).
 * Returns the seconds waited.
 */
export async function waitFailsafeInactive(sb: Sandbox, timeoutMs = (sb.spec.patroni.ttl + 10) * 1000): Promise<number> {
  const started = Date.now();
  for (;;) {
    const active: string[] = [];
    for (const m of nodesOf(sb.spec, "postgres").map((n) => n.name)) {
      const r = await sb.client.rest(m, "GET", "/patroni", undefined, { timeoutMs: 2000 }).catch(() => undefined);
      if (r?.status === 200 && r.body && typeof r.body === "object" && (r.body as Record<string, unknown>).failsafe_mode_is_active === true) active.push(m);
    }
    if (!active.length) return (Date.now() - started) / 1000;
    if (Date.now() - started > timeoutMs) throw new Error(`failsafe mode still active on ${active.join(", ")} after ${timeoutMs / 1000} s: is etcd healthy? (npx pgha sandbox status)`);
    await sleep(250);
  }
}

export async function switchover(sb: Sandbox, to?: string): Promise<{ from: string; to: string }> {
  await waitFailsafeInactive(sb);
  let from = await sb.client.leader();
  if (!from) throw new Error("no leader to switch over from");
  const body: Record<string, string> = { leader: from };
  if (to) body.candidate = to;
  // Patroni refuses while no candidate is healthy enough (e.g. a member still catching up, or in
  // synchronous mode none confirmed yet): retry for a while before giving up.
  let r = await sb.client.rest(from, "POST", "/switchover", body, { auth: true, timeoutMs: 60_000 });
  for (let i = 0; (r.status === 503 || r.status === 412) && i < 30; i++) {
    await sleep(1000);
    // 412 "leader name does not match": the DCS named another leader than the one asked first
    // (e.g. right after an election): ask again with the leader it names now.
    if (r.status === 412) {
      from = (await sb.client.leader()) ?? from;
      body.leader = from;
    }
    r = await sb.client.rest(from, "POST", "/switchover", body, { auth: true, timeoutMs: 60_000 });
  }
  if (r.status !== 200) throw new Error(`switchover refused (${r.status}): ${typeof r.body === "string" ? r.body : JSON.stringify(r.body)}`);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const leader = await sb.client.leader();
    if (leader && leader !== from && (!to || leader === to)) return { from, to: leader };
    if (Date.now() > deadline) throw new Error("switchover did not complete within 60 s");
    await sleep(250);
  }
}

/** Manual failover (MISSION H6): promote a candidate without the old leader's cooperation. */
export async function failover(sb: Sandbox, to?: string): Promise<{ from?: string; to: string }> {
  const from = await sb.client.leader();
  const candidates = nodesOf(sb.spec, "postgres").map((n) => n.name).filter((n) => n !== from);
  const candidate = to ?? candidates[0];
  if (!candidate) throw new Error("no failover candidate (single-node stack)");
  const r = await sb.client.rest(candidate, "POST", "/failover", { candidate }, { auth: true, timeoutMs: 60_000 });
  if (r.status !== 200) throw new Error(`failover refused (${r.status}): ${typeof r.body === "string" ? r.body : JSON.stringify(r.body)}`);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const leader = await sb.client.leader();
    if (leader === candidate) return { from, to: candidate };
    if (Date.now() > deadline) throw new Error("failover did not complete within 60 s");
    await sleep(250);
  }
}

export type RejoinPath = "rewind" | "rewind failed" | "reclone" | "none";

/**
 * How a member that led rejoined after a fault, read from its Patroni log since `sinceMs`:
 * "rewind" (pg_rewind ran and exited 0), "rewind failed", "reclone" (its data directory was
 * removed and a replica created again), or "none" (it could follow the new timeline as it was).
 */
export async function rejoinPath(member: string, sinceMs: number): Promise<RejoinPath> {
  const since = `@${Math.floor(sinceMs / 1000)}`;
  const log = (await hostExec(member, ["journalctl", "--since", since, "-u", "patroni", "--no-pager", "-o", "cat"], { user: "root" })).stdout;
  return rejoinPathOf(log);
}

/** The rejoin path a Patroni log shows (the newest evidence wins: a failed rewind, then a re-clone, is a re-clone). */
export function rejoinPathOf(log: string): RejoinPath {
  if (/Removing data directory|replica has been created using/.test(log)) return "reclone";
  if (/pg_rewind exit code=0\b/.test(log)) return "rewind";
  if (/running pg_rewind from/.test(log)) return "rewind failed";
  return "none";
}
