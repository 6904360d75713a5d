// Restore into a new stack (issue 11, item 4): a stack with postgres-ha:restoreFrom starts its
// cluster from another stack's repository at a point in time, instead of initdb — RDS's "restore
// to a point in time" as a new database, but a full HA cluster with its own repository. The
// sandbox boots prod-pitr beside prod (the second bridge) from the same user-data as EC2; its
// first member runs Patroni's custom bootstrap (pgha-restore bootstrap-from-source) against
// prod's bucket. What it must prove: exactly the rows committed before the target, a new
// timeline, every member streaming, backups in its own repository — and prod's repository only
// read: every object it held is still there unchanged, and nothing of the new timeline reached it.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import YAML from "yaml";
import { up, type Sandbox } from "../../src/sandbox/cluster";
import { down } from "../../src/sandbox/cluster/lifecycle";
import { STANDBY_STATE_DIR } from "../../src/sandbox/cluster/standby-region";
import { listObjectDetails, stackS3 } from "../../src/sandbox/aws";
import { restoredClusterStatus } from "../../src/sandbox/standby";
import { hostExec } from "../../src/sandbox/hosts";
import { nodesOf } from "../../src/spec";
import { repoPath } from "../../src/repo-root";
import { localSql, sandbox, sh, sleep, waitFor, waitHealthy, waitStreaming } from "./support";

const T = (minutes: number) => minutes * 60_000;
const STACK = "prod-pitr";
const TABLE = "pitr_probe";
const BEFORE = 40;
const AFTER = 25;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-restore-stack-"));
const log = (l: string) => process.stderr.write(`[restore-stack] ${l}\n`);

let sb: Sandbox;
let rs: Sandbox;
let target: string;
let sourceTimeline: number;
let before: Map<string, { size: number; etag: string }>;

/** The repository's prod-pitr stack file with the target set (what a user edits before `pulumi up`). */
function stackFileAt(time: string): string {
  const doc = YAML.parse(fs.readFileSync(repoPath(`Pulumi.${STACK}.yaml`), "utf8")) as { config: Record<string, { target: { value: string } }> };
  doc.config["postgres-ha:restoreFrom"].target.value = time;
  const file = path.join(tmp, `Pulumi.${STACK}.yaml`);
  fs.writeFileSync(file, YAML.stringify(doc));
  return file;
}

async function sourceObjects(): Promise<Map<string, { size: number; etag: string }>> {
  const objects = await listObjectDetails(sb.spec.backup.bucketName, "", sb.spec.region, stackS3(sb.spec));
  return new Map(objects.map((o) => [o.key, { size: o.size, etag: o.etag }]));
}

const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, "0");

