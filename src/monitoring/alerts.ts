// The alert rules of a stack (issue 12), derived from its own promises: the RTO and RPOs of
// `objectives`, the synchronous mode, Patroni's failover lag bound, the backup schedules, the
// certificate renewal window. Rendered as a Prometheus rule file for the monitoring node;
// `promtool test rules` checks every rule fires on the fault it describes and stays quiet
// otherwise (test/unit/alerts.test.ts), and the README's catalogue is generated from this list.
//
// The series come from the exporters of src/metrics/targets.ts. Prometheus scrapes each target
// with `job` = its MetricsJob and a `node` label = the node's name.
import YAML from "yaml";
import type { ClusterSpec } from "../spec";
import { nodesOf } from "../spec";
import { NODE_PATHS } from "../node-paths";
import { longestGapSeconds } from "../cost/cron";

/**
 * While the cluster follows another (its leader is a standby leader: a standby cluster, or an old
 * primary fenced by a promotion), it takes no writes and commits nothing synchronously: an empty
 * rw backend and no synchronous standby are its normal state, not faults.
 */
const UNLESS_FOLLOWING = `unless on () (sum(patroni_standby_leader{job="patroni"}) > 0)`;

/** The slots of other regions' standby clusters (standby_<stack>, src/spec.ts standbySlotName). */
export const STANDBY_SLOT_PATTERN = "standby_.*";

/** "25GB" → bytes (max_slot_wal_keep_size: PostgreSQL size units, 1024-based; MB without one). */
function pgSizeBytes(v: string): number {
  const m = /^(\d+)\s*(kB|MB|GB|TB)?$/.exec(v.trim());
  if (!m) throw new Error(`not a PostgreSQL size: ${v}`);
  return Number(m[1]) * { kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }[m[2] ?? "MB"]!; // its unit without one: MB
}

/** page: someone acts now (a promise is broken or about to be); ticket: within working hours. */
export type Severity = "page" | "ticket";

export interface AlertRule {
  name: string;
  severity: Severity;
  /** How long the condition must hold, seconds (0: at once). */
  forSeconds: number;
  expr: string;
  /** One line for the notification ({{ $labels.x }} allowed). */
  summary: string;
  /** What to do first, for the catalogue and the notification. */
  firstStep: string;
  /** The promise of the stack the rule watches, in words (with its value). */
  promise: string;
}

/** Restore drills: older than this is stale whatever the schedule (the "two weeks"). */
export const DRILL_MAX_AGE_SECONDS = 14 * 86400;
/** The data volume: used above this fraction pages before PostgreSQL stops on a full disk. */
export const DATA_VOLUME_USED_FRACTION = 0.85;
/** A pending restart older than this: a change is half applied. */
export const PENDING_RESTART_SECONDS = 86400;

const duration = (s: number) => (s % 86400 === 0 && s >= 86400 ? `${s / 86400}d` : s % 3600 === 0 && s >= 3600 ? `${s / 3600}h` : s % 60 === 0 && s >= 60 ? `${s / 60}m` : `${s}s`);
const hours = (s: number) => (s >= 2 * 86400 ? `${+(s / 86400).toFixed(1)} days` : s >= 3600 ? `${+(s / 3600).toFixed(1)} h` : `${s} s`);

/** How stale a job's newest success may be: its longest gap between runs, plus a quarter (at least an hour). */
export function staleAfterSeconds(cron: string): number {
  const gap = longestGapSeconds(cron);
  return gap + Math.max(3600, Math.round(gap / 4));
}

