// NodeRoles: one IAM role + instance profile per node, each allowed exactly what its node does:
//   every node   SSM Session Manager (managed AmazonSSMManagedInstanceCore), read its own
//                node secret, decrypt it with the cluster key (through Secrets Manager and S3
//                only), and read its own bundles and the node software from the bucket
//   PostgreSQL   also the cluster secret, and S3 on the backup bucket limited to the
//                pgBackRest repository and the logical-dump prefixes (SSE-KMS through S3 only)
//                (a standby cluster: also read-only, the primary's repository copy in its region;
//                a cluster restored from another (restoreFrom): also read-only, the source's
//                repository and restore catalogue, its cluster secret (the repository
//                passphrase) and its key, by alias, through S3 and Secrets Manager only)
//   etcd/HAProxy no S3 at all
//   monitoring   no S3 beyond its bundles either; publishes alerts to the stack's SNS topic
//                (sns:Publish on that topic, its KMS key through SNS only) and puts the
//                dead man's switch heartbeat (cloudwatch:PutMetricData in its namespace only)
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { NodeSpec } from "../src/spec";
import { bundleKeys, bundlePrefix } from "../src/bundle/format";
import { componentType, nodeTags, throwIfInvalid, type TaggedArgs } from "./common";
import { secretArnPattern } from "./secrets";

export interface PolicyStatement {
  Sid: string;
  Effect: "Allow" | "Deny";
  Action: string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}
export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: PolicyStatement[];
}

export interface NodePolicyInputs {
  node: Pick<NodeSpec, "name" | "role">;
  region: string;
  kmsKeyArn: string;
  nodeSecretArn: string;
  /** PostgreSQL nodes only. */
  clusterSecretArn?: string;
  /** PostgreSQL nodes only: the declared login roles' password secrets (pgha-access sets them on the leader). */
  roleSecretArns?: string[];
  /** The backup bucket: every node reads its bundles there; PostgreSQL nodes also back up into it. */
  bucket: { arn: string; repoPrefix: string; logicalPrefix: string; catalogPrefix?: string };
  /** Where this node's bundles and the node software are (prefixes in the bucket, ending in '/'). */
  bundles: { nodePrefix: string; softwarePrefix: string };
  /** PostgreSQL nodes, with backup.secondRepository: repo2's bucket and key in the other region. */
  secondRepository?: SecondRepositoryAccess;
  /** PostgreSQL nodes of a standby cluster (postgres-ha:standby): the primary's repository copy in this region. */
  primaryCopy?: PrimaryCopyAccess;
  /** PostgreSQL nodes of a cluster restored from another (postgres-ha:restoreFrom): the source's repository, catalogue and secret. */
  restoreSource?: RestoreSourceAccess;
  /**
   * The monitoring node only: where its alerts and heartbeat go (no statement without it;
   * NodeRoles refuses a monitoring node without it, validateNodeRolesArgs).
   */
  alerting?: AlertingAccess;
}

/** What the monitoring node may do beyond every node's grants: publish alerts, put its heartbeat. */
export interface AlertingAccess {
  /** The alert topic (AlertTopic.topicArn): Alertmanager publishes to it (SigV4, the instance role). */
  topicArn: string;
  /** The topic's KMS key (AlertTopic.kmsKeyArn): SNS encrypts each published message with it on the publisher's behalf. */
  topicKeyArn: string;
  /** The heartbeat metric's CloudWatch namespace (ClusterSpec.monitoring.heartbeat.namespace): the only one it may put to. */
  heartbeatNamespace: string;
}

/** What a PostgreSQL node may do in the second region: read the repository's copy (restores, drills). */
export interface SecondRepositoryAccess {
  region: string;
  bucketArn: string;
  kmsKeyArn: string;
  /** The replicated prefixes (repository, restore catalogue). */
  prefixes: string[];
}

/**
 * What a standby cluster's PostgreSQL node may do with its primary's repository copy in its own
 * region (standby.repositoryBucket, another stack's SecondRegionRepository): read it only (new
 * members restore from it, the standby leader reads WAL from it when streaming is cut). Its key is
 * the primary's, known here by its alias only (the primary's cluster key alias, created in this
 * region for that key): kms:ResourceAliases names it, through S3 in this region only.
 */
export interface PrimaryCopyAccess {
  region: string;
  account: string;
  partition: string;
  bucketName: string;
  /** The primary's KMS alias (alias/pgha-<cluster>-<primary stack>). */
  kmsAliasName: string;
  /** The replicated prefixes (repository, restore catalogue). */
  prefixes: string[];
}

