// Rotating the cluster's own passwords on real hosts (postgres.credentialsVersion): superuser,
// replication, rewind and REST API, member by member with a reload and no restart, under write
// load. Sessions and replication streams opened before keep going; afterwards the old passwords
// are refused and a replica that reconnects streams with the new one.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import YAML from "yaml";
import type { Client } from "pg";
import { apply, openSandbox, type Sandbox } from "../../src/sandbox/cluster";
import { hostExec } from "../../src/sandbox/hosts";
import { PORTS } from "../../src/spec";
import { localSql, postgresMembers, sandbox, sessionWrites, sleep, waitFor, waitHealthy } from "./support";

let sb: Sandbox;
const T = (minutes: number) => minutes * 60_000;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-credentials-"));
let original: string | undefined;

beforeAll(async () => {
  sb = await sandbox();
  await waitHealthy(sb);
}, T(4));

afterAll(async () => {
  // Back to the stack file the sandbox ran: its credentialsVersion differs, so this rotates once
  // more (new passwords, as lowering the version does on AWS) — the suites after this one open
  // the sandbox again and read them.
  if (original) {
    const r = await apply(await openSandbox(), { stack: original, log: (line) => process.stderr.write(`[credentials] ${line}\n`) });
    if (!r.rollout.ok) throw new Error(`restoring ${original} failed: ${r.rollout.failure?.message}`);
  }
}, T(6));

async function leader(): Promise<string> {
  return waitFor("a leader", () => sb.client.leader(), 120_000);
}

