// `pgha plan` and `pgha diff`, in process: the plan is the same bytes every run and never holds a
// generated secret; a one-parameter change shows exactly that change in each affected node's
// rendered files, the day-2 trigger and its payload — nothing else.
import { diffPlans, diffRenderedFiles, planSide, type PlanDiff, type FileDiff } from "../../src/plan/diff";
import { buildPlan, formatPlanText, planJson } from "../../src/plan/plan";
import { jestIsolation, ROOT, runProgram } from "../helpers/mocks";

jest.setTimeout(60_000);

describe("pgha plan", () => {
  test("byte-identical across two runs (JSON and text)", async () => {
    const a = buildPlan(await runProgram({ stack: "prod", preview: true, fakeOutputs: false }));
    const b = buildPlan(await runProgram({ stack: "prod", preview: true, fakeOutputs: false }));
    expect(planJson(a)).toBe(planJson(b));
    expect(formatPlanText(a)).toBe(formatPlanText(b));
    // What a reviewer needs: every node's files from its user-data, the day-2 payload decoded.
    const db1 = a.resources.find((r) => r.type === "aws:ec2/instance:Instance" && r.name === "orders-prod-db1")!;
    expect(db1.userData!.files.map((f) => f.path)).toEqual(expect.arrayContaining(["/etc/patroni/config.yml", "/etc/patroni/dynamic.json", "/etc/pgbackrest/pgbackrest.conf"]));
    expect(db1.inputs.userDataBase64).toMatch(/^<gzip\+base64: \d+ files, see userData>$/);
    const command = a.resources.find((r) => r.type === "command:local:Command")!;
    expect((command.dynamicConfig as any).synchronous_mode).toBe("quorum");
    expect(a.resources.filter((r) => r.type === "pulumi:pulumi:Stack")).toHaveLength(1);
    expect(formatPlanText(a)).toMatch(/└─ postgres-ha:index:PostgresHaCluster  orders-prod/);
  });

  test("with the mocks' generated passwords and keys known, none of them reaches the plan", async () => {
    const run = await runProgram({ stack: "prod" });
    expect(run.generatedSecrets.length).toBeGreaterThan(10);
    const text = planJson(buildPlan(run)) + formatPlanText(buildPlan(run));
    for (const secret of run.generatedSecrets) expect(text.includes(secret.trim())).toBe(false);
    expect(text).toMatch(/\[secret\]/);
  });
});

describe("pgha diff: postgres.parameters.max_connections 200 → 300 on staging", () => {
  let plans: PlanDiff;
  let files: FileDiff[];
  beforeAll(async () => {
    const before = await planSide(ROOT, "staging", "base", jestIsolation);
    const after = await planSide(ROOT, "staging", "change", jestIsolation, { postgres: { parameters: { max_connections: 300 } } });
    expect([before.error, after.error]).toEqual([undefined, undefined]);
    plans = diffPlans(before.plan!, after.plan!);
    files = diffRenderedFiles(before.files!, after.files!);
  });

  test("resources: the PostgreSQL instances' user-data (ignored after creation) and the day-2 command (replaced: it runs)", () => {
    expect(plans.added).toEqual([]);
    expect(plans.removed).toEqual([]);
    const summary = plans.changed.map((c) => ({ name: c.name, inputs: c.inputs.map((i) => i.path), files: c.userDataFiles.map((f) => f.path), dynamic: c.dynamicConfig.map((d) => d.path), replaces: c.replaces, ignored: c.ignored }));
    const instance = (n: string) => ({ name: `main-staging-${n}`, inputs: [], files: ["/etc/patroni/config.yml", "/etc/patroni/dynamic.json"], dynamic: [], replaces: false, ignored: ["userDataBase64"] });
    expect(summary.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: "main-staging-apply", inputs: ["environment.PGHA_CONFIG_HASH", "environment.PGHA_SSM_PARAMETERS", "triggers[0]"], files: [], dynamic: ["postgresql.parameters.max_connections"], replaces: true, ignored: [] },
      instance("db1"),
      instance("db2"),
      instance("db3"),
    ]);
    const command = plans.changed.find((c) => c.name === "main-staging-apply")!;
    expect(command.dynamicConfig).toEqual([{ path: "postgresql.parameters.max_connections", before: "200", after: "300" }]);
    expect(plans.outputs.map((o) => o.path).sort()).toEqual(["bundleHashes.db1", "bundleHashes.db2", "bundleHashes.db3", "dynamicConfigHash"]);
  });

  test("rendered files: exactly the max_connections line of patroni.yml and dynamic.json on each PostgreSQL node", () => {
    expect(files.map((f) => `${f.node}:${f.path}`)).toEqual([
      "db1:/etc/patroni/config.yml", "db1:/etc/patroni/dynamic.json",
      "db2:/etc/patroni/config.yml", "db2:/etc/patroni/dynamic.json",
      "db3:/etc/patroni/config.yml", "db3:/etc/patroni/dynamic.json",
    ]);
    for (const f of files) {
      const changed = f.patch.split("\n").filter((l) => /^[-+](?![-+]{2} )/.test(l));
      expect(changed).toEqual([expect.stringMatching(/^-\s+"?max_connections"?: "200",?$/), expect.stringMatching(/^\+\s+"?max_connections"?: "300",?$/)]);
    }
  });
});
