// pgha-restore against a fake pgBackRest catalogue: the restorable window, target validation
// (time, xid, LSN, name, immediate) before anything is stopped, and the restore itself.
import { fakeNodes, type FakeNode } from "./harness";
import { asDevNode, nodeEnvValue } from "./fixtures";

jest.setTimeout(120_000); // real processes: seconds each on a busy machine
const node = fakeNodes();

const at = (iso: string) => Math.floor(Date.parse(iso) / 1000);
/** pgBackRest's `info --output=json` for stanza main: two full backups, the older one drilled. */
const INFO = [
  {
    name: "main",
    status: { code: 0, message: "ok" },
    archive: [{ id: "17-1", min: "000000010000000000000003", max: "000000010000000000000010" }],
    backup: [
      {
        label: "20261201-010000F", type: "full",
        timestamp: { start: at("2026-12-01T01:00:00Z"), stop: at("2026-12-01T01:05:00Z") },
        lsn: { start: "0/3000028", stop: "0/3000138" },
        info: { size: 52428800, repository: { delta: 5242880 } },
        annotation: { "pgha-restore-verified": "2026-12-01T02:00:00Z" },
      },
      {
        label: "20261202-010000F", type: "full",
        timestamp: { start: at("2026-12-02T01:00:00Z"), stop: at("2026-12-02T01:05:00Z") },
        lsn: { start: "0/9000028", stop: "0/9000100" },
        info: { size: 52428800, repository: { delta: 5242880 } },
      },
    ],
  },
];
const PG_BIN = "/usr/lib/postgresql/17/bin";
/** The restore-point catalogue beside the repository: s3://<bucket>/restore-points/<cluster>/. */
const CATALOG = () => `s3://${nodeEnvValue("db1", "PGHA_BUCKET")}/${nodeEnvValue("db1", "PGHA_CATALOG_PREFIX")}`;
/** psql on the leader: the archiver's last time, the next xid, the current WAL position. */
const LEADER_SQL = 'case "$*" in *pg_stat_archiver*) echo 2026-12-02T10:00:00Z ;; *txid_snapshot_xmax*) echo 5000 ;; *pg_current_wal_lsn*) echo 1/10000000 ;; *) exit 2 ;; esac';

/** db1 as postgres, with a catalogue; psql fails unless a test answers it (no server needed). */
function db1(info: object = INFO): FakeNode {
  const n = asDevNode(node(), "db1").write("/var/log/pgha/.keep", ""); // pgha-setup made it
  n.s3(`s3://${nodeEnvValue("db1", "PGHA_BUCKET")}/backup/main/.keep`, ""); // the bucket exists
  n.answer("pgbackrest", `case "$*" in *" info") cat <<'JSON'\n${JSON.stringify(info)}\nJSON\n;; esac`);
  n.answer("psql", 'echo "psql: error: connection to server failed" >&2; exit 2');
  n.answeredAt(`${PG_BIN}/pg_ctl`).answer("pg_ctl", '[ "$3" != status ] || { echo "pg_ctl: no server running"; exit 3; }');
  return n;
}
const asPostgres = { env: { PGHA_TEST_USER: "postgres" } };
const validate = (n: FakeNode, ...args: string[]) => n.run("pgha-restore", ["validate", ...args], asPostgres);

describe("pgha-restore window", () => {
  it("--json: the backups, the oldest restorable and oldest drilled point; the newest only on the leader", () => {
    const n = db1();
    const w = JSON.parse(n.run("pgha-restore", ["window", "--json"], asPostgres).stdout);
    expect(w).toMatchObject({ stanza: "main", status: "ok", oldest: "2026-12-01T01:05:00Z", oldestVerified: "2026-12-01T01:05:00Z", newest: null, archiveMax: "000000010000000000000010" });
    expect(w.backups.map((b: any) => [b.label, b.lsnStop, b.verified])).toEqual([["20261201-010000F", "0/3000138", "2026-12-01T02:00:00Z"], ["20261202-010000F", "0/9000100", null]]);

    n.http("GET", "/primary", "", 200).answer("psql", 'case "$*" in *pg_stat_archiver*) echo 2026-12-02T10:00:00Z ;; *) exit 2 ;; esac');
    expect(JSON.parse(n.run("pgha-restore", ["window", "--json"], asPostgres).stdout).newest).toBe("2026-12-02T10:00:00Z");
    expect(n.run("pgha-restore", ["window"], asPostgres).stdout).toContain("restorable: 2026-12-01T01:05:00Z … 2026-12-02T10:00:00Z (oldest verified by a restore drill: 2026-12-01T01:05:00Z)");
  });

  it("runs as postgres: started as root it re-executes itself through runuser", () => {
    const n = db1();
    expect(n.run("pgha-restore", ["window", "--json"]).status).toBe(0);
    expect(n.calls("runuser")).toEqual([["-u", "postgres", "--", n.path("/usr/local/sbin/pgha-restore"), "window", "--json"]]);
  });
});

