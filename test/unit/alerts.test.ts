// The alert rules (src/monitoring/alerts.ts) under `promtool test rules`: each rule fires on the
// series of the fault it describes, after its `for`, with its labels — and stays quiet on the
// healthy series. Rendered for every tier, since thresholds come from each tier's promises.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import YAML from "yaml";
import { loadStackConfig } from "../../src/config/load";
import { buildSpec, nodesOf, type ClusterSpec } from "../../src/spec";
import { alertRules, renderAlertRules, staleAfterSeconds, DATA_VOLUME_USED_FRACTION, type AlertRule } from "../../src/monitoring/alerts";
import { longestGapSeconds } from "../../src/cost/cron";
import { PGHA_ROOT } from "../../src/sandbox/cluster/state";

jest.setTimeout(120_000); // promtool runs: seconds each on a busy machine

/** promtool from the sandbox image (Debian 13's, a dependency of the monitoring node's prometheus package). */
const PROMTOOL = process.env.PGHA_PROMTOOL ?? path.join(PGHA_ROOT, "images", "current", "usr", "bin", "promtool");

/** A tier's spec; "prod+standby" is prod followed by a standby cluster in another region (standbyClusters). */
function specFor(tier: string): ClusterSpec {
  if (tier === "prod+standby") {
    const raw = { "aws:region": "eu-west-1", "postgres-ha:tier": "prod", "postgres-ha:standbyClusters": JSON.stringify({ "prod-dr": { cidrs: ["10.21.0.0/16"] } }) };
    return buildSpec(loadStackConfig(raw, { stack: "prod" }), "prod");
  }
  return buildSpec(loadStackConfig({ "aws:region": "eu-west-1", "postgres-ha:tier": tier }, { stack: tier }), tier);
}

interface Scenario {
  /** What the series show. */
  title: string;
  series: { series: string; values: string }[];
  /** Evaluation time (promtool's clock starts at 0), and the alerts of `rule` expected then (label subsets beyond severity/stack/cluster). */
  at: string;
  rule: string;
  fires: Record<string, string>[];
}

const INTERVAL = 15; // seconds between samples in the scenarios

/** n samples of `v` (promtool's "a+0x(n-1)" expanding notation). */
const flat = (v: number | string, minutes: number) => `${v}+0x${Math.ceil((minutes * 60) / INTERVAL)}`;

