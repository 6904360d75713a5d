// Price table: AWS on-demand list prices (USD, Linux, shared tenancy) for every resource the
// program registers that AWS charges for, per region, plus the RDS for PostgreSQL prices the
// comparison needs. Data only: the estimator (estimate.ts) and the comparison (rds.ts) read it.
//
// LIST PRICES AS OF PRICE_DATE. They are AWS's public on-demand list prices as published on the
// pages below (the same figures the AWS Price List API serves under the offer codes named), for
// the regions the shipped stacks use (eu-west-1, Pulumi.*.yaml `aws:region`) and us-east-1.
// They were written into this file by hand from those pages as known on PRICE_DATE — the machine
// that committed it has no network access, so no figure was fetched or checked against the live
// API at commit time. The figures least certain are the eu-west-1 ones for the 7th/8th-generation
// instance families (m7g, r7g, c7g, m7i, r7i, m8g, r8g) and the RDS for PostgreSQL classes; the
// shipped stacks' figures depend on them. No discount (Savings Plans, Reserved Instances, free
// tier, credits, EDP) is applied. Prices change: before quoting a figure to the cent, re-check it,
// e.g.
//   aws pricing get-products --region us-east-1 --service-code AmazonEC2 \
//     --filters Type=TERM_MATCH,Field=instanceType,Value=r7g.large Type=TERM_MATCH,Field=regionCode,Value=eu-west-1 \
//               Type=TERM_MATCH,Field=operatingSystem,Value=Linux Type=TERM_MATCH,Field=tenancy,Value=Shared \
//               Type=TERM_MATCH,Field=preInstalledSw,Value=NA Type=TERM_MATCH,Field=capacitystatus,Value=Used
// and update the figure and PRICE_DATE together (`npx pgha cost --readme` then regenerates the
// README's figures; a unit test keeps them in step).
//
// A resource type or instance type without a price here is an error in the estimator, never a
// silent 0 (test/unit/cost.test.ts checks every type the shipped stacks register).

export const PRICE_DATE = "2025-06-01";

export const PRICE_SOURCES = [
  "AWS Price List API (https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/index.json; offers AmazonEC2, AmazonRDS, AmazonS3, AWSKeyManagementService, AWSSecretsManager, AmazonRoute53, AmazonCloudWatch, AWSDataTransfer)",
  "https://aws.amazon.com/ec2/pricing/on-demand/",
  "https://aws.amazon.com/ebs/pricing/",
  "https://aws.amazon.com/vpc/pricing/ (NAT gateway, public IPv4 addresses)",
  "https://aws.amazon.com/elasticloadbalancing/pricing/",
  "https://aws.amazon.com/kms/pricing/",
  "https://aws.amazon.com/secrets-manager/pricing/",
  "https://aws.amazon.com/route53/pricing/",
  "https://aws.amazon.com/s3/pricing/",
  "https://aws.amazon.com/cloudwatch/pricing/",
  "https://aws.amazon.com/rds/postgresql/pricing/",
] as const;

export const PRICE_NOTE =
  `AWS on-demand list prices as of ${PRICE_DATE} (USD, Linux, shared tenancy, no Savings Plans, Reserved Instances, free tier or credits), written into src/cost/prices.ts by hand from AWS's public price pages, not fetched live: re-check before quoting to the cent.`;

/** AWS bills a month as 730 hours in its price pages and calculator. */
export const HOURS_PER_MONTH = 730;

export interface RdsPrices {
  /** RDS for PostgreSQL, Single-AZ DB instance, on-demand, USD per hour, by DB instance class. */
  postgresSingleAzHourly: Record<string, number>;
  /** gp3 storage of a Single-AZ DB instance, USD per GB-month (Multi-AZ DB instances: twice this). */
  gp3GbMonth: number;
  /** Provisioned IOPS above the gp3 baseline, USD per IOPS-month (Single-AZ). */
  gp3IopsMonth: number;
  /** Throughput above the gp3 baseline, USD per MiB/s-month (Single-AZ). */
  gp3MibpsMonth: number;
}

