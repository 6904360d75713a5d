// The cost estimate's parts without the program: the price table, the per-type rules, the sums,
// the repository estimate's schedule arithmetic and the RDS comparison (issue 17). The shipped
// stacks' figures are in test/program/cost.test.ts.
import { INSTANCE_MEMORY_MIB, TIER_DEFAULTS } from "../../src/config/defaults";
import { FREE, PRICED, type CostResource } from "../../src/cost/catalog";
import { runsPerDay } from "../../src/cost/cron";
import { backupSettings, estimateCost } from "../../src/cost/estimate";
import { costDelta, formatCostDelta } from "../../src/cost/format";
import { HOURS_PER_MONTH, MissingPriceError, PRICE_DATE, PRICE_SOURCES, PRICES } from "../../src/cost/prices";
import { compareWithRds, rdsClassFor } from "../../src/cost/rds";

const backup = backupSettings(TIER_DEFAULTS.prod);
const instance = (name: string, instanceType: string, role = "postgres", extra: Record<string, unknown> = {}): CostResource => ({
  type: "aws:ec2/instance:Instance",
  name,
  inputs: { instanceType, rootBlockDevice: { volumeType: "gp3", volumeSize: 20 }, tags: { "pgha:role": role }, ...extra },
});
const volume = (name: string, size: number, iops = 3000, throughput = 125): CostResource => ({ type: "aws:ebs/volume:Volume", name, inputs: { type: "gp3", size, iops, throughput } });
const cluster = (instanceType: string, nodes = 3): CostResource[] => [
  ...Array.from({ length: nodes }, (_, i) => instance(`db${i + 1}`, instanceType)),
  ...Array.from({ length: nodes }, (_, i) => volume(`db${i + 1}-data`, 200, 6000, 250)),
  { type: "aws:s3/bucket:Bucket", name: "backups", inputs: {} },
  { type: "aws:ec2/natGateway:NatGateway", name: "nat", inputs: {} },
  { type: "aws:iam/role:Role", name: "role", inputs: {} },
];

describe("the price table", () => {
  it("is dated, names its sources and says it holds list prices", () => {
    expect(PRICE_DATE).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(PRICE_SOURCES.join(" ")).toMatch(/pricing\.us-east-1\.amazonaws\.com.*aws\.amazon\.com\/ec2\/pricing/);
    expect(HOURS_PER_MONTH).toBe(730);
  });

  it("prices us-east-1 and the region of every shipped stack", () => {
    expect(Object.keys(PRICES)).toEqual(expect.arrayContaining(["us-east-1", "eu-west-1"]));
  });

  it.each(Object.keys(PRICES))("%s: every instance type the config sizes PostgreSQL for has an EC2 price", (region) => {
    const missing = Object.keys(INSTANCE_MEMORY_MIB).filter((t) => !(PRICES[region].ec2Hourly[t] > 0));
    expect(missing).toEqual([]);
  });

  it("every default instance type of every tier has an RDS class price for the comparison", () => {
    for (const region of Object.keys(PRICES)) {
      for (const tier of Object.values(TIER_DEFAULTS)) expect([region, PRICES[region].rds.postgresSingleAzHourly[rdsClassFor(tier.postgres.instanceType)] > 0]).toEqual([region, true]);
    }
  });

  it("a type is either priced or free, never both", () => {
    expect(Object.keys(PRICED).filter((t) => t in FREE)).toEqual([]);
  });
});

