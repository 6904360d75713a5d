// The backup bucket (stack policies: S3 configuration lives in companion resources —
// BucketServerSideEncryptionConfiguration, BucketVersioning, … — linked to their bucket by the
// `bucket` property's dependency, which is known at preview even when the bucket's name is not).
import type { StackValidationPolicy } from "@pulumi/policy";
import { NODE_PATHS } from "../../src/node-paths";
import { T, configOf, dependsThrough, describe, type PolicyResource } from "./common";
import { clusterFacts, nodesWithRole, parseIni } from "./cluster";

const BUCKET_TYPES: string[] = [T.bucket, T.bucketV2];

export function buckets(resources: PolicyResource[]): PolicyResource[] {
  return resources.filter((r) => BUCKET_TYPES.includes(r.type));
}

/** The companion resources of `types` that configure `bucket`. */
export function companionsOf(resources: PolicyResource[], bucket: PolicyResource, types: string[]): PolicyResource[] {
  return resources.filter((r) => {
    if (!types.includes(r.type)) return false;
    if (dependsThrough(r, "bucket", bucket)) return true;
    // Without a dependency (a literal name): compare names (unknown at preview → can't run).
    if ((r.propertyDependencies?.bucket ?? []).length) return false;
    return r.props.bucket === bucket.props.bucket;
  });
}

/** Stack policies over buckets are not applicable to stacks without one. */
function requireBuckets(args: { resources: PolicyResource[]; notApplicable(reason?: string): never }): PolicyResource[] {
  const found = buckets(args.resources);
  if (!found.length) args.notApplicable("no S3 bucket in the stack");
  return found;
}

const KMS_ALGORITHMS = ["aws:kms", "aws:kms:dsse"];

export const bucketSseKms: StackValidationPolicy = {
  name: "bucket-sse-kms",
  description: "Buckets encrypt objects by default with SSE-KMS under a customer-managed key.",
  severity: "high",
  tags: ["encryption", "s3"],
  remediationSteps:
    'Add one aws.s3.BucketServerSideEncryptionConfiguration for the bucket: rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: <cluster key ARN> }, bucketKeyEnabled: true }].',
  validateStack: (args, report) => {
    for (const bucket of requireBuckets(args)) {
      const configs = companionsOf(args.resources, bucket, [T.bucketSse, T.bucketSseV2]);
      if (!configs.length) {
        report(`bucket ${bucket.name} has no server-side encryption configuration (S3 would use SSE-S3, not the cluster key).`, bucket.urn);
        continue;
      }
      for (const c of configs) {
        const rules = c.props.rules ?? [];
        if (!rules.length) report(`${describe(c)} has no rules.`, c.urn);
        for (const rule of rules) {
          const d = rule.applyServerSideEncryptionByDefault ?? {};
          if (!KMS_ALGORITHMS.includes(d.sseAlgorithm)) report(`bucket ${bucket.name}: default encryption is ${JSON.stringify(d.sseAlgorithm ?? null)}, not SSE-KMS.`, c.urn);
          else if (typeof d.kmsMasterKeyId !== "string" || !d.kmsMasterKeyId) report(`bucket ${bucket.name}: SSE-KMS without kmsMasterKeyId uses the AWS-managed aws/s3 key.`, c.urn);
        }
      }
    }
  },
};

const BLOCKS = ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"];

export const bucketPublicAccessBlocked: StackValidationPolicy = {
  name: "bucket-public-access-blocked",
  description: "Buckets block all four kinds of public access.",
  severity: "critical",
  tags: ["s3"],
  remediationSteps: "Add aws.s3.BucketPublicAccessBlock for the bucket with blockPublicAcls, blockPublicPolicy, ignorePublicAcls and restrictPublicBuckets all true.",
  validateStack: (args, report) => {
    for (const bucket of requireBuckets(args)) {
      const blocks = companionsOf(args.resources, bucket, [T.bucketPublicAccessBlock]);
      if (!blocks.length) {
        report(`bucket ${bucket.name} has no public access block.`, bucket.urn);
        continue;
      }
      for (const b of blocks) {
        const off = BLOCKS.filter((k) => b.props[k] !== true);
        if (off.length) report(`bucket ${bucket.name}: ${off.join(", ")} ${off.length > 1 ? "are" : "is"} not true.`, b.urn);
      }
    }
  },
};

export const bucketVersioning: StackValidationPolicy = {
  name: "bucket-versioning",
  description: "Buckets keep object versions (a deleted or overwritten backup stays recoverable).",
  severity: "high",
  tags: ["s3", "data"],
  remediationSteps: 'Add aws.s3.BucketVersioning for the bucket with versioningConfiguration: { status: "Enabled" }.',
  validateStack: (args, report) => {
    for (const bucket of requireBuckets(args)) {
      const versionings = companionsOf(args.resources, bucket, [T.bucketVersioning, T.bucketVersioningV2]);
      if (!versionings.length) {
        report(`bucket ${bucket.name} has no versioning configuration.`, bucket.urn);
        continue;
      }
      for (const v of versionings) {
        const status = v.props.versioningConfiguration?.status;
        if (status !== "Enabled") report(`bucket ${bucket.name}: versioning status is ${JSON.stringify(status ?? null)}.`, v.urn);
      }
    }
  },
};

