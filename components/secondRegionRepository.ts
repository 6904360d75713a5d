// SecondRegionRepository: a copy of the pgBackRest repository in another region
// (backup.secondRepository), so the backups and the WAL archive outlive the loss of the stack's
// whole region. Its own AWS provider for that region, its own customer-managed KMS key there
// (SSE-KMS needs a key in the bucket's region) under the same alias name as the cluster key, a
// BackupBucket with the same guarantees as the first (versioned, TLS only, never public, nothing
// expired by S3 under the repository prefix), and S3 Replication from the first bucket's
// repository prefix into it: new and overwritten objects re-encrypted under the second key,
// deletions (pgBackRest's expire) replicated as delete markers, Replication Time Control (99.99 %
// of objects within 15 minutes, with metrics). The nodes never write to it: pgBackRest 2.55 with
// two repositories stalls WAL archiving to both when one is unreachable (docs/facts.md), so the
// first region's archive must not depend on the second region.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { BackupBucket, type BackupBucketArgs } from "./backupBucket";
import { componentType, tagsFor, throwIfInvalid, type TaggedArgs } from "./common";

export interface SecondRegionRepositoryArgs extends TaggedArgs {
  /** The cluster's name (postgres-ha:clusterName), for descriptions. */
  clusterName: string;
  /** The stack's name, for descriptions. */
  stack: string;
  /** The stack's own region (aws:region): the second region must differ from it. */
  primaryRegion: string;
  /** The second repository's region (backup.secondRepository.region). */
  region: string;
  /** The KMS alias the nodes name (repo2-s3-kms-key-id): the cluster key's alias, created in this region for this key. */
  kmsAliasName: string;
  /** The bucket and its lifecycle: as for the first repository (BackupBucketArgs without the key, which is created here). */
  bucket: Omit<BackupBucketArgs, "kmsKeyArn" | "tags" | "keepData">;
  /** Keep the bucket and the key (protect, retainOnDelete): prod. Default false. */
  keepData?: boolean;
  /** The first repository (BackupBucket in the stack's region): what is replicated from. */
  source: { bucketId: pulumi.Input<string>; bucketArn: pulumi.Input<string>; kmsKeyArn: pulumi.Input<string>; repoPrefix: string; ready: pulumi.Resource[] };
  /** The restore-point and timeline catalogue's prefix beside the repository: replicated too (restores from the copy read it). */
  catalogPrefix: string;
}

/** Every problem of SecondRegionRepository's arguments (empty when it can be built). */
export function validateSecondRegionRepositoryArgs(args: SecondRegionRepositoryArgs): string[] {
  const problems: string[] = [];
  if (!/^[a-z]{2}(-gov)?-[a-z]+-\d$/.test(args.region)) problems.push(`region: "${args.region}" is not an AWS region name`);
  if (args.region === args.primaryRegion) problems.push(`region: "${args.region}" is the stack's own region; a second repository must be in another`);
  if (!args.kmsAliasName.startsWith("alias/")) problems.push(`kmsAliasName: "${args.kmsAliasName}" must start with alias/`);
  return problems;
}

/** Replication Time Control: S3's commitment (99.99 % of objects) and the metrics' threshold. */
export const REPLICATION_TIME_MINUTES = 15;

