// Day 2 on real hosts (issue 9): a changed stack file reaches the running nodes through their
// bundles — published to the sandbox's S3, rolled out node by node over `sandbox exec` by the
// same rollout `pulumi up` runs over SSM — under write load, with every acknowledged write
// verified; and the EC2 boot path (a data volume attached late, secrets from the Secrets
// Manager API, a tampered bundle) executed for real.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import YAML from "yaml";
import { apply, hostDefinition, mainPid, openSandbox, replaceNode, sandboxTransport, status, type Sandbox } from "../../src/sandbox/cluster";
import { runRestart } from "../../src/rollout/restart";
import { attachVolume, bootHost, hostExec, listHosts, powerCut, resetHost, waitForBoot } from "../../src/sandbox/hosts";
import { deploy, publishSecrets } from "../../src/sandbox/aws";
import { ensureVolumeFile, volumesDirectory } from "../../src/sandbox/volumes";
import { secretDocuments } from "../../src/sandbox/material";
import { loadStack } from "../../src/config/stack-file";
import { renderBundle, NODE_PATHS } from "../../src/render/bundle";
import { bundleKeys, bundlePrefix, packNodeBundle, sha256 } from "../../src/bundle/format";
import { nodesOf } from "../../src/spec";
import { postgresMembers, sandbox, sh, sleep, waitFor, waitHealthy, waitStreaming, WriteLoad } from "./support";

let sb: Sandbox;
let originalStackFile: string;
const T = (minutes: number) => minutes * 60_000;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-day2-"));

/**
 * The sandbox's stack file with some config keys changed (a copy: the repository's file stays).
 * An object value is merged into the key's own (`postgres-ha:postgres` keeps the declared roles).
 */
function stackFileWith(changes: Record<string, unknown>, name = "Pulumi.prod.yaml"): string {
  const doc = YAML.parse(fs.readFileSync(originalStackFile, "utf8")) as { config: Record<string, unknown> };
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  for (const [k, v] of Object.entries(changes)) doc.config[k] = isObject(v) && isObject(doc.config[k]) ? { ...doc.config[k], ...v } : v;
  const dir = fs.mkdtempSync(path.join(tmp, "stack-"));
  const file = path.join(dir, name);
  fs.writeFileSync(file, YAML.stringify(doc));
  return file;
}

async function applyFile(file: string) {
  const started = Date.now();
  const r = await apply(await openSandbox(), { stack: file, log: (l) => process.stderr.write(`[day2] ${l}\n`) });
  if (!r.rollout.ok) throw new Error(`rollout failed: ${JSON.stringify(r.rollout.failure)}`);
  sb = await openSandbox();
  return { rollout: r.rollout, seconds: (Date.now() - started) / 1000 };
}

async function nodeStatus(host: string): Promise<{ appliedHash: string; desiredHash: string; pendingRestart: { service: string; reason: string }[]; lastApply: { ok: boolean } }> {
  return JSON.parse(await sh(host, "pgha-node status --json"));
}

async function servicePid(host: string, unit: string): Promise<number> {
  return Number((await sh(host, `systemctl show -p MainPID --value ${unit}`)).trim());
}

/** Every long-running server process of the cluster: a restart shows as a new pid. */
async function serverPids(): Promise<Record<string, number>> {
  const pids: Record<string, number> = {};
  for (const n of sb.spec.nodes) {
    if (n.role === "postgres") pids[`${n.name}/postgres`] = mainPid(n.name, "postgres") ?? -1;
    if (n.role === "etcd") pids[`${n.name}/etcd`] = await servicePid(n.name, "etcd");
    if (n.role === "haproxy") pids[`${n.name}/haproxy-master`] = await servicePid(n.name, "haproxy");
  }
  return pids;
}

/** The etcd cluster's members as `pgha-etcd members` on `anchor` prints them. */
async function etcdMembers(anchor: string): Promise<{ id: string; status: string; name: string; peer: string }[]> {
  return (await sh(anchor, "pgha-etcd members")).trim().split("\n").map((l) => {
    const [id, status, name, peer] = l.split(" ");
    return { id, status, name, peer };
  });
}

