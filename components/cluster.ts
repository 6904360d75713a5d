// PostgresHaCluster: the whole service from one ClusterSpec, composed in dependency order:
// network → secrets → backup bucket → alert topic (monitoring) → node roles → node bundles
// (objects in the bucket) → etcd → PostgreSQL → HAProxy (+ NLB) → monitoring node → alarms
// (monitoring) → DNS → rollout (converges running nodes to changed bundles).
// The class is thin; each part is its own component with narrow, documented arguments (XxxArgs):
// this is the one component that reads the ClusterSpec, and it maps the spec to those arguments.
import * as pulumi from "@pulumi/pulumi";
import { formatProblems, validateSpec } from "../src/config/load";
import { ec2Layout, type Layout } from "../src/layout";
import { PORTS, nodesOf, type ClusterSpec, type NodeSpec, type Role } from "../src/spec";
import { BackupBucket, repoPathKeyPrefix } from "./backupBucket";
import { SecondRegionRepository, replicatedPrefixes, replicationRuleIds } from "./secondRegionRepository";
import { componentType, keepsData } from "./common";
import { Dns } from "./dns";
import { StandbyZones } from "./standbyZones";
import { renderAll } from "../src/render/bundle";
import { nodeSoftware } from "../src/render/software";
import { dynamicConfig } from "../src/render/dynamic";
import { sha256 } from "../src/bundle/format";
import { NodeBundles } from "./nodeBundles";
import { Rollout } from "./rollout";
import { EtcdMembers } from "./etcdMembers";
import { HaproxyNodes } from "./haproxyNodes";
import { imageRollPlan } from "./imageRoll";
import { mergeNodeGroups, type NodeGroupArgs } from "./instance";
import { Network } from "./network";
import { NodeRoles } from "./nodeRoles";
import { caCommonName, nodeCertificateProfiles } from "../src/tls/profile";
import { PostgresNodes } from "./postgresNodes";
import { Secrets } from "./secrets";
import { AlertTopic, Alarms } from "./alerting";
import { MonitoringNode, monitorRootVolumeGiB } from "./monitoringNode";
import { loginRoles, roleDatabase } from "../src/access/declaration";

/** How to reach a node and look at the cluster: SSM Session Manager, no SSH. */
export function sessionCommand(region: string, instanceId: string): string {
  return `aws ssm start-session --region ${region} --target ${instanceId}`;
}
/** The same, non-interactive: runs `sudo pgha-patronictl list` on the node and prints the table. */
export function patronictlListCommand(region: string, instanceId: string): string {
  return `${sessionCommand(region, instanceId)} --document-name AWS-StartInteractiveCommand --parameters command="sudo pgha-patronictl list"`;
}

/**
 * The other region's cluster that streams through the read-write endpoint, if any: a standby
 * cluster's primary (standby.cidrs, its endpoint on standby.port), or a primary's standby clusters
 * (standbyClusters.*.cidrs, their endpoints on the read-write port).
 */
export function replicationPeers(spec: ClusterSpec): { cidrs: string[]; port: number; what: string } | undefined {
  if (spec.standby) return { cidrs: [...new Set(spec.standby.cidrs)], port: spec.standby.port, what: `the primary cluster (stack ${spec.standby.primaryStack})` };
  const cidrs = [...new Set(spec.standbyClusters.flatMap((c) => c.cidrs))];
  if (!cidrs.length) return undefined;
  return { cidrs, port: PORTS.readWrite, what: `the standby clusters (${spec.standbyClusters.map((c) => `stack ${c.stack}`).join(", ")})` };
}

/** The primary's KMS alias (its names.kmsAlias): the key of its repository copy in this region has it too (SecondRegionRepository). */
export function primaryKmsAlias(spec: ClusterSpec): string {
  return `alias/pgha-${spec.clusterName}-${spec.standby!.primaryStack}`;
}

/**
 * restoreFrom: the source cluster's KMS alias (its names.kmsAlias, alias/pgha-<cluster>-<stack>):
 * its key in its own region has it, and so does its second repository's key (SecondRegionRepository).
 */
export function restoreSourceKmsAlias(spec: Pick<ClusterSpec, "restoreFrom">): string {
  return `alias/pgha-${spec.restoreFrom!.cluster}-${spec.restoreFrom!.stack}`;
}

/** restoreFrom: what the nodes read in the source's bucket, as key prefixes: its repository, then its restore catalogue. */
export function restoreSourcePrefixes(spec: Pick<ClusterSpec, "restoreFrom">): string[] {
  return [spec.restoreFrom!.repoPath, spec.restoreFrom!.catalogPrefix].map(repoPathKeyPrefix);
}

