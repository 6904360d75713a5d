// `pgha restore` (the in-place restore of an AWS stack over SSM) against a stub awscli that runs
// each node command on this machine with stub node scripts: the plan is read from the nodes, the
// target validated on the leader, and nothing that stops or overwrites is sent without a yes.
import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import { ssmStub, type SsmStub } from "../helpers/ssm-stub";

const pgha = path.resolve(__dirname, "../../bin/pgha");
const IDS = { db1: "i-0000000000000db1", db2: "i-0000000000000db2", db3: "i-0000000000000db3" };
/** What may run before the operator said yes: reads only. */
const READ_ONLY = /^i-\w+: (pgha-node cluster|pgha-restore (validate|window|points) .*|bash -c .*(pg_control_checkpoint|df --output=avail).*)$/;

function stubNodes(stub: SsmStub): string {
  stub.command("pgha-node", `#!/bin/bash
[ "$1" = cluster ] && echo '{"members":[{"name":"db1","role":"leader"},{"name":"db2","role":"replica"},{"name":"db3","role":"replica"}]}'
`);
  stub.command("pgha-restore", `#!/bin/bash
case "$1" in
  validate) if [ -n "\${PGHA_REFUSE:-}" ]; then echo "2026-12-02T10:00:00Z [db1] refused: $PGHA_REFUSE" >&2; exit 2; fi; echo "target ok" >&2 ;;
  window) echo '{"oldest":"2026-12-01T01:05:00Z","newest":"2026-12-02T10:00:00Z","backups":[{"label":"20261201-010000F","sizeBytes":1073741824}]}' ;;
  points) echo '[{"name":"before-migration","time":"2026-12-02T09:00:00Z"}]' ;;
  *) echo "stub pgha-restore: $*" >&2; exit 9 ;;
esac
`);
  stub.command("runuser", "#!/bin/sh\necho 4\n");
  stub.command("df", "#!/bin/sh\nprintf 'Avail\\n%s\\n' 107374182400\n");
  stub.command("systemctl", "#!/bin/sh\necho \"stub systemctl $*\" >&2; exit 0\n");
  const ids = path.join(stub.dir, "ids.json");
  fs.writeFileSync(ids, JSON.stringify(IDS));
  return ids;
}

function restore(stub: SsmStub, args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [pgha, "restore", "--stack", "prod", ...args], { encoding: "utf8", env: stub.env(env), timeout: 120_000, input: "" });
}

describe("`pgha restore` (in place, over SSM) against a stub awscli", () => {
  let stub: SsmStub;
  let ids: string;
  beforeEach(() => {
    stub = ssmStub();
    ids = stubNodes(stub);
  });
  afterEach(() => stub.remove());

  it("--dry-run prints the plan read from the nodes and sends nothing but reads", () => {
    const r = restore(stub, ["--instance-ids", ids, "--type", "name", "--target", "before-migration", "--dry-run"]);
    expect([r.status, r.stderr]).toEqual([0, expect.any(String)]);
    expect(r.stdout).toContain("In-place restore of cluster orders: every member goes back to name before-migration.");
    expect(r.stdout).toContain("now: leader db1 on timeline 4; db2 restores and will lead");
    expect(r.stdout).toContain("restorable window: 2026-12-01T01:05:00Z … 2026-12-02T10:00:00Z");
    expect(r.stdout).toContain("(dry run: nothing was changed");
    const sent = stub.sent();
    expect(sent.length).toBeGreaterThanOrEqual(5);
    expect(sent.filter((c) => !READ_ONLY.test(c))).toEqual([]);
    expect(sent).toContain(`${IDS.db1}: pgha-restore validate --type name --action promote --target before-migration`);
    expect(stub.calls().every((c) => c.includes("--region eu-west-1"))).toBe(true);
    const plan = JSON.parse(restore(stub, ["--instance-ids", ids, "--type", "name", "--target", "before-migration", "--dry-run", "--json"]).stdout);
    expect(plan).toMatchObject({ cluster: "orders", leader: "db1", restorer: "db2", timelineBefore: 4, branchTime: "2026-12-02T09:00:00Z", needBytes: 1073741824 });
  }, 120_000);

  it("without --yes (and no terminal to ask on) it refuses with exit 2 after the plan, and stops nothing", () => {
    const r = restore(stub, ["--instance-ids", ids, "--type", "immediate"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("In-place restore of cluster orders");
    expect(r.stderr).toContain("restore not confirmed, nothing was stopped");
    expect(stub.sent().filter((c) => !READ_ONLY.test(c))).toEqual([]);
  }, 120_000);

  it("a target the leader refuses stops before anything else is asked", () => {
    const r = restore(stub, ["--instance-ids", ids, "--type", "time", "--target", "2026-11-01 00:00:00+00", "--yes"], { PGHA_REFUSE: "--target 2026-11-01 00:00:00+00 is before the oldest restorable point" });
    expect([r.status, r.stderr]).toEqual([2, expect.stringContaining("restore refused, nothing was stopped: --target 2026-11-01 00:00:00+00 is before the oldest restorable point")]);
    expect(stub.sent()).toEqual([`${IDS.db1}: pgha-node cluster`, `${IDS.db1}: pgha-restore validate --type time --action promote --target '2026-11-01 00:00:00+00'`]);
  }, 120_000);

  it("refuses instance ids that miss a member, and a bad --type, before any AWS call", () => {
    const partial = path.join(stub.dir, "partial.json");
    fs.writeFileSync(partial, JSON.stringify({ db1: IDS.db1, db2: IDS.db2 }));
    const r = restore(stub, ["--instance-ids", partial, "--type", "immediate", "--dry-run"]);
    expect([r.status, r.stderr]).toEqual([2, expect.stringContaining("no instance id (i-…) for db3; the stack's members are db1, db2, db3")]);
    const t = restore(stub, ["--instance-ids", ids, "--type", "yesterday", "--dry-run"]);
    expect([t.status, t.stderr]).toEqual([2, expect.stringContaining("--type must be time, xid, lsn, name, immediate, not yesterday")]);
    expect(stub.calls()).toEqual([]);
  }, 120_000);
});
