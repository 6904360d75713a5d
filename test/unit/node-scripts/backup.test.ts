// pgha-backup against fake pgBackRest, Patroni REST API, PostgreSQL tools and S3: which node
// runs which job, physical backups checked and verified, logical dumps read back and pruned,
// restore drills (refused when the disk is short), the lock.
import * as path from "path";
import { fakeNodes, type FakeNode } from "./harness";
import { asDevNode, nodeEnvValue } from "./fixtures";
import { NODE_PATHS } from "../../../src/node-paths";

jest.setTimeout(120_000); // real processes: seconds each on a busy machine
const node = fakeNodes();

const PG_BIN = "/usr/lib/postgresql/17/bin";
const BUCKET = () => nodeEnvValue("db1", "PGHA_BUCKET");
const LOGICAL = () => `s3://${BUCKET()}/${nodeEnvValue("db1", "PGHA_LOGICAL_PREFIX")}`;
const asPostgres = { env: { PGHA_TEST_USER: "postgres" } };

/** pgBackRest's `info --output=json` with one full backup of `size` bytes (or none). */
function info(size: number | null, code = 0) {
  return [{ name: "main", status: { code, message: code ? "missing stanza path" : "ok" }, backup: size === null ? [] : [{ label: "20261202-010000F", type: "full", info: { size } }] }];
}

/** db1 as pgha-setup leaves it, with pgBackRest answering `info` from a catalogue. */
function db1(catalogue: object = info(50 * 1048576)): FakeNode {
  const n = asDevNode(node(), "db1").write("/var/log/pgha/.keep", "").write("/var/lib/postgresql/17/.keep", "");
  n.answer("pgbackrest", `case "$*" in *" info") cat <<'JSON'\n${JSON.stringify(catalogue)}\nJSON\n;; esac`);
  n.answeredAt(`${PG_BIN}/pg_ctl`);
  return n;
}
const cluster = (members: object[]) => ({ members });
const leaderIsDb2 = cluster([{ name: "db2", role: "leader", state: "running" }, { name: "db1", role: "replica", state: "streaming" }, { name: "db3", role: "replica", state: "streaming" }]);
const leaderIsDb1 = cluster([{ name: "db1", role: "leader", state: "running" }, { name: "db2", role: "replica", state: "streaming" }]);

describe("pgha-backup: which node runs what", () => {
  it("physical backups and checks on the leader; logical dumps and drills on the first streaming replica by name", () => {
    const n = db1();
    const shouldRun = (kind: string) => n.run("pgha-backup", ["should-run", kind], asPostgres).status;
    n.http("GET", "/primary", "", 200).http("GET", "/cluster", leaderIsDb1);
    expect(["full", "diff", "incr", "check", "logical", "drill"].map(shouldRun)).toEqual([0, 0, 0, 0, 1, 1]);
    n.http("GET", "/primary", "", 503).http("GET", "/cluster", leaderIsDb2);
    expect(["full", "check", "logical", "drill"].map(shouldRun)).toEqual([1, 1, 0, 0]);
    // A replica tagged noloadbalance is passed over; with no streaming replica the leader does it.
    n.http("GET", "/cluster", cluster([{ name: "db2", role: "leader" }, { name: "db1", role: "replica", state: "streaming", tags: { noloadbalance: true } }, { name: "db3", role: "replica", state: "streaming" }]));
    expect(shouldRun("logical")).toBe(1);
    n.http("GET", "/cluster", cluster([{ name: "db1", role: "leader" }, { name: "db2", role: "replica", state: "starting" }]));
    expect(shouldRun("logical")).toBe(0);
  });

  it("a job that is not this node's exits 0 doing nothing (every member carries the same cron lines)", () => {
    const n = db1().http("GET", "/primary", "", 503).http("GET", "/cluster", leaderIsDb1);
    const r = n.run("pgha-backup", ["full"], asPostgres);
    expect([r.status, r.stderr]).toEqual([0, expect.stringContaining("full: not the leader; nothing to do on db1")]);
    expect(n.calls("pgbackrest")).toEqual([]);
    expect(n.run("pgha-backup", ["--force", "full"], asPostgres).status).toBe(0);
    expect(n.calls("pgbackrest").map((c) => c.at(-1))).toContain("backup");
  });

  it("runs as postgres: started as root (cron runs it as postgres; a person may not) it re-executes itself", () => {
    const n = db1().http("GET", "/primary", "", 503);
    expect(n.run("pgha-backup", ["check"]).status).toBe(0);
    expect(n.calls("runuser")).toEqual([["-u", "postgres", "--", n.path("/usr/local/sbin/pgha-backup"), "check"]]);
  });
});