/** The SQLSTATE a promise fails with (or "ok"). */
async function sqlstate(p: Promise<unknown>): Promise<string> {
  try {
    const c = (await p) as Client;
    await c.end();
    return "ok";
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

/** The walreceiver's pid on a replica (a new pid: it reconnected). */
async function walReceiverPid(host: string): Promise<string> {
  return localSql(host, "select coalesce((select pid::text from pg_stat_wal_receiver where status = 'streaming'), '')");
}

/** A replication connection from `from` to the leader as replicator with this password: "ok" or the error. */
async function replicationLogin(from: string, leaderAddress: string, password: string): Promise<string> {
  const conninfo = `host=${leaderAddress} port=${PORTS.postgres} user=replicator dbname=postgres replication=true sslmode=verify-full sslrootcert=/etc/pgha/tls/ca.crt connect_timeout=5`;
  const r = await hostExec(from, ["bash", "-c", 'read -r PGPASSWORD; export PGPASSWORD; psql "$1" -XAtc IDENTIFY_SYSTEM 2>&1 >/dev/null && echo ok', "login", conninfo], { input: `${password}\n` });
  return r.stdout.trim().split("\n").pop() ?? "";
}

/** An authenticated REST call from `host` to its own Patroni (POST /reload): the HTTP status. */
async function restReload(host: string, password?: string): Promise<string> {
  const auth = password === undefined ? '-K /etc/pgha/restapi.curlrc' : '-u "patroni:$(cat)"';
  const r = await hostExec(host, ["bash", "-c", `. /etc/pgha/node.env; curl -s -o /dev/null -w '%{http_code}' --cacert /etc/pgha/tls/ca.crt --cert /etc/pgha/tls/node.crt --key /etc/pgha/tls/node.key ${auth} -X POST "$PGHA_REST_URL/reload"`], { input: password ?? "" });
  return r.stdout.trim();
}

describe("rotating the cluster's own passwords (postgres.credentialsVersion)", () => {
  it("under write load: a reload on every member, no restart; open sessions and streams carry on; the old passwords are refused", async () => {
    original = sb.state.stackFile;
    const before = { ...sb.material.cluster };
    const l = await leader();
    const replicas = postgresMembers(sb).filter((m) => m !== l).sort();
    const pids = Object.fromEntries(await Promise.all(replicas.map(async (r) => [r, await walReceiverPid(r)] as const)));
    for (const r of replicas) expect([r, pids[r]]).toEqual([r, expect.stringMatching(/^\d+$/)]);
    const patroniPids = async () => Object.fromEntries(await Promise.all(postgresMembers(sb).map(async (m) => [m, (await hostExec(m, ["systemctl", "show", "-p", "MainPID", "--value", "patroni.service"])).stdout.trim()] as const)));
    const patroniBefore = await patroniPids();

    await localSql(l, "drop table if exists credentials_load; create table credentials_load (id bigint primary key)");
    // A superuser session opened with the old password, writing every 20 ms through rw.
    const session = await sb.client.connect("rw", { connectTimeoutMs: 5000 });
    const writes = sessionWrites(session, "credentials_load");

    const doc = YAML.parse(fs.readFileSync(original, "utf8")) as { config: Record<string, any> };
    const pg = doc.config["postgres-ha:postgres"];
    const version = (pg.credentialsVersion ?? 1) + 1;
    doc.config["postgres-ha:postgres"] = { ...pg, credentialsVersion: version };
    const file = path.join(fs.mkdtempSync(path.join(tmp, "stack-")), path.basename(original));
    fs.writeFileSync(file, YAML.stringify(doc));
    const r = await apply(await openSandbox(), { stack: file, log: (line) => process.stderr.write(`[credentials] ${line}\n`) });
    await sleep(1000);
    const { acked, errors } = await writes.stop();

    // The rollout: every member ran the credentials action, the leader (last) set the verifiers,
    // then each replica adopted them in the second pass. Nothing is left to restart.
    expect(r.rollout.ok).toBe(true);
    expect(r.rollout.nodes.filter((n) => n.actions.includes("credentials")).map((n) => n.node).sort()).toEqual(postgresMembers(sb).sort());
    expect((r.rollout.credentialsAdopted ?? []).sort()).toEqual(replicas);
    expect(r.rollout.nodes.flatMap((n) => n.pendingRestart)).toEqual([]);
    expect(await patroniPids()).toEqual(patroniBefore);
    sb = await openSandbox();
    const after = sb.material.cluster;
    expect(after.credentialsVersion).toBe(version);
    for (const k of ["superuserPassword", "replicationPassword", "rewindPassword", "restApiPassword"] as const) expect([k, after[k] === before[k]]).toEqual([k, false]);

    // The session opened before kept writing: every write acknowledged, and all of them are there.
    expect(errors).toBe(0);
    expect(acked.length).toBeGreaterThan(20);
    await session.end();
    expect(Number(await localSql(await leader(), "select count(*) from credentials_load"))).toBe(acked.length);
    // The streams that were up stayed up: the same walreceiver on every replica.
    for (const rep of replicas) expect([rep, await walReceiverPid(rep)]).toEqual([rep, pids[rep]]);

    // New logins: the superuser's new password through rw, the old one refused (28P01).
    expect(await sqlstate(sb.client.connect("rw", { connectTimeoutMs: 5000 }))).toBe("ok");
    expect(await sqlstate(sb.client.connect("rw", { password: before.superuserPassword, connectTimeoutMs: 5000 }))).toBe("28P01");
    // Replication: the new password logs in, the old one is refused.
    const leaderAddress = sb.layout.addresses[await leader()];
    expect(await replicationLogin(replicas[0], leaderAddress, after.replicationPassword)).toBe("ok");
    expect(await replicationLogin(replicas[0], leaderAddress, before.replicationPassword)).toContain("password authentication failed for user \"replicator\"");
    // Every replica reconnects with the new password: cut the leader's walsenders.
    await localSql(await leader(), "select count(pg_terminate_backend(pid)) from pg_stat_replication");
    await waitFor("every replica streaming again", async () => {
      const now = await Promise.all(replicas.map((rep) => walReceiverPid(rep)));
      return now.every((pid, i) => pid !== "" && pid !== pids[replicas[i]]) || undefined;
    }, 60_000, 500);
    // The REST API: the member's own credentials (restapi.curlrc, rewritten with secrets.yml)
    // are accepted, the old password is not.
    for (const m of postgresMembers(sb)) {
      expect([m, await restReload(m)]).toEqual([m, expect.stringMatching(/^20[02]$/)]);
      expect([m, await restReload(m, before.restApiPassword)]).toEqual([m, "401"]);
    }
    // No password in any member's journal.
    for (const m of postgresMembers(sb)) {
      const found = await hostExec(m, ["bash", "-c", 'journalctl -q --no-pager | grep -cF -f - || true'], { input: `${after.superuserPassword}\n${after.replicationPassword}\n${after.restApiPassword}\n` });
      expect([m, found.stdout.trim()]).toEqual([m, "0"]);
    }
  }, T(8));
});