/**
 * Quorum writes to etcd through `anchor` every 500 ms until stopped: a put needs a majority of
 * the members, so a failed one means quorum was lost (5 s command timeout covers an election).
 */
const runningProbes = new Set<{ stop: () => Promise<unknown> }>();
afterEach(async () => {
  // A test that failed midway leaves its probe running: stop it with the test.
  await Promise.all([...runningProbes].map((p) => p.stop()));
});

function etcdQuorumProbe(anchor: string) {
  let running = true;
  let samples = 0;
  const failures: string[] = [];
  const address = sb.layout.addresses[anchor];
  const tls = "--cacert=/etc/pgha/tls/ca.crt --cert=/etc/pgha/tls/node.crt --key=/etc/pgha/tls/node.key";
  const loop = (async () => {
    while (running) {
      const r = await hostExec(anchor, ["bash", "-c", `ETCDCTL_API=3 etcdctl --endpoints=https://${address}:2379 ${tls} --command-timeout=5s put /pgha-day2-quorum-probe ${samples}`], { timeoutMs: 20_000 })
        .catch((e: Error) => ({ code: -1, stdout: "", stderr: e.message }));
      samples++;
      if (r.code !== 0) failures.push(`${new Date().toISOString()} ${r.stderr.trim()}`);
      await sleep(500);
    }
  })();
  const probe = {
    stop: async () => {
      running = false;
      runningProbes.delete(probe);
      await loop;
      return { samples, failures };
    },
  };
  runningProbes.add(probe);
  return probe;
}

beforeAll(async () => {
  sb = await sandbox();
  originalStackFile = sb.state.stackFile;
  await waitHealthy(sb);
}, T(4));

afterAll(async () => {
  // Leave the cluster as the other suites expect it: the stack file it was started with.
  const sbNow = await openSandbox();
  if (path.resolve(sbNow.state.stackFile) !== path.resolve(originalStackFile) || sbNow.state.config === undefined) await applyFile(originalStackFile);
  fs.rmSync(tmp, { recursive: true, force: true });
}, T(6));