/**
 * What a PostgreSQL node of a cluster restored from another (restoreFrom) may do with the source:
 * read it only. Its first member restores from the source's pgBackRest repository and reads its
 * restore-point catalogue (name targets) in the source's bucket (restoreFrom.bucket, in `region`),
 * and the repository's passphrase from the source's cluster secret, by name in this stack's region
 * (NodePolicyInputs.region). The source's objects and its secret are encrypted with the source's
 * cluster key, known here by its alias only (alias/pgha-<source cluster>-<source stack>, in each
 * of those regions): kms:ResourceAliases names it, through S3 in the bucket's region and Secrets
 * Manager in this stack's region only. Nothing is written there: this cluster archives into its own bucket.
 */
export interface RestoreSourceAccess {
  /** The bucket's region (restoreFrom.region). */
  region: string;
  account: string;
  partition: string;
  bucketName: string;
  /** The source's KMS alias (alias/pgha-<source cluster>-<source stack>). */
  kmsAliasName: string;
  /** The source's repository and restore-catalogue prefixes in its bucket. */
  prefixes: string[];
  /** The source's cluster secret's name (Secrets Manager appends -XXXXXX to it in its ARN). */
  secretName: string;
}

/** Object actions pgBackRest and the logical-dump job need (multipart included). */
export const BACKUP_OBJECT_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"];

/**
 * Read-only access to some prefixes of another bucket: List<name> (ListBucket limited to the
 * prefixes) and <name>Objects (GetObject under them). Nothing may write there.
 */
function readOnlyPrefixes(name: string, bucketArn: string, prefixes: string[]): PolicyStatement[] {
  const ps = prefixes.map((p) => (p.endsWith("/") ? p : `${p}/`));
  return [
    { Sid: `List${name}`, Effect: "Allow", Action: ["s3:ListBucket"], Resource: bucketArn, Condition: { StringLike: { "s3:prefix": ps.flatMap((p) => [p.slice(0, -1), `${p}*`]) } } },
    { Sid: `${name}Objects`, Effect: "Allow", Action: ["s3:GetObject"], Resource: ps.map((p) => `${bucketArn}/${p}*`) },
  ];
}

