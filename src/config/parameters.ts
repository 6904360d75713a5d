// PostgreSQL parameters: the ones this program or Patroni own (refused in postgres.parameters),
// and the rules the final, derived parameters must keep (checked on the spec, whatever set them:
// the tier, the instance size or a user override).
import type { PathSegment } from "./problems";

export interface ManagedParameter {
  /** Why a user may not set it. */
  why: string;
  /** The config key that sets it instead, when there is one. */
  instead?: string;
}

/** Parameters the program or Patroni own: an override would break replication, backups, TLS or a stated objective. */
export const MANAGED_PARAMETERS: Record<string, ManagedParameter> = {
  listen_addresses: { why: "Patroni sets it from the node's address" },
  port: { why: "Patroni sets it (5432 on every node)" },
  data_directory: { why: "set by the node layout" },
  config_file: { why: "Patroni owns postgresql.conf" },
  hba_file: { why: "pg_hba is rendered by this program and applied through Patroni" },
  ident_file: { why: "managed by Patroni" },
  archive_mode: { why: "always on: continuous archiving is what point-in-time recovery rests on" },
  archive_command: { why: "pgBackRest's archive-push, rendered by this program" },
  archive_timeout: {
    why: "it bounds how much committed WAL a point-in-time restore can lose (objectives.pitrRpoSeconds), so it is derived from backup.archiveTimeoutSeconds and checked against the objectives",
    instead: "backup.archiveTimeoutSeconds",
  },
  restore_command: { why: "pgBackRest's archive-get, rendered by this program" },
  synchronous_standby_names: { why: "Patroni manages it from postgres.syncMode and postgres.syncNodeCount", instead: "postgres.syncMode" },
  synchronous_commit: { why: "follows postgres.syncMode (remote_apply with haproxy.synchronousReadOnly)", instead: "postgres.syncMode" },
  hot_standby: { why: "must stay on for read replicas" },
  cluster_name: { why: "the Patroni scope, from clusterName", instead: "clusterName" },
  primary_conninfo: { why: "Patroni manages it" },
  primary_slot_name: { why: "Patroni manages it" },
  recovery_target: { why: "a recovery target belongs to a restore, not to the running cluster (README, 'Restore commands')" },
  recovery_target_time: { why: "a recovery target belongs to a restore, not to the running cluster (README, 'Restore commands')" },
  recovery_target_xid: { why: "a recovery target belongs to a restore, not to the running cluster (README, 'Restore commands')" },
  recovery_target_lsn: { why: "a recovery target belongs to a restore, not to the running cluster (README, 'Restore commands')" },
  recovery_target_name: { why: "a recovery target belongs to a restore, not to the running cluster (README, 'Restore commands')" },
  ssl: { why: "follows tls.enabled", instead: "tls.enabled" },
  ssl_cert_file: { why: "node certificates are managed by this program" },
  ssl_key_file: { why: "node certificates are managed by this program" },
  ssl_ca_file: { why: "node certificates are managed by this program" },
  unix_socket_directories: { why: "set by the node layout" },
  wal_log_hints: { why: "must stay on for pg_rewind" },
};

/**
 * What a parameter is when the cluster's configuration leaves it out (a `null` override removes
 * a derived value): Patroni's own default for the ones it passes on the command line, else
 * PostgreSQL 17's.
 */
export const VALUE_WHEN_LEFT_OUT: Record<string, string> = {
  max_connections: "100",
  max_wal_senders: "10",
  max_replication_slots: "10",
  max_locks_per_transaction: "64",
  max_worker_processes: "8",
  max_prepared_transactions: "0",
  wal_keep_size: "128MB",
  wal_level: "replica",
  archive_mode: "off",
  archive_timeout: "0",
  password_encryption: "scram-sha-256",
};

/** An integer as PostgreSQL reads it ("10"), or undefined. */
export function pgInteger(v: string): number | undefined {
  return /^\s*\d+\s*$/.test(v) ? Number(v) : undefined;
}

const TIME_UNITS_S: Record<string, number> = { us: 1e-6, ms: 0.001, s: 1, min: 60, h: 3600, d: 86400 };
/** A time parameter in seconds ("60s", "5min", "300" with seconds as its unit), or undefined. */
export function pgSeconds(v: string, defaultUnit = "s"): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$/.exec(v);
  return m ? Number(m[1]) * TIME_UNITS_S[m[2] ?? defaultUnit] : undefined;
}

const SIZE_UNITS_MB: Record<string, number> = { B: 1 / 1048576, kB: 1 / 1024, MB: 1, GB: 1024, TB: 1048576 };
/** A size parameter in MB ("1GB", "512MB", "300" with MB as its unit), or undefined. */
export function pgMegabytes(v: string, defaultUnit = "MB"): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|kB|MB|GB|TB)?\s*$/.exec(v);
  return m ? Number(m[1]) * SIZE_UNITS_MB[m[2] ?? defaultUnit] : undefined;
}

