// Alerting (monitoring.enabled): where every alert of the stack goes, and the alarms AWS itself
// raises when the nodes — or the monitoring — cannot.
//
//   AlertTopic   a KMS key (rotation on) and its alias; the SNS topic `monitoring.topicName`,
//                encrypted with that key; a topic policy letting CloudWatch alarms of this account
//                publish; one subscription per monitoring.alertEmails / alertHttpsEndpoints entry.
//                The monitoring node's Alertmanager publishes to it with its instance role
//                (components/nodeRoles.ts: sns:Publish on this topic, the key through SNS only).
//   Alarms       per instance, EC2's StatusCheckFailed (a node that is down or unreachable can
//                not report itself); and the dead man's switch: the monitoring node puts a
//                heartbeat metric every minute while Prometheus has evaluated its rules within
//                three scrape intervals and Alertmanager is ready (pgha-monitor heartbeat), and
//                an alarm fires when it stops (a missing point counts
//                as breaching), so a dead Prometheus, Alertmanager or mon1 is paged too.
// Both send ALARM and OK to the topic. The alarms come after the instances (they name them);
// the topic before the node roles (the monitoring node's policy names it), hence two components.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { sha256 } from "../src/bundle/format";
import { componentType, duplicateNodeNames, tagsFor, throwIfInvalid, type TaggedArgs } from "./common";
import { REPLICATION_TIME_MINUTES } from "./secondRegionRepository";

/** The service principal CloudWatch alarms publish to SNS as. */
export const CLOUDWATCH_SERVICE = "cloudwatch.amazonaws.com";

/** AlertTopic: the KMS-encrypted SNS topic every alert goes to, and its subscriptions. */
export interface AlertTopicArgs extends TaggedArgs {
  /** The cluster's name (postgres-ha:clusterName): in the key's description and the topic's display name. */
  clusterName: string;
  /** The stack's name: in the key's description and the topic's display name. */
  stack: string;
  /**
   * The topic's name (ClusterSpec.monitoring.topicName, `pgha-<prefix>-alerts`). Fixed, not
   * auto-named: the monitoring node builds the topic's ARN from it and the account STS reports.
   */
  topicName: string;
  /** The alias of the topic's KMS key (`alias/…`). */
  kmsAliasName: string;
  /** Email addresses subscribed to the topic (postgres-ha:monitoring.alertEmails); each must confirm from SNS's mail. Default none. */
  alertEmails?: string[];
  /** HTTPS endpoints subscribed to the topic (postgres-ha:monitoring.alertHttpsEndpoints); each must confirm SNS's request. Default none. */
  alertHttpsEndpoints?: string[];
  /**
   * Protect the topic's KMS key and give it the longest deletion window (30 days, else 7): a key
   * scheduled for deletion silently stops every alert (SNS cannot encrypt, publishes fail).
   * Default false; prod: true.
   */
  keepData?: boolean;
}

/** Every problem of AlertTopic's arguments (empty when it can be built). */
export function validateAlertTopicArgs(args: AlertTopicArgs): string[] {
  const problems: string[] = [];
  // SNS topic names: 1–256 of letters, digits, '-' and '_' (no .fifo: a standard topic).
  if (!/^[A-Za-z0-9_-]{1,256}$/.test(args.topicName)) problems.push(`topicName: ${JSON.stringify(args.topicName)} is not an SNS topic name (1–256 letters, digits, - and _)`);
  if (!/^alias\/[A-Za-z0-9/_-]+$/.test(args.kmsAliasName) || args.kmsAliasName.startsWith("alias/aws/")) problems.push(`kmsAliasName: ${JSON.stringify(args.kmsAliasName)} is not a customer KMS alias (alias/…, not alias/aws/…)`);
  const twice = (list: string[], key: string) => {
    for (const v of new Set(list.filter((x, i) => list.indexOf(x) !== i))) problems.push(`${key}: ${v} is listed twice`);
  };
  twice(args.alertEmails ?? [], "alertEmails");
  twice(args.alertHttpsEndpoints ?? [], "alertHttpsEndpoints");
  for (const e of args.alertEmails ?? []) if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(e)) problems.push(`alertEmails: ${JSON.stringify(e)} is not an email address`);
  for (const u of args.alertHttpsEndpoints ?? []) if (!/^https:\/\/\S+$/.test(u)) problems.push(`alertHttpsEndpoints: ${JSON.stringify(u)} is not an https:// URL (SNS delivers alerts over TLS only here)`);
  return problems;
}

