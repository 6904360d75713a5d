// The stack config a user writes in Pulumi.<stack>.yaml, as a zod schema.
//
// Every key is optional here except `tier`: what a stack leaves out comes from its tier's
// defaults (defaults.ts), key by key. Objects are strict, so a misspelt key is an error instead of
// a silently ignored setting. Numbers may arrive as strings (Pulumi hands top-level values to the
// program as strings), so integer fields accept "30" as well as 30.
import { z } from "zod";
import { windowProblem } from "./maintenance-window";
import { RESTORE_TARGET_TYPES } from "./defaults";

export const TIERS = ["dev", "staging", "prod"] as const;
export type Tier = (typeof TIERS)[number];

/** PgBouncer pool modes (pooler.mode). */
export const POOL_MODES = ["session", "transaction", "statement"] as const;
export type PoolMode = (typeof POOL_MODES)[number];

export const SYNC_MODES = ["off", "on", "strict", "quorum"] as const;
export type SyncMode = (typeof SYNC_MODES)[number];
/** patroni.watchdog: how Patroni uses the kernel watchdog (softdog) on EC2; the sandbox has none. */
export const WATCHDOG_MODES = ["off", "automatic", "required"] as const;
export type WatchdogMode = (typeof WATCHDOG_MODES)[number];

/**
 * Integer that also accepts an integer-looking string. `below`/`above` replace zod's wording when
 * a bound has a reason worth telling (the config error quotes it).
 */
export function int(min: number, max: number, reasons: { below?: string; above?: string } = {}) {
  return z.preprocess(
    (v) => (typeof v === "string" && /^-?\d+$/.test(v.trim()) ? Number(v.trim()) : v),
    z.number().int().min(min, reasons.below).max(max, reasons.above),
  );
}

/** Boolean that also accepts "true"/"false". */
export const bool = z.preprocess(
  (v) => (v === "true" ? true : v === "false" ? false : v),
  z.boolean(),
);

export const CIDR_RE =
  /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\/(3[0-2]|[12]?\d)$/;
export const cidr = z.string().regex(CIDR_RE);
/** An AWS region name (eu-west-1, us-gov-west-1). */
/** An address SNS can deliver to (email subscriptions of monitoring.alertEmails). */
export const EMAIL_RE = /^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,}$/;
/** An HTTPS URL SNS can POST alerts to (monitoring.alertHttpsEndpoints). */
export const HTTPS_URL_RE = /^https:\/\/[A-Za-z0-9.-]+(:\d{1,5})?(\/[^\s]*)?$/;
export const AWS_REGION_RE = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;
/** An IPv4 CIDR whose host bits are zero (10.0.0.0/16, not 10.0.0.1/16). */
export function cidrIsNetworkAddress(c: string): boolean {
  const [ip, bitsText] = c.split("/");
  const bits = Number(bitsText);
  const n = ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
  const hostMask = bits === 0 ? 0xffffffff : 2 ** (32 - bits) - 1;
  return n % (hostMask + 1) === 0;
}

// Five-field cron: minute hour day-of-month month day-of-week (what /etc/cron.d takes).
const CRON_FIELD = /^(\*|\d+(-\d+)?)(\/\d+)?(,(\*|\d+(-\d+)?)(\/\d+)?)*$/;
export const cron = z
  .string()
  .refine((s) => {
    const f = s.trim().split(/\s+/);
    return f.length === 5 && f.every((x) => CRON_FIELD.test(x));
  });