export interface Endpoint {
  host: string;
  port: number;
}

/**
 * The whole service from one spec. Only this component takes the ClusterSpec: it maps it to each
 * part's narrow, documented arguments (NetworkArgs, SecretsArgs, BackupBucketArgs, NodeRolesArgs,
 * NodeBundlesArgs, EtcdMembersArgs, PostgresNodesArgs, HaproxyNodesArgs, DnsArgs, RolloutArgs, and with
 * monitoring AlertTopicArgs, MonitoringNodeArgs, AlarmsArgs).
 */
export interface PostgresHaClusterArgs {
  /** The validated, derived cluster (loadAndValidate(...).spec); validated again here (validateSpec). */
  spec: ClusterSpec;
}

export class PostgresHaCluster extends pulumi.ComponentResource {
  readonly spec: ClusterSpec;
  /** synchronousReadOnly: only with haproxy.synchronousReadOnly (the ro name, port 5002). */
  /** pooledReadWrite/pooledReadOnly: only with pooler.enabled (the rw and ro names, ports 6432 and 6433). */
  readonly endpoints: { readWrite: Endpoint; readOnly: Endpoint; synchronousReadOnly?: Endpoint; pooledReadWrite?: Endpoint; pooledReadOnly?: Endpoint };
  readonly kmsKeyArn: pulumi.Output<string>;
  readonly clusterSecretArn: pulumi.Output<string>;
  readonly nodeSecretArns: Record<string, pulumi.Output<string>>;
  /** Per declared login role (postgres.roles): the ARN of its password secret, never the value. */
  readonly roleSecretArns: Record<string, pulumi.Output<string>>;
  readonly caCertPem: pulumi.Output<string>;
  readonly bucketName: pulumi.Output<string>;
  /** backup.secondRepository: repo2's region and bucket (undefined: one repository). */
  readonly secondRepository?: { region: string; bucketName: pulumi.Output<string> };
  readonly privateIps: Record<string, string>;
  readonly instanceIds: Record<string, pulumi.Output<string>>;
  readonly bundleHashes: Record<string, string>;
  readonly loadBalancerDnsName?: pulumi.Output<string>;
  readonly zoneId: pulumi.Output<string>;
  readonly dynamicConfigHash: string;
  /** sha256 over every node's bundle hash: changes exactly when a rollout runs. */
  readonly rolloutTrigger: string;
  readonly vpcId: pulumi.Output<string>;
  /** monitoring.enabled: the SNS topic every alert goes to (Alertmanager's, the status-check alarms', the dead man's switch's). */
  readonly alertTopicArn?: pulumi.Output<string>;
  /** monitoring.enabled: where Prometheus and Alertmanager answer (the monitoring node's private address; from the allowed clients). */
  readonly monitoring?: { prometheusUrl: string; alertmanagerUrl: string };
  /**
   * The nodes' images: the node this update replaces with the stack's image (null: none), those
   * still on an older one (roll order), each node's AMI, and why — one node per `pulumi up`,
   * inside maintenance.window.
   */
  readonly images: pulumi.Output<{ rolling: string | null; olderImage: string[]; amis: Record<string, string>; reason: string }>;

  constructor(name: string, args: PostgresHaClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType("PostgresHaCluster"), name, {}, opts);
    const { spec } = args;
    const layout: Layout = ec2Layout(spec);
    // Validation first: nothing is registered when the cluster cannot be built. The config gate
    // (src/config/load/) has already run validateSpec on a spec from the stack config; this
    // covers a spec built any other way.
    const problems = validateSpec(spec);
    if (problems.length) throw new pulumi.ResourceError(formatProblems(problems, spec.stack), this, true);
    const rendered = renderAll(spec, layout);