describe("pgha-backup full|diff|incr", () => {
  it("backs up, then checks the archive and verifies the new backup, logging to backup.log", () => {
    const n = db1().http("GET", "/primary", "", 200);
    const r = n.run("pgha-backup", ["diff"], asPostgres);
    expect(r.status).toBe(0);
    expect(n.calls("pgbackrest").map((c) => c.join(" "))).toEqual([
      "--stanza=main repo-ls",
      "--stanza=main --output=json info",
      "--stanza=main --type=diff --annotation=pgha-node=db1 backup",
      "--stanza=main --output=json info",
      "--stanza=main check",
      "--stanza=main verify --set=20261202-010000F",
    ]);
    expect(n.read("/var/log/pgha/backup.log")).toContain("diff backup 20261202-010000F verified (checksums)");
  });

  it("archives the timeline history in pg_wal first (a cluster that followed another region's archived none of it)", () => {
    const n = db1().http("GET", "/primary", "", 200);
    n.write("/var/lib/postgresql/17/pgha/pg_wal/00000004.history", "3\t0/13023138\tno recovery target specified\n");
    n.write("/var/lib/postgresql/17/pgha/pg_wal/00000005.history", "4\t0/16028838\tno recovery target specified\n");
    expect(n.run("pgha-backup", ["full"], asPostgres).status).toBe(0);
    const pushes = n.calls("pgbackrest").filter((c) => c.includes("archive-push"));
    expect(pushes.map((c) => [c.slice(0, 3).join(" "), path.basename(c[3])])).toEqual([
      ["--stanza=main --no-archive-async archive-push", "00000004.history"],
      ["--stanza=main --no-archive-async archive-push", "00000005.history"],
    ]);
    expect(n.calls("pgbackrest").findIndex((c) => c.includes("archive-push"))).toBeLessThan(n.calls("pgbackrest").findIndex((c) => c.includes("backup")));
  });

  it("creates the stanza first when the repository has none, and fails naming the step that failed", () => {
    const n = db1(info(null, 1)).http("GET", "/primary", "", 200);
    // The catalogue has the backup once it was taken.
    n.answer("pgbackrest", `case "$*" in
      *" info") if [ -f "$PGHA_TEST_DIR/taken" ]; then echo '${JSON.stringify(info(1))}'; else echo '${JSON.stringify(info(null, 1))}'; fi ;;
      *" backup") : > "$PGHA_TEST_DIR/taken" ;;
    esac`);
    expect(n.run("pgha-backup", ["full"], asPostgres).status).toBe(0);
    expect(n.calls("pgbackrest").map((c) => c.find((a) => !a.startsWith("--")))).toEqual(["repo-ls", "info", "stanza-create", "backup", "info", "check", "verify"]);

    const f = db1().http("GET", "/primary", "", 200);
    f.answer("pgbackrest", 'case "$*" in *" info") echo \'[{"status":{"code":0},"backup":[{"label":"L"}]}]\' ;; *" verify"*) exit 1 ;; esac');
    const r = f.run("pgha-backup", ["full"], asPostgres);
    expect([r.status, r.stderr]).toEqual([1, expect.stringContaining("FAILED: pgbackrest verify of L")]);
  });

  it("each run that is this node's leaves its outcome for node-exporter: exit status, duration, and the last success kept while it fails", () => {
    const n = db1().write(`${NODE_PATHS.metricsDir}/.keep`, "").http("GET", "/primary", "", 200);
    const prom = `${NODE_PATHS.metricsDir}/pgha_job_full.prom`;
    const value = (name: string) => {
      const line = n.read(prom).split("\n").find((l) => l.startsWith(`${name}{kind="full"} `));
      return line === undefined ? undefined : Number(line.split(" ")[1]);
    };
    const t0 = Math.floor(Date.now() / 1000);
    expect(n.run("pgha-backup", ["full"], asPostgres).status).toBe(0);
    expect(value("pgha_job_last_exit_status")).toBe(0);
    const success = value("pgha_job_last_success_timestamp_seconds")!;
    expect(success).toBeGreaterThanOrEqual(t0);
    expect(value("pgha_job_last_run_timestamp_seconds")).toBe(success);
    expect(value("pgha_job_last_duration_seconds")).toBeGreaterThanOrEqual(0);
    // Every family is declared once per file, as the textfile collector wants.
    expect(n.read(prom).split("\n").filter((l) => l.startsWith("# TYPE ")).length).toBe(4);

    n.answer("pgbackrest", 'case "$*" in *" info") echo \'[{"status":{"code":0},"backup":[{"label":"L"}]}]\' ;; *" verify"*) exit 1 ;; esac');
    expect(n.run("pgha-backup", ["full"], asPostgres).status).toBe(1);
    expect(value("pgha_job_last_exit_status")).toBe(1);
    expect(value("pgha_job_last_success_timestamp_seconds")).toBe(success);
    expect(value("pgha_job_last_run_timestamp_seconds")).toBeGreaterThanOrEqual(success);

    // Not this node's job (a replica): nothing recorded.
    const before = n.read(prom);
    n.http("GET", "/primary", "", 503).http("GET", "/cluster", leaderIsDb2);
    expect(n.run("pgha-backup", ["full"], asPostgres).status).toBe(0);
    expect(n.read(prom)).toBe(before);
    expect(n.exists(`${NODE_PATHS.metricsDir}/pgha_job_logical.prom`)).toBe(false);
  });

  it("a repository that does not answer a listing fails the job before pgBackRest could hang on it", () => {
    const n = db1().http("GET", "/primary", "", 200);
    n.answer("pgbackrest", 'case "$*" in *" repo-ls") exit 124 ;; esac');
    const r = n.run("pgha-backup", ["full"], { env: { ...asPostgres.env, PGHA_REPO_PROBE_SECONDS: "2" } });
    expect([r.status, r.stderr]).toEqual([1, expect.stringContaining("full backup: the repository does not answer (its S3 endpoint is unreachable for 2 s)")]);
    expect(n.calls("pgbackrest").map((c) => c.at(-1))).toEqual(["repo-ls"]);
  });

  it("a second run while one holds the lock exits 3 without starting", async () => {
    const n = db1().http("GET", "/primary", "", 200);
    const lock = await n.holdLock("/run/lock/pgha-backup-physical.lock");
    try {
      const r = n.run("pgha-backup", ["full"], asPostgres);
      expect([r.status, r.stderr]).toEqual([3, expect.stringContaining("another physical run holds the lock; not starting a second one")]);
      expect(n.calls("pgbackrest").filter((c) => c.at(-1) === "backup")).toEqual([]);
    } finally {
      await lock.release();
    }
  });
});

