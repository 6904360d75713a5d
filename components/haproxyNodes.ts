// HaproxyNodes: the HAProxy nodes (lb1…lbN) that route clients to the leader (:5000) and to the
// replicas (:5001) using Patroni's health endpoints, and — when haproxy.networkLoadBalancer is on
// (prod) — the internal NLB in front of them: one TCP listener per endpoint, target groups of the
// HAProxy instances, cross-zone load balancing, and the client allowlist on the NLB's own
// security group (targets see the NLB's addresses: client IP preservation off).
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { PORTS, nodesOf, type ClusterSpec } from "../src/spec";
import { componentType, tagsFor } from "./common";
import { amiLookup, createNodeInstance, type NodeContext } from "./instance";

/** NLB idle timeout for TCP flows: as long as HAProxy's client/server timeouts (30 min). */
export const NLB_TCP_IDLE_TIMEOUT_SECONDS = 1800;

export interface LoadBalancerEndpoint {
  arn: pulumi.Output<string>;
  dnsName: pulumi.Output<string>;
  zoneId: pulumi.Output<string>;
}

export interface HaproxyNodesArgs {
  context: NodeContext;
  vpcId: pulumi.Input<string>;
  /** Security group of the NLB (required when spec.haproxy.networkLoadBalancer). */
  loadBalancerSecurityGroupId?: pulumi.Input<string>;
}

export class HaproxyNodes extends pulumi.ComponentResource {
  readonly instanceIds: Record<string, pulumi.Output<string>>;
  readonly privateIps: Record<string, string>;
  readonly bundleHashes: Record<string, string>;
  readonly resources: pulumi.Resource[];
  /** The internal NLB, when the spec asks for one. */
  readonly loadBalancer?: LoadBalancerEndpoint;

  constructor(name: string, args: HaproxyNodesArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType("HaproxyNodes"), name, {}, opts);
    const ctx = args.context;
    const { spec } = ctx;
    const nodes = nodesOf(spec, "haproxy");
    if (nodes.length === 0) throw new pulumi.ResourceError("HaproxyNodes: the spec has no HAProxy node (postgres-ha:haproxy.nodes ≥ 1)", this, true);
    if (spec.haproxy.networkLoadBalancer && !args.loadBalancerSecurityGroupId) throw new pulumi.ResourceError("HaproxyNodes: the NLB needs its security group (Network with haproxy.networkLoadBalancer)", this, true);
    const ami = amiLookup(this);
    this.instanceIds = {};
    this.privateIps = {};
    this.bundleHashes = {};
    this.resources = [];
    const instances: { node: string; instance: aws.ec2.Instance }[] = [];
    for (const node of nodes) {
      const { instance, bundleHash } = createNodeInstance(this, name, node, ctx, ami(node.instanceType));
      this.instanceIds[node.name] = instance.id;
      this.privateIps[node.name] = node.privateIp;
      this.bundleHashes[node.name] = bundleHash;
      this.resources.push(instance);
      instances.push({ node: node.name, instance });
    }
    if (spec.haproxy.networkLoadBalancer) {
      this.loadBalancer = createInternalNlb(this, name, spec, {
        subnetIds: ctx.subnets.map((s) => s.id),
        securityGroupId: args.loadBalancerSecurityGroupId!,
        vpcId: args.vpcId,
        instances,
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
}

function createInternalNlb(parent: pulumi.Resource, name: string, spec: ClusterSpec, i: NlbInputs): LoadBalancerEndpoint {
  const lb = new aws.lb.LoadBalancer(`${name}-nlb`, {
    internal: true,
    loadBalancerType: "network",
    ipAddressType: "ipv4",
    subnets: i.subnetIds,
    // Security groups can only be given when an NLB is created: set from the start.
    securityGroups: [i.securityGroupId],
    enableCrossZoneLoadBalancing: true,
    tags: tagsFor(spec, `${name}-nlb`),
  }, { parent });
  const endpoints = [
    { label: "rw", port: PORTS.readWrite },
    { label: "ro", port: PORTS.readOnly },
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
      tags: tagsFor(spec, `${name}-${e.label}`),
    }, { parent: lb });
    new aws.lb.Listener(`${name}-${e.label}`, {
      loadBalancerArn: lb.arn,
      port: e.port,
      protocol: "TCP",
      tcpIdleTimeoutSeconds: NLB_TCP_IDLE_TIMEOUT_SECONDS,
      defaultActions: [{ type: "forward", targetGroupArn: targetGroup.arn }],
      tags: tagsFor(spec, `${name}-${e.label}`),
    }, { parent: lb });
    for (const { node, instance } of i.instances) {
      new aws.lb.TargetGroupAttachment(`${name}-${e.label}-${node}`, { targetGroupArn: targetGroup.arn, targetId: instance.id, port: e.port }, { parent: targetGroup });
    }
  }
  return { arn: lb.arn, dnsName: lb.dnsName, zoneId: lb.zoneId };
}
