// The budget promise (issue 17, policy monthly-budget): a stack whose cost estimate exceeds its
// objectives.monthlyBudgetUsd is refused in prod and reported (advisory) elsewhere; a stack that
// states no budget is not held to one; what cannot be priced cannot pass.
import { checkRun, type CheckReport } from "../../src/plan/check";
import { monthlyBudget } from "../../policies/rules";
import { ROOT, runProgram } from "../helpers/mocks";
import { evaluate, resource } from "./helpers";

jest.setTimeout(60_000);

const budgetDiagnostics = (r: CheckReport) => r.result!.diagnostics.filter((d) => d.policyName === "monthly-budget");
const outcome = (r: CheckReport) => r.result!.outcomes.find((o) => o.policy.name === "monthly-budget")!;

describe("a stack over its budget", () => {
  test("prod: refused (mandatory), naming the estimate, the budget and the largest lines", async () => {
    const run = await runProgram({ stack: "prod", overrides: { objectives: { monthlyBudgetUsd: 500 } } });
    const report = await checkRun(run, { root: ROOT });
    const ds = budgetDiagnostics(report);
    expect(ds).toHaveLength(1);
    expect(ds[0]).toMatchObject({ kind: "violation", enforcementLevel: "mandatory" });
    expect(ds[0].message).toMatch(/estimated \$914\.\d\d per month \(on-demand list prices, eu-west-1\) exceeds the budget of \$500\.00 \(objectives\.monthlyBudgetUsd in the stack config\); largest: EC2 r7g\.large \$262\.36/);
    expect(report.result!.blocking.map((d) => d.policyName)).toContain("monthly-budget");
  });

  test("dev: reported, advisory, not blocking", async () => {
    const run = await runProgram({ stack: "dev", overrides: { objectives: { monthlyBudgetUsd: 50 } } });
    const report = await checkRun(run, { root: ROOT });
    const ds = budgetDiagnostics(report);
    expect(ds).toEqual([expect.objectContaining({ kind: "violation", enforcementLevel: "advisory" })]);
    expect(ds[0].message).toMatch(/exceeds the budget of \$50\.00/);
    expect(report.result!.blocking).toEqual([]);
  });

  test("within the budget: passes; no budget stated: not applicable", async () => {
    const within = await checkRun(await runProgram({ stack: "dev", overrides: { objectives: { monthlyBudgetUsd: 500 } } }), { root: ROOT });
    expect(budgetDiagnostics(within)).toEqual([]);
    expect(outcome(within).notApplicable).toBeUndefined();
    const none = await checkRun(await runProgram({ stack: "staging" }), { root: ROOT });
    expect(outcome(none).notApplicable).toMatch(/states no budget/);
  });
});

describe("the rule on its own", () => {
  const db = resource("aws:ec2/instance:Instance", "db1", { instanceType: "r7g.large", rootBlockDevice: { volumeType: "gp3", volumeSize: 20 }, tags: { "pgha:role": "postgres" } });

  test("the policy config's budget wins over the stack's", async () => {
    const o = await evaluate(monthlyBudget, [db], { config: { monthlyBudgetUsd: 10 }, stackContext: { stack: "prod", config: { "postgres-ha:tier": "prod", "aws:region": "eu-west-1" } } });
    expect(o.messages).toEqual([expect.stringMatching(/exceeds the budget of \$10\.00 \(policy config\)/)]);
  });

  test("a resource it cannot price is a violation, not a pass", async () => {
    const odd = resource("aws:ec2/instance:Instance", "db2", { instanceType: "z9q.huge", tags: { "pgha:role": "postgres" } });
    const o = await evaluate(monthlyBudget, [db, odd], { config: { monthlyBudgetUsd: 100_000 }, stackContext: { stack: "prod", config: { "postgres-ha:tier": "prod", "aws:region": "eu-west-1" } } });
    expect(o.messages).toEqual([expect.stringMatching(/cannot be estimated.*no EC2 price for instance type z9q\.huge/)]);
  });
});
