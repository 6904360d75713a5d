// Node bundles: every configuration file a node gets, rendered from templates/ with the view of
// the node and cluster (`commonView`) — the files of every host, and those of each role.
import YAML from "yaml";
import { DB_USERS, PORTS, nodeByName, nodesOf, type ClusterSpec, type NodeSpec, type RepositorySpec } from "../../spec";
import { NODE_PATHS, POSTGRES_MAJOR } from "../../node-paths";
import { DATA_VOLUME_DEVICE, TLS_DIR, repositoryS3Access, type Layout } from "../../layout";
import { renderTemplate } from "../templates";
import { dynamicConfig, renderPgHba } from "../dynamic";
import { architectureOf, LIBPQ_CONNECT_TIMEOUT_SECONDS, WATCHDOG_SAFETY_MARGIN_SECONDS } from "../../config/defaults";
import type { WatchdogMode } from "../../config/schema";
import type { ChangeAction } from "../../bundle/format";
import type { BundleFile } from "./types";
import { monitorFiles, monitorView } from "./monitor-files";
import { logFiles } from "./log-files";

export const REST_API_USER = "patroni";

function file(path: string, content: string, onChange: ChangeAction[] = [], mode = "0644"): BundleFile {
  return { path, mode, owner: "root:root", content: content.endsWith("\n") ? content : content + "\n", onChange };
}

function indent(text: string, spaces: number): string {
  const pad = " ".repeat(spaces);
  return text
    .trimEnd()
    .split("\n")
    .map((l) => (l.length ? pad + l : l))
    .join("\n");
}

