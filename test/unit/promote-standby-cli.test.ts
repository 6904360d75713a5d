// `pgha promote-standby` (a standby stack promoted on AWS over SSM) against a stub awscli that
// runs each node command here, with a stub pgha-standby playing both regions' members: the steps
// go to the right nodes in the right order, and nothing changes where the guards refuse.
import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import { ssmStub, type SsmStub } from "../helpers/ssm-stub";

const pgha = path.resolve(__dirname, "../../bin/pgha");
const DR = { "dr-db1": "i-000000000000ddb1", "dr-db2": "i-000000000000ddb2" };
const PROD = { db1: "i-0000000000000db1", db2: "i-0000000000000db2", db3: "i-0000000000000db3" };
/** Commands that change nothing. */
const READ_ONLY = /^i-\w+: pgha-standby state --json$/;

/** Both regions' members: dr-db1 the standby leader, prod's db2 the writable leader (standby_leader once fenced). */
function stubNodes(stub: SsmStub): { dr: string; prod: string } {
  const who = `case "$PGHA_INSTANCE" in ${Object.entries({ ...DR, ...PROD }).map(([n, id]) => `${id}) me=${n} ;;`).join(" ")} esac`;
  stub.command("pgha-standby", `#!/bin/bash
${who}
fenced=$(dirname "$0")/../fenced
case "$1 $me" in
  "state dr-db"*) echo '{"node":"'$me'","role":"'$([ $me = dr-db1 ] && echo standby_leader || echo replica)'","follows":{"host":"rw.prod","port":5000},"leader":"dr-db1","leaderRole":"standby_leader","writable":false,"inRecovery":true,"endLsn":"0/7000000"}' ;;
  "state db"*) if [ -e "$fenced" ]; then role=standby_leader; rec=true; else role=leader; rec=false; fi
               echo '{"node":"'$me'","role":"x","follows":null,"leader":"db2","leaderRole":"'$role'","writable":'$([ $me = db2 ] && [ $rec = false ] && echo true || echo false)',"inRecovery":'$rec',"endLsn":"0/7000200"}' ;;
  "drain db2") echo '{"lsn":"0/7000200","drainedAt":"2026-12-05T09:59:59.000Z","terminated":1,"seconds":3}' ;;
  "undrain db2") echo "writes are taken again" ;;
  "fence db2") touch "$fenced"; echo '{"formerLeader":"db2","standbyLeader":"db2","fencedAt":"2026-12-05T10:00:00.000Z"}' ;;
  "wait-replayed dr-db1") if [ -n "\${PGHA_BEHIND:-}" ]; then echo "dr-db1 has not replayed up to $2 after 60 s" >&2; exit 1; fi; echo "dr-db1 replayed up to $2" ;;
  "promote dr-db1") old=""; [ "$2" = --old-lsn ] && old=$3
               echo '{"leader":"dr-db1","promotedAt":"2026-12-05T10:00:01.000Z","writableAt":"2026-12-05T10:00:01.500Z","writableAfterMs":500,"timeline":5,"receivedLsn":"0/7000200","replayLsn":"0/7000100","lastReplayedCommitAt":"2026-12-05T10:00:00.900Z","rpoBytes":'$([ -n "$old" ] && echo 0 || echo null)'}' ;;
  *) echo "stub pgha-standby: unexpected $* on $me" >&2; exit 9 ;;
esac
`);
  stub.command("pgha-backup", "#!/bin/sh\necho \"full backup done\" >&2\n");
  const dr = path.join(stub.dir, "dr.json");
  const prod = path.join(stub.dir, "prod.json");
  fs.writeFileSync(dr, JSON.stringify(DR));
  fs.writeFileSync(prod, JSON.stringify(PROD));
  return { dr, prod };
}

function promote(stub: SsmStub, args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [pgha, "promote-standby", "--stack", "prod-dr", ...args], { encoding: "utf8", env: stub.env(env), timeout: 120_000, input: "" });
}

