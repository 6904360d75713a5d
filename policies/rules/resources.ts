// Resource policies: each looks at one resource's inputs (what `pulumi preview` sends the pack).
// Encryption at rest, EC2 hardening, open security groups, protection of stateful resources in
// prod, required tags.
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { T, TAG, configOf, isEnabled, onlyFor, tagsOf, tierTag, type ResourceArgs, type Tier } from "./common";
import { roleOf } from "./cluster";
import { statedTier } from "./intent";

/** The tier a resource belongs to: its pgha:tier tag, the stack config's tier, else prod. */
export function resourceTier(args: ResourceArgs): Tier {
  return tierTag(args.props) ?? statedTier() ?? "prod";
}

// ---------------------------------------------------------------------------------------------
// Encryption at rest

export const ebsEncrypted: ResourceValidationPolicy = {
  name: "ebs-encrypted",
  description: "Every EBS volume, instance root device and block device is encrypted at rest.",
  severity: "high",
  tags: ["encryption"],
  remediationSteps:
    "Set `encrypted: true` and `kmsKeyId: <the cluster key>` on aws.ebs.Volume; on aws.ec2.Instance set `rootBlockDevice: { encrypted: true, kmsKeyId }` and `encrypted: true` on every `ebsBlockDevices` entry.",
  validateResource: onlyFor([T.volume, T.instance, T.launchTemplate], (args, report) => {
    const p = args.props;
    if (args.type === T.volume) {
      if (p.encrypted !== true) report(`EBS volume ${args.name} is not encrypted (encrypted = ${JSON.stringify(p.encrypted ?? null)}).`);
      return;
    }
    if (args.type === T.instance) {
      const root = p.rootBlockDevice;
      if (!root || root.encrypted !== true) report(`instance ${args.name}: the root device is not encrypted (rootBlockDevice.encrypted = ${JSON.stringify(root?.encrypted ?? null)}).`);
      const devices = p.ebsBlockDevices ?? [];
      for (let i = 0; i < devices.length; i++) {
        if (devices[i].encrypted !== true) report(`instance ${args.name}: ebsBlockDevices[${i}] (${devices[i].deviceName}) is not encrypted.`);
      }
      return;
    }
    if (args.type === T.launchTemplate) {
      const mappings = p.blockDeviceMappings ?? [];
      for (let i = 0; i < mappings.length; i++) {
        const ebs = mappings[i].ebs;
        if (ebs && !isEnabled(ebs.encrypted)) report(`launch template ${args.name}: blockDeviceMappings[${i}] is not encrypted.`);
      }
    }
  }),
};

export const secretsKmsEncrypted: ResourceValidationPolicy = {
  name: "secrets-kms-encrypted",
  description: "Secrets Manager secrets are encrypted with the cluster's customer-managed KMS key.",
  severity: "high",
  tags: ["encryption"],
  remediationSteps: "Set `kmsKeyId` on aws.secretsmanager.Secret to the cluster key's ARN (not the AWS-managed aws/secretsmanager key).",
  validateResource: onlyFor([T.secret], (args, report) => {
    const key = args.props.kmsKeyId;
    if (typeof key !== "string" || key === "") report(`secret ${args.name} has no kmsKeyId: it is encrypted with the AWS-managed key, which every principal with secretsmanager access in the account can use.`);
    else if (/alias\/aws\/secretsmanager$/.test(key)) report(`secret ${args.name} uses the AWS-managed key ${key}; use the cluster's customer-managed key.`);
  }),
};

// ---------------------------------------------------------------------------------------------
// EC2

export const imdsv2Required: ResourceValidationPolicy = {
  name: "ec2-imdsv2-required",
  description: "Instances require IMDSv2 session tokens (no IMDSv1).",
  severity: "high",
  tags: ["ec2"],
  remediationSteps: 'Set `metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 }` on the instance.',
  validateResource: onlyFor([T.instance, T.launchTemplate], (args, report) => {
    const m = args.props.metadataOptions;
    if (m && m.httpEndpoint === "disabled") return; // no metadata service at all
    if (!m || m.httpTokens !== "required") report(`${args.name}: metadataOptions.httpTokens is ${JSON.stringify(m?.httpTokens ?? null)}, IMDSv1 stays open (SSRF can read the instance role's credentials).`);
  }),
};

export const noPublicIpOnDataNodes: ResourceValidationPolicy = {
  name: "ec2-no-public-ip",
  description: "PostgreSQL and etcd nodes have no public IP address.",
  severity: "critical",
  tags: ["ec2", "network"],
  remediationSteps: "Set `associatePublicIpAddress: false` on the instance and keep PostgreSQL/etcd nodes in private subnets (mapPublicIpOnLaunch false); clients reach the cluster through HAProxy/the internal NLB.",
  validateResource: onlyFor([T.instance], (args, report) => {
    const role = roleOf(args.props);
    if (role === "haproxy") args.notApplicable("HAProxy nodes are covered by the security-group rules");
    if (args.props.associatePublicIpAddress !== false) {
      report(`${role ?? "unidentified"} node ${args.name}: associatePublicIpAddress is ${JSON.stringify(args.props.associatePublicIpAddress ?? null)}; it must be false (unset means the subnet decides).`);
    }
  }),
};