function scenarios(spec: ClusterSpec): Scenario[] {
  const members = nodesOf(spec, "postgres").map((n) => n.name);
  // A single-member tier (dev) still gets every rule: its replica scenarios name a member it would have.
  const leader = members[0];
  const r1 = members[1] ?? "db2";
  const p = spec.patroni;
  const out: Scenario[] = [];
  const patroni = (primaryOf: (m: string) => number, minutes: number) =>
    members.map((m) => ({ series: `patroni_primary{job="patroni", node="${m}"}`, values: flat(primaryOf(m), minutes) }));
  const running = (runs: (m: string) => number, minutes: number) =>
    members.map((m) => ({ series: `patroni_postgres_running{job="patroni", node="${m}"}`, values: flat(runs(m), minutes) }));
  const ttlMinutes = Math.ceil((p.ttl + 2 * p.loopWait) / 60) + 1;

  out.push({ title: "an exporter stops answering", rule: "PghaTargetDown", at: "5m", series: [{ series: `up{job="node", node="etcd1"}`, values: "1 1 0+0x40" }], fires: [{ job: "node", node: "etcd1" }] });
  out.push({ title: "every exporter answers", rule: "PghaTargetDown", at: "5m", series: [{ series: `up{job="node", node="etcd1"}`, values: flat(1, 10) }], fires: [] });

  out.push({ title: "no member leads", rule: "PghaLeaderMissing", at: `${ttlMinutes}m`, series: patroni(() => 0, ttlMinutes + 2), fires: [{}] });
  out.push({ title: "a leader", rule: "PghaLeaderMissing", at: `${ttlMinutes}m`, series: patroni((m) => (m === leader ? 1 : 0), ttlMinutes + 2), fires: [] });
  // A cluster that follows another region's (a standby cluster, a fenced old primary): its standby leader leads.
  const following = (minutes: number) => members.map((m) => ({ series: `patroni_standby_leader{job="patroni", node="${m}"}`, values: flat(m === leader ? 1 : 0, minutes) }));
  out.push({ title: "a standby leader (the cluster follows another region's)", rule: "PghaLeaderMissing", at: `${ttlMinutes}m`, series: [...patroni(() => 0, ttlMinutes + 2), ...following(ttlMinutes + 2)], fires: [] });
  // A failover shorter than the rule's `for`: the leader is gone for ttl s, then another leads.
  const gapSamples = Math.floor(p.ttl / INTERVAL);
  out.push({
    title: "a failover within ttl",
    rule: "PghaLeaderMissing",
    at: `${ttlMinutes}m`,
    series: [
      { series: `patroni_primary{job="patroni", node="${leader}"}`, values: `1 0+0x${Math.ceil((ttlMinutes * 60) / INTERVAL) + 4}` },
      { series: `patroni_primary{job="patroni", node="${r1}"}`, values: `0 0+0x${gapSamples} 1+0x${Math.ceil((ttlMinutes * 60) / INTERVAL)}` },
    ],
    fires: [],
  });

  const down = members[members.length - 1];
  out.push({ title: "one member down", rule: "PghaMembersMissing", at: "5m", series: running((m) => (m === down ? 0 : 1), 6), fires: [{}] });
  out.push({ title: "all members run", rule: "PghaMembersMissing", at: "5m", series: running(() => 1, 6), fires: [] });

  const lagOver = p.maximumLagOnFailover + 1;
  out.push({ title: "a replica past the failover bound", rule: "PghaReplicaLagAboveFailoverBound", at: "5m", series: [{ series: `pgha_standby_replay_lag_bytes{job="postgres", node="${leader}", member="${r1}", state="streaming", sync_state="async"}`, values: flat(lagOver, 6) }], fires: [{ member: r1 }] });
  out.push({ title: "a replica within the bound", rule: "PghaReplicaLagAboveFailoverBound", at: "5m", series: [{ series: `pgha_standby_replay_lag_bytes{job="postgres", node="${leader}", member="${r1}", state="streaming", sync_state="async"}`, values: flat(p.maximumLagOnFailover, 6) }], fires: [] });

  // Archive: at t = RPO + 2 minutes the newest archived file is from t = 0.
  const rpo = spec.objectives.pitrRpoSeconds;
  const m = Math.ceil(rpo / 60) + 2;
  const archiver = (pending: number, lastArchived: string) => [
    { series: `pgha_archiver_archiving{job="postgres", node="${leader}"}`, values: flat(1, m + 1) },
    { series: `pgha_archiver_archiving{job="postgres", node="${r1}"}`, values: flat(0, m + 1) },
    { series: `pgha_archiver_pending_files{job="postgres", node="${leader}"}`, values: flat(pending, m + 1) },
    { series: `pgha_archiver_pending_files{job="postgres", node="${r1}"}`, values: flat(0, m + 1) },
    { series: `pgha_archiver_last_archived_time_seconds{job="postgres", node="${leader}"}`, values: lastArchived },
    // A replica's archiver never archived: 0 must not count as "the newest archived file".
    { series: `pgha_archiver_last_archived_time_seconds{job="postgres", node="${r1}"}`, values: flat(0, m + 1) },
  ];
  out.push({ title: "WAL waiting, the archive stuck for longer than the RPO", rule: "PghaArchiveBehindRpo", at: `${m}m`, series: archiver(3, flat(0, m + 1)), fires: [{}] });
  out.push({ title: "an idle cluster: nothing waiting, the newest archived file old", rule: "PghaArchiveBehindRpo", at: `${m}m`, series: archiver(0, flat(0, m + 1)), fires: [] });
  // An idle cluster's forced switch (archive_timeout = the RPO): one scrape sees the new segment
  // waiting while the newest archived file is just past the RPO; the push completes by the next.
  const blip = archiver(0, flat(0, m + 1)).map((x) => (x.series.startsWith("pgha_archiver_pending_files") && x.series.includes(`"${leader}"`) ? { ...x, values: `0x${(m * 60) / INTERVAL - 1} 1` } : x));
  out.push({ title: "an idle cluster's forced switch: one scrape with a segment waiting", rule: "PghaArchiveBehindRpo", at: `${m}m`, series: blip, fires: [] });
  // Archiving keeps up: last archived time advances with the clock (15 s per sample).
  out.push({ title: "WAL waiting but archiving keeps up", rule: "PghaArchiveBehindRpo", at: `${m}m`, series: archiver(1, `0+${INTERVAL}x${Math.ceil(((m + 1) * 60) / INTERVAL)}`), fires: [] });

  const failing = (failed: string, lastFailed: number, lastArchived: number) => [
    { series: `pgha_archiver_failed_count{job="postgres", node="${leader}"}`, values: failed },
    { series: `pgha_archiver_last_failed_time_seconds{job="postgres", node="${leader}"}`, values: flat(lastFailed, 21) },
    { series: `pgha_archiver_last_archived_time_seconds{job="postgres", node="${leader}"}`, values: flat(lastArchived, 21) },
  ];
  out.push({ title: "archive_command keeps failing", rule: "PghaArchiveFailing", at: "5m", series: failing(`0+0x12 1+0x8`, 200, 100), fires: [{ job: "postgres", node: leader }] });
  // One failure the next attempt recovered from (archive-push meeting stanza-create's lock at boot).
  out.push({ title: "one failure, archived since", rule: "PghaArchiveFailing", at: "5m", series: failing(`0+0x12 1+0x8`, 200, 230), fires: [] });
  out.push({ title: "no archive failure", rule: "PghaArchiveFailing", at: "5m", series: failing(flat(4, 6), 0, 100), fires: [] });

  // The jobs' own label is `kind`: `job` is Prometheus's (the textfile's exporter, node).
  const jobSeries = (node: string, kind: string, run: number, exit: number, success?: number) => [
    { series: `pgha_job_last_run_timestamp_seconds{job="node", kind="${kind}", node="${node}"}`, values: flat(run, 3) },
    { series: `pgha_job_last_exit_status{job="node", kind="${kind}", node="${node}"}`, values: flat(exit, 3) },
    ...(success === undefined ? [] : [{ series: `pgha_job_last_success_timestamp_seconds{job="node", kind="${kind}", node="${node}"}`, values: flat(success, 3) }]),
  ];
  out.push({ title: "a backup failed after its last success", rule: "PghaNodeJobFailed", at: "1m", series: jobSeries(leader, "diff", 2000, 1, 1000), fires: [{ job: "node", node: leader, kind: "diff" }] });
  out.push({ title: "a job that never succeeded", rule: "PghaNodeJobFailed", at: "1m", series: jobSeries(leader, "logical", 2000, 1), fires: [{ job: "node", node: leader, kind: "logical" }] });
  // The job moved with the leader: the old leader's failure is older than the new leader's success.
  out.push({ title: "an old failure on a former leader, a success since on the new one", rule: "PghaNodeJobFailed", at: "1m", series: [...jobSeries(r1, "diff", 1000, 1, 500), ...jobSeries(leader, "diff", 2000, 0, 2000)], fires: [] });
  out.push({ title: "the job succeeded", rule: "PghaNodeJobFailed", at: "1m", series: jobSeries(leader, "full", 2000, 0, 2000), fires: [] });

  // Full backups: promtool's clock starts at 0, so a success at t = 0 is `stale` old at t = stale.
  const stale = staleAfterSeconds(spec.backup.fullSchedule);
  // Long scenarios are evaluated every hour: the firing check lands on a step after the threshold.
  const staleMin = (Math.floor(stale / 3600) + 1) * 60;
  const successAt0 = [{ series: `pgha_job_last_success_timestamp_seconds{job="node", kind="full", node="${leader}"}`, values: `0+0x${Math.ceil((staleMin * 60) / 300)}` }];
  out.push({ title: "the newest full backup older than its schedule allows", rule: "PghaFullBackupStale", at: `${staleMin}m`, series: successAt0.map((s) => ({ ...s, values: s.values })), fires: [{}] });
  out.push({ title: "a full backup within its schedule", rule: "PghaFullBackupStale", at: `${Math.floor(stale / 60) - 1}m`, series: successAt0, fires: [] });

  out.push({ title: "an etcd member without a leader", rule: "PghaEtcdNoLeader", at: "2m", series: [{ series: `etcd_server_has_leader{job="etcd", node="etcd2"}`, values: flat(0, 3) }], fires: [{ job: "etcd", node: "etcd2" }] });
  out.push({ title: "etcd has a leader", rule: "PghaEtcdNoLeader", at: "2m", series: [{ series: `etcd_server_has_leader{job="etcd", node="etcd2"}`, values: flat(1, 3) }], fires: [] });
  out.push({ title: "an etcd member down", rule: "PghaEtcdMemberDown", at: "2m", series: [{ series: `up{job="etcd", node="etcd3"}`, values: flat(0, 3) }], fires: [{ job: "etcd", node: "etcd3" }] });
  out.push({ title: "etcd members up", rule: "PghaEtcdMemberDown", at: "2m", series: [{ series: `up{job="etcd", node="etcd3"}`, values: flat(1, 3) }], fires: [] });

  out.push({ title: "HAProxy's rw backend empty", rule: "PghaReadWriteEndpointEmpty", at: "2m", series: [{ series: `haproxy_backend_active_servers{job="haproxy", node="lb1", proxy="primary"}`, values: flat(0, 3) }], fires: [{ job: "haproxy", node: "lb1", proxy: "primary" }] });
  out.push({ title: "HAProxy's rw backend empty while the cluster follows another region's", rule: "PghaReadWriteEndpointEmpty", at: "2m", series: [{ series: `haproxy_backend_active_servers{job="haproxy", node="lb1", proxy="primary"}`, values: flat(0, 3) }, ...following(3)], fires: [] });
  out.push({ title: "HAProxy's rw backend has the leader", rule: "PghaReadWriteEndpointEmpty", at: "2m", series: [{ series: `haproxy_backend_active_servers{job="haproxy", node="lb1", proxy="primary"}`, values: flat(1, 3) }, { series: `haproxy_backend_active_servers{job="haproxy", node="lb1", proxy="replicas"}`, values: flat(0, 3) }], fires: [] });

  const volume = (usedFraction: number) => {
    const size = 100 * 2 ** 30;
    return [
      { series: `node_filesystem_size_bytes{job="node", node="${leader}", mountpoint="/var/lib/postgresql"}`, values: flat(size, 10) },
      { series: `node_filesystem_avail_bytes{job="node", node="${leader}", mountpoint="/var/lib/postgresql"}`, values: flat(Math.round(size * (1 - usedFraction)), 10) },
    ];
  };
  out.push({ title: "the data volume above the threshold", rule: "PghaDataVolumeFilling", at: "8m", series: volume(DATA_VOLUME_USED_FRACTION + 0.05), fires: [{ job: "node", node: leader, mountpoint: "/var/lib/postgresql" }] });
  out.push({ title: "the data volume below the threshold", rule: "PghaDataVolumeFilling", at: "8m", series: volume(DATA_VOLUME_USED_FRACTION - 0.05), fires: [] });

  out.push({ title: "a restart pending for more than a day", rule: "PghaRestartPending", at: "25h", series: [{ series: `patroni_pending_restart{job="patroni", node="${r1}"}`, values: "1+0x310" }], fires: [{ job: "patroni", node: r1 }] });
  out.push({ title: "a restart pending for an hour", rule: "PghaRestartPending", at: "1h", series: [{ series: `patroni_pending_restart{job="patroni", node="${r1}"}`, values: "1+0x310" }], fires: [] });
  out.push({ title: "a failed unit", rule: "PghaUnitFailed", at: "8m", series: [{ series: `node_systemd_unit_state{job="node", node="db2", name="pgha-secrets-rotate.service", state="failed"}`, values: flat(1, 10) }], fires: [{ job: "node", node: "db2", name: "pgha-secrets-rotate.service", state: "failed" }] });
  out.push({ title: "no failed unit", rule: "PghaUnitFailed", at: "8m", series: [{ series: `node_systemd_unit_state{job="node", node="db2", name="pgha-secrets-rotate.service", state="failed"}`, values: flat(0, 10) }], fires: [] });

  if (spec.postgres.syncMode !== "off") {
    const standby = (state: string, syncState: string) => [{ series: `pgha_standby_replay_lag_bytes{job="postgres", node="${leader}", member="${r1}", state="${state}", sync_state="${syncState}"}`, values: flat(0, 4) }];
    const syncLabel = spec.postgres.syncMode === "quorum" ? "quorum" : "sync";
    out.push({ title: "no synchronous standby streams", rule: "PghaSynchronousStandbyMissing", at: "3m", series: standby("streaming", "async"), fires: [{}] });
    out.push({ title: "a synchronous standby streams", rule: "PghaSynchronousStandbyMissing", at: "3m", series: standby("streaming", syncLabel), fires: [] });
    out.push({ title: "no synchronous standby while the cluster follows another region's", rule: "PghaSynchronousStandbyMissing", at: "3m", series: [...standby("streaming", "async"), ...following(4)], fires: [] });
  }
  if (spec.tls.enabled) {
    const day = 86400;
    const cert = (daysLeft: number) => [{ series: `pgha_tls_certificate_not_after_timestamp_seconds{job="node", node="${leader}", certificate="node"}`, values: flat(daysLeft * day, 3) }];
    out.push({ title: "a node certificate inside the renewal window", rule: "PghaCertificateExpiring", at: "1m", series: cert(spec.tls.renewBeforeDays - 1), fires: [{ node: leader, certificate: "node" }] });
    out.push({ title: "a node certificate before the renewal window", rule: "PghaCertificateExpiring", at: "1m", series: cert(spec.tls.renewBeforeDays + 1), fires: [] });
  }
  if (spec.backup.restoreDrillSchedule) {
    const drillStale = Math.max(14 * 86400, staleAfterSeconds(spec.backup.restoreDrillSchedule));
    const days = Math.ceil(drillStale / 86400) + 1;
    const series = [{ series: `pgha_job_last_success_timestamp_seconds{job="node", kind="drill", node="${r1}"}`, values: `0+0x${days * 24 * 12}` }];
    out.push({ title: "no drill for longer than two weeks", rule: "PghaRestoreDrillStale", at: `${days * 24}h`, series, fires: [{}] });
    out.push({ title: "a drill within two weeks", rule: "PghaRestoreDrillStale", at: `${Math.floor(drillStale / 3600) - 1}h`, series, fires: [] });
  }
  if (spec.standbyClusters.length) {
    const slot = spec.standbyClusters[0].slot;
    const onLeader = (m: number) => [{ series: `patroni_primary{job="patroni", node="${leader}"}`, values: flat(1, m) }, { series: `patroni_primary{job="patroni", node="${r1}"}`, values: flat(0, m) }];
    const active = (leaderValue: number, m: number) => [
      { series: `pg_replication_slots_active{job="postgres", node="${leader}", slot_name="${slot}"}`, values: flat(leaderValue, m) },
      // Patroni keeps the permanent slot on a replica too, never active there.
      { series: `pg_replication_slots_active{job="postgres", node="${r1}", slot_name="${slot}"}`, values: flat(0, m) },
    ];
    out.push({ title: "the standby cluster stopped streaming", rule: "PghaStandbyClusterNotStreaming", at: "6m", series: [...onLeader(8), ...active(0, 8)], fires: [{ job: "postgres", node: leader, slot_name: slot }] });
    out.push({ title: "the standby cluster streams (its slot is inactive only on the replicas)", rule: "PghaStandbyClusterNotStreaming", at: "6m", series: [...onLeader(8), ...active(1, 8)], fires: [] });
    const keepGb = Number(/^(\d+)GB$/.exec(spec.postgres.parameters.max_slot_wal_keep_size)![1]);
    const retained = (bytes: number, m: number) => [{ series: `pg_replication_slots_pg_wal_lsn_diff{job="postgres", node="${leader}", slot_name="${slot}"}`, values: flat(bytes, m) }];
    out.push({ title: "the slot holds more than half of max_slot_wal_keep_size", rule: "PghaStandbyClusterWalRetained", at: "6m", series: [...onLeader(8), ...retained(keepGb * 1024 ** 3 * 0.6, 8)], fires: [{ job: "postgres", node: leader, slot_name: slot }] });
    out.push({ title: "the slot holds little", rule: "PghaStandbyClusterWalRetained", at: "6m", series: [...onLeader(8), ...retained(16 * 1024 ** 2, 8)], fires: [] });
    const lag = (seconds: number, m: number) => [{ series: `pgha_standby_replay_lag_seconds{job="postgres", node="${leader}", member="dr-db1", slot="${slot}", state="streaming", sync_state="async"}`, values: flat(seconds, m) }];
    out.push({ title: "the standby cluster replays behind the PITR RPO", rule: "PghaStandbyClusterLagging", at: "6m", series: lag(spec.objectives.pitrRpoSeconds + 30, 8), fires: [{ member: "dr-db1", slot }] });
    out.push({ title: "the standby cluster replays within a second", rule: "PghaStandbyClusterLagging", at: "6m", series: lag(0.5, 8), fires: [] });
  }
  return out;
}

