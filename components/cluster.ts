// PostgresHaCluster: the whole service from one ClusterSpec, composed in dependency order:
// network → secrets → backup bucket → node roles → node bundles (objects in the bucket) → etcd →
// PostgreSQL → HAProxy (+ NLB) → DNS → rollout (converges running nodes to changed bundles).
// The class is thin; each part is its own component.
import * as pulumi from "@pulumi/pulumi";
import { formatProblems, validateSpec } from "../src/config/load";
import { ec2Layout, type Layout } from "../src/layout";
import { PORTS, type ClusterSpec, type NodeSpec } from "../src/spec";
import { BackupBucket } from "./backupBucket";
import { componentType } from "./common";
import { Dns } from "./dns";
import { renderAll } from "../src/render/bundle";
import { nodeSoftware } from "../src/render/software";
import { dynamicConfig } from "../src/render/dynamic";
import { sha256 } from "../src/bundle/format";
import { NodeBundles } from "./nodeBundles";
import { Rollout } from "./rollout";
import { EtcdMembers } from "./etcdMembers";
import { HaproxyNodes } from "./haproxyNodes";
import type { NodeContext } from "./instance";
import { Network } from "./network";
import { NodeRoles } from "./nodeRoles";
import { PostgresNodes } from "./postgresNodes";
import { Secrets } from "./secrets";

/** How to reach a node and look at the cluster: SSM Session Manager, no SSH. */
export function sessionCommand(region: string, instanceId: string): string {
  return `aws ssm start-session --region ${region} --target ${instanceId}`;
}
/** The same, non-interactive: runs `sudo pgha-patronictl list` on the node and prints the table. */
export function patronictlListCommand(region: string, instanceId: string): string {
  return `${sessionCommand(region, instanceId)} --document-name AWS-StartInteractiveCommand --parameters command="sudo pgha-patronictl list"`;
}

export interface Endpoint {
  host: string;
  port: number;
}

export interface PostgresHaClusterArgs {
  spec: ClusterSpec;
}

export class PostgresHaCluster extends pulumi.ComponentResource {
  readonly spec: ClusterSpec;
  readonly endpoints: { readWrite: Endpoint; readOnly: Endpoint };
  readonly kmsKeyArn: pulumi.Output<string>;
  readonly clusterSecretArn: pulumi.Output<string>;
  readonly nodeSecretArns: Record<string, pulumi.Output<string>>;
  readonly caCertPem: pulumi.Output<string>;
  readonly bucketName: pulumi.Output<string>;
  readonly privateIps: Record<string, string>;
  readonly instanceIds: Record<string, pulumi.Output<string>>;
  readonly bundleHashes: Record<string, string>;
  readonly loadBalancerDnsName?: pulumi.Output<string>;
  readonly zoneId: pulumi.Output<string>;
  readonly dynamicConfigHash: string;
  /** sha256 over every node's bundle hash: changes exactly when a rollout runs. */
  readonly rolloutTrigger: string;
  readonly vpcId: pulumi.Output<string>;

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
    const network = new Network(name, { spec }, child);
    const secrets = new Secrets(name, { spec, layout }, child);
    const bucket = new BackupBucket(name, { spec, kmsKeyArn: secrets.kmsKeyArn }, child);
    const roles = new NodeRoles(name, {
      spec,
      kmsKeyArn: secrets.kmsKeyArn,
      nodeSecretArns: secrets.nodeSecretArns,
      clusterSecretArn: secrets.clusterSecretArn,
      bucketArn: bucket.bucketArn,
      repoPrefix: bucket.repoPrefix,
      logicalPrefix: bucket.logicalPrefix,
      catalogPrefix: spec.backup.catalogPrefix,
    }, child);

    const bundles = new NodeBundles(name, {
      spec,
      bundles: rendered,
      software: nodeSoftware(),
      bucketName: bucket.bucketName,
      kmsKeyArn: secrets.kmsKeyArn,
      bucketReady: bucket.ready,
    }, child);

    // A node boots only when its role can read its secrets (which have values) and its bundle
    // (which is in the bucket), it has a route to the internet, and — for PostgreSQL — the
    // backup bucket is fully configured.
    const context: NodeContext = {
      spec,
      layout,
      subnets: network.subnets,
      securityGroupIds: network.securityGroupIds,
      kmsKeyArn: secrets.kmsKeyArn,
      instanceProfileNames: roles.instanceProfileNames,
      bundles: Object.fromEntries(rendered.map((b) => [b.node, b])),
      bootDependencies: (node: NodeSpec) => [
        ...roles.ready[node.name],
        bundles.pointers[node.name],
        secrets.nodeSecretVersions[node.name],
        ...(node.role === "postgres" ? [secrets.clusterSecretVersion, ...bucket.ready] : []),
        ...network.egressReady,
      ],
    };
    const etcd = new EtcdMembers(name, { context }, child);
    const postgres = new PostgresNodes(name, { context }, child);
    const haproxy = new HaproxyNodes(name, { context, vpcId: network.vpcId, loadBalancerSecurityGroupId: network.securityGroupIds.loadBalancer }, child);
    const dns = new Dns(name, { spec, vpcId: network.vpcId, loadBalancer: haproxy.loadBalancer }, child);
    const instanceIds = { ...postgres.instanceIds, ...etcd.instanceIds, ...haproxy.instanceIds };
    const rollout = new Rollout(name, {
      region: spec.region,
      nodes: spec.nodes.map((n) => ({ name: n.name, role: n.role, hash: bundles.bundleHashes[n.name], instanceId: instanceIds[n.name] })),
      dependsOn: [...postgres.resources, ...etcd.resources, ...haproxy.resources, ...Object.values(bundles.pointers)],
    }, child);

    this.spec = spec;
    this.endpoints = {
      readWrite: { host: dns.readWriteName, port: PORTS.readWrite },
      readOnly: { host: dns.readOnlyName, port: PORTS.readOnly },
    };
    this.kmsKeyArn = secrets.kmsKeyArn;
    this.clusterSecretArn = secrets.clusterSecretArn;
    this.nodeSecretArns = secrets.nodeSecretArns;
    this.caCertPem = secrets.caCertPem;
    this.bucketName = bucket.bucketName;
    this.privateIps = { ...postgres.privateIps, ...etcd.privateIps, ...haproxy.privateIps };
    this.instanceIds = instanceIds;
    this.bundleHashes = { ...bundles.bundleHashes };
    this.rolloutTrigger = rollout.trigger;
    this.loadBalancerDnsName = haproxy.loadBalancer?.dnsName;
    this.zoneId = dns.zoneId;
    this.dynamicConfigHash = sha256(JSON.stringify(dynamicConfig(spec, layout)));
    this.vpcId = network.vpcId;
    this.registerOutputs({
      endpoints: this.endpoints,
      kmsKeyArn: this.kmsKeyArn,
      clusterSecretArn: this.clusterSecretArn,
      nodeSecretArns: this.nodeSecretArns,
      bucketName: this.bucketName,
      privateIps: this.privateIps,
      instanceIds: this.instanceIds,
      bundleHashes: this.bundleHashes,
      loadBalancerDnsName: this.loadBalancerDnsName,
      zoneId: this.zoneId,
      dynamicConfigHash: this.dynamicConfigHash,
      rolloutTrigger: this.rolloutTrigger,
    });
  }
}
