// pgha-standby against a fake Patroni REST API and psql: the state of a member and its cluster,
// fencing a primary cluster (it follows another), waiting for replay, and promoting a standby
// cluster — each refused, without a change, where it does not apply.
import { fakeNodes, type FakeNode } from "./harness";
import { asDevNode } from "./fixtures";

jest.setTimeout(120_000); // real processes: seconds each on a busy machine
const node = fakeNodes();

const FOLLOWS = { standby_cluster: { host: "rw.prod.pgha.internal", port: 5000, primary_slot_name: "standby_prod_dr" }, ttl: 30 };
const POSITION = { inRecovery: true, endLsn: "0/5000200", receivedLsn: "0/5000200", replayLsn: "0/5000100", lastReplayedCommitAt: "2026-12-05T09:00:00.000Z", timeline: 3 };
const PROMOTED = { inRecovery: false, endLsn: "0/5001000", receivedLsn: null, replayLsn: null, lastReplayedCommitAt: null, timeline: 4 };

/** db1 of a cluster: its REST API answers with these bodies; psql answers the position (before / after a PATCH). */
function member(o: { role: string; config: object; cluster: { name: string; role: string }[]; patchStatus?: number }): FakeNode {
  const n = asDevNode(node(), "db1");
  n.write("/etc/pgha/restapi.curlrc", 'user = "patroni:x"\n', 0o600);
  n.http("GET", "/patroni", { role: o.role, state: "running" }).http("GET", "/config", o.config).http("GET", "/cluster", { members: o.cluster });
  n.http("PATCH", "/config", {}, o.patchStatus ?? 200);
  // Before the PATCH the member is in recovery; once standby_cluster was removed it is not.
  n.answer(
    "psql",
    `patched=$STUB_DIR/http/PATCH/config.request
     case "$*" in
       *json_build_object*) if [ -f "$patched" ]; then echo '${JSON.stringify(PROMOTED)}'; else echo '${JSON.stringify(POSITION)}'; fi ;;
       *pg_wal_lsn_diff*) echo 4096 ;;
       *pgha_promotions*) [ -f "$patched" ] || { echo "ERROR: cannot execute CREATE TABLE in a read-only transaction" >&2; exit 1; } ;;
       *"pg_last_wal_replay_lsn() >="*) echo "\${PGHA_TEST_REPLAYED:-t}" ;;
       *pg_last_wal_replay_lsn*) echo 0/5000100 ;;
     esac`,
  );
  return n;
}

const standbyLeader = () => member({ role: "standby_leader", config: FOLLOWS, cluster: [{ name: "db1", role: "standby_leader" }, { name: "db2", role: "replica" }] });

describe("pgha-standby state", () => {
  it("names the member's role, what the cluster follows, its standby leader and the WAL received and replayed", () => {
    const r = standbyLeader().run("pgha-standby", ["state", "--json"]);
    expect([r.status, r.stderr]).toEqual([0, ""]);
    expect(JSON.parse(r.stdout)).toEqual({
      node: "db1", cluster: expect.any(String), role: "standby_leader", state: "running",
      follows: { host: "rw.prod.pgha.internal", port: 5000 }, leader: "db1", leaderRole: "standby_leader", writable: false,
      ...POSITION,
    });
    const text = standbyLeader().run("pgha-standby", ["state"]);
    expect(text.stdout).toContain("the cluster follows rw.prod.pgha.internal:5000; leader db1 (standby_leader); WAL ends at 0/5000200 (received 0/5000200, replayed 0/5000100");
  });

  it("on a primary cluster: follows nothing, its leader writable", () => {
    const n = member({ role: "primary", config: { ttl: 30 }, cluster: [{ name: "db1", role: "leader" }] });
    n.answer("psql", `echo '${JSON.stringify(PROMOTED)}'`);
    const s = JSON.parse(n.run("pgha-standby", ["state", "--json"]).stdout);
    expect(s).toMatchObject({ role: "primary", follows: null, leader: "db1", leaderRole: "leader", writable: true, endLsn: "0/5001000" });
  });
});

test("pgha-standby state: PostgreSQL not answering is said, not taken for a writable member", () => {
  const n = standbyLeader();
  n.answer("psql", 'echo "psql: error: connection to server on socket failed" >&2; exit 2');
  const r = n.run("pgha-standby", ["state", "--json"]);
  expect(r.status).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ role: "standby_leader", writable: false, positionError: expect.stringContaining("connection to server on socket failed") });
  expect(JSON.parse(r.stdout).endLsn).toBeUndefined();
});