describe("`pgha promote-standby` (over SSM) against a stub awscli", () => {
  let stub: SsmStub;
  let ids: { dr: string; prod: string };
  beforeEach(() => {
    stub = ssmStub();
    ids = stubNodes(stub);
  });
  afterEach(() => stub.remove());

  it("--fence-old: the old leader takes no new write, the standby leader replays up to its last commit, the old cluster follows, then the promotion (RPO 0) and a backup; each step on its node", () => {
    const r = promote(stub, ["--instance-ids", ids.dr, "--old-instance-ids", ids.prod, "--fence-old", "--json"]);
    expect([r.status, r.stderr]).toEqual([0, expect.stringContaining("[promote-standby] fencing prod: standby_cluster → rw.orders.dr.pgha.internal:5000")]);
    expect(r.stderr).toContain("db2's acknowledged commits end before 0/7000200 (1 session(s) still writing were terminated)");
    const sent = stub.sent().filter((c) => !READ_ONLY.test(c));
    expect(sent).toEqual([
      `${PROD.db2}: pgha-standby drain --grace 10 --timeout 60 --json`,
      `${DR["dr-db1"]}: pgha-standby wait-replayed 0/7000200 --timeout 60`,
      `${PROD.db2}: pgha-standby fence --host rw.orders.dr.pgha.internal --port 5000 --timeout 90 --json`,
      `${DR["dr-db1"]}: pgha-standby promote --old-lsn 0/7000200 --json`,
      `${DR["dr-db1"]}: pgha-backup full`,
    ]);
    expect(JSON.parse(r.stdout)).toMatchObject({ rpoBytes: 0, rpoSeconds: 0, promotedAt: "2026-12-05T10:00:01.000Z", firstWriteAt: "2026-12-05T10:00:01.500Z", leader: "dr-db1", timeline: 5, oldPrimaryReachable: true, fenced: true, backupAt: expect.any(String) });
    // Each region's calls go to its own region.
    expect(stub.calls().filter((c) => c.includes(PROD.db2) && c.includes("send-command")).every((c) => c.includes("--region eu-west-1"))).toBe(true);
    expect(stub.calls().filter((c) => c.includes(DR["dr-db1"]) && c.includes("send-command")).every((c) => c.includes("--region eu-central-1"))).toBe(true);
  }, 120_000);

  it("--fence-old with the standby short of the old primary's last commit: the old primary takes writes again; nothing is fenced or promoted", () => {
    const r = promote(stub, ["--instance-ids", ids.dr, "--old-instance-ids", ids.prod, "--fence-old"], { PGHA_BEHIND: "1" });
    expect([r.status, r.stderr]).toEqual([1, expect.stringMatching(/dr-db1 did not replay prod's WAL up to 0\/7000200: dr-db1 has not replayed up to 0\/7000200 after 60 s[^]*Nothing was fenced or promoted; prod takes writes again/)]);
    expect(stub.sent().filter((c) => !READ_ONLY.test(c))).toEqual([
      `${PROD.db2}: pgha-standby drain --grace 10 --timeout 60 --json`,
      `${DR["dr-db1"]}: pgha-standby wait-replayed 0/7000200 --timeout 60`,
      `${PROD.db2}: pgha-standby undrain`,
    ]);
  }, 120_000);

  it("is refused (exit 3) while the old primary takes writes and neither --fence-old nor --yes was given: only states were read", () => {
    const r = promote(stub, ["--instance-ids", ids.dr, "--old-instance-ids", ids.prod]);
    expect([r.status, r.stderr]).toEqual([3, expect.stringContaining("the old primary (prod, leader db2) is reachable and accepts writes: promoting now would leave two writable primaries")]);
    expect(stub.sent().filter((c) => !READ_ONLY.test(c))).toEqual([]);
  }, 120_000);

  it("a first region that answers nothing within --old-timeout is gone: promoted without fencing, the RPO unknown", () => {
    const gone = ssmStub({ offline: Object.values(PROD) });
    try {
      const files = stubNodes(gone);
      const r = spawnSync(process.execPath, [pgha, "promote-standby", "--stack", "prod-dr", "--instance-ids", files.dr, "--old-instance-ids", files.prod, "--old-timeout", "5", "--json"], { encoding: "utf8", env: gone.env(), timeout: 120_000, input: "" });
      expect([r.status, r.stderr]).toEqual([0, expect.any(String)]);
      expect(JSON.parse(r.stdout)).toMatchObject({ rpoBytes: null, oldPrimaryReachable: false, fenced: false, leader: "dr-db1" });
      expect(gone.sent().filter((c) => !READ_ONLY.test(c))).toEqual([`${DR["dr-db1"]}: pgha-standby promote --json`, `${DR["dr-db1"]}: pgha-backup full`]);
    } finally {
      gone.remove();
    }
  }, 120_000);

  it("refuses without a way to check the old primary (unless --yes), --fence-old without its instance ids, and a stack that is no standby — before any change", () => {
    const blind = promote(stub, ["--instance-ids", ids.dr]);
    expect([blind.status, blind.stderr]).toEqual([3, expect.stringContaining("cannot tell whether the old primary is reachable (no old cluster given)")]);
    expect(stub.sent().filter((c) => !READ_ONLY.test(c))).toEqual([]);
    const noIds = promote(stub, ["--instance-ids", ids.dr, "--fence-old"]);
    expect([noIds.status, noIds.stderr]).toEqual([2, expect.stringContaining("--fence-old needs --old-instance-ids")]);
    const primary = spawnSync(process.execPath, [pgha, "promote-standby", "--stack", "prod", "--instance-ids", ids.prod], { encoding: "utf8", env: stub.env(), timeout: 120_000, input: "" });
    expect([primary.status, primary.stderr]).toEqual([2, expect.stringContaining("stack prod is not a standby cluster (no postgres-ha:standby): nothing to promote")]);
    const yes = promote(stub, ["--instance-ids", ids.dr, "--yes", "--json"]);
    expect(yes.status).toBe(0);
    expect(JSON.parse(yes.stdout)).toMatchObject({ rpoBytes: null, fenced: false });
  }, 120_000);
});
