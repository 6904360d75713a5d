// HaproxyNodes: the HAProxy nodes (lb1…lbN) that route clients to the leader (:5000) and to the
// replicas (:5001) using Patroni's health endpoints, and — when haproxy.networkLoadBalancer is on
// (prod) — the internal NLB in front of them: one TCP listener per endpoint, target groups of the
// HAProxy instances, cross-zone load balancing, and the client allowlist on the NLB's own
// security group (targets see the NLB's addresses: client IP preservation off).
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { PORTS } from "../src/spec";
import { componentType, tagsFor, throwIfInvalid, type TaggedArgs } from "./common";
import { createNodeGroup, validateNodeGroupArgs, type NodeGroupArgs } from "./instance";

/** NLB idle timeout for TCP flows: as long as HAProxy's client/server timeouts (30 min). */
export const NLB_TCP_IDLE_TIMEOUT_SECONDS = 1800;

export interface LoadBalancerEndpoint {
  arn: pulumi.Output<string>;
  dnsName: pulumi.Output<string>;
  zoneId: pulumi.Output<string>;
}

/** HaproxyNodes: `nodes` are the HAProxy nodes (role `haproxy`, lb1…lbN). */
export interface HaproxyNodesArgs extends NodeGroupArgs {
  /** The VPC of the NLB's target groups. Ignored without `networkLoadBalancer`. */
  vpcId: pulumi.Input<string>;
  /**
   * Put an internal NLB in front of the HAProxy nodes (one TCP listener per endpoint, 5000 and
   * 5001, across `subnets`). Default false (dev, staging: the DNS names list the nodes); prod: true.
   */
  networkLoadBalancer?: boolean;
  /** The NLB's security group (Network.securityGroupIds.loadBalancer). Required with `networkLoadBalancer`, else ignored. */
  loadBalancerSecurityGroupId?: pulumi.Input<string>;
  /** The NLB also listens on the synchronous read endpoint's port, 5002 (postgres-ha:haproxy.synchronousReadOnly). Default false. */
  synchronousReadOnly?: boolean;
  /** The NLB also listens on the pooled endpoints' ports, 6432 and 6433 (postgres-ha:pooler.enabled). Default false. */
  pooler?: boolean;
}

/** Every problem of HaproxyNodes' arguments (empty when it can be built). */
export function validateHaproxyNodesArgs(args: HaproxyNodesArgs): string[] {
  const problems = validateNodeGroupArgs("haproxy", args);
  if (args.networkLoadBalancer && !args.loadBalancerSecurityGroupId) problems.push("loadBalancerSecurityGroupId: the NLB needs its security group (Network with networkLoadBalancer)");
  return problems;
}

export class HaproxyNodes extends pulumi.ComponentResource {
  readonly instanceIds: Record<string, pulumi.Output<string>>;
  readonly privateIps: Record<string, string>;
  readonly bundleHashes: Record<string, string>;
  readonly resources: pulumi.Resource[];
  /** The internal NLB, when the args ask for one. */
  readonly loadBalancer?: LoadBalancerEndpoint;

  constructor(name: string, args: HaproxyNodesArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType("HaproxyNodes"), name, {}, opts);
    throwIfInvalid(this, "HaproxyNodes", validateHaproxyNodesArgs(args));
    const group = createNodeGroup(this, name, args);
    this.instanceIds = group.instanceIds;
    this.privateIps = group.privateIps;
    this.bundleHashes = group.bundleHashes;
    this.resources = group.resources;
    if (args.networkLoadBalancer) {
      this.loadBalancer = createInternalNlb(this, name, args, {
        subnetIds: args.subnets.map((s) => s.id),
        securityGroupId: args.loadBalancerSecurityGroupId!,
        vpcId: args.vpcId,
        instances: group.instances.map(({ node, instance }) => ({ node: node.name, instance })),
        synchronousReadOnly: args.synchronousReadOnly ?? false,
        pooler: args.pooler ?? false,
      });
    }
    this.registerOutputs({
      instanceIds: this.instanceIds,
      privateIps: this.privateIps,
      bundleHashes: this.bundleHashes,
      loadBalancerDnsName: this.loadBalancer?.dnsName,
    });
  }
}

interface NlbInputs {
  subnetIds: pulumi.Input<string>[];
  securityGroupId: pulumi.Input<string>;
  vpcId: pulumi.Input<string>;
  instances: { node: string; instance: aws.ec2.Instance }[];
  synchronousReadOnly: boolean;
  pooler: boolean;
}

function createInternalNlb(parent: pulumi.Resource, name: string, base: TaggedArgs, i: NlbInputs): LoadBalancerEndpoint {
  const lb = new aws.lb.LoadBalancer(`${name}-nlb`, {
    internal: true,
    loadBalancerType: "network",
    ipAddressType: "ipv4",
    subnets: i.subnetIds,
    // Security groups can only be given when an NLB is created: set from the start.
    securityGroups: [i.securityGroupId],
    enableCrossZoneLoadBalancing: true,
    tags: tagsFor(base, `${name}-nlb`),
  }, { parent });
  const endpoints = [
    { label: "rw", port: PORTS.readWrite },
    { label: "ro", port: PORTS.readOnly },
    ...(i.synchronousReadOnly ? [{ label: "sync", port: PORTS.synchronousReadOnly }] : []),
    ...(i.pooler ? [{ label: "pooled-rw", port: PORTS.pooledReadWrite }, { label: "pooled-ro", port: PORTS.pooledReadOnly }] : []),
  ];
  for (const e of endpoints) {
    const targetGroup = new aws.lb.TargetGroup(`${name}-${e.label}`, {
      port: e.port,
      protocol: "TCP",
      targetType: "instance",
      vpcId: i.vpcId,
      preserveClientIp: "false",
      // Close connections to a deregistered HAProxy at once instead of leaving them hanging.
      connectionTermination: true,
      deregistrationDelay: 10,
      healthCheck: {
        enabled: true,
        protocol: "TCP",
        port: "traffic-port",
        interval: 10,
        healthyThreshold: 2,
        unhealthyThreshold: 2,
      },
      tags: tagsFor(base, `${name}-${e.label}`),
    }, { parent: lb });
    new aws.lb.Listener(`${name}-${e.label}`, {
      loadBalancerArn: lb.arn,
      port: e.port,
      protocol: "TCP",
      tcpIdleTimeoutSeconds: NLB_TCP_IDLE_TIMEOUT_SECONDS,
      defaultActions: [{ type: "forward", targetGroupArn: targetGroup.arn }],
      tags: tagsFor(base, `${name}-${e.label}`),
    }, { parent: lb });
    for (const { node, instance } of i.instances) {
      new aws.lb.TargetGroupAttachment(`${name}-${e.label}-${node}`, { targetGroupArn: targetGroup.arn, targetId: instance.id, port: e.port }, { parent: targetGroup });
    }
  }
  return { arn: lb.arn, dnsName: lb.dnsName, zoneId: lb.zoneId };
}