describe("pgha-standby promote", () => {
  it("on the standby leader: PATCHes standby_cluster away, waits for a write here, and reports what it had and the RPO against --old-lsn", () => {
    const n = standbyLeader();
    const r = n.run("pgha-standby", ["promote", "--old-lsn", "0/5001200", "--json"]);
    expect([r.status, r.stderr]).toEqual([0, expect.stringContaining("promoting: standby_cluster removed (received 0/5000200, replayed 0/5000100)")]);
    // A drain's read-only default goes with standby_cluster (a failback of a fenced primary).
    expect(JSON.parse(n.httpRequest("PATCH", "/config")!)).toEqual({ standby_cluster: null, postgresql: { parameters: { default_transaction_read_only: null } } });
    const out = JSON.parse(r.stdout);
    expect(out).toEqual({
      leader: "db1", promotedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/), writableAt: expect.stringMatching(/Z$/), writableAfterMs: expect.any(Number),
      timeline: 4, receivedLsn: "0/5000200", replayLsn: "0/5000100", lastReplayedCommitAt: "2026-12-05T09:00:00.000Z", rpoBytes: 4096,
    });
    expect(Date.parse(out.writableAt)).toBeGreaterThanOrEqual(Date.parse(out.promotedAt));
    // The first write went to the table the runbook and the tests look at.
    expect(n.calls("psql").some((c) => c.join(" ").includes("insert into pgha_promotions"))).toBe(true);
    // As postgres: the REST credentials and the socket are its own.
    expect(n.calls("runuser")[0]).toEqual(["-u", "postgres", "--", expect.stringMatching(/pgha-standby$/), "promote", "--old-lsn", "0/5001200", "--json"]);
  });

  it("is refused on a replica (naming the standby leader), on a cluster that follows nothing, and with a bad --old-lsn; nothing is PATCHed", () => {
    const replica = member({ role: "replica", config: FOLLOWS, cluster: [{ name: "db2", role: "standby_leader" }, { name: "db1", role: "replica" }] });
    const r1 = replica.run("pgha-standby", ["promote"]);
    expect([r1.status, r1.stderr]).toEqual([4, expect.stringContaining("db1 is not the standby leader (the standby leader is db2): run promote there")]);
    expect(replica.httpRequest("PATCH", "/config")).toBeUndefined();
    const primary = member({ role: "primary", config: { ttl: 30 }, cluster: [{ name: "db1", role: "leader" }] });
    const r2 = primary.run("pgha-standby", ["promote"]);
    expect([r2.status, r2.stderr]).toEqual([4, expect.stringContaining("follows no other cluster (promoted already?)")]);
    expect(primary.httpRequest("PATCH", "/config")).toBeUndefined();
    const bad = standbyLeader().run("pgha-standby", ["promote", "--old-lsn", "yesterday"]);
    expect([bad.status, bad.stderr]).toEqual([2, expect.stringContaining("--old-lsn must be an LSN (0/3000060), not 'yesterday'")]);
  });

  it("fails (1) when Patroni refuses the PATCH", () => {
    const n = member({ role: "standby_leader", config: FOLLOWS, cluster: [{ name: "db1", role: "standby_leader" }], patchStatus: 503 });
    const r = n.run("pgha-standby", ["promote"]);
    expect([r.status, r.stderr]).toEqual([1, expect.stringContaining("PATCH /config standby_cluster null refused: 503")]);
  });
});

