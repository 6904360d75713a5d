// Patroni's dynamic configuration: what every member follows, stored in the DCS.
//
// It is the bootstrap.dcs section of patroni.yml (used once, when the cluster is created) and the
// body of `pgha-dynamic apply` (PUT /config) for day-2 changes — so changing a parameter, the
// pg_hba or the Patroni timing never needs a new node.
import { DB_USERS, nodesOf, type ClusterSpec } from "../spec";
import type { Layout } from "../layout";
import { renderTemplate } from "./templates";

/** pg_hba.conf text for the cluster (the same on every member). */
export function renderPgHba(spec: ClusterSpec, layout: Layout): string {
  const hostType = spec.tls.enabled ? "hostssl" : "host";
  const members = nodesOf(spec, "postgres").map((n) => ({ cidr: `${layout.addresses[n.name]}/32`, hostType }));
  const proxies = nodesOf(spec, "haproxy").map((n) => ({ cidr: `${layout.addresses[n.name]}/32`, hostType }));
  const clients = layout.clientCidrs.map((cidr) => ({ cidr, hostType }));
  return renderTemplate("pg_hba.conf", {
    scope: spec.scope,
    stack: spec.stack,
    users: DB_USERS,
    tls: spec.tls.enabled,
    hostType,
    replicationSources: members,
    proxySources: proxies,
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
    postgresql: {
      use_pg_rewind: true,
      use_slots: true,
      parameters: { ...spec.postgres.parameters, archive_command: archiveCommand(spec) },
      pg_hba: pgHbaLines(spec, layout),
    },
  };
}