    const child = { parent: this };
    const network = new Network(name, {
      tags: spec.tags,
      clusterName: spec.clusterName,
      stack: spec.stack,
      region: spec.region,
      vpcId: spec.network.createVpc ? undefined : spec.network.vpcId,
      vpcCidr: spec.network.vpcCidr,
      subnets: spec.network.subnets,
      allowedClientCidrs: spec.network.allowedClientCidrs,
      allowedClientSecurityGroupIds: spec.network.allowedClientSecurityGroupIds,
      networkLoadBalancer: spec.haproxy.networkLoadBalancer,
      synchronousReadOnly: spec.haproxy.synchronousReadOnly,
      pooler: spec.pooler.enabled,
      natGatewayPerZone: spec.tier === "prod",
      monitoring: spec.monitoring.enabled,
      replicationPeers: replicationPeers(spec),
    }, child);
    const certificates = new Map(nodeCertificateProfiles(spec, layout).map((p) => [p.name, p]));
    const secrets = new Secrets(name, {
      tags: spec.tags,
      clusterName: spec.clusterName,
      stack: spec.stack,
      kmsAliasName: spec.names.kmsAlias,
      clusterSecretName: spec.names.clusterSecret,
      // A standby cluster reads its primary's cluster secret, replicated to this region.
      ...(spec.standby ? { clusterSecretReplicated: { region: spec.region } } : {}),
      caCommonName: caCommonName(spec),
      nodes: spec.nodes.map((n) => ({ name: n.name, role: n.role, secretName: spec.names.nodeSecret[n.name], certificate: certificates.get(n.name)! })),
      renewBeforeDays: spec.tls.renewBeforeDays,
      repoEncryption: spec.backup.repoEncryption,
      credentialsVersion: spec.postgres.credentialsVersion,
      keepData: keepsData(spec),
      roles: loginRoles(spec.access).map((r) => ({
        name: r.name,
        secretName: r.secret,
        passwordVersion: r.passwordVersion,
        host: spec.serviceNames.readWrite,
        port: PORTS.readWrite,
        dbname: roleDatabase(spec.access, r),
      })),
    }, child);
    // What both regions' buckets share: the repository's path and the lifecycle settings.
    const bucketLayout = {
      repoPath: spec.backup.repoPath,
      logicalPrefix: spec.backup.logicalPrefix,
      logicalRetentionWeeks: spec.backup.logicalRetentionWeeks,
      logicalInfrequentAccessAfterDays: spec.backup.logicalInfrequentAccessAfterDays,
      noncurrentVersionRetentionDays: spec.backup.noncurrentVersionRetentionDays,
    };
    const bucket = new BackupBucket(name, {
      tags: spec.tags,
      bucketName: spec.backup.bucketName,
      kmsKeyArn: secrets.kmsKeyArn,
      ...bucketLayout,
      keepData: keepsData(spec),
    }, child);
    // backup.secondRepository: a copy of the repository in another region (S3 Replication).
    const secondRepo = spec.backup.repositories.find((r) => r.index === 2);
    const second = secondRepo
      ? new SecondRegionRepository(name, {
          tags: spec.tags,
          clusterName: spec.clusterName,
          stack: spec.stack,
          primaryRegion: spec.region,
          region: secondRepo.region,
          kmsAliasName: spec.names.kmsAlias,
          bucket: { bucketName: secondRepo.bucketName, ...bucketLayout },
          keepData: keepsData(spec),
          source: { bucketId: bucket.bucketId, bucketArn: bucket.bucketArn, kmsKeyArn: secrets.kmsKeyArn, repoPrefix: bucket.repoPrefix, ready: bucket.ready },
          catalogPrefix: spec.backup.catalogPrefix,
        }, child)
      : undefined;
    // monitoring.enabled: the topic first (the monitoring node's role names it), the alarms after the instances.
    const alertTopic = spec.monitoring.enabled
      ? new AlertTopic(name, {
          tags: spec.tags,
          clusterName: spec.clusterName,
          stack: spec.stack,
          topicName: spec.monitoring.topicName,
          kmsAliasName: `alias/${spec.monitoring.topicName}`,
          alertEmails: spec.monitoring.alertEmails,
          alertHttpsEndpoints: spec.monitoring.alertHttpsEndpoints,
          keepData: keepsData(spec),
        }, child)
      : undefined;
    const roles = new NodeRoles(name, {
      tags: spec.tags,
      clusterName: spec.clusterName,
      stack: spec.stack,
      region: spec.region,
      nodes: spec.nodes,
      kmsKeyArn: secrets.kmsKeyArn,
      nodeSecretArns: secrets.nodeSecretArns,
      clusterSecretArn: secrets.clusterSecretArn,
      roleSecretArns: Object.values(secrets.roleSecretArns),
      bucketArn: bucket.bucketArn,
      repoPrefix: bucket.repoPrefix,
      logicalPrefix: bucket.logicalPrefix,
      catalogPrefix: spec.backup.catalogPrefix,
      secondRepository: second ? { region: second.region, bucketArn: second.bucketArn, kmsKeyArn: second.kmsKeyArn, prefixes: second.prefixes } : undefined,
      // A standby cluster: the primary's copy (its SecondRegionRepository here), under the
      // primary's key alias, with the same prefixes (same cluster name, same repository path).
      primaryCopy: spec.standby
        ? {
            bucketName: spec.standby.repository.bucketName,
            kmsAliasName: primaryKmsAlias(spec),
            prefixes: replicatedPrefixes({ source: { repoPrefix: bucket.repoPrefix }, catalogPrefix: spec.backup.catalogPrefix }),
          }
        : undefined,
      // A cluster restored from another (restoreFrom): the source's repository and catalogue in its
      // bucket, under the source's key alias, and its cluster secret (the repository's passphrase).
      restoreSource: spec.restoreFrom
        ? {
            region: spec.restoreFrom.repository.region,
            bucketName: spec.restoreFrom.repository.bucketName,
            kmsAliasName: restoreSourceKmsAlias(spec),
            prefixes: restoreSourcePrefixes(spec),
            secretName: spec.restoreFrom.secretName,
          }
        : undefined,
      alerting: alertTopic ? { topicArn: alertTopic.topicArn, topicKeyArn: alertTopic.kmsKeyArn, heartbeatNamespace: spec.monitoring.heartbeat.namespace } : undefined,
    }, child);

