// StackConfig → ClusterSpec: the cluster as plain data, decided once, used by everything else
// (AWS components, rendering, sandbox, policies). No Pulumi here.
import { INSTANCE_MEMORY_MIB, type RestoreTargetType, type StackConfig } from "./config/defaults";
import type { MemberTags, ParameterValue, SyncMode, Tier } from "./config/schema";
import { accessDeclaration, type AccessDeclaration } from "./access/declaration";

export const PROJECT = "postgres-ha";
/** One definition, in the leaf module of node paths (the policies import it without the spec). */
export { POSTGRES_MAJOR } from "./node-paths";

/** A node's role. `monitor`: the monitoring node (monitoring.enabled), Prometheus and Alertmanager. */
export type Role = "postgres" | "etcd" | "haproxy" | "monitor";

export const PORTS = {
  postgres: 5432,
  patroniRestApi: 8008,
  etcdClient: 2379,
  etcdPeer: 2380,
  readWrite: 5000,
  readOnly: 5001,
  /** haproxy.synchronousReadOnly: the standbys every commit waited for (on the ro name). */
  synchronousReadOnly: 5002,
  haproxyStats: 7000,
  /** pooler.enabled: HAProxy's pooled endpoints (rw name → the leader's PgBouncer, ro name → the replicas'). */
  pooledReadWrite: 6432,
  pooledReadOnly: 6433,
  /** PgBouncer on each PostgreSQL node (its private address). */
  pgbouncer: 6432,
  /** Metrics (issue 12), each on the node's private address, TLS with client certificates of the cluster CA: */
  /** prometheus-node-exporter on every node (machine, systemd, and the node jobs' results). */
  nodeExporter: 9100,
  /** prometheus-postgres-exporter on each PostgreSQL node. */
  postgresExporter: 9187,
  /** HAProxy's built-in Prometheus exporter on each HAProxy node. */
  haproxyMetrics: 8405,
  /** The monitoring node's Prometheus (UI and API) and Alertmanager, on its private address, TLS. */
  prometheus: 9090,
  alertmanager: 9093,
  /** Central logs: systemd-journal-remote on the monitoring node's private address (HTTPS, client certificates); every node's systemd-journal-upload sends to it. */
  journalRemote: 19532,
} as const;

/** Database roles Patroni creates; passwords are generated secrets, never in the spec. */
export const DB_USERS = {
  superuser: "postgres",
  replication: "replicator",
  rewind: "rewind_user",
  /**
   * The metrics role: LOGIN, member of pg_monitor, no password. prometheus-postgres-exporter runs
   * as the OS user of the same name and logs in over the local socket with peer authentication.
   */
  monitor: "prometheus",
} as const;

export interface SubnetSpec {
  index: number;
  cidr: string;
  /** Existing subnet id (bring-your-own VPC); undefined when the stack creates the subnet. */
  id?: string;
  /** AZ name when known from config; for created subnets the component picks the region's AZs. */
  availabilityZone?: string;
}

export interface NodeSpec {
  /** db1, etcd2, lb1 … — also the Patroni member name, etcd member name and host name. */
  name: string;
  role: Role;
  /** 1-based index within the role. */
  index: number;
  subnetIndex: number;
  /** The fixed private address of the EC2 instance (derived from the subnet CIDR). */
  privateIp: string;
  instanceType: string;
  /** Patroni tags (PostgreSQL members only). */
  tags: MemberTags;
}