/** The topic key's policy: the account administers it (IAM policies decide), CloudWatch alarms may encrypt for the topic. */
export function alertKeyPolicy(partition: string, accountId: string): object {
  return {
    Version: "2012-10-17",
    Statement: [
      { Sid: "AccountAdministers", Effect: "Allow", Principal: { AWS: `arn:${partition}:iam::${accountId}:root` }, Action: "kms:*", Resource: "*" },
      // CloudWatch publishes alarm state changes to the encrypted topic: SNS asks KMS for a data key on its behalf.
      { Sid: "CloudWatchAlarmsPublish", Effect: "Allow", Principal: { Service: CLOUDWATCH_SERVICE }, Action: ["kms:Decrypt", "kms:GenerateDataKey*"], Resource: "*" },
    ],
  };
}

/** The topic's policy: CloudWatch alarms of this account only may publish (the nodes publish with their IAM role). */
export function alertTopicPolicy(topicArn: string, accountId: string): object {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "CloudWatchAlarmsPublish",
        Effect: "Allow",
        Principal: { Service: CLOUDWATCH_SERVICE },
        Action: "sns:Publish",
        Resource: topicArn,
        Condition: { StringEquals: { "aws:SourceAccount": accountId } },
      },
    ],
  };
}

/**
 * A subscription's resource name: by a digest of its endpoint, not its position, so removing one
 * address never replaces (and re-confirms) the others.
 */
export function subscriptionResourceName(name: string, protocol: "email" | "https", endpoint: string): string {
  return `${name}-alerts-${protocol}-${sha256(endpoint).slice(0, 8)}`;
}

export class AlertTopic extends pulumi.ComponentResource {
  readonly topicArn: pulumi.Output<string>;
  readonly topicName: string;
  /** The topic's KMS key: the monitoring node's role may use it through SNS. */
  readonly kmsKeyArn: pulumi.Output<string>;

  constructor(name: string, args: AlertTopicArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType("AlertTopic"), name, {}, opts);
    throwIfInvalid(this, "AlertTopic", validateAlertTopicArgs(args));
    const parent = { parent: this };
    const partition = aws.getPartitionOutput({}, parent);
    const account = aws.getCallerIdentityOutput({}, parent);

    // Its own key, not the cluster's: CloudWatch must be allowed to use it, and the cluster key
    // (secrets, volumes, backups) admits no service but through Secrets Manager and S3.
    const key = new aws.kms.Key(`${name}-alerts`, {
      description: `postgres-ha ${args.clusterName}/${args.stack}: the alert topic (SNS server-side encryption)`,
      enableKeyRotation: true,
      deletionWindowInDays: args.keepData ? 30 : 7,
      policy: pulumi.all([partition.partition, account.accountId]).apply(([p, a]) => JSON.stringify(alertKeyPolicy(p, a))),
      tags: tagsFor(args, `${name}-alerts`),
    }, { ...parent, protect: args.keepData ?? false });
    new aws.kms.Alias(`${name}-alerts`, { name: args.kmsAliasName, targetKeyId: key.keyId }, { parent: key });

    const topic = new aws.sns.Topic(`${name}-alerts`, {
      name: args.topicName,
      displayName: `pgha ${args.clusterName}/${args.stack}`,
      kmsMasterKeyId: key.arn,
      tags: tagsFor(args, args.topicName),
    }, parent);
    new aws.sns.TopicPolicy(`${name}-alerts`, {
      arn: topic.arn,
      policy: pulumi.all([topic.arn, account.accountId]).apply(([t, a]) => JSON.stringify(alertTopicPolicy(t, a))),
    }, { parent: topic });

    const subscribe = (protocol: "email" | "https", endpoint: string) =>
      new aws.sns.TopicSubscription(subscriptionResourceName(name, protocol, endpoint), {
        topic: topic.arn,
        protocol,
        endpoint,
        // SNS sends a confirmation first; the subscription stays pending until its owner confirms
        // (`aws sns list-subscriptions-by-topic` shows it), and SNS removes it after three days unconfirmed.
        ...(protocol === "https" ? { endpointAutoConfirms: false } : {}),
      }, { parent: topic });
    for (const email of args.alertEmails ?? []) subscribe("email", email);
    for (const url of args.alertHttpsEndpoints ?? []) subscribe("https", url);

    this.topicArn = topic.arn;
    this.topicName = args.topicName;
    this.kmsKeyArn = key.arn;
    this.registerOutputs({ topicArn: this.topicArn, topicName: this.topicName, kmsKeyArn: this.kmsKeyArn });
  }
}

/** The dead man's switch: the heartbeat the monitoring node puts (ClusterSpec.monitoring.heartbeat). */
export interface HeartbeatMetric {
  namespace: string;
  metricName: string;
  dimensions: Record<string, string>;
}

