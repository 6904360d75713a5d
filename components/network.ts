// Network: the VPC the nodes live in (created, or brought with network.vpcId) and the security
// groups that decide who may talk to whom. No SSH anywhere: people reach nodes with SSM Session
// Manager, which needs only outbound HTTPS from the node.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { PORTS, subnetSlice, type ClusterSpec, type Role } from "../src/spec";
import { componentType, tagsFor } from "./common";

/** A security group of the cluster: one per node role, plus the NLB's in prod. */
export type SecurityGroupRole = Role | "loadBalancer";

/** Where a rule's traffic comes from (ingress) or goes to (egress). */
export type RulePeer =
  | { kind: "group"; role: SecurityGroupRole }
  | { kind: "cidr"; cidr: string; label: string }
  | { kind: "externalGroup"; securityGroupId: string };

export interface SecurityRule {
  group: SecurityGroupRole;
  direction: "ingress" | "egress";
  port: number;
  peer: RulePeer;
  description: string;
}

/** Short names used in resource names and descriptions. */
const GROUP_LABEL: Record<SecurityGroupRole, string> = { postgres: "db", etcd: "etcd", haproxy: "lb", loadBalancer: "nlb" };

/** Outbound to the internet through the NAT gateway: AWS APIs (HTTPS) and Debian's archive (HTTP, signed). */
export const INTERNET_EGRESS = [
  { port: 443, why: "AWS APIs (S3, Secrets Manager, KMS, SSM) and HTTPS mirrors" },
  { port: 80, why: "Debian's package archive (apt verifies signatures)" },
] as const;

/**
 * Every security-group rule of the cluster, as data (least privilege; tested rule by rule):
 *   db    ← db, lb          5432 (PostgreSQL), 8008 (Patroni REST API)
 *   etcd  ← etcd            2379 (client), 2380 (peer);  ← db  2379
 *   lb    ← clients         5000/5001 (rw/ro), 7000 (stats);  in NLB mode 5000/5001 only ← nlb
 *   nlb   ← clients         5000/5001 (prod: the client allowlist is enforced at the NLB)
 * plus the matching egress rules, and 443/80 to the internet for every node (NAT).
 */
export function securityRules(spec: ClusterSpec): SecurityRule[] {
  const rules: SecurityRule[] = [];
  const both = (group: SecurityGroupRole, port: number, to: SecurityGroupRole, what: string) => {
    rules.push({ group: to, direction: "ingress", port, peer: { kind: "group", role: group }, description: `${what} from ${GROUP_LABEL[group]} nodes` });
    rules.push({ group, direction: "egress", port, peer: { kind: "group", role: to }, description: `${what} to ${GROUP_LABEL[to]} nodes` });
  };
  // PostgreSQL members replicate from each other and call each other's REST API (pg_rewind, status).
  both("postgres", PORTS.postgres, "postgres", "PostgreSQL replication");
  both("postgres", PORTS.patroniRestApi, "postgres", "Patroni REST API");
  // HAProxy proxies to PostgreSQL and health-checks Patroni (GET /primary, /replica).
  both("haproxy", PORTS.postgres, "postgres", "PostgreSQL via HAProxy");
  both("haproxy", PORTS.patroniRestApi, "postgres", "Patroni health checks");
  // etcd peers, and Patroni as an etcd client.
  both("etcd", PORTS.etcdClient, "etcd", "etcd client");
  both("etcd", PORTS.etcdPeer, "etcd", "etcd peer");
  both("postgres", PORTS.etcdClient, "etcd", "Patroni DCS (etcd client)");

  const clients: RulePeer[] = [
    ...spec.network.allowedClientCidrs.map((cidr): RulePeer => ({ kind: "cidr", cidr, label: cidr.replace(/[./]/g, "-") })),
    ...spec.network.allowedClientSecurityGroupIds.map((id): RulePeer => ({ kind: "externalGroup", securityGroupId: id })),
  ];
  const serviceTarget: SecurityGroupRole = spec.haproxy.networkLoadBalancer ? "loadBalancer" : "haproxy";
  for (const port of [PORTS.readWrite, PORTS.readOnly]) {
    const what = port === PORTS.readWrite ? "read-write endpoint" : "read-only endpoint";
    for (const peer of clients) rules.push({ group: serviceTarget, direction: "ingress", port, peer, description: `${what} from allowed clients` });
    // The NLB forwards to HAProxy from its own addresses (client IP preservation off).
    if (serviceTarget === "loadBalancer") both("loadBalancer", port, "haproxy", `${what} via the NLB`);
  }
  for (const peer of clients) rules.push({ group: "haproxy", direction: "ingress", port: PORTS.haproxyStats, peer, description: "HAProxy stats page from allowed clients" });

  for (const group of ["postgres", "etcd", "haproxy"] as const) {
    for (const e of INTERNET_EGRESS) {
      rules.push({ group, direction: "egress", port: e.port, peer: { kind: "cidr", cidr: "0.0.0.0/0", label: "internet" }, description: e.why });
    }
  }
  return rules;
}