/** What S3 Replication may do: read the repository prefix's versions, write replicas, use both keys through S3. */
export function replicationPolicyDocument(i: {
  sourceBucketArn: string; sourceKmsKeyArn: string; sourceRegion: string; prefixes: string[];
  destinationBucketArn: string; destinationKmsKeyArn: string; destinationRegion: string;
}) {
  const prefixes = i.prefixes.map((p) => (p.endsWith("/") ? p : `${p}/`));
  return {
    Version: "2012-10-17",
    Statement: [
      { Sid: "ReadReplicationConfiguration", Effect: "Allow", Action: ["s3:GetReplicationConfiguration", "s3:ListBucket"], Resource: i.sourceBucketArn },
      {
        Sid: "ReadRepositoryVersions",
        Effect: "Allow",
        Action: ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"],
        Resource: prefixes.map((p) => `${i.sourceBucketArn}/${p}*`),
      },
      { Sid: "WriteReplicas", Effect: "Allow", Action: ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"], Resource: prefixes.map((p) => `${i.destinationBucketArn}/${p}*`) },
      { Sid: "DecryptSource", Effect: "Allow", Action: ["kms:Decrypt"], Resource: i.sourceKmsKeyArn, Condition: { StringLike: { "kms:ViaService": `s3.${i.sourceRegion}.amazonaws.com` } } },
      { Sid: "EncryptReplica", Effect: "Allow", Action: ["kms:Encrypt", "kms:GenerateDataKey"], Resource: i.destinationKmsKeyArn, Condition: { StringLike: { "kms:ViaService": `s3.${i.destinationRegion}.amazonaws.com` } } },
    ],
  };
}

/** The replication rules' ids, in replicatedPrefixes' order (the alarms on their metrics name them). */
export function replicationRuleIds(region: string): string[] {
  return [`pgbackrest-to-${region}`, `restore-catalogue-to-${region}`];
}

/** What is replicated: the pgBackRest repository, then the restore catalogue beside it. */
export function replicatedPrefixes(args: { source: Pick<SecondRegionRepositoryArgs["source"], "repoPrefix">; catalogPrefix: string }): string[] {
  return [args.source.repoPrefix, args.catalogPrefix].map((p) => p.replace(/^\/+/, "").replace(/\/*$/, "/"));
}

export class SecondRegionRepository extends pulumi.ComponentResource {
  readonly region: string;
  readonly bucketName: pulumi.Output<string>;
  readonly bucketArn: pulumi.Output<string>;
  readonly kmsKeyArn: pulumi.Output<string>;
  readonly repoPrefix: string;
  /** Every replicated prefix (repository, restore catalogue): what nodes may read in the copy. */
  readonly prefixes: string[];
  /** The bucket and its configuration, and the key: what a PostgreSQL node waits for. */
  readonly ready: pulumi.Resource[];

  constructor(name: string, args: SecondRegionRepositoryArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType("SecondRegionRepository"), name, {}, opts);
    throwIfInvalid(this, "SecondRegionRepository", validateSecondRegionRepositoryArgs(args));
    const keep = args.keepData ?? false;
    const provider = new aws.Provider(`${name}-${args.region}`, { region: args.region as aws.Region }, { parent: this });
    const inRegion = { parent: this, provider };
    const key = new aws.kms.Key(`${name}-${args.region}-key`, {
      description: `postgres-ha ${args.clusterName}/${args.stack}: the second backup repository (${args.region})`,
      enableKeyRotation: true,
      deletionWindowInDays: 30,
      tags: tagsFor(args, `${name}-${args.region}-key`),
    }, { ...inRegion, protect: keep });
    const alias = new aws.kms.Alias(`${name}-${args.region}-key`, { name: args.kmsAliasName, targetKeyId: key.keyId }, { parent: key, provider });
    const bucket = new BackupBucket(`${name}-${args.region}`, {
      ...args.bucket,
      tags: args.tags,
      kmsKeyArn: key.arn,
      keepData: keep,
    }, { parent: this, providers: { aws: provider } });

    // S3 Replication (in the stack's region, on the first bucket) and the role S3 assumes for it.
    const replicationRole = new aws.iam.Role(`${name}-replication`, {
      description: `postgres-ha ${args.clusterName}/${args.stack}: S3 Replication of the pgBackRest repository to ${args.region}`,
      assumeRolePolicy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "s3.amazonaws.com" }, Action: "sts:AssumeRole" }] }),
      tags: tagsFor(args, `${name}-replication`),
    }, { parent: this });
    const replicationPolicy = new aws.iam.RolePolicy(`${name}-replication`, {
      role: replicationRole.id,
      policy: pulumi
        .all([args.source.bucketArn, args.source.kmsKeyArn, bucket.bucketArn, key.arn])
        .apply(([sourceArn, sourceKey, destinationArn, destinationKey]) => JSON.stringify(replicationPolicyDocument({
          sourceBucketArn: sourceArn, sourceKmsKeyArn: sourceKey, sourceRegion: args.primaryRegion, prefixes: replicatedPrefixes(args),
          destinationBucketArn: destinationArn, destinationKmsKeyArn: destinationKey, destinationRegion: args.region,
        }))),
    }, { parent: replicationRole });
    const replication = new aws.s3.BucketReplicationConfig(`${name}-replication`, {
      bucket: args.source.bucketId,
      role: replicationRole.arn,
      rules: replicatedPrefixes(args).map((prefix, i) => ({
        id: replicationRuleIds(args.region)[i],
        status: "Enabled",
        priority: i + 1,
        filter: { prefix },
        deleteMarkerReplication: { status: "Enabled" },
        sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: "Enabled" } },
        destination: {
          bucket: bucket.bucketArn,
          storageClass: "STANDARD",
          encryptionConfiguration: { replicaKmsKeyId: key.arn },
          replicationTime: { status: "Enabled", time: { minutes: REPLICATION_TIME_MINUTES } },
          metrics: { status: "Enabled", eventThreshold: { minutes: REPLICATION_TIME_MINUTES } },
        },
      })),
    }, { parent: this, dependsOn: [...args.source.ready, ...bucket.ready, replicationPolicy] });

    this.region = args.region;
    this.bucketName = bucket.bucketName;
    this.bucketArn = bucket.bucketArn;
    this.kmsKeyArn = key.arn;
    this.repoPrefix = bucket.repoPrefix;
    this.prefixes = replicatedPrefixes(args);
    this.ready = [key, alias, ...bucket.ready, replication];
    this.registerOutputs({ region: this.region, bucketName: this.bucketName, bucketArn: this.bucketArn, kmsKeyArn: this.kmsKeyArn });
  }
}
