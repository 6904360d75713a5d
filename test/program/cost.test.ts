// What the shipped stacks cost, from the resources the program registers under the mocks
// (issue 17): every registered type is priced or free for a stated reason, each tier's figure is
// the sum of its lines, a change of postgres.instanceType or postgres.nodes moves the total by
// exactly its priced delta, and the README's table is the generated one.
import * as fs from "fs";
import * as path from "path";
import { TIER_DEFAULTS } from "../../src/config/defaults";
import { FREE, PRICED } from "../../src/cost/catalog";
import { DEFAULT_ASSUMPTIONS } from "../../src/cost/assumptions";
import { costOfStack, pricedShippedStacks, readmeWithCostTable, shippedStacks, unpricedShippedStacks } from "../../src/cost/shipped";
import { PRICES } from "../../src/cost/prices";
import type { StackCost } from "../../src/cost/stack";
import { jestIsolation, ROOT, runProgram } from "../helpers/mocks";

jest.setTimeout(120_000);

const costs: Record<string, StackCost> = {};
const cost = (stack: string, overrides?: Record<string, unknown>) => costOfStack(ROOT, stack, jestIsolation, overrides);
const line = (c: StackCost, resource: string) => c.monthly.lines.find((l) => l.resource === resource);
const p = PRICES["eu-west-1"];

beforeAll(async () => {
  for (const stack of pricedShippedStacks(ROOT)) costs[stack] = await cost(stack);
});

it("the priced shipped stacks are dev, staging, prod and prod-pitr (restored from prod, eu-west-1), all in a priced region", () => {
  expect(Object.keys(costs)).toEqual(["dev", "staging", "prod", "prod-pitr"]);
  for (const c of Object.values(costs)) expect(PRICES[c.region]).toBeDefined();
});

it("prod-dr (the standby cluster, eu-central-1) ships but is left out of the table, by name: its region has no prices", async () => {
  expect(shippedStacks(ROOT)).toEqual(["dev", "staging", "prod", "prod-dr", "prod-pitr"]);
  expect(unpricedShippedStacks(ROOT)).toEqual([{ stack: "prod-dr", region: "eu-central-1" }]);
  await expect(cost("prod-dr")).rejects.toThrow(/no prices for region eu-central-1/);
});

describe.each(["dev", "staging", "prod"])("stack %s", (stack) => {
  it("every resource type it registers is priced, or free for a stated reason", async () => {
    const run = await runProgram({ stack, preview: true, fakeOutputs: false });
    const types = [...new Set(run.resources.filter((r) => r.custom).map((r) => r.type))];
    expect(types.filter((t) => !(t in PRICED) && !(t in FREE))).toEqual([]);
  });

  it("its figure is the sum of its priced lines, and nothing is priced at 0", () => {
    const c = costs[stack];
    expect(c.monthly.total).toBeCloseTo(c.monthly.lines.reduce((s, l) => s + l.quantity * l.unitPrice, 0), 9);
    expect(c.monthly.lines.filter((l) => !(l.monthly > 0)).map((l) => l.resource)).toEqual([]);
    expect(c.monthly.total).toBeGreaterThan(0);
  });

  it("prices each instance type the stack runs, by count", () => {
    const c = costs[stack];
    const t = TIER_DEFAULTS[c.tier as "dev" | "staging" | "prod"];
    // (no shipped tier runs etcd or HAProxy on the PostgreSQL nodes' type)
    expect(line(c, `EC2 ${t.postgres.instanceType}`)?.quantity).toBe(t.postgres.nodes);
    expect(line(c, `EBS gp3 storage (data volumes)`)?.quantity).toBe(t.postgres.nodes * t.postgres.dataVolume.sizeGiB);
  });

  it("compares with RDS for PostgreSQL of the PostgreSQL nodes' class and the data volume's size", () => {
    const c = costs[stack];
    const t = TIER_DEFAULTS[c.tier as "dev" | "staging" | "prod"];
    expect(c.comparison).toMatchObject({
      rdsMultiAzCluster: { class: `db.${t.postgres.instanceType}`, instances: 3 },
      rdsMultiAzInstance: { class: `db.${t.postgres.instanceType}`, instances: 2 },
      storage: { gib: t.postgres.dataVolume.sizeGiB },
    });
    expect(c.comparison!.ratio).toBeCloseTo(c.monthly.total / c.comparison!.rdsMultiAzCluster.monthly, 12);
  });
});