export interface ClusterSpec {
  project: string;
  stack: string;
  tier: Tier;
  clusterName: string;
  region: string;
  /** Patroni scope = pgBackRest stanza = clusterName. */
  scope: string;
  /** Patroni DCS namespace. */
  namespace: string;
  network: {
    createVpc: boolean;
    vpcId?: string;
    vpcCidr: string;
    subnets: SubnetSpec[];
    allowedClientCidrs: string[];
    allowedClientSecurityGroupIds: string[];
    domain: string;
  };
  nodes: NodeSpec[];
  postgres: {
    major: number;
    memoryMiB: number;
    maxConnections: number;
    /** Final cluster-wide parameters (tier-derived, then user overrides), values as PostgreSQL text. */
    parameters: Record<string, string>;
    syncMode: SyncMode;
    syncNodeCount: number;
    dataVolume: { sizeGiB: number; iops: number; throughputMiBps: number };
    instanceType: string;
    /** postgres.credentialsVersion: the generation of the cluster's own passwords. */
    credentialsVersion: number;
  };
  patroni: StackConfig["patroni"];
  etcd: { nodes: number; instanceType: string; initialClusterToken: string };
  haproxy: StackConfig["haproxy"];
  pooler: StackConfig["pooler"];
  /** monitoring.*, and the names of what it creates: the alert topic (SNS) and the heartbeat metric. */
  monitoring: StackConfig["monitoring"] & {
    /** The SNS topic every alert goes to (its ARN: arn:aws:sns:<region>:<account>:<topicName>). */
    topicName: string;
    /** The CloudWatch metric the monitoring node puts while Prometheus's Watchdog alert reaches Alertmanager (the dead man's switch). */
    heartbeat: { namespace: string; metricName: string; dimensions: Record<string, string> };
  };
  backup: StackConfig["backup"] & {
    bucketName: string;
    /** pgBackRest repository path in the bucket. */
    repoPath: string;
    /** Prefix of the weekly logical dumps in the bucket. */
    logicalPrefix: string;
    /** Prefix of the restore-point and timeline catalogue the tooling keeps beside the repository. */
    catalogPrefix: string;
    stanza: string;
    /**
     * The pgBackRest repositories, repo1 first: repo1 in the stack's region (bucketName), where
     * WAL is archived and backups are taken; repo2 in backup.secondRepository.region when one is
     * declared, a copy S3 Replication keeps (read with /etc/pgbackrest/second-region.conf).
     */
    repositories: RepositorySpec[];
  };
  objectives: StackConfig["objectives"];
  maintenance: StackConfig["maintenance"];
  tls: StackConfig["tls"];
  /** Application databases and roles (postgres.databases, postgres.roles): what pgha-access applies on the leader. */
  access: AccessDeclaration;
  /** Tags for every AWS resource. */
  tags: Record<string, string>;
  serviceNames: { readWrite: string; readOnly: string };
  /** standby: this cluster follows another (Patroni standby_cluster); undefined for a primary cluster. */
  standby?: StandbySpec;
  /** This cluster's first member is restored from another cluster's repository (restoreFrom). */
  restoreFrom?: RestoreFromSpec;
  /** standbyClusters: the stacks that follow this cluster, each with its permanent slot and networks. */
  standbyClusters: { stack: string; slot: string; cidrs: string[] }[];
  names: {
    /** Resource name prefix, e.g. "main-prod". */
    prefix: string;
    kmsAlias: string;
    clusterSecret: string;
    nodeSecret: Record<string, string>;
    /** Each declared login role's password secret (its value: {username, password, …}). */
    roleSecret: Record<string, string>;
  };
}

/** One pgBackRest repository (repo<index> in pgbackrest.conf): an S3 bucket in one region. */
export interface RepositorySpec {
  /** The repository's number: 1 in the stack's region, 2 the replicated copy in the second region. */
  index: 1 | 2;
  region: string;
  bucketName: string;
  fullRetentionDays: number;
}

/** The permanent replication slot a standby cluster (stack) uses on its primary: standby_<stack> ('-' → '_'). */
export function standbySlotName(stack: string): string {
  return `standby_${stack.replace(/-/g, "_")}`;
}

export interface StandbySpec {
  primaryStack: string;
  /** The primary's read-write endpoint as this cluster's nodes reach it. */
  host: string;
  port: number;
  /** The primary's networks (fencing: they stream from this cluster once it is promoted). */
  cidrs: string[];
  /** The slot on the primary: standby_<this stack>. */
  slot: string;
  /** The primary's repository copy in this region, read with the primary's stanza and path. */
  repository: RepositorySpec;
  /** Both private zones associated across the VPCs through a StackReference to the primary (standby.associateZones). */
  associateZones: boolean;
}

export interface RestoreFromSpec {
  /** The source cluster: its stack and cluster name, its stanza and repository path in the bucket. */
  stack: string;
  cluster: string;
  stanza: string;
  repoPath: string;
  /** Its restore-point catalogue in the bucket (name targets are looked up there). */
  catalogPrefix: string;
  /** The bucket read (repository index 2: not this stack's repo1), in its region. */
  repository: RepositorySpec;
  repoEncryption: boolean;
  /** The source's cluster secret: the repository passphrase (and, in the sandbox, its S3 keys). */
  secretName: string;
  target: { type: RestoreTargetType; value?: string };
}