/** Rules whose scenarios span hours or days: evaluated every hour, not every 15 s (promtool evaluates every rule at every step up to eval_time). */
const LONG = new Set(["PghaFullBackupStale", "PghaRestartPending", "PghaRestoreDrillStale"]);

/** promtool's test file: one test group per scenario (each its own interval and series); `long` picks the day-scale rules. */
function promtoolTests(spec: ClusterSpec, rulesFile: string, long: boolean): string {
  const rules = new Map(alertRules(spec).map((r) => [r.name, r]));
  return YAML.stringify({
    rule_files: [rulesFile],
    evaluation_interval: long ? "1h" : "15s",
    tests: scenarios(spec).filter((s) => LONG.has(s.rule) === long).map((s) => {
      const r = rules.get(s.rule) as AlertRule;
      if (!r) throw new Error(`scenario "${s.title}" names no rule of this tier: ${s.rule}`);
      // The drill and backup scenarios span days: a sample every 5 min (full) or 1 h (drill).
      // A sample every 5 minutes on the day-scale rules (PromQL looks back 5 minutes for a sample).
      const interval = LONG.has(s.rule) ? "5m" : `${INTERVAL}s`;
      return {
        name: `${s.rule}: ${s.title}`,
        interval,
        input_series: s.series,
        alert_rule_test: [{
          eval_time: s.at,
          alertname: s.rule,
          exp_alerts: s.fires.map((labels) => {
            const all = { severity: r.severity, stack: spec.stack, cluster: spec.scope, ...labels };
            // The annotations as Prometheus renders them: {{ $labels.x }} filled in from the alert's labels.
            const fill = (t: string) => t.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, k: string) => (all as Record<string, string>)[k] ?? "");
            return { exp_labels: all, exp_annotations: { summary: fill(r.summary), first_step: fill(r.firstStep), promise: r.promise } };
          }),
        }],
      };
    }),
  }, { lineWidth: 0 });
}

