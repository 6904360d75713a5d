// The resolved stack config (every key present) and the tier defaults it starts from.
//
// The three tiers follow the seed's availability tiers:
//   dev      single node (one PostgreSQL, one etcd) — still WAL archiving and backups
//   staging  primary + two asynchronous standbys, etcd trio, one HAProxy
//   prod     three nodes with quorum synchronous replication (ANY 1), etcd trio, two HAProxy
//            behind an internal NLB, everything spread over three AZs
import type { DatabaseDecl, MemberTags, ParameterValue, PoolMode, RoleDecl, SyncMode, Tier, WatchdogMode } from "./schema";

export interface SubnetRef {
  id: string;
  cidr: string;
  availabilityZone: string;
}

export interface StackConfig {
  tier: Tier;
  clusterName: string;
  region: string;
  network: {
    vpcCidr: string;
    availabilityZones: number;
    vpcId?: string;
    subnets?: SubnetRef[];
    allowedClientCidrs: string[];
    allowedClientSecurityGroupIds: string[];
    domain: string;
  };
  postgres: {
    nodes: number;
    instanceType: string;
    memoryMiB?: number;
    dataVolume: { sizeGiB: number; iops: number; throughputMiBps: number };
    parameters: Record<string, ParameterValue | null>;
    syncMode: SyncMode;
    syncNodeCount: number;
    members: Record<string, MemberTags>;
    /** Application databases the converge path creates (name → owner, encoding, locale, extensions). */
    databases: Record<string, DatabaseDecl>;
    /** Application roles (name → login, limits, memberships, grants); login roles get a generated password. */
    roles: Record<string, RoleDecl>;
    /** Generation of the cluster's own passwords (superuser, replication, rewind, REST API): raise it to rotate them. */
    credentialsVersion: number;
  };
  patroni: {
    ttl: number;
    loopWait: number;
    retryTimeout: number;
    maximumLagOnFailover: number;
    primaryStartTimeout: number;
    failsafeMode: boolean;
    /** Patroni's watchdog on EC2 (softdog): off, automatic (use it when it works) or required (no leader without it). */
    watchdog: WatchdogMode;
  };
  etcd: { nodes: number; instanceType: string };
  haproxy: {
    nodes: number;
    instanceType: string;
    networkLoadBalancer: boolean;
    checkIntervalMs: number;
    fall: number;
    rise: number;
    /** The ro endpoint admits a replica only within this many bytes of the leader (null: any lag). */
    readOnlyMaxLagBytes: number | null;
    /** A read endpoint (:5002) over the synchronous standbys that confirmed every commit (remote_apply). */
    synchronousReadOnly: boolean;
  };
  /** PgBouncer on every PostgreSQL node, behind HAProxy's pooled endpoints (6432 rw, 6433 ro). */
  pooler: {
    enabled: boolean;
    mode: PoolMode;
    /** Server connections per database and user (default_pool_size). */
    poolSize: number;
    /** Client connections each PgBouncer accepts (max_client_conn). */
    maxClientConnections: number;
  };
  backup: {
    bucketName?: string;
    fullSchedule: string;
    diffSchedule: string | null;
    incrSchedule: string | null;
    logicalSchedule: string | null;
    restoreDrillSchedule: string | null;
    fullRetentionDays: number;
    logicalRetentionWeeks: number;
    logicalInfrequentAccessAfterDays: number | null;
    noncurrentVersionRetentionDays: number;
    archiveTimeoutSeconds: number;
    repoEncryption: boolean;
    /** A second repository in another region (null: one repository). */
    secondRepository: { region: string; bucketName?: string } | null;
  };
  objectives: {
    failoverRpoSeconds: number;
    pitrRpoSeconds: number;
    rtoSeconds: number;
    /** The stack's monthly budget (USD, on-demand list prices, `pgha cost`); null: none stated. */
    monthlyBudgetUsd: number | null;
  };
  /** When the rollout may restart what a change left pending (src/config/maintenance-window.ts). */
  maintenance: { window: string | null };
  tls: { enabled: boolean; certValidityDays: number; renewBeforeDays: number };
  /** The monitoring node (issue 12): Prometheus and Alertmanager, alerts to the stack's SNS topic. */
  monitoring: {
    enabled: boolean;
    instanceType: string;
    scrapeIntervalSeconds: number;
    /** How long Prometheus keeps samples (days). */
    retentionDays: number;
    /** How long the monitoring node keeps every node's journal (central logs; days). */
    logRetentionDays: number;
    /** SNS email subscriptions of the alert topic (each confirms by mail). */
    alertEmails: string[];
    /** SNS HTTPS subscriptions of the alert topic (a pager's or chat's webhook). */
    alertHttpsEndpoints: string[];
  };
  tags: Record<string, string>;
  /** Prefix of every node name ("" or e.g. "dr-": dr-db1, dr-etcd1 …). */
  nodeNamePrefix: string;
  /** This cluster follows another one as a Patroni standby cluster (null: it is a primary cluster). */
  standby: StandbyConfig | null;
  /** Standby clusters (other stacks) that follow this one, by stack name: a permanent slot each and their networks. */
  standbyClusters: Record<string, { cidrs: string[] }>;
  /** The first member is restored from another cluster's repository at a target (null: initdb). */
  restoreFrom: RestoreFromConfig | null;
}