function statements(policy: unknown): any[] {
  const doc = typeof policy === "string" ? JSON.parse(policy) : policy;
  const s = doc && typeof doc === "object" ? (doc as any).Statement : undefined;
  return Array.isArray(s) ? s : s ? [s] : [];
}

const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

/** A statement that denies every S3 action to everyone when aws:SecureTransport is false. */
export function isTlsOnlyStatement(s: any): boolean {
  if (s?.Effect !== "Deny") return false;
  const principal = s.Principal;
  const everyone = principal === "*" || (principal && typeof principal === "object" && asList(principal.AWS).includes("*"));
  const actions = asList(s.Action).map(String);
  const allActions = actions.includes("s3:*") || actions.includes("*");
  const resources = asList(s.Resource).map(String);
  const coversObjects = resources.some((r) => r.endsWith("/*") || r === "*");
  const coversBucket = resources.some((r) => !r.includes("/") || r === "*");
  const secure = s.Condition?.Bool?.["aws:SecureTransport"];
  return everyone && allActions && coversObjects && coversBucket && (secure === false || secure === "false");
}

export const bucketTlsOnly: StackValidationPolicy = {
  name: "bucket-tls-only",
  description: "Bucket policies refuse every request not made over TLS.",
  severity: "high",
  tags: ["s3", "tls"],
  remediationSteps:
    'Add an aws.s3.BucketPolicy with { Effect: "Deny", Principal: "*", Action: "s3:*", Resource: [bucketArn, `${bucketArn}/*`], Condition: { Bool: { "aws:SecureTransport": "false" } } }.',
  validateStack: (args, report) => {
    for (const bucket of requireBuckets(args)) {
      const policies = companionsOf(args.resources, bucket, [T.bucketPolicy]);
      if (!policies.length) {
        report(`bucket ${bucket.name} has no bucket policy: plain-HTTP requests are allowed.`, bucket.urn);
        continue;
      }
      const found = policies.some((p) => {
        const document = p.props.policy; // read outside the try: an unknown must not be swallowed
        let parsed: any[];
        try {
          parsed = statements(document);
        } catch {
          report(`${describe(p)}: the policy is not valid JSON.`, p.urn);
          return false;
        }
        return parsed.some(isTlsOnlyStatement);
      });
      if (!found) report(`bucket ${bucket.name}: no statement denies requests without aws:SecureTransport.`, policies[0].urn);
    }
  },
};

// ---------------------------------------------------------------------------------------------
// Lifecycle

export interface LifecycleRuleSeen {
  id?: string;
  status?: string;
  filter?: any;
  prefix?: string;
  expiration?: { days?: number; date?: string; expiredObjectDeleteMarker?: boolean };
  transitions?: { days?: number; date?: string; storageClass?: string }[];
  noncurrentVersionExpiration?: { noncurrentDays?: number };
  abortIncompleteMultipartUpload?: { daysAfterInitiation?: number };
}

function lifecycleConfigs(resources: PolicyResource[], bucket: PolicyResource): PolicyResource[] {
  return companionsOf(resources, bucket, [T.bucketLifecycle, T.bucketLifecycleV2]);
}

/** The key prefix a rule applies to ("" = every object); undefined when it filters on more (tags, size). */
export function rulePrefix(rule: LifecycleRuleSeen): { prefix: string; narrowed: boolean } {
  const f = rule.filter ?? {};
  const prefix = f.prefix ?? f.and?.prefix ?? rule.prefix ?? "";
  const narrowed = !!(f.tag || f.and?.tags || f.objectSizeGreaterThan || f.objectSizeLessThan || f.and?.objectSizeGreaterThan || f.and?.objectSizeLessThan);
  return { prefix: String(prefix), narrowed };
}

function wholeBucket(rule: LifecycleRuleSeen): boolean {
  const { prefix, narrowed } = rulePrefix(rule);
  return prefix === "" && !narrowed;
}

export const bucketLifecycleHygiene: StackValidationPolicy = {
  name: "bucket-lifecycle-hygiene",
  description: "One lifecycle configuration per bucket that aborts incomplete multipart uploads and expires noncurrent versions, bucket-wide.",
  severity: "medium",
  tags: ["s3", "cost"],
  remediationSteps:
    "Declare exactly one aws.s3.BucketLifecycleConfiguration per bucket with enabled bucket-wide rules (empty filter) for abortIncompleteMultipartUpload.daysAfterInitiation and noncurrentVersionExpiration.noncurrentDays.",
  validateStack: (args, report) => {
    for (const bucket of requireBuckets(args)) {
      const configs = lifecycleConfigs(args.resources, bucket);
      if (!configs.length) {
        report(`bucket ${bucket.name} has no lifecycle configuration: failed uploads and old versions are kept (and billed) forever.`, bucket.urn);
        continue;
      }
      if (configs.length > 1) report(`bucket ${bucket.name} has ${configs.length} lifecycle configurations; S3 keeps one, so every update flips between them.`, configs[1].urn);
      const rules: LifecycleRuleSeen[] = configs.flatMap((c) => c.props.rules ?? []).filter((r: LifecycleRuleSeen) => r.status === "Enabled");
      const aborts = rules.some((r) => wholeBucket(r) && (r.abortIncompleteMultipartUpload?.daysAfterInitiation ?? 0) >= 1);
      const noncurrent = rules.some((r) => wholeBucket(r) && (r.noncurrentVersionExpiration?.noncurrentDays ?? 0) >= 1);
      if (!aborts) report(`bucket ${bucket.name}: no enabled bucket-wide rule aborts incomplete multipart uploads.`, configs[0].urn);
      if (!noncurrent) report(`bucket ${bucket.name}: no enabled bucket-wide rule expires noncurrent versions.`, configs[0].urn);
    }
  },
};

