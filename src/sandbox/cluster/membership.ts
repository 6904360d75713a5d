// The sandbox cluster, day 2: PostgreSQL members and HAProxy nodes added and removed by
// `sandbox apply` when `postgres.nodes` or `haproxy.nodes` changes — what `pulumi up` does on AWS
// with instances, in the order that never costs a write (HAProxy: a new node boots after the
// members' pg_hba admits it and is ready once it routes to the leader; a removed one stops
// taking connections first, then the others converge without it, then its host goes):
//
// Scale out: the running nodes converge first (pg_hba, /etc/hosts and HAProxy's backends name
// the new member; its backend stays DOWN until it streams), then the new host boots from the
// same user-data as EC2, clones (pgBackRest from the repository when a backup exists, else
// pg_basebackup from a replica — Patroni's create_replica_methods) and joins the synchronous
// quorum once it streams (Patroni considers only streaming members).
//
// Scale in: a member that leads hands over first (the rollout, to a remaining streaming member),
// the running nodes converge without it (HAProxy drops its backend, pg_hba its address), then
// `pgha-node leave` on it — what the instance's beforeDelete hook runs on AWS — stops Patroni (it
// leaves the quorum), waits until its member key lapses and has the leader drop its replication
// slot; only then its host and data volume go.
import type { ClusterSpec } from "../../spec";
import { runRollout, type RolloutReport } from "../../rollout/rollout";
import { bootHost, hostExec, resetHost, waitForBoot } from "../hosts";
import { removeVolumeFile } from "../volumes";
import { sleep } from "../shell";
import { attachDataVolumes, hostDefinition, publishStack, sandboxTransport, waitForCloudInit } from "./provision";
import type { Sandbox } from "./types";
import type { renderAll } from "../../render/bundle";
import type { SandboxMaterial } from "../material";
import type { Layout } from "../../layout";

export interface MembershipChange {
  added: string[];
  removed: string[];
  /** The member that led and handed over before its removal. */
  handedOver?: { from: string; to: string };
  /** Seconds from each added node's boot until it was ready (a member: streaming; HAProxy: routing to the leader). */
  readyAfter: Record<string, number>;
}

/** A membership change apply does not make: refused before anything changes. */
export function membershipRefusal(sb: Sandbox, target: ClusterSpec, added: string[], removed: string[]): string | undefined {
  if (target.nodes.filter((n) => n.role === "postgres").length < 1) return "postgres.nodes must stay at least 1";
  const roleOf = (name: string) => (target.nodes.find((n) => n.name === name) ?? sb.spec.nodes.find((n) => n.name === name))!.role;
  const etcdRemoved = removed.filter((n) => roleOf(n) === "etcd");
  if (etcdRemoved.length && added.some((n) => roleOf(n) === "etcd")) return "etcd members are added or removed in one direction per apply";
  return undefined;
}

async function memberStates(sb: Sandbox): Promise<{ name: string; role: string; state: string }[]> {
  return (await sb.client.cluster().catch(() => undefined))?.members ?? [];
}

/**
 * Adds and removes PostgreSQL members and HAProxy nodes of the running sandbox to match `target`.
 * Returns the rollout of the remaining nodes (their bundles name the new membership) and what
 * changed.
 */