describe("alert rules under promtool (Debian 13's)", () => {
  it("promtool is there (the sandbox image has it: scripts/setup-machine.sh)", () => {
    const r = spawnSync(PROMTOOL, ["--version"], { encoding: "utf8" });
    expect([PROMTOOL, r.error?.message ?? "", r.status]).toEqual([PROMTOOL, "", 0]);
  });

  it.each(["dev", "staging", "prod", "prod+standby"])("%s: the rule file passes `promtool check rules`, and every rule fires on its fault and stays quiet otherwise", (tier) => {
    const spec = specFor(tier);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-alerts-"));
    try {
      fs.writeFileSync(path.join(dir, "rules.yml"), renderAlertRules(spec));
      const check = spawnSync(PROMTOOL, ["check", "rules", path.join(dir, "rules.yml")], { encoding: "utf8" });
      expect([check.status, check.stderr]).toEqual([0, ""]);
      expect(check.stdout).toContain(`SUCCESS: ${alertRules(spec).length} rules found`);
      // Every rule has a firing scenario and a quiet one.
      const sc = scenarios(spec);
      for (const r of alertRules(spec)) {
        expect([r.name, sc.some((s) => s.rule === r.name && s.fires.length > 0), sc.some((s) => s.rule === r.name && s.fires.length === 0)]).toEqual([r.name, true, true]);
      }
      for (const long of [false, true]) {
        const file = path.join(dir, long ? "tests-long.yml" : "tests.yml");
        fs.writeFileSync(file, promtoolTests(spec, "rules.yml", long));
        const test = spawnSync(PROMTOOL, ["test", "rules", file], { encoding: "utf8", cwd: dir, timeout: 120_000 });
        expect([long, test.status, `${test.stdout}${test.stderr}`]).toEqual([long, 0, expect.stringContaining("SUCCESS")]);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("thresholds come from the tier's promises: the PITR RPO, the failover lag bound, the full-backup schedule, the member count", () => {
    for (const tier of ["dev", "staging", "prod"]) {
      const spec = specFor(tier);
      const by = new Map(alertRules(spec).map((r) => [r.name, r]));
      expect(by.get("PghaArchiveBehindRpo")!.expr).toContain(`> ${spec.objectives.pitrRpoSeconds})`);
      expect(by.get("PghaReplicaLagAboveFailoverBound")!.expr).toContain(`> ${spec.patroni.maximumLagOnFailover}`);
      expect(by.get("PghaMembersMissing")!.expr).toContain(`< ${nodesOf(spec, "postgres").length}`);
      const gap = longestGapSeconds(spec.backup.fullSchedule);
      expect(by.get("PghaFullBackupStale")!.expr).toContain(`> ${staleAfterSeconds(spec.backup.fullSchedule)}`);
      expect(staleAfterSeconds(spec.backup.fullSchedule)).toBeGreaterThan(gap);
      expect(by.has("PghaSynchronousStandbyMissing")).toBe(spec.postgres.syncMode !== "off");
    }
  });
});

describe("longestGapSeconds", () => {
  it("daily, three times a day, weekly, and a schedule whose gaps differ", () => {
    expect(longestGapSeconds("0 2 * * *")).toBe(86400);
    expect(longestGapSeconds("0 8,14,20 * * *")).toBe(12 * 3600);
    expect(longestGapSeconds("30 3 * * 0")).toBe(7 * 86400);
    expect(longestGapSeconds("*/15 * * * *")).toBe(900);
    expect(() => longestGapSeconds("0 0 31 2 *")).toThrow("never runs");
  });
});

describe("the README's alert catalogue (npx pgha alerts --readme)", () => {
  it("is the one the shipped prod stack renders, and names every rule", () => {
    const { alertsReadmeBlock, ALERTS_BEGIN, ALERTS_END } = require("../../src/cli/alerts") as typeof import("../../src/cli/alerts");
    const readme = fs.readFileSync(path.resolve(__dirname, "../../README.md"), "utf8");
    const block = readme.slice(readme.indexOf(ALERTS_BEGIN) + ALERTS_BEGIN.length, readme.indexOf(ALERTS_END)).trim();
    expect(block).toBe(alertsReadmeBlock().trim());
    const { loadStack } = require("../../src/config/stack-file") as typeof import("../../src/config/stack-file");
    for (const r of alertRules(loadStack("prod").spec)) expect(block).toContain(`| \`${r.name}\` |`);
  });
});

describe("the monitoring node's Prometheus configuration (src/monitoring/prometheus.ts)", () => {
  it("passes `promtool check config` with the rule file, one job per exporter, every target of the cluster labelled with its node", () => {
    const { renderPrometheusConfig, prometheusConfig } = require("../../src/monitoring/prometheus") as typeof import("../../src/monitoring/prometheus");
    const { metricsTargets } = require("../../src/metrics/targets") as typeof import("../../src/metrics/targets");
    const { sandboxLayout } = require("../../src/layout") as typeof import("../../src/layout");
    const spec = specFor("prod");
    const layout = sandboxLayout(spec);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-prom-"));
    try {
      // promtool reads the TLS files it is given: a real CA and client certificate.
      for (const name of ["ca", "monitor"]) {
        spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=${name}`, "-days", "1", "-keyout", path.join(dir, `${name}.key`), "-out", path.join(dir, `${name}.crt`)], { stdio: "ignore" });
      }
      fs.writeFileSync(path.join(dir, "rules.yml"), renderAlertRules(spec));
      const o = { rulesFile: path.join(dir, "rules.yml"), tls: { caFile: path.join(dir, "ca.crt"), certFile: path.join(dir, "monitor.crt"), keyFile: path.join(dir, "monitor.key") }, alertmanager: "127.0.0.1:9093", scrapeIntervalSeconds: 15 };
      fs.writeFileSync(path.join(dir, "prometheus.yml"), renderPrometheusConfig(spec, layout, o));
      const check = spawnSync(PROMTOOL, ["check", "config", path.join(dir, "prometheus.yml")], { encoding: "utf8" });
      expect([check.status, `${check.stdout}${check.stderr}`]).toEqual([0, expect.stringContaining(`SUCCESS: ${alertRules(spec).length} rules found`)]);
      const cfg = prometheusConfig(spec, layout, o) as { scrape_configs: { job_name: string; scheme: string; static_configs: { targets: string[]; labels: { node: string } }[] }[] };
      const scraped = cfg.scrape_configs.flatMap((j) => j.static_configs.map((s) => `${j.job_name} ${s.labels.node} ${j.scheme}://${s.targets[0]}`)).sort();
      expect(scraped).toEqual(metricsTargets(spec, layout).map((t) => `${t.job} ${t.node} ${t.scheme}://${t.address}:${t.port}`).sort());
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the monitoring node's Alertmanager configuration (src/monitoring/alertmanager.ts)", () => {
  /** amtool from the same image (prometheus-alertmanager). */
  const AMTOOL = process.env.PGHA_AMTOOL ?? path.join(path.dirname(PROMTOOL), "amtool");

  it("passes `amtool check-config`; pages and tickets reach the stack's SNS topic; the inhibitions name rules that exist", () => {
    const { renderAlertmanagerConfig, alertmanagerConfig, PAGE_REPEAT } = require("../../src/monitoring/alertmanager") as typeof import("../../src/monitoring/alertmanager");
    const spec = specFor("prod");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-am-"));
    try {
      const o = { topicArn: "arn:aws:sns:eu-west-1:123456789012:pgha-prod-alerts", region: "eu-west-1", apiUrl: "https://aws.sandbox.internal" };
      fs.writeFileSync(path.join(dir, "alertmanager.yml"), renderAlertmanagerConfig(spec, o));
      const check = spawnSync(AMTOOL, ["check-config", path.join(dir, "alertmanager.yml")], { encoding: "utf8" });
      expect([check.status, `${check.stdout}${check.stderr}`]).toEqual([0, expect.stringContaining("SUCCESS")]);
      const cfg = alertmanagerConfig(spec, o) as { route: { receiver: string; routes: { matchers: string[]; repeat_interval: string }[] }; receivers: { name: string; sns_configs: { topic_arn: string; api_url?: string }[] }[]; inhibit_rules: { source_matchers: string[]; target_matchers: string[] }[] };
      expect(cfg.receivers).toHaveLength(1);
      expect(cfg.receivers[0].sns_configs[0]).toMatchObject({ topic_arn: o.topicArn, api_url: o.apiUrl });
      expect(cfg.route.routes).toEqual([{ receiver: "sns", matchers: ['severity="page"'], repeat_interval: PAGE_REPEAT }]);
      // On AWS no api_url: Alertmanager's SNS client uses the region's endpoint.
      expect((alertmanagerConfig(spec, { ...o, apiUrl: undefined }) as typeof cfg).receivers[0].sns_configs[0].api_url).toBeUndefined();
      const names = new Set(alertRules(spec).map((r) => r.name));
      for (const i of cfg.inhibit_rules) for (const m of [...i.source_matchers, ...i.target_matchers]) for (const n of m.replace(/^alertname=~?"|"$/g, "").split("|")) expect([m, names.has(n)]).toEqual([m, true]);
      // A page an inhibition silences fires only after its source has: otherwise the consequence
      // pages before the cause silences it (the monitoring integration test stops Patroni
      // everywhere). A ticket may come first: it is the earlier, quieter symptom.
      const rule = (n: string) => alertRules(spec).find((r) => r.name === n)!;
      const split = (m: string) => m.replace(/^alertname=~?"|"$/g, "").split("|");
      const pairs = cfg.inhibit_rules.flatMap((i) => split(i.source_matchers[0]).flatMap((src) => split(i.target_matchers[0]).map((t) => [src, t])));
      const pagePairs = pairs.filter(([, t]) => rule(t).severity === "page");
      expect(pagePairs.length).toBeGreaterThan(0);
      for (const [src, t] of pagePairs) expect([src, t, rule(t).forSeconds >= rule(src).forSeconds + 2 * spec.monitoring.scrapeIntervalSeconds]).toEqual([src, t, true]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