describe("pgha-backup drill", () => {
  it("refuses when the disk cannot hold the restored backup with a margin, saying how much is needed and free", () => {
    const n = db1(info(2 ** 50)).http("GET", "/cluster", leaderIsDb2);
    const r = n.run("pgha-backup", ["drill"], asPostgres);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`FAILED: drill of 20261202-010000F needs ${2 ** 50 / 1048576} MiB \\+ 20 % \\+ 1 GiB free on ${n.path("/var/lib/postgresql/17")}, only \\d+ MiB are free`));
    expect(n.calls("pgbackrest").filter((c) => c.at(-1) === "restore")).toEqual([]);
    expect(n.calls("pg_ctl").filter((c) => c.includes("start"))).toEqual([]);
  });

  it("restores the newest backup beside the live data, starts and queries it, then annotates it verified and cleans up", () => {
    const n = db1().http("GET", "/cluster", leaderIsDb2);
    n.answer("psql", 'case "$*" in *pg_is_in_recovery*) echo f ;; *"count(*)"*) echo 3 ;; esac');
    n.answer("pg_ctl", '[ "$3" != status ] || exit 3');
    const r = n.run("pgha-backup", ["drill"], asPostgres);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("drill of 20261202-010000F (repo1): restored, started, 3 database(s) answer; annotated verified");
    const drillDir = n.path("/var/lib/postgresql/17/drill");
    expect(n.calls("pgbackrest").find((c) => c.at(-1) === "restore")).toEqual([
      "--stanza=main", "--set=20261202-010000F", `--pg1-path=${drillDir}`, "--type=immediate", "--target-action=promote", "--archive-mode=off", "restore",
    ]);
    expect(n.calls("pgbackrest").find((c) => c.at(-1) === "annotate")).toEqual(["--stanza=main", "--set=20261202-010000F", expect.stringMatching(/^--annotation=pgha-restore-verified=\d{4}-\d\d-\d\dT/), "annotate"]);
    expect(n.calls("pg_ctl").map((c) => c.find((a) => ["start", "stop", "status"].includes(a)))).toEqual(["status", "start", "stop"]);
    expect(n.exists("/var/lib/postgresql/17/drill")).toBe(false);
  });

  it("with backup.secondRepository: the second region's copy is drilled too, read with its own config, and not annotated", () => {
    const n = db1().http("GET", "/cluster", leaderIsDb2);
    n.write(NODE_PATHS.nodeEnv, `${n.read(NODE_PATHS.nodeEnv)}PGHA_REPOS="1 2"\nPGHA_SECOND_REGION_CONF=/etc/pgbackrest/second-region.conf\n`);
    n.answer("psql", 'case "$*" in *pg_is_in_recovery*) echo f ;; *"count(*)"*) echo 3 ;; esac');
    n.answer("pg_ctl", '[ "$3" != status ] || exit 3');
    const r = n.run("pgha-backup", ["drill"], asPostgres);
    expect([r.status, r.stderr]).toEqual([0, expect.stringContaining("drill of 20261202-010000F (repo2): restored, started, 3 database(s) answer in")]);
    const second = [`--config=${n.path("/etc/pgbackrest/second-region.conf")}`, `--config-include-path=${n.path("/etc/pgbackrest/conf.d")}`];
    const restores = n.calls("pgbackrest").filter((c) => c.at(-1) === "restore");
    expect(restores.map((c) => c.slice(0, 2))).toEqual([["--stanza=main", "--set=20261202-010000F"], second]);
    // Each copy is probed before it is read; only repo1 is annotated (the copy is read-only).
    expect(n.calls("pgbackrest").filter((c) => c.at(-1) === "repo-ls").map((c) => c.slice(0, 2))).toEqual([["--stanza=main", "repo-ls"], second]);
    expect(n.calls("pgbackrest").filter((c) => c.at(-1) === "annotate")).toHaveLength(1);
  });

  it("a restored copy that does not start fails the drill, is not annotated, and is removed", () => {
    const n = db1().http("GET", "/cluster", leaderIsDb2);
    // pg_ctl writes its -l log, then reports the failed start.
    n.answer("pg_ctl", 'case "$3" in status) exit 3 ;; -w) echo "FATAL: could not map anonymous shared memory" > "$7"; exit 1 ;; esac');
    const r = n.run("pgha-backup", ["drill"], asPostgres);
    expect([r.status, r.stderr]).toEqual([1, expect.stringContaining("FAILED: drill: restored 20261202-010000F does not start")]);
    expect(r.stderr).toContain("FATAL: could not map anonymous shared memory"); // the server log's tail
    expect(n.calls("pgbackrest").filter((c) => c.at(-1) === "annotate")).toEqual([]);
    expect(n.exists("/var/lib/postgresql/17/drill")).toBe(false);
  });
});