export async function changeMembership(
  sb: Sandbox,
  target: { spec: ClusterSpec; layout: Layout; material: SandboxMaterial },
  change: { added: string[]; removed: string[] },
  log: (l: string) => void,
): Promise<{ rollout: RolloutReport; bundles: ReturnType<typeof renderAll>; membership: MembershipChange }> {
  const { spec, layout, material } = target;
  const membership: MembershipChange = { added: change.added, removed: change.removed, readyAfter: {} };
  const roleOf = (name: string) => (spec.nodes.find((n) => n.name === name) ?? sb.spec.nodes.find((n) => n.name === name))!.role;

  // A removed HAProxy node stops taking connections first (on AWS the NLB deregisters it).
  for (const name of change.removed.filter((n) => roleOf(n) === "haproxy")) {
    log(`${name}: stopping HAProxy (clients go through the other HAProxy nodes)`);
    await hostExec(name, ["systemctl", "stop", "haproxy"], { timeoutMs: 60_000 });
  }

  log("publishing secrets and bundles to the sandbox's AWS");
  const bundles = await publishStack(spec, layout, material);
  // The running nodes first: the members' pg_hba admits a new member before it clones, HAProxy
  // stops sending to a removed one before it stops.
  const rollout = await runRollout({
    transport: sandboxTransport,
    nodes: spec.nodes.filter((n) => !change.added.includes(n.name)).map((n) => ({ name: n.name, role: n.role, hash: bundles.find((b) => b.node === n.name)!.hash })),
    log,
  });
  if (rollout.handedOver) membership.handedOver = { from: rollout.handedOver.from, to: rollout.handedOver.to };
  if (!rollout.ok) return { rollout, bundles, membership };

  for (const name of change.removed.filter((n) => roleOf(n) === "haproxy")) {
    log(`${name}: removing the host`);
    await resetHost(name);
  }
  // The staying etcd members removed the ones their list no longer names (pgha-etcd reconcile,
  // run by the rollout): confirm, then stop and remove those hosts.
  const etcdRemoved = change.removed.filter((n) => roleOf(n) === "etcd");
  if (etcdRemoved.length) {
    const anEtcd = spec.nodes.find((n) => n.role === "etcd")!.name;
    const list = await hostExec(anEtcd, ["pgha-etcd", "members"], { timeoutMs: 60_000 });
    const still = etcdRemoved.filter((n) => list.stdout.split("\n").some((l) => l.split(" ")[2] === n || l.split(" ")[3]?.includes(`//${sb.layout.addresses[n]}:`)));
    if (list.code !== 0 || still.length) throw new Error(`etcd: ${still.join(", ") || etcdRemoved.join(", ")} still in the member list after the rollout (npx pgha sandbox exec ${anEtcd} -- journalctl -t pgha-etcd): ${list.stdout.trim()} ${list.stderr.trim()}`);
    for (const name of etcdRemoved) {
      log(`${name}: out of the etcd member list; removing the host`);
      await resetHost(name);
    }
  }
  for (const name of change.removed.filter((n) => roleOf(n) === "postgres")) {
    // What the instance's beforeDelete hook runs over SSM on AWS (components/postgresNodes.ts).
    log(`${name}: pgha-node leave (Patroni stops, its member key lapses, the leader drops its slot)`);
    const out = await hostExec(name, ["pgha-node", "leave", "--json"], { timeoutMs: 900_000 });
    if (out.code !== 0) throw new Error(`${name}: pgha-node leave failed, its host stays: ${out.stderr.trim().split("\n").slice(-2).join(" | ")}`);
    await confirmGone(sb, name);
    log(`${name}: out of the DCS and the leader's replication slots; removing the host and its data volume`);
    await resetHost(name);
    await removeVolumeFile(sb.stateDir, name);
  }

  // New hosts boot together (as `pulumi up` creates the instances); each is then waited for.
  const started = Date.now();
  await Promise.all(change.added.map(async (name) => {
    log(`${name}: booting from its user-data (${layout.addresses[name]})`);
    await bootHost(hostDefinition(sb.stateDir, name, layout.addresses[name], bundles.find((b) => b.node === name)!.userDataGzip), { image: sb.state.image, stateDir: sb.stateDir });
  }));
  const members = change.added.filter((n) => roleOf(n) === "postgres");
  await attachDataVolumes(spec, sb.stateDir, members);
  await Promise.all(change.added.map((name) => waitForBoot(name, 300_000)));
  await waitForCloudInit(change.added, 300_000);
  for (const name of change.added.filter((n) => roleOf(n) === "etcd" || roleOf(n) === "haproxy")) {
    const what = roleOf(name) === "etcd" ? "a healthy etcd member (it joined the running cluster)" : "routing to the leader";
    const check = await hostExec(name, ["pgha-node", "check", "--wait", "300"], { timeoutMs: 400_000 });
    if (check.code !== 0) throw new Error(`${name} booted but is not ${what} after 300 s: ${(check.stderr || check.stdout).trim().split("\n").pop()}`);
    membership.readyAfter[name] = (Date.now() - started) / 1000;
    log(`${name}: ${what} ${membership.readyAfter[name].toFixed(1)} s after its boot began`);
  }
  for (const name of members) {
    const deadline = Date.now() + 600_000;
    while (!(await memberStates(sb)).some((m) => m.name === name && m.state === "streaming")) {
      if (Date.now() > deadline) throw new Error(`${name} booted but does not stream after 600 s: npx pgha sandbox exec ${name} -- journalctl -u patroni`);
      await sleep(1000);
    }
    membership.readyAfter[name] = (Date.now() - started) / 1000;
    log(`${name}: streaming ${membership.readyAfter[name].toFixed(1)} s after its boot began`);
    // Cloned from a backup taken while, say, max_connections was higher, the new member runs the
    // backup's value (Patroni keeps a replica at pg_controldata's value while it is higher) and
    // reports a pending restart; promoted like that, it would force every standby to restart.
    // A replica's restart costs nothing: it runs the stack's settings before it is counted in.
    const r = await hostExec(name, ["pgha-node", "restart", "--pending", "--json"], { timeoutMs: 420_000 });
    if (r.code !== 0) throw new Error(`${name} streams, but its pending restart failed: ${r.stderr.trim().split("\n").slice(-2).join(" | ")}`);
    const restarted = (JSON.parse(r.stdout) as { restarted: string[] }).restarted;
    if (restarted.length) log(`${name}: restarted ${restarted.join(", ")} (it was cloned with other settings than the stack's)`);
  }
  return { rollout, bundles, membership };
}

/** What `pgha-node leave` promised, read from the cluster itself: no member key, no slot on the leader. */
async function confirmGone(sb: Sandbox, member: string): Promise<void> {
  const deadline = Date.now() + (sb.spec.patroni.loopWait * 3 + 30) * 1000;
  for (;;) {
    const inDcs = (await memberStates(sb)).some((m) => m.name === member);
    const slot = await slotOf(sb, member);
    if (!inDcs && !slot) return;
    if (Date.now() > deadline) throw new Error(`pgha-node leave on ${member} returned, but ${inDcs ? "it is still a member in the DCS" : "the leader still holds its replication slot"}`);
    await sleep(1000);
  }
}

/** Whether the leader still holds a replication slot for `member` (Patroni names it after the member). */
async function slotOf(sb: Sandbox, member: string): Promise<boolean> {
  const rows = await sb.client.query<{ n: string }>("rw", "select count(*) as n from pg_replication_slots where slot_name = $1", [member.replace(/[^a-z0-9_]/g, "_")]).catch(() => [{ n: "1" }]);
  return Number(rows[0]?.n ?? 1) > 0;
}
