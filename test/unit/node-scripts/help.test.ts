// Every node script answers --help (and -h, help) with its usage, exit 0, on a node that has no
// bundle yet and without root; pgha-patronictl runs patronictl as root with the cluster's
// credentials.
import * as fs from "fs";
import * as path from "path";
import { fakeNodes, SOFTWARE_DIR, usageOf } from "./harness";

jest.setTimeout(120_000); // real processes: seconds each on a busy machine
const node = fakeNodes();

const SCRIPTS = ["usr/local/sbin", "usr/local/bin"].flatMap((d) => fs.readdirSync(path.join(SOFTWARE_DIR, d)).map((f) => `/${d}/${f}`)).sort();

test("the node software is these scripts (a new one gets a --help test by being here)", () => {
  expect(SCRIPTS.map((s) => path.basename(s)).sort()).toEqual([
    "pgha-access", "pgha-archive-get", "pgha-backup", "pgha-bootstrap", "pgha-dynamic", "pgha-etcd", "pgha-logical", "pgha-monitor", "pgha-node", "pgha-patronictl", "pgha-restore", "pgha-secrets", "pgha-setup", "pgha-standby",
  ]);
});

describe.each(SCRIPTS)("%s --help", (script) => {
  it("prints its usage and exits 0, touching nothing (no node.env, not root)", () => {
    const n = node();
    n.answer("patronictl", '[ "$1" = --help ] && echo "Usage: patronictl [OPTIONS] COMMAND [ARGS]..."');
    for (const flag of ["--help", "-h", "help"]) {
      const r = n.run(script, [flag], { env: { PGHA_TEST_USER: "nobody" } });
      expect([flag, r.status, r.stderr]).toEqual([flag, 0, ""]);
      expect(r.stdout.startsWith(usageOf(script))).toBe(true);
      expect(usageOf(script).split("\n").length).toBeGreaterThan(2);
    }
    const touched = n.calls().map((c) => c[0]).filter((c) => !(script.endsWith("pgha-patronictl") && c === "patronictl"));
    expect(touched).toEqual([]);
    if (script.endsWith("pgha-patronictl")) expect(n.calls("patronictl")).toEqual([["--help"], ["--help"], ["--help"]]);
  });
});

describe("pgha-patronictl", () => {
  it("runs patronictl on Patroni's config directory (its REST API credentials in secrets.yml), as root (sudo when needed)", () => {
    const n = node();
    n.answer("patronictl", '[ "$(id -u)" = 0 ] && echo "+ Cluster: main"');
    const asRoot = n.run("pgha-patronictl", ["list"]);
    expect([asRoot.status, asRoot.stdout]).toEqual([0, "+ Cluster: main\n"]);
    expect(n.calls("patronictl")).toEqual([["-c", n.path("/etc/patroni/config.d"), "list"]]);
    expect(n.calls("sudo")).toEqual([]);

    n.clearCalls();
    const asUser = n.run("pgha-patronictl", ["switchover", "--candidate", "db2", "--force"], { env: { PGHA_TEST_USER: "admin" } });
    expect(asUser.status).toBe(0);
    expect(n.calls("sudo")).toEqual([[n.path("/usr/local/bin/pgha-patronictl"), "switchover", "--candidate", "db2", "--force"]]);
    expect(n.calls("patronictl")).toEqual([["-c", n.path("/etc/patroni/config.d"), "switchover", "--candidate", "db2", "--force"]]);
  });
});