describe("pgha-restore validate", () => {
  it.each([
    [["--type", "date", "--target", "x"], "--type must be time, xid, lsn, name or immediate (got 'date')"],
    [["--type", "immediate", "--action", "resume"], "--action must be promote, pause or shutdown (got 'resume')"],
    [["--type", "time"], "--type time needs --target"],
    [["--type", "time", "--target", "yesterday-ish+00"], "--target 'yesterday-ish+00' is not a time (use e.g. '2026-11-25 10:00:00+00')"],
    [["--type", "time", "--target", "2026-12-01 12:00:00"], "--target '2026-12-01 12:00:00' has no time zone: write it with one, e.g. '2026-12-01 12:00:00+00' (UTC)"],
    [["--type", "immediate", "--timeline", "0"], "--timeline '0' is not a timeline id (a positive integer)"],
    [["--type", "time", "--target", "2026-12-01 01:00:00+00"], "--target 2026-12-01 01:00:00+00 is before the oldest restorable point 2026-12-01T01:05:00Z (window: 2026-12-01T01:05:00Z … ?)"],
    [["--type", "xid", "--target", "abc"], "--target 'abc' is not a transaction id (an integer above 2)"],
    [["--type", "xid", "--target", "2"], "--target '2' is not a transaction id (an integer above 2)"],
    [["--type", "lsn", "--target", "0/XYZ"], "--target '0/XYZ' is not an LSN (like 0/3000060)"],
    [["--type", "lsn", "--target", "0/2FFFFFF"], "--target 0/2FFFFFF is before the oldest backup's consistent point 0/3000138"],
    [["--type", "name", "--target", "before migration!"], "--target 'before migration!' is not a restore point name (1–63 letters, digits, _ . : -)"],
    [["--type", "bogus-option"], "--type must be time, xid, lsn, name or immediate (got 'bogus-option')"],
    [["--frobnicate"], "unknown option --frobnicate"],
  ])("refuses %j (exit 2) — with psql failing, no server is needed", (args, message) => {
    const n = db1();
    const r = validate(n, ...args);
    expect([r.status, r.stderr]).toEqual([2, expect.stringContaining(`refused: ${message}`)]);
  });

  it.each([
    [["--type", "immediate"]],
    [["--type", "time", "--target", "2026-12-01 12:00:00+00"]],
    [["--type", "xid", "--target", "1234"]],
    [["--type", "lsn", "--target", "0/3000138"]], // the bound itself
    [["--type", "lsn", "--target", "0/10000000"]], // after it as a number, before it as a string
    [["--type", "lsn", "--target", "1/0"]],
    [["--type", "name", "--target", "before-migration_2026.12:01"]],
    [["--type", "time", "--target", "2026-12-02 10:04:00+00", "--action", "pause"]],
    [["--type", "time", "--target", "2026-12-01T12:00:00Z"]],
  ])("accepts %j", (args) => {
    const n = db1().http("GET", "/primary", "", 200).answer("psql", LEADER_SQL);
    n.s3(`${CATALOG()}points/before-migration_2026.12:01.json`, JSON.stringify({ name: "before-migration_2026.12:01", lsn: "0/A000090", time: "2026-12-01T12:00:00Z", timeline: 1, createdOn: "db1" }));
    const r = validate(n, ...args);
    expect([r.status, r.stderr]).toEqual([0, expect.stringContaining("target ok: --type")]);
  });

  it("on the leader a time after the newest archived point (plus archive_timeout) is refused", () => {
    const n = db1().http("GET", "/primary", "", 200).answer("psql", 'case "$*" in *pg_stat_archiver*) echo 2026-12-02T10:00:00Z ;; *) exit 2 ;; esac');
    const r = validate(n, "--type", "time", "--target", "2026-12-02 10:06:00+00");
    expect([r.status, r.stderr]).toEqual([2, expect.stringContaining("is after the newest archived point 2026-12-02T10:00:00Z (window: 2026-12-01T01:05:00Z … 2026-12-02T10:00:00Z)")]);
  });

  it("on the leader an xid not yet assigned and an LSN not yet written are refused", () => {
    const n = db1().http("GET", "/primary", "", 200).answer("psql", LEADER_SQL);
    const x = validate(n, "--type", "xid", "--target", "5000");
    expect([x.status, x.stderr]).toEqual([2, expect.stringContaining("--target 5000 is not a transaction id yet (the next one is 5000)")]);
    const l = validate(n, "--type", "lsn", "--target", "1/10000001");
    expect([l.status, l.stderr]).toEqual([2, expect.stringContaining("--target 1/10000001 is past the current WAL position 1/10000000")]);
  });

  it("a restore point must be in the catalogue: a typo is refused with the names there are", () => {
    const n = db1();
    const none = validate(n, "--type", "name", "--target", "before-migraton");
    expect([none.status, none.stderr]).toEqual([2, expect.stringContaining("there is no restore point 'before-migraton' in the catalogue (it has none)")]);
    n.s3(`${CATALOG()}points/before-migration.json`, JSON.stringify({ name: "before-migration", lsn: "0/A000090", time: "2026-12-01T12:00:00Z", timeline: 1, createdOn: "db1" }));
    n.s3(`${CATALOG()}points/nightly.json`, JSON.stringify({ name: "nightly", lsn: "0/B000090", time: "2026-12-01T13:00:00Z", timeline: 1, createdOn: "db1" }));
    const typo = validate(n, "--type", "name", "--target", "before-migraton");
    expect([typo.status, typo.stderr]).toEqual([2, expect.stringContaining("there is no restore point 'before-migraton' in the catalogue (before-migration, nightly)")]);
    expect(validate(n, "--type", "name", "--target", "before-migration").status).toBe(0);
  });

  it("a time an earlier in-place restore abandoned is refused unless --timeline names that timeline", () => {
    // Timeline 2 went on from 12:00 (restored to 12:00); timeline 1 was written on until 14:00.
    const n = db1().s3(`${CATALOG()}timelines/2.json`, JSON.stringify({ from: 1, to: 2, target: "time 2026-12-01 12:00:00+00", restoredAt: "2026-12-01T12:00:00Z", promotedAt: "2026-12-01T14:00:00Z" }));
    const r = validate(n, "--type", "time", "--target", "2026-12-01 13:00:00+00");
    expect([r.status, r.stderr]).toEqual([2, expect.stringContaining("the target (2026-12-01T13:00:00Z) lies on timeline 1, which the in-place restore of 2026-12-01T14:00:00Z abandoned (timeline 2 goes on from 2026-12-01T12:00:00Z): add --timeline 1 to restore it")]);
    expect(validate(n, "--type", "time", "--target", "2026-12-01 13:00:00+00", "--timeline", "1").status).toBe(0);
    // Before the branch, and after the promotion, the newest timeline holds the target.
    expect(validate(n, "--type", "time", "--target", "2026-12-01 11:59:00+00").status).toBe(0);
    expect(validate(n, "--type", "time", "--target", "2026-12-01 14:00:01+00").status).toBe(0);
  });

  it("an unreadable catalogue fails rather than passing a target it could not check", () => {
    const n = db1();
    n.write("/etc/pgha/node.env", n.read("/etc/pgha/node.env").replace(/^PGHA_BUCKET=.*$/m, "PGHA_BUCKET=no-such-bucket"));
    const r = validate(n, "--type", "time", "--target", "2026-12-01 13:00:00+00");
    expect([r.status, r.stderr]).toEqual([1, expect.stringContaining("cannot read the timeline catalogue (s3://no-such-bucket/")]);
  });

  it("without any backup there is nothing to restore; without a readable catalogue it fails", () => {
    const r = validate(db1([{ name: "main", status: { code: 0, message: "ok" }, archive: [], backup: [] }]), "--type", "immediate");
    expect([r.status, r.stderr]).toEqual([2, expect.stringContaining("there is no backup to restore from: run pgha-backup full first")]);
    const n = db1();
    n.answer("pgbackrest", 'echo "ERROR: [039]: HTTP request failed" >&2; exit 39');
    const f = validate(n, "--type", "immediate");
    expect([f.status, f.stderr]).toEqual([1, expect.stringContaining("cannot read the backup catalogue (is the repository reachable?)")]);
  });
});