/** The heartbeat alarm's shape: no point for HEARTBEAT_MISSING_MINUTES minutes (a missing point breaches) → ALARM. */
export const HEARTBEAT_PERIOD_SECONDS = 60;
export const HEARTBEAT_MISSING_MINUTES = 5;
/** The status-check alarm's shape: StatusCheckFailed (1-minute metrics for every instance) at 1 for 2 minutes → ALARM. */
export const STATUS_CHECK_PERIOD_SECONDS = 60;
export const STATUS_CHECK_EVALUATION_PERIODS = 2;

/** Alarms: CloudWatch alarms that page through the alert topic. */
export interface AlarmsArgs extends TaggedArgs {
  /** The alert topic (AlertTopic.topicArn): every alarm's ALARM and OK actions. */
  topicArn: pulumi.Input<string>;
  /**
   * Every instance of the cluster, the monitoring node's included: its node name and instance id.
   * One StatusCheckFailed alarm each. At least one; names unique.
   */
  instances: { node: string; instanceId: pulumi.Input<string> }[];
  /** The heartbeat metric (ClusterSpec.monitoring.heartbeat): its alarm is the dead man's switch. */
  heartbeat: HeartbeatMetric;
  /** Nodes whose instance the heartbeat alarm waits for (the monitoring node): it starts breaching when created. Default none. */
  heartbeatAfter?: pulumi.Input<pulumi.Resource>[];
  /**
   * The repository's copy in another region (backup.secondRepository, SecondRegionRepository):
   * its S3 Replication rules, whose metrics (ReplicationLatency, OperationsFailedReplication in
   * AWS/S3, reported in the source bucket's region) say how old the copy's newest WAL may be.
   * Two alarms per rule. Absent: no copy.
   */
  replication?: { sourceBucket: string; destinationBucket: string; ruleIds: string[] };
}

/** The copy's alarms: ReplicationLatency above Replication Time Control's 15 minutes for REPLICATION_ALARM_PERIODS periods; any failed replication in a period. */
export const REPLICATION_ALARM_PERIOD_SECONDS = 300;
export const REPLICATION_ALARM_PERIODS = 3;

/** Every problem of Alarms' arguments (empty when it can be built). */
export function validateAlarmsArgs(args: AlarmsArgs): string[] {
  const problems: string[] = [];
  if (args.instances.length === 0) problems.push("instances: at least one instance to watch");
  problems.push(...duplicateNodeNames(args.instances.map((i) => ({ name: i.node }))));
  const h = args.heartbeat;
  if (!h.namespace || h.namespace.startsWith("AWS/")) problems.push(`heartbeat.namespace: ${JSON.stringify(h.namespace)} is not a custom namespace (AWS/… is reserved)`);
  if (!h.metricName) problems.push("heartbeat.metricName: empty");
  if (Object.keys(h.dimensions).length > 30) problems.push(`heartbeat.dimensions: ${Object.keys(h.dimensions).length} (CloudWatch allows 30)`);
  const r = args.replication;
  if (r && (!r.sourceBucket || !r.destinationBucket || r.sourceBucket === r.destinationBucket)) problems.push(`replication: source ${JSON.stringify(r.sourceBucket)} and destination ${JSON.stringify(r.destinationBucket)} must be two named buckets`);
  if (r && r.ruleIds.length === 0) problems.push("replication.ruleIds: at least one replication rule to watch");
  return problems;
}

export class Alarms extends pulumi.ComponentResource {
  /** Per node: the name of its status-check alarm. */
  readonly statusCheckAlarmNames: Record<string, string>;
  /** The dead man's switch's alarm name. */
  readonly heartbeatAlarmName: string;
  /** The repository copy's alarms (latency and failures per replication rule); empty without a copy. */
  readonly replicationAlarmNames: string[];

  constructor(name: string, args: AlarmsArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType("Alarms"), name, {}, opts);
    throwIfInvalid(this, "Alarms", validateAlarmsArgs(args));
    const actions = { alarmActions: [args.topicArn], okActions: [args.topicArn] };
    this.statusCheckAlarmNames = {};
    for (const { node, instanceId } of args.instances) {
      // Named, not auto-named: the name is the subject of the mail that pages someone.
      const alarmName = `${name}-${node}-status-check`;
      new aws.cloudwatch.MetricAlarm(alarmName, {
        name: alarmName,
        alarmDescription: `${node}: EC2 status check failed for ${STATUS_CHECK_EVALUATION_PERIODS} minutes (instance or host unreachable). Look with \`aws ec2 describe-instance-status\`; a failed system check on a PostgreSQL member means Patroni has failed over.`,
        namespace: "AWS/EC2",
        metricName: "StatusCheckFailed",
        dimensions: { InstanceId: instanceId },
        statistic: "Maximum",
        period: STATUS_CHECK_PERIOD_SECONDS,
        evaluationPeriods: STATUS_CHECK_EVALUATION_PERIODS,
        threshold: 1,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
        // A stopped or replaced instance sends no points: keep the state instead of paging.
        treatMissingData: "missing",
        ...actions,
        tags: tagsFor(args, alarmName, { "pgha:node": node }),
      }, { parent: this });
      this.statusCheckAlarmNames[node] = alarmName;
    }

