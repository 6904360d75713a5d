// Stack config → validated StackConfig, before any resource exists.
//
// Input is the flat map Pulumi hands a program ("postgres-ha:patroni" → JSON text), or the same
// keys read from Pulumi.<stack>.yaml by the offline commands. Every problem is collected (not just
// the first) and reported with the key, the value, what is allowed and how to set it.
import { z } from "zod";
import { CIDR_RE, cidrIsNetworkAddress, configSchema, type ConfigInput, type Tier } from "./schema";
import { INSTANCE_MEMORY_MIB, TIER_DEFAULTS, type StackConfig } from "./defaults";
import { keyDoc } from "./keys";

export const PROJECT = "postgres-ha";

export interface ConfigProblem {
  /** Dotted key without the project prefix, e.g. "patroni.ttl". */
  key: string;
  value: unknown;
  /** Why this value is wrong here. */
  reason: string;
  /** What would be accepted. */
  allowed: string;
}

export class ConfigError extends Error {
  constructor(
    readonly problems: ConfigProblem[],
    readonly stack: string,
  ) {
    super(formatProblems(problems, stack));
    this.name = "ConfigError";
  }
}

function show(value: unknown): string {
  if (value === undefined) return "(not set)";
  const s = typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value);
  return s.length > 120 ? s.slice(0, 117) + "..." : s;
}

function configKey(key: string): string {
  return key.startsWith("aws:") ? key : `${PROJECT}:${key}`;
}

function setHint(key: string, stack: string): string {
  if (key.startsWith("aws:")) return `pulumi config set ${key} <value> --stack ${stack}`;
  const top = !key.includes(".");
  return top
    ? `pulumi config set ${key} <value> --stack ${stack}`
    : `pulumi config set --path '${key}' <value> --stack ${stack}`;
}

export function formatProblems(problems: ConfigProblem[], stack: string): string {
  const lines = [
    `Invalid config for stack "${stack}" (Pulumi.${stack}.yaml): ${problems.length} problem${problems.length === 1 ? "" : "s"}, nothing was created.`,
  ];
  for (const p of problems) {
    lines.push(`  ✗ ${configKey(p.key)} = ${show(p.value)}: ${p.reason}`);
    lines.push(`      allowed: ${p.allowed}`);
    lines.push(`      set it in Pulumi.${stack}.yaml, e.g. ${setHint(p.key, stack)}`);
  }
  return lines.join("\n");
}

/** Parses one raw Pulumi config value: objects and lists arrive as JSON text. */
function parseRawValue(v: unknown): unknown {
  if (typeof v !== "string") return v;
  const t = v.trim();
  if ((t.startsWith("{") && t.endsWith("}")) || (t.startsWith("[") && t.endsWith("]"))) {
    try {
      return JSON.parse(t);
    } catch {
      return v;
    }
  }
  return v;
}

/**
 * Splits the raw config map into this project's keys and the aws:region.
 * Keys of other namespaces (aws:*, pulumi:*) are left alone, except aws:region which we need.
 */
export function projectConfigFromRaw(raw: Record<string, unknown>): { input: Record<string, unknown>; region?: string } {
  const input: Record<string, unknown> = {};
  let region: string | undefined;
  for (const [k, v] of Object.entries(raw)) {
    if (k === "aws:region") region = String(v);
    const m = /^postgres-ha:(?:config:)?(.+)$/.exec(k);
    if (m) input[m[1]] = parseRawValue(v);
  }
  return { input, region };
}

function pathOf(path: PropertyKey[]): string {
  return path.map(String).join(".");
}

function valueAt(obj: unknown, path: PropertyKey[]): unknown {
  let cur: any = obj;
  for (const p of path) {
    if (cur == null || typeof cur !== "object") return undefined;
    cur = cur[p as any];
  }
  return cur;
}

function zodProblems(err: z.ZodError, input: unknown): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of err.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const k of issue.keys) {
        const full = [...issue.path, k];
        const parent = issue.path.length ? pathOf(issue.path) : "";
        out.push({
          key: pathOf(full),
          value: valueAt(input, full),
          reason: "unknown key (misspelt, or not a setting of this program)",
          allowed: parent
            ? `the keys of ${parent} listed in the config reference (README.md, "Config reference")`
            : `the keys listed in the config reference (README.md, "Config reference")`,
        });
      }
      continue;
    }
    const value = valueAt(input, issue.path);
    // A bad record key (postgres.parameters.Bad) is documented by the record itself.
    const doc = keyDoc((issue.code === "invalid_key" ? issue.path.slice(0, -1) : issue.path) as (string | number)[]);
    let reason: string;
    switch (issue.code) {
      case "invalid_type":
        reason = value === undefined ? "is required" : `has the wrong type (expected ${issue.expected})`;
        break;
      case "too_small":
      case "too_big":
        reason = issue.message.replace(/^Too (small|big): expected number to be /, "must be ");
        break;
      case "invalid_value":
        reason = "is not one of the allowed values";
        break;
      case "invalid_key":
        reason = "is not an allowed name";
        break;
      default:
        reason = "is not valid";
    }
    out.push({ key: pathOf(issue.path), value, reason, allowed: doc?.allowed ?? issue.message });
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Deep merge: objects merge key by key; lists, scalars and null replace. */
function merge<T>(base: T, over: unknown): T {
  if (!isPlainObject(base) || !isPlainObject(over)) return (over === undefined ? base : over) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? merge(out[k], v) : v;
  return out as T;
}