/** Public subnets (NAT gateways only) live in the VPC's last quarter, in eighths of it. */
export function publicSubnetCidr(vpcCidr: string, index: number): string {
  return subnetSlice(subnetSlice(vpcCidr, 2, 3), 3, index);
}

/** One NAT gateway per AZ in prod (an AZ outage must not cut the others off), one otherwise. */
export function natGatewayCount(spec: ClusterSpec): number {
  return spec.tier === "prod" ? spec.network.subnets.length : 1;
}

export interface NodeSubnet {
  index: number;
  id: pulumi.Output<string>;
  cidr: string;
  availabilityZone: pulumi.Output<string>;
}

export interface NetworkArgs {
  spec: ClusterSpec;
}

export class Network extends pulumi.ComponentResource {
  readonly vpcId: pulumi.Output<string>;
  /** The node subnets, in the spec's order (node.subnetIndex indexes this). */
  readonly subnets: NodeSubnet[];
  readonly securityGroupIds: Record<SecurityGroupRole, pulumi.Output<string> | undefined> & Record<Role, pulumi.Output<string>>;
  readonly natGatewayIds: pulumi.Output<string>[];
  /** What must exist before a node boots (its route to the internet for apt and AWS APIs). */
  readonly egressReady: pulumi.Resource[];

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType("Network"), name, {}, opts);
    const { spec } = args;
    const built = spec.network.createVpc ? createVpc(this, name, spec) : existingVpc(spec);
    this.vpcId = built.vpcId;
    this.subnets = built.subnets;
    this.natGatewayIds = built.natGatewayIds;
    this.egressReady = built.egressReady;
    this.securityGroupIds = createSecurityGroups(this, name, spec, this.vpcId);
    this.registerOutputs({
      vpcId: this.vpcId,
      subnetIds: this.subnets.map((s) => s.id),
      securityGroupIds: this.securityGroupIds,
      natGatewayIds: this.natGatewayIds,
    });
  }
}

interface BuiltVpc {
  vpcId: pulumi.Output<string>;
  subnets: NodeSubnet[];
  natGatewayIds: pulumi.Output<string>[];
  egressReady: pulumi.Resource[];
}

function existingVpc(spec: ClusterSpec): BuiltVpc {
  return {
    vpcId: pulumi.output(spec.network.vpcId!),
    subnets: spec.network.subnets.map((s) => ({
      index: s.index,
      id: pulumi.output(s.id!),
      cidr: s.cidr,
      availabilityZone: pulumi.output(s.availabilityZone!),
    })),
    natGatewayIds: [],
    egressReady: [],
  };
}