export interface StandbyConfig {
  /** The primary cluster's stack (this project): its cluster secret, replicated to this region, holds the passwords. */
  primaryStack: string;
  /** The primary's read-write endpoint as this stack's nodes reach it (default: derived from the primary's stack file). */
  host?: string;
  port?: number;
  /** The primary cluster's network(s): they may stream from this cluster once it is promoted (fencing). Default: derived. */
  cidrs?: string[];
  /** The primary's repository copy in this stack's region (its backup.secondRepository bucket). Default: derived. */
  repositoryBucket?: string;
  /**
   * Associate the two clusters' private zones with each other's VPC, through a StackReference to
   * the primary stack (its `network` output): this VPC resolves the primary's rw name, and the
   * primary's resolves this cluster's once fencing makes it follow (default true; false for a
   * primary not deployed by this project).
   */
  associateZones?: boolean;
}

/** A recovery target of PostgreSQL (pgBackRest restore --type): what restoreFrom.target names. */
export const RESTORE_TARGET_TYPES = ["time", "name", "xid", "lsn", "immediate"] as const;
export type RestoreTargetType = (typeof RESTORE_TARGET_TYPES)[number];

export interface RestoreFromConfig {
  /** The source cluster's stack (this project): its cluster secret holds the repository's passphrase. */
  stack: string;
  /** Its cluster name (default: this stack's clusterName): the stanza and repository path. */
  cluster?: string;
  /** Its region (default: this stack's): the region of the bucket read. */
  region?: string;
  /** The bucket read (default the source's repo1 name, pgha-<stack>-<cluster>-<region>): never written. */
  bucket?: string;
  /** Whether the source repository is encrypted (default: this stack's backup.repoEncryption). */
  repoEncryption?: boolean;
  /** The point in time the new cluster starts from. */
  target: { type: RestoreTargetType; value?: string };
}

export type TierDefaults = Omit<StackConfig, "tier" | "clusterName" | "region">;

/**
 * Patroni's own defaults (ttl 30, loop_wait 10, retry_timeout 10, 1 MiB lag limit,
 * primary_start_timeout 300): the one definition. dev and staging run with them (retry_timeout
 * 8, see PATRONI_FAILSAFE_DEFAULTS); the policies
 * assume them where a dynamic config leaves a key out; the failover bench's
 * "patroni-defaults" profile is them.
 */
/**
 * How far behind the leader a replica may be and still serve the read-only endpoint: 100 MiB of
 * WAL not yet replayed (the bound autobase ships as maximum_lag_on_replica). Beyond it HAProxy
 * takes the replica out until it catches up; with no replica within it, reads go to the leader.
 */
export const READ_ONLY_MAX_LAG_BYTES = 104_857_600;

export const PATRONI_DEFAULTS = { ttl: 30, loopWait: 10, retryTimeout: 10, maximumLagOnFailover: 1_048_576, primaryStartTimeout: 300 } as const;

/**
 * How long a leader in failsafe mode spends asking every member before it demotes when etcd
 * is unreachable: Patroni POSTs /failsafe to all members at once with a 2 s timeout and one
 * retry (patroni/ha.py, call_failsafe_member), so up to 4 s. It comes on top of Patroni's
 * loop_wait + 2·retry_timeout, inside the lease: ttl ≥ loop_wait + 2·retry_timeout + 4.
 */
export const FAILSAFE_CHECK_SECONDS = 4;

/**
 * Patroni's defaults with failsafe mode on: retry_timeout 8 instead of 10, so that
 * loop_wait + 2·retry_timeout + the failsafe check (10 + 16 + 4) fits in the 30 s lease.
 */
const PATRONI_FAILSAFE_DEFAULTS = { ...PATRONI_DEFAULTS, retryTimeout: 8, failsafeMode: true } as const;

/** Patroni's default safety_margin: the watchdog fires this many seconds before the leader lock expires. */
export const WATCHDOG_SAFETY_MARGIN_SECONDS = 5;