export const instanceProfile: ResourceValidationPolicy = {
  name: "ec2-instance-profile",
  description: "Every instance has an instance profile (its role reads its secrets; no static keys on nodes).",
  severity: "medium",
  tags: ["ec2", "iam"],
  remediationSteps: "Give the instance `iamInstanceProfile` (the node's role: Secrets Manager, KMS, S3 for PostgreSQL nodes, SSM).",
  validateResource: onlyFor([T.instance], (args, report) => {
    const profile = args.props.iamInstanceProfile;
    if (typeof profile !== "string" || profile === "") report(`instance ${args.name} has no iamInstanceProfile.`);
  }),
};

export const detailedMonitoringProd: ResourceValidationPolicy = {
  name: "ec2-detailed-monitoring-prod",
  description: "Production instances have detailed (1-minute) CloudWatch monitoring.",
  severity: "low",
  tags: ["ec2", "prod"],
  remediationSteps: "Set `monitoring: true` on the instance (the program does it for tier prod).",
  validateResource: onlyFor([T.instance], (args, report) => {
    const tier = resourceTier(args);
    if (tier !== "prod") args.notApplicable(`tier ${tier}`);
    if (args.props.monitoring !== true) report(`prod instance ${args.name}: monitoring is ${JSON.stringify(args.props.monitoring ?? null)} (5-minute metrics hide a failover).`);
  }),
};

// ---------------------------------------------------------------------------------------------
// Security groups

/** SSH, etcd client/peer, HAProxy rw/ro, PostgreSQL, PgBouncer, HAProxy stats, Patroni REST API. */
export const SERVICE_PORTS = [22, 2379, 2380, 5000, 5001, 5432, 6432, 7000, 8008];

function isWorld(cidr: unknown): boolean {
  return typeof cidr === "string" && /\/0$/.test(cidr.trim());
}

/** The service ports a rule opens: all of them for protocol "-1"/"all", those in [from, to] for TCP. */
function portsOpened(protocol: unknown, from: unknown, to: unknown, ports: number[]): number[] {
  const proto = String(protocol ?? "").toLowerCase();
  if (proto === "-1" || proto === "all") return ports;
  if (proto !== "tcp" && proto !== "6") return [];
  const lo = typeof from === "number" ? from : Number(from);
  const hi = typeof to === "number" ? to : Number(to ?? from);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return ports; // a rule without ports opens everything
  if (lo <= 0 && hi <= 0) return ports;
  return ports.filter((p) => p >= lo && p <= hi);
}

interface SecurityGroupConfig {
  ports: number[];
}

export const noWorldIngressToServicePorts: ResourceValidationPolicy = {
  name: "security-group-no-world-ingress",
  description: "No ingress from 0.0.0.0/0 or ::/0 to SSH, etcd, HAProxy, PostgreSQL, PgBouncer, stats or Patroni ports (port ranges included).",
  severity: "critical",
  tags: ["network"],
  configSchema: {
    properties: { ports: { type: "array", items: { type: "integer" }, default: SERVICE_PORTS, description: "TCP ports that must never be open to the world" } },
  },
  remediationSteps:
    "Allow only the client networks (network.allowedClientCidrs / allowedClientSecurityGroupIds) or the cluster's own security groups; never a /0 CIDR. Check inline `ingress` of aws.ec2.SecurityGroup and aws.vpc.SecurityGroupIngressRule alike.",
  validateResource: onlyFor([T.ingressRule, T.securityGroup, T.securityGroupRule], (args, report) => {
    const { ports } = configOf<SecurityGroupConfig>(args, { ports: SERVICE_PORTS });
    const p = args.props;
    const check = (where: string, protocol: unknown, from: unknown, to: unknown, cidrs: unknown[]) => {
      const world = cidrs.filter(isWorld);
      if (!world.length) return;
      const open = portsOpened(protocol, from, to, ports);
      if (open.length) report(`${where}: ${world.join(", ")} may reach port${open.length > 1 ? "s" : ""} ${open.join(", ")} (protocol ${String(protocol)}, ports ${from ?? "*"}–${to ?? from ?? "*"}).`);
    };
    if (args.type === T.ingressRule) {
      check(`ingress rule ${args.name}`, p.ipProtocol, p.fromPort, p.toPort, [p.cidrIpv4, p.cidrIpv6]);
    } else if (args.type === T.securityGroup) {
      const ingress = p.ingress ?? [];
      for (let i = 0; i < ingress.length; i++) {
        const r = ingress[i];
        check(`security group ${args.name} ingress[${i}]`, r.protocol, r.fromPort, r.toPort, [...(r.cidrBlocks ?? []), ...(r.ipv6CidrBlocks ?? [])]);
      }
    } else if (args.type === T.securityGroupRule) {
      if (p.type !== "ingress") args.notApplicable("an egress rule");
      check(`security group rule ${args.name}`, p.protocol, p.fromPort, p.toPort, [...(p.cidrBlocks ?? []), ...(p.ipv6CidrBlocks ?? [])]);
    }
  }),
};

