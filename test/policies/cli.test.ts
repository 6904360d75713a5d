// The commands as a user (and CI) runs them: `pgha diff --base` on a clean git repository (a copy
// of this project's files committed once, then a one-line change to a stack file), and
// `pgha check`'s exit status on a passing and a broken stack, and `pgha cost --json`. They run at
// once (subprocesses).
import { execFile, execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ROOT } from "../helpers/mocks";

jest.setTimeout(120_000);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function pgha(cwd: string, args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(cwd, "bin/pgha"), ...args], { cwd, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

let repo: string;
let diff: Result;
let check: Result;
let cost: Result;

beforeAll(async () => {
  // A clean clone of the working tree: every tracked and new file, one commit, no node_modules.
  repo = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-cli-"));
  const files = execFileSync("git", ["-C", ROOT, "ls-files", "-co", "--exclude-standard", "-z"], { encoding: "utf8" }).split("\0").filter(Boolean);
  for (const f of files) {
    if (!fs.existsSync(path.join(ROOT, f))) continue; // deleted in the working tree
    fs.mkdirSync(path.dirname(path.join(repo, f)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, f), path.join(repo, f));
  }
  const git = (...args: string[]) => execFileSync("git", ["-C", repo, "-c", "user.email=ci@example.invalid", "-c", "user.name=ci", ...args], { stdio: "pipe" });
  git("init", "-q");
  git("add", "-A");
  git("commit", "-q", "-m", "base");
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(repo, "node_modules"), "dir");
  // The change under review: one PostgreSQL parameter in staging.
  fs.appendFileSync(path.join(repo, "Pulumi.staging.yaml"), "  postgres-ha:postgres:\n    parameters:\n      max_connections: 300\n");
  // A broken prod stack, outside the repository.
  const broken = path.join(repo, "..", `${path.basename(repo)}-Pulumi.prod-broken.yaml`);
  const prod = fs.readFileSync(path.join(ROOT, "Pulumi.prod.yaml"), "utf8");
  // One retention day, under the backup key prod has (or a new one): a YAML key appears once.
  fs.writeFileSync(broken, prod.includes("  postgres-ha:backup:\n")
    ? prod.replace("  postgres-ha:backup:\n", "  postgres-ha:backup:\n    fullRetentionDays: 1\n")
    : `${prod}  postgres-ha:backup:\n    fullRetentionDays: 1\n`);
  [diff, check, cost] = await Promise.all([
    pgha(repo, ["diff", "--stack", "staging", "--base", "HEAD"]),
    pgha(repo, ["check", "--stack", "dev", "--stack", broken]),
    pgha(repo, ["cost", "--stack", "dev", "--json"]),
  ]);
});

afterAll(() => {
  if (repo) {
    fs.rmSync(repo, { recursive: true, force: true });
    fs.rmSync(path.join(repo, "..", `${path.basename(repo)}-Pulumi.prod-broken.yaml`), { force: true });
  }
});

test("pgha diff --base HEAD shows exactly the parameter change", () => {
  expect(diff.stderr).toBe("");
  expect(diff.code).toBe(0);
  expect(diff.stdout).toMatch(/^pgha diff: stack staging, HEAD \([0-9a-f]{12}\) → working tree/);
  // db1–db3: bundle object + desired pointer each; the rollout command
  expect(diff.stdout).toMatch(/\nmonthly cost: \$([\d,]+\.\d\d) → \$\1 \(\+\$0\.00 per month, on-demand list prices as of \d{4}-\d{2}-\d{2}\)\n/);
  // Seven changed, nothing added or deleted; every other resource of the stack unchanged (the total
  // grows with the stack: central logs added six security-group rules).
  const counts = /\nResources: 0 to add, 7 to change, 0 to delete, (\d+) unchanged \(of (\d+)\)\n/.exec(diff.stdout);
  expect(counts).not.toBeNull();
  expect(Number(counts![2]) - Number(counts![1])).toBe(7);
  expect(Number(counts![2])).toBeGreaterThan(200);
  expect(diff.stdout).toMatch(/~ command:local:Command {2}main-staging-rollout {2}\[replace; runs again: its trigger changed\]/);
  expect(diff.stdout).toMatch(/~ aws:s3\/bucketObjectv2:BucketObjectv2 {2}main-staging-db2-bundle\n(.*\n)*? {6}bundle files: \/etc\/patroni\/config\.d\/config\.yml, \/etc\/patroni\/dynamic\.json\n/);
  expect(diff.stdout).toMatch(/Nodes: 3 converge when `pulumi up` runs the rollout/);
  expect(diff.stdout).toMatch(/ {2}db3 {2}bundle [0-9a-f]{12} → [0-9a-f]{12}\n {6}live: patroni-reload \(\/etc\/patroni\/config\.d\/config\.yml\); patroni-dynamic \(\/etc\/patroni\/dynamic\.json\)\n {6}needs a restart: nothing\n/);
  expect(diff.stdout).toContain("Node files (bundles and user-data, ec2 layout): 6 changed on 3 nodes");
  const patches = diff.stdout.split("\n").filter((l) => l.startsWith("+++ "));
  expect(patches).toEqual(["db1", "db2", "db3"].flatMap((n) => [`+++ b/${n}/etc/patroni/config.d/config.yml`, `+++ b/${n}/etc/patroni/dynamic.json`]));
  const changedLines = diff.stdout.split("\n").filter((l) => /^[-+](?![-+]{2} )/.test(l));
  expect(changedLines).toHaveLength(12);
  for (const l of changedLines) expect(l).toMatch(/max_connections/);
  // the temporary base directory is gone
  expect(fs.readdirSync(os.tmpdir()).filter((d) => d.startsWith("pgha-diff-base-")).some((d) => diff.stdout.includes(d))).toBe(false);
});

test("pgha check: exit 1 when a stack has a mandatory violation, each stack reported", () => {
  expect(check.code).toBe(1);
  expect(check.stdout).toMatch(/pgha check: stack dev \(tier dev\)[\s\S]*PASSED: no mandatory violation/);
  expect(check.stdout).toMatch(/pgha check: stack prod-broken \(tier prod\)[\s\S]*✗ mandatory backup-retention-minimum[\s\S]*fix: Raise `backup.fullRetentionDays`[\s\S]*FAILED: 3 mandatory violations/);
  expect(check.stderr).toContain("pgha: 1 of 2 stacks failed the policy check");
});

test("pgha cost --stack dev --json: the issue's interface", () => {
  expect([cost.code, cost.stderr]).toEqual([0, ""]);
  const j = JSON.parse(cost.stdout);
  expect(j).toMatchObject({ currency: "USD", region: "eu-west-1", priceDate: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/), assumptions: expect.any(Object) });
  expect(j.monthly.total).toBeGreaterThan(0);
  for (const l of j.monthly.lines) expect(Object.keys(l)).toEqual(expect.arrayContaining(["resource", "type", "quantity", "unitPrice", "monthly"]));
  expect(j.comparison).toMatchObject({ rdsMultiAzCluster: { class: "db.t4g.medium", monthly: expect.any(Number) }, rdsMultiAzInstance: { class: "db.t4g.medium", monthly: expect.any(Number) }, ratio: expect.any(Number) });
});
