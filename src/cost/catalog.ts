// What each resource type the program registers costs: a rule that turns one registered resource
// (its type and inputs) into priced items, or the reason it is free. A type with neither is an
// error (UnpricedResourceError) — a new resource can never silently cost 0.
//
// Rules read only the inputs they price (instanceType, volume size/IOPS/throughput, monitoring,
// the load balancer's and endpoint's type, tags): under CrossGuard other inputs may be unknown at
// preview, and reading them would throw.
import type { AssumptionValues } from "./assumptions";
import { ec2Hourly, MissingPriceError, type RegionPrices } from "./prices";

/** A registered resource as the estimator needs it (a recorded run's or a policy's resource). */
export interface CostResource {
  type: string;
  name: string;
  /** false for component resources (they are groupings, not cloud resources). Default: true. */
  custom?: boolean;
  inputs: Record<string, any>;
}

/** One priced quantity; the estimator sums items with the same key into a line. */
export interface CostItem {
  key: string;
  resource: string;
  type: string;
  unit: string;
  unitPrice: number;
  quantity: number;
  assumption?: string;
}

export class UnpricedResourceError extends MissingPriceError {}

export interface RuleContext {
  region: string;
  prices: RegionPrices;
  assumptions: AssumptionValues;
}

type Rule = (r: CostResource, ctx: RuleContext) => CostItem[];

export const GP3_FREE_IOPS = 3000;
export const GP3_FREE_MIBPS = 125;

/** gp3 storage, IOPS and throughput above the free baseline, for a root or data volume. */
function gp3Items(ctx: RuleContext, r: CostResource, kind: "root" | "data", v: { volumeType?: unknown; size?: unknown; iops?: unknown; throughput?: unknown }): CostItem[] {
  const volumeType = v.volumeType ?? "gp3";
  if (volumeType !== "gp3") throw new UnpricedResourceError(`${r.name} (${r.type}): no price for EBS volume type ${String(volumeType)} in src/cost/prices.ts (gp3 only)`);
  const size = Number(v.size);
  if (!Number.isFinite(size) || size <= 0) throw new UnpricedResourceError(`${r.name} (${r.type}): its ${kind} volume has no size to price (${String(v.size)})`);
  const p = ctx.prices.ebsGp3;
  const label = `${kind} volumes`;
  const items: CostItem[] = [{ key: `ebs-gp3-gb-${kind}`, resource: `EBS gp3 storage (${label})`, type: r.type, unit: "GB-month", unitPrice: p.gbMonth, quantity: size }];
  const iops = Number(v.iops ?? GP3_FREE_IOPS);
  if (iops > GP3_FREE_IOPS) items.push({ key: `ebs-gp3-iops-${kind}`, resource: `EBS gp3 IOPS above ${GP3_FREE_IOPS} (${label})`, type: r.type, unit: "IOPS-month", unitPrice: p.iopsMonth, quantity: iops - GP3_FREE_IOPS });
  const mibps = Number(v.throughput ?? GP3_FREE_MIBPS);
  if (mibps > GP3_FREE_MIBPS) items.push({ key: `ebs-gp3-mibps-${kind}`, resource: `EBS gp3 throughput above ${GP3_FREE_MIBPS} MiB/s (${label})`, type: r.type, unit: "MiB/s-month", unitPrice: p.mibpsMonth, quantity: mibps - GP3_FREE_MIBPS });
  return items;
}

const monthly = (ctx: RuleContext, hourly: number) => hourly * ctx.assumptions.hoursPerMonth;