    const bundles = new NodeBundles(name, {
      tags: spec.tags,
      clusterName: spec.clusterName,
      bundles: rendered,
      software: nodeSoftware(),
      bucketName: bucket.bucketName,
      kmsKeyArn: secrets.kmsKeyArn,
      bucketReady: bucket.ready,
    }, child);

    // A node boots only when its role can read its secrets (which have values) and its bundle
    // (which is in the bucket), it has a route to the internet, and — for PostgreSQL — the
    // backup bucket is fully configured.
    const bundlesByNode = Object.fromEntries(rendered.map((b) => [b.node, b]));
    const images = imageRollPlan(this, { nodes: spec.nodes, tags: spec.tags, window: spec.maintenance.window });
    const nodeGroup = (role: Role): NodeGroupArgs => ({
      tags: spec.tags,
      nodes: nodesOf(spec, role),
      subnets: network.subnets,
      securityGroupIds: network.securityGroupIds,
      kmsKeyArn: secrets.kmsKeyArn,
      instanceProfileNames: roles.instanceProfileNames,
      bundles: bundlesByNode,
      bootDependencies: (node: NodeSpec) => [
        ...roles.ready[node.name],
        bundles.pointers[node.name],
        secrets.nodeSecretVersions[node.name],
        ...(node.role === "postgres" ? [...(secrets.clusterSecretVersion ? [secrets.clusterSecretVersion] : []), ...bucket.ready, ...(second?.ready ?? [])] : []),
        ...network.egressReady,
      ],
      detailedMonitoring: spec.tier === "prod",
      amis: images.amis,
    });
    const etcd = new EtcdMembers(name, { ...nodeGroup("etcd"), region: spec.region }, child);
    const postgres = new PostgresNodes(name, { ...nodeGroup("postgres"), dataVolume: spec.postgres.dataVolume, keepData: keepsData(spec), region: spec.region }, child);
    const haproxy = new HaproxyNodes(name, {
      ...nodeGroup("haproxy"),
      vpcId: network.vpcId,
      networkLoadBalancer: spec.haproxy.networkLoadBalancer,
      synchronousReadOnly: spec.haproxy.synchronousReadOnly,
      pooler: spec.pooler.enabled,
      loadBalancerSecurityGroupId: network.securityGroupIds.loadBalancer,
    }, child);
    const monitor = nodesOf(spec, "monitor").length
      ? new MonitoringNode(name, {
          ...nodeGroup("monitor"),
          rootVolumeGiB: monitorRootVolumeGiB({ nodes: spec.nodes.length, scrapeIntervalSeconds: spec.monitoring.scrapeIntervalSeconds, retentionDays: spec.monitoring.retentionDays }),
        }, child)
      : undefined;
    const dns = new Dns(name, {
      tags: spec.tags,
      domain: spec.network.domain,
      clusterName: spec.clusterName,
      stack: spec.stack,
      region: spec.region,
      vpcId: network.vpcId,
      serviceNames: spec.serviceNames,
      nodes: spec.nodes,
      loadBalancer: haproxy.loadBalancer,
      associatedAcrossStacks: spec.standby?.associateZones === true || spec.standbyClusters.length > 0,
    }, child);
    // A standby cluster and its primary resolve each other's names (StandbyZones).
    if (spec.standby?.associateZones) {
      new StandbyZones(name, {
        primaryStackReference: `${pulumi.getOrganization()}/${pulumi.getProject()}/${spec.standby.primaryStack}`,
        region: spec.region,
        zoneId: dns.zoneId,
        vpcId: network.vpcId,
      }, child);
    }
    const nodes = mergeNodeGroups(postgres, etcd, haproxy, ...(monitor ? [monitor] : []));
    if (alertTopic) {
      new Alarms(name, {
        tags: spec.tags,
        topicArn: alertTopic.topicArn,
        instances: spec.nodes.map((n) => ({ node: n.name, instanceId: nodes.instanceIds[n.name] })),
        heartbeat: spec.monitoring.heartbeat,
        heartbeatAfter: monitor?.resources ?? [],
        replication: secondRepo ? { sourceBucket: spec.backup.bucketName, destinationBucket: secondRepo.bucketName, ruleIds: replicationRuleIds(secondRepo.region) } : undefined,
      }, child);
    }
    const rollout = new Rollout(name, {
      region: spec.region,
      nodes: spec.nodes.map((n) => ({ name: n.name, role: n.role, hash: bundles.bundleHashes[n.name], instanceId: nodes.instanceIds[n.name] })),
      // A rotated password (a role's, or the cluster's own) is in its secret before the nodes are asked to use it.
      dependsOn: [...nodes.resources, ...Object.values(bundles.pointers), ...Object.values(secrets.roleSecretVersions), ...(secrets.clusterSecretVersion ? [secrets.clusterSecretVersion] : [])],
      maintenanceWindow: spec.maintenance.window,
    }, child);

