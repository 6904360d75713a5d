// The monthly cost of a stack from the resources its program registers: each resource priced by
// its rule (catalog.ts) at the region's list prices (prices.ts), the backup bucket's storage
// estimated from the data volumes, the backup settings and the stated change rate
// (repository.ts), and the WAL each standby receives from another AZ. Lines of the same price
// are summed; the total is the sum of the lines.
import type { StackConfig } from "../config/defaults";
import { ASSUMPTION_TEXT, DEFAULT_ASSUMPTIONS, NOT_PRICED, type AssumptionValues } from "./assumptions";
import { itemsOf, type CostItem, type CostResource } from "./catalog";
import { PRICE_DATE, PRICE_NOTE, S3_REPLICATION_PRICES, regionPrices } from "./prices";
import { repositoryEstimate, type BackupSettings, type RepositoryEstimate } from "./repository";

export interface CostLine {
  /** What is priced, e.g. "EC2 r7g.large". */
  resource: string;
  /** The Pulumi type token of the resources behind the line. */
  type: string;
  quantity: number;
  /** What one unit is: "instance-month", "GB-month", … */
  unit: string;
  /** USD per unit. */
  unitPrice: number;
  /** quantity × unitPrice, USD. */
  monthly: number;
  /** The assumption the figure depends on, when the resources alone do not give the quantity. */
  assumption?: string;
}

export interface Assumption {
  value: number;
  description: string;
}

export interface CostEstimate {
  currency: "USD";
  region: string;
  priceDate: string;
  priceNote: string;
  monthly: { total: number; lines: CostLine[] };
  assumptions: Record<string, Assumption>;
  notPriced: string[];
  repository: RepositoryEstimate;
}

export interface EstimateInput {
  region: string;
  resources: CostResource[];
  backup: BackupSettings;
  assumptions?: Partial<AssumptionValues>;
}

export const TAG_ROLE = "pgha:role";

/** PostgreSQL members: the instances tagged pgha:role=postgres. */
export function postgresInstances(resources: CostResource[]): CostResource[] {
  return resources.filter((r) => r.type === "aws:ec2/instance:Instance" && r.inputs.tags?.[TAG_ROLE] === "postgres");
}

/** The data volumes (their size drives the repository estimate and the RDS comparison's storage). */
export function dataVolumes(resources: CostResource[]): CostResource[] {
  return resources.filter((r) => r.type === "aws:ebs/volume:Volume");
}

const LINE_ORDER = ["ec2-", "detailed-monitoring", "ebs-gp3-gb-data", "ebs-gp3-iops-data", "ebs-gp3-mibps-data", "ebs-gp3-gb-root", "ebs-", "inter-az", "nat-", "public-ipv4", "nlb-", "s3-", "kms-", "secret", "route53"];

function sumLines(items: CostItem[]): CostLine[] {
  const byKey = new Map<string, CostLine>();
  for (const it of items) {
    const line = byKey.get(it.key);
    if (line) {
      if (line.unitPrice !== it.unitPrice) throw new Error(`cost line ${it.key}: two unit prices (${line.unitPrice}, ${it.unitPrice})`);
      line.quantity += it.quantity;
    } else {
      byKey.set(it.key, { resource: it.resource, type: it.type, quantity: it.quantity, unit: it.unit, unitPrice: it.unitPrice, monthly: 0, ...(it.assumption ? { assumption: it.assumption } : {}) });
    }
  }
  // Lines in a fixed order of kinds (compute, storage, network, backups, the rest), each kind in
  // registration order.
  const rank = (key: string) => {
    const i = LINE_ORDER.findIndex((prefix) => key.startsWith(prefix));
    return i < 0 ? LINE_ORDER.length : i;
  };
  const lines = [...byKey.entries()].sort(([a], [b]) => rank(a) - rank(b)).map(([, l]) => l);
  for (const l of lines) l.monthly = l.quantity * l.unitPrice;
  return lines;
}