export function alertRules(spec: ClusterSpec): AlertRule[] {
  const members = nodesOf(spec, "postgres").length;
  const p = spec.patroni;
  const o = spec.objectives;
  const leaderMissingFor = p.ttl + 2 * p.loopWait;
  // Alerts that PghaLeaderMissing inhibits (src/monitoring/alertmanager.ts) wait until it fires: a
  // lost leader empties the rw backend and the synchronous standbys at once, and one page says it.
  // Their `for` outlasts the leader's by two scrapes, or the consequence pages before the cause.
  const afterLeaderMissing = (s: number) => Math.max(s, leaderMissingFor + 2 * spec.monitoring.scrapeIntervalSeconds);
  const rules: AlertRule[] = [
    {
      name: "PghaTargetDown",
      severity: "ticket",
      forSeconds: 120,
      expr: "up == 0",
      summary: "{{ $labels.job }} metrics on {{ $labels.node }} do not answer",
      firstStep: "`systemctl status` of the exporter on the node (journal); a node that is down raises its own alerts too",
      promise: "every node is watched",
    },
    {
      name: "PghaLeaderMissing",
      severity: "page",
      forSeconds: leaderMissingFor,
      // A cluster that follows another (a standby cluster, or a primary fenced by a promotion in
      // the other region) is led by its standby leader: not a missing leader.
      expr: `(sum(patroni_primary{job="patroni"}) or vector(0)) + (sum(patroni_standby_leader{job="patroni"}) or vector(0)) < 1`,
      summary: "no member of the cluster is the leader",
      firstStep: "`status`: which members run, is etcd healthy (quorum)? Patroni's journal on the members says why none leads",
      promise: `RTO ${o.rtoSeconds} s: a leader within Patroni's ttl (${p.ttl} s) plus two loops`,
    },
    {
      name: "PghaMembersMissing",
      severity: members > 2 ? "ticket" : "page",
      forSeconds: 120,
      expr: `(count(patroni_postgres_running{job="patroni"} == 1) or vector(0)) < ${members}`,
      summary: `fewer than the ${members} declared PostgreSQL members run PostgreSQL`,
      firstStep: "`status`: which member is missing; its journal (patroni), its data volume; `sandbox replace`/`pulumi up` rebuilds a lost one",
      promise: `${members} members (postgres.nodes)`,
    },
    {
      name: "PghaReplicaLagAboveFailoverBound",
      severity: "ticket",
      forSeconds: 120,
      // Another region's standby cluster (its slot standby_<stack>) is no failover target here.
      expr: `max by (member) (pgha_standby_replay_lag_bytes{job="postgres", slot!~"${STANDBY_SLOT_PATTERN}"}) > ${p.maximumLagOnFailover}`,
      summary: `replica {{ $labels.member }} is more than ${p.maximumLagOnFailover} bytes behind: Patroni will not fail over to it`,
      firstStep: "its disk and network (node metrics), long queries on it (replay conflicts), `status` lag",
      promise: `a failover target within patroni.maximumLagOnFailover (${p.maximumLagOnFailover} bytes)`,
    },
    {
      name: "PghaArchiveBehindRpo",
      severity: "page",
      // Two scrapes: with archive_timeout equal to the RPO (prod: 60 s), every forced switch of
      // an idle cluster makes a segment wait a few seconds (the push) while the newest archived
      // file is just past the RPO; an evaluation landing there paged (CI on 30caa8f: it flapped
      // four times in ten minutes on an idle cluster). Only an archive that stays behind fires.
      forSeconds: 2 * spec.monitoring.scrapeIntervalSeconds,
      expr:
        `(max(pgha_archiver_pending_files{job="postgres"} and on(node) pgha_archiver_archiving{job="postgres"} == 1) > 0)` +
        ` and on() (time() - max(pgha_archiver_last_archived_time_seconds{job="postgres"} and on(node) pgha_archiver_archiving{job="postgres"} == 1) > ${o.pitrRpoSeconds})`,
      summary: `WAL is waiting for the archive and the newest archived file is older than the PITR RPO (${o.pitrRpoSeconds} s)`,
      firstStep: "the leader's `/var/log/pgbackrest` and `pgbackrest check`; is the S3 endpoint reachable (network, credentials, KMS)?",
      promise: `PITR RPO ${o.pitrRpoSeconds} s (objectives.pitrRpoSeconds)`,
    },
    {
      name: "PghaArchiveFailing",
      severity: "ticket",
      forSeconds: 0,
      // Still failing: the newest attempt failed. A failure the next try recovered from (archive-push
      // meeting the lock of the bootstrap's stanza-create, once, at every new cluster) is no ticket.
      expr: `(increase(pgha_archiver_failed_count{job="postgres"}[10m]) > 0) and on(node) (pgha_archiver_last_failed_time_seconds{job="postgres"} > pgha_archiver_last_archived_time_seconds{job="postgres"})`,
      summary: "archive_command keeps failing on {{ $labels.node }}: its newest attempt failed",
      firstStep: "the leader's `/var/log/pgbackrest/*archive-push*`; failures that repeat become PghaArchiveBehindRpo",
      promise: `PITR RPO ${o.pitrRpoSeconds} s`,
    },
    {
      name: "PghaNodeJobFailed",
      severity: "ticket",
      forSeconds: 0,
      // A failed run newer than every success of the same job on any node (a job moves with the
      // leader: an old failure on a former leader is not one).
      expr:
        `(pgha_job_last_run_timestamp_seconds{job="node"} and on(node, kind) (pgha_job_last_exit_status{job="node"} != 0))` +
        ` > on(kind) group_left() max by (kind) (pgha_job_last_success_timestamp_seconds{job="node"} or pgha_job_last_run_timestamp_seconds{job="node"} * 0)`,
      summary: "the {{ $labels.kind }} job failed on {{ $labels.node }} and has not succeeded since",
      firstStep: "`/var/log/pgha/backup.log` on the node (`pgha-backup {{ $labels.kind }}` runs it again)",
      promise: "every scheduled backup, dump and drill succeeds",
    },
    {
      name: "PghaFullBackupStale",
      severity: "page",
      forSeconds: 0,
      expr: `time() - max(pgha_job_last_success_timestamp_seconds{job="node", kind="full"}) > ${staleAfterSeconds(spec.backup.fullSchedule)}`,
      summary: `the newest full backup is older than its schedule allows (${hours(staleAfterSeconds(spec.backup.fullSchedule))})`,
      firstStep: "PghaNodeJobFailed says why; `pgha-backup full` on the leader takes one now",
      promise: `a full backup per backup.fullSchedule (\`${spec.backup.fullSchedule}\`)`,
    },
    {
      name: "PghaEtcdNoLeader",
      severity: "page",
      forSeconds: 30,
      expr: `etcd_server_has_leader{job="etcd"} == 0`,
      summary: "etcd member {{ $labels.node }} sees no leader",
      firstStep: "`etcdctl endpoint status` from a member; with a quorum lost Patroni keeps the primary only in failsafe mode",
      promise: `a DCS quorum (${spec.etcd.nodes} members)`,
    },
    {
      name: "PghaEtcdMemberDown",
      severity: "ticket",
      forSeconds: 60,
      expr: `up{job="etcd"} == 0`,
      summary: "etcd member {{ $labels.node }} does not answer",
      firstStep: "its journal (`etcd`); a member that lost its data rejoins with `sandbox replace`/a new instance",
      promise: `a DCS quorum (${spec.etcd.nodes} members)`,
    },
    {
      name: "PghaReadWriteEndpointEmpty",
      severity: "page",
      forSeconds: afterLeaderMissing(30),
      expr: `haproxy_backend_active_servers{job="haproxy", proxy="primary"} < 1 ${UNLESS_FOLLOWING}`,
      summary: "HAProxy {{ $labels.node }} routes the read-write endpoint to no server",
      firstStep: "is there a leader (PghaLeaderMissing)? Can the HAProxy node reach Patroni's REST API (TLS, :8008)?",
      promise: `writes through rw within RTO ${o.rtoSeconds} s`,
    },
    {
      name: "PghaDataVolumeFilling",
      severity: "page",
      forSeconds: 300,
      expr:
        `1 - node_filesystem_avail_bytes{job="node", mountpoint="${NODE_PATHS.dataMount}"} / node_filesystem_size_bytes{job="node", mountpoint="${NODE_PATHS.dataMount}"} > ${DATA_VOLUME_USED_FRACTION}`,
      summary: `the data volume of {{ $labels.node }} is more than ${DATA_VOLUME_USED_FRACTION * 100} % used`,
      firstStep: "WAL held for a slot or the archive (PghaArchiveBehindRpo, `status` slots)? Else grow postgres.dataVolume.sizeGiB",
      promise: `PostgreSQL never stops on a full disk (${spec.postgres.dataVolume.sizeGiB} GiB)`,
    },
    {
      name: "PghaRestartPending",
      severity: "ticket",
      forSeconds: PENDING_RESTART_SECONDS,
      expr: `patroni_pending_restart{job="patroni"} == 1`,
      summary: "{{ $labels.node }} has waited more than a day for a restart a change asked for",
      firstStep: "`restart --pending` (one switchover at most)",
      promise: "a change is applied in full",
    },
    {
      name: "PghaUnitFailed",
      severity: "ticket",
      forSeconds: 300,
      expr: `node_systemd_unit_state{job="node", state="failed"} == 1`,
      summary: "unit {{ $labels.name }} failed on {{ $labels.node }}",
      firstStep: "`journalctl -u {{ $labels.name }}` on the node (a secrets rotation, an access run, an exporter)",
      promise: "the node's own jobs run",
    },
  ];
  if (spec.postgres.syncMode !== "off") {
    rules.push({
      name: "PghaSynchronousStandbyMissing",
      severity: "page",
      forSeconds: afterLeaderMissing(60),
      expr: `(count(pgha_standby_replay_lag_bytes{job="postgres", state="streaming", sync_state=~"sync|quorum"}) or vector(0)) < ${spec.postgres.syncNodeCount} ${UNLESS_FOLLOWING}`,
      summary: `fewer synchronous standbys stream than the ${spec.postgres.syncNodeCount} every commit waits for`,
      firstStep: spec.postgres.syncMode === "strict" ? "writes are blocked (strict): bring a replica back first" : "commits are not protected by a standby now: bring a replica back (`status`)",
      promise: `failover RPO ${o.failoverRpoSeconds} s (postgres.syncMode ${spec.postgres.syncMode}, ${spec.postgres.syncNodeCount} standby)`,
    });
  }
  if (spec.standbyClusters.length) {
    // On the leader only: Patroni keeps the permanent slots on the replicas too, never active there.
    const onLeader = `and on (node) (patroni_primary{job="patroni"} == 1)`;
    const keep = spec.postgres.parameters.max_slot_wal_keep_size;
    const keepBytes = keep ? pgSizeBytes(keep) : undefined;
    rules.push({
      name: "PghaStandbyClusterNotStreaming",
      severity: "ticket",
      forSeconds: 300,
      expr: `(pg_replication_slots_active{job="postgres", slot_name=~"${STANDBY_SLOT_PATTERN}"} == 0) ${onLeader}`,
      summary: "the standby cluster of slot {{ $labels.slot_name }} does not stream from the leader {{ $labels.node }}",
      firstStep: "the other region's standby leader (`status` standbyCluster), the peering and port 5000; meanwhile it reads the repository copy",
      promise: "a second region within seconds of this one (standbyClusters)",
    });
    if (keepBytes) {
      rules.push({
        name: "PghaStandbyClusterWalRetained",
        severity: "page",
        forSeconds: 300,
        expr: `(pg_replication_slots_pg_wal_lsn_diff{job="postgres", slot_name=~"${STANDBY_SLOT_PATTERN}"} > ${Math.floor(keepBytes / 2)}) ${onLeader}`,
        summary: "slot {{ $labels.slot_name }} holds more than half of max_slot_wal_keep_size on {{ $labels.node }}",
        firstStep: "bring the standby cluster back, or let it go: at max_slot_wal_keep_size the slot is given up and the standby must catch up from the repository copy",
        promise: `the primary's disk is never filled for a standby (max_slot_wal_keep_size ${keep})`,
      });
    }
    rules.push({
      name: "PghaStandbyClusterLagging",
      severity: "ticket",
      forSeconds: 300,
      expr: `max by (member, slot) (pgha_standby_replay_lag_seconds{job="postgres", slot=~"${STANDBY_SLOT_PATTERN}"}) > ${o.pitrRpoSeconds}`,
      summary: `standby cluster member {{ $labels.member }} (slot {{ $labels.slot }}) replays more than ${o.pitrRpoSeconds} s behind`,
      firstStep: "the peering's bandwidth and latency, the standby leader's disk (`status` standbyCluster lag)",
      promise: `a region loss costs no more than the PITR RPO ${o.pitrRpoSeconds} s`,
    });
  }
  if (spec.tls.enabled) {
    const window = spec.tls.renewBeforeDays * 86400;
    rules.push({
      name: "PghaCertificateExpiring",
      severity: "ticket",
      forSeconds: 0,
      expr: `min by (node, certificate) (pgha_tls_certificate_not_after_timestamp_seconds{job="node"}) - time() < ${window}`,
      summary: `the {{ $labels.certificate }} certificate of {{ $labels.node }} expires within ${spec.tls.renewBeforeDays} days and was not renewed`,
      firstStep: "`pulumi up` re-issues certificates inside the renewal window (the sandbox: `sandbox apply`); nodes pick them up with their next `pgha-secrets rotate`",
      promise: `certificates renewed ${spec.tls.renewBeforeDays} days before they expire (tls.renewBeforeDays)`,
    });
  }
  if (spec.backup.restoreDrillSchedule) {
    const stale = Math.max(DRILL_MAX_AGE_SECONDS, staleAfterSeconds(spec.backup.restoreDrillSchedule));
    rules.push({
      name: "PghaRestoreDrillStale",
      severity: "ticket",
      forSeconds: 0,
      expr: `time() - max(pgha_job_last_success_timestamp_seconds{job="node", kind="drill"}) > ${stale}`,
      summary: `no restore drill has succeeded for ${hours(stale)}: the newest backups are unproven`,
      firstStep: "`pgha-backup drill` on the offload replica; its log says which step failed",
      promise: "a backup counts once a restore from it was proven",
    });
  }
  return rules;
}