describe("a config-only change converges on the running cluster", () => {
  it("cron schedule, retention, HAProxy timing and a member tag: every node on its new bundle, reloaded live, nothing restarted, no write lost", async () => {
    const load = new WriteLoad(sb, "day2_apply");
    await load.prepare();
    load.start();
    await waitFor("writes flowing", async () => load.ackedCount > 50, 30_000);
    const ro = await sb.client.connect("ro");
    await ro.query("select 1");
    const before = await serverPids();
    const file = stackFileWith({
      "postgres-ha:backup": { fullSchedule: "30 3 * * *", fullRetentionDays: 9, diffSchedule: "* * * * *" },
      "postgres-ha:haproxy": { checkIntervalMs: 1500 },
      "postgres-ha:postgres": { members: { db3: { noloadbalance: true } } },
    });
    const appliedAt = new Date();
    const { rollout, seconds } = await applyFile(file);
    process.stderr.write(`[day2] config-only change converged on ${rollout.nodes.length} nodes in ${seconds.toFixed(1)} s (rollout ${rollout.seconds.toFixed(1)} s)\n`);

    // Every node reports the bundle the stack file renders to.
    const { spec } = loadStack(file);
    for (const n of spec.nodes) {
      const want = renderBundle(spec, n.name, sb.layout).hash;
      const st = await nodeStatus(n.name);
      expect(`${n.name} ${st.appliedHash} ${st.desiredHash} ${st.lastApply.ok}`).toBe(`${n.name} ${want} ${want} true`);
    }
    // The monitoring node first (it watches the rest), then the etcd members one at a time.
    const first = [...nodesOf(spec, "monitor"), ...nodesOf(spec, "etcd")].map((n) => n.name);
    expect(rollout.order.slice(0, first.length)).toEqual(first);
    const leader = (await sb.client.leader())!;
    expect(rollout.order[rollout.order.length - 1]).toBe(leader);
    for (const lb of nodesOf(spec, "haproxy")) {
      expect(rollout.nodes.find((r) => r.node === lb.name)!.actions).toContain("haproxy-reload");
      expect(await sh(lb.name, `cat ${NODE_PATHS.haproxyConfig}`)).toContain("inter 1500ms");
    }
    // The new cron lines are installed on every member, and the every-minute one fires.
    for (const db of postgresMembers(sb)) {
      const cron = await sh(db, `cat ${NODE_PATHS.cron}`);
      expect(cron).toMatch(/^30 3 \* \* \* postgres \/usr\/local\/sbin\/pgha-backup full/m);
      expect(cron).toMatch(/^\* \* \* \* \* postgres \/usr\/local\/sbin\/pgha-backup diff/m);
    }
    const diffDone = await waitFor("the new cron line's diff backup on the leader", async () => {
      const log = await sh(leader, "cat /var/log/pgha/backup.log 2>/dev/null || true");
      return log.split("\n").find((l) => /diff backup \S+ verified/.test(l) && new Date(l.split(" ")[0]) >= new Date(appliedAt.getTime() - 1000));
    }, 180_000, 2000);
    expect(diffDone).toMatch(/diff backup/);
    // The member tag reached Patroni (a local setting: reloaded, not restarted).
    await waitFor("db3 tagged noloadbalance", async () => (await sb.client.cluster())?.members.find((m) => m.name === "db3")?.tags?.noloadbalance === true, 60_000, 1000);
    // The read-only session opened before the reload still works; nothing restarted.
    expect((await ro.query("select 1 as one")).rows[0].one).toBe(1);
    await ro.end();
    expect(await serverPids()).toEqual(before);
    const result = await load.stop();
    expect(result.errors).toBe(0);
    expect(await load.lost(result.acked)).toEqual([]);
  }, T(8));

  it("a parameter that needs a restart is reported pending on every member, and nothing restarts; 300 custom parameters apply live; `restart --pending` applies it under write load with one switchover, no write lost", async () => {
    const before = await serverPids();
    const custom = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`pgha_day2.p${i}`, `v${i}`]));
    // An increase (a decrease takes another path, below).
    const running = Number((await sh(postgresMembers(sb)[0], "runuser -u postgres -- psql -h /var/run/postgresql -XAtc 'show max_connections'")).trim());
    const raised = running + 100;
    const file = stackFileWith({ "postgres-ha:postgres": { parameters: { max_connections: raised, ...custom } } });
    const { spec } = loadStack(file);
    // The bundle carries them; user-data stays the bootstrap.
    for (const n of spec.nodes) expect(renderBundle(spec, n.name, sb.layout).userDataGzip.length).toBeLessThan(4096);
    await applyFile(file);
    for (const db of postgresMembers(sb)) {
      await waitFor(`${db} to report PostgreSQL pending a restart`, async () => (await nodeStatus(db)).pendingRestart.some((p) => p.service === "postgresql" && /max_connections/.test(p.reason)), 60_000, 1000);
      await waitFor(`${db} to serve the custom parameters`, async () => (await sh(db, "runuser -u postgres -- psql -h /var/run/postgresql -XAtc 'show pgha_day2.p299'")).trim() === "v299", 60_000, 1000);
    }
    const st = await sb.client.cluster();
    expect(st!.members.every((m) => m.pending_restart)).toBe(true);
    expect(await serverPids()).toEqual(before);

    // The rolling restart, under write load: replicas one at a time, one switchover, the old
    // leader last; every acknowledged write is still there.
    const load = new WriteLoad(sb, "day2_restart");
    await load.prepare();
    load.start();
    await waitFor("writes flowing", async () => load.ackedCount > 50, 30_000);
    const leaderBefore = (await sb.client.leader())!;
    const r = await runRestart({ transport: sandboxTransport, nodes: sb.spec.nodes, pendingOnly: true, log: (l) => process.stderr.write(`[day2] ${l}\n`) });
    await waitFor("writes after the rolling restart", async () => (load.lastAckAt() ?? 0) > Date.now() - 1000, 60_000);
    const result = await load.stop();
    process.stderr.write(`[day2] rolling restart of ${r.order.length} members in ${r.seconds.toFixed(1)} s, ${r.switchovers} switchover: write gap ${(result.longestGapMs / 1000).toFixed(1)} s, ${result.errors} failed statement(s), ${result.acked.length} acknowledged\n`);
    expect(r.failure).toBeUndefined();
    expect(r.order).toEqual([...postgresMembers(sb).filter((m) => m !== leaderBefore).sort(), leaderBefore]);
    expect(r.steps.map((x) => x.action)).toEqual(["restart", "restart", "switchover", "restart"]);
    expect(r.switchovers).toBe(1);
    expect(r.leaderAfter).not.toBe(leaderBefore);
    expect(r.stillPending).toEqual([]);
    expect(await load.lost(result.acked)).toEqual([]);
    for (const db of postgresMembers(sb)) {
      expect(`${db} ${(await sh(db, "runuser -u postgres -- psql -h /var/run/postgresql -XAtc 'show max_connections'")).trim()}`).toBe(`${db} ${raised}`);
      expect(mainPid(db, "postgres")).not.toBe(before[`${db}/postgres`]);
    }

    // Back to the stack as it was: a decrease. A standby must run at least the primary's
    // max_connections, so the leader takes it first, in place, then the replicas; no switchover.
    await applyFile(originalStackFile);
    for (const db of postgresMembers(sb)) await waitFor(`${db} pending a restart again`, async () => (await nodeStatus(db)).pendingRestart.some((p) => p.service === "postgresql"), 60_000, 1000);
    const load2 = new WriteLoad(sb, "day2_restart_down");
    await load2.prepare();
    load2.start();
    await waitFor("writes flowing", async () => load2.ackedCount > 50, 30_000);
    const leaderNow = (await sb.client.leader())!;
    const back = await runRestart({ transport: sandboxTransport, nodes: sb.spec.nodes, pendingOnly: true });
    await waitFor("writes after the restart", async () => (load2.lastAckAt() ?? 0) > Date.now() - 1000, 60_000);
    const result2 = await load2.stop();
    process.stderr.write(`[day2] decrease max_connections ${raised} → ${running}: leader restarted in place first, ${back.seconds.toFixed(1)} s in all: write gap ${(result2.longestGapMs / 1000).toFixed(1)} s, ${result2.errors} failed statement(s)\n`);
    expect(back.failure).toBeUndefined();
    expect(back.order[0]).toBe(leaderNow);
    expect(back.switchovers).toBe(0);
    expect(back.leaderInPlace).toMatch(new RegExp(`max_connections ${raised} → ${running}`));
    expect(back.stillPending).toEqual([]);
    expect(await load2.lost(result2.acked)).toEqual([]);
    for (const db of postgresMembers(sb)) expect(`${db} ${(await sh(db, "runuser -u postgres -- psql -h /var/run/postgresql -XAtc 'show max_connections'")).trim()}`).toBe(`${db} ${running}`);
    await waitHealthy(sb);
  }, T(12));
});