/** A new VPC: private node subnets at the spec's CIDRs, small public subnets for the NAT gateways. */
function createVpc(parent: pulumi.Resource, name: string, spec: ClusterSpec): BuiltVpc {
  const opts = { parent };
  const wanted = spec.network.subnets.length;
  const zones = aws
    .getAvailabilityZonesOutput({ state: "available", filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }] }, opts)
    .apply((z) => {
      if (z.names.length < wanted) {
        throw new pulumi.ResourceError(
          `postgres-ha:network.availabilityZones = ${wanted}, but region ${spec.region} offers only ${z.names.length} ` +
            `(${z.names.join(", ")}); set a smaller value in Pulumi.${spec.stack}.yaml`,
          parent,
          true,
        );
      }
      return z.names;
    });
  const azOf = (i: number) => zones.apply((names) => names[i]);

  const vpc = new aws.ec2.Vpc(`${name}-vpc`, {
    cidrBlock: spec.network.vpcCidr,
    enableDnsSupport: true,
    enableDnsHostnames: true,
    tags: tagsFor(spec, `${name}-vpc`),
  }, opts);
  const vpcOpts = { parent: vpc };

  const subnets = spec.network.subnets.map((s) => {
    const subnet = new aws.ec2.Subnet(`${name}-private-${s.index + 1}`, {
      vpcId: vpc.id,
      cidrBlock: s.cidr,
      availabilityZone: azOf(s.index),
      mapPublicIpOnLaunch: false,
      tags: tagsFor(spec, `${name}-private-${s.index + 1}`, { "pgha:tier": "private" }),
    }, vpcOpts);
    return { index: s.index, id: subnet.id, cidr: s.cidr, availabilityZone: subnet.availabilityZone, resource: subnet };
  });

  const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: tagsFor(spec, `${name}-igw`) }, vpcOpts);
  const publicRouteTable = new aws.ec2.RouteTable(`${name}-public`, { vpcId: vpc.id, tags: tagsFor(spec, `${name}-public`) }, vpcOpts);
  const internetRoute = new aws.ec2.Route(`${name}-public-default`, {
    routeTableId: publicRouteTable.id,
    destinationCidrBlock: "0.0.0.0/0",
    gatewayId: igw.id,
  }, { parent: publicRouteTable });

  const natCount = natGatewayCount(spec);
  const egressReady: pulumi.Resource[] = [];
  const natGateways = Array.from({ length: natCount }, (_, i) => {
    const publicSubnet = new aws.ec2.Subnet(`${name}-public-${i + 1}`, {
      vpcId: vpc.id,
      cidrBlock: publicSubnetCidr(spec.network.vpcCidr, i),
      availabilityZone: azOf(i),
      mapPublicIpOnLaunch: false,
      tags: tagsFor(spec, `${name}-public-${i + 1}`, { "pgha:tier": "public" }),
    }, vpcOpts);
    new aws.ec2.RouteTableAssociation(`${name}-public-${i + 1}`, { subnetId: publicSubnet.id, routeTableId: publicRouteTable.id }, { parent: publicSubnet });
    const eip = new aws.ec2.Eip(`${name}-nat-${i + 1}`, { domain: "vpc", tags: tagsFor(spec, `${name}-nat-${i + 1}`) }, { parent: publicSubnet });
    return new aws.ec2.NatGateway(`${name}-nat-${i + 1}`, {
      allocationId: eip.id,
      subnetId: publicSubnet.id,
      connectivityType: "public",
      tags: tagsFor(spec, `${name}-nat-${i + 1}`),
    }, { parent: publicSubnet, dependsOn: [internetRoute] });
  });

  // One private route table per NAT gateway; subnet i uses the NAT in its own AZ when there is one.
  const privateRouteTables = natGateways.map((nat, i) => {
    const rt = new aws.ec2.RouteTable(`${name}-private-${i + 1}`, { vpcId: vpc.id, tags: tagsFor(spec, `${name}-private-${i + 1}`) }, vpcOpts);
    egressReady.push(new aws.ec2.Route(`${name}-private-${i + 1}-default`, {
      routeTableId: rt.id,
      destinationCidrBlock: "0.0.0.0/0",
      natGatewayId: nat.id,
    }, { parent: rt }));
    return rt;
  });
  for (const s of subnets) {
    const rt = privateRouteTables[s.index < privateRouteTables.length ? s.index : 0];
    egressReady.push(new aws.ec2.RouteTableAssociation(`${name}-private-${s.index + 1}`, { subnetId: s.id, routeTableId: rt.id }, { parent: s.resource }));
  }
  // pgBackRest and the logical dumps reach S3 without the NAT (no per-GB NAT charge on backups).
  egressReady.push(new aws.ec2.VpcEndpoint(`${name}-s3`, {
    vpcId: vpc.id,
    serviceName: `com.amazonaws.${spec.region}.s3`,
    vpcEndpointType: "Gateway",
    routeTableIds: privateRouteTables.map((rt) => rt.id),
    tags: tagsFor(spec, `${name}-s3`),
  }, vpcOpts));

  return {
    vpcId: vpc.id,
    subnets: subnets.map(({ resource: _r, ...s }) => s),
    natGatewayIds: natGateways.map((n) => n.id),
    egressReady,
  };
}