describe("what a change costs", () => {
  it("postgres.instanceType changes the total by exactly the instances' price difference", async () => {
    const after = await cost("prod", { postgres: { instanceType: "r7g.xlarge" } });
    const expected = 3 * (p.ec2Hourly["r7g.xlarge"] - p.ec2Hourly["r7g.large"]) * 730;
    expect(after.monthly.total - costs.prod.monthly.total).toBeCloseTo(expected, 6);
    expect(line(after, "EC2 r7g.large")).toBeUndefined();
    expect(line(after, "EC2 r7g.xlarge")?.quantity).toBe(3);
    expect(after.comparison!.rdsMultiAzCluster.class).toBe("db.r7g.xlarge");
  });

  it("postgres.nodes changes the total by exactly what a member costs: instance, volumes, monitoring, its secret, its status-check alarm, WAL to it", async () => {
    const after = await cost("prod", { postgres: { nodes: 5 } });
    const a = DEFAULT_ASSUMPTIONS;
    const walGbPerStandby = 200 * a.databaseFillRatio * a.dailyChangeRatio * (730 / 24);
    const member =
      p.ec2Hourly["r7g.large"] * 730 + // the instance
      20 * p.ebsGp3.gbMonth + // its root volume
      200 * p.ebsGp3.gbMonth + 3000 * p.ebsGp3.iopsMonth + 125 * p.ebsGp3.mibpsMonth + // its data volume above the gp3 baseline
      p.detailedMonitoringInstanceMonth + // prod monitors every instance in detail
      p.secretMonth + // its node secret
      p.cloudwatch.alarmMonth + // its status-check alarm (monitoring.enabled)
      walGbPerStandby * 2 * p.interAzPerGbEachWay; // the WAL it receives from another AZ
    expect(after.monthly.total - costs.prod.monthly.total).toBeCloseTo(2 * member, 6);
    expect(line(after, "EC2 r7g.large")?.quantity).toBe(5);
  });

  it("monitoring (on in prod) costs the monitoring node, its 30 GiB root volume, the alert topic's key and one alarm per instance plus the dead man's switch and its metric, and two alarms per replication rule of the repository's copy", async () => {
    const without = await cost("prod", { monitoring: { enabled: false } });
    const instances = 3 + 3 + 2 + 1;
    const copyAlarms = 2 * 2; // latency and failures of the repository's and the restore catalogue's rules
    const monitoring =
      p.ec2Hourly["t4g.small"] * 730 + // mon1
      30 * p.ebsGp3.gbMonth + // its root volume (Prometheus's TSDB)
      p.detailedMonitoringInstanceMonth + // prod monitors every instance in detail
      p.secretMonth + // its node secret
      p.kmsKeyMonth + // the alert topic's key
      (instances + 1 + copyAlarms) * p.cloudwatch.alarmMonth + // a status-check alarm per instance, the heartbeat alarm, the copy's
      p.cloudwatch.customMetricMonth; // the heartbeat metric
    expect(costs.prod.monthly.total - without.monthly.total).toBeCloseTo(monitoring, 6);
    expect(line(costs.prod, "CloudWatch metric alarm (standard resolution)")?.quantity).toBe(instances + 1 + copyAlarms);
    expect(line(costs.prod, "CloudWatch custom metric (the monitoring heartbeat)")?.quantity).toBe(1);
    expect(line(costs.dev, "CloudWatch metric alarm (standard resolution)")).toBeUndefined();
  });

  it("an instance type without a price is an error that names it", async () => {
    await expect(cost("dev", { postgres: { instanceType: "m6a.large", memoryMiB: 8192 } })).rejects.toThrow(/no EC2 price for instance type m6a\.large in eu-west-1/);
  });
});

it("README's cost table is the generated one (npx pgha cost --readme)", () => {
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  expect(readmeWithCostTable(readme, Object.values(costs))).toBe(readme);
});