describe("PostgreSQL members, etcd members and HAProxy nodes scale out and in under write load", () => {
  it("postgres.nodes 3 → 4, etcd.nodes 3 → 5, haproxy.nodes 2 → 3: the new member clones, streams, joins the quorum and every HAProxy, the new etcd members join the running cluster, the new HAProxy routes; back with the leader removed: handed over first, then gone from HAProxy, the quorum, the slots and the DCS, the etcd members removed, the other hosts gone; etcd quorum never lost, no write lost", async () => {
    const members = postgresMembers(sb);
    const added = `db${members.length + 1}`;
    const lbs = nodesOf(sb.spec, "haproxy").map((n) => n.name);
    const addedLb = `lb${lbs.length + 1}`;
    const etcds = nodesOf(sb.spec, "etcd").map((n) => n.name);
    const addedEtcd = [`etcd${etcds.length + 1}`, `etcd${etcds.length + 2}`];
    const load = new WriteLoad(sb, "day2_scale");
    await load.prepare();
    load.start();
    const quorum = etcdQuorumProbe(etcds[0]);
    await waitFor("writes flowing", async () => load.ackedCount > 50, 30_000);

    // Out: one more member, two more etcd members, one more HAProxy node.
    const file = stackFileWith({ "postgres-ha:postgres": { nodes: members.length + 1 }, "postgres-ha:etcd": { nodes: etcds.length + 2 }, "postgres-ha:haproxy": { nodes: lbs.length + 1 } });
    const out = await apply(await openSandbox(), { stack: file, log: (l) => process.stderr.write(`[day2] ${l}\n`) });
    sb = await openSandbox();
    expect(out.rollout.ok).toBe(true);
    expect(out.membership).toMatchObject({ removed: [] });
    expect([...out.membership!.added].sort()).toEqual([added, ...addedEtcd, addedLb].sort());
    process.stderr.write(`[day2] scale out: ${added} streaming ${out.membership!.readyAfter[added].toFixed(1)} s, ${addedEtcd.map((e) => `${e} healthy ${out.membership!.readyAfter[e].toFixed(1)} s`).join(", ")}, ${addedLb} routing ${out.membership!.readyAfter[addedLb].toFixed(1)} s after their boot began\n`);
    // Five started etcd members, every one healthy; Patroni's configuration names all five.
    const five = await etcdMembers(etcds[0]);
    expect(five.map((m) => `${m.name} ${m.status}`).sort()).toEqual([...etcds, ...addedEtcd].map((e) => `${e} started`).sort());
    for (const e of addedEtcd) expect((await hostExec(e, ["pgha-node", "check"])).code).toBe(0);
    for (const db of postgresMembers(sb)) expect(await sh(db, `cat ${NODE_PATHS.patroniConfig}`)).toContain(`${sb.layout.addresses[addedEtcd[1]]}:2379`);
    // The new HAProxy node routes to the leader and knows the new member; every member admits it.
    expect((await hostExec(addedLb, ["pgha-node", "check"])).code).toBe(0);
    const lbAddress = sb.layout.addresses[addedLb];
    for (const db of postgresMembers(sb)) expect(await sh(db, `cat ${NODE_PATHS.dataDir}/pg_hba.conf`)).toContain(`${lbAddress}/32`);
    expect(postgresMembers(sb)).toContain(added);
    const view = await sb.client.cluster();
    expect(view!.members.find((m) => m.name === added)).toMatchObject({ state: "streaming" });
    for (const lb of nodesOf(sb.spec, "haproxy")) expect(await sh(lb.name, `cat ${NODE_PATHS.haproxyConfig}`)).toMatch(new RegExp(`server ${added} `));
    await waitFor(`${added} in synchronous_standby_names`, async () => (await sb.client.query<{ s: string }>("rw", "select current_setting('synchronous_standby_names') as s"))[0].s.includes(added), 60_000, 1000);
    // Reads through the read-only endpoint reach it (HAProxy balances new connections).
    const addedAddress = sb.layout.addresses[added];
    await waitFor(`a read-only connection served by ${added}`, async () => {
      const c = await sb.client.connect("ro");
      try {
        return (await c.query("select host(inet_server_addr()) as a")).rows[0].a === addedAddress;
      } finally {
        await c.end();
      }
    }, 90_000, 200);

    // In, with the member to remove leading: it must hand over first.
    const leader = (await sb.client.leader())!;
    const sw = await sh(leader, `pgha-node switchover --candidate ${added} --json`, 240_000);
    expect(JSON.parse(sw)).toMatchObject({ from: leader, to: added });
    const back = await apply(await openSandbox(), { stack: originalStackFile, log: (l) => process.stderr.write(`[day2] ${l}\n`) });
    sb = await openSandbox();
    expect(back.rollout.ok).toBe(true);
    expect(back.membership).toMatchObject({ added: [], handedOver: { from: added } });
    expect([...back.membership!.removed].sort()).toEqual([added, ...addedEtcd, addedLb].sort());
    const hostsAfter = (await listHosts(sb.stateDir)).map((h) => h.name);
    for (const gone of [addedLb, ...addedEtcd]) expect(hostsAfter).not.toContain(gone);
    expect((await etcdMembers(etcds[0])).map((m) => `${m.name} ${m.status}`).sort()).toEqual(etcds.map((e) => `${e} started`).sort());
    for (const db of postgresMembers(sb)) await waitFor(`${db}'s pg_hba without ${addedLb}`, async () => !(await sh(db, `cat ${NODE_PATHS.dataDir}/pg_hba.conf`)).includes(`${lbAddress}/32`), 60_000, 1000);
    await waitFor("writes after the scale-in", async () => (load.lastAckAt() ?? 0) > Date.now() - 1000, 60_000);
    const result = await load.stop();
    const probe = await quorum.stop();
    process.stderr.write(`[day2] scale out and in: ${result.acked.length} writes acknowledged, ${result.errors} failed statement(s) (the hand-over), longest gap ${(result.longestGapMs / 1000).toFixed(1)} s; etcd quorum writes ${probe.samples}, failed ${probe.failures.length}\n`);
    expect(probe.failures).toEqual([]);
    expect(probe.samples).toBeGreaterThan(20);
    expect(postgresMembers(sb)).not.toContain(added);
    expect((await sb.client.cluster())!.members.map((m) => m.name)).not.toContain(added);
    for (const lb of nodesOf(sb.spec, "haproxy")) expect(await sh(lb.name, `cat ${NODE_PATHS.haproxyConfig}`)).not.toMatch(new RegExp(`server ${added} `));
    expect((await sb.client.query<{ s: string }>("rw", "select current_setting('synchronous_standby_names') as s"))[0].s).not.toContain(added);
    expect(await sb.client.query("rw", "select slot_name from pg_replication_slots where slot_name = $1", [added])).toEqual([]);
    expect(await load.lost(result.acked)).toEqual([]);
    await waitHealthy(sb);
  }, T(15));

  it("`replace` of an etcd member (a new instance, no data): it is removed and joins again as a new member, quorum held throughout", async () => {
    const etcds = nodesOf(sb.spec, "etcd").map((n) => n.name);
    const target = etcds[1];
    const before = await etcdMembers(etcds[0]);
    const oldId = before.find((m) => m.name === target)!.id;
    const quorum = etcdQuorumProbe(etcds[0]);
    const replaced = await replaceNode(await openSandbox(), target, (l) => process.stderr.write(`[day2] ${l}\n`));
    const probe = await quorum.stop();
    const after = await etcdMembers(etcds[0]);
    process.stderr.write(`[day2] replace of ${target}: healthy ${replaced.seconds.toFixed(1)} s after its old host was removed; member ${oldId} → ${after.find((m) => m.name === target)?.id}; etcd quorum writes ${probe.samples}, failed ${probe.failures.length}\n`);
    expect(after.map((m) => `${m.name} ${m.status}`).sort()).toEqual(etcds.map((e) => `${e} started`).sort());
    expect(after.find((m) => m.name === target)!.id).not.toBe(oldId);
    // `sandbox status` reports each member's id: the new one.
    const reported = (await status(await openSandbox())).etcd;
    expect(reported.map((e) => [e.name, e.memberId])).toEqual(etcds.map((e) => [e, after.find((m) => m.name === e)!.id]));
    expect(await sh(target, "journalctl -b -t pgha-etcd --no-pager")).toMatch(new RegExp(`knows ${target} \\(${oldId}\\) as started but it has no data here`));
    expect(probe.failures).toEqual([]);
    await waitHealthy(sb);
  }, T(6));
});