/** What each PostgreSQL node's pgbackrest.conf says about its repository. */
export interface RepositorySeen {
  node: string;
  bucket?: string;
  /** The repository's key prefix in the bucket ("pgbackrest/orders/"). */
  prefix: string;
  retentionType: string;
  retention?: number;
}

export function repositories(resources: PolicyResource[]): RepositorySeen[] {
  const facts = clusterFacts(resources);
  const out: RepositorySeen[] = [];
  for (const n of nodesWithRole(facts, "postgres")) {
    const conf = n.files.get(NODE_PATHS.pgbackrestConf);
    if (!conf) continue;
    const g = parseIni(conf.content).global ?? {};
    const path = (g["repo1-path"] ?? "/").replace(/^\/+/, "").replace(/\/*$/, "/");
    const retention = g["repo1-retention-full"] === undefined ? undefined : Number(g["repo1-retention-full"]);
    out.push({
      node: n.name,
      bucket: g["repo1-s3-bucket"],
      prefix: path === "/" ? "" : path,
      retentionType: g["repo1-retention-full-type"] ?? "count",
      retention: Number.isFinite(retention) ? retention : undefined,
    });
  }
  return out;
}

const ARCHIVAL_CLASSES = ["GLACIER", "DEEP_ARCHIVE"];

interface RepositoryLifecycleConfig {
  minimumDays?: number;
}

export const repositoryNotExpiredEarly: StackValidationPolicy = {
  name: "backup-repository-lifecycle-safe",
  description:
    "No lifecycle rule expires current objects under the pgBackRest repository sooner than the backup retention (or moves them to an archival class pgBackRest cannot read).",
  severity: "critical",
  tags: ["s3", "backup"],
  configSchema: { properties: { minimumDays: { type: "integer", minimum: 1, description: "retention assumed when pgBackRest's is count-based" } } },
  remediationSteps:
    "Scope age-based expiration to other prefixes (logical dumps) and let pgBackRest's own retention (`repo1-retention-full`) expire the repository; an S3 rule can delete archive.info/backup.info and make the whole repository unusable.",
  validateStack: (args, report) => {
    const repos = repositories(args.resources);
    if (!repos.length) args.notApplicable("no PostgreSQL node with a pgBackRest repository");
    const { minimumDays } = configOf<RepositoryLifecycleConfig>(args, {});
    const all = buckets(args.resources);
    for (const repo of repos) {
      const retentionDays = repo.retentionType === "time" ? repo.retention : minimumDays;
      // The repository's bucket by name; if none matches, every bucket of the stack is checked.
      const named = all.filter((b) => repo.bucket !== undefined && b.props.bucket === repo.bucket);
      for (const bucket of named.length ? named : all) {
        for (const config of lifecycleConfigs(args.resources, bucket)) {
          for (const rule of (config.props.rules ?? []) as LifecycleRuleSeen[]) {
            if (rule.status !== "Enabled") continue;
            const { prefix } = rulePrefix(rule);
            if (!(repo.prefix.startsWith(prefix) || prefix.startsWith(repo.prefix))) continue;
            const where = `bucket ${bucket.name}, lifecycle rule ${rule.id ?? "(no id)"} (prefix "${prefix}")`;
            const exp = rule.expiration;
            if (exp?.date) report(`${where} expires current objects under ${repo.prefix} on ${exp.date}.`, config.urn);
            if (typeof exp?.days === "number") {
              if (retentionDays === undefined) report(`${where} expires current objects under ${repo.prefix} after ${exp.days} days and pgBackRest's retention is count-based (${repo.retention} full backups): the window cannot be compared.`, config.urn);
              else if (exp.days < retentionDays) report(`${where} expires current objects under ${repo.prefix} after ${exp.days} days, shorter than the backup retention of ${retentionDays} days (${repo.node}: repo1-retention-full).`, config.urn);
            }
            for (const t of rule.transitions ?? []) {
              if (t.storageClass && ARCHIVAL_CLASSES.includes(t.storageClass)) report(`${where} moves repository objects to ${t.storageClass}; pgBackRest cannot read them without a restore request.`, config.urn);
            }
          }
        }
      }
    }
  },
};