/** Everything a template may use about the node and cluster. */
export function commonView(spec: ClusterSpec, node: NodeSpec, layout: Layout) {
  const tls = spec.tls.enabled;
  const scheme = tls ? "https" : "http";
  const address = layout.addresses[node.name];
  return {
    node: node.name,
    role: node.role,
    stack: spec.stack,
    scope: spec.scope,
    namespace: spec.namespace,
    address,
    ports: PORTS,
    users: DB_USERS,
    restApiUser: REST_API_USER,
    tls,
    tlsEnabled: tls ? "true" : "false",
    tlsDir: TLS_DIR,
    scheme,
    stanza: spec.backup.stanza,
    bucket: spec.backup.bucketName,
    /** pgBackRest repository numbers, space-separated ("1", or "1 2" with backup.secondRepository). */
    repoIndexes: spec.backup.repositories.map((r) => r.index).join(" "),
    /** The second region's read-only configuration (empty without backup.secondRepository). */
    secondRegionConf: spec.backup.repositories.length > 1 ? NODE_PATHS.pgbackrestSecondRegionConf : "",
    // The second region's bucket, for awscli (the restore-point and timeline catalogue's copy).
    secondBucket: spec.backup.repositories[1]?.bucketName ?? "",
    secondRegion: spec.backup.repositories[1]?.region ?? "",
    secondS3Endpoint: secondS3Endpoint(spec, layout),
    // restoreFrom: the source's repository, catalogue and passphrase (pgha-restore bootstrap-from-source).
    restoreSource: spec.restoreFrom
      ? {
          conf: NODE_PATHS.pgbackrestRestoreSourceConf,
          secretsDir: NODE_PATHS.pgbackrestRestoreSourceSecretsDir,
          secret: spec.restoreFrom.secretName,
          stack: spec.restoreFrom.stack,
          stanza: spec.restoreFrom.stanza,
          bucket: spec.restoreFrom.repository.bucketName,
          region: spec.restoreFrom.repository.region,
          s3Endpoint: layout.kind === "ec2" ? "" : `https://${repositoryS3Access(layout, spec.restoreFrom.repository).endpoint}`,
          catalogPrefix: spec.restoreFrom.catalogPrefix,
        }
      : undefined,
    logicalPrefix: spec.backup.logicalPrefix,
    catalogPrefix: spec.backup.catalogPrefix,
    dataDir: node.role === "etcd" ? NODE_PATHS.etcdDataDir : NODE_PATHS.dataDir,
    binDir: NODE_PATHS.binDir,
    socketDir: NODE_PATHS.socketDir,
    dynamicFile: NODE_PATHS.dynamicFile,
    patroniConfig: NODE_PATHS.patroniConfig,
    patroniConfigDir: NODE_PATHS.patroniConfigDir,
    libpqConnectTimeout: LIBPQ_CONNECT_TIMEOUT_SECONDS,
    libpqTcpUserTimeoutMs: LIBPQ_CONNECT_TIMEOUT_SECONDS * 1000,
    libpqServiceFile: NODE_PATHS.libpqServiceFile,
    exporterWebConfig: NODE_PATHS.exporterWebConfig,
    exporterKey: NODE_PATHS.exporterKey,
    metricsDir: NODE_PATHS.metricsDir,
    postgresExporterQueries: NODE_PATHS.postgresExporterQueries,
    pgMajor: POSTGRES_MAJOR,
    pgPort: PORTS.postgres,
    etcdDataDir: NODE_PATHS.etcdDataDir,
    etcdEffectiveConfig: NODE_PATHS.etcdEffectiveConfig,
    layoutKind: layout.kind,
    // node.env carries only what the node's role uses, so a backup setting changes no etcd bundle.
    postgresNode: node.role === "postgres",
    etcdNode: node.role === "etcd",
    monitorNode: node.role === "monitor",
    monitor: node.role === "monitor" ? monitorView(spec, node, layout) : undefined,
    clusterSecret: node.role === "postgres" ? spec.names.clusterSecret : "",
    nodeSecret: spec.names.nodeSecret[node.name],
    // Every PostgreSQL member keeps its data on its own volume (EBS on EC2, a block device the
    // sandbox attaches); etcd and HAProxy nodes have none.
    dataVolume: node.role === "postgres" ? "ebs" : "none",
    dataDevice: node.role === "postgres" ? DATA_VOLUME_DEVICE : "",
    dataMount: NODE_PATHS.dataMount,
    restUrl: `${scheme}://${address}:${PORTS.patroniRestApi}`,
    ssmAgentUrl: layout.ssmAgentUrl ? layout.ssmAgentUrl.replace("{arch}", architectureOf(node.instanceType) === "arm64" ? "arm64" : "amd64") : "",
    s3: layout.s3,
    kmsKeyId: layout.s3.sseKms ? spec.names.kmsAlias : "",
    fullRetentionDays: spec.backup.fullRetentionDays,
    archiveTimeoutSeconds: spec.backup.archiveTimeoutSeconds,
    logicalRetentionWeeks: spec.backup.logicalRetentionWeeks,
  };
}

/** awscli's endpoint for the second region's bucket: the region's own on EC2 (empty: awscli's default), the sandbox's second S3 server. */
function secondS3Endpoint(spec: ClusterSpec, layout: Layout): string {
  const second = spec.backup.repositories[1];
  if (!second || layout.kind === "ec2") return "";
  return `https://${repositoryS3Access(layout, second).endpoint}`;
}

/**
 * The metrics exporters of a node (issue 12): node-exporter on every node (with the node jobs'
 * results from its textfile collector), the postgres exporter on PostgreSQL members. Patroni,
 * etcd and HAProxy serve their own /metrics. A change restarts the exporters (`exporters`): they
 * hold no state, and a scrape that misses one interval is all it costs.
 */
export function exporterFiles(view: ReturnType<typeof commonView>): BundleFile[] {
  return [
    file(NODE_PATHS.exporterWebConfig, renderTemplate("exporter-web.yml", view), ["exporters"]),
    file(NODE_PATHS.nodeExporterDropIn, renderTemplate("systemd/prometheus-node-exporter.conf", view), ["systemd", "exporters"]),
    ...(view.postgresNode
      ? [
          file(NODE_PATHS.postgresExporterDropIn, renderTemplate("systemd/prometheus-postgres-exporter.conf", view), ["systemd", "exporters"]),
          file(NODE_PATHS.postgresExporterQueries, renderTemplate("postgres-exporter-queries.yml", view), ["exporters"]),
        ]
      : []),
  ];
}