describe("the EC2 boot path, executed", () => {
  it("a bundle whose bytes do not match its hash is refused and the node is unchanged", async () => {
    const node = "lb2";
    const st = await nodeStatus(node);
    const prefix = bundlePrefix(sb.spec.clusterName);
    const genuine = renderBundle(sb.spec, node, sb.layout);
    const altered = Buffer.from(genuine.archive);
    altered[altered.length - 2048] ^= 0xff;
    const claimed = sha256(Buffer.concat([genuine.archive, Buffer.from("other")]));
    await deploy(sb.spec.region, { objects: [{ bucket: sb.spec.backup.bucketName, key: bundleKeys.bundle(prefix, node, claimed), body: altered }] });
    const before = await sh(node, `sha256sum ${NODE_PATHS.haproxyConfig} ${NODE_PATHS.nodeEnv}`);
    const r = await hostExec(node, ["pgha-node", "apply", claimed]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/refused: .* has sha256 [0-9a-f]{64} — it was altered or damaged; nothing was changed/);
    expect(await sh(node, `sha256sum ${NODE_PATHS.haproxyConfig} ${NODE_PATHS.nodeEnv}`)).toBe(before);
    expect((await nodeStatus(node)).appliedHash).toBe(st.appliedHash);
    // A genuine bundle of another node is refused too.
    const other = renderBundle(sb.spec, "lb1", sb.layout);
    await deploy(sb.spec.region, { objects: [{ bucket: sb.spec.backup.bucketName, key: bundleKeys.bundle(prefix, node, other.hash), body: other.archive }] });
    const wrong = await hostExec(node, ["pgha-node", "apply", other.hash]);
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toMatch(/is for node lb1, this is lb2/);
  }, T(2));

  it("a new node software reaches a node through its bundle, and the old one's files go", async () => {
    const node = "lb2";
    const prefix = bundlePrefix(sb.spec.clusterName);
    const current = renderBundle(sb.spec, node, sb.layout);
    // A node software that differs by one file, and a bundle that names it.
    const { nodeSoftware } = await import("../../src/render/software");
    const { readTar, writeTar } = await import("../../src/bundle/tar");
    const entries = [...readTar(nodeSoftware().tar), { path: "usr/local/lib/pgha/DAY2-MARKER", mode: 0o644, content: Buffer.from("day2\n") }];
    const tar = writeTar(entries);
    const manifest = { ...current.manifest, software: { sha256: sha256(tar), version: "test" } };
    const archive = packNodeBundle(manifest, current.files);
    const hash = sha256(archive);
    await deploy(sb.spec.region, {
      objects: [
        { bucket: sb.spec.backup.bucketName, key: bundleKeys.software(prefix, sha256(tar)), body: tar },
        { bucket: sb.spec.backup.bucketName, key: bundleKeys.bundle(prefix, node, hash), body: archive },
      ],
    });
    const r = JSON.parse(await sh(node, `pgha-node apply ${hash} --json`));
    expect(r).toMatchObject({ ok: true, softwareInstalled: sha256(tar), changed: [] });
    expect((await sh(node, "cat /usr/local/lib/pgha/DAY2-MARKER")).trim()).toBe("day2");
    const back = JSON.parse(await sh(node, `pgha-node apply ${current.hash} --json`));
    expect(back).toMatchObject({ ok: true, softwareInstalled: nodeSoftware().sha256 });
    expect((await hostExec(node, ["test", "-e", "/usr/local/lib/pgha/DAY2-MARKER"])).code).toBe(1);
  }, T(2));

  it("a secret missing from Secrets Manager: pgha-secrets names it and writes nothing; it succeeds once the secret is complete", async () => {
    const node = "lb2";
    const name = sb.spec.names.nodeSecret[node];
    const doc = secretDocuments(sb.spec, sb.material).find((d) => d.name === name)!;
    const files = `sha256sum /etc/haproxy/secrets.env ${NODE_PATHS.nodeEnv} /etc/pgha/tls/node.crt /etc/pgha/tls/node.key`;
    const before = await sh(node, files);
    try {
      await deploy(sb.spec.region, { deleteSecrets: [name] });
      const gone = await hostExec(node, ["pgha-secrets", "fetch"], { env: { PGHA_SECRETS_RETRY_SECONDS: "0" } });
      expect(gone.code).toBe(1);
      expect(gone.stderr).toContain(`cannot read secret ${name}`);
      expect(gone.stderr).toMatch(/nothing was written/);
      const partial = JSON.parse(doc.value);
      delete partial.statsPassword;
      await publishSecrets([{ name, value: JSON.stringify(partial) }], sb.spec.region);
      const incomplete = await hostExec(node, ["pgha-secrets", "fetch"], { env: { PGHA_SECRETS_RETRY_SECONDS: "0" } });
      expect(incomplete.code).toBe(1);
      expect(incomplete.stderr).toContain(`secret ${name} has no value for: statsPassword`);
      expect(await sh(node, files)).toBe(before);
    } finally {
      await publishSecrets([doc], sb.spec.region);
    }
    const ok = await hostExec(node, ["pgha-secrets", "fetch"]);
    expect(`${ok.code} ${ok.stderr}`).toMatch(/^0 .*secrets in place for lb2/s);
    expect(await sh(node, files)).toBe(before);
  }, T(2));

  it("a data volume attached 20 s after first boot: setup waits, formats it once, PostgreSQL lives on it; `replace` of that member while it leads hands over, boots a new host and mounts the same volume without formatting", async () => {
    const leader = (await sb.client.leader())!;
    const member = postgresMembers(sb).filter((m) => m !== leader).pop()!;
    // A new instance for a replica with a new, empty volume (as after `pulumi up --replace`).
    await powerCut(member);
    await resetHost(member);
    fs.rmSync(path.join(volumesDirectory(sb.stateDir), `${member}-data.img`), { force: true });
    const bundle = renderBundle(sb.spec, member, sb.layout);
    await bootHost(hostDefinition(sb.stateDir, member, sb.layout.addresses[member], bundle.userDataGzip), { image: sb.state.image, stateDir: sb.stateDir });
    await waitFor(`${member}'s setup waiting for its data volume`, async () => {
      const r = await hostExec(member, ["bash", "-c", "journalctl -t pgha-setup --no-pager | grep -c 'waiting for the data volume' || true"]).catch(() => undefined);
      return r && Number(r.stdout.trim()) > 0;
    }, 120_000, 1000);
    await sleep(20_000);
    await attachVolume(member, ensureVolumeFile(sb.stateDir, member, sb.spec.postgres.dataVolume.sizeGiB));
    await waitForBoot(member, 300_000);
    await waitStreaming(sb, member, 300_000);
    const mount = await sh(member, "findmnt -no SOURCE,FSTYPE /var/lib/postgresql");
    expect(mount.trim()).toMatch(/^\/dev\/loop\d+ ext4$/);
    expect(await sh(member, "findmnt -no TARGET --target /var/lib/postgresql/17/pgha")).toBe("/var/lib/postgresql\n");
    expect(Number((await sh(member, "journalctl -b -t pgha-setup --no-pager | grep -c 'formatting' || true")).trim())).toBe(1);
    // `sandbox replace` of that member while it leads (a new AMI reaching it): it hands over
    // first, a new host boots from the current image, and the same file system comes back — its
    // creation time and a file written before — with no formatting; no acknowledged write lost.
    const created = async () => (await sh(member, "tune2fs -l \"$(findmnt -no SOURCE /var/lib/postgresql)\" | grep 'Filesystem created'")).trim();
    const createdBefore = await created();
    await sh(member, "echo before-replace > /var/lib/postgresql/.day2-marker");
    expect(JSON.parse(await sh(leader, `pgha-node switchover --candidate ${member} --json`, 240_000))).toMatchObject({ to: member });
    const load = new WriteLoad(sb, "day2_replace");
    await load.prepare();
    load.start();
    await waitFor("writes flowing", async () => load.ackedCount > 50, 30_000);
    const replaced = await replaceNode(await openSandbox(), member, (l) => process.stderr.write(`[day2] ${l}\n`));
    expect(replaced.handedOver).toMatchObject({ from: member });
    await waitStreaming(sb, member, 180_000);
    await waitFor("writes after the replace", async () => (load.lastAckAt() ?? 0) > Date.now() - 1000, 60_000);
    const result = await load.stop();
    process.stderr.write(`[day2] replace of the leader ${member}: healthy ${replaced.seconds.toFixed(1)} s after its old host was removed; write gap ${(result.longestGapMs / 1000).toFixed(1)} s (the hand-over), ${result.errors} failed statement(s)\n`);
    expect(await load.lost(result.acked)).toEqual([]);
    expect((await sh(member, "findmnt -no FSTYPE /var/lib/postgresql")).trim()).toBe("ext4");
    expect(await created()).toBe(createdBefore);
    expect((await sh(member, "cat /var/lib/postgresql/.day2-marker")).trim()).toBe("before-replace");
    expect(Number((await sh(member, "journalctl -b -t pgha-setup --no-pager | grep -c 'formatting' || true")).trim())).toBe(0);
    await waitHealthy(sb);
  }, T(12));
});