/** Parameters the program or Patroni own: an override would break replication, backups or TLS. */
export const MANAGED_PARAMETERS: Record<string, string> = {
  listen_addresses: "Patroni sets it from the node's address",
  port: "Patroni sets it (5432 on every node)",
  data_directory: "set by the node layout",
  config_file: "Patroni owns postgresql.conf",
  hba_file: "pg_hba is rendered by this program and applied through Patroni",
  ident_file: "managed by Patroni",
  archive_mode: "always on: continuous archiving is what PITR rests on",
  archive_command: "pgBackRest's archive-push, rendered by this program",
  restore_command: "pgBackRest's archive-get, rendered by this program",
  synchronous_standby_names: "Patroni manages it from postgres.syncMode/syncNodeCount",
  synchronous_commit: "follows postgres.syncMode",
  hot_standby: "must stay on for read replicas",
  cluster_name: "the Patroni scope",
  primary_conninfo: "Patroni manages it",
  primary_slot_name: "Patroni manages it",
  recovery_target: "use `pgha restore` for point-in-time recovery",
  recovery_target_time: "use `pgha restore` for point-in-time recovery",
  recovery_target_xid: "use `pgha restore` for point-in-time recovery",
  recovery_target_lsn: "use `pgha restore` for point-in-time recovery",
  recovery_target_name: "use `pgha restore` for point-in-time recovery",
  ssl: "follows tls.enabled",
  ssl_cert_file: "node certificates are managed by this program",
  ssl_key_file: "node certificates are managed by this program",
  ssl_ca_file: "node certificates are managed by this program",
  unix_socket_directories: "set by the node layout",
  wal_log_hints: "must stay on for pg_rewind",
};

