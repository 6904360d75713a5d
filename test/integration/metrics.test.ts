// Metrics on the booted hosts (issue 12, part 1): every node's exporters answer over TLS with a
// client certificate of the cluster CA and refuse a scraper without one; each serves the metric
// families the alert rules are to use, with the labels they need; and a node job run by cron
// (a backup) leaves its outcome where node-exporter serves it — a failed one included.
import { metricsTargets, samplesOf, JOB_PROBE_METRIC, type MetricsTarget } from "../../src/metrics/targets";
import { scrape } from "../../src/sandbox/metrics";
import { startS3, stopS3 } from "../../src/sandbox/s3";
import { hostExec } from "../../src/sandbox/hosts";
import { NODE_PATHS } from "../../src/node-paths";
import { DB_USERS } from "../../src/spec";
import { spawnSync } from "child_process";
import * as path from "path";
import type { Sandbox } from "../../src/sandbox/cluster";
import { localSql, postgresMembers, sandbox, sh, waitFor, waitHealthy } from "./support";

let sb: Sandbox;
let targets: MetricsTarget[];
const T = (minutes: number) => minutes * 60_000;

beforeAll(async () => {
  sb = await sandbox();
  await waitHealthy(sb);
  targets = metricsTargets(sb.spec, sb.layout);
}, T(4));

afterAll(async () => {
  await startS3(sb.stateDir, sb.spec.backup.bucketName);
}, T(1));

const target = (job: MetricsTarget["job"], node: string) => targets.find((t) => t.job === job && t.node === node)!;
const scrapeOk = async (t: MetricsTarget) => {
  const r = await scrape(sb, t);
  if (r.status !== 200) throw new Error(`${t.job} on ${t.node}: HTTP ${r.status}: ${r.text.slice(0, 200)}`);
  return r.samples;
};

