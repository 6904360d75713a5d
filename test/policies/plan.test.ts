// `pgha plan` and `pgha diff`, in process: the plan is the same bytes every run, never holds a
// generated secret, and shows each node's files as its bundle object carries them; a
// one-parameter change shows exactly that change in each affected node's bundle files, the
// pointers, the rollout trigger — and per node what converges live and what needs a restart.
import { createHash } from "crypto";
import { diffReport, formatDiff, pendingRestartWords, planSide, type DiffReport } from "../../src/plan/diff";
import { PRICES } from "../../src/cost/prices";
import { buildPlan, formatPlanText, planJson, type Plan, type PlanBundle } from "../../src/plan/plan";
import { ec2Layout } from "../../src/layout";
import { renderBundle } from "../../src/render/bundle";
import { jestIsolation, ROOT, runProgram, specOf } from "../helpers/mocks";

jest.setTimeout(60_000);

const sha = (text: string) => createHash("sha256").update(text).digest("hex");
const objectNamed = (plan: Plan, name: string) => plan.resources.find((r) => r.type === "aws:s3/bucketObjectv2:BucketObjectv2" && r.name === name)!;

describe("pgha plan", () => {
  test("byte-identical across two runs (JSON and text); each node's files come from its bundle object", async () => {
    const run = await runProgram({ stack: "prod", preview: true, fakeOutputs: false });
    const a = buildPlan(run);
    const b = buildPlan(await runProgram({ stack: "prod", preview: true, fakeOutputs: false }));
    expect(planJson(a)).toBe(planJson(b));
    expect(formatPlanText(a)).toBe(formatPlanText(b));
    expect(a.resources.filter((r) => r.type === "pulumi:pulumi:Stack")).toHaveLength(1);
    expect(formatPlanText(a)).toMatch(/└─ postgres-ha:index:PostgresHaCluster  orders-prod/);

    // The instance's user-data is the bootstrap, nothing else (a PostgreSQL node: also
    // postgresql-common's no-default-cluster setting, written before its packages install).
    const db1 = a.resources.find((r) => r.type === "aws:ec2/instance:Instance" && r.name === "orders-prod-db1")!;
    expect(db1.userData!.files.map((f) => f.path)).toEqual(["/etc/pgha/aws.env", "/etc/pgha/bootstrap.env", "/etc/postgresql-common/createcluster.d/pgha.conf", "/usr/local/sbin/pgha-bootstrap"]);

    // The bundle object, decoded: every file the render path gives db1, with its sha256 and what a change does.
    const spec = specOf(run);
    const rendered = renderBundle(spec, "db1", ec2Layout(spec));
    const bundle = objectNamed(a, "orders-prod-db1-bundle").bundle as Extract<PlanBundle, { kind: "node-bundle" }>;
    expect(bundle).toMatchObject({ kind: "node-bundle", node: "db1", role: "postgres", sha256: rendered.hash, key: `bundles/orders/nodes/db1/${rendered.hash}.tar` });
    expect(bundle.files.map((f) => [f.path, f.sha256, f.onChange])).toEqual(
      [...rendered.files].sort((x, y) => x.path.localeCompare(y.path)).map((f) => [f.path, sha(f.content), f.onChange]),
    );
    expect(objectNamed(a, "orders-prod-db1-bundle").inputs.contentBase64).toBe(`<node bundle of db1: ${rendered.files.length} files, sha256 ${rendered.hash.slice(0, 12)}, see bundle>`);
    expect(objectNamed(a, "orders-prod-db1-desired").bundle).toMatchObject({ kind: "desired", node: "db1", bundle: rendered.hash, software: bundle.software });
    const software = objectNamed(a, "orders-prod-software").bundle as Extract<PlanBundle, { kind: "software" }>;
    expect(software.sha256).toBe(bundle.software);
    expect(software.files.map((f) => f.path)).toEqual(expect.arrayContaining(["/usr/local/sbin/pgha-node", "/usr/local/sbin/pgha-bootstrap"]));

    // The rollout: every node with its role and bundle, the trigger recomputed from the pointers.
    const rollout = a.resources.find((r) => r.type === "command:local:Command")!.rollout!;
    expect(rollout.nodesFrom).toBe("desired pointers"); // PGHA_ROLLOUT_PLAN holds instance ids: unknown at preview
    expect(rollout.triggerMatchesBundles).toBe(true);
    expect(rollout.nodes.map((n) => `${n.name}:${n.role}`)).toEqual(["db1:postgres", "db2:postgres", "db3:postgres", "etcd1:etcd", "etcd2:etcd", "etcd3:etcd", "lb1:haproxy", "lb2:haproxy", "mon1:monitor"]);
    expect(rollout.nodes.find((n) => n.name === "db1")!.hash).toBe(rendered.hash);
    expect(rollout.order).toBe("mon1 → etcd1 → etcd2 → etcd3 → lb1 → lb2 → PostgreSQL replicas of db1, db2, db3, the leader last (found when it runs)");
    expect(formatPlanText(a)).toContain(`node bundle of db1 (postgres), ${rendered.archive.length} B, sha256 ${rendered.hash.slice(0, 12)}`);
  });

  test("after `up` (instance ids known) the rollout is described from its own plan, and agrees", async () => {
    const plan = buildPlan(await runProgram({ stack: "dev" }));
    const rollout = plan.resources.find((r) => r.type === "command:local:Command")!.rollout!;
    expect(rollout.nodesFrom).toBe("PGHA_ROLLOUT_PLAN");
    expect(rollout.triggerMatchesBundles).toBe(true);
    const pointers = plan.resources.flatMap((r) => (r.bundle?.kind === "desired" ? [[r.bundle.node, r.bundle.bundle]] : [])).sort();
    expect(rollout.nodes.map((n) => [n.name, n.hash]).sort()).toEqual(pointers);
  });

  test("with the mocks' generated passwords and keys known, none of them reaches the plan", async () => {
    const run = await runProgram({ stack: "prod" });
    expect(run.generatedSecrets.length).toBeGreaterThan(10);
    const text = planJson(buildPlan(run)) + formatPlanText(buildPlan(run));
    for (const secret of run.generatedSecrets) expect(text.includes(secret.trim())).toBe(false);
    expect(text).toMatch(/\[secret\]/);
  });
});