/** The lower bounds on replication resources, from the member count (stated in the messages). */
export function replicationBounds(members: number): { walSenders: number; replicationSlots: number } {
  return {
    // the leader streams to every other member, and a pg_basebackup clone (-X stream) takes 2;
    // Patroni ignores values below 3
    walSenders: Math.max(3, members - 1 + 2),
    // Patroni keeps a physical slot for every other member, pg_basebackup takes a temporary one;
    // Patroni ignores values below 4
    replicationSlots: Math.max(4, members - 1 + 1),
  };
}

export interface ParameterProblem {
  path: PathSegment[];
  value: unknown;
  reason: string;
  allowed: string;
}

/** A derived parameter value shown as the user would have written it: 10, not "10". */
function shown(v: string | undefined): unknown {
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : v;
}

/**
 * Rules the final cluster-wide parameters must keep, whatever produced them. `members` is the
 * PostgreSQL member count. Each problem names postgres.parameters.<name>, where a value is fixed.
 */
export function parameterProblems(parameters: Record<string, string>, members: number): ParameterProblem[] {
  const out: ParameterProblem[] = [];
  const effective = (name: string) => parameters[name] ?? VALUE_WHEN_LEFT_OUT[name];
  const leftOut = (name: string) => (parameters[name] === undefined ? ` (left out: ${VALUE_WHEN_LEFT_OUT[name]} applies)` : "");
  const add = (name: string, reason: string, allowed: string) =>
    out.push({ path: ["postgres", "parameters", name], value: shown(parameters[name]), reason: reason + leftOut(name), allowed });

  const { walSenders, replicationSlots } = replicationBounds(members);
  const memberText = `${members} PostgreSQL member${members === 1 ? "" : "s"}`;
  const senders = pgInteger(effective("max_wal_senders"));
  if (senders === undefined) add("max_wal_senders", "is not an integer", `an integer ≥ ${walSenders}`);
  else if (senders < walSenders)
    add(
      "max_wal_senders",
      `is too low for ${memberText}: whichever member leads streams WAL to every other member, and cloning a replica with pg_basebackup (-X stream) takes 2 more senders; (postgres.nodes − 1) + 2 = ${members - 1 + 2}, and Patroni ignores values below 3`,
      `an integer ≥ ${walSenders} (max(3, (postgres.nodes − 1) + 2)); leave it out for the default 10`,
    );
  const slots = pgInteger(effective("max_replication_slots"));
  if (slots === undefined) add("max_replication_slots", "is not an integer", `an integer ≥ ${replicationSlots}`);
  else if (slots < replicationSlots)
    add(
      "max_replication_slots",
      `is too low for ${memberText}: Patroni keeps a replication slot for every other member, and pg_basebackup takes a temporary one while cloning; (postgres.nodes − 1) + 1 = ${members}, and Patroni ignores values below 4`,
      `an integer ≥ ${replicationSlots} (max(4, (postgres.nodes − 1) + 1)); leave it out for the default 10`,
    );

  // Patroni passes these on the command line and silently replaces a value below its minimum
  // with its default: the stated setting would not be the one running.
  const patroniMinimum: [string, number][] = [
    ["max_connections", 25],
    ["max_locks_per_transaction", 32],
    ["max_worker_processes", 2],
    ["max_prepared_transactions", 0],
  ];
  for (const [name, min] of patroniMinimum) {
    const n = pgInteger(effective(name));
    if (n === undefined) add(name, "is not an integer", `an integer ≥ ${min}`);
    else if (n < min) add(name, `is below ${min}: Patroni ignores it and runs with its default instead`, `an integer ≥ ${min}`);
  }
  const walKeep = pgMegabytes(effective("wal_keep_size"));
  if (walKeep === undefined) add("wal_keep_size", "is not a size PostgreSQL accepts", "a size like 512MB or 1GB, at least 16MB");
  else if (walKeep < 16) add("wal_keep_size", "is below 16MB: Patroni ignores it and runs with 128MB instead", "a size of at least 16MB, e.g. 1GB");

  const walLevel = effective("wal_level");
  if (walLevel !== "replica" && walLevel !== "logical") add("wal_level", "replication and archiving need at least replica", "replica or logical");
  if (effective("password_encryption") !== "scram-sha-256")
    add("password_encryption", "pg_hba.conf accepts only scram-sha-256: a password hashed any other way could not log in", "scram-sha-256 (or leave it out)");
  return out;
}
