// Network: the VPC the nodes live in (created, or brought with network.vpcId) and the security
// groups that decide who may talk to whom. No SSH anywhere: people reach nodes with SSM Session
// Manager, which needs only outbound HTTPS from the node.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { PORTS, subnetSlice, type Role, type SubnetSpec } from "../src/spec";
import { componentType, tagsFor, throwIfInvalid, type TaggedArgs } from "./common";

/** A security group of the cluster: one per node role (the monitoring node's only with monitoring), plus the NLB's in prod. */
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
const GROUP_LABEL: Record<SecurityGroupRole, string> = { postgres: "db", etcd: "etcd", haproxy: "lb", monitor: "mon", loadBalancer: "nlb" };

/** Outbound to the internet through the NAT gateway: AWS APIs (HTTPS) and Debian's archive (HTTP, signed). */
export const INTERNET_EGRESS = [
  { port: 443, why: "AWS APIs (S3, Secrets Manager, KMS, SSM) and HTTPS mirrors" },
  { port: 80, why: "Debian's package archive (apt verifies signatures)" },
] as const;

/**
 * Every security-group rule of the cluster, as data (least privilege; tested rule by rule):
 *   db    ← db, lb          5432 (PostgreSQL), 8008 (Patroni REST API);  ← lb 6432 (PgBouncer, with the pooler)
 *   etcd  ← etcd            2379 (client), 2380 (peer);  ← db  2379
 *   lb    ← clients         5000/5001 (rw/ro), 7000 (stats);  in NLB mode 5000/5001 only ← nlb
 *   nlb   ← clients         5000/5001 (prod: the client allowlist is enforced at the NLB)
 *   (5002 like 5001 with the synchronous read endpoint; 6432/6433 like 5000/5001 with the pooler)
 * with monitoring (the monitoring node mon1, Prometheus and Alertmanager):
 *   db    ← mon             9100 (node exporter), 9187 (PostgreSQL exporter), 8008 (Patroni /metrics)
 *   etcd  ← mon             9100 (node exporter), 2379 (etcd /metrics)
 *   lb    ← mon             9100 (node exporter), 8405 (HAProxy's Prometheus exporter)
 *   mon   ← clients         9090 (Prometheus UI/API), 9093 (Alertmanager UI/API)
 *   mon   ← db, etcd, lb    19532 (central logs: each node's systemd-journal-upload to journal-remote)
 *   (no other group admits a metrics port: only mon scrapes, only the clients read mon)
 * with a cluster in another region (replicationPeers: a primary's standbyClusters, a standby's primary):
 *   lb (and nlb)  ← peer CIDRs  5000 (its leader streams through the read-write endpoint)
 *   db    → peer CIDRs       the peer's read-write port (a standby leader streams from its primary;
 *                            after a promotion the fenced old primary streams from the new one)
 * plus the matching egress rules, and 443/80 to the internet for every node (NAT). A rule that
 * another already makes (same group, direction, port and peer) is made once.
 */