async function diffOf(stack: string, overrides: Record<string, unknown>): Promise<DiffReport> {
  const before = await planSide(ROOT, stack, "base", jestIsolation);
  const after = await planSide(ROOT, stack, "change", jestIsolation, overrides);
  expect([before.error, after.error]).toEqual([undefined, undefined]);
  return diffReport(stack, { ref: "base", commit: "0".repeat(40) }, before, after);
}

const changedLines = (patch: string) => patch.split("\n").filter((l) => /^[-+](?![-+]{2} )/.test(l));

describe("pgha diff: postgres.parameters.max_connections 200 → 300 on staging", () => {
  let report: DiffReport;
  beforeAll(async () => {
    report = await diffOf("staging", { postgres: { parameters: { max_connections: 300 } } });
  });

  test("resources: the PostgreSQL members' bundle objects and pointers, and the rollout command (it runs again) — no instance", () => {
    const { plans } = report;
    expect([plans.added, plans.removed]).toEqual([[], []]);
    const summary = Object.fromEntries(
      plans.changed.map((c) => [c.name, { inputs: c.inputs.map((i) => i.path), bundleFiles: c.bundleFiles.map((f) => f.path), pointer: c.pointer.map((p) => p.path), rollout: c.rollout.map((r) => r.path), runs: c.runs }]),
    );
    const bundle = { inputs: ["key", "tags.Name"], bundleFiles: ["/etc/patroni/config.d/config.yml", "/etc/patroni/dynamic.json"], pointer: [], rollout: [], runs: false };
    const pointer = { inputs: [], bundleFiles: [], pointer: ["bundle"], rollout: [], runs: false };
    expect(summary).toEqual({
      "main-staging-db1-bundle": bundle,
      "main-staging-db1-desired": pointer,
      "main-staging-db2-bundle": bundle,
      "main-staging-db2-desired": pointer,
      "main-staging-db3-bundle": bundle,
      "main-staging-db3-desired": pointer,
      "main-staging-rollout": { inputs: ["triggers[0]"], bundleFiles: [], pointer: [], rollout: ["nodes[0].hash", "nodes[1].hash", "nodes[2].hash"], runs: true },
    });
    // The pointer names the new bundle object's hash; the rollout converges db1–db3 to it.
    for (const n of ["db1", "db2", "db3"]) {
      const key = plans.changed.find((c) => c.name === `main-staging-${n}-bundle`)!.inputs.find((i) => i.path === "key")!;
      const to = plans.changed.find((c) => c.name === `main-staging-${n}-desired`)!.pointer[0].after as string;
      expect(key.after).toBe(`bundles/main/nodes/${n}/${to}.tar`);
    }
    expect(plans.outputs.map((o) => o.path).sort()).toEqual(["bundleHashes.db1", "bundleHashes.db2", "bundleHashes.db3", "dynamicConfigHash"]);
  });

  test("per node: a Patroni reload and the DCS configuration, live; no restart", () => {
    expect(report.nodes.map((n) => ({ node: n.node, live: n.live, restart: n.restart, firstBootOnly: n.firstBootOnly, problems: n.problems }))).toEqual(
      ["db1", "db2", "db3"].map((node) => ({
        node,
        live: [
          { action: "patroni-reload", paths: ["/etc/patroni/config.d/config.yml"] },
          { action: "patroni-dynamic", paths: ["/etc/patroni/dynamic.json"] },
        ],
        restart: [],
        firstBootOnly: [],
        problems: [],
      })),
    );
    for (const n of report.nodes) expect(n.bundle.before).not.toBe(n.bundle.after);
    const text = formatDiff(report);
    expect(text).toContain("      live: patroni-reload (/etc/patroni/config.d/config.yml); patroni-dynamic (/etc/patroni/dynamic.json)\n      needs a restart: nothing");
    expect(text).toContain("pending restart in Patroni");
    // staging sets no maintenance.window: a pending restart is an operator's.
    expect(report.maintenanceWindow).toBeNull();
    expect(text).toContain("no maintenance.window, so nothing restarts until an operator runs `pgha restart --pending`");
  });

  test("with a maintenance window, the diff says the rollout restarts what is pending inside it", async () => {
    const windowed = await diffOf("staging", { postgres: { parameters: { max_connections: 300 } }, maintenance: { window: "sun:02:00-sun:04:00" } });
    expect(windowed.maintenanceWindow).toBe("sun:02:00-sun:04:00");
    expect(formatDiff(windowed)).toContain("restarted by the rollout if it runs inside maintenance.window sun:02:00-sun:04:00 (UTC), else reported pending until an update in the window");
    expect(pendingRestartWords("always")).toMatch(/^restarted by the rollout once it converged/);
  }, 120_000);

  test("node files: exactly the max_connections line of patroni.yml and dynamic.json in each member's bundle", () => {
    expect(report.files.map((f) => `${f.node}:${f.path}:${f.source}:${f.onChange.join(",")}`)).toEqual([
      "db1:/etc/patroni/config.d/config.yml:bundle:patroni-reload", "db1:/etc/patroni/dynamic.json:bundle:patroni-dynamic",
      "db2:/etc/patroni/config.d/config.yml:bundle:patroni-reload", "db2:/etc/patroni/dynamic.json:bundle:patroni-dynamic",
      "db3:/etc/patroni/config.d/config.yml:bundle:patroni-reload", "db3:/etc/patroni/dynamic.json:bundle:patroni-dynamic",
    ]);
    for (const f of report.files) {
      expect(changedLines(f.patch)).toEqual([expect.stringMatching(/^-\s+"?max_connections"?: "200",?$/), expect.stringMatching(/^\+\s+"?max_connections"?: "300",?$/)]);
    }
  });
});