function crossFieldProblems(c: StackConfig): ConfigProblem[] {
  const p: ConfigProblem[] = [];
  const add = (key: string, value: unknown, reason: string, allowed?: string) =>
    p.push({ key, value, reason, allowed: allowed ?? keyDoc(key.split("."))?.allowed ?? "see the config reference" });

  // --- network
  const n = c.network;
  if (!cidrIsNetworkAddress(n.vpcCidr)) add("network.vpcCidr", n.vpcCidr, "has host bits set");
  const vpcBits = Number(n.vpcCidr.split("/")[1]);
  if (vpcBits < 16 || vpcBits > 23) add("network.vpcCidr", n.vpcCidr, "prefix must be /16 to /23: the VPC is cut into 8 subnets of at least /26 (one per AZ)");
  if (n.vpcId && !(n.subnets && n.subnets.length > 0)) add("network.subnets", n.subnets, "is required when network.vpcId brings an existing VPC");
  if (n.subnets && n.subnets.length > 0 && !n.vpcId) add("network.vpcId", n.vpcId, "is required when network.subnets are given");
  n.subnets?.forEach((s, i) => {
    const bits = Number(s.cidr.split("/")[1]);
    if (bits < 16 || bits > 26) add(`network.subnets.${i}.cidr`, s.cidr, "prefix must be /16 to /26: node addresses use host offsets 10–49");
    else if (!cidrIsNetworkAddress(s.cidr)) add(`network.subnets.${i}.cidr`, s.cidr, "has host bits set");
  });
  n.allowedClientCidrs.forEach((cidr, i) => {
    if (!CIDR_RE.test(cidr)) return;
    if (cidr.endsWith("/0")) add(`network.allowedClientCidrs.${i}`, cidr, "opens the database to the whole internet", keyDoc(["network", "allowedClientCidrs"])!.allowed);
    else if (!cidrIsNetworkAddress(cidr)) add(`network.allowedClientCidrs.${i}`, cidr, "has host bits set", "a CIDR with zero host bits, e.g. 10.1.0.0/16");
  });
  if (n.allowedClientCidrs.length === 0 && n.allowedClientSecurityGroupIds.length === 0)
    add("network.allowedClientCidrs", n.allowedClientCidrs, "no client could reach the database: give client CIDRs or security groups");

  // --- postgres
  const pg = c.postgres;
  if (!pg.memoryMiB && !INSTANCE_MEMORY_MIB[pg.instanceType])
    add("postgres.memoryMiB", pg.memoryMiB, `is required for instance type ${pg.instanceType}, whose memory this program does not know`, "an integer 512–4194304 (MiB)");
  if (pg.dataVolume.iops > pg.dataVolume.sizeGiB * 500)
    add("postgres.dataVolume.iops", pg.dataVolume.iops, `gp3 allows at most 500 IOPS per GiB (${pg.dataVolume.sizeGiB * 500} for ${pg.dataVolume.sizeGiB} GiB)`);
  if (pg.dataVolume.throughputMiBps > pg.dataVolume.iops / 4)
    add("postgres.dataVolume.throughputMiBps", pg.dataVolume.throughputMiBps, `gp3 allows at most 0.25 MiB/s per IOPS (${Math.floor(pg.dataVolume.iops / 4)} for ${pg.dataVolume.iops} IOPS)`);
  const memberNames = Array.from({ length: pg.nodes }, (_, i) => `db${i + 1}`);
  for (const [name, tags] of Object.entries(pg.members)) {
    if (!memberNames.includes(name)) {
      add(`postgres.members.${name}`, tags, `there is no member ${name} with postgres.nodes = ${pg.nodes}`, `member names ${memberNames.join(", ")}`);
      continue;
    }
    if (tags.replicatefrom !== undefined) {
      if (tags.replicatefrom === name) add(`postgres.members.${name}.replicatefrom`, tags.replicatefrom, "a member cannot replicate from itself");
      else if (!memberNames.includes(tags.replicatefrom))
        add(`postgres.members.${name}.replicatefrom`, tags.replicatefrom, "names no member of this cluster", `one of ${memberNames.filter((m) => m !== name).join(", ") || "(none: single node)"}`);
    }
  }
  // replicatefrom cycles (db2 → db3 → db2) would leave both without a source.
  for (const start of memberNames) {
    const seen = new Set<string>();
    let cur: string | undefined = start;
    while (cur && pg.members[cur]?.replicatefrom && memberNames.includes(pg.members[cur]!.replicatefrom!)) {
      if (seen.has(cur)) {
        add(`postgres.members.${start}.replicatefrom`, pg.members[start]?.replicatefrom, "forms a cycle: some member must stream from the leader", "a chain of replicatefrom that ends at a member streaming from the leader");
        break;
      }
      seen.add(cur);
      cur = pg.members[cur]!.replicatefrom;
    }
    if (p.some((x) => x.reason.startsWith("forms a cycle"))) break;
  }
  const failoverCandidates = memberNames.filter((m) => !pg.members[m]?.nofailover);
  if (failoverCandidates.length === 0) add("postgres.members", pg.members, "every member has nofailover: nothing could ever become leader", "at least one member without nofailover");
  if (pg.syncMode !== "off") {
    if (pg.nodes < 2)
      add("postgres.syncMode", pg.syncMode, `synchronous replication needs a standby, but postgres.nodes = ${pg.nodes}`, "off with one node; on, strict or quorum with postgres.nodes ≥ 2");
    const eligible = memberNames.filter((m) => !pg.members[m]?.nosync && !pg.members[m]?.replicatefrom).length - 1;
    if (pg.nodes >= 2 && pg.syncNodeCount > Math.max(eligible, 0))
      add("postgres.syncNodeCount", pg.syncNodeCount, `only ${Math.max(eligible, 0)} member(s) can be synchronous standbys (nodes − 1, minus nosync and cascading members)`, `an integer 1–${Math.max(eligible, 1)}`);
    if (pg.syncMode === "quorum" && pg.nodes >= 2 && pg.nodes < 3)
      add("postgres.syncMode", pg.syncMode, "quorum commit with 2 nodes blocks writes whenever the single standby is down; use strict, or 3+ nodes", "quorum with postgres.nodes ≥ 3");
  }
  for (const [name, value] of Object.entries(pg.parameters)) {
    if (MANAGED_PARAMETERS[name])
      add(`postgres.parameters.${name}`, value, `is managed: ${MANAGED_PARAMETERS[name]}`, "any PostgreSQL parameter except the managed ones (README, 'Managed parameters')");
    else if (name === "wal_level" && value !== "replica" && value !== "logical")
      add(`postgres.parameters.${name}`, value, "replication and archiving need at least replica", "replica or logical");
  }

  // --- patroni timing (Patroni 4 enforces ttl ≥ 20, retry_timeout ≥ 3, loop_wait + 2·retry_timeout ≤ ttl)
  const t = c.patroni;
  if (t.ttl < 20) add("patroni.ttl", t.ttl, "is below 20: Patroni 4 silently raises it, so the stated RTO would be wrong");
  if (t.retryTimeout < 3) add("patroni.retryTimeout", t.retryTimeout, "is below 3: Patroni 4 raises it", "an integer ≥ 3");
  if (t.loopWait + 2 * t.retryTimeout > t.ttl)
    add("patroni.ttl", t.ttl, `must be ≥ loopWait + 2·retryTimeout = ${t.loopWait} + 2·${t.retryTimeout} = ${t.loopWait + 2 * t.retryTimeout}, or the leader could lose its lock while retrying`);

  // --- etcd
  if (c.etcd.nodes % 2 === 0) add("etcd.nodes", c.etcd.nodes, "is even: an even member count tolerates no more failures than one member fewer, and can split evenly");
  else if (c.etcd.nodes === 1 && c.tier !== "dev") add("etcd.nodes", c.etcd.nodes, `a single etcd member is a single point of failure; tier ${c.tier} needs 3 or more`);

  // --- backups and objectives
  const b = c.backup;
  if (b.archiveTimeoutSeconds < 1) add("backup.archiveTimeoutSeconds", b.archiveTimeoutSeconds, "0 disables archive_timeout: an idle cluster could keep committed data out of the archive indefinitely", "an integer 1–86400");
  if (c.tier === "prod" && b.archiveTimeoutSeconds > 60) add("backup.archiveTimeoutSeconds", b.archiveTimeoutSeconds, "prod keeps at most 60 s of committed WAL out of the archive");
  if (b.archiveTimeoutSeconds > c.objectives.pitrRpoSeconds)
    add("backup.archiveTimeoutSeconds", b.archiveTimeoutSeconds, `exceeds the stated objectives.pitrRpoSeconds = ${c.objectives.pitrRpoSeconds}: a restore could lose more than promised`);
  if (c.objectives.failoverRpoSeconds === 0 && pg.syncMode === "off")
    add("objectives.failoverRpoSeconds", 0, "RPO 0 on failover needs synchronous replication (postgres.syncMode on, strict or quorum)", "an integer ≥ 1 with syncMode off; 0 only with synchronous replication");
  const logicalDays = b.logicalRetentionWeeks * 7;
  if (b.logicalInfrequentAccessAfterDays !== null && b.logicalInfrequentAccessAfterDays >= logicalDays)
    add("backup.logicalInfrequentAccessAfterDays", b.logicalInfrequentAccessAfterDays, `must be less than the logical dumps' lifetime (backup.logicalRetentionWeeks·7 = ${logicalDays} days): S3 rejects a transition at or after the expiration`, `an integer 30–${logicalDays - 1}, or null`);
  if (c.tls.renewBeforeDays >= c.tls.certValidityDays)
    add("tls.renewBeforeDays", c.tls.renewBeforeDays, `must be less than tls.certValidityDays (${c.tls.certValidityDays}), or certificates would be renewed forever`);
  return p;
}