/** What every host gets: its facts and the secret fetch/rotation units. */
export function commonFiles(view: object, layout: Layout): BundleFile[] {
  const files = [
    file(NODE_PATHS.nodeEnv, renderTemplate("node.env", view)),
    file("/etc/systemd/system/pgha-secrets.service", renderTemplate("systemd/pgha-secrets.service", view), ["systemd"]),
    file("/etc/systemd/system/pgha-secrets-rotate.service", renderTemplate("systemd/pgha-secrets-rotate.service", view), ["systemd"]),
    file("/etc/systemd/system/pgha-secrets-rotate.timer", renderTemplate("systemd/pgha-secrets-rotate.timer", view), ["systemd", "timers"]),
  ];
  if (layout.extraHosts.length) {
    files.push(file(NODE_PATHS.extraHosts, layout.extraHosts.map((h) => `${h.address} ${h.name}`).join("\n"), ["hosts"]));
  }
  return files;
}

export function baseConfFile(spec: ClusterSpec, view: object): BundleFile {
  return file(NODE_PATHS.baseConf, renderTemplate("postgresql.base.conf", { ...view, ssl: spec.tls.enabled ? "on" : "off" }), ["patroni-reload"]);
}

/**
 * pgbackrest.conf: repo1, the stack's own bucket — the only repository anything writes to
 * (archive-push, backup, expire, annotate); its secrets go to conf.d/secrets.conf at boot.
 * With backup.secondRepository also second-region.conf: the same stanza read from the second
 * region's bucket, which S3 Replication fills from the first (components/secondRegionRepository.ts).
 * Only reads use it (`pgha-restore --repo 2`, drills, `window --repo 2`), with --config.
 *
 * Why not pgBackRest's own second repository (repo2 in this file)? pgBackRest 2.55 pushes every
 * WAL file to all repositories in one async process, and a repository it cannot reach stalls
 * that process for every repository: with the second region's S3 unreachable, the first region
 * received no WAL either (measured: docs/facts.md, "A second repository"). Replication keeps the
 * first region's archive independent of the second.
 */
export function pgbackrestFiles(spec: ClusterSpec, layout: Layout, view: object, archivePushQueueMax: string): BundleFile[] {
  const render = (r: RepositorySpec, replica: boolean, replicaOf = spec.backup.repositories[0].bucketName, source?: { stanza: string; repoPath: string; cipher: boolean; stack: string }) => {
    const s3 = repositoryS3Access(layout, r);
    return renderTemplate("pgbackrest.conf", {
      ...view,
      ...(source ? { stanza: source.stanza, sourceStack: source.stack } : {}),
      repos: [{
        bucket: r.bucketName,
        s3,
        kmsKeyId: s3.sseKms ? spec.names.kmsAlias : "",
        cipher: source ? source.cipher : spec.backup.repoEncryption,
        fullRetentionDays: r.fullRetentionDays,
      }],
      replica,
      replicaOf,
      repoPath: source ? source.repoPath : spec.backup.repoPath,
      s3KeyType: layout.s3.credentials === "instance-role" ? "auto" : "shared",
      secretNames: [
        ...((source ? source.cipher : spec.backup.repoEncryption) ? ["repo1-cipher-pass"] : []),
        ...(layout.s3.credentials === "secret" ? ["repo1-s3-key", "repo1-s3-key-secret"] : []),
      ].join(", "),
      secretsConf: source ? `${NODE_PATHS.pgbackrestRestoreSourceSecretsDir}/secrets.conf` : NODE_PATHS.pgbackrestSecrets,
      archivePushQueueMax,
    });
  };
  const [first, second] = spec.backup.repositories;
  return [
    file(NODE_PATHS.pgbackrestConf, render(first, false)),
    ...(second ? [file(NODE_PATHS.pgbackrestSecondRegionConf, render(second, true))] : []),
    // A standby cluster: the primary's repository copy in this region, read-only (restores of
    // new members, WAL when streaming is cut).
    ...(spec.standby ? [file(NODE_PATHS.pgbackrestStandbyConf, render(spec.standby.repository, true, `the primary cluster's bucket (stack ${spec.standby.primaryStack})`))] : []),
    // restoreFrom: the source cluster's repository, read-only (the first member's bootstrap).
    ...(spec.restoreFrom
      ? [file(NODE_PATHS.pgbackrestRestoreSourceConf, render(spec.restoreFrom.repository, true, "", { stanza: spec.restoreFrom.stanza, repoPath: spec.restoreFrom.repoPath, cipher: spec.restoreFrom.repoEncryption, stack: spec.restoreFrom.stack }))]
      : []),
  ];
}