/** The inline policy of one node's role. Pure, so tests and docs read the very same document. */
export function nodePolicyDocument(i: NodePolicyInputs): PolicyDocument {
  const isPostgres = i.node.role === "postgres";
  if (isPostgres && !i.clusterSecretArn) throw new Error(`node ${i.node.name}: a PostgreSQL node's policy needs the cluster secret`);
  const secrets = isPostgres ? [i.nodeSecretArn, i.clusterSecretArn!, ...(i.roleSecretArns ?? [])] : [i.nodeSecretArn];
  const viaServices = [`secretsmanager.${i.region}.amazonaws.com`, `s3.${i.region}.amazonaws.com`];
  const statements: PolicyStatement[] = [
    { Sid: "ReadOwnSecrets", Effect: "Allow", Action: ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], Resource: secrets },
    {
      Sid: "UseClusterKey",
      Effect: "Allow",
      Action: isPostgres ? ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"] : ["kms:Decrypt"],
      Resource: i.kmsKeyArn,
      Condition: { StringEquals: { "kms:ViaService": viaServices } },
    },
    {
      // The node's own bundles (content-addressed, and the desired pointer) and the node
      // software; never another node's bundle (its files name that node's secrets).
      Sid: "ReadOwnBundles",
      Effect: "Allow",
      Action: ["s3:GetObject"],
      Resource: [`${i.bucket.arn}/${i.bundles.nodePrefix}*`, `${i.bucket.arn}/${i.bundles.softwarePrefix}*`],
    },
  ];
  if (isPostgres) {
    const { arn, repoPrefix, logicalPrefix, catalogPrefix } = i.bucket!;
    const prefixes = [repoPrefix, logicalPrefix, ...(catalogPrefix ? [catalogPrefix] : [])].map((p) => (p.endsWith("/") ? p : `${p}/`));
    statements.push(
      {
        Sid: "ListBackupPrefixes",
        Effect: "Allow",
        Action: ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
        Resource: arn,
        Condition: { StringLike: { "s3:prefix": prefixes.flatMap((p) => [p.slice(0, -1), `${p}*`]) } },
      },
      { Sid: "BackupObjects", Effect: "Allow", Action: BACKUP_OBJECT_ACTIONS, Resource: prefixes.map((p) => `${arn}/${p}*`) },
    );
    const second = i.secondRepository;
    if (second) {
      statements.push(
        {
          Sid: "UseSecondRegionKey",
          Effect: "Allow",
          Action: ["kms:Decrypt", "kms:DescribeKey"],
          Resource: second.kmsKeyArn,
          Condition: { StringEquals: { "kms:ViaService": [`s3.${second.region}.amazonaws.com`] } },
        },
        // Read-only: S3 Replication writes the copy; nodes restore and drill from it.
        ...readOnlyPrefixes("SecondRepository", second.bucketArn, second.prefixes),
      );
    }
    const copy = i.primaryCopy;
    if (copy) {
      const bucketArn = `arn:${copy.partition}:s3:::${copy.bucketName}`;
      statements.push(
        {
          Sid: "UsePrimaryCopyKey",
          Effect: "Allow",
          Action: ["kms:Decrypt", "kms:DescribeKey"],
          Resource: `arn:${copy.partition}:kms:${copy.region}:${copy.account}:key/*`,
          Condition: {
            StringEquals: { "kms:ViaService": [`s3.${copy.region}.amazonaws.com`] },
            "ForAnyValue:StringEquals": { "kms:ResourceAliases": [copy.kmsAliasName] },
          },
        },
        // Read-only: the primary's S3 Replication writes the copy.
        ...readOnlyPrefixes("PrimaryCopy", bucketArn, copy.prefixes),
      );
    }
    const source = i.restoreSource;
    if (source) {
      const bucketArn = `arn:${source.partition}:s3:::${source.bucketName}`;
      // The key's region: the bucket's (S3 objects) and this stack's (the secret); one when they are one.
      const keyArns = [...new Set([source.region, i.region])].map((r) => `arn:${source.partition}:kms:${r}:${source.account}:key/*`);
      statements.push(
        {
          Sid: "UseRestoreSourceKey",
          Effect: "Allow",
          Action: ["kms:Decrypt", "kms:DescribeKey"],
          Resource: keyArns.length === 1 ? keyArns[0] : keyArns,
          Condition: {
            StringEquals: { "kms:ViaService": [`s3.${source.region}.amazonaws.com`, `secretsmanager.${i.region}.amazonaws.com`] },
            "ForAnyValue:StringEquals": { "kms:ResourceAliases": [source.kmsAliasName] },
          },
        },
        // Read-only: the source cluster writes its repository; this one archives into its own bucket.
        ...readOnlyPrefixes("RestoreSource", bucketArn, source.prefixes),
        {
          // The repository's passphrase (pgha-secrets, by name in this stack's region).
          Sid: "ReadRestoreSourceSecret",
          Effect: "Allow",
          Action: ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
          Resource: secretArnPattern(source.partition, i.region, source.account, source.secretName),
        },
      );
    }
  }
  if (i.node.role === "monitor" && i.alerting) {
    const a = i.alerting;
    statements.push(
      // Alertmanager's SNS receiver: every alert to the one topic.
      { Sid: "PublishAlerts", Effect: "Allow", Action: ["sns:Publish"], Resource: a.topicArn },
      {
        // The topic is encrypted: SNS asks KMS for a data key as the publisher, and only SNS may.
        Sid: "UseAlertTopicKey",
        Effect: "Allow",
        Action: ["kms:GenerateDataKey*", "kms:Decrypt"],
        Resource: a.topicKeyArn,
        Condition: { StringEquals: { "kms:ViaService": [`sns.${i.region}.amazonaws.com`] } },
      },
      {
        // The dead man's switch. PutMetricData has no resource-level permissions (Resource "*"):
        // the namespace condition confines it to the heartbeat's namespace.
        Sid: "PutHeartbeat",
        Effect: "Allow",
        Action: ["cloudwatch:PutMetricData"],
        Resource: "*",
        Condition: { StringEquals: { "cloudwatch:namespace": a.heartbeatNamespace } },
      },
    );
  }
  return { Version: "2012-10-17", Statement: statements };
}

export function ec2AssumeRolePolicy(dnsSuffix: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: `ec2.${dnsSuffix}` }, Action: "sts:AssumeRole" }],
  });
}

