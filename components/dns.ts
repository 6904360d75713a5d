// Dns: the private hosted zone network.domain, associated with the cluster's VPC:
//   rw.<cluster>.<domain>, ro.<cluster>.<domain>   → the NLB (alias) in prod, else the HAProxy nodes
//   <node>.<cluster>.<domain>                       → each node's fixed private address
// The names match the node certificates' SANs (src/tls/profile.ts), so clients can verify-full.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { NodeSpec } from "../src/spec";
import { componentType, tagsFor, throwIfInvalid, type TaggedArgs } from "./common";
import type { LoadBalancerEndpoint } from "./haproxyNodes";

/** Short TTL on the service names: a replaced HAProxy node is picked up quickly. */
export const SERVICE_RECORD_TTL = 30;
export const NODE_RECORD_TTL = 300;

/** A node's name in the zone: `<node>.<cluster>.<domain>` (its certificate carries the same). */
export function nodeFqdn(args: Pick<DnsArgs, "clusterName" | "domain">, node: string): string {
  return `${node}.${args.clusterName}.${args.domain}`;
}

/** Dns: the private hosted zone with the service names and one name per node. */
export interface DnsArgs extends TaggedArgs {
  /** The zone's domain (postgres-ha:network.domain), private to the VPC. */
  domain: string;
  /** The cluster's name: node names are `<node>.<cluster>.<domain>`. */
  clusterName: string;
  /** The stack's name: in the zone's comment. */
  stack: string;
  /** The VPC's region (the zone's VPC association). */
  region: string;
  /** The VPC the zone is private to (Network.vpcId). */
  vpcId: pulumi.Input<string>;
  /** The rw/ro service names (ClusterSpec.serviceNames, inside `domain`; the certificates' SANs). */
  serviceNames: { readWrite: string; readOnly: string };
  /** Every node: one A record at its fixed address (TTL NODE_RECORD_TTL); HAProxy nodes back the service names without an NLB. */
  nodes: Pick<NodeSpec, "name" | "role" | "privateIp">[];
  /** The NLB in front of HAProxy: the service names alias it. Default: none (A records of the HAProxy nodes, TTL SERVICE_RECORD_TTL). */
  loadBalancer?: Pick<LoadBalancerEndpoint, "dnsName" | "zoneId">;
  /**
   * Another stack associates this zone with its VPC, or this zone's stack associates another's
   * (a standby cluster and its primary: StandbyZones): the zone then ignores VPC associations it
   * did not make (ignoreChanges on vpcs), or each update would remove them. Default false.
   */
  associatedAcrossStacks?: boolean;
}

/** Every problem of Dns's arguments (empty when it can be built). */
export function validateDnsArgs(args: DnsArgs): string[] {
  const problems: string[] = [];
  if (!args.loadBalancer && !args.nodes.some((n) => n.role === "haproxy")) problems.push("nodes: the service names need an NLB or HAProxy nodes (postgres-ha:haproxy.nodes ≥ 1)");
  for (const [key, fqdn] of Object.entries(args.serviceNames)) {
    if (!fqdn.endsWith(`.${args.domain}`)) problems.push(`serviceNames.${key}: ${fqdn} is not inside the zone ${args.domain}`);
  }
  return problems;
}

export class Dns extends pulumi.ComponentResource {
  readonly zoneId: pulumi.Output<string>;
  readonly readWriteName: string;
  readonly readOnlyName: string;
  /** Node name → its FQDN in the zone. */
  readonly nodeNames: Record<string, string>;

  constructor(name: string, args: DnsArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType("Dns"), name, {}, opts);
    throwIfInvalid(this, "Dns", validateDnsArgs(args));
    const haproxies = args.nodes.filter((n) => n.role === "haproxy");

    const zone = new aws.route53.Zone(`${name}-zone`, {
      name: args.domain,
      comment: `postgres-ha ${args.clusterName}/${args.stack}`,
      vpcs: [{ vpcId: args.vpcId, vpcRegion: args.region }],
      // The zone holds only records this program manages.
      forceDestroy: true,
      tags: tagsFor(args, `${name}-zone`),
    }, { parent: this, ...(args.associatedAcrossStacks ? { ignoreChanges: ["vpcs"] } : {}) });
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
    service("rw", args.serviceNames.readWrite);
    service("ro", args.serviceNames.readOnly);

    this.nodeNames = {};
    for (const node of args.nodes) {
      const fqdn = nodeFqdn(args, node.name);
      new aws.route53.Record(`${name}-${node.name}`, { zoneId: zone.zoneId, name: fqdn, type: "A", ttl: NODE_RECORD_TTL, records: [node.privateIp] }, child);
      this.nodeNames[node.name] = fqdn;
    }
    this.zoneId = zone.zoneId;
    this.readWriteName = args.serviceNames.readWrite;
    this.readOnlyName = args.serviceNames.readOnly;
    this.registerOutputs({ zoneId: this.zoneId, readWriteName: this.readWriteName, readOnlyName: this.readOnlyName, nodeNames: this.nodeNames });
  }
}