function postgresFiles(spec: ClusterSpec, node: NodeSpec, layout: Layout): BundleFile[] {
  const view = commonView(spec, node, layout);
  const dynamic = dynamicConfig(spec, layout);
  const etcdHosts = nodesOf(spec, "etcd")
    .map((n) => `${layout.addresses[n.name]}:${PORTS.etcdClient}`)
    .join(",");
  const watchdog = watchdogOf(spec, layout);
  const patroni = renderTemplate("patroni.yml", {
    ...view,
    watchdog: { mode: watchdog, on: watchdog !== "off", device: WATCHDOG_DEVICE, safetyMargin: WATCHDOG_SAFETY_MARGIN_SECONDS },
    etcdHosts,
    secretsFile: NODE_PATHS.patroniSecrets,
    pgpassFile: NODE_PATHS.pgpass,
    baseConfFile: NODE_PATHS.baseConf,
    dcsYaml: indent(YAML.stringify(dynamic, { lineWidth: 0, version: "1.1" }), 4),
    postBootstrap: `${NODE_PATHS.backupScript} post-bootstrap`,
    standbyConf: spec.standby ? NODE_PATHS.pgbackrestStandbyConf : "",
    // restoreFrom: Patroni's custom bootstrap; each key besides command reaches it as --key=value.
    restoreFrom: spec.restoreFrom
      ? {
          stack: spec.restoreFrom.stack,
          target: spec.restoreFrom.target.type === "immediate" ? "immediate" : `${spec.restoreFrom.target.type} ${spec.restoreFrom.target.value}`,
          command: `${NODE_PATHS.restoreScript} bootstrap-from-source`,
          targetType: spec.restoreFrom.target.type,
          targetValue: spec.restoreFrom.target.value === undefined ? "" : JSON.stringify(spec.restoreFrom.target.value),
        }
      : undefined,
    tags: {
      nofailover: String(node.tags.nofailover ?? false),
      noloadbalance: String(node.tags.noloadbalance ?? false),
      clonefrom: String(node.tags.clonefrom ?? false),
      nosync: String(node.tags.nosync ?? false),
      replicatefrom: node.tags.replicatefrom,
    },
  });
  const jobs = [
    { schedule: spec.backup.fullSchedule, kind: "full" },
    spec.backup.diffSchedule && { schedule: spec.backup.diffSchedule, kind: "diff" },
    spec.backup.incrSchedule && { schedule: spec.backup.incrSchedule, kind: "incr" },
    spec.backup.logicalSchedule && { schedule: spec.backup.logicalSchedule, kind: "logical" },
    spec.backup.restoreDrillSchedule && { schedule: spec.backup.restoreDrillSchedule, kind: "drill" },
  ].filter(Boolean);
  // WAL may queue locally while S3 is unreachable; cap it at a quarter of the data volume so
  // an S3 outage can never fill the disk and stop the primary.
  const queueMaxGiB = Math.max(1, Math.floor(spec.postgres.dataVolume.sizeGiB / 4));
  return [
    file(NODE_PATHS.patroniConfig, patroni, ["patroni-reload"]),
    file(NODE_PATHS.dynamicFile, JSON.stringify(dynamic, null, 2), ["patroni-dynamic"]),
    file(NODE_PATHS.accessFile, JSON.stringify(spec.access, null, 2), ["access"]),
    file(NODE_PATHS.credentialsVersion, `${spec.postgres.credentialsVersion}\n`, ["credentials"]),
    file("/etc/systemd/system/pgha-access.service", renderTemplate("systemd/pgha-access.service", view), ["systemd"]),
    file("/etc/systemd/system/pgha-access.timer", renderTemplate("systemd/pgha-access.timer", view), ["systemd", "timers"]),
    file(NODE_PATHS.pgHbaReference, renderPgHba(spec, layout)),
    ...pgbackrestFiles(spec, layout, view, `${queueMaxGiB}GiB`),
    baseConfFile(spec, view),
    file(NODE_PATHS.cron, renderTemplate("pgha-backup.cron", { ...view, jobs }), ["cron"]),
    file("/etc/systemd/system/patroni.service.d/pgha.conf", renderTemplate("systemd/patroni.conf", view), ["systemd", "patroni-restart"]),
    // Read by libpq at every connection: a changed value needs no restart.
    file(NODE_PATHS.libpqServiceFile, renderTemplate("pg_service.conf", view)),
    file("/etc/systemd/system/pgha-data-volume.service", renderTemplate("systemd/pgha-data-volume.service", view), ["systemd"]),
    ...poolerFiles(spec, view),
    ...(watchdog === "off" ? [] : [file(NODE_PATHS.watchdogModules, "# Rendered by postgres-ha: Patroni's watchdog (patroni.watchdog).\nsoftdog\n", ["watchdog"])]),
  ];
}