/** The default bucket name of a repository in a region: pgha-<stack>-<cluster>-<region>, at most 63 characters. */
export function defaultBucketName(stack: string, clusterName: string, region: string): string {
  return `pgha-${stack}-${clusterName}-${region}`.slice(0, 63);
}

function ipToInt(ip: string): number {
  return ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
}
function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

/** The i-th subnet of 2^extraBits equal slices of a CIDR. */
export function subnetSlice(cidr: string, extraBits: number, i: number): string {
  const [ip, bits] = cidr.split("/");
  const prefix = Number(bits) + extraBits;
  return `${intToIp(ipToInt(ip) + i * 2 ** (32 - prefix))}/${prefix}`;
}

/** The address `offset` hosts into a subnet. */
export function hostAddress(cidr: string, offset: number): string {
  return intToIp(ipToInt(cidr.split("/")[0]) + offset);
}

/** Host offsets within a subnet, per role: stable when the counts of other roles change. */
export const HOST_OFFSET: Record<Role, number> = { postgres: 10, etcd: 30, haproxy: 40, monitor: 50 };
const ROLE_PREFIX: Record<Role, string> = { postgres: "db", etcd: "etcd", haproxy: "lb", monitor: "mon" };

function formatBytes(mib: number): string {
  if (mib >= 1024 && mib % 1024 === 0) return `${mib / 1024}GB`;
  return `${Math.max(1, Math.round(mib))}MB`;
}

function toPgValue(v: ParameterValue): string {
  if (typeof v === "boolean") return v ? "on" : "off";
  return String(v);
}

/**
 * Cluster-wide PostgreSQL parameters derived from the tier and instance size,
 * then the user's overrides (null removes one). These live in Patroni's dynamic configuration,
 * so changing them later is applied live and never replaces a node.
 */
export function derivedParameters(cfg: StackConfig, memoryMiB: number, maxConnections: number): Record<string, string> {
  const sharedBuffers = Math.floor(memoryMiB / 4);
  const workMem = Math.min(256, Math.max(4, Math.floor((memoryMiB - sharedBuffers) / (maxConnections * 3))));
  const base: Record<string, string> = {
    max_connections: String(maxConnections),
    shared_buffers: formatBytes(sharedBuffers),
    effective_cache_size: formatBytes(Math.floor((memoryMiB * 3) / 4)),
    maintenance_work_mem: formatBytes(Math.min(2048, Math.floor(memoryMiB / 16))),
    work_mem: formatBytes(workMem),
    huge_pages: "try",
    // Replication (seed: wal_level, max_wal_senders, wal_keep_size, hot_standby).
    wal_level: "replica",
    max_wal_senders: "10",
    max_replication_slots: "10",
    wal_keep_size: cfg.tier === "dev" ? "512MB" : "1GB",
    // A standby cluster's permanent slot keeps WAL while that region is away: at most a quarter
    // of the data volume, then the slot is given up and the standby reads the repository copy.
    ...(Object.keys(cfg.standbyClusters).length ? { max_slot_wal_keep_size: `${Math.max(1, Math.floor(cfg.postgres.dataVolume.sizeGiB / 4))}GB` } : {}),
    hot_standby: "on",
    wal_log_hints: "on",
    wal_compression: "lz4",
    max_wal_size: cfg.tier === "dev" ? "1GB" : "4GB",
    min_wal_size: cfg.tier === "dev" ? "256MB" : "1GB",
    checkpoint_timeout: "15min",
    checkpoint_completion_target: "0.9",
    // Continuous archiving (seed: archive_mode, archive_timeout 300 s; prod ≤ 60 s).
    archive_mode: "on",
    archive_timeout: `${cfg.backup.archiveTimeoutSeconds}s`,
    password_encryption: "scram-sha-256",
    shared_preload_libraries: "pg_stat_statements",
    track_io_timing: "on",
  };
  // The synchronous read endpoint (haproxy.synchronousReadOnly): a commit returns once its
  // synchronous standbys replayed it, so a read there sees it.
  if (cfg.haproxy.synchronousReadOnly) base.synchronous_commit = "remote_apply";
  for (const [k, v] of Object.entries(cfg.postgres.parameters)) {
    if (v === null) delete base[k];
    else base[k] = toPgValue(v);
  }
  return Object.fromEntries(Object.entries(base).sort(([a], [b]) => a.localeCompare(b)));
}