    const h = args.heartbeat;
    const heartbeatName = `${name}-monitoring-heartbeat`;
    new aws.cloudwatch.MetricAlarm(heartbeatName, {
      name: heartbeatName,
      alarmDescription: `The monitoring node has put no ${h.namespace}/${h.metricName} for ${HEARTBEAT_MISSING_MINUTES} minutes: Prometheus stopped evaluating its rules or Alertmanager is not ready (pgha-monitor heartbeat), or mon1 is down, so no other alert of the stack is being delivered.`,
      namespace: h.namespace,
      metricName: h.metricName,
      dimensions: h.dimensions,
      statistic: "Sum",
      period: HEARTBEAT_PERIOD_SECONDS,
      evaluationPeriods: HEARTBEAT_MISSING_MINUTES,
      threshold: 1,
      comparisonOperator: "LessThanThreshold",
      // No heartbeat at all is exactly what this alarm is for.
      treatMissingData: "breaching",
      ...actions,
      tags: tagsFor(args, heartbeatName),
    }, { parent: this, dependsOn: args.heartbeatAfter ?? [] });
    this.heartbeatAlarmName = heartbeatName;

    // The copy in the second region: how far behind the first region's repository it may be is
    // the RPO of a restore from it (README, "RPO of each copy").
    this.replicationAlarmNames = [];
    const rep = args.replication;
    for (const ruleId of rep?.ruleIds ?? []) {
      const dimensions = { SourceBucket: rep!.sourceBucket, DestinationBucket: rep!.destinationBucket, RuleId: ruleId };
      const latencyName = `${name}-copy-${ruleId}-latency`;
      new aws.cloudwatch.MetricAlarm(latencyName, {
        name: latencyName,
        alarmDescription: `S3 Replication ${ruleId} (${rep!.sourceBucket} → ${rep!.destinationBucket}) is more than ${REPLICATION_TIME_MINUTES} minutes behind for ${(REPLICATION_ALARM_PERIODS * REPLICATION_ALARM_PERIOD_SECONDS) / 60} minutes: the copy's newest WAL is older than its promise, and a restore from it loses more. Look at the rule's metrics in the S3 console, and \`npx pgha sandbox backups --repo 2\` / pgha-restore window --repo 2 on a node.`,
        namespace: "AWS/S3",
        metricName: "ReplicationLatency",
        dimensions,
        statistic: "Maximum",
        period: REPLICATION_ALARM_PERIOD_SECONDS,
        evaluationPeriods: REPLICATION_ALARM_PERIODS,
        threshold: REPLICATION_TIME_MINUTES * 60,
        comparisonOperator: "GreaterThanThreshold",
        // No object written in a period, no point: nothing is behind.
        treatMissingData: "notBreaching",
        ...actions,
        tags: tagsFor(args, latencyName),
      }, { parent: this });
      const failedName = `${name}-copy-${ruleId}-failed`;
      new aws.cloudwatch.MetricAlarm(failedName, {
        name: failedName,
        alarmDescription: `S3 Replication ${ruleId} (${rep!.sourceBucket} → ${rep!.destinationBucket}) failed to replicate objects: the copy misses them (the replication role's permissions, the second region's KMS key). S3 does not retry a failed replication; re-upload or use S3 Batch Replication.`,
        namespace: "AWS/S3",
        metricName: "OperationsFailedReplication",
        dimensions,
        statistic: "Sum",
        period: REPLICATION_ALARM_PERIOD_SECONDS,
        evaluationPeriods: 1,
        threshold: 1,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
        treatMissingData: "notBreaching",
        ...actions,
        tags: tagsFor(args, failedName),
      }, { parent: this });
      this.replicationAlarmNames.push(latencyName, failedName);
    }
    this.registerOutputs({ statusCheckAlarmNames: this.statusCheckAlarmNames, heartbeatAlarmName: this.heartbeatAlarmName, replicationAlarmNames: this.replicationAlarmNames });
  }
}