export const instanceType = z.string().regex(/^[a-z][a-z0-9-]*\d[a-z0-9-]*\.(nano|micro|small|medium|large|\d*xlarge|metal)$/);
/** nodeNamePrefix: "dr-" makes dr-db1, dr-etcd1, dr-lb1 (a second region's cluster told apart from the first). */
export const NODE_NAME_PREFIX_RE = /^[a-z][a-z0-9]{0,7}-$/;
/** A cluster name (clusterName; restoreFrom.cluster): the stanza, the repository path and DNS names. */
export const CLUSTER_NAME_RE = /^[a-z][a-z0-9-]{1,20}$/;
/** A Pulumi stack name of this project (standby.primaryStack, restoreFrom.stack, the keys of standbyClusters). */
export const STACK_NAME_RE = /^[a-z][a-z0-9-]{0,30}$/;
const stackName = z.string().regex(STACK_NAME_RE);
/** A host name or IPv4 address a node dials (standby.host). */
export const HOST_RE = /^(([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$/;
const bucketName = z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/);
const nodeName = z.string().regex(/^[a-z][a-z0-9-]{0,30}$/);
const awsId = (prefix: string) => z.string().regex(new RegExp(`^${prefix}-[0-9a-f]{8,17}$`));

export const memberTags = z.strictObject({
  nofailover: bool.optional(),
  noloadbalance: bool.optional(),
  nosync: bool.optional(),
  clonefrom: bool.optional(),
  replicatefrom: nodeName.optional(),
});

const paramValue = z.union([z.string(), z.number(), z.boolean()]);

/** A database or role name: lower case, so it never needs quoting (PostgreSQL folds to lower case). */
export const SQL_NAME_RE = /^[a-z_][a-z0-9_]{0,62}$/;
const sqlName = z.string().regex(SQL_NAME_RE);
/** What a role may do in a database (postgres.roles.*.grants). */
export const GRANT_LEVELS = ["readOnly", "readWrite", "owner"] as const;
export type GrantLevel = (typeof GRANT_LEVELS)[number];
export const ENCODINGS = ["UTF8", "SQL_ASCII", "LATIN1"] as const;
/** libc locales every Debian host has, or an ICU locale as icu:<BCP 47 tag>. */
export const LOCALE_RE = /^(C|POSIX|C\.UTF-8|icu:[a-z]{2,3}(-[A-Za-z0-9]{2,8})*)$/;

export const databaseDecl = z.strictObject({
  owner: sqlName,
  encoding: z.enum(ENCODINGS).optional(),
  locale: z.string().regex(LOCALE_RE).optional(),
  extensions: z.array(z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/)).optional(),
});

export const roleDecl = z.strictObject({
  login: bool.optional(),
  connectionLimit: int(-1, 100_000).optional(),
  memberOf: z.array(sqlName).optional(),
  grants: z.record(sqlName, z.enum(GRANT_LEVELS)).optional(),
  passwordVersion: int(1, 1_000_000).optional(),
  absent: bool.optional(),
});

export const configSchema = z.strictObject({
  tier: z.enum(TIERS),
  clusterName: z.string().regex(CLUSTER_NAME_RE).optional(),
  network: z
    .strictObject({
      vpcCidr: cidr.optional(),
      availabilityZones: int(1, 6).optional(),
      vpcId: awsId("vpc").optional(),
      subnets: z
        .array(
          z.strictObject({
            id: awsId("subnet"),
            cidr,
            availabilityZone: z.string().regex(/^[a-z]{2}-[a-z]+-\d[a-z]$/),
          }),
        )
        .optional(),
      allowedClientCidrs: z.array(cidr).optional(),
      allowedClientSecurityGroupIds: z.array(awsId("sg")).optional(),
      domain: z.string().regex(/^([a-z0-9-]+\.)+[a-z]{2,}$/).optional(),
    })
    .optional(),
  postgres: z
    .strictObject({
      nodes: int(1, 9).optional(),
      instanceType: instanceType.optional(),
      memoryMiB: int(512, 4_194_304).optional(),
      dataVolume: z
        .strictObject({
          sizeGiB: int(10, 16_384).optional(),
          iops: int(3000, 80_000).optional(),
          throughputMiBps: int(125, 2000).optional(),
        })
        .optional(),
      parameters: z.record(z.string().regex(/^[a-z_][a-z0-9_.]*$/), paramValue.nullable()).optional(),
      syncMode: z.enum(SYNC_MODES).optional(),
      syncNodeCount: int(1, 8).optional(),
      members: z.record(nodeName, memberTags).optional(),
      databases: z.record(sqlName, databaseDecl).optional(),
      roles: z.record(sqlName, roleDecl).optional(),
      credentialsVersion: int(1, 1_000_000).optional(),
    })
    .optional(),
  patroni: z
    .strictObject({
      ttl: int(20, 3600, { below: "is below 20: Patroni 4 silently raises it, so the stated RTO would be wrong" }).optional(),
      loopWait: int(1, 600).optional(),
      retryTimeout: int(3, 600, { below: "is below 3: Patroni 4 silently raises it" }).optional(),
      maximumLagOnFailover: int(0, 1_099_511_627_776).optional(),
      primaryStartTimeout: int(0, 3600).optional(),
      failsafeMode: bool.optional(),
      watchdog: z.enum(WATCHDOG_MODES).optional(),
    })
    .optional(),
  etcd: z
    .strictObject({
      nodes: int(1, 7).optional(),
      instanceType: instanceType.optional(),
    })
    .optional(),
  haproxy: z
    .strictObject({
      nodes: int(1, 5).optional(),
      instanceType: instanceType.optional(),
      networkLoadBalancer: bool.optional(),
      checkIntervalMs: int(200, 60_000).optional(),
      fall: int(1, 10).optional(),
      rise: int(1, 10).optional(),
      readOnlyMaxLagBytes: int(0, 1_099_511_627_776).nullable().optional(),
      synchronousReadOnly: bool.optional(),
    })
    .optional(),
  pooler: z
    .strictObject({
      enabled: bool.optional(),
      mode: z.enum(POOL_MODES).optional(),
      poolSize: int(1, 1000).optional(),
      maxClientConnections: int(10, 100_000).optional(),
    })
    .optional(),
  monitoring: z
    .strictObject({
      enabled: bool.optional(),
      instanceType: instanceType.optional(),
      scrapeIntervalSeconds: int(5, 300).optional(),
      retentionDays: int(1, 3650).optional(),
      logRetentionDays: int(1, 3650).optional(),
      alertEmails: z.array(z.string().regex(EMAIL_RE)).max(20).optional(),
      alertHttpsEndpoints: z.array(z.string().regex(HTTPS_URL_RE)).max(20).optional(),
    })
    .optional(),
  backup: z
    .strictObject({
      bucketName: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/).optional(),
      fullSchedule: cron.optional(),
      diffSchedule: cron.nullable().optional(),
      incrSchedule: cron.nullable().optional(),
      logicalSchedule: cron.nullable().optional(),
      restoreDrillSchedule: cron.nullable().optional(),
      fullRetentionDays: int(1, 3650).optional(),
      logicalRetentionWeeks: int(1, 520).optional(),
      logicalInfrequentAccessAfterDays: int(30, 3650).nullable().optional(),
      noncurrentVersionRetentionDays: int(1, 365).optional(),
      archiveTimeoutSeconds: int(1, 86_400, { below: "0 disables archive_timeout: an idle cluster could keep committed data out of the archive indefinitely" }).optional(),
      repoEncryption: bool.optional(),
      secondRepository: z
        .strictObject({
          region: z.string().regex(AWS_REGION_RE),
          bucketName: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/).optional(),
        })
        .nullable()
        .optional(),
    })
    .optional(),
  objectives: z
    .strictObject({
      failoverRpoSeconds: int(0, 86_400).optional(),
      pitrRpoSeconds: int(1, 86_400).optional(),
      rtoSeconds: int(1, 86_400).optional(),
      monthlyBudgetUsd: int(1, 10_000_000).nullable().optional(),
    })
    .optional(),
  maintenance: z
    .strictObject({
      window: z
        .string()
        .superRefine((v, ctx) => {
          const why = windowProblem(v);
          if (why) ctx.addIssue({ code: "custom", message: why });
        })
        .nullable()
        .optional(),
    })
    .optional(),
  tls: z
    .strictObject({
      enabled: bool.optional(),
      certValidityDays: int(1, 3650).optional(),
      renewBeforeDays: int(1, 365).optional(),
    })
    .optional(),
  tags: z.record(z.string().regex(/^[A-Za-z0-9 _.:/=+@-]{1,128}$/), z.string().max(256)).optional(),
  nodeNamePrefix: z.string().regex(NODE_NAME_PREFIX_RE).optional(),
  standby: z
    .strictObject({
      primaryStack: stackName,
      // Derived from the primary's stack file when left out (src/standby/source.ts); required
      // otherwise (cross-field.ts).
      host: z.string().regex(HOST_RE).optional(),
      port: int(1, 65_535).optional(),
      cidrs: z.array(cidr).min(1).optional(),
      repositoryBucket: bucketName.optional(),
      associateZones: bool.optional(),
    })
    .nullable()
    .optional(),
  standbyClusters: z.record(stackName, z.strictObject({ cidrs: z.array(cidr).min(1) })).optional(),
  restoreFrom: z
    .strictObject({
      stack: stackName,
      cluster: z.string().regex(CLUSTER_NAME_RE).optional(),
      region: z.string().regex(AWS_REGION_RE).optional(),
      bucket: bucketName.optional(),
      repoEncryption: bool.optional(),
      target: z.strictObject({
        type: z.enum(RESTORE_TARGET_TYPES),
        value: z.preprocess((v) => (typeof v === "number" ? String(v) : v), z.string().min(1).max(100)).optional(),
      }),
    })
    .nullable()
    .optional(),
});

export type ConfigInput = z.infer<typeof configSchema>;
export type MemberTags = z.infer<typeof memberTags>;
export type DatabaseDecl = z.infer<typeof databaseDecl>;
export type RoleDecl = z.infer<typeof roleDecl>;
export type ParameterValue = string | number | boolean;