/** The Prometheus rule file (one group), labels `severity`, `stack` and `cluster` on every alert. */
export function renderAlertRules(spec: ClusterSpec): string {
  const doc = {
    groups: [
      {
        name: `pgha-${spec.stack}`,
        rules: alertRules(spec).map((r) => ({
          alert: r.name,
          expr: r.expr,
          ...(r.forSeconds ? { for: duration(r.forSeconds) } : {}),
          labels: { severity: r.severity, stack: spec.stack, cluster: spec.scope },
          annotations: { summary: r.summary, first_step: r.firstStep, promise: r.promise },
        })),
      },
    ],
  };
  return `# Alert rules of stack ${spec.stack} (cluster ${spec.scope}). Rendered by postgres-ha from the stack's promises.\n${YAML.stringify(doc, { lineWidth: 0 })}`;
}

/** The README's alert catalogue: each rule, its severity, what it watches and what to do first. */
export function alertCatalogue(spec: ClusterSpec): string {
  // {{ $labels.node }} reads ‹node› in the table (an HTML-looking <node> would vanish in Markdown).
  const words = (t: string) => t.replace(/\{\{ \$labels\.(\w+) \}\}/g, "‹$1›");
  const rows = alertRules(spec).map((r) => `| \`${r.name}\` | ${r.severity} | ${r.forSeconds ? duration(r.forSeconds) : "at once"} | ${r.promise} | ${words(r.summary)} | ${words(r.firstStep)} |`);
  return ["| alert | severity | for | the promise it watches | says | first step |", "|---|---|---|---|---|---|", ...rows].join("\n");
}