    this.spec = spec;
    this.endpoints = {
      readWrite: { host: dns.readWriteName, port: PORTS.readWrite },
      readOnly: { host: dns.readOnlyName, port: PORTS.readOnly },
      ...(spec.haproxy.synchronousReadOnly ? { synchronousReadOnly: { host: dns.readOnlyName, port: PORTS.synchronousReadOnly } } : {}),
      ...(spec.pooler.enabled
        ? { pooledReadWrite: { host: dns.readWriteName, port: PORTS.pooledReadWrite }, pooledReadOnly: { host: dns.readOnlyName, port: PORTS.pooledReadOnly } }
        : {}),
    };
    this.kmsKeyArn = secrets.kmsKeyArn;
    this.clusterSecretArn = secrets.clusterSecretArn;
    this.nodeSecretArns = secrets.nodeSecretArns;
    this.roleSecretArns = secrets.roleSecretArns;
    this.caCertPem = secrets.caCertPem;
    this.bucketName = bucket.bucketName;
    this.secondRepository = second ? { region: second.region, bucketName: second.bucketName } : undefined;
    this.privateIps = nodes.privateIps;
    this.instanceIds = nodes.instanceIds;
    this.bundleHashes = { ...bundles.bundleHashes };
    this.rolloutTrigger = rollout.trigger;
    this.loadBalancerDnsName = haproxy.loadBalancer?.dnsName;
    this.zoneId = dns.zoneId;
    this.dynamicConfigHash = sha256(JSON.stringify(dynamicConfig(spec, layout)));
    this.vpcId = network.vpcId;
    this.alertTopicArn = alertTopic?.topicArn;
    if (monitor) {
      const scheme = spec.tls.enabled ? "https" : "http";
      this.monitoring = {
        prometheusUrl: `${scheme}://${monitor.node.privateIp}:${PORTS.prometheus}`,
        alertmanagerUrl: `${scheme}://${monitor.node.privateIp}:${PORTS.alertmanager}`,
      };
    }
    this.images = images.apply((p) => ({ rolling: p.roll ?? null, olderImage: p.stale, amis: p.amis, reason: p.reason }));
    this.registerOutputs({
      images: this.images,
      endpoints: this.endpoints,
      kmsKeyArn: this.kmsKeyArn,
      clusterSecretArn: this.clusterSecretArn,
      nodeSecretArns: this.nodeSecretArns,
      roleSecretArns: this.roleSecretArns,
      bucketName: this.bucketName,
      secondRepository: this.secondRepository,
      privateIps: this.privateIps,
      instanceIds: this.instanceIds,
      bundleHashes: this.bundleHashes,
      loadBalancerDnsName: this.loadBalancerDnsName,
      zoneId: this.zoneId,
      dynamicConfigHash: this.dynamicConfigHash,
      rolloutTrigger: this.rolloutTrigger,
      alertTopicArn: this.alertTopicArn,
      monitoring: this.monitoring,
    });
  }
}