export function buildSpec(cfg: StackConfig, stack: string): ClusterSpec {
  const net = cfg.network;
  const bucketName = cfg.backup.bucketName ?? defaultBucketName(stack, cfg.clusterName, cfg.region);
  const second = cfg.backup.secondRepository;
  const createVpc = !net.vpcId;
  const subnets: SubnetSpec[] = createVpc
    ? Array.from({ length: net.availabilityZones }, (_, i) => ({ index: i, cidr: subnetSlice(net.vpcCidr, 3, i) }))
    : net.subnets!.map((s, i) => ({ index: i, cidr: s.cidr, id: s.id, availabilityZone: s.availabilityZone }));

  const nodes: NodeSpec[] = [];
  const addRole = (role: Role, count: number, instanceType: string) => {
    for (let i = 1; i <= count; i++) {
      const subnetIndex = (i - 1) % subnets.length;
      const ordinalInSubnet = Math.floor((i - 1) / subnets.length);
      const name = `${cfg.nodeNamePrefix}${ROLE_PREFIX[role]}${i}`;
      nodes.push({
        name,
        role,
        index: i,
        subnetIndex,
        privateIp: hostAddress(subnets[subnetIndex].cidr, HOST_OFFSET[role] + ordinalInSubnet),
        instanceType,
        tags: role === "postgres" ? { ...(cfg.postgres.members[name] ?? {}) } : {},
      });
    }
  };
  addRole("postgres", cfg.postgres.nodes, cfg.postgres.instanceType);
  addRole("etcd", cfg.etcd.nodes, cfg.etcd.instanceType);
  addRole("haproxy", cfg.haproxy.nodes, cfg.haproxy.instanceType);
  addRole("monitor", cfg.monitoring.enabled ? 1 : 0, cfg.monitoring.instanceType);

  const memoryMiB = cfg.postgres.memoryMiB ?? INSTANCE_MEMORY_MIB[cfg.postgres.instanceType];
  const maxConnections = memoryMiB >= 16384 ? 400 : memoryMiB >= 8192 ? 200 : 100;
  const prefix = `${cfg.clusterName}-${stack}`;
  const secretBase = `${PROJECT}/${stack}/${cfg.clusterName}`;
  const userParams = cfg.postgres.parameters;
  const roleSecretName = (role: string) => `${secretBase}/role/${role}`;
  const access = accessDeclaration(cfg.postgres.databases, cfg.postgres.roles, roleSecretName);
  const effectiveMaxConnections = userParams.max_connections != null ? Number(userParams.max_connections) : maxConnections;

  return {
    project: PROJECT,
    stack,
    tier: cfg.tier,
    clusterName: cfg.clusterName,
    region: cfg.region,
    scope: cfg.clusterName,
    namespace: `/${PROJECT}/`,
    network: {
      createVpc,
      vpcId: net.vpcId,
      vpcCidr: createVpc ? net.vpcCidr : net.subnets!.map((s) => s.cidr).join(","),
      subnets,
      allowedClientCidrs: [...net.allowedClientCidrs],
      allowedClientSecurityGroupIds: [...net.allowedClientSecurityGroupIds],
      domain: net.domain,
    },
    nodes,
    postgres: {
      major: 17,
      memoryMiB,
      maxConnections: effectiveMaxConnections,
      parameters: derivedParameters(cfg, memoryMiB, maxConnections),
      syncMode: cfg.postgres.syncMode,
      syncNodeCount: cfg.postgres.syncNodeCount,
      dataVolume: { ...cfg.postgres.dataVolume },
      instanceType: cfg.postgres.instanceType,
      credentialsVersion: cfg.postgres.credentialsVersion,
    },
    patroni: { ...cfg.patroni },
    etcd: { nodes: cfg.etcd.nodes, instanceType: cfg.etcd.instanceType, initialClusterToken: `${prefix}-etcd` },
    haproxy: { ...cfg.haproxy },
    pooler: { ...cfg.pooler },
    monitoring: {
      ...cfg.monitoring,
      alertEmails: [...cfg.monitoring.alertEmails],
      alertHttpsEndpoints: [...cfg.monitoring.alertHttpsEndpoints],
      topicName: `pgha-${prefix}-alerts`,
      heartbeat: { namespace: "PostgresHa", metricName: "MonitoringHeartbeat", dimensions: { Stack: stack, Cluster: cfg.clusterName } },
    },
    backup: {
      ...cfg.backup,
      bucketName,
      repositories: [
        { index: 1, region: cfg.region, bucketName, fullRetentionDays: cfg.backup.fullRetentionDays },
        ...(second
          ? [{
              index: 2 as const,
              region: second.region,
              bucketName: second.bucketName ?? defaultBucketName(stack, cfg.clusterName, second.region),
              // A replica of repo1 (S3 Replication, deletions included): repo1's retention.
              fullRetentionDays: cfg.backup.fullRetentionDays,
            }]
          : []),
      ],
      repoPath: `/pgbackrest/${cfg.clusterName}`,
      logicalPrefix: `logical/${cfg.clusterName}/`,
      catalogPrefix: `restore-points/${cfg.clusterName}/`,
      stanza: cfg.clusterName,
    },
    objectives: { ...cfg.objectives },
    maintenance: { ...cfg.maintenance },
    tls: { ...cfg.tls },
    access,
    tags: { ...cfg.tags, "pgha:cluster": cfg.clusterName, "pgha:stack": stack, "pgha:tier": cfg.tier },
    ...(cfg.standby
      ? {
          standby: {
            primaryStack: cfg.standby.primaryStack,
            // host, cidrs and repositoryBucket are there: given, or derived from the primary's
            // stack file (src/standby/source.ts); the gate refuses a standby without them.
            host: cfg.standby.host ?? "",
            port: cfg.standby.port ?? PORTS.readWrite,
            cidrs: [...(cfg.standby.cidrs ?? [])],
            slot: standbySlotName(stack),
            associateZones: cfg.standby.associateZones ?? true,
            // Read-only, in this stack's region; the copy of repo1 keeps repo1's retention.
            repository: { index: 2 as const, region: cfg.region, bucketName: cfg.standby.repositoryBucket ?? "", fullRetentionDays: cfg.backup.fullRetentionDays },
          },
        }
      : {}),
    ...(cfg.restoreFrom ? { restoreFrom: restoreFromSpec(cfg) } : {}),
    standbyClusters: Object.entries(cfg.standbyClusters)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([follower, v]) => ({ stack: follower, slot: standbySlotName(follower), cidrs: [...v.cidrs] })),
    serviceNames: {
      readWrite: `rw.${cfg.clusterName}.${net.domain}`,
      readOnly: `ro.${cfg.clusterName}.${net.domain}`,
    },
    names: {
      prefix,
      kmsAlias: `alias/pgha-${prefix}`,
      // A standby cluster's database is the primary's (roles and passwords replicate): it reads
      // the primary's cluster secret, replicated to its region under the same name.
      clusterSecret: cfg.standby ? `${PROJECT}/${cfg.standby.primaryStack}/${cfg.clusterName}/cluster` : `${secretBase}/cluster`,
      nodeSecret: Object.fromEntries(nodes.map((n) => [n.name, `${secretBase}/node/${n.name}`])),
      roleSecret: Object.fromEntries(access.roles.filter((r) => r.secret).map((r) => [r.name, r.secret!])),
    },
  };
}