describe("the estimate", () => {
  const est = estimateCost({ region: "eu-west-1", resources: cluster("r7g.large"), backup });

  it("its total is the sum of its priced lines, each line quantity × unit price", () => {
    for (const l of est.monthly.lines) expect(l.monthly).toBeCloseTo(l.quantity * l.unitPrice, 9);
    expect(est.monthly.total).toBeCloseTo(est.monthly.lines.reduce((s, l) => s + l.monthly, 0), 9);
    expect(est).toMatchObject({ currency: "USD", region: "eu-west-1", priceDate: PRICE_DATE });
  });

  it("prices instances by type and count, and gp3 IOPS and throughput only above the free baseline", () => {
    const line = (resource: string) => est.monthly.lines.find((l) => l.resource === resource)!;
    expect(line("EC2 r7g.large")).toMatchObject({ quantity: 3, unitPrice: PRICES["eu-west-1"].ec2Hourly["r7g.large"] * 730 });
    expect(line("EBS gp3 storage (data volumes)").quantity).toBe(600);
    expect(line("EBS gp3 IOPS above 3000 (data volumes)").quantity).toBe(3 * 3000);
    expect(line("EBS gp3 throughput above 125 MiB/s (data volumes)").quantity).toBe(3 * 125);
    expect(line("EBS gp3 storage (root volumes)").quantity).toBe(60);
    expect(est.monthly.lines.find((l) => l.resource.startsWith("EBS gp3 IOPS above 3000 (root"))).toBeUndefined();
  });

  it("states the assumption beside every figure the resources alone do not give", () => {
    for (const resource of ["NAT gateway data processed", "S3 Standard (backup repository)", "inter-AZ data transfer (WAL to standbys)"]) {
      expect([resource, est.monthly.lines.find((l) => l.resource === resource)?.assumption]).toEqual([resource, expect.any(String)]);
    }
    expect(est.assumptions.dailyChangeRatio).toEqual({ value: 0.05, description: expect.stringMatching(/change rate/) });
  });

  it("an unknown instance type is an error that names it", () => {
    expect(() => estimateCost({ region: "eu-west-1", resources: [instance("db1", "z9q.huge")], backup })).toThrow(/z9q\.huge/);
    expect(() => estimateCost({ region: "eu-west-1", resources: [instance("db1", "z9q.huge")], backup })).toThrow(MissingPriceError);
  });

  it("a resource type with no price and no reason to be free is an error that names it (never a silent 0)", () => {
    expect(() => estimateCost({ region: "eu-west-1", resources: [{ type: "aws:rds/instance:Instance", name: "sneaky", inputs: {} }], backup })).toThrow(/sneaky: resource type aws:rds\/instance:Instance has no price/);
    expect(() => estimateCost({ region: "eu-west-1", resources: [{ type: "aws:lb/loadBalancer:LoadBalancer", name: "alb", inputs: { loadBalancerType: "application" } }], backup })).toThrow(/application load balancer/);
    expect(() => estimateCost({ region: "eu-west-1", resources: [volume("io", 100)].map((v) => ({ ...v, inputs: { ...v.inputs, type: "io2" } })), backup })).toThrow(/io2/);
  });

  it("an unpriced region is an error that names it", () => {
    expect(() => estimateCost({ region: "xx-nowhere-1", resources: [], backup })).toThrow(/xx-nowhere-1/);
  });

  it("components and providers are not cloud resources", () => {
    const e = estimateCost({ region: "us-east-1", resources: [{ type: "postgres-ha:index:Cluster", name: "c", inputs: {} }, { type: "pulumi:providers:aws", name: "p", inputs: {} }, { type: "x:y:Z", name: "z", custom: false, inputs: {} }], backup });
    expect(e.monthly.total).toBe(0);
  });
});

describe("the repository estimate's schedules", () => {
  it("counts cron runs per day", () => {
    expect(runsPerDay("0 2 * * *")).toBe(1);
    expect(runsPerDay("0 8,14,20 * * *")).toBe(3);
    expect(runsPerDay("*/30 * * * *")).toBe(48);
    expect(runsPerDay("0 3 * * 0")).toBeCloseTo(52 / 365, 9); // 2025 has 52 Sundays
    expect(runsPerDay("0 3 1 * *")).toBeCloseTo(12 / 365, 9);
    expect(runsPerDay("0 3 1 * 0")).toBeCloseTo((12 + 52 - 1) / 365, 9); // 2025-06-01 is a Sunday: both, once
  });
});

