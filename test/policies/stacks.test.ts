// The whole program under mocks, evaluated by the pack with each environment's enforcement:
// the shipped stacks pass every rule; at preview (provider outputs unknown) nothing passes that
// could not be evaluated; outside prod a broken promise is advisory, not blocking.
import { checkRun, runCheck, type CheckReport } from "../../src/plan/check";
import { jestIsolation, ROOT, runProgram, type ProgramRun } from "../helpers/mocks";
import { cloneRun } from "./helpers";

jest.setTimeout(60_000);

const violated = (r: CheckReport) => [...new Set(r.result!.diagnostics.filter((d) => d.kind === "violation").map((d) => d.policyName))].sort();
const blockingRules = (r: CheckReport) => [...new Set(r.result!.blocking.map((d) => d.policyName))].sort();

describe.each(["dev", "staging", "prod"])("stack %s as shipped", (stack) => {
  let report: CheckReport;
  beforeAll(async () => {
    report = await runCheck({ root: ROOT, stack, isolation: jestIsolation });
  });

  test("the program runs and every policy is evaluated with the environment's enforcement", () => {
    expect(report.programError).toBeUndefined();
    expect(report.policyConfig.file).toMatch(new RegExp(`policies/config/${stack}\\.json$`));
    const levels = new Set(report.result!.outcomes.map((o) => o.enforcementLevel));
    expect([...levels]).toEqual([stack === "prod" ? "mandatory" : "advisory"]);
  });

  test("no violation, no error, nothing left unevaluated", () => {
    expect(report.result!.diagnostics.map((d) => `${d.policyName}: ${d.message}`)).toEqual([]);
  });

  test("prod-only rules apply to prod only", () => {
    const na = Object.fromEntries(report.result!.outcomes.filter((o) => o.notApplicable).map((o) => [o.policy.name, o.notApplicable]));
    if (stack === "prod") expect(na).toEqual({});
    else expect(Object.keys(na)).toEqual(expect.arrayContaining(["ec2-detailed-monitoring-prod", "haproxy-redundancy-prod", "prod-data-protected", "synchronous-replication"]));
  });
});

describe("stack prod-dr as shipped (a standby cluster, tier staging)", () => {
  let report: CheckReport;
  beforeAll(async () => {
    report = await runCheck({ root: ROOT, stack: "prod-dr", isolation: jestIsolation });
  });

  test("the program runs under its tier's policy config; no violation, no error, nothing left unevaluated", () => {
    expect(report.programError).toBeUndefined();
    expect(report.policyConfig.file).toMatch(/policies\/config\/staging\.json$/);
    expect(report.result!.diagnostics.map((d) => `${d.policyName}: ${d.message}`)).toEqual([]);
  });
});

describe("prod at preview time (provider outputs unknown, as `pulumi preview` sees them)", () => {
  let report: CheckReport;
  beforeAll(async () => {
    report = await runCheck({ root: ROOT, stack: "prod", isolation: jestIsolation, previewUnknowns: true });
  });

  test("rules that need a computed value report that they could not run — advisory, never a pass", () => {
    const ds = report.result!.diagnostics;
    expect(ds.filter((d) => d.kind !== "unknown-at-preview")).toEqual([]);
    const couldNotRun = new Set(ds.map((d) => d.policyName));
    // e.g. the bucket policy is built from the bucket's ARN, the secrets' key from the KMS key.
    // The node roles' policies are built from the bucket's ARN too.
    expect([...couldNotRun]).toEqual(expect.arrayContaining(["bucket-tls-only", "secrets-kms-encrypted", "ec2-instance-profile", "node-role-own-bundle-only"]));
    for (const name of couldNotRun) {
      const outcome = report.result!.outcomes.find((o) => o.policy.name === name)!;
      expect(outcome.diagnostics.every((d) => d.enforcementLevel === "advisory")).toBe(true);
    }
    expect(report.result!.blocking).toEqual([]);
  });

  test("what only depends on the config still runs at preview (bundles, user-data, tags, topology, promises)", () => {
    const clean = report.result!.outcomes.filter((o) => !o.diagnostics.length && !o.notApplicable).map((o) => o.policy.name);
    expect(clean).toEqual(
      expect.arrayContaining([
        "tls-everywhere", "pg-hba-hostssl-only", "synchronous-replication", "failover-within-rto", "etcd-quorum", "user-data-no-passwords", "required-tags",
        // bundle contents are computed by the program itself, and the objects' key is linked to the stack's KMS key
        "bundle-no-passwords", "bundle-objects-sse-kms", "bundle-pointers-resolve",
      ]),
    );
  });
});

describe("outside prod, a broken promise is advisory", () => {
  let staging: ProgramRun;
  beforeAll(async () => {
    staging = await runProgram({ stack: "staging", overrides: { backup: { fullRetentionDays: 2 } } });
  });

  test("staging with 2-day retention: reported, not blocking", async () => {
    const report = await checkRun(staging, { root: ROOT });
    expect(violated(report)).toEqual(["backup-retention-minimum"]);
    expect(report.result!.diagnostics.every((d) => d.enforcementLevel === "advisory")).toBe(true);
    expect(blockingRules(report)).toEqual([]);
  });

  test("the same with prod's policy config: blocking", async () => {
    const report = await checkRun(cloneRun(staging), { root: ROOT, policyConfigFile: `${ROOT}/policies/config/prod.json` });
    expect(blockingRules(report)).toEqual(expect.arrayContaining(["backup-retention-minimum"]));
  });
});