/** NodeRoles: one IAM role and instance profile per node, scoped to what that node does. */
export interface NodeRolesArgs extends TaggedArgs {
  /** The cluster's name (postgres-ha:clusterName): names the bundle prefix (`bundles/<cluster>/`) and the roles' descriptions. */
  clusterName: string;
  /** The stack's name: in the roles' descriptions. */
  stack: string;
  /** The stack's region: `kms:ViaService` names its Secrets Manager and S3 endpoints. */
  region: string;
  /** Every node (name and role), in order: one role each. PostgreSQL nodes get the backup statements. */
  nodes: Pick<NodeSpec, "name" | "role">[];
  /** The cluster's KMS key (Secrets.kmsKeyArn): nodes decrypt with it through Secrets Manager and S3 only. */
  kmsKeyArn: pulumi.Input<string>;
  /** Per node: its node secret (Secrets.nodeSecretArns). Required for every node. */
  nodeSecretArns: Record<string, pulumi.Input<string>>;
  /** The cluster secret (Secrets.clusterSecretArn; a standby cluster: the ARN pattern of its primary's replica): only PostgreSQL nodes may read it. */
  clusterSecretArn: pulumi.Input<string>;
  /** The declared login roles' password secrets (Secrets.roleSecretArns): only PostgreSQL nodes may read them. Default none. */
  roleSecretArns?: pulumi.Input<string>[];
  /** The stack's bucket (BackupBucket.bucketArn): bundles for every node, backups for PostgreSQL nodes. */
  bucketArn: pulumi.Input<string>;
  /** The pgBackRest repository's key prefix (BackupBucket.repoPrefix). */
  repoPrefix: string;
  /** The logical dumps' key prefix (BackupBucket.logicalPrefix). */
  logicalPrefix: string;
  /** The restore-point catalogue's prefix (PostgreSQL nodes read and write it). Default: none. */
  catalogPrefix?: string;
  /** backup.secondRepository: repo2's region, bucket and key (SecondRegionRepository); PostgreSQL nodes may use them. Default: none. */
  secondRepository?: { region: string; bucketArn: pulumi.Input<string>; kmsKeyArn: pulumi.Input<string>; prefixes: string[] };
  /**
   * A standby cluster (postgres-ha:standby): its primary's repository copy in this stack's region
   * (standby.repositoryBucket) and the primary's KMS alias there; PostgreSQL nodes may read it,
   * nothing else. Default: none.
   */
  primaryCopy?: { bucketName: string; kmsAliasName: string; prefixes: string[] };
  /**
   * A cluster restored from another (postgres-ha:restoreFrom): the source's bucket and its region
   * (restoreFrom.bucket, restoreFrom.region), the source's KMS alias, its repository and
   * restore-catalogue prefixes, and its cluster secret's name (read by name in this stack's
   * region); PostgreSQL nodes may read them, nothing else. Default: none.
   */
  restoreSource?: { region: string; bucketName: string; kmsAliasName: string; prefixes: string[]; secretName: string };
  /**
   * The alert topic, its key and the heartbeat namespace (AlertTopic, ClusterSpec.monitoring):
   * only the monitoring node may use them. Required when `nodes` lists a `monitor` node.
   */
  alerting?: { topicArn: pulumi.Input<string>; topicKeyArn: pulumi.Input<string>; heartbeatNamespace: string };
}

/** Every problem of NodeRoles' arguments (empty when it can be built). */
export function validateNodeRolesArgs(args: NodeRolesArgs): string[] {
  const problems = args.nodes.filter((n) => !args.nodeSecretArns[n.name]).map((n) => `nodeSecretArns.${n.name}: no node secret ARN for ${n.name}`);
  // Checked here, before any child, rather than by nodePolicyDocument inside an apply.
  if (!args.clusterSecretArn && args.nodes.some((n) => n.role === "postgres")) problems.push("clusterSecretArn: PostgreSQL nodes' policies need the cluster secret");
  const monitors = args.nodes.filter((n) => n.role === "monitor");
  if (monitors.length && !args.alerting) problems.push(`alerting: the monitoring node ${monitors.map((n) => n.name).join(", ")} needs the alert topic, its key and the heartbeat namespace`);
  if (args.alerting && !args.alerting.heartbeatNamespace) problems.push("alerting.heartbeatNamespace: empty (PutMetricData would not be confined to a namespace)");
  return problems;
}

export class NodeRoles extends pulumi.ComponentResource {
  readonly roleArns: Record<string, pulumi.Output<string>>;
  readonly instanceProfileNames: Record<string, pulumi.Output<string>>;
  /** Per node: what must exist before it boots (its policies), for dependsOn. */
  readonly ready: Record<string, pulumi.Resource[]>;

