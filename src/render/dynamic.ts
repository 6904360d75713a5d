// Patroni's dynamic configuration: what every member follows, stored in the DCS.
//
// It is the bootstrap.dcs section of patroni.yml (used once, when the cluster is created) and the
// body of `pgha-dynamic apply` (PUT /config) for day-2 changes — so changing a parameter, the
// pg_hba or the Patroni timing never needs a new node.
import { DB_USERS, nodesOf, type ClusterSpec } from "../spec";
import type { Layout } from "../layout";
import { NODE_PATHS } from "../node-paths";
import { renderTemplate } from "./templates";

/** pg_hba.conf text for the cluster (the same on every member). */
export function renderPgHba(spec: ClusterSpec, layout: Layout): string {
  const hostType = spec.tls.enabled ? "hostssl" : "host";
  const members = nodesOf(spec, "postgres").map((n) => ({ cidr: `${layout.addresses[n.name]}/32`, hostType }));
  const proxies = nodesOf(spec, "haproxy").map((n) => ({ cidr: `${layout.addresses[n.name]}/32`, hostType }));
  // Another region's cluster streams through the read-write endpoint: the members see HAProxy's
  // addresses. A primary with standbyClusters, and a standby cluster (after its promotion the old
  // primary streams from it), admit replication from them; who reaches HAProxy at all is the
  // security groups' business (standby.cidrs, standbyClusters.*.cidrs).
  const crossRegion = spec.standby !== undefined || spec.standbyClusters.length > 0;
  const clients = layout.clientCidrs.map((cidr) => ({ cidr, hostType }));
  return renderTemplate("pg_hba.conf", {
    scope: spec.scope,
    stack: spec.stack,
    users: DB_USERS,
    tls: spec.tls.enabled,
    hostType,
    replicationSources: members,
    proxySources: proxies,
    proxyReplicationSources: crossRegion ? proxies : [],
    clientSources: clients,
  });
}

/** The pg_hba rules without comments and blank lines, columns single-spaced. */
export function pgHbaLines(spec: ClusterSpec, layout: Layout): string[] {
  return renderPgHba(spec, layout)
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.split(/\s+/).join(" "));
}

export function archiveCommand(spec: ClusterSpec): string {
  return `/usr/bin/pgbackrest --stanza=${spec.backup.stanza} archive-push "%p"`;
}

/** The method (patroni.yml) that restores a member of a standby cluster from the primary's repository copy. */
export const STANDBY_REPLICA_METHOD = "pgbackrest_primary";

/**
 * standby_cluster of a standby cluster's dynamic configuration. Its leader streams from the
 * primary's rw endpoint through the primary's slot; without streaming it reads WAL from the
 * primary's repository copy in this region (standby-copy.conf), and new members are restored from
 * that copy (pg_basebackup from the primary when it has no backup yet). Every path is the same on
 * every member (notes: bootstrap.dcs applies cluster-wide).
 */
export function standbyCluster(spec: ClusterSpec): NonNullable<DynamicConfig["standby_cluster"]> {
  const s = spec.standby!;
  return {
    host: s.host,
    port: s.port,
    primary_slot_name: s.slot,
    create_replica_methods: [STANDBY_REPLICA_METHOD, "basebackup"],
    restore_command: `/usr/local/sbin/pgha-archive-get ${spec.backup.stanza} %f "%p" ${NODE_PATHS.pgbackrestStandbyConf}`,
  };
}

export interface DynamicConfig {
  ttl: number;
  loop_wait: number;
  retry_timeout: number;
  maximum_lag_on_failover: number;
  primary_start_timeout: number;
  failsafe_mode: boolean;
  synchronous_mode: boolean | "quorum";
  synchronous_mode_strict: boolean;
  synchronous_node_count: number;
  /** Permanent physical slots: one per standby cluster that follows this one (standbyClusters). */
  slots?: Record<string, { type: "physical" }>;
  /** A standby cluster: whom its leader follows, and how it builds members and reads WAL without streaming. */
  standby_cluster?: {
    host: string;
    port: number;
    primary_slot_name: string;
    create_replica_methods: string[];
    restore_command: string;
  };
  postgresql: {
    use_pg_rewind: boolean;
    use_slots: boolean;
    parameters: Record<string, string>;
    pg_hba: string[];
  };
}

export function dynamicConfig(spec: ClusterSpec, layout: Layout): DynamicConfig {
  const sync = spec.postgres.syncMode;
  return {
    ttl: spec.patroni.ttl,
    loop_wait: spec.patroni.loopWait,
    retry_timeout: spec.patroni.retryTimeout,
    maximum_lag_on_failover: spec.patroni.maximumLagOnFailover,
    primary_start_timeout: spec.patroni.primaryStartTimeout,
    failsafe_mode: spec.patroni.failsafeMode,
    synchronous_mode: sync === "off" ? false : sync === "quorum" ? "quorum" : true,
    synchronous_mode_strict: sync === "strict",
    synchronous_node_count: spec.postgres.syncNodeCount,
    ...(spec.standbyClusters.length ? { slots: Object.fromEntries(spec.standbyClusters.map((f) => [f.slot, { type: "physical" as const }])) } : {}),
    ...(spec.standby ? { standby_cluster: standbyCluster(spec) } : {}),
    postgresql: {
      use_pg_rewind: true,
      use_slots: true,
      parameters: { ...spec.postgres.parameters, archive_command: archiveCommand(spec) },
      pg_hba: pgHbaLines(spec, layout),
    },
  };
}