/**
 * libpq's timeouts for Patroni and the PostgreSQL it starts, from the service file Patroni's unit
 * names (PGSERVICEFILE, PGSERVICE): connect_timeout for blocking clients (Patroni's, pg_rewind,
 * pg_basebackup), and tcp_user_timeout (this × 1000 ms) for the walreceiver, which connects
 * asynchronously and ignores connect_timeout. Patroni's primary_conninfo sets neither (and passes
 * on no other keyword), so a standby whose primary's packets vanish (a partition that drops, not
 * refuses) waited out TCP's SYN retries (≈ 130 s) on each streaming attempt before reading the
 * WAL archive. With TCP_USER_TIMEOUT, an attempt gives up after this many seconds, and an
 * established stream whose data goes unacknowledged this long is dropped (docs/facts.md).
 */
export const LIBPQ_CONNECT_TIMEOUT_SECONDS = 5;

const common = {
  network: {
    vpcCidr: "10.20.0.0/16",
    allowedClientSecurityGroupIds: [] as string[],
    domain: "pgha.internal",
  },
  backup: {
    // Daily full backup at 02:00, kept 7 days; weekly logical dump kept 12 weeks.
    fullSchedule: "0 2 * * *",
    incrSchedule: null,
    logicalSchedule: "0 3 * * 0",
    // A backup counts once a restore of it was proven: weekly drill of the newest backup.
    restoreDrillSchedule: "30 4 * * 6",
    fullRetentionDays: 7,
    logicalRetentionWeeks: 12,
    logicalInfrequentAccessAfterDays: 30,
    secondRepository: null,
  },
  tls: { enabled: true, certValidityDays: 365, renewBeforeDays: 30 },
};

/** The monitoring node: off in dev (one node, nobody paged), on in staging and prod; 15 s scrapes kept 15 days, the nodes' journals 14. */
export const MONITORING_DEFAULTS = { instanceType: "t4g.small", scrapeIntervalSeconds: 15, retentionDays: 15, logRetentionDays: 14, alertEmails: [], alertHttpsEndpoints: [] } as const;

/** Off unless a stack turns it on; transaction pooling, 20 server connections per database and user. */
export const POOLER_DEFAULTS = { enabled: false, mode: "transaction", poolSize: 20, maxClientConnections: 2000 } as const satisfies TierDefaults["pooler"];