export interface LoadOptions {
  stack: string;
  /** aws:region when the raw map does not carry it. */
  region?: string;
}

/** Validates a raw config map and returns the resolved config, or throws ConfigError. */
export function loadStackConfig(raw: Record<string, unknown>, opts: LoadOptions): StackConfig {
  const { input, region: rawRegion } = projectConfigFromRaw(raw);
  return resolveConfig(input, { ...opts, region: rawRegion ?? opts.region });
}

/** Validates the project's config object (keys without the prefix) and merges tier defaults. */
export function resolveConfig(input: Record<string, unknown>, opts: LoadOptions): StackConfig {
  const problems: ConfigProblem[] = [];
  const region = opts.region;
  if (!region) problems.push({ key: "aws:region", value: undefined, reason: "is required", allowed: "an AWS region like eu-west-1" });
  else if (!/^[a-z]{2}(-gov)?-[a-z]+-\d$/.test(region)) problems.push({ key: "aws:region", value: region, reason: "is not an AWS region name", allowed: "an AWS region like eu-west-1" });

  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    problems.push(...zodProblems(parsed.error, input));
    throw new ConfigError(problems, opts.stack);
  }
  const user: ConfigInput = parsed.data;
  const tier: Tier = user.tier;
  const { tier: _t, clusterName, ...rest } = user;
  const merged = merge(structuredClone(TIER_DEFAULTS[tier]), rest) as StackConfig;
  const cfg: StackConfig = { ...merged, tier, clusterName: clusterName ?? "main", region: region ?? "" };
  // Client CIDRs default to the VPC itself (created or brought).
  if (!user.network?.allowedClientCidrs) {
    cfg.network.allowedClientCidrs = cfg.network.vpcId && cfg.network.subnets ? cfg.network.subnets.map((s) => s.cidr) : [cfg.network.vpcCidr];
  }
  problems.push(...crossFieldProblems(cfg));
  if (problems.length) throw new ConfigError(problems, opts.stack);
  return cfg;
}