beforeAll(async () => {
  sb = await sandbox();
  const leader = await waitHealthy(sb);
  // A full backup first: the restore then replays minutes of WAL, not everything the suites
  // before this one wrote since prod's first backup (which took longer than the bootstrap wait).
  // (exit 3: a scheduled backup holds the lock; wait for it and take ours after.)
  await waitFor("a full backup of prod", async () => {
    const r = await hostExec(leader, ["runuser", "-u", "postgres", "--", "/usr/local/sbin/pgha-backup", "full", "--force"], { timeoutMs: 600_000 });
    if (r.code === 3) return false;
    if (r.code !== 0) throw new Error(`pgha-backup full on ${leader} exited ${r.code}: ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`);
    return true;
  }, 900_000, 5000);
  await localSql(leader, `drop table if exists ${TABLE}; create table ${TABLE} (id int primary key, at timestamptz not null default clock_timestamp())`);
  // One transaction per row: each is a commit record recovery can stop before or after.
  for (let i = 1; i <= BEFORE; i++) await localSql(leader, `insert into ${TABLE} (id) values (${i})`);
  target = await localSql(leader, `select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'`);
  await sleep(1100);
  // Recovery to a time needs a commit after it in the archive, or it ends before the target.
  for (let i = BEFORE + 1; i <= BEFORE + AFTER; i++) await localSql(leader, `insert into ${TABLE} (id) values (${i})`);
  sourceTimeline = Number(await localSql(leader, "select timeline_id from pg_control_checkpoint()"));
  const segment = await localSql(leader, "select pg_walfile_name(pg_switch_wal())");
  await waitFor(`prod's archiver past ${segment}`, async () => (await localSql(leader, "select coalesce(last_archived_wal, '') from pg_stat_archiver")) >= segment, T(2), 1000);
  // The async archiver acknowledges from its spool: give the push to S3 a moment to land.
  await waitFor(`${segment} in prod's repository`, async () => [...(await sourceObjects()).keys()].some((k) => k.includes(`/${segment}-`)), T(2), 1000);
  before = await sourceObjects();
  log(`target ${target} (prod timeline ${sourceTimeline}); prod's bucket holds ${before.size} objects`);
  const started = Date.now();
  // The first member restores and recovers before the cluster can be healthy: more than the usual wait.
  rs = await up({ stack: stackFileAt(target), log, timeoutMs: 600_000 });
  log(`${STACK} up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}, T(20));

afterAll(async () => {
  await down({ stateDir: STANDBY_STATE_DIR, log }).catch((e) => log(`down: ${e}`));
  const leader = await sb.client.leader();
  if (leader) await localSql(leader, `drop table if exists ${TABLE}`).catch(() => undefined);
  fs.rmSync(tmp, { recursive: true, force: true });
}, T(5));

test("restored at a time target: exactly the rows committed before it, on a new timeline, every member streaming, its own repository holding a backup", async () => {
  const leader = (await rs.client.leader())!;
  expect(nodesOf(rs.spec, "postgres").map((n) => n.name)).toContain(leader);
  expect(await localSql(leader, `select count(*) || ' ' || max(id) from ${TABLE}`)).toBe(`${BEFORE} ${BEFORE}`);
  const timeline = Number(await localSql(leader, "select timeline_id from pg_control_checkpoint()"));
  expect(timeline).toBeGreaterThan(sourceTimeline);

  // The origin record the bootstrap wrote beside this cluster's own catalogue.
  const origin = JSON.parse(await sh(leader, "/usr/local/sbin/pgha-restore origin"));
  expect(origin).toMatchObject({ sourceStack: "prod", sourceBucket: sb.spec.backup.bucketName, targetType: "time", target, timeline });

  // `status` beside prod shows it as a restored cluster: whence, and each member's timeline.
  const shown = await restoredClusterStatus(rs);
  expect(shown.restoredFrom).toEqual({ stack: "prod", target: `time ${target}` });
  expect(shown.members.find((m) => m.name === leader)).toMatchObject({ role: "leader", timeline });

  // A full HA cluster: the other member is a copy of the restored one and streams from it.
  const replica = nodesOf(rs.spec, "postgres").map((n) => n.name).find((n) => n !== leader)!;
  await waitStreaming(rs, replica);
  await localSql(leader, `insert into ${TABLE} (id) values (1000)`);
  await waitFor(`row 1000 on ${replica}`, async () => (await localSql(replica, `select count(*) from ${TABLE}`)) === String(BEFORE + 1), T(1), 500);
  // Patroni set this cluster's own passwords over the source's (post_bootstrap): the rw
  // endpoint takes the superuser's login from this stack's secret.
  expect((await rs.client.query("rw", `select count(*)::int as n from ${TABLE}`))[0].n).toBe(BEFORE + 1);

  // post_bootstrap's first full backup, in this cluster's own bucket, on the new timeline.
  const window = await waitFor("the first full backup of the restored cluster", async () => {
    const w = JSON.parse(await sh(leader, "/usr/local/sbin/pgha-restore window --json").catch(() => "{}"));
    return (w.backups ?? []).some((b: { type: string }) => b.type === "full") ? w : undefined;
  }, T(4), 3000);
  expect(window.stanza).toBe(rs.spec.backup.stanza);
  const own = await listObjectDetails(rs.spec.backup.bucketName, rs.spec.backup.repoPath.slice(1) + "/", rs.spec.region, stackS3(rs.spec));
  expect(own.some((o) => o.key.includes(`${hex8(timeline)}.history`) || o.key.includes(`/${hex8(timeline)}`))).toBe(true);
}, T(8));

test("the source repository is only read: every object it held is unchanged, and nothing of the restored timeline reached it", async () => {
  const leader = (await rs.client.leader())!;
  const timeline = Number(await localSql(leader, "select timeline_id from pg_control_checkpoint()"));
  const after = await sourceObjects();
  const changed = [...before].filter(([k, v]) => after.get(k)?.etag !== v.etag || after.get(k)?.size !== v.size).map(([k]) => k);
  expect(changed).toEqual([]);
  // prod keeps archiving (and may run a scheduled backup) meanwhile; the restored cluster's WAL
  // and history would carry its own timeline's id.
  const added = [...after.keys()].filter((k) => !before.has(k));
  log(`prod's bucket: ${added.length} object(s) added meanwhile (prod's own archiving)`);
  expect(added.filter((k) => k.includes(`${hex8(timeline)}.history`) || new RegExp(`/${hex8(timeline)}[0-9A-F]{16}`).test(k))).toEqual([]);
  expect(added.filter((k) => !k.includes("/archive/") && !k.includes("/backup/"))).toEqual([]);
});
