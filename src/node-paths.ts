// Where things are on a node — the same on EC2 and in the sandbox. A leaf module (it imports
// nothing of this project): the render path writes files to these paths, and the policies and
// `pgha plan`/`diff` look them up in what the program delivers, from the one definition.

/** The PostgreSQL major version every node runs (Debian 13's postgresql-17). */
export const POSTGRES_MAJOR = 17;

/** Paths on a node — the same on EC2 and in the sandbox. */
export const NODE_PATHS = {
  dataMount: "/var/lib/postgresql",
  dataDir: `/var/lib/postgresql/${POSTGRES_MAJOR}/pgha`,
  binDir: `/usr/lib/postgresql/${POSTGRES_MAJOR}/bin`,
  socketDir: "/var/run/postgresql",
  pgpass: "/var/lib/postgresql/.pgpass_patroni",
  /** Patroni reads this directory (config.yml, then secrets.yml): a reload picks up a rotated password. */
  patroniConfigDir: "/etc/patroni/config.d",
  patroniConfig: "/etc/patroni/config.d/config.yml",
  /** The cluster's passwords for Patroni (0600 postgres), written by pgha-secrets — never by the bundle. */
  patroniSecrets: "/etc/patroni/config.d/secrets.yml",
  dynamicFile: "/etc/patroni/dynamic.json",
  /** libpq's service file for Patroni and the PostgreSQL it starts (PGSERVICEFILE/PGSERVICE in Patroni's unit). */
  libpqServiceFile: "/etc/patroni/pg_service.conf",
  baseConf: "/etc/patroni/postgresql.base.conf",
  pgHbaReference: "/etc/patroni/pg_hba.conf",
  pgbackrestConf: "/etc/pgbackrest/pgbackrest.conf",
  pgbackrestSecrets: "/etc/pgbackrest/conf.d/secrets.conf",
  /** backup.secondRepository: the stanza in the second region's bucket (read-only, filled by S3 Replication). */
  pgbackrestSecondRegionConf: "/etc/pgbackrest/second-region.conf",
  /** A standby cluster: the primary's repository copy in this region (read-only). */
  pgbackrestStandbyConf: "/etc/pgbackrest/standby-source.conf",
  /** restoreFrom: the source cluster's repository (read-only), and the directory of its passphrase (pgha-secrets). */
  pgbackrestRestoreSourceConf: "/etc/pgbackrest/restore-source.conf",
  pgbackrestRestoreSourceSecretsDir: "/etc/pgbackrest/restore-source.d",
  etcdConfig: "/etc/etcd/pgha-etcd.yml",
  etcdMembers: "/etc/etcd/pgha-etcd-members",
  // Written by pgha-etcd prepare beside the data directory: pgha-etcd.yml plus the join settings.
  etcdEffectiveConfig: "/var/lib/etcd/pgha-etcd.effective.yml",
  etcdDataDir: "/var/lib/etcd/pgha",
  haproxyConfig: "/etc/haproxy/pgha.cfg",
  nodeEnv: "/etc/pgha/node.env",
  extraHosts: "/etc/pgha/hosts",
  /** The databases and roles pgha-access applies on the leader (no passwords: secret names). */
  accessFile: "/etc/pgha/access.json",
  /** postgres.credentialsVersion: a change runs `pgha-secrets rotate` (the cluster's own passwords). */
  credentialsVersion: "/etc/pgha/credentials.version",
  /** PgBouncer's configuration (pooler.enabled); Debian's unit runs it through a drop-in. */
  pgbouncerConfig: "/etc/pgbouncer/pgha.ini",
  pgbouncerDropIn: "/etc/systemd/system/pgbouncer.service.d/pgha.conf",
  /** patroni.watchdog on EC2: systemd-modules-load loads softdog at boot (pgha-setup watchdog also does). */
  watchdogModules: "/etc/modules-load.d/pgha-watchdog.conf",
  /** Metrics: the exporters' TLS server settings (exporter-toolkit web config, re-read at every handshake). */
  exporterWebConfig: "/etc/pgha/exporter-web.yml",
  /** The exporters' copy of the node key (0600 prometheus), written by pgha-secrets. */
  exporterKey: "/etc/pgha/tls/exporter.key",
  nodeExporterDropIn: "/etc/systemd/system/prometheus-node-exporter.service.d/pgha.conf",
  postgresExporterDropIn: "/etc/systemd/system/prometheus-postgres-exporter.service.d/pgha.conf",
  /** The postgres exporter's own queries (archiver, per-standby lag). */
  postgresExporterQueries: "/etc/pgha/postgres-exporter-queries.yml",
  /** node-exporter's textfile collector reads *.prom here: the node jobs' results (pgha_job_*). */
  metricsDir: "/var/lib/prometheus/node-exporter",
  /** The monitoring node (role monitor): Prometheus's configuration and the stack's alert rules. */
  prometheusConfig: "/etc/prometheus/pgha.yml",
  prometheusRules: "/etc/prometheus/pgha-rules.yml",
  prometheusDropIn: "/etc/systemd/system/prometheus.service.d/pgha.conf",
  /** Alertmanager's configuration as the bundle carries it: the topic ARN's account is @AWS_ACCOUNT_ID@. */
  alertmanagerTemplate: "/etc/pgha/alertmanager.yml.in",
  /** …and as Alertmanager reads it, the account filled in by pgha-setup monitoring (from STS). */
  alertmanagerConfig: "/etc/prometheus/alertmanager-pgha.yml",
  alertmanagerDropIn: "/etc/systemd/system/prometheus-alertmanager.service.d/pgha.conf",
  /** Alertmanager's --storage.path: its notification log (nflog) and silences. */
  alertmanagerStorage: "/var/lib/prometheus/alertmanager",
  /** The dead man's switch: pgha-monitor heartbeat puts a CloudWatch metric every minute while the monitoring works. */
  heartbeatService: "/etc/systemd/system/pgha-heartbeat.service",
  heartbeatTimer: "/etc/systemd/system/pgha-heartbeat.timer",
  /** Central logs (monitoring.enabled): every node's systemd-journal-upload sends its journal to mon1. */
  journalUploadConf: "/etc/systemd/journal-upload.conf.d/pgha.conf",
  journalUploadDropIn: "/etc/systemd/system/systemd-journal-upload.service.d/pgha.conf",
  /** systemd-journal-upload's copy of the node key (0600 systemd-journal-upload), written by pgha-secrets. */
  journalUploadKey: "/etc/pgha/tls/journal-upload.key",
  /** The monitoring node's systemd-journal-remote: its settings, its socket on the private address, its unit. */
  journalRemoteConf: "/etc/systemd/journal-remote.conf.d/pgha.conf",
  journalRemoteSocketDropIn: "/etc/systemd/system/systemd-journal-remote.socket.d/pgha.conf",
  journalRemoteDropIn: "/etc/systemd/system/systemd-journal-remote.service.d/pgha.conf",
  /** systemd-journal-remote's copy of the node key (0600 systemd-journal-remote), written by pgha-secrets. */
  journalRemoteKey: "/etc/pgha/tls/journal-remote.key",
  /** Where journal-remote writes every node's journal (one file set per host: SplitMode=host). */
  journalRemoteDir: "/var/log/journal/remote",
  /** The daily vacuum of the remote journals (monitoring.logRetentionDays). */
  journalVacuumService: "/etc/systemd/system/pgha-journal-vacuum.service",
  journalVacuumTimer: "/etc/systemd/system/pgha-journal-vacuum.timer",

  awsEnv: "/etc/pgha/aws.env",
  bootstrapEnv: "/etc/pgha/bootstrap.env",
  // The node software (node-software/ in this repository, installed from its own artifact).
  bootstrap: "/usr/local/sbin/pgha-bootstrap",
  nodeTool: "/usr/local/sbin/pgha-node",
  setup: "/usr/local/sbin/pgha-setup",
  secretsScript: "/usr/local/sbin/pgha-secrets",
  backupScript: "/usr/local/sbin/pgha-backup",
  restoreScript: "/usr/local/sbin/pgha-restore",
  standbyScript: "/usr/local/sbin/pgha-standby",
  dynamicScript: "/usr/local/sbin/pgha-dynamic",
  accessScript: "/usr/local/sbin/pgha-access",
  patronictl: "/usr/local/bin/pgha-patronictl",
  cron: "/etc/cron.d/pgha-backup",
} as const;