describe("the RDS comparison", () => {
  const resources = cluster("r7g.large");
  const total = estimateCost({ region: "eu-west-1", resources, backup }).monthly.total;
  const k = compareWithRds("eu-west-1", resources, total, 730);
  const hourly = PRICES["eu-west-1"].rds.postgresSingleAzHourly["db.r7g.large"];
  const gb = PRICES["eu-west-1"].rds.gp3GbMonth;

  it("uses the class named like the PostgreSQL nodes' instance type, with one data volume's storage", () => {
    expect(k.rdsMultiAzCluster.class).toBe("db.r7g.large");
    expect(k.rdsMultiAzInstance.class).toBe("db.r7g.large");
    expect(k.storage).toEqual({ gib: 200, iops: 6000, throughputMiBps: 250 });
  });

  it("a Multi-AZ DB cluster is three instances and three copies of the storage; a Multi-AZ DB instance two of each", () => {
    expect(k.rdsMultiAzCluster.monthly).toBeCloseTo(3 * hourly * 730 + 3 * 200 * gb, 9);
    expect(k.rdsMultiAzInstance.monthly).toBeCloseTo(2 * hourly * 730 + 2 * 200 * gb, 9);
    expect(k.ratio).toBeCloseTo(total / k.rdsMultiAzCluster.monthly, 12);
    expect(k.ratioToMultiAzInstance).toBeCloseTo(total / k.rdsMultiAzInstance.monthly, 12);
  });

  it("says when RDS gp3 cannot match the stack's I/O (below 400 GiB it is fixed at 3,000 IOPS)", () => {
    expect(k.notes.join("\n")).toMatch(/fixed at 3000 IOPS \/ 125 MiB\/s; this stack's data volumes provision 6000 IOPS \/ 250 MiB\/s/);
  });

  it("prices IOPS above RDS's striped baseline from 400 GiB", () => {
    const big = [instance("db1", "r7g.large"), volume("db1-data", 500, 16000, 600)];
    const c = compareWithRds("eu-west-1", big, 1, 730);
    expect(c.rdsMultiAzCluster.lines.map((l) => [l.resource, l.quantity])).toEqual([
      ["Multi-AZ DB cluster: db.r7g.large (RDS for PostgreSQL)", 3],
      ["Multi-AZ DB cluster: gp3 storage", 1500],
      ["Multi-AZ DB cluster: gp3 IOPS above 12000", 3 * 4000],
      ["Multi-AZ DB cluster: gp3 throughput above 500 MiB/s", 3 * 100],
    ]);
  });

  it("a class without an RDS price is an error that names it", () => {
    expect(() => compareWithRds("eu-west-1", cluster("m7i.large"), 1, 730)).toThrow(/db\.m7i\.large/);
  });
});

describe("the cost change of a diff", () => {
  const a = { monthly: { total: 100, lines: [{ resource: "EC2 r7g.large", monthly: 60 }, { resource: "NAT gateway", monthly: 40 }] } } as any;
  const b = { monthly: { total: 130, lines: [{ resource: "EC2 r7g.xlarge", monthly: 90 }, { resource: "NAT gateway", monthly: 40 }] } } as any;

  it("is the difference of the totals, line by line", () => {
    const d = costDelta(a, b);
    expect(d).toMatchObject({ before: 100, after: 130, delta: 30 });
    expect(d.lines).toEqual([
      { resource: "EC2 r7g.large", before: 60, after: 0, delta: -60 },
      { resource: "EC2 r7g.xlarge", before: 0, after: 90, delta: 90 },
    ]);
    expect(formatCostDelta(d)).toMatch(/^monthly cost: \$100\.00 → \$130\.00 \(\+\$30\.00 per month/);
  });

  it("says why when there is no estimate", () => {
    expect(formatCostDelta(costDelta(a, undefined, "no EC2 price for instance type z9q.huge"))).toMatch(/not estimated \(no EC2 price for instance type z9q\.huge\)/);
  });
});
