// `sandbox replace <node>`: a node's instance replaced by a fresh one — a new image (the AMI a
// stack moves to), or a broken host — as `pulumi up` replaces an EC2 instance: the new host boots
// from the current image and the node's user-data (the bootstrap fetches its current bundle),
// and a PostgreSQL member keeps its data volume, so it rejoins from its own data (pg_rewind or a
// re-clone only when Patroni finds it diverged). A member runs `pgha-node leave --stay` first (a
// leader hands over, Patroni stops cleanly), as the AWS leave hook does; one node at a time.
// An etcd member comes back without data: pgha-etcd prepare, on the new host, removes its old
// member and joins the cluster as a new one (refused when the others would not hold quorum).
import { renderBundle } from "../../render/bundle";
import { hostExec, hostState, resetHost, bootHost, waitForBoot } from "../hosts";
import { attachDataVolumes, hostDefinition, waitForCloudInit } from "./provision";
import { ensureImage } from "./lifecycle";
import { writeState } from "./state";
import type { Sandbox } from "./types";

export interface ReplaceResult {
  node: string;
  role: string;
  /** Set when the node led and handed over first. */
  handedOver?: { from: string; to: string };
  /** The image the new host booted from. */
  image: string;
  /** Seconds from the old host's removal until the new one's role was healthy. */
  seconds: number;
}

export class ReplaceRefused extends Error {
  readonly exitCode = 3;
}

export async function replaceNode(sb: Sandbox, name: string, log: (l: string) => void = () => undefined): Promise<ReplaceResult> {
  const node = sb.spec.nodes.find((n) => n.name === name);
  if (!node) throw Object.assign(new Error(`no node ${name}; the nodes are ${sb.spec.nodes.map((n) => n.name).join(", ")}`), { exitCode: 2 });
  if (node.role === "etcd") {
    // The new host has no etcd data: pgha-etcd prepare removes the old member and adds the new
    // one. The others must hold quorum on their own meanwhile.
    const others = sb.spec.nodes.filter((n) => n.role === "etcd" && n.name !== name).map((n) => n.name);
    const quorum = Math.floor((others.length + 1) / 2) + 1;
    const healthy: string[] = [];
    for (const other of others) if ((await hostExec(other, ["pgha-node", "check"], { timeoutMs: 30_000 })).code === 0) healthy.push(other);
    if (healthy.length < quorum) throw new ReplaceRefused(`${name} is an etcd member and only ${healthy.length} of the other ${others.length} are healthy (${healthy.join(", ") || "none"}): quorum needs ${quorum} without it, so it was not replaced`);
  }
  let handedOver: ReplaceResult["handedOver"];
  if (node.role === "etcd" && (await hostState(name).catch(() => "stopped")) === "running") {
    // A leader that just vanishes costs an election, and requests in flight time out: hand the
    // etcd leadership to another member first (what the etcd instance's beforeDelete hook runs on AWS).
    const out = await hostExec(name, ["pgha-etcd", "handover"], { timeoutMs: 60_000 });
    log(`${name}: pgha-etcd handover: ${(out.stderr.trim().split("\n").pop() ?? "").replace(/^\[pgha-etcd\] \S+ \[\S+\] /, "")}`);
  }
  if (node.role === "postgres" && (await hostState(name).catch(() => "stopped")) === "running") {
    // What the attachment's beforeDelete hook runs on AWS before an instance is replaced: hand
    // over if it leads, then stop Patroni cleanly (the new host takes the same name and volume).
    log(`${name}: pgha-node leave --stay (hands over if it leads, stops Patroni)`);
    const out = await hostExec(name, ["pgha-node", "leave", "--stay", "--json"], { timeoutMs: 600_000 });
    if (out.code !== 0) throw new ReplaceRefused(`${name} did not stop cleanly, so it was not replaced: ${out.stderr.trim().split("\n").slice(-2).join(" | ")}`);
    const r = JSON.parse(out.stdout.trim().split("\n").pop()!) as { handedOver: { from: string; to: string } | null };
    if (r.handedOver) handedOver = { from: r.handedOver.from, to: r.handedOver.to };
  }
  const image = ensureImage(log);
  const started = Date.now();
  log(`${name}: removing the old host${node.role === "postgres" ? " (its data volume is kept)" : ""}`);
  await resetHost(name);
  log(`${name}: booting a new host from ${image} and its user-data`);
  const userData = renderBundle(sb.spec, name, sb.layout).userDataGzip;
  await bootHost(hostDefinition(sb.stateDir, name, sb.layout.addresses[name], userData), { image, stateDir: sb.stateDir });
  if (node.role === "postgres") await attachDataVolumes(sb.spec, sb.stateDir, [name]);
  await waitForBoot(name, 300_000);
  await waitForCloudInit([name], 300_000);
  const check = await hostExec(name, ["pgha-node", "check", "--wait", "300"], { timeoutMs: 400_000 });
  if (check.code !== 0) throw new Error(`${name} was replaced but is not healthy after 300 s: ${(check.stderr || check.stdout).trim().split("\n").slice(-2).join(" | ")}`);
  if (image !== sb.state.image) writeState({ ...sb.state, image }, sb.stateDir);
  const seconds = (Date.now() - started) / 1000;
  log(`${name}: healthy on its new host ${seconds.toFixed(1)} s after the old one was removed`);
  return { node: name, role: node.role, handedOver, image, seconds };
}