/** The kernel watchdog device Patroni opens (softdog creates it). */
export const WATCHDOG_DEVICE = "/dev/watchdog";

/**
 * Patroni's watchdog mode on this layout: the stack's on EC2; off in the sandbox, whose hosts
 * share one kernel (a softdog there would reset the whole machine) — the layouts' only difference.
 */
export function watchdogOf(spec: ClusterSpec, layout: Layout): WatchdogMode {
  return layout.kind === "ec2" ? spec.patroni.watchdog : "off";
}

/** PgBouncer's configuration and unit drop-in (pooler.enabled): added, changed or removed, pgha-setup pooler follows. */
function poolerFiles(spec: ClusterSpec, view: ReturnType<typeof commonView>): BundleFile[] {
  if (!spec.pooler.enabled) return [];
  return [
    file(NODE_PATHS.pgbouncerConfig, renderTemplate("pgbouncer.ini", { ...view, pooler: spec.pooler }), ["pooler"]),
    file(NODE_PATHS.pgbouncerDropIn, renderTemplate("systemd/pgbouncer.conf", { ...view, pgbouncerConfig: NODE_PATHS.pgbouncerConfig }), ["systemd", "pooler"]),
  ];
}

function etcdFiles(spec: ClusterSpec, node: NodeSpec, layout: Layout): BundleFile[] {
  const view = commonView(spec, node, layout);
  const initialCluster = nodesOf(spec, "etcd")
    .map((n) => `${n.name}=${view.scheme}://${layout.addresses[n.name]}:${PORTS.etcdPeer}`)
    .join(",");
  // The member list is its own file: a membership change reconciles the running cluster
  // (pgha-etcd reconcile) and restarts no member; etcd reads initial-cluster only without data.
  const members = [
    `# etcd members of cluster "${spec.scope}" (stack ${spec.stack}). Rendered by postgres-ha: pgha-etcd`,
    "# prepare joins a new member by it, pgha-etcd reconcile removes the members it no longer names.",
    `token=${spec.etcd.initialClusterToken}`,
    ...initialCluster.split(","),
  ].join("\n");
  return [
    file(NODE_PATHS.etcdConfig, renderTemplate("etcd.yml", view), ["etcd-restart"]),
    file(NODE_PATHS.etcdMembers, members, ["etcd-members"]),
    file("/etc/systemd/system/etcd.service.d/pgha.conf", renderTemplate("systemd/etcd.conf", view), ["systemd", "etcd-restart"]),
  ];
}

