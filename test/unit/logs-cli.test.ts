// `pgha logs` (the central logs of an AWS stack, journalctl on the monitoring node over SSM)
// against a stub awscli that runs the node command on this machine with a stub journalctl: the
// query reaches mon1's instance only, a bad query or a stack without monitoring is refused before
// any AWS call, and an answer cut by SSM's 24 000-character limit says so.
import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import { ssmStub, type SsmStub } from "../helpers/ssm-stub";
import { DEFAULT_LINES, SSM_OUTPUT_LIMIT } from "../../src/cli/logs";

const pgha = path.resolve(__dirname, "../../bin/pgha");
const MON = "i-00000000000000a51";

function logs(stub: SsmStub, args: string[], stack = "prod") {
  const r = spawnSync(process.execPath, [pgha, "logs", "--stack", stack, ...args], { encoding: "utf8", env: stub.env(), timeout: 120_000, input: "" });
  // bin/pgha's note that it runs the TypeScript sources (dist/ older than src/) is not the command's.
  return { ...r, stderr: r.stderr.split("\n").filter((l) => !l.startsWith("pgha: dist/ is out of date")).join("\n") };
}

describe("`pgha logs` (central logs on AWS, over SSM) against a stub awscli", () => {
  let stub: SsmStub;
  let ids: string;
  const setUp = (opts: { outputLimit?: number } = {}) => {
    stub = ssmStub(opts);
    ids = path.join(stub.dir, "ids.json");
    fs.writeFileSync(ids, JSON.stringify({ mon1: MON, db1: "i-0000000000000db1" }));
  };
  afterEach(() => stub.remove());

  it("runs journalctl over the remote journals on mon1's instance, with the host, --since, --grep and the default -n; prints its lines", () => {
    setUp();
    stub.command("journalctl", `#!/bin/sh\necho "args: $*"\necho "2026-12-05T01:00:00+0000 db1 patroni[812]: INFO: no action. I am (db1), the leader with the lock"\n`);
    const r = logs(stub, ["--instance-ids", ids, "db1", "--since", "10 min ago", "--grep", "patroni"]);
    expect([r.status, r.stderr]).toEqual([0, ""]);
    expect(stub.sent()).toEqual([`${MON}: journalctl --directory=/var/log/journal/remote --no-pager -q -o short-iso --since '10 min ago' -g patroni -n ${DEFAULT_LINES} _HOSTNAME=db1`]);
    expect(r.stdout.split("\n")).toEqual([
      `args: --directory=/var/log/journal/remote --no-pager -q -o short-iso --since 10 min ago -g patroni -n ${DEFAULT_LINES} _HOSTNAME=db1`,
      "2026-12-05T01:00:00+0000 db1 patroni[812]: INFO: no action. I am (db1), the leader with the lock",
      "",
    ]);
  });

  it("--grep without a match: no lines, exit 0 (journalctl -g exits 1); another failure of journalctl is said, exit 1", () => {
    setUp();
    stub.command("journalctl", "#!/bin/sh\nexit 1\n");
    const none = logs(stub, ["--instance-ids", ids, "--grep", "nothing-like-this", "--json", "-n", "5"]);
    expect([none.status, none.stdout, none.stderr]).toEqual([0, "", ""]);
    expect(stub.sent()).toEqual([`${MON}: journalctl --directory=/var/log/journal/remote --no-pager -q -o json -g nothing-like-this -n 5`]);
    stub.command("journalctl", "#!/bin/sh\necho 'Failed to open journal directory: No such file or directory' >&2; exit 1\n");
    const broken = logs(stub, ["--instance-ids", ids]);
    expect([broken.status, broken.stderr]).toEqual([1, expect.stringContaining("journalctl on mon1 failed (1): Failed to open journal directory")]);
  });

  it("refuses before any AWS call: a host that is not a node, a bad -n, ids without mon1, a stack without a monitoring node", () => {
    setUp();
    const stranger = logs(stub, ["--instance-ids", ids, "db9"]);
    expect([stranger.status, stranger.stderr]).toEqual([2, expect.stringContaining("db9 is not a node of stack prod: its nodes are")]);
    const lines = logs(stub, ["--instance-ids", ids, "-n", "0"]);
    expect([lines.status, lines.stderr]).toEqual([2, expect.stringContaining("-n 0: a number of lines, 1 or more")]);
    fs.writeFileSync(ids, JSON.stringify({ db1: "i-0000000000000db1" }));
    const noMon = logs(stub, ["--instance-ids", ids]);
    expect([noMon.status, noMon.stderr]).toEqual([2, expect.stringContaining("no instance id (i-…) for mon1")]);
    const dev = logs(stub, ["--instance-ids", ids], "dev");
    expect([dev.status, dev.stderr]).toEqual([2, expect.stringContaining("stack dev has no monitoring node (monitoring.enabled is false)")]);
    expect(stub.calls()).toEqual([]);
  });

  it("an answer cut at SSM's 24 000 characters: only whole lines printed, and a warning that the newest are missing (exit 3)", () => {
    setUp({ outputLimit: SSM_OUTPUT_LIMIT });
    stub.command("journalctl", `#!/bin/bash\nfor i in $(seq 1 2000); do printf '2026-12-05T01:00:00+0000 db2 postgres[90]: line %05d of the answer\\n' $i; done\n`);
    const r = logs(stub, ["--instance-ids", ids, "-n", "2000"]);
    expect(r.status).toBe(3);
    const printed = r.stdout.trimEnd().split("\n");
    expect(printed.length).toBeGreaterThan(300);
    expect(printed.length).toBeLessThan(2000);
    expect(printed.every((l, i) => l === `2026-12-05T01:00:00+0000 db2 postgres[90]: line ${String(i + 1).padStart(5, "0")} of the answer`)).toBe(true);
    expect(r.stderr).toContain(`reached SSM's limit of ${SSM_OUTPUT_LIMIT} characters: the newest entries are cut off after the ${printed.length} shown`);
  });
});
