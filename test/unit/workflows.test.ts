// The CI workflows' gates, read as data: prod is deployed only after the integration suite ran
// on booted hosts, and a pull request without a sandbox runner says so instead of a quiet green.
import * as fs from "fs";
import * as path from "path";
import YAML from "yaml";

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

  it("pull request: without a sandbox runner the PR itself is marked as not integration-tested", () => {
    const job = wf("pull-request.yml").jobs["integration-skipped"];
    expect(job.permissions["pull-requests"]).toBe("write");
    const comment = (job.steps as { uses?: string; with?: { message?: string } }[]).find((s) => /sticky-pull-request-comment/.test(s.uses ?? ""));
    expect(comment?.with?.message).toMatch(/Not integration-tested/);
  });
});