export const PRICED: Record<string, Rule> = {
  "aws:ec2/instance:Instance": (r, ctx) => {
    const it = String(r.inputs.instanceType);
    const items: CostItem[] = [
      { key: `ec2-${it}`, resource: `EC2 ${it}`, type: r.type, unit: "instance-month", unitPrice: monthly(ctx, ec2Hourly(ctx.region, it)), quantity: 1 },
    ];
    const root = r.inputs.rootBlockDevice ?? {};
    items.push(...gp3Items(ctx, r, "root", { volumeType: root.volumeType, size: root.volumeSize ?? 8, iops: root.iops, throughput: root.throughput }));
    if (r.inputs.monitoring === true) items.push({ key: "detailed-monitoring", resource: "EC2 detailed monitoring (7 metrics)", type: r.type, unit: "instance-month", unitPrice: ctx.prices.detailedMonitoringInstanceMonth, quantity: 1 });
    return items;
  },
  "aws:ebs/volume:Volume": (r, ctx) => gp3Items(ctx, r, "data", { volumeType: r.inputs.type, size: r.inputs.size, iops: r.inputs.iops, throughput: r.inputs.throughput }),
  "aws:ec2/natGateway:NatGateway": (r, ctx) => [
    { key: "nat-hours", resource: "NAT gateway", type: r.type, unit: "gateway-month", unitPrice: monthly(ctx, ctx.prices.natGateway.hourly), quantity: 1 },
    {
      key: "nat-data", resource: "NAT gateway data processed", type: r.type, unit: "GB", unitPrice: ctx.prices.natGateway.perGbProcessed,
      quantity: ctx.assumptions.natGbProcessedPerGateway, assumption: `${ctx.assumptions.natGbProcessedPerGateway} GB per gateway per month`,
    },
  ],
  "aws:ec2/eip:Eip": (r, ctx) => [{ key: "public-ipv4", resource: "public IPv4 address (Elastic IP)", type: r.type, unit: "address-month", unitPrice: monthly(ctx, ctx.prices.publicIpv4Hourly), quantity: 1 }],
  "aws:lb/loadBalancer:LoadBalancer": (r, ctx) => {
    if (r.inputs.loadBalancerType !== "network") throw new UnpricedResourceError(`${r.name} (${r.type}): no price for a ${String(r.inputs.loadBalancerType ?? "application")} load balancer in src/cost/prices.ts (network only)`);
    const p = ctx.prices.networkLoadBalancer;
    return [
      { key: "nlb-hours", resource: "Network Load Balancer", type: r.type, unit: "NLB-month", unitPrice: monthly(ctx, p.hourly), quantity: 1 },
      {
        key: "nlb-lcu", resource: "Network Load Balancer capacity units", type: r.type, unit: "LCU-month", unitPrice: monthly(ctx, p.lcuHourly),
        quantity: ctx.assumptions.nlbLcuPerHour, assumption: `${ctx.assumptions.nlbLcuPerHour} LCU per hour on average`,
      },
    ];
  },
  "aws:kms/key:Key": (r, ctx) => [{ key: "kms-key", resource: "KMS customer managed key", type: r.type, unit: "key-month", unitPrice: ctx.prices.kmsKeyMonth, quantity: 1 }],
  "aws:secretsmanager/secret:Secret": (r, ctx) => [{ key: "secret", resource: "Secrets Manager secret", type: r.type, unit: "secret-month", unitPrice: ctx.prices.secretMonth, quantity: 1 }],
  "aws:route53/zone:Zone": (r, ctx) => [{ key: "route53-zone", resource: "Route 53 hosted zone (private)", type: r.type, unit: "zone-month", unitPrice: ctx.prices.route53ZoneMonth, quantity: 1 }],
  "aws:ec2/vpcEndpoint:VpcEndpoint": (r) => {
    if (r.inputs.vpcEndpointType !== "Gateway") throw new UnpricedResourceError(`${r.name} (${r.type}): no price for a ${String(r.inputs.vpcEndpointType ?? "Interface")} VPC endpoint in src/cost/prices.ts (Gateway endpoints are free)`);
    return [];
  },
  // One metric per alarm; an alarm on a custom namespace (the monitoring heartbeat) also pays for its metric.
  "aws:cloudwatch/metricAlarm:MetricAlarm": (r, ctx) => {
    const p = ctx.prices.cloudwatch;
    const items: CostItem[] = [{ key: "cloudwatch-alarm", resource: "CloudWatch metric alarm (standard resolution)", type: r.type, unit: "alarm-month", unitPrice: p.alarmMonth, quantity: 1 }];
    const namespace = String(r.inputs.namespace ?? "");
    if (!namespace.startsWith("AWS/")) items.push({ key: "cloudwatch-custom-metric", resource: "CloudWatch custom metric (the monitoring heartbeat)", type: r.type, unit: "metric-month", unitPrice: p.customMetricMonth, quantity: 1 });
    return items;
  },
  // The bucket's storage is estimated once for the stack (repository.ts), not per resource.
  "aws:s3/bucket:Bucket": () => [],
  "aws:s3/bucketV2:BucketV2": () => [],
};

