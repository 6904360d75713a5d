// BackupBucket: the S3 bucket that holds the pgBackRest repository (base backups + WAL archive)
// and the weekly logical dumps. Versioned, SSE-KMS with the cluster's key, never public,
// TLS only, and lifecycle rules that are safe for pgBackRest: S3 never expires anything under
// the repository prefix — pgBackRest's own retention does (notes/cluster-facts.md: an age rule
// that deleted archive.info once made a whole repository unrecoverable).
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { ClusterSpec } from "../src/spec";
import { componentType, tagsFor, throwIfInvalid, type TaggedArgs } from "./common";

/** Days after which unfinished multipart uploads (a killed dump, an interrupted push) are removed. */
export const ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS = 7;

/** The pgBackRest repository's key prefix in the bucket (repo1-path without the leading slash). */
export function repoKeyPrefix(spec: { backup: Pick<ClusterSpec["backup"], "repoPath"> }): string {
  return repoPathKeyPrefix(spec.backup.repoPath);
}

/** A repo1-path as a key prefix: no leading slash, one trailing slash. */
export function repoPathKeyPrefix(repoPath: string): string {
  return `${repoPath.replace(/^\/+/, "").replace(/\/+$/, "")}/`;
}

/** The S3 lifecycle rules of the backup bucket, as the BucketLifecycleConfiguration takes them. */
export interface LifecycleRule {
  id: string;
  status: "Enabled";
  filter: { prefix?: string };
  expiration?: { days?: number; expiredObjectDeleteMarker?: boolean };
  transitions?: { days: number; storageClass: string }[];
  noncurrentVersionExpiration?: { noncurrentDays: number };
  abortIncompleteMultipartUpload?: { daysAfterInitiation: number };
}

/** The fields of BackupBucketArgs the lifecycle rules are made of. */
export type LifecycleArgs = Pick<BackupBucketArgs, "logicalPrefix" | "logicalRetentionWeeks" | "logicalInfrequentAccessAfterDays" | "noncurrentVersionRetentionDays">;

export function logicalExpirationDays(args: Pick<LifecycleArgs, "logicalRetentionWeeks">): number {
  return args.logicalRetentionWeeks * 7;
}

/**
 * ONE lifecycle configuration (a second one per bucket diffs forever):
 *   logical-dumps          logical/<cluster>/: expire after logicalRetentionWeeks·7 days,
 *                          STANDARD_IA after logicalInfrequentAccessAfterDays (if set)
 *   noncurrent-versions    whole bucket: old versions go after noncurrentVersionRetentionDays,
 *                          then the delete markers left without versions
 *   incomplete-uploads     whole bucket: abort multipart uploads after 7 days
 * Nothing expires current objects under the pgBackRest repository prefix.
 */
export function lifecycleRules(b: LifecycleArgs): LifecycleRule[] {
  const logical: LifecycleRule = {
    id: "logical-dumps",
    status: "Enabled",
    filter: { prefix: b.logicalPrefix },
    expiration: { days: logicalExpirationDays(b) },
  };
  if (b.logicalInfrequentAccessAfterDays != null) {
    logical.transitions = [{ days: b.logicalInfrequentAccessAfterDays, storageClass: "STANDARD_IA" }];
  }
  return [
    logical,
    {
      id: "noncurrent-versions",
      status: "Enabled",
      filter: {},
      noncurrentVersionExpiration: { noncurrentDays: b.noncurrentVersionRetentionDays },
      expiration: { expiredObjectDeleteMarker: true },
    },
    {
      id: "incomplete-uploads",
      status: "Enabled",
      filter: {},
      abortIncompleteMultipartUpload: { daysAfterInitiation: ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS },
    },
  ];
}