describe("pgha-backup logical", () => {
  it("streams a dump of every database and the globals to S3 (SSE-KMS), reads each back, writes a manifest, prunes old dumps", () => {
    const n = db1().http("GET", "/cluster", leaderIsDb2);
    n.answer("psql", 'case "$*" in *pg_database*) printf "app\\npostgres\\n" ;; esac');
    n.answer("pg_dumpall", 'echo "CREATE ROLE app;"');
    n.answer("pg_dump", 'echo "PGDMP dump of ${*: -1}"');
    n.answer("pg_restore", 'grep -q "^PGDMP" || { echo "pg_restore: error: input file does not appear to be a valid archive" >&2; exit 1; }');
    n.s3(`${LOGICAL()}20200101T000000Z/app.dump`, "old").s3(`${LOGICAL()}20991231T000000Z/app.dump`, "newer than the cut-off");
    const r = n.run("pgha-backup", ["logical"], asPostgres);
    expect(r.stderr).toMatch(/logical backup \d{8}T\d{6}Z: 2 database\(s\) \+ globals in \d+ s, each dump listed by pg_restore/);
    expect(r.status).toBe(0);
    const ts = r.stderr.match(/logical backup (\d{8}T\d{6}Z)/)![1];
    const uploads = n.calls("aws").filter((c) => c[1] === "cp" && c.at(-2) === "-");
    expect(uploads.map((c) => c.at(-1))).toEqual(["globals.sql", "app.dump", "postgres.dump", "MANIFEST.json"].map((f) => `${LOGICAL()}${ts}/${f}`));
    for (const u of uploads) expect(u).toEqual(expect.arrayContaining(["--sse", "aws:kms", "--sse-kms-key-id", nodeEnvValue("db1", "PGHA_S3_SSE_KMS_KEY")]));
    expect(n.calls("pg_restore")).toHaveLength(2);
    expect(n.s3Exists(`${LOGICAL()}20200101T000000Z/app.dump`)).toBe(false);
    expect(n.s3Exists(`${LOGICAL()}20991231T000000Z/app.dump`)).toBe(true);
    expect(r.stderr).toContain("pruning logical backup 20200101T000000Z (older than 12 weeks)");
  });

  it("a dump that does not read back fails the backup", () => {
    const n = db1().http("GET", "/cluster", leaderIsDb2);
    n.answer("psql", 'echo app');
    n.answer("pg_dumpall", 'echo "CREATE ROLE app;"');
    n.answer("pg_dump", "echo truncated");
    n.answer("pg_restore", 'grep -q "^PGDMP" || exit 1');
    const r = n.run("pgha-backup", ["logical"], asPostgres);
    expect([r.status, r.stderr]).toEqual([1, expect.stringContaining("FAILED: pg_restore --list of app.dump")]);
  });
});

describe("pgha-backup post-bootstrap and usage", () => {
  it("post-bootstrap starts the first full backup in the background and returns at once (Patroni must not fail its bootstrap)", async () => {
    const n = db1();
    const r = n.run("pgha-backup", ["post-bootstrap"], asPostgres);
    expect(r.status).toBe(0);
    for (const deadline = Date.now() + 30_000; !n.calls("setsid").length && Date.now() < deadline; ) await new Promise((res) => setTimeout(res, 20));
    expect(n.calls("setsid")).toEqual([["nohup", n.path("/usr/local/sbin/pgha-backup"), "full", "--force"]]);
    expect(n.calls("pgbackrest")).toEqual([]);
  });

  it("an unknown command exits 2 naming the commands; none prints the usage", () => {
    const n = db1();
    const r = n.run("pgha-backup", ["nightly"], asPostgres);
    expect([r.status, r.stderr]).toEqual([2, "pgha-backup: unknown command 'nightly' (full, diff, incr, logical, drill, delete-set, check, stanza, should-run)\n"]);
    expect(n.run("pgha-backup", [], asPostgres).status).toBe(2);
  });
});