  constructor(name: string, args: NodeRolesArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType("NodeRoles"), name, {}, opts);
    throwIfInvalid(this, "NodeRoles", validateNodeRolesArgs(args));
    const partition = aws.getPartitionOutput({}, { parent: this });
    // The account: only when a policy names another stack's resources by ARN (a standby's primary copy, a restore source).
    const account = args.primaryCopy || args.restoreSource ? aws.getCallerIdentityOutput({}, { parent: this }).accountId : pulumi.output("");
    this.roleArns = {};
    this.instanceProfileNames = {};
    this.ready = {};
    for (const node of args.nodes) {
      const resourceName = `${name}-${node.name}`;
      const role = new aws.iam.Role(resourceName, {
        description: `postgres-ha ${args.clusterName}/${args.stack} node ${node.name} (${node.role})`,
        assumeRolePolicy: partition.dnsSuffix.apply(ec2AssumeRolePolicy),
        tags: nodeTags(args, node, resourceName),
      }, { parent: this });
      const ssm = new aws.iam.RolePolicyAttachment(`${resourceName}-ssm`, {
        role: role.name,
        policyArn: pulumi.interpolate`arn:${partition.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore`,
      }, { parent: role });
      // Only what the node may use is an input (etcd and HAProxy roles do not wait for the bucket).
      const prefix = bundlePrefix(args.clusterName);
      const bundles = { nodePrefix: bundleKeys.nodePrefix(prefix, node.name), softwarePrefix: bundleKeys.softwarePrefix(prefix) };
      const document = pulumi
        .all([
          args.kmsKeyArn, args.nodeSecretArns[node.name], node.role === "postgres" ? args.clusterSecretArn : "", args.bucketArn,
          pulumi.all(node.role === "postgres" ? (args.roleSecretArns ?? []) : []),
          node.role === "postgres" && args.secondRepository ? args.secondRepository.bucketArn : "",
          node.role === "postgres" && args.secondRepository ? args.secondRepository.kmsKeyArn : "",
          pulumi.all([
            node.role === "monitor" && args.alerting ? pulumi.all([args.alerting.topicArn, args.alerting.topicKeyArn]) : ["", ""],
            node.role === "postgres" && args.primaryCopy ? pulumi.all([partition.partition, account]) : ["", ""],
            node.role === "postgres" && args.restoreSource ? pulumi.all([partition.partition, account]) : ["", ""],
          ]),
        ])
        .apply(([kmsKeyArn, nodeSecretArn, clusterSecretArn, bucketArn, roleSecretArns, secondBucketArn, secondKeyArn, [[topicArn, topicKeyArn], [copyPartition, copyAccount], [sourcePartition, sourceAccount]]]) =>
          nodePolicyDocument({
            node,
            region: args.region,
            kmsKeyArn,
            nodeSecretArn,
            clusterSecretArn: clusterSecretArn || undefined,
            roleSecretArns,
            bucket: { arn: bucketArn, repoPrefix: args.repoPrefix, logicalPrefix: args.logicalPrefix, catalogPrefix: args.catalogPrefix },
            bundles,
            secondRepository: secondBucketArn && args.secondRepository
              ? { region: args.secondRepository.region, bucketArn: secondBucketArn, kmsKeyArn: secondKeyArn, prefixes: args.secondRepository.prefixes }
              : undefined,
            alerting: topicArn && args.alerting ? { topicArn, topicKeyArn, heartbeatNamespace: args.alerting.heartbeatNamespace } : undefined,
            primaryCopy: copyAccount && args.primaryCopy ? { ...args.primaryCopy, region: args.region, account: copyAccount, partition: copyPartition } : undefined,
            restoreSource: sourceAccount && args.restoreSource ? { ...args.restoreSource, account: sourceAccount, partition: sourcePartition } : undefined,
          }),
        );
      const policy = new aws.iam.RolePolicy(`${resourceName}-node`, {
        role: role.id,
        policy: document.apply((d) => JSON.stringify(d)),
      }, { parent: role });
      const profile = new aws.iam.InstanceProfile(resourceName, { role: role.name, tags: nodeTags(args, node, resourceName) }, { parent: role });
      this.roleArns[node.name] = role.arn;
      this.instanceProfileNames[node.name] = profile.name;
      this.ready[node.name] = [ssm, policy, profile];
    }
    this.registerOutputs({ roleArns: this.roleArns, instanceProfileNames: this.instanceProfileNames });
  }
}