export interface RegionPrices {
  /** EC2 on-demand Linux, USD per hour, by instance type. */
  ec2Hourly: Record<string, number>;
  ebsGp3: {
    gbMonth: number;
    /** Per provisioned IOPS-month above the free 3,000. */
    iopsMonth: number;
    /** Per provisioned MiB/s-month above the free 125 MiB/s. */
    mibpsMonth: number;
  };
  natGateway: { hourly: number; perGbProcessed: number };
  networkLoadBalancer: { hourly: number; lcuHourly: number };
  /** Every public IPv4 address (an Elastic IP attached to a NAT gateway included), per hour. */
  publicIpv4Hourly: number;
  /** Customer managed KMS key, per key-month (requests not included). */
  kmsKeyMonth: number;
  /** Secrets Manager, per secret-month (API calls not included). */
  secretMonth: number;
  /** Route 53 hosted zone (first 25 in the account), per zone-month (queries not included). */
  route53ZoneMonth: number;
  /** EC2 detailed monitoring: 7 metrics at the first-tier custom-metric rate, per instance-month. */
  detailedMonitoringInstanceMonth: number;
  cloudwatch: {
    /** A standard-resolution metric alarm (one metric), per alarm-month. */
    alarmMonth: number;
    /** A custom metric (first 10,000 metrics), per metric-month (PutMetricData requests not included). */
    customMetricMonth: number;
  };
  s3: { standardGbMonth: number; standardIaGbMonth: number };
  /** Data transfer between AZs of the region, per GB, charged out of one AZ and again into the other. */
  interAzPerGbEachWay: number;
  rds: RdsPrices;
}

export const PRICES: Record<string, RegionPrices> = {
  "us-east-1": {
    ec2Hourly: {
      "t4g.micro": 0.0084, "t4g.small": 0.0168, "t4g.medium": 0.0336, "t4g.large": 0.0672, "t4g.xlarge": 0.1344, "t4g.2xlarge": 0.2688,
      "t3.micro": 0.0104, "t3.small": 0.0208, "t3.medium": 0.0416, "t3.large": 0.0832, "t3.xlarge": 0.1664, "t3.2xlarge": 0.3328,
      "m7g.medium": 0.0408, "m7g.large": 0.0816, "m7g.xlarge": 0.1632, "m7g.2xlarge": 0.3264, "m7g.4xlarge": 0.6528, "m7g.8xlarge": 1.3056,
      "m7i.large": 0.1008, "m7i.xlarge": 0.2016, "m7i.2xlarge": 0.4032, "m7i.4xlarge": 0.8064,
      "r7g.medium": 0.0536, "r7g.large": 0.1071, "r7g.xlarge": 0.2142, "r7g.2xlarge": 0.4284, "r7g.4xlarge": 0.8568, "r7g.8xlarge": 1.7136,
      "r7i.large": 0.1323, "r7i.xlarge": 0.2646, "r7i.2xlarge": 0.5292, "r7i.4xlarge": 1.0584,
      "c7g.medium": 0.0363, "c7g.large": 0.0725, "c7g.xlarge": 0.145,
      "m8g.large": 0.08976, "m8g.xlarge": 0.17952, "r8g.large": 0.11782, "r8g.xlarge": 0.23564, "r8g.2xlarge": 0.47128,
    },
    ebsGp3: { gbMonth: 0.08, iopsMonth: 0.005, mibpsMonth: 0.04 },
    natGateway: { hourly: 0.045, perGbProcessed: 0.045 },
    networkLoadBalancer: { hourly: 0.0225, lcuHourly: 0.006 },
    publicIpv4Hourly: 0.005,
    kmsKeyMonth: 1.0,
    secretMonth: 0.4,
    route53ZoneMonth: 0.5,
    detailedMonitoringInstanceMonth: 2.1,
    cloudwatch: { alarmMonth: 0.1, customMetricMonth: 0.3 },
    s3: { standardGbMonth: 0.023, standardIaGbMonth: 0.0125 },
    interAzPerGbEachWay: 0.01,
    rds: {
      postgresSingleAzHourly: {
        "db.t4g.micro": 0.016, "db.t4g.small": 0.032, "db.t4g.medium": 0.065, "db.t4g.large": 0.129, "db.t4g.xlarge": 0.258, "db.t4g.2xlarge": 0.517,
        "db.t3.micro": 0.018, "db.t3.small": 0.036, "db.t3.medium": 0.072, "db.t3.large": 0.145, "db.t3.xlarge": 0.29, "db.t3.2xlarge": 0.579,
        "db.m7g.large": 0.168, "db.m7g.xlarge": 0.337, "db.m7g.2xlarge": 0.674, "db.m7g.4xlarge": 1.348, "db.m7g.8xlarge": 2.695,
        "db.r7g.large": 0.239, "db.r7g.xlarge": 0.478, "db.r7g.2xlarge": 0.956, "db.r7g.4xlarge": 1.912, "db.r7g.8xlarge": 3.824,
      },
      gp3GbMonth: 0.115,
      gp3IopsMonth: 0.02,
      gp3MibpsMonth: 0.08,
    },
  },
  "eu-west-1": {
    ec2Hourly: {
      "t4g.micro": 0.0092, "t4g.small": 0.0184, "t4g.medium": 0.0368, "t4g.large": 0.0736, "t4g.xlarge": 0.1472, "t4g.2xlarge": 0.2944,
      "t3.micro": 0.0114, "t3.small": 0.0228, "t3.medium": 0.0456, "t3.large": 0.0912, "t3.xlarge": 0.1824, "t3.2xlarge": 0.3648,
      "m7g.medium": 0.0446, "m7g.large": 0.0892, "m7g.xlarge": 0.1784, "m7g.2xlarge": 0.3568, "m7g.4xlarge": 0.7136, "m7g.8xlarge": 1.4272,
      "m7i.large": 0.1124, "m7i.xlarge": 0.2248, "m7i.2xlarge": 0.4496, "m7i.4xlarge": 0.8992,
      "r7g.medium": 0.0599, "r7g.large": 0.1198, "r7g.xlarge": 0.2396, "r7g.2xlarge": 0.4792, "r7g.4xlarge": 0.9584, "r7g.8xlarge": 1.9168,
      "r7i.large": 0.1481, "r7i.xlarge": 0.2962, "r7i.2xlarge": 0.5924, "r7i.4xlarge": 1.1848,
      "c7g.medium": 0.0409, "c7g.large": 0.0818, "c7g.xlarge": 0.1636,
      "m8g.large": 0.1003, "m8g.xlarge": 0.2006, "r8g.large": 0.1318, "r8g.xlarge": 0.2637, "r8g.2xlarge": 0.5274,
    },
    ebsGp3: { gbMonth: 0.088, iopsMonth: 0.0055, mibpsMonth: 0.044 },
    natGateway: { hourly: 0.048, perGbProcessed: 0.048 },
    networkLoadBalancer: { hourly: 0.0252, lcuHourly: 0.006 },
    publicIpv4Hourly: 0.005,
    kmsKeyMonth: 1.0,
    secretMonth: 0.4,
    route53ZoneMonth: 0.5,
    detailedMonitoringInstanceMonth: 2.1,
    cloudwatch: { alarmMonth: 0.1, customMetricMonth: 0.3 },
    s3: { standardGbMonth: 0.023, standardIaGbMonth: 0.0125 },
    interAzPerGbEachWay: 0.01,
    rds: {
      postgresSingleAzHourly: {
        "db.t4g.micro": 0.018, "db.t4g.small": 0.035, "db.t4g.medium": 0.071, "db.t4g.large": 0.142, "db.t4g.xlarge": 0.284, "db.t4g.2xlarge": 0.568,
        "db.t3.micro": 0.02, "db.t3.small": 0.039, "db.t3.medium": 0.078, "db.t3.large": 0.156, "db.t3.xlarge": 0.312, "db.t3.2xlarge": 0.624,
        "db.m7g.large": 0.187, "db.m7g.xlarge": 0.374, "db.m7g.2xlarge": 0.748, "db.m7g.4xlarge": 1.496, "db.m7g.8xlarge": 2.992,
        "db.r7g.large": 0.266, "db.r7g.xlarge": 0.532, "db.r7g.2xlarge": 1.064, "db.r7g.4xlarge": 2.128, "db.r7g.8xlarge": 4.256,
      },
      gp3GbMonth: 0.127,
      gp3IopsMonth: 0.022,
      gp3MibpsMonth: 0.088,
    },
  },
};