/** Types AWS (or nobody) charges nothing for, with the reason. */
export const FREE: Record<string, string> = {
  "aws:s3/bucketReplicationConfig:BucketReplicationConfig": "the rule itself is free; what it replicates is priced by the estimate (the copy's storage, inter-region transfer and RTC)",
  "pulumi:providers:aws": "a Pulumi provider is not an AWS resource",
  "aws:ec2/vpc:Vpc": "VPCs are free",
  "aws:ec2/subnet:Subnet": "subnets are free",
  "aws:ec2/internetGateway:InternetGateway": "internet gateways are free (their traffic is not priced)",
  "aws:ec2/routeTable:RouteTable": "route tables are free",
  "aws:ec2/route:Route": "routes are free",
  "aws:ec2/routeTableAssociation:RouteTableAssociation": "route table associations are free",
  "aws:ec2/securityGroup:SecurityGroup": "security groups are free",
  "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "security group rules are free",
  "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "security group rules are free",
  "aws:ec2/securityGroupRule:SecurityGroupRule": "security group rules are free",
  "aws:ec2/volumeAttachment:VolumeAttachment": "attaching a volume is free (the volume is priced)",
  "aws:iam/role:Role": "IAM is free",
  "aws:iam/rolePolicy:RolePolicy": "IAM is free",
  "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "IAM is free",
  "aws:iam/instanceProfile:InstanceProfile": "IAM is free",
  "aws:kms/alias:Alias": "KMS aliases are free (the key is priced)",
  "aws:sns/topic:Topic": "alerts are a few publishes and deliveries a month: SNS charges $0.50 per million publishes and $2 per 100,000 emails, the first million publishes and 1,000 emails free",
  "aws:sns/topicPolicy:TopicPolicy": "topic settings are free",
  "aws:sns/topicSubscription:TopicSubscription": "subscriptions are free (deliveries are in the topic's reason)",
  "aws:secretsmanager/secretVersion:SecretVersion": "a secret's versions are included in the secret's price",
  "aws:route53/record:Record": "records are included in the hosted zone's price (queries are not priced)",
  "aws:lb/targetGroup:TargetGroup": "target groups are included in the load balancer's price",
  "aws:lb/listener:Listener": "listeners are included in the load balancer's price",
  "aws:lb/targetGroupAttachment:TargetGroupAttachment": "target registrations are free",
  "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "bucket settings are free",
  "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "bucket settings are free",
  "aws:s3/bucketVersioning:BucketVersioning": "bucket settings are free (noncurrent versions are in the repository estimate)",
  "aws:s3/bucketVersioningV2:BucketVersioningV2": "bucket settings are free (noncurrent versions are in the repository estimate)",
  "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": "bucket settings are free",
  "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": "bucket settings are free",
  "aws:s3/bucketPolicy:BucketPolicy": "bucket settings are free",
  "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "bucket settings are free (transitions are in the repository estimate; their requests are not priced)",
  "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2": "bucket settings are free",
  "aws:s3/bucketObjectv2:BucketObjectv2": "node bundle objects are kilobytes: under a cent a month",
  "random:index/randomPassword:RandomPassword": "generated locally by Pulumi",
  "tls:index/privateKey:PrivateKey": "generated locally by Pulumi",
  "tls:index/certRequest:CertRequest": "generated locally by Pulumi",
  "tls:index/selfSignedCert:SelfSignedCert": "generated locally by Pulumi",
  "tls:index/locallySignedCert:LocallySignedCert": "generated locally by Pulumi",
  "command:local:Command": "runs on the machine running Pulumi",
};

/** The program's component resources (components/common.ts componentType): groupings only. */
const COMPONENT_PREFIX = "postgres-ha:index:";

/** Provider resources and components are not cloud resources. */
function isBillable(r: CostResource): boolean {
  if (r.custom === false || r.type.startsWith(COMPONENT_PREFIX)) return false;
  if (r.type.startsWith("pulumi:providers:") || r.type === "pulumi:pulumi:Stack") return false;
  return true;
}

/** The priced items of one resource; throws UnpricedResourceError for a type this file does not know. */
export function itemsOf(r: CostResource, ctx: RuleContext): CostItem[] {
  if (!isBillable(r)) return [];
  const rule = PRICED[r.type];
  if (rule) return rule(r, ctx);
  if (FREE[r.type]) return [];
  throw new UnpricedResourceError(`${r.name}: resource type ${r.type} has no price and is not listed as free in src/cost/catalog.ts — price it (src/cost/prices.ts) or state why it is free`);
}