describe("pgha-restore restore", () => {
  it("restores into a stopped data directory with the target's recovery settings", () => {
    const n = db1();
    const r = n.run("pgha-restore", ["restore", "--type", "lsn", "--target", "0/9000200", "--action", "pause", "--set", "20261202-010000F", "--archive-mode", "off"], asPostgres);
    expect([r.status, r.stderr]).toEqual([0, expect.stringContaining(`restored into ${n.path("/var/lib/postgresql/17/pgha")} (not started)`)]);
    expect(n.calls("pgbackrest").filter((c) => c.at(-1) === "restore")).toEqual([[
      "--stanza=main", `--pg1-path=${n.path("/var/lib/postgresql/17/pgha")}`, "--delta", "--target-action=pause", "--set=20261202-010000F", "--archive-mode=off",
      "--type=lsn", "--target=0/9000200", "restore",
    ]]);
    expect(n.mode("/var/lib/postgresql/17/pgha")).toBe("0700");
  });

  it("refuses to restore over a running PostgreSQL, and restores nothing for a refused target", () => {
    const n = db1();
    n.answer("pg_ctl", "exit 0"); // pg_ctl status: running
    const r = n.run("pgha-restore", ["restore", "--type", "immediate"], asPostgres);
    expect([r.status, r.stderr]).toEqual([2, expect.stringContaining("PostgreSQL runs on")]);
    const bad = db1();
    expect(bad.run("pgha-restore", ["restore", "--type", "lsn", "--target", "0/100"], asPostgres).status).toBe(2);
    for (const x of [n, bad]) expect(x.calls("pgbackrest").filter((c) => c.at(-1) === "restore")).toEqual([]);
  });
});