/** Why a figure cannot be computed: a price this table lacks. Named, never a silent 0. */
export class MissingPriceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MissingPriceError";
  }
}

/**
 * S3 Replication to another region, per GB replicated (https://aws.amazon.com/s3/pricing/,
 * "Replication" and "Data transfer"): inter-region data transfer out of the source region (US and
 * EU regions to each other) and Replication Time Control's per-GB fee.
 */
export const S3_REPLICATION_PRICES = { interRegionTransferPerGb: 0.02, replicationTimeControlPerGb: 0.015 } as const;

export function regionPrices(region: string): RegionPrices {
  const p = PRICES[region];
  if (!p) throw new MissingPriceError(`no prices for region ${region} in src/cost/prices.ts (priced: ${Object.keys(PRICES).join(", ")})`);
  return p;
}

export function ec2Hourly(region: string, instanceType: string): number {
  const p = regionPrices(region).ec2Hourly[instanceType];
  if (p === undefined) throw new MissingPriceError(`no EC2 price for instance type ${instanceType} in ${region}: add it to src/cost/prices.ts (AWS's on-demand Linux list price)`);
  return p;
}

export function rdsPostgresHourly(region: string, dbClass: string): number {
  const p = regionPrices(region).rds.postgresSingleAzHourly[dbClass];
  if (p === undefined) throw new MissingPriceError(`no RDS for PostgreSQL price for ${dbClass} in ${region}: add it to src/cost/prices.ts`);
  return p;
}