function peerLabel(peer: RulePeer): string {
  switch (peer.kind) {
    case "group":
      return GROUP_LABEL[peer.role];
    case "cidr":
      return peer.label;
    case "externalGroup":
      return peer.securityGroupId;
  }
}

function createSecurityGroups(parent: pulumi.Resource, name: string, spec: ClusterSpec, vpcId: pulumi.Output<string>): Network["securityGroupIds"] {
  const roles: SecurityGroupRole[] = ["postgres", "etcd", "haproxy", ...(spec.haproxy.networkLoadBalancer ? (["loadBalancer"] as const) : [])];
  const purpose: Record<SecurityGroupRole, string> = {
    postgres: "PostgreSQL/Patroni members",
    etcd: "etcd members",
    haproxy: "HAProxy nodes",
    loadBalancer: "internal NLB of the rw/ro endpoints",
  };
  const groups = {} as Record<SecurityGroupRole, aws.ec2.SecurityGroup>;
  for (const role of roles) {
    const sgName = `${name}-${GROUP_LABEL[role]}`;
    groups[role] = new aws.ec2.SecurityGroup(sgName, {
      vpcId,
      description: `postgres-ha ${spec.clusterName}/${spec.stack}: ${purpose[role]}`,
      // The groups reference each other: revoke the rules first so they can be deleted.
      revokeRulesOnDelete: true,
      tags: tagsFor(spec, sgName, { "pgha:role": role }),
    }, { parent });
  }
  for (const rule of securityRules(spec)) {
    const group = groups[rule.group];
    const ruleName = `${name}-${GROUP_LABEL[rule.group]}-${rule.direction === "ingress" ? "in" : "out"}-${rule.port}-${peerLabel(rule.peer)}`;
    const peer =
      rule.peer.kind === "group"
        ? { referencedSecurityGroupId: groups[rule.peer.role].id }
        : rule.peer.kind === "cidr"
          ? { cidrIpv4: rule.peer.cidr }
          : { referencedSecurityGroupId: rule.peer.securityGroupId };
    const args = {
      securityGroupId: group.id,
      ipProtocol: "tcp",
      fromPort: rule.port,
      toPort: rule.port,
      description: rule.description,
      tags: tagsFor(spec, ruleName),
      ...peer,
    };
    if (rule.direction === "ingress") new aws.vpc.SecurityGroupIngressRule(ruleName, args, { parent: group });
    else new aws.vpc.SecurityGroupEgressRule(ruleName, args, { parent: group });
  }
  return {
    postgres: groups.postgres.id,
    etcd: groups.etcd.id,
    haproxy: groups.haproxy.id,
    loadBalancer: groups.loadBalancer?.id,
  };
}
