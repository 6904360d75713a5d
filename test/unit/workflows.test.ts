// The CI workflows' gates, read as data: prod is deployed only after the integration suite ran
// on booted hosts, and a pull request without a sandbox runner says so instead of a quiet green.
import * as fs from "fs";
import * as path from "path";
import YAML from "yaml";
import { costDelta, formatCostDelta } from "../../src/cost/format";

const wf = (name: string) => YAML.parse(fs.readFileSync(path.resolve(__dirname, "../../.github/workflows", name), "utf8"));

describe("workflow gates", () => {
  it("deploy: prod needs staging and the integration suite; without a sandbox runner that job fails", () => {
    const jobs = wf("deploy.yml").jobs;
    expect(jobs.prod.needs).toEqual(expect.arrayContaining(["staging", "integration"]));
    const steps = jobs.integration.steps as { if?: string; run?: string }[];
    const refuse = steps[0];
    expect(refuse.if).toBe("vars.PGHA_SANDBOX_RUNNER != 'true'");
    expect(refuse.run).toMatch(/exit 1/);
    expect(steps.some((s) => /--selectProjects integration/.test(s.run ?? ""))).toBe(true);
    // dev and staging do not wait for it (they are where changes are tried).
    expect([jobs.dev.needs].flat()).not.toContain("integration");
  });

  it("pull request: the skipped integration job is named NOT RUN and warns", () => {
    const job = wf("pull-request.yml").jobs["integration-skipped"];
    expect(job.name).toMatch(/NOT RUN/);
    expect(job.steps[0].run).toContain("::warning title=Integration tests not run::");
  });

  it("pull request: the diff comment carries each stack's monthly cost change, read from pgha diff's own line", () => {
    const step = (wf("pull-request.yml").jobs["offline-diff"].steps as { name?: string; run?: string }[]).find((s) => s.name === "pgha diff for every stack")!;
    expect(step.run).toContain("npx pgha diff --stack \"$stack\"");
    expect(step.run).toContain("grep -m1 '^monthly cost:'");
    expect(step.run).toMatch(/\| stack \| monthly cost/);
    // the line the step greps is the one `pgha diff` prints (test/policies/cli.test.ts runs the CLI)
    const before = { monthly: { total: 10, lines: [] }, budget: null } as any;
    expect(formatCostDelta(costDelta(before, before))).toMatch(/^monthly cost: \$10\.00 → \$10\.00 /);
    expect(step.run).toContain("grep -m1 '^Node files'");
  });

  it("pull request: without a sandbox runner the PR itself is marked as not integration-tested", () => {
    const job = wf("pull-request.yml").jobs["integration-skipped"];
    expect(job.permissions["pull-requests"]).toBe("write");
    const comment = (job.steps as { uses?: string; with?: { message?: string } }[]).find((s) => /sticky-pull-request-comment/.test(s.uses ?? ""));
    expect(comment?.with?.message).toMatch(/Not integration-tested/);
  });
});
