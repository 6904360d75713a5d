// Dns: the private hosted zone network.domain, associated with the cluster's VPC:
//   rw.<cluster>.<domain>, ro.<cluster>.<domain>   → the NLB (alias) in prod, else the HAProxy nodes
//   <node>.<cluster>.<domain>                       → each node's fixed private address
// The names match the node certificates' SANs (src/tls/profile.ts), so clients can verify-full.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { nodesOf, type ClusterSpec } from "../src/spec";
import { componentType, tagsFor } from "./common";
import type { LoadBalancerEndpoint } from "./haproxyNodes";

/** Short TTL on the service names: a replaced HAProxy node is picked up quickly. */
export const SERVICE_RECORD_TTL = 30;
export const NODE_RECORD_TTL = 300;

export function nodeFqdn(spec: ClusterSpec, node: string): string {
  return `${node}.${spec.clusterName}.${spec.network.domain}`;
}

export interface DnsArgs {
  spec: ClusterSpec;
  vpcId: pulumi.Input<string>;
  /** The NLB in front of HAProxy; without it the service names list the HAProxy nodes. */
  loadBalancer?: Pick<LoadBalancerEndpoint, "dnsName" | "zoneId">;
}

export class Dns extends pulumi.ComponentResource {
  readonly zoneId: pulumi.Output<string>;
  readonly readWriteName: string;
  readonly readOnlyName: string;
  /** Node name → its FQDN in the zone. */
  readonly nodeNames: Record<string, string>;

  constructor(name: string, args: DnsArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType("Dns"), name, {}, opts);
    const { spec } = args;
    const haproxies = nodesOf(spec, "haproxy");
    if (!args.loadBalancer && haproxies.length === 0) throw new pulumi.ResourceError("Dns: the service names need an NLB or HAProxy nodes (postgres-ha:haproxy.nodes ≥ 1)", this, true);

    const zone = new aws.route53.Zone(`${name}-zone`, {
      name: spec.network.domain,
      comment: `postgres-ha ${spec.clusterName}/${spec.stack}`,
      vpcs: [{ vpcId: args.vpcId, vpcRegion: spec.region }],
      // The zone holds only records this program manages.
      forceDestroy: true,
      tags: tagsFor(spec, `${name}-zone`),
    }, { parent: this });
    const child = { parent: zone };

    const service = (label: string, fqdn: string) =>
      args.loadBalancer
        ? new aws.route53.Record(`${name}-${label}`, {
            zoneId: zone.zoneId,
            name: fqdn,
            type: "A",
            aliases: [{ name: args.loadBalancer.dnsName, zoneId: args.loadBalancer.zoneId, evaluateTargetHealth: true }],
          }, child)
        : new aws.route53.Record(`${name}-${label}`, {
            zoneId: zone.zoneId,
            name: fqdn,
            type: "A",
            ttl: SERVICE_RECORD_TTL,
            records: haproxies.map((n) => n.privateIp),
          }, child);
    service("rw", spec.serviceNames.readWrite);
    service("ro", spec.serviceNames.readOnly);

    this.nodeNames = {};
    for (const node of spec.nodes) {
      const fqdn = nodeFqdn(spec, node.name);
      new aws.route53.Record(`${name}-${node.name}`, { zoneId: zone.zoneId, name: fqdn, type: "A", ttl: NODE_RECORD_TTL, records: [node.privateIp] }, child);
      this.nodeNames[node.name] = fqdn;
    }
    this.zoneId = zone.zoneId;
    this.readWriteName = spec.serviceNames.readWrite;
    this.readOnlyName = spec.serviceNames.readOnly;
    this.registerOutputs({ zoneId: this.zoneId, readWriteName: this.readWriteName, readOnlyName: this.readOnlyName, nodeNames: this.nodeNames });
  }
}
