// shellcheck over every shell file in the repository (node software, machine and CI scripts, the
// test stubs), at its strictest severity (style), following sourced files (-x; .shellcheckrc
// resolves them relative to each script). GitHub workflow `run:` blocks are checked by
// actionlint, which runs shellcheck on them (pull-request.yml, lint-workflows).
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

const ROOT = path.resolve(__dirname, "../..");
const SKIP_DIRS = new Set(["node_modules", ".git", "out", "dist", "coverage"]);

/** Shell files: *.sh / *.bash, or a shell shebang, or a `# shellcheck shell=` directive on the first lines. */
function shellFiles(dir = ROOT): string[] {
  const found: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) found.push(...shellFiles(p));
      continue;
    }
    if (!e.isFile()) continue;
    if (/\.(sh|bash)$/.test(e.name)) {
      found.push(p);
      continue;
    }
    if (/\.(ts|js|json|md|ya?ml|mustache|txt|py|sql|tar)$/.test(e.name)) continue;
    const head = fs.readFileSync(p, "utf8").slice(0, 300);
    if (/^#!.*\b(ba|da)?sh\b/.test(head) || /^# shellcheck shell=(ba)?sh/m.test(head)) found.push(p);
  }
  return found.sort();
}

const version = spawnSync("shellcheck", ["--version"], { encoding: "utf8" });
const installed = !version.error && version.status === 0;

describe("shellcheck", () => {
  const files = shellFiles().map((f) => path.relative(ROOT, f));

  it("finds every kind of shell file the repository has", () => {
    expect(files).toEqual(expect.arrayContaining([
      ".ci/run",
      "node-software/usr/local/lib/pgha/common.sh",
      "node-software/usr/local/sbin/pgha-node",
      "node-software/usr/local/sbin/pgha-bootstrap",
      "node-software/usr/local/bin/pgha-patronictl",
      "sandbox/build-image.sh",
      "scripts/setup-machine.sh",
      "scripts/test.sh",
      "test/unit/node-scripts/stubs/aws",
      "test/unit/node-scripts/stubs/stub-lib.sh",
    ]));
    expect(files).not.toContain("bin/pgha"); // node
  });

  if (!installed && process.env.CI) {
    it("shellcheck is installed on CI (the workflow and scripts/setup-machine.sh install it)", () => {
      throw new Error(`shellcheck is not installed: ${version.error?.message ?? version.stderr}`);
    });
  } else if (!installed) {
    // Visible in the summary as skipped, with the reason in its name; never on CI (above).
    it.skip("every shell file passes shellcheck -x -S style — NOT RUN: shellcheck is not installed here (apt-get install shellcheck)", () => undefined);
  } else {
    it(`every shell file passes shellcheck -x -S style (${version.stdout.match(/version: (\S+)/)?.[1] ?? "?"})`, () => {
      const r = spawnSync("shellcheck", ["-x", "--severity=style", "--format=gcc", ...files], { cwd: ROOT, encoding: "utf8" });
      expect(r.error).toBeUndefined();
      expect(`${r.stdout}${r.stderr}`).toBe("");
      expect(r.status).toBe(0);
    });

    it("fails on a finding (the check is live)", () => {
      const r = spawnSync("shellcheck", ["--severity=style", "--format=gcc", "-"], { cwd: ROOT, encoding: "utf8", input: "#!/bin/bash\nrm -rf $1/tmp\n" });
      expect(r.status).not.toBe(0);
      expect(r.stdout).toContain("SC2086");
    });
  }
});
