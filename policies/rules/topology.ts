// Topology (stack policies): how many members of each role there are and over how many AZs —
// what decides whether the cluster survives one node or one AZ.
import type { StackValidationPolicy } from "@pulumi/policy";
import { configOf, type PolicyResource, type StackArgs } from "./common";
import { clusterFacts, nodesWithRole, type ClusterFacts, type NodeFacts } from "./cluster";

function requireCluster(args: StackArgs): ClusterFacts {
  const facts = clusterFacts(args.resources);
  if (!facts.nodes.some((n) => n.role)) args.notApplicable("no PostgreSQL, etcd or HAProxy node in the stack");
  return facts;
}

/** Distinct AZs of the nodes; nodes whose AZ cannot be told are returned apart. */
function zones(nodes: NodeFacts[], subnetZones: Record<string, string>): { zones: Set<string>; unknown: NodeFacts[] } {
  const out = new Set<string>();
  const unknown: NodeFacts[] = [];
  for (const n of nodes) {
    let az = n.availabilityZone;
    if (!az) {
      const subnetId = n.resource.props.subnetId;
      if (typeof subnetId === "string") az = subnetZones[subnetId];
    }
    if (az) out.add(az);
    else unknown.push(n);
  }
  return { zones: out, unknown };
}

const names = (nodes: NodeFacts[]) => nodes.map((n) => n.name).join(", ");
const first = (nodes: NodeFacts[], resources: PolicyResource[]) => nodes[0]?.resource.urn ?? resources[0]?.urn;

interface TopologyConfig {
  /** subnet id → AZ, for subnets this stack does not manage (a brought VPC). */
  subnetAvailabilityZones: Record<string, string>;
}
const topologySchema = {
  properties: {
    subnetAvailabilityZones: {
      type: "object" as const,
      additionalProperties: { type: "string" as const },
      description: "AZ of each subnet the stack does not create (network.vpcId + network.subnets)",
    },
  },
};

function unknownZones(unknown: NodeFacts[]): string {
  return `the AZ of ${names(unknown)} cannot be told (their subnets are not managed by this stack): set subnetAvailabilityZones in the policy config`;
}

export const etcdQuorum: StackValidationPolicy = {
  name: "etcd-quorum",
  description: "etcd has an odd number of members; outside dev at least 3, spread over at least 3 AZs.",
  severity: "critical",
  tags: ["topology"],
  configSchema: topologySchema,
  remediationSteps:
    "Set `etcd.nodes` to 3 or 5 and `network.availabilityZones` to 3 (one member per AZ): a quorum of 2 out of 3 survives losing one member or one AZ.",
  validateStack: (args, report) => {
    const facts = requireCluster(args);
    const { subnetAvailabilityZones } = configOf<TopologyConfig>(args, { subnetAvailabilityZones: {} });
    const etcd = nodesWithRole(facts, "etcd");
    const urn = first(etcd, args.resources);
    const n = etcd.length;
    if (n === 0) {
      report("no etcd member: Patroni has no DCS, so no leader election and no automatic failover.", urn);
      return;
    }
    if (n % 2 === 0) report(`${n} etcd members (${names(etcd)}): an even count tolerates no more failures than ${n - 1} and can split evenly.`, urn);
    if (facts.tier === "dev") return;
    if (n < 3) report(`${n} etcd member${n > 1 ? "s" : ""} in tier ${facts.tier}: one failure stops leader elections; at least 3 are needed.`, urn);
    const z = zones(etcd, subnetAvailabilityZones);
    if (z.unknown.length) report(`etcd: ${unknownZones(z.unknown)}.`, z.unknown[0].resource.urn);
    else if (z.zones.size < 3) report(`etcd members span ${z.zones.size} AZ${z.zones.size > 1 ? "s" : ""} (${[...z.zones].join(", ")}); losing one AZ must leave a majority: use 3.`, urn);
  },
};

interface PostgresSpreadConfig extends TopologyConfig {
  minimumAvailabilityZones?: number;
}

export const postgresSpread: StackValidationPolicy = {
  name: "postgres-az-spread",
  description: "PostgreSQL members span at least 2 AZs (3 in prod); dev's single node is exempt.",
  severity: "high",
  tags: ["topology"],
  configSchema: {
    properties: {
      ...topologySchema.properties,
      minimumAvailabilityZones: { type: "integer", minimum: 1, description: "AZs the PostgreSQL members must span (default 2; 3 in prod)" },
    },
  },
  remediationSteps: "Set `postgres.nodes` ≥ 3 and `network.availabilityZones` 3: members are placed round-robin over the AZs' subnets.",
  validateStack: (args, report) => {
    const facts = requireCluster(args);
    if (facts.tier === "dev") args.notApplicable("dev runs a single PostgreSQL node");
    const cfg = configOf<PostgresSpreadConfig>(args, { subnetAvailabilityZones: {} });
    const needed = cfg.minimumAvailabilityZones ?? (facts.tier === "prod" ? 3 : 2);
    const pg = nodesWithRole(facts, "postgres");
    const urn = first(pg, args.resources);
    if (pg.length < needed) {
      report(`${pg.length} PostgreSQL member${pg.length === 1 ? "" : "s"} (${names(pg) || "none"}) in tier ${facts.tier}: ${needed} AZs need at least ${needed} members.`, urn);
      return;
    }
    const z = zones(pg, cfg.subnetAvailabilityZones);
    if (z.unknown.length) report(`PostgreSQL: ${unknownZones(z.unknown)}.`, z.unknown[0].resource.urn);
    else if (z.zones.size < needed) report(`PostgreSQL members span ${z.zones.size} AZ${z.zones.size > 1 ? "s" : ""} (${[...z.zones].join(", ")}); tier ${facts.tier} needs ${needed}.`, urn);
  },
};

interface HaproxyConfig extends TopologyConfig {
  minimumNodes: number;
}

export const haproxyRedundancyProd: StackValidationPolicy = {
  name: "haproxy-redundancy-prod",
  description: "Prod runs at least 2 HAProxy nodes, in different AZs.",
  severity: "high",
  tags: ["topology", "prod"],
  configSchema: {
    properties: { ...topologySchema.properties, minimumNodes: { type: "integer", minimum: 1, default: 2, description: "HAProxy nodes prod needs" } },
  },
  remediationSteps: "Set `haproxy.nodes` to 2 or more (behind the internal NLB: `haproxy.networkLoadBalancer: true`).",
  validateStack: (args, report) => {
    const facts = requireCluster(args);
    if (facts.tier !== "prod") args.notApplicable(`tier ${facts.tier}`);
    const cfg = configOf<HaproxyConfig>(args, { subnetAvailabilityZones: {}, minimumNodes: 2 });
    const lb = nodesWithRole(facts, "haproxy");
    const urn = first(lb, args.resources);
    if (lb.length < cfg.minimumNodes) {
      report(`${lb.length} HAProxy node${lb.length === 1 ? "" : "s"} in prod: one failure cuts every client off; at least ${cfg.minimumNodes} are needed.`, urn);
      return;
    }
    const z = zones(lb, cfg.subnetAvailabilityZones);
    if (z.unknown.length) report(`HAProxy: ${unknownZones(z.unknown)}.`, z.unknown[0].resource.urn);
    else if (z.zones.size < 2) report(`the HAProxy nodes (${names(lb)}) all sit in ${[...z.zones].join(", ")}: one AZ outage cuts every client off.`, urn);
  },
};