describe("pgha-restore restore --start: the wait for the target is bounded by progress, not by time", () => {
  /** PostgreSQL running (pg_ctl status 0) in recovery; psql answers the replay position from `lsn`. */
  function recovering(lsn: string): FakeNode {
    const n = db1();
    n.answer("pg_ctl", "exit 0");
    // The first status call is restore's own check before it starts: nothing runs yet.
    n.answer("pg_ctl", 'if [ "$3" = status ] && [ "$(stub_nth status)" = 1 ]; then exit 3; fi; exit 0');
    n.answer("psql", `case "$*" in *pg_is_in_recovery*) echo t ;; *pg_last_wal_replay_lsn*) ${lsn} ;; *) exit 2 ;; esac`);
    return n;
  }
  const start = (n: FakeNode, stall: string) =>
    n.run("pgha-restore", ["restore", "--type", "immediate", "--start"], { env: { PGHA_TEST_USER: "postgres", PGHA_RESTORE_STALL_SECONDS: stall } });

  it("a replay position that stops moving fails the restore, naming where it stopped", () => {
    const n = recovering("echo 0/9000200");
    const r = start(n, "0");
    expect([r.status, r.stderr]).toEqual([1, expect.stringContaining("recovery made no progress for 0 s (replay at 0/9000200, 0 segment(s) restored) and the target is not reached")]);
    expect(n.calls("pg_ctl").find((c) => c.includes("start"))).toEqual(expect.arrayContaining(["-w", "-t", "14400"]));
  });

  it("a replay position that keeps moving is waited for, however long, until the target is reached", () => {
    // Each progress check sees a new position; on the fifth the server has promoted.
    const n = recovering('k=$(stub_nth lsn); echo "0/${k}000000"');
    n.answer("psql", 'case "$*" in *pg_is_in_recovery*) [ "$(cat "$PGHA_TEST_DIR/counts/lsn" 2>/dev/null || echo 0)" -ge 5 ] && echo f || echo t ;; *pg_last_wal_replay_lsn*) k=$(stub_nth lsn); echo "0/${k}000000" ;; *timeline_id*) echo 2 ;; *) exit 0 ;; esac');
    const r = start(n, "0");
    expect([r.status, r.stdout]).toEqual([0, expect.stringContaining('"action":"promote","timeline":2')]);
    expect(r.stderr).toContain("recovering: replay at 0/4000000, 0 segment(s) restored");
  });
});

describe("pgha-restore bootstrap-from-source (Patroni's custom bootstrap of a restoreFrom stack)", () => {
  const args = ["bootstrap-from-source", "--scope=main", "--datadir=/var/lib/postgresql/17/pgha", "--target-type=time", "--target=2026-12-02 00:00:00+00"];

  it("refuses on a cluster without restoreFrom, changing nothing", () => {
    const n = db1();
    const r = n.run("pgha-restore", args, asPostgres);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("this cluster has no restoreFrom");
    expect(n.calls("pgbackrest")).toEqual([]);
  });

  it("an encrypted source whose passphrase pgha-secrets could not fetch fails naming the secret, before reading the repository", () => {
    const n = db1().write("/etc/pgbackrest/restore-source.conf", "[global]\nrepo1-cipher-type=aes-256-cbc\n");
    const env = n.read("/etc/pgha/node.env");
    n.write("/etc/pgha/node.env", `${env}PGHA_RESTORE_SOURCE_CONF=/etc/pgbackrest/restore-source.conf\nPGHA_RESTORE_SOURCE_SECRETS_DIR=/etc/pgbackrest/restore-source.d\nPGHA_RESTORE_SOURCE_SECRET=postgres-ha/prod/main/cluster\n`);
    const r = n.run("pgha-restore", args, asPostgres);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("the source repository is encrypted and its passphrase (/etc/pgbackrest/restore-source.d/secrets.conf, from the secret postgres-ha/prod/main/cluster) is missing");
    expect(n.calls("pgbackrest")).toEqual([]);
  });

  it("refuses an option Patroni does not pass", () => {
    const r = db1().run("pgha-restore", ["bootstrap-from-source", "--target-typ=time"], asPostgres);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown option --target-typ=time");
  });
});

