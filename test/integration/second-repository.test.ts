// backup.secondRepository on the booted sandbox (prod declares one): the pgBackRest repository's
// copy in a second region's bucket, on a second S3 endpoint, kept by the sandbox's stand-in for
// S3 Replication (sandbox/s3-replication.js). What it must prove: WAL and backups reach the copy
// within seconds; the second region's outage costs the first region's archive nothing; and the
// copy alone restores the cluster to a point in time, every acknowledged row included.
import { partition, heal } from "../../src/sandbox/network";
import { REGION_S3, SECOND_REGION_S3, replicationStatus, startS3, stopS3 } from "../../src/sandbox/s3";
import { allocateScratch, removeScratch } from "../../src/sandbox/scratch";
import { archiverStatus, formatStatus, status, type Sandbox } from "../../src/sandbox/cluster";
import { backup, backups, ensureRestoreHost, queryRestored, restoreNewCluster, validateRestore } from "../../src/sandbox/restore";
import { SANDBOX_NETWORK } from "../../src/layout";
import { localSql, sandbox, sh, sleep, waitFor, waitHealthy, WriteLoad } from "./support";

let sb: Sandbox;
const T = (minutes: number) => minutes * 60_000;

beforeAll(async () => {
  sb = await sandbox();
  await waitHealthy(sb);
  if (sb.spec.backup.repositories.length < 2) throw new Error(`stack ${sb.spec.stack} declares no backup.secondRepository: these tests need the prod stack as shipped`);
}, T(4));

afterAll(async () => {
  await heal();
  await startS3(sb.stateDir, sb.spec.backup.repositories[0].bucketName, REGION_S3);
  await startS3(sb.stateDir, sb.spec.backup.repositories[1].bucketName, SECOND_REGION_S3);
}, T(1));

async function leader(): Promise<string> {
  return waitFor("a leader", () => sb.client.leader(), 120_000);
}

/** Writes a WAL record, switches the segment and waits until the first region has it; returns its name. */
async function archiveNow(timeoutMs = 120_000): Promise<string> {
  const l = await leader();
  const wal = await localSql(l, "select pg_walfile_name(pg_switch_wal()) from (select pg_logical_emit_message(false, 'pgha', 'archive now')) as wal_record");
  await waitFor(`WAL ${wal} archived`, async () => (await localSql(l, "select coalesce(last_archived_wal, '') from pg_stat_archiver")) >= wal, timeoutMs, 250);
  return wal;
}

/** Seconds until the second region's copy holds the WAL segment (its newest archived file ≥ wal). */
async function waitForCopy(wal: string, timeoutMs = 120_000): Promise<number> {
  const start = Date.now();
  await waitFor(`WAL ${wal} in the second region's copy`, async () => {
    const max = (await backups(sb, 2)).repositories[0].archiveMax ?? "";
    return max.slice(0, 24) >= wal;
  }, timeoutMs, 500);
  return (Date.now() - start) / 1000;
}