function restoreFromSpec(cfg: StackConfig): RestoreFromSpec {
  const r = cfg.restoreFrom!;
  const cluster = r.cluster ?? cfg.clusterName;
  const region = r.region ?? cfg.region;
  return {
    stack: r.stack,
    cluster,
    stanza: cluster,
    repoPath: `/pgbackrest/${cluster}`,
    catalogPrefix: `restore-points/${cluster}/`,
    repository: { index: 2 as const, region, bucketName: r.bucket ?? defaultBucketName(r.stack, cluster, region), fullRetentionDays: cfg.backup.fullRetentionDays },
    repoEncryption: r.repoEncryption ?? cfg.backup.repoEncryption,
    secretName: `${PROJECT}/${r.stack}/${cluster}/cluster`,
    target: r.target.type === "immediate" ? { type: "immediate" } : { type: r.target.type, value: r.target.value },
  };
}

export function nodesOf(spec: ClusterSpec, role: Role): NodeSpec[] {
  return spec.nodes.filter((n) => n.role === role);
}

export function nodeByName(spec: ClusterSpec, name: string): NodeSpec {
  const n = spec.nodes.find((x) => x.name === name);
  if (!n) throw new Error(`no node ${name} in stack ${spec.stack} (nodes: ${spec.nodes.map((x) => x.name).join(", ")})`);
  return n;
}