/**
 * HAProxy's check timing (ms). `inter` while a server is steady UP; `fastinter` after a check
 * that changes its state, until `rise`/`fall` settle it; `downinter` while it is DOWN. A replica
 * that has just been promoted is DOWN in the rw backend: `downinter` bounds how long HAProxy
 * takes to see its first 200, then `rise − 1` checks follow at `fastinter`. It used to be `inter`
 * (1 s in prod: 0.5–1.5 s after the promotion); it is `fastinter` now, so the new leader is routed
 * 0.5–1 s after it (bench/failover-phases.ts measures it, docs/facts.md has the breakdown).
 */
export function haproxyCheckTiming(h: ClusterSpec["haproxy"]): { interMs: number; fastInterMs: number; downInterMs: number; fall: number; rise: number } {
  const fastInterMs = Math.max(200, Math.floor(h.checkIntervalMs / 2));
  return { interMs: h.checkIntervalMs, fastInterMs, downInterMs: fastInterMs, fall: h.fall, rise: h.rise };
}

function haproxyFiles(spec: ClusterSpec, node: NodeSpec, layout: Layout): BundleFile[] {
  const view = commonView(spec, node, layout);
  const members = nodesOf(spec, "postgres").map((n) => ({
    name: n.name,
    address: layout.addresses[n.name],
    pgPort: PORTS.postgres,
    restPort: PORTS.patroniRestApi,
    checkTls: spec.tls.enabled
      ? ` check-ssl verify required ca-file ${TLS_DIR}/ca.crt crt ${TLS_DIR}/node.pem verifyhost ${n.name}`
      : "",
  }));
  const h = spec.haproxy;
  return [
    file(
      NODE_PATHS.haproxyConfig,
      renderTemplate("haproxy.cfg", {
        ...view,
        members,
        ...haproxyCheckTiming(h),
        replicaCheckUri: h.readOnlyMaxLagBytes === null ? "/replica" : `/replica?lag=${h.readOnlyMaxLagBytes}`,
        // Patroni answers 200 on a synchronous standby at /synchronous (on, strict) and on a
        // quorum standby at /quorum (quorum); the config gate allows the endpoint only where
        // every such standby is one each commit waits for.
        synchronousCheckUri: h.synchronousReadOnly ? (spec.postgres.syncMode === "quorum" ? "/quorum" : "/synchronous") : "",
        pooler: spec.pooler.enabled,
        // Each pooled frontend takes as many clients as one PgBouncer accepts; the direct
        // endpoints keep the 4096 they always had.
        pooledMaxconn: spec.pooler.maxClientConnections,
        globalMaxconn: 4096 + (spec.pooler.enabled ? 2 * spec.pooler.maxClientConnections : 0),
      }),
      ["haproxy-reload"],
    ),
    file("/etc/systemd/system/haproxy.service.d/pgha.conf", renderTemplate("systemd/haproxy.conf", view), ["systemd", "haproxy-restart"]),
  ];
}

/** The files of one node, sorted by path. */
export function renderNodeFiles(spec: ClusterSpec, nodeName: string, layout: Layout): BundleFile[] {
  const node = nodeByName(spec, nodeName);
  const view = commonView(spec, node, layout);
  // A cluster node also runs the metrics exporters; a scratch restore host (pack.ts) does not.
  const files: BundleFile[] = [...commonFiles(view, layout), ...exporterFiles(view), ...logFiles(spec, node, layout, view)];
  if (node.role === "postgres") files.push(...postgresFiles(spec, node, layout));
  if (node.role === "etcd") files.push(...etcdFiles(spec, node, layout));
  if (node.role === "haproxy") files.push(...haproxyFiles(spec, node, layout));
  if (node.role === "monitor") files.push(...monitorFiles(spec, node, layout, view));
  return files.sort((a, b) => a.path.localeCompare(b.path));
}