export function estimateCost(input: EstimateInput): CostEstimate {
  const a: AssumptionValues = { ...DEFAULT_ASSUMPTIONS, ...(input.assumptions ?? {}) };
  const prices = regionPrices(input.region);
  const ctx = { region: input.region, prices, assumptions: a };
  const items: CostItem[] = input.resources.flatMap((r) => itemsOf(r, ctx));

  const volumes = dataVolumes(input.resources);
  const dataGiB = Math.max(0, ...volumes.map((v) => Number(v.inputs.size) || 0));
  const repository = repositoryEstimate(dataGiB, input.backup, a);
  const bucket = input.resources.find((r) => r.type === "aws:s3/bucket:Bucket" || r.type === "aws:s3/bucketV2:BucketV2");
  if (bucket) {
    const type = bucket.type;
    if (repository.standardGiB > 0) items.push({ key: "s3-standard", resource: "S3 Standard (backup repository)", type, unit: "GB-month", unitPrice: prices.s3.standardGbMonth, quantity: repository.standardGiB, assumption: repository.basis });
    if (repository.standardIaGiB > 0) items.push({ key: "s3-standard-ia", resource: "S3 Standard-IA (logical dumps)", type, unit: "GB-month", unitPrice: prices.s3.standardIaGbMonth, quantity: repository.standardIaGiB, assumption: "logical dumps after backup.logicalInfrequentAccessAfterDays (see the S3 Standard line)" });
  }

  // backup.secondRepository: the repository's copy in another region, and S3 Replication's
  // per-GB charges for what is written to it (priced at the stack's region's S3 rates).
  const replication = input.resources.find((r) => r.type === "aws:s3/bucketReplicationConfig:BucketReplicationConfig");
  if (replication && repository.physicalGiB > 0) {
    items.push({ key: "s3-standard-copy", resource: "S3 Standard (the repository's copy in the second region)", type: replication.type, unit: "GB-month", unitPrice: prices.s3.standardGbMonth, quantity: repository.physicalGiB, assumption: "the pgBackRest repository's backups and WAL (see the S3 Standard line), at this region's S3 price" });
    const perMonth = repository.physicalWrittenPerDayGiB * (a.hoursPerMonth / 24);
    items.push({
      key: "s3-replication", resource: "S3 Replication to the second region (inter-region transfer + Replication Time Control)", type: replication.type, unit: "GB",
      unitPrice: S3_REPLICATION_PRICES.interRegionTransferPerGb + S3_REPLICATION_PRICES.replicationTimeControlPerGb, quantity: perMonth,
      assumption: `${round2(perMonth)} GB of new backups and WAL per month`,
    });
  }

  // Streaming replication: every standby receives the WAL from the primary in another AZ
  // (postgres-spread keeps members apart), charged out of one AZ and into the other.
  const standbys = Math.max(0, postgresInstances(input.resources).length - 1);
  if (standbys > 0) {
    const walGbPerMonth = repository.databaseGiB * a.dailyChangeRatio * (a.hoursPerMonth / 24);
    items.push({
      key: "inter-az-wal", resource: "inter-AZ data transfer (WAL to standbys)", type: "aws:ec2/instance:Instance", unit: "GB",
      unitPrice: prices.interAzPerGbEachWay * 2, quantity: walGbPerMonth * standbys,
      assumption: `${round2(walGbPerMonth)} GB of WAL per month (change rate ${a.dailyChangeRatio * 100}%/day of a ${round2(repository.databaseGiB)} GiB database) to each of ${standbys} standby${standbys === 1 ? "" : "s"} in another AZ`,
    });
  }

  const lines = sumLines(items);
  const total = lines.reduce((s, l) => s + l.monthly, 0);
  const assumptions = Object.fromEntries((Object.keys(a) as (keyof AssumptionValues)[]).map((k) => [k, { value: a[k], description: ASSUMPTION_TEXT[k] }]));
  return {
    currency: "USD",
    region: input.region,
    priceDate: PRICE_DATE,
    priceNote: PRICE_NOTE,
    monthly: { total, lines },
    assumptions,
    notPriced: [...NOT_PRICED],
    repository,
  };
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

/** The backup settings an estimate needs, from a resolved stack config. */
export function backupSettings(config: Pick<StackConfig, "backup">): BackupSettings {
  const b = config.backup;
  return {
    fullSchedule: b.fullSchedule,
    diffSchedule: b.diffSchedule,
    incrSchedule: b.incrSchedule,
    logicalSchedule: b.logicalSchedule,
    fullRetentionDays: b.fullRetentionDays,
    logicalRetentionWeeks: b.logicalRetentionWeeks,
    logicalInfrequentAccessAfterDays: b.logicalInfrequentAccessAfterDays,
    noncurrentVersionRetentionDays: b.noncurrentVersionRetentionDays,
  };
}