describe("pgha-standby drain", () => {
  const leader = () => {
    const n = member({ role: "primary", config: { ttl: 30 }, cluster: [{ name: "db1", role: "leader" }] });
    // Read-only once the PATCH went in; one session keeps writing until it is terminated.
    n.answer(
      "psql",
      `case "$*" in
         *"show default_transaction_read_only"*) [ -f "$STUB_DIR/http/PATCH/config.request" ] && echo on || echo off ;;
         *pg_terminate_backend*) touch "$STUB_DIR/terminated"; echo 1 ;;
         *backend_xid*) [ -f "$STUB_DIR/terminated" ] && echo 0 || echo 1 ;;
         *pg_current_wal_lsn*) echo 0/9000060 ;;
       esac`,
    );
    return n;
  };

  it("on the leader: read-only by default everywhere (dynamic configuration), sessions still writing after --grace terminated, the position every acknowledged commit lies before", () => {
    const n = leader();
    const r = n.run("pgha-standby", ["drain", "--grace", "1", "--json"]);
    expect([r.status, r.stderr]).toEqual([0, expect.stringContaining("terminated 1 session(s) still writing after 1 s")]);
    expect(JSON.parse(n.httpRequest("PATCH", "/config")!)).toEqual({ postgresql: { parameters: { default_transaction_read_only: "on" } } });
    expect(JSON.parse(r.stdout)).toMatchObject({ lsn: "0/9000060", terminated: 1 });
  });

  it("is refused on a replica and on a cluster that follows another; undrain lifts the default", () => {
    const replica = member({ role: "replica", config: { ttl: 30 }, cluster: [{ name: "db2", role: "leader" }, { name: "db1", role: "replica" }] });
    expect(replica.run("pgha-standby", ["drain"]).stderr).toContain("db1 is not the leader (the leader is db2): run drain there");
    expect(replica.httpRequest("PATCH", "/config")).toBeUndefined();
    const following = standbyLeader();
    expect(following.run("pgha-standby", ["drain"]).status).toBe(4);
    const n = leader();
    expect(n.run("pgha-standby", ["undrain"]).status).toBe(0);
    expect(JSON.parse(n.httpRequest("PATCH", "/config")!)).toEqual({ postgresql: { parameters: { default_transaction_read_only: null } } });
  });
});

describe("pgha-standby fence", () => {
  it("points the cluster at the other's rw endpoint (basebackup for its replicas), waits for its standby leader, names the former leader", () => {
    // The cluster view once the leader demoted: its member is a standby leader.
    const n = member({ role: "primary", config: { ttl: 30 }, cluster: [{ name: "db1", role: "standby_leader" }, { name: "db2", role: "replica" }] });
    const r = n.run("pgha-standby", ["fence", "--host", "rw.prod-dr.pgha.internal", "--port", "5000", "--json"]);
    expect([r.status, r.stderr]).toEqual([0, expect.stringContaining("fencing: standby_cluster → rw.prod-dr.pgha.internal:5000")]);
    expect(JSON.parse(n.httpRequest("PATCH", "/config")!)).toEqual({ standby_cluster: { host: "rw.prod-dr.pgha.internal", port: 5000, create_replica_methods: ["basebackup"] } });
    expect(JSON.parse(r.stdout)).toMatchObject({ formerLeader: "db1", standbyLeader: "db1", fencedAt: expect.stringMatching(/Z$/) });
  });

  it("is refused when the cluster follows another already, and without --host or a numeric --port; nothing is PATCHed", () => {
    const n = standbyLeader();
    const r = n.run("pgha-standby", ["fence", "--host", "rw.prod-dr.pgha.internal", "--port", "5000"]);
    expect([r.status, r.stderr]).toEqual([4, expect.stringContaining("already follows rw.prod.pgha.internal:5000; nothing was changed")]);
    expect(n.run("pgha-standby", ["fence", "--port", "5000"]).status).toBe(2);
    expect(n.run("pgha-standby", ["fence", "--host", "x", "--port", "five"]).stderr).toContain("fence needs --port <number>, not 'five'");
    expect(n.httpRequest("PATCH", "/config")).toBeUndefined();
  });

  it("fails when the leader stays writable past --timeout", () => {
    const n = member({ role: "primary", config: { ttl: 30 }, cluster: [{ name: "db1", role: "leader" }] });
    const r = n.run("pgha-standby", ["fence", "--host", "rw.prod-dr.pgha.internal", "--port", "5000", "--timeout", "1"]);
    expect([r.status, r.stderr]).toEqual([1, expect.stringContaining("the cluster still has a writable leader (db1 leader) 1 s after standby_cluster was set")]);
  });
});

describe("pgha-standby wait-replayed", () => {
  it("returns once the member replayed up to the LSN; fails after --timeout naming where it is", () => {
    const n = standbyLeader();
    expect(n.run("pgha-standby", ["wait-replayed", "0/5000100"]).stdout).toBe("db1 replayed up to 0/5000100\n");
    const late = n.run("pgha-standby", ["wait-replayed", "0/6000000", "--timeout", "1"], { env: { PGHA_TEST_REPLAYED: "f" } });
    expect([late.status, late.stderr]).toEqual([1, expect.stringContaining("db1 has not replayed up to 0/6000000 after 1 s (replayed: 0/5000100)")]);
    expect(n.run("pgha-standby", ["wait-replayed", "soon"]).status).toBe(2);
  });
});