describe("pgha diff: haproxy.checkIntervalMs on prod", () => {
  let report: DiffReport;
  beforeAll(async () => {
    report = await diffOf("prod", { haproxy: { checkIntervalMs: 1500 } });
  });

  test("only the HAProxy nodes converge: a hitless reload, no restart", () => {
    expect(report.nodes.map((n) => [n.node, n.live, n.restart])).toEqual(
      ["lb1", "lb2"].map((n) => [n, [{ action: "haproxy-reload", paths: ["/etc/haproxy/pgha.cfg"] }], []]),
    );
    expect([...new Set(report.files.map((f) => `${f.node}:${f.path}`))]).toEqual(["lb1:/etc/haproxy/pgha.cfg", "lb2:/etc/haproxy/pgha.cfg"]);
    for (const f of report.files) for (const l of changedLines(f.patch)) expect(l).toMatch(/inter /);
    expect(report.plans.changed.map((c) => c.name).sort()).toEqual(["orders-prod-lb1-bundle", "orders-prod-lb1-desired", "orders-prod-lb2-bundle", "orders-prod-lb2-desired", "orders-prod-rollout"]);
  });
});

describe("pgha diff: the monthly cost change (issue 17)", () => {
  test("a parameter change costs nothing", async () => {
    const report = await diffOf("dev", { postgres: { parameters: { max_connections: 150 } } });
    expect(report.cost).toMatchObject({ delta: 0, lines: [] });
    expect(formatDiff(report)).toMatch(/\nmonthly cost: \$(\d+\.\d\d) → \$\1 \(\+\$0\.00 per month, on-demand list prices as of \d{4}-\d{2}-\d{2}\)\n/);
  });

  test("a larger instance type: the instances' price difference, line by line, and over a stated budget it says so", async () => {
    const report = await diffOf("dev", { postgres: { instanceType: "t4g.large" }, objectives: { monthlyBudgetUsd: 100 } });
    const prices = PRICES["eu-west-1"].ec2Hourly;
    expect(report.cost.delta).toBeCloseTo((prices["t4g.large"] - prices["t4g.medium"]) * 730, 6);
    expect(report.cost.lines.map((l) => l.resource).sort()).toEqual(["EC2 t4g.large", "EC2 t4g.medium"]);
    expect(formatDiff(report)).toMatch(/monthly cost: \$105\.88 → \$132\.75 \(\+\$26\.86 per month, [^)]*\) — over the budget of \$100\.00 \(objectives\.monthlyBudgetUsd\)\n {2}EC2 t4g\.medium +\$26\.86 +→ +\$0\.00 +−\$26\.86\n/);
  });
});