// ---------------------------------------------------------------------------------------------
// Promises: what prod keeps

export const statefulResourcesProtectedProd: ResourceValidationPolicy = {
  name: "prod-data-protected",
  description: "In prod the backup bucket, the data volumes and the cluster key are protected from deletion (protect, retainOnDelete, no forceDestroy, final snapshots).",
  severity: "critical",
  tags: ["prod", "data"],
  remediationSteps:
    "Give the resource `{ protect: true, retainOnDelete: true }` in prod; on the bucket leave `forceDestroy` false; on data volumes set `finalSnapshot: true`. (CrossGuard sees `protect` only; `pgha check` also sees retainOnDelete.)",
  validateResource: onlyFor([T.bucket, T.bucketV2, T.volume, T.kmsKey], (args, report) => {
    const kinds: Record<string, string> = { [T.bucket]: "backup bucket", [T.bucketV2]: "backup bucket", [T.volume]: "data volume", [T.kmsKey]: "cluster KMS key" };
    const kind = kinds[args.type];
    const tier = resourceTier(args);
    if (tier !== "prod") args.notApplicable(`tier ${tier}`);
    const opts = args.opts as typeof args.opts & { retainOnDelete?: boolean };
    if (!opts.protect) report(`${kind} ${args.name} is not protected: one \`pulumi destroy\` or a removed line deletes it.`);
    if (kind !== "cluster KMS key" && opts.retainOnDelete === false) report(`${kind} ${args.name} is not retained on delete (retainOnDelete).`);
    if (kind === "backup bucket" && args.props.forceDestroy === true) report(`backup bucket ${args.name} has forceDestroy: deleting it would empty it, every backup and WAL file with it.`);
    if (kind === "data volume" && args.props.finalSnapshot !== true) report(`data volume ${args.name} has no final snapshot (finalSnapshot = ${JSON.stringify(args.props.finalSnapshot ?? null)}).`);
  }),
};

// ---------------------------------------------------------------------------------------------
// Hygiene: tags

/** Types of this program that carry tags (what the AWS tag editor and cost reports see). */
export const TAGGABLE_TYPES = [
  "aws:ec2/vpc:Vpc", T.subnet, "aws:ec2/internetGateway:InternetGateway", "aws:ec2/routeTable:RouteTable", "aws:ec2/eip:Eip",
  "aws:ec2/natGateway:NatGateway", "aws:ec2/vpcEndpoint:VpcEndpoint", T.securityGroup, T.ingressRule, T.egressRule, T.instance,
  T.launchTemplate, T.volume, T.bucket, T.bucketV2, T.kmsKey, T.secret, "aws:iam/role:Role", "aws:iam/instanceProfile:InstanceProfile",
  "aws:lb/loadBalancer:LoadBalancer", "aws:lb/targetGroup:TargetGroup", "aws:lb/listener:Listener", "aws:route53/zone:Zone",
];

export const DEFAULT_REQUIRED_TAGS = ["Name", TAG.cluster, TAG.stack, TAG.tier];

interface RequiredTagsConfig {
  tags: string[];
}

export const requiredTags: ResourceValidationPolicy = {
  name: "required-tags",
  description: "Taggable resources carry the required tags (cluster, stack, tier, Name; more per environment in policy config).",
  severity: "low",
  tags: ["hygiene"],
  configSchema: {
    properties: { tags: { type: "array", items: { type: "string" }, default: DEFAULT_REQUIRED_TAGS, description: "tag keys every taggable resource must have" } },
  },
  remediationSteps: "Add the missing keys to the stack's `tags` config (every resource gets them), or tag the resource in its component with tagsFor(spec, name).",
  validateResource: onlyFor(TAGGABLE_TYPES, (args, report) => {
    const { tags: required } = configOf<RequiredTagsConfig>(args, { tags: DEFAULT_REQUIRED_TAGS });
    const tags = tagsOf(args.props);
    const missing = required.filter((k) => typeof tags[k] !== "string" || tags[k] === "");
    if (missing.length) report(`${args.name} lacks tag${missing.length > 1 ? "s" : ""} ${missing.join(", ")}.`);
  }),
};
