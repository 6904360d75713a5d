// Names the access declaration (postgres.databases, postgres.roles) may and may not use, and why.
// Checked against a booted PostgreSQL 17 by test/integration (every extension listed here is in
// pg_available_extensions; every predefined role here exists).
import { DB_USERS } from "../spec";

/** Role names the config may not declare, with the reason the error gives. */
export const RESERVED_ROLES: Record<string, string> = {
  [DB_USERS.superuser]: "is Patroni's superuser (its password is the cluster secret's, rotated with the cluster)",
  [DB_USERS.replication]: "is Patroni's replication user",
  [DB_USERS.rewind]: "is Patroni's pg_rewind user",
  [DB_USERS.monitor]: "is the metrics exporter's role (pg_monitor, peer authentication on the local socket)",
  public: "is PostgreSQL's PUBLIC pseudo-role",
};
/** PostgreSQL reserves role names that begin with pg_. */
export const RESERVED_ROLE_PREFIX = "pg_";

/** Database names the config may not declare. */
export const RESERVED_DATABASES: Record<string, string> = {
  postgres: "is the maintenance database Patroni and the node scripts connect to",
  template0: "is PostgreSQL's pristine template",
  template1: "is PostgreSQL's default template",
};

/**
 * PostgreSQL 17's predefined roles a declared role may be a member of. Not pg_read_server_files,
 * pg_write_server_files or pg_execute_server_program: each of them amounts to the superuser's
 * power on the node (files of the data directory, programs as the postgres user).
 */
export const GRANTABLE_PREDEFINED_ROLES = [
  "pg_checkpoint",
  "pg_create_subscription",
  "pg_maintain",
  "pg_monitor",
  "pg_read_all_data",
  "pg_read_all_settings",
  "pg_read_all_stats",
  "pg_signal_backend",
  "pg_stat_scan_tables",
  "pg_use_reserved_connections",
  "pg_write_all_data",
] as const;

/**
 * Extensions of Debian 13's postgresql-17 (contrib) a database may declare: those a database
 * owner can use without handing out the node (not file_fdw, adminpack, or the untrusted
 * languages). plpgsql is always there.
 */
export const AVAILABLE_EXTENSIONS = [
  "amcheck",
  "bloom",
  "btree_gin",
  "btree_gist",
  "citext",
  "cube",
  "dict_int",
  "earthdistance",
  "fuzzystrmatch",
  "hstore",
  "intarray",
  "isn",
  "lo",
  "ltree",
  "pg_buffercache",
  "pg_freespacemap",
  "pg_prewarm",
  "pg_stat_statements",
  "pg_trgm",
  "pg_visibility",
  "pg_walinspect",
  "pgcrypto",
  "pgrowlocks",
  "pgstattuple",
  "postgres_fdw",
  "seg",
  "tablefunc",
  "tcn",
  "tsm_system_rows",
  "tsm_system_time",
  "unaccent",
  "uuid-ossp",
] as const;