describe("metrics endpoints of every node", () => {
  it("every target answers 200 over TLS with the client certificate and serves its job's metric", async () => {
    expect(sb.spec.tls.enabled).toBe(true);
    // 9 nodes: node-exporter on each; postgres exporter and Patroni on 3; etcd on 3; HAProxy on 2;
    // Prometheus and Alertmanager on the monitoring node.
    expect(targets.map((t) => t.job).sort()).toEqual([...Array(9).fill("node"), ...Array(3).fill("postgres"), ...Array(3).fill("patroni"), ...Array(3).fill("etcd"), ...Array(2).fill("haproxy"), "prometheus", "alertmanager"].sort());
    const seen: string[] = [];
    for (const t of targets) {
      // An exporter (re)started moments ago by pgha-setup may need a second.
      const samples = await waitFor(`${t.job} metrics on ${t.node}`, () => scrapeOk(t), 30_000, 1000);
      expect([t.job, t.node, samplesOf(samples, JOB_PROBE_METRIC[t.job]).length > 0]).toEqual([t.job, t.node, true]);
      seen.push(`${t.job}@${t.node}`);
    }
    expect(seen).toHaveLength(targets.length);
  }, T(3));

  it("a scraper without a client certificate is refused by every exporter the project configures (node, postgres, HAProxy, Prometheus, Alertmanager)", async () => {
    for (const t of targets.filter((x) => x.job !== "patroni" && x.job !== "etcd")) {
      const outcome = await scrape(sb, t, { clientCert: false }).then((r) => `HTTP ${r.status}`, (e: Error) => `refused: ${e.message}`);
      expect([t.job, t.node, outcome]).toEqual([t.job, t.node, expect.stringMatching(/^refused: /)]);
    }
  }, T(2));

  it("the postgres exporter logs in as the metrics role and sees the leader's archiver and each standby's lag; replicas report as replicas", async () => {
    const leader = (await sb.client.leader())!;
    const members = postgresMembers(sb);
    // A freshly booted cluster may not have archived anything yet: one WAL file, archived.
    const wal = await localSql(leader, "select pg_walfile_name(pg_switch_wal()) from (select pg_logical_emit_message(false, 'pgha', 'archive now')) as wal_record");
    await waitFor(`WAL ${wal} archived`, async () => (await localSql(leader, "select coalesce(last_archived_wal, '') from pg_stat_archiver")) >= wal, 120_000, 500);
    // The role pgha-access keeps: login, pg_monitor, no password.
    expect(await localSql(leader, `select rolcanlogin, rolpassword is null, pg_has_role(rolname, 'pg_monitor', 'member') from pg_authid where rolname = '${DB_USERS.monitor}'`)).toBe("t|t|t");
    for (const m of members) {
      const s = await scrapeOk(target("postgres", m));
      expect([m, samplesOf(s, "pg_up")[0]?.value]).toEqual([m, 1]);
      expect([m, samplesOf(s, "pg_replication_is_replica")[0]?.value]).toEqual([m, m === leader ? 0 : 1]);
      expect([m, samplesOf(s, "pgha_archiver_archiving")[0]?.value]).toEqual([m, m === leader ? 1 : 0]);
    }
    // Every standby streaming in the leader's view (a replica that just rejoined passes through catchup).
    const s = await waitFor("every standby streaming in the leader's pg_stat_replication", async () => {
      const x = await scrapeOk(target("postgres", leader));
      const rows = samplesOf(x, "pgha_standby_replay_lag_bytes");
      return rows.length === members.length - 1 && rows.every((r) => r.labels.state === "streaming") ? x : undefined;
    }, 60_000, 1000);
    expect(samplesOf(s, "pgha_archiver_archived_count")[0].value).toBeGreaterThan(0);
    expect(samplesOf(s, "pgha_archiver_last_archived_time_seconds")[0].value).toBeGreaterThan(Date.now() / 1000 - 3600);
    // One row per standby, labelled with its member name and states, lag in bytes and seconds.
    const lag = samplesOf(s, "pgha_standby_replay_lag_bytes");
    expect(lag.map((x) => x.labels.member).sort()).toEqual(members.filter((m) => m !== leader).sort());
    for (const x of lag) {
      expect(x.labels.state).toBe("streaming");
      expect(["sync", "quorum", "potential", "async"]).toContain(x.labels.sync_state);
      expect(x.value).toBeGreaterThanOrEqual(0);
    }
    expect(samplesOf(s, "pgha_standby_replay_lag_seconds")).toHaveLength(lag.length);
    // Patroni's replication slots on the leader (the replication_slot collector).
    expect(samplesOf(s, "pg_replication_slot_slot_is_active").map((x) => x.labels.slot_name).sort()).toEqual(members.filter((m) => m !== leader).sort());
  }, T(2));

  it("node-exporter: the data volume's filesystem on PostgreSQL members, the units' states, the certificates' expiry, on every node", async () => {
    for (const t of targets.filter((x) => x.job === "node")) {
      const s = await scrapeOk(t);
      const role = sb.spec.nodes.find((n) => n.name === t.node)!.role;
      const unit = { postgres: "patroni.service", etcd: "etcd.service", haproxy: "haproxy.service", monitor: "prometheus.service" }[role];
      expect([t.node, unit, samplesOf(s, "node_systemd_unit_state", { name: unit, state: "active" })[0]?.value]).toEqual([t.node, unit, 1]);
      // pgha-secrets left when this node's certificate and the CA expire: beyond the renewal window.
      const certs = samplesOf(s, "pgha_tls_certificate_not_after_timestamp_seconds");
      expect([t.node, certs.map((c) => c.labels.certificate).sort()]).toEqual([t.node, ["ca", "node"]]);
      for (const c of certs) expect(c.value).toBeGreaterThan(Date.now() / 1000 + sb.spec.tls.renewBeforeDays * 86400);
      if (role === "postgres") {
        const data = samplesOf(s, "node_filesystem_avail_bytes", { mountpoint: NODE_PATHS.dataMount });
        expect([t.node, data.length]).toEqual([t.node, 1]);
        expect(data[0].value).toBeGreaterThan(0);
      }
    }
  }, T(2));

  it("Patroni, etcd and HAProxy: who leads, the etcd leader, the rw backend's one server", async () => {
    const leader = (await sb.client.leader())!;
    for (const m of postgresMembers(sb)) expect([m, samplesOf(await scrapeOk(target("patroni", m)), "patroni_primary")[0]?.value]).toEqual([m, m === leader ? 1 : 0]);
    for (const t of targets.filter((x) => x.job === "etcd")) expect([t.node, samplesOf(await scrapeOk(t), "etcd_server_has_leader")[0]?.value]).toEqual([t.node, 1]);
    // HAProxy marks a server up after `rise` checks: a replica that streamed again moments ago
    // (an earlier test's fault) may still be on its way in.
    for (const t of targets.filter((x) => x.job === "haproxy")) {
      const want = [1, postgresMembers(sb).length - 1];
      const got = await waitFor(`HAProxy ${t.node}: the leader in primary, every replica in replicas`, async () => {
        const s = await scrapeOk(t);
        const v = ["primary", "replicas"].map((proxy) => samplesOf(s, "haproxy_backend_active_servers", { proxy })[0]?.value);
        return v[0] === want[0] && v[1] === want[1] ? v : undefined;
      }, 30_000, 1000);
      expect([t.node, got]).toEqual([t.node, want]);
    }
  }, T(2));
});