export function securityRules(args: Pick<NetworkArgs, "allowedClientCidrs" | "allowedClientSecurityGroupIds" | "networkLoadBalancer" | "synchronousReadOnly" | "pooler" | "monitoring" | "replicationPeers">): SecurityRule[] {
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
  // With the pooler, HAProxy's pooled endpoints proxy to PgBouncer on the members.
  if (args.pooler) both("haproxy", PORTS.pgbouncer, "postgres", "PgBouncer via HAProxy");
  // etcd peers, and Patroni as an etcd client.
  both("etcd", PORTS.etcdClient, "etcd", "etcd client");
  both("etcd", PORTS.etcdPeer, "etcd", "etcd peer");
  both("postgres", PORTS.etcdClient, "etcd", "Patroni DCS (etcd client)");

  const clients: RulePeer[] = [
    ...args.allowedClientCidrs.map((cidr): RulePeer => ({ kind: "cidr", cidr, label: cidr.replace(/[./]/g, "-") })),
    ...args.allowedClientSecurityGroupIds.map((id): RulePeer => ({ kind: "externalGroup", securityGroupId: id })),
  ];
  const serviceTarget: SecurityGroupRole = args.networkLoadBalancer ? "loadBalancer" : "haproxy";
  const endpoints: [number, string][] = [
    [PORTS.readWrite, "read-write endpoint"],
    [PORTS.readOnly, "read-only endpoint"],
    ...(args.synchronousReadOnly ? [[PORTS.synchronousReadOnly, "synchronous read endpoint"] as [number, string]] : []),
    ...(args.pooler ? ([[PORTS.pooledReadWrite, "pooled read-write endpoint"], [PORTS.pooledReadOnly, "pooled read-only endpoint"]] as [number, string][]) : []),
  ];
  for (const [port, what] of endpoints) {
    for (const peer of clients) rules.push({ group: serviceTarget, direction: "ingress", port, peer, description: `${what} from allowed clients` });
    // The NLB forwards to HAProxy from its own addresses (client IP preservation off).
    if (serviceTarget === "loadBalancer") both("loadBalancer", port, "haproxy", `${what} via the NLB`);
  }
  for (const peer of clients) rules.push({ group: "haproxy", direction: "ingress", port: PORTS.haproxyStats, peer, description: "HAProxy stats page from allowed clients" });

  // The monitoring node scrapes every node's exporters (src/metrics/targets.ts: the same ports);
  // people and tools reach its Prometheus and Alertmanager from the client networks.
  if (args.monitoring) {
    both("monitor", PORTS.nodeExporter, "postgres", "node exporter scrape");
    both("monitor", PORTS.postgresExporter, "postgres", "PostgreSQL exporter scrape");
    both("monitor", PORTS.patroniRestApi, "postgres", "Patroni metrics scrape");
    both("monitor", PORTS.nodeExporter, "etcd", "node exporter scrape");
    both("monitor", PORTS.etcdClient, "etcd", "etcd metrics scrape");
    both("monitor", PORTS.nodeExporter, "haproxy", "node exporter scrape");
    both("monitor", PORTS.haproxyMetrics, "haproxy", "HAProxy metrics scrape");
    // Central logs: every node sends its journal to systemd-journal-remote on mon (HTTPS, client certificates).
    for (const group of ["postgres", "etcd", "haproxy"] as const) both(group, PORTS.journalRemote, "monitor", "journal upload");
    for (const peer of clients) {
      rules.push({ group: "monitor", direction: "ingress", port: PORTS.prometheus, peer, description: "Prometheus UI and API from allowed clients" });
      rules.push({ group: "monitor", direction: "ingress", port: PORTS.alertmanager, peer, description: "Alertmanager UI and API from allowed clients" });
    }
  }

  // Another region's cluster streams through the read-write endpoint (Patroni standby_cluster),
  // from its networks only; nothing else of this cluster is open to them.
  const peers = args.replicationPeers;
  if (peers) {
    for (const cidr of peers.cidrs) {
      const peer: RulePeer = { kind: "cidr", cidr, label: cidr.replace(/[./]/g, "-") };
      for (const group of [...(args.networkLoadBalancer ? (["loadBalancer"] as const) : []), "haproxy"] as const) {
        rules.push({ group, direction: "ingress", port: PORTS.readWrite, peer, description: `read-write endpoint from ${peers.what} (replication)` });
      }
      rules.push({ group: "postgres", direction: "egress", port: peers.port, peer, description: `replication from ${peers.what}'s read-write endpoint` });
    }
  }

  for (const group of ["postgres", "etcd", "haproxy", ...(args.monitoring ? (["monitor"] as const) : [])] as const) {
    for (const e of INTERNET_EGRESS) {
      rules.push({ group, direction: "egress", port: e.port, peer: { kind: "cidr", cidr: "0.0.0.0/0", label: "internet" }, description: e.why });
    }
  }
  // One rule per group, direction, port and peer (a peer CIDR may also be a client CIDR): AWS
  // refuses a duplicate, and the resource names would collide.
  const seen = new Set<string>();
  return rules.filter((r) => {
    const key = `${r.group}|${r.direction}|${r.port}|${r.peer.kind === "group" ? r.peer.role : r.peer.kind === "cidr" ? r.peer.cidr : r.peer.securityGroupId}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Public subnets (NAT gateways only) live in the VPC's last quarter, in eighths of it. */
export function publicSubnetCidr(vpcCidr: string, index: number): string {
  return subnetSlice(subnetSlice(vpcCidr, 2, 3), 3, index);
}

/** One NAT gateway per AZ with natGatewayPerZone (prod: an AZ outage must not cut the others off), one otherwise. */
export function natGatewayCount(args: Pick<NetworkArgs, "subnets" | "natGatewayPerZone">): number {
  return args.natGatewayPerZone ? args.subnets.length : 1;
}

export interface NodeSubnet {
  index: number;
  id: pulumi.Output<string>;
  cidr: string;
  availabilityZone: pulumi.Output<string>;
}

/** Network: where the nodes live and who may talk to them. */
export interface NetworkArgs extends TaggedArgs {
  /** The cluster's name (postgres-ha:clusterName): in the security groups' descriptions. */
  clusterName: string;
  /** The stack's name: in the security groups' descriptions and in the error naming its config file. */
  stack: string;
  /** The stack's region: the S3 gateway endpoint's service name, and the AZ lookup's error. */
  region: string;
  /**
   * An existing VPC to use (postgres-ha:network.vpcId). When set the component creates no VPC,
   * subnet, gateway, route or endpoint, and every subnet must carry its `id` and
   * `availabilityZone`. Default: a new VPC.
   */
  vpcId?: string;
  /** The new VPC's CIDR (postgres-ha:network.vpcCidr). Ignored with `vpcId`. */
  vpcCidr: string;
  /**
   * The node subnets, in order (ClusterSpec.network.subnets): `index` (0-based, nodes name it as
   * subnetIndex) and `cidr`; with `vpcId` also `id` and `availabilityZone`. A new VPC gets one
   * private subnet per entry, in the region's available AZs in order. At least one.
   */
  subnets: SubnetSpec[];
  /** CIDRs allowed to the rw/ro endpoints and the HAProxy stats page (postgres-ha:network.allowedClientCidrs). */
  allowedClientCidrs: string[];
  /** Security groups allowed to the same (postgres-ha:network.allowedClientSecurityGroupIds). */
  allowedClientSecurityGroupIds: string[];
  /**
   * Whether an internal NLB fronts HAProxy (postgres-ha:haproxy.networkLoadBalancer): adds the
   * NLB's security group, which then takes the clients' rw/ro traffic. Default false; prod: true.
   */
  networkLoadBalancer?: boolean;
  /** Open the synchronous read endpoint (5002) to the clients too (postgres-ha:haproxy.synchronousReadOnly). Default false. */
  synchronousReadOnly?: boolean;
  /** Open the pooled endpoints (6432/6433) to the clients and PgBouncer (6432) to HAProxy (postgres-ha:pooler.enabled). Default false. */
  pooler?: boolean;
  /** One NAT gateway per subnet's AZ instead of one for all. Default false; prod: true. Ignored with `vpcId`. */
  natGatewayPerZone?: boolean;
  /**
   * A monitoring node (postgres-ha:monitoring.enabled): adds its security group (`mon`), which
   * may scrape the nodes' metrics ports (9100 everywhere, 9187 and 8008 on PostgreSQL, 2379 on
   * etcd, 8405 on HAProxy) and admits the allowed clients to Prometheus (9090) and Alertmanager
   * (9093). Default false (dev); staging, prod: true.
   */
  monitoring?: boolean;
  /**
   * A cluster in another region that streams from this one through the read-write endpoint: a
   * primary's standby clusters (standbyClusters.*.cidrs), or a standby cluster's primary
   * (standby.cidrs; after a promotion the old primary streams from this one). Their CIDRs may
   * reach HAProxy's read-write port (5000; and the NLB's, with one), and the PostgreSQL members
   * may open `port` (the peer's read-write port) to them; nothing else. `what` names them in the
   * rules' descriptions. Default: none.
   */
  replicationPeers?: { cidrs: string[]; port: number; what: string };
}

/** Every problem of Network's arguments (empty when it can be built). */
export function validateNetworkArgs(args: NetworkArgs): string[] {
  const problems: string[] = [];
  if (args.subnets.length === 0) problems.push("subnets: at least one node subnet");
  for (const cidr of args.replicationPeers?.cidrs ?? []) {
    if (/\/0$/.test(cidr)) problems.push(`replicationPeers.cidrs: ${cidr} is the whole internet; name the other region's networks`);
  }
  args.subnets.forEach((s, i) => {
    if (s.index !== i) problems.push(`subnets[${i}].index: is ${s.index}, must be ${i} (nodes name subnets by position)`);
    if (args.vpcId !== undefined && (!s.id || !s.availabilityZone)) problems.push(`subnets[${i}]: with an existing VPC (vpcId) every subnet needs its id and availabilityZone`);
  });
  return problems;
}

export class Network extends pulumi.ComponentResource {
  readonly vpcId: pulumi.Output<string>;
  /** The node subnets, in the args' order (node.subnetIndex indexes this). */
  readonly subnets: NodeSubnet[];
  /** Per role: its security group (`monitor` only with `monitoring`, `loadBalancer` only with `networkLoadBalancer`). */
  readonly securityGroupIds: Record<SecurityGroupRole, pulumi.Output<string> | undefined> & Record<Exclude<Role, "monitor">, pulumi.Output<string>>;
  readonly natGatewayIds: pulumi.Output<string>[];
  /** What must exist before a node boots (its route to the internet for apt and AWS APIs). */
  readonly egressReady: pulumi.Resource[];

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType("Network"), name, {}, opts);
    throwIfInvalid(this, "Network", validateNetworkArgs(args));
    const built = args.vpcId === undefined ? createVpc(this, name, args) : existingVpc(args.vpcId, args.subnets);
    this.vpcId = built.vpcId;
    this.subnets = built.subnets;
    this.natGatewayIds = built.natGatewayIds;
    this.egressReady = built.egressReady;
    this.securityGroupIds = createSecurityGroups(this, name, args, this.vpcId);
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

function existingVpc(vpcId: string, subnets: SubnetSpec[]): BuiltVpc {
  return {
    vpcId: pulumi.output(vpcId),
    subnets: subnets.map((s) => ({
      index: s.index,
      id: pulumi.output(s.id!),
      cidr: s.cidr,
      availabilityZone: pulumi.output(s.availabilityZone!),
    })),
    natGatewayIds: [],
    egressReady: [],
  };
}

/** A new VPC: private node subnets at the given CIDRs, small public subnets for the NAT gateways. */
function createVpc(parent: pulumi.Resource, name: string, args: NetworkArgs): BuiltVpc {
  const opts = { parent };
  const wanted = args.subnets.length;
  const zones = aws
    .getAvailabilityZonesOutput({ state: "available", filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }] }, opts)
    .apply((z) => {
      if (z.names.length < wanted) {
        throw new pulumi.ResourceError(
          `postgres-ha:network.availabilityZones = ${wanted}, but region ${args.region} offers only ${z.names.length} ` +
            `(${z.names.join(", ")}); set a smaller value in Pulumi.${args.stack}.yaml`,
          parent,
          true,
        );
      }
      return z.names;
    });
  const azOf = (i: number) => zones.apply((names) => names[i]);

  const vpc = new aws.ec2.Vpc(`${name}-vpc`, {
    cidrBlock: args.vpcCidr,
    enableDnsSupport: true,
    enableDnsHostnames: true,
    tags: tagsFor(args, `${name}-vpc`),
  }, opts);
  const vpcOpts = { parent: vpc };

  const subnets = args.subnets.map((s) => {
    const subnet = new aws.ec2.Subnet(`${name}-private-${s.index + 1}`, {
      vpcId: vpc.id,
      cidrBlock: s.cidr,
      availabilityZone: azOf(s.index),
      mapPublicIpOnLaunch: false,
      tags: tagsFor(args, `${name}-private-${s.index + 1}`, { "pgha:tier": "private" }),
    }, vpcOpts);
    return { index: s.index, id: subnet.id, cidr: s.cidr, availabilityZone: subnet.availabilityZone, resource: subnet };
  });

  const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: tagsFor(args, `${name}-igw`) }, vpcOpts);
  const publicRouteTable = new aws.ec2.RouteTable(`${name}-public`, { vpcId: vpc.id, tags: tagsFor(args, `${name}-public`) }, vpcOpts);
  const internetRoute = new aws.ec2.Route(`${name}-public-default`, {
    routeTableId: publicRouteTable.id,
    destinationCidrBlock: "0.0.0.0/0",
    gatewayId: igw.id,
  }, { parent: publicRouteTable });

  const natCount = natGatewayCount(args);
  const egressReady: pulumi.Resource[] = [];
  const natGateways = Array.from({ length: natCount }, (_, i) => {
    const publicSubnet = new aws.ec2.Subnet(`${name}-public-${i + 1}`, {
      vpcId: vpc.id,
      cidrBlock: publicSubnetCidr(args.vpcCidr, i),
      availabilityZone: azOf(i),
      mapPublicIpOnLaunch: false,
      tags: tagsFor(args, `${name}-public-${i + 1}`, { "pgha:tier": "public" }),
    }, vpcOpts);
    new aws.ec2.RouteTableAssociation(`${name}-public-${i + 1}`, { subnetId: publicSubnet.id, routeTableId: publicRouteTable.id }, { parent: publicSubnet });
    const eip = new aws.ec2.Eip(`${name}-nat-${i + 1}`, { domain: "vpc", tags: tagsFor(args, `${name}-nat-${i + 1}`) }, { parent: publicSubnet });
    return new aws.ec2.NatGateway(`${name}-nat-${i + 1}`, {
      allocationId: eip.id,
      subnetId: publicSubnet.id,
      connectivityType: "public",
      tags: tagsFor(args, `${name}-nat-${i + 1}`),
    }, { parent: publicSubnet, dependsOn: [internetRoute] });
  });

  // One private route table per NAT gateway; subnet i uses the NAT in its own AZ when there is one.
  const privateRouteTables = natGateways.map((nat, i) => {
    const rt = new aws.ec2.RouteTable(`${name}-private-${i + 1}`, { vpcId: vpc.id, tags: tagsFor(args, `${name}-private-${i + 1}`) }, vpcOpts);
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
    serviceName: `com.amazonaws.${args.region}.s3`,
    vpcEndpointType: "Gateway",
    routeTableIds: privateRouteTables.map((rt) => rt.id),
    tags: tagsFor(args, `${name}-s3`),
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

function createSecurityGroups(parent: pulumi.Resource, name: string, args: NetworkArgs, vpcId: pulumi.Output<string>): Network["securityGroupIds"] {
  const roles: SecurityGroupRole[] = [
    "postgres", "etcd", "haproxy",
    ...(args.monitoring ? (["monitor"] as const) : []),
    ...(args.networkLoadBalancer ? (["loadBalancer"] as const) : []),
  ];
  const purpose: Record<SecurityGroupRole, string> = {
    postgres: "PostgreSQL/Patroni members",
    etcd: "etcd members",
    haproxy: "HAProxy nodes",
    monitor: "monitoring node (Prometheus, Alertmanager)",
    loadBalancer: "internal NLB of the rw/ro endpoints",
  };
  const groups = {} as Record<SecurityGroupRole, aws.ec2.SecurityGroup>;
  for (const role of roles) {
    const sgName = `${name}-${GROUP_LABEL[role]}`;
    groups[role] = new aws.ec2.SecurityGroup(sgName, {
      vpcId,
      description: `postgres-ha ${args.clusterName}/${args.stack}: ${purpose[role]}`,
      // The groups reference each other: revoke the rules first so they can be deleted.
      revokeRulesOnDelete: true,
      tags: tagsFor(args, sgName, { "pgha:role": role }),
    }, { parent });
  }
  for (const rule of securityRules(args)) {
    const group = groups[rule.group];
    const ruleName = `${name}-${GROUP_LABEL[rule.group]}-${rule.direction === "ingress" ? "in" : "out"}-${rule.port}-${peerLabel(rule.peer)}`;
    const peer =
      rule.peer.kind === "group"
        ? { referencedSecurityGroupId: groups[rule.peer.role].id }
        : rule.peer.kind === "cidr"
          ? { cidrIpv4: rule.peer.cidr }
          : { referencedSecurityGroupId: rule.peer.securityGroupId };
    const ruleArgs = {
      securityGroupId: group.id,
      ipProtocol: "tcp",
      fromPort: rule.port,
      toPort: rule.port,
      description: rule.description,
      tags: tagsFor(args, ruleName),
      ...peer,
    };
    if (rule.direction === "ingress") new aws.vpc.SecurityGroupIngressRule(ruleName, ruleArgs, { parent: group });
    else new aws.vpc.SecurityGroupEgressRule(ruleName, ruleArgs, { parent: group });
  }
  return {
    postgres: groups.postgres.id,
    etcd: groups.etcd.id,
    haproxy: groups.haproxy.id,
    monitor: groups.monitor?.id,
    loadBalancer: groups.loadBalancer?.id,
  };
}
