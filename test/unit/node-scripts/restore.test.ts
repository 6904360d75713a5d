// pgha-restore against a fake pgBackRest catalogue: the restorable window, target validation
// (time, xid, LSN, name, immediate) before anything is stopped, and the restore itself.
import { fakeNodes, type FakeNode } from "./harness";
import { asDevNode } from "./fixtures";

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

/** db1 as postgres, with a catalogue; psql fails unless a test answers it (no server needed). */
function db1(info: object = INFO): FakeNode {
  const n = asDevNode(node(), "db1").write("/var/log/pgha/.keep", ""); // pgha-setup made it
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
    [["--type", "time", "--target", "yesterday-ish"], "--target 'yesterday-ish' is not a time (use e.g. '2026-11-25 10:00:00+00')"],
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
  ])("accepts %j", (args) => {
    const n = db1().http("GET", "/primary", "", 200).answer("psql", 'case "$*" in *pg_stat_archiver*) echo 2026-12-02T10:00:00Z ;; *) exit 2 ;; esac');
    const r = validate(n, ...args);
    expect([r.status, r.stderr]).toEqual([0, expect.stringContaining("target ok: --type")]);
  });

  it("on the leader a time after the newest archived point (plus archive_timeout) is refused", () => {
    const n = db1().http("GET", "/primary", "", 200).answer("psql", 'case "$*" in *pg_stat_archiver*) echo 2026-12-02T10:00:00Z ;; *) exit 2 ;; esac');
    const r = validate(n, "--type", "time", "--target", "2026-12-02 10:06:00+00");
    expect([r.status, r.stderr]).toEqual([2, expect.stringContaining("is after the newest archived point 2026-12-02T10:00:00Z (window: 2026-12-01T01:05:00Z … 2026-12-02T10:00:00Z)")]);
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

describe("pgha-restore restore-point", () => {
  it("creates the point on the leader and switches WAL so it is archived at once", () => {
    const n = db1().http("GET", "/primary", "", 200);
    n.answer("psql", 'case "$*" in *pg_create_restore_point*) echo 0/A000090 ;; *pg_switch_wal*) echo 0/A0000B0 ;; *) exit 2 ;; esac');
    const r = n.run("pgha-restore", ["restore-point", "before-migration"], asPostgres);
    expect([r.status, r.stdout]).toEqual([0, "0/A000090\n"]);
    expect(n.calls("psql").map((c) => c.at(-1))).toEqual(["select pg_create_restore_point('before-migration')", "select pg_switch_wal()"]);
  });

  it("refuses on a replica and refuses a name that is not one", () => {
    const n = db1().http("GET", "/primary", "", 503);
    expect(n.run("pgha-restore", ["restore-point", "x"], asPostgres).stderr).toContain("db1 is not the leader: run restore-point on the leader");
    const bad = n.run("pgha-restore", ["restore-point", "x'; drop table t; --"], asPostgres);
    expect([bad.status, bad.stderr]).toEqual([2, expect.stringContaining("restore point name must be 1–63 letters")]);
    expect(n.calls("psql")).toEqual([]);
  });
});