/** A bucket policy that refuses every request not made over TLS. */
export function tlsOnlyBucketPolicy(bucketArn: string) {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "DenyInsecureTransport",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: [bucketArn, `${bucketArn}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
    ],
  };
}

/** BackupBucket: the stack's bucket (backups, logical dumps, node bundles) and its lifecycle. */
export interface BackupBucketArgs extends TaggedArgs {
  /** The bucket's name (ClusterSpec.backup.bucketName): fixed, globally unique; the nodes name it. */
  bucketName: string;
  /** The customer-managed KMS key objects are encrypted with (SSE-KMS, bucket key on). */
  kmsKeyArn: pulumi.Input<string>;
  /** pgBackRest's repo1-path (`/pgbackrest/<cluster>`): its key prefix is never expired by S3. */
  repoPath: string;
  /** Key prefix of the weekly logical dumps (`logical/<cluster>/`): the only prefix whose current objects expire. */
  logicalPrefix: string;
  /** Logical dumps expire after this many weeks (postgres-ha:backup.logicalRetentionWeeks; ×7 days). */
  logicalRetentionWeeks: number;
  /** Days after which logical dumps move to STANDARD_IA (postgres-ha:backup.logicalInfrequentAccessAfterDays). Default: never (null). */
  logicalInfrequentAccessAfterDays?: number | null;
  /** Days a noncurrent (overwritten or deleted) object version is kept (postgres-ha:backup.noncurrentVersionRetentionDays). */
  noncurrentVersionRetentionDays: number;
  /**
   * Keep the bucket: protect and retainOnDelete, no forceDestroy. Default false (dev and
   * staging are torn down with their backups); prod: true.
   */
  keepData?: boolean;
}

/** Every problem of BackupBucket's arguments (empty when it can be built). */
export function validateBackupBucketArgs(args: BackupBucketArgs): string[] {
  const problems: string[] = [];
  if (!args.bucketName) problems.push("bucketName: empty");
  if (repoPathKeyPrefix(args.repoPath) === "/") problems.push(`repoPath: "${args.repoPath}" names the bucket's root; the repository needs its own prefix`);
  if (!args.logicalPrefix.replace(/\/+$/, "")) problems.push("logicalPrefix: empty (the expiry rule would cover the whole bucket)");
  else if (repoPathKeyPrefix(args.repoPath).startsWith(args.logicalPrefix.replace(/\/*$/, "/"))) problems.push(`logicalPrefix: "${args.logicalPrefix}" contains the pgBackRest repository (${args.repoPath}); S3 would expire backups`);
  return problems;
}

export class BackupBucket extends pulumi.ComponentResource {
  readonly bucketName: pulumi.Output<string>;
  readonly bucketId: pulumi.Output<string>;
  readonly bucketArn: pulumi.Output<string>;
  readonly repoPrefix: string;
  readonly logicalPrefix: string;
  /** The bucket and every part of its configuration: what a PostgreSQL node must wait for. */
  readonly ready: pulumi.Resource[];

  constructor(name: string, args: BackupBucketArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType("BackupBucket"), name, {}, opts);
    throwIfInvalid(this, "BackupBucket", validateBackupBucketArgs(args));
    const keep = args.keepData ?? false;
    const bucket = new aws.s3.Bucket(`${name}-backups`, {
      bucket: args.bucketName,
      // Dev and staging can be torn down with their backups; prod keeps the bucket (below).
      forceDestroy: !keep,
      tags: tagsFor(args, args.bucketName),
    }, { parent: this, protect: keep, retainOnDelete: keep });
    const child = { parent: bucket };

    const publicAccess = new aws.s3.BucketPublicAccessBlock(`${name}-backups`, {
      bucket: bucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    }, child);
    const ownership = new aws.s3.BucketOwnershipControls(`${name}-backups`, { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } }, child);
    const versioning = new aws.s3.BucketVersioning(`${name}-backups`, {
      bucket: bucket.id,
      versioningConfiguration: { status: "Enabled" },
    }, child);
    const encryption = new aws.s3.BucketServerSideEncryptionConfiguration(`${name}-backups`, {
      bucket: bucket.id,
      rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: args.kmsKeyArn }, bucketKeyEnabled: true }],
    }, child);
    const policy = new aws.s3.BucketPolicy(`${name}-backups`, {
      bucket: bucket.id,
      policy: bucket.arn.apply((arn) => JSON.stringify(tlsOnlyBucketPolicy(arn))),
    }, { ...child, dependsOn: [publicAccess] });
    // Noncurrent-version rules need versioning in place first.
    const lifecycle = new aws.s3.BucketLifecycleConfiguration(`${name}-backups`, { bucket: bucket.id, rules: lifecycleRules(args) }, { ...child, dependsOn: [versioning] });

    this.bucketName = bucket.bucket;
    this.bucketId = bucket.id;
    this.bucketArn = bucket.arn;
    this.repoPrefix = repoPathKeyPrefix(args.repoPath);
    this.logicalPrefix = args.logicalPrefix;
    this.ready = [bucket, publicAccess, ownership, versioning, encryption, policy, lifecycle];
    this.registerOutputs({ bucketName: this.bucketName, bucketArn: this.bucketArn, repoPrefix: this.repoPrefix, logicalPrefix: this.logicalPrefix });
  }
}