describe("pgha-restore restore-point", () => {
  it("creates the point on the leader and switches WAL so it is archived at once", () => {
    const n = db1().http("GET", "/primary", "", 200);
    n.answer("psql", 'case "$*" in *pg_create_restore_point*) echo 0/A000090 ;; *pg_switch_wal*) echo 0/A0000B0 ;; *pg_control_checkpoint*) echo 3 ;; *) exit 2 ;; esac');
    const r = n.run("pgha-restore", ["restore-point", "before-migration"], asPostgres);
    expect([r.status, r.stdout]).toEqual([0, "0/A000090\n"]);
    expect(n.calls("psql").map((c) => c.at(-1))).toEqual(["select pg_create_restore_point('before-migration')", "select pg_switch_wal()", "select timeline_id from pg_control_checkpoint()"]);
    // Catalogued beside the repository: validate checks names against it, `points` lists it.
    const points = JSON.parse(n.run("pgha-restore", ["points", "--json"], asPostgres).stdout);
    expect(points).toEqual([{ name: "before-migration", lsn: "0/A000090", time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/), timeline: 3, createdOn: "db1" }]);
    expect(n.run("pgha-restore", ["points"], asPostgres).stdout).toMatch(/^before-migration {2}\S+ {2}lsn 0\/A000090 {2}timeline 3\n$/);
  });

  it("refuses a second point of the same name (recovery would stop at the first)", () => {
    const n = db1().http("GET", "/primary", "", 200);
    n.s3(`${CATALOG()}points/nightly.json`, JSON.stringify({ name: "nightly", lsn: "0/A000090", time: "2026-12-01T12:00:00Z", timeline: 1, createdOn: "db1" }));
    const r = n.run("pgha-restore", ["restore-point", "nightly"], asPostgres);
    expect([r.status, r.stderr]).toEqual([2, expect.stringContaining("a restore point named nightly exists already")]);
    expect(n.calls("psql")).toEqual([]);
  });

  it("refuses on a replica and refuses a name that is not one", () => {
    const n = db1().http("GET", "/primary", "", 503);
    expect(n.run("pgha-restore", ["restore-point", "x"], asPostgres).stderr).toContain("db1 is not the leader: run restore-point on the leader");
    const bad = n.run("pgha-restore", ["restore-point", "x'; drop table t; --"], asPostgres);
    expect([bad.status, bad.stderr]).toEqual([2, expect.stringContaining("restore point name must be 1–63 letters")]);
    expect(n.calls("psql")).toEqual([]);
  });
});

describe("pgha-restore timelines", () => {
  it("record-branch catalogues a branch that validate then honours; timelines lists it", () => {
    const n = db1();
    expect(n.run("pgha-restore", ["timelines"], asPostgres).stdout).toBe("no in-place restore has started a timeline\n");
    const r = n.run("pgha-restore", ["record-branch", "--from", "4", "--to", "5", "--target-desc", "name before-migration", "--restored-at", "2026-12-01 12:00:00+00", "--promoted-at", "2026-12-01T14:00:00Z"], asPostgres);
    expect(r.status).toBe(0);
    expect(JSON.parse(n.run("pgha-restore", ["timelines", "--json"], asPostgres).stdout)).toEqual([{ from: 4, to: 5, target: "name before-migration", restoredAt: "2026-12-01T12:00:00Z", promotedAt: "2026-12-01T14:00:00Z" }]);
    expect(validate(n, "--type", "time", "--target", "2026-12-01 13:00:00+00").stderr).toContain("add --timeline 4 to restore it");
    const bad = n.run("pgha-restore", ["record-branch", "--from", "4", "--to", "x", "--restored-at", "now", "--promoted-at", "now"], asPostgres);
    expect([bad.status, bad.stderr]).toEqual([2, expect.stringContaining("record-branch needs --from, --to, --restored-at and --promoted-at")]);
  });
});