describe("`pgha sandbox metrics`", () => {
  const pgha = (args: string[]) => spawnSync(process.execPath, [path.resolve(__dirname, "../../bin/pgha"), "sandbox", "metrics", ...args], { encoding: "utf8", timeout: 120_000 });

  it("--targets: one line per endpoint, every one up; a node and job with --grep print that node's samples; an unknown job is refused naming the exporters", () => {
    const t = pgha(["--targets"]);
    expect([t.status, t.stderr.replace(/^pgha: dist\/ is out of date.*\n/m, "")]).toEqual([0, ""]);
    const lines = t.stdout.trim().split("\n");
    expect(lines).toHaveLength(targets.length);
    for (const l of lines) expect(l).toMatch(/ up, \d+ samples$/);
    const leader = postgresMembers(sb)[0];
    const g = pgha([leader, "--job", "postgres", "--grep", "pg_up"]);
    expect(g.status).toBe(0);
    expect(g.stdout.trim().split("\n")).toContain(`${leader} postgres pg_up 1`);
    const bad = pgha(["--job", "mysql"]);
    expect([bad.status, bad.stderr]).toEqual([2, expect.stringContaining("--job mysql: the exporters are node, postgres, patroni, etcd, haproxy")]);
  }, T(3));
});

describe("a node job's outcome reaches the metrics (the exit status cron would swallow)", () => {
  /** The cron line of a backup kind, as /etc/cron.d/pgha-backup has it: user and command. */
  async function cronCommand(node: string, kind: string): Promise<{ user: string; command: string }> {
    const line = (await sh(node, `cat ${NODE_PATHS.cron}`)).split("\n").find((l) => !l.startsWith("#") && new RegExp(`[ /]pgha-backup ${kind}( |$)`).test(l));
    if (!line) throw new Error(`no ${kind} line in ${NODE_PATHS.cron} on ${node}`);
    const f = line.trim().split(/\s+/);
    return { user: f[5], command: f.slice(6).join(" ") };
  }
  const jobSample = async (node: string, name: string, job: string) => samplesOf(await scrapeOk(target("node", node)), name, { kind: job })[0]?.value;

  it("the cron command of a differential/incremental backup on the leader: exit status 0 and its success time; with S3 stopped: its failure, the last success kept", async () => {
    const leader = (await sb.client.leader())!;
    const kind = sb.spec.backup.diffSchedule ? "diff" : "incr";
    const { user, command } = await cronCommand(leader, kind);
    expect(user).toBe("postgres");
    // The first full backup (post_bootstrap, in the background) may still hold the lock on a new cluster.
    await waitFor("no physical backup running on the leader", async () => (await hostExec(leader, ["runuser", "-u", "postgres", "--", "flock", "-n", "/run/lock/pgha-backup-physical.lock", "true"])).code === 0, T(5), 2000);
    const t0 = Math.floor(Date.now() / 1000);
    await sh(leader, `runuser -u ${user} -- bash -c '${command.replace(/>.*$/, "")}'`, T(5));
    expect(await jobSample(leader, "pgha_job_last_exit_status", kind)).toBe(0);
    const success = (await jobSample(leader, "pgha_job_last_success_timestamp_seconds", kind))!;
    expect(success).toBeGreaterThanOrEqual(t0);
    expect(await jobSample(leader, "pgha_job_last_run_timestamp_seconds", kind)).toBe(success);
    // A replica runs the same cron line and does nothing: it records no outcome of its own.
    const replica = postgresMembers(sb).find((m) => m !== leader)!;
    const before = await jobSample(replica, "pgha_job_last_run_timestamp_seconds", kind);
    await sh(replica, `runuser -u ${user} -- bash -c '${command.replace(/>.*$/, "")}'`, T(2));
    expect(await jobSample(replica, "pgha_job_last_run_timestamp_seconds", kind)).toBe(before);

    await stopS3(sb.stateDir);
    try {
      // The job probes the repository first (PGHA_REPO_PROBE_SECONDS, 30 s by default; 5 s here).
      const r = await hostExec(leader, ["runuser", "-u", user, "--", "env", "PGHA_REPO_PROBE_SECONDS=5", "bash", "-c", command.replace(/>.*$/, "")], { timeoutMs: T(3) });
      expect(r.code).toBe(1);
    } finally {
      await startS3(sb.stateDir, sb.spec.backup.bucketName);
    }
    expect(await jobSample(leader, "pgha_job_last_exit_status", kind)).toBe(1);
    expect(await jobSample(leader, "pgha_job_last_success_timestamp_seconds", kind)).toBe(success);
    expect((await jobSample(leader, "pgha_job_last_run_timestamp_seconds", kind))!).toBeGreaterThan(success - 1);
  }, T(8));
});