export const TIER_DEFAULTS: Record<Tier, TierDefaults> = {
  dev: {
    network: { ...common.network, availabilityZones: 1, allowedClientCidrs: ["10.20.0.0/16"] },
    postgres: {
      nodes: 1,
      instanceType: "t4g.medium",
      dataVolume: { sizeGiB: 20, iops: 3000, throughputMiBps: 125 },
      parameters: {},
      syncMode: "off",
      syncNodeCount: 1,
      members: {},
      databases: {},
      roles: {},
      credentialsVersion: 1,
    },
    // Patroni's own defaults (PATRONI_DEFAULTS), with failsafe mode on.
    patroni: { ...PATRONI_FAILSAFE_DEFAULTS, watchdog: "off" },
    etcd: { nodes: 1, instanceType: "t4g.small" },
    haproxy: { nodes: 1, instanceType: "t4g.small", networkLoadBalancer: false, checkIntervalMs: 2000, fall: 3, rise: 2, readOnlyMaxLagBytes: READ_ONLY_MAX_LAG_BYTES, synchronousReadOnly: false },
    pooler: { ...POOLER_DEFAULTS },
    backup: { ...common.backup, diffSchedule: null, noncurrentVersionRetentionDays: 7, archiveTimeoutSeconds: 300, repoEncryption: false },
    objectives: { failoverRpoSeconds: 300, pitrRpoSeconds: 300, rtoSeconds: 3600, monthlyBudgetUsd: null },
    maintenance: { window: null },
    tls: { ...common.tls },
    monitoring: { ...MONITORING_DEFAULTS, alertEmails: [], alertHttpsEndpoints: [], enabled: false },
    tags: {},
    nodeNamePrefix: "",
    standby: null,
    standbyClusters: {},
    restoreFrom: null,
  },
  staging: {
    network: { ...common.network, availabilityZones: 3, allowedClientCidrs: ["10.20.0.0/16"] },
    postgres: {
      nodes: 3,
      instanceType: "m7g.large",
      dataVolume: { sizeGiB: 100, iops: 3000, throughputMiBps: 125 },
      parameters: {},
      syncMode: "off",
      syncNodeCount: 1,
      members: {},
      databases: {},
      roles: {},
      credentialsVersion: 1,
    },
    patroni: { ...PATRONI_FAILSAFE_DEFAULTS, watchdog: "automatic" },
    etcd: { nodes: 3, instanceType: "t4g.small" },
    haproxy: { nodes: 1, instanceType: "t4g.small", networkLoadBalancer: false, checkIntervalMs: 2000, fall: 3, rise: 2, readOnlyMaxLagBytes: READ_ONLY_MAX_LAG_BYTES, synchronousReadOnly: false },
    pooler: { ...POOLER_DEFAULTS },
    backup: { ...common.backup, diffSchedule: null, noncurrentVersionRetentionDays: 14, archiveTimeoutSeconds: 120, repoEncryption: false },
    objectives: { failoverRpoSeconds: 60, pitrRpoSeconds: 120, rtoSeconds: 120, monthlyBudgetUsd: null },
    maintenance: { window: null },
    tls: { ...common.tls },
    monitoring: { ...MONITORING_DEFAULTS, alertEmails: [], alertHttpsEndpoints: [], enabled: true },
    tags: {},
    nodeNamePrefix: "",
    standby: null,
    standbyClusters: {},
    restoreFrom: null,
  },
  prod: {
    network: { ...common.network, availabilityZones: 3, allowedClientCidrs: ["10.20.0.0/16"] },
    postgres: {
      nodes: 3,
      instanceType: "r7g.large",
      dataVolume: { sizeGiB: 200, iops: 6000, throughputMiBps: 250 },
      parameters: {},
      syncMode: "quorum",
      syncNodeCount: 1,
      members: {},
      databases: {},
      roles: {},
      credentialsVersion: 1,
    },
    // Tuned profile (bench/failover): detection within ttl, HAProxy reroutes within
    // inter·fall; a crashed postmaster is restarted in place for up to 30 s before failover.
    // retry_timeout 5: an isolated leader gives up on etcd and on its members (4 + 2·5 + 4 =
    // 18 s) before its 20 s lease can go to a replica (with 8 it took up to 25.7 s in CI).
    patroni: { ttl: 20, loopWait: 4, retryTimeout: 5, maximumLagOnFailover: 1_048_576, primaryStartTimeout: 30, failsafeMode: true, watchdog: "required" },
    etcd: { nodes: 3, instanceType: "m7g.medium" },
    haproxy: { nodes: 2, instanceType: "c7g.medium", networkLoadBalancer: true, checkIntervalMs: 1000, fall: 3, rise: 2, readOnlyMaxLagBytes: READ_ONLY_MAX_LAG_BYTES, synchronousReadOnly: false },
    pooler: { ...POOLER_DEFAULTS },
    backup: { ...common.backup, diffSchedule: "0 8,14,20 * * *", noncurrentVersionRetentionDays: 30, archiveTimeoutSeconds: 60, repoEncryption: true },
    objectives: { failoverRpoSeconds: 0, pitrRpoSeconds: 60, rtoSeconds: 45, monthlyBudgetUsd: null },
    maintenance: { window: null },
    tls: { ...common.tls },
    monitoring: { ...MONITORING_DEFAULTS, alertEmails: [], alertHttpsEndpoints: [], enabled: true },
    tags: {},
    nodeNamePrefix: "",
    standby: null,
    standbyClusters: {},
    restoreFrom: null,
  },
};

/** Memory of the instance types we size PostgreSQL for (MiB). Others need postgres.memoryMiB. */
export const INSTANCE_MEMORY_MIB: Record<string, number> = {
  "t4g.micro": 1024, "t4g.small": 2048, "t4g.medium": 4096, "t4g.large": 8192, "t4g.xlarge": 16384, "t4g.2xlarge": 32768,
  "t3.micro": 1024, "t3.small": 2048, "t3.medium": 4096, "t3.large": 8192, "t3.xlarge": 16384, "t3.2xlarge": 32768,
  "m7g.medium": 4096, "m7g.large": 8192, "m7g.xlarge": 16384, "m7g.2xlarge": 32768, "m7g.4xlarge": 65536, "m7g.8xlarge": 131072,
  "m7i.large": 8192, "m7i.xlarge": 16384, "m7i.2xlarge": 32768, "m7i.4xlarge": 65536,
  "r7g.medium": 8192, "r7g.large": 16384, "r7g.xlarge": 32768, "r7g.2xlarge": 65536, "r7g.4xlarge": 131072, "r7g.8xlarge": 262144,
  "r7i.large": 16384, "r7i.xlarge": 32768, "r7i.2xlarge": 65536, "r7i.4xlarge": 131072,
  "c7g.medium": 2048, "c7g.large": 4096, "c7g.xlarge": 8192,
  "m8g.large": 8192, "m8g.xlarge": 16384, "r8g.large": 16384, "r8g.xlarge": 32768, "r8g.2xlarge": 65536,
};

/** arm64 for Graviton families (a "g" after the generation digit), x86_64 otherwise. */
export function architectureOf(instanceType: string): "arm64" | "x86_64" {
  const family = instanceType.split(".")[0];
  return /^[a-z]+\d+g[a-z]*$/.test(family) ? "arm64" : "x86_64";
}