describe("the second region's copy of the repository", () => {
  it("WAL and each backup reach the copy within seconds; both regions list them", async () => {
    const wal = await archiveNow();
    const walLag = await waitForCopy(wal);
    const { node } = await backup(sb, "full");
    const label = (await backups(sb, 1)).backups.slice(-1)[0].label;
    const backupStart = Date.now();
    await waitFor(`backup ${label} in the copy`, async () => (await backups(sb, 2)).backups.some((b) => b.label === label), 120_000, 500);
    process.stderr.write(`[second-repository] WAL ${wal} in the copy ${walLag.toFixed(1)} s after it was archived; backup ${label} (taken on ${node}) ${((Date.now() - backupStart) / 1000).toFixed(1)} s after its job ended\n`);
    const all = await backups(sb);
    expect(all.repositories.map((r) => r.repo)).toEqual([1, 2]);
    expect(all.repositories.every((r) => r.status === "ok")).toBe(true);
    // The copy is the same repository: the same backups, by label and stop LSN.
    const copy = await backups(sb, 2);
    const pick = (c: typeof copy) => c.backups.filter((b) => b.label === label).map((b) => [b.label, b.type, b.lsnStop]);
    expect(pick(copy)).toEqual(pick(all));
    expect(replicationStatus(sb.stateDir)).toMatchObject({ source: true, destination: true });
    // status lists what each repository holds: the same newest backup and WAL as its catalogue.
    const st = await status(sb);
    const catalogue = await Promise.all([1, 2].map((r) => backups(sb, r)));
    expect(st.repositories.map((r) => [r.name, r.running, r.catalogueError, r.newestBackup?.label, r.newestWal, r.backups])).toEqual(
      catalogue.map((c, i) => [`repo${i + 1}`, true, null, label, c.archiveMax, c.backups.length]),
    );
    expect(st.repositories[1].newestWal!.slice(0, 24) >= wal).toBe(true);
    expect(formatStatus(st)).toContain(`repo2 (${sb.spec.backup.repositories[1].region}, ${sb.spec.backup.repositories[1].bucketName}): ${catalogue[1].backups.length} backup(s), newest ${label} (full`);
  }, T(4));

  it("the second region's S3 down: the first region's archive and backups go on as before; the copy catches up when it returns", async () => {
    const l = await leader();
    const before = (await archiverStatus(sb))!;
    await stopS3(sb.stateDir, SECOND_REGION_S3);
    let wal: string;
    let label: string;
    try {
      // Archived in the first region as quickly as ever (a stalled archive would time out here).
      const start = Date.now();
      wal = await archiveNow(30_000);
      const seconds = (Date.now() - start) / 1000;
      const during = (await archiverStatus(sb))!;
      expect(during.failedCount).toBe(before.failedCount);
      expect(during.pendingWalFiles).toBeLessThanOrEqual(1);
      // A full backup runs and is verified: the job never touches the second region.
      const r = await backup(sb, "full");
      expect(r.log).toMatch(/full backup \S+ verified/);
      label = (await backups(sb, 1)).backups.slice(-1)[0].label;
      await sleep(2000);
      expect(replicationStatus(sb.stateDir)).toMatchObject({ source: true, destination: false });
      // status: the copy's endpoint is down and says so at once; the first region's is read.
      const statusStart = Date.now();
      const st = await status(sb);
      const statusSeconds = (Date.now() - statusStart) / 1000;
      expect(st.repositories.map((r) => [r.name, r.running, r.catalogueError, r.newestBackup?.label ?? null])).toEqual([
        ["repo1", true, null, label],
        ["repo2", false, "its S3 endpoint is stopped", null],
      ]);
      expect(formatStatus(st)).toContain("repo2 (" + sb.spec.backup.repositories[1].region + ", " + sb.spec.backup.repositories[1].bucketName + "): catalogue not read: its S3 endpoint is stopped");
      process.stderr.write(`[second-repository] status with the second region's S3 down answered in ${statusSeconds.toFixed(1)} s\n`);
      process.stderr.write(`[second-repository] second region down: WAL ${wal} archived in ${seconds.toFixed(1)} s, backup ${label} verified on ${r.node} (leader ${l})\n`);
    } finally {
      await startS3(sb.stateDir, sb.spec.backup.repositories[1].bucketName, SECOND_REGION_S3);
    }
    const lag = await waitForCopy(wal!);
    await waitFor(`backup ${label!} in the copy`, async () => (await backups(sb, 2)).backups.some((b) => b.label === label), 120_000, 500);
    process.stderr.write(`[second-repository] the copy caught up ${lag.toFixed(1)} s after the second region's S3 returned\n`);
  }, T(5));

  it("the copy alone restores the cluster to a point in time: every acknowledged row, a new timeline, and a drill of each region's newest backup", async () => {
    // A row written after the target: the restore must stop before it.
    const token = `after-${Date.now()}`;
    await sb.client.query("rw", "create table if not exists region_copy_later(x text)");
    const load = new WriteLoad(sb, "region_copy");
    await load.prepare();
    load.start();
    await waitFor("writes flowing", async () => load.ackedCount > 200, 60_000);
    const result = await load.stop();
    const l = await leader();
    const target = (await sb.client.query(l, "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' as t"))[0].t as string;
    // Recovery to a time stops at the first commit after it: one must be in the archive.
    await sleep(1100);
    await sb.client.query("rw", "insert into region_copy_later values ($1)", [token]);
    const liveTimeline = Number(await localSql(l, "select timeline_id from pg_control_checkpoint()"));
    await waitForCopy(await archiveNow());

    // The first region's S3 stopped: the copy still lists its backups.
    await stopS3(sb.stateDir, REGION_S3);
    try {
      const copy = await backups(sb, 2);
      expect(copy.status).toBe("ok");
      expect(copy.backups.length).toBeGreaterThan(0);
    } finally {
      await startS3(sb.stateDir, sb.spec.backup.repositories[0].bucketName, REGION_S3);
    }

    // A scratch host that cannot reach the first region's S3 at all restores from the copy.
    const name = "drcopy";
    const slot = allocateScratch(sb.spec, sb.stateDir, { name, replace: true });
    await ensureRestoreHost(sb, undefined, slot);
    await partition([slot.address], [SANDBOX_NETWORK.s3Address]);
    try {
      const unreachable = await sh(slot.name, `timeout 5 bash -c '</dev/tcp/${SANDBOX_NETWORK.s3Address}/443' && echo reachable || echo unreachable`);
      expect(unreachable.trim()).toBe("unreachable");
      const start = Date.now();
      const r = await restoreNewCluster(sb, { type: "time", target, action: "promote", repo: 2 }, undefined, { name, replace: true });
      process.stderr.write(`[second-repository] restore from the second region's copy to ${target}: ${((Date.now() - start) / 1000).toFixed(1)} s, timeline ${r.timeline}\n`);
      expect(r.host).toBe(slot.name);
      const restored = new Set((await queryRestored(r, "select id from region_copy")).split("\n").filter(Boolean).map(Number));
      expect(result.acked.length).toBeGreaterThan(200);
      expect(result.acked.filter((id) => !restored.has(id))).toEqual([]);
      expect(await queryRestored(r, `select count(*) from region_copy_later where x = '${token}'`)).toBe("0");
      expect(r.timeline).toBeGreaterThan(liveTimeline);
      // restore_command reads the copy too (recovery fetched its WAL from the second region).
      expect(await sh(slot.name, "grep -h restore_command /var/lib/postgresql/17/pgha/postgresql.auto.conf | tail -1")).toContain("second-region.conf");
    } finally {
      await heal();
      await removeScratch(sb.stateDir, name).catch(() => undefined);
    }

    // A drill restores the newest backup of each region's copy, starts and queries it.
    const drill = await backup(sb, "drill");
    expect(drill.log).toMatch(/drill of \S+ \(repo1\): restored, started, \d+ database\(s\) answer; annotated verified/);
    expect(drill.log).toMatch(/drill of \S+ \(repo2\): restored, started, \d+ database\(s\) answer/);
  }, T(8));

  it("retention: the restorable window starts at the oldest full backup kept, WAL before it goes with it, and the copy follows", async () => {
    const { node } = await backup(sb, "full");
    const older = (await backups(sb, 1)).backups.slice(-1)[0];
    const l = await leader();
    const between = (await sb.client.query(l, "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00' as t"))[0].t as string;
    await sleep(1100);
    await sb.client.query("rw", "create table if not exists retention_probe(x int); insert into retention_probe values (1)");
    await archiveNow();
    await backup(sb, "full");
    const newest = (await backups(sb, 1)).backups.slice(-1)[0];
    // Before expiry a time between the two backups is restorable.
    await validateRestore(sb, { type: "time", target: between, action: "promote" });
    // Time passing, compressed: the expire that runs after every backup, with a retention that has
    // elapsed for every backup but the newest full one (count 1 instead of days).
    await sh(node, `runuser -u postgres -- pgbackrest --stanza=${sb.spec.backup.stanza} --repo1-retention-full-type=count --repo1-retention-full=1 expire`);
    const after = await backups(sb, 1);
    expect(after.backups.map((b) => b.label)).toEqual([newest.label]);
    expect(after.oldest).toBe(newest.stop);
    // The WAL before that backup went with the older ones: a time before it is refused (no base backup to replay from).
    await expect(validateRestore(sb, { type: "time", target: between, action: "promote" })).rejects.toThrow(/before the oldest restorable point/);
    // S3 Replication carries the deletions: the copy's window starts at the same backup.
    await waitFor(`backup ${older.label} gone from the copy`, async () => {
      const copy = await backups(sb, 2);
      return copy.backups.length > 0 && copy.backups.every((b) => b.label !== older.label) && copy.oldest === newest.stop;
    }, 120_000, 1000);
  }, T(5));
});
