// pgha-access (the wrapper around the SQL applier) on a fake node: only the leader applies; the
// login roles' passwords are read from their secrets and reach the applier on stdin only; a
// missing secret fails naming role and secret, before anything is applied.
import * as fs from "fs";
import * as path from "path";
import { fakeNodes, type FakeNode } from "./harness";
import { asDevNode } from "./fixtures";

jest.setTimeout(120_000); // real processes: seconds each on a busy machine
const node = fakeNodes();

const DECLARATION = {
  marker: "managed by postgres-ha",
  databases: [{ name: "shop", owner: "shop_owner", encoding: "UTF8", locale: "C.UTF-8", extensions: [] }],
  roles: [
    { name: "shop_app", login: true, connectionLimit: -1, memberOf: [], grants: [{ database: "shop", level: "readWrite" }], secret: "postgres-ha/dev/main/role/shop_app", passwordVersion: 1 },
    { name: "shop_owner", login: false, connectionLimit: -1, memberOf: [], grants: [] },
    { name: "shop_ro", login: true, connectionLimit: -1, memberOf: [], grants: [{ database: "shop", level: "readOnly" }], secret: "postgres-ha/dev/main/role/shop_ro", passwordVersion: 2 },
  ],
  absentRoles: [],
};
const APP_PASSWORD = "AppPassw0rdAppPassw0rdAppPassw0rd";
const RO_PASSWORD = "RoPassw0rdRoPassw0rdRoPassw0rd12";

/** db1 with the declaration, both role secrets, and a fake applier that records argv and stdin. */
function db1(leader: boolean): FakeNode {
  const n = asDevNode(node(), "db1")
    .write("/etc/pgha/access.json", JSON.stringify(DECLARATION))
    .secret("postgres-ha/dev/main/role/shop_app", { engine: "postgres", username: "shop_app", password: APP_PASSWORD })
    .secret("postgres-ha/dev/main/role/shop_ro", { engine: "postgres", username: "shop_ro", password: RO_PASSWORD })
    .http("GET", "/primary", "", leader ? 200 : 503);
  n.write(
    "/opt/fake-applier",
    `#!/bin/bash\nprintf '%s\\n' "$@" > "$PGHA_TEST_DIR/applier.argv"\ncat > "$PGHA_TEST_DIR/applier.stdin"\necho '{"ok": true, "changes": ["CREATE ROLE \\"shop_app\\""], "unchanged": 3, "warnings": []}'\n`,
    0o755,
  );
  return n;
}

const env = (n: FakeNode) => ({ env: { PGHA_ACCESS_APPLIER: n.path("/opt/fake-applier") } });

describe("pgha-access apply", () => {
  it("on the leader: reads each login role's secret, hands the passwords to the applier on stdin, never in arguments", () => {
    const n = db1(true);
    const r = n.run("pgha-access", ["apply", "--json"], env(n));
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ node: "db1", ok: true, changes: ['CREATE ROLE "shop_app"'], unchanged: 3, message: "access declaration applied on leader db1: 1 change(s), 3 already in step" });
    expect(n.calls("aws")).toEqual([
      ["secretsmanager", "get-secret-value", "--secret-id", "postgres-ha/dev/main/role/shop_app", "--query", "SecretString", "--output", "text"],
      ["secretsmanager", "get-secret-value", "--secret-id", "postgres-ha/dev/main/role/shop_ro", "--query", "SecretString", "--output", "text"],
    ]);
    expect(JSON.parse(fs.readFileSync(path.join(n.dir, "applier.stdin"), "utf8"))).toEqual({ shop_app: APP_PASSWORD, shop_ro: RO_PASSWORD });
    const argv = fs.readFileSync(path.join(n.dir, "applier.argv"), "utf8");
    expect(argv).toBe(`${n.path("/etc/pgha/access.json")}\n/var/run/postgresql\n5432\n`);
    // The applier ran as postgres (peer authentication over the socket); no password in any call.
    expect(n.calls("runuser")[0].slice(0, 3)).toEqual(["-u", "postgres", "--"]);
    expect(JSON.stringify(n.calls())).not.toContain(APP_PASSWORD);
    expect(n.leftInTmp()).toEqual([]);
  });

  it("on a replica: refused with exit 4, or with --if-leader nothing done and success; no secret read either way", () => {
    const n = db1(false);
    const refused = n.run("pgha-access", ["apply"], env(n));
    expect([refused.status, refused.stderr]).toEqual([4, expect.stringContaining("db1 is not the leader (GET /primary: 503): run it on the leader, or with --if-leader")]);
    // --if-leader on a replica: success with the reason, and (below) no secret read, no applier run.
    const idle = n.run("pgha-access", ["apply", "--if-leader"], env(n));
    expect([idle.status, idle.stdout]).toEqual([0, expect.stringContaining("db1 is not the leader (GET /primary: 503): nothing to do here")]);
    expect(n.calls("aws")).toEqual([]);
    expect(fs.existsSync(path.join(n.dir, "applier.stdin"))).toBe(false);
  });

  it("a missing role secret fails naming the role and the secret; the applier is not run", () => {
    const n = db1(true).secret("postgres-ha/dev/main/role/shop_ro", undefined);
    const r = n.run("pgha-access", ["apply"], env(n));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("cannot read the password secret of role shop_ro (postgres-ha/dev/main/role/shop_ro)");
    expect(r.stderr).toContain("could not read the login roles' passwords; nothing was applied");
    expect(fs.existsSync(path.join(n.dir, "applier.stdin"))).toBe(false);
  });

  it("a failing applier fails the run with its own error", () => {
    const n = db1(true);
    n.write("/opt/fake-applier", `#!/bin/bash\ncat > /dev/null\necho '{"ok": false, "error": "role shop_old is marked absent but still owns 2 object(s)", "changes": [], "unchanged": 0, "warnings": []}'\nexit 1\n`, 0o755);
    const r = n.run("pgha-access", ["apply"], env(n));
    expect([r.status, r.stderr]).toEqual([1, expect.stringContaining("applying the access declaration failed: role shop_old is marked absent but still owns 2 object(s)")]);
  });
});
