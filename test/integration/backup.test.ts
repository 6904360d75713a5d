// Backups and recovery end to end on the booted sandbox (issue 4): pgBackRest to the S3
// endpoint over verified TLS, scheduled jobs, logical dumps in every format, point-in-time
// recovery of every target type in place and as a new cluster, refused restores, an S3 outage.
import { hostExec } from "../../src/sandbox/hosts";
import { startS3, stopS3 } from "../../src/sandbox/s3";
import { hostState, powerCut, startHost, waitForBoot } from "../../src/sandbox/hosts";
import { archiverStatus, formatStatus, status, type Sandbox } from "../../src/sandbox/cluster";
import { listScratch, removeScratch } from "../../src/sandbox/scratch";
import { fetchLogical, logicalSets, restoreLogical } from "../../src/sandbox/restore";
import { deleteBackupSet } from "../../src/sandbox/restore";
import { backup, backups, queryRestored, restoreInPlace, restoreNewCluster, restorePoint, RestoreRefused, type RestoreRequest } from "../../src/sandbox/restore";
import { renderBundle, NODE_PATHS } from "../../src/render/bundle";
import { buildSpec } from "../../src/spec";
import { loadStackConfig } from "../../src/config/load";
import { readStackFile } from "../../src/config/stack-file";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import YAML from "yaml";
import { mainPid } from "../../src/sandbox/cluster";
import { localSql, postgresMembers, sandbox, sh, sleep, waitFor, waitHealthy, waitStreaming, WriteLoad } from "./support";

let sb: Sandbox;
const T = (minutes: number) => minutes * 60_000;
const timelineOf = async (node: string) => Number(await localSql(node, "select timeline_id from pg_control_checkpoint()"));

beforeAll(async () => {
  sb = await sandbox();
  await waitHealthy(sb);
}, T(4));

async function leader(): Promise<string> {
  return waitFor("a leader", () => sb.client.leader(), 120_000);
}

/**
 * Forces the current WAL segment into the archive and waits until it is there. A WAL record is
 * written first: pg_switch_wal() on an empty segment does nothing, and then names a file that is
 * never archived while the cluster is idle.
 */
async function archiveNow(): Promise<void> {
  const l = await leader();
  const wal = await localSql(l, "select pg_walfile_name(pg_switch_wal()) from (select pg_logical_emit_message(false, 'pgha', 'archive now')) as wal_record");
  await waitFor(`WAL ${wal} archived`, async () => {
    const last = await localSql(l, "select coalesce(last_archived_wal, '') from pg_stat_archiver");
    return last >= wal;
  }, 120_000, 500);
}

async function count(target: string, table: string, db = "postgres"): Promise<number> {
  return Number((await sb.client.query(target, `select count(*) as n from ${table}`, [], { database: db }))[0].n);
}

describe("physical backups", () => {
  it("full, diff and incr backups run on the leader only, are verified, and appear in the catalogue", async () => {
    const before = (await backups(sb)).backups.length;
    for (const kind of ["full", "diff", "incr"] as const) {
      const r = await backup(sb, kind);
      expect(r.node).toBe(await leader());
      expect(r.log).toMatch(new RegExp(`${kind} backup \\S+ verified`));
    }
    const cat = await backups(sb);
    expect(cat.backups.length).toBe(before + 3);
    expect(cat.backups.slice(-3).map((b) => b.type)).toEqual(["full", "diff", "incr"]);
    expect(cat.status).toBe("ok");
    expect(cat.oldest).toBeTruthy();
    expect(cat.newest).toBeTruthy();
  }, T(4));

  it("a backup set can be deleted now; the newest full one only with --force; a typo names the sets there are", async () => {
    await backup(sb, "full");
    const older = (await backups(sb)).backups.filter((b) => b.type === "full").slice(-1)[0].label;
    await backup(sb, "full");
    const newest = (await backups(sb)).backups.filter((b) => b.type === "full").slice(-1)[0].label;
    expect(newest).not.toBe(older);
    expect(await deleteBackupSet(sb, older)).toContain(`backup ${older} deleted`);
    expect((await backups(sb)).backups.map((b) => b.label)).not.toContain(older);
    await expect(deleteBackupSet(sb, newest)).rejects.toThrow(`${newest} is the newest full backup`);
    await expect(deleteBackupSet(sb, "20000101-000000F")).rejects.toThrow(/there is no backup 20000101-000000F \(there are: .*\)/);
    await expect(deleteBackupSet(sb, "latest")).rejects.toThrow(/'latest' is not a backup label/);
    expect((await backups(sb)).backups.map((b) => b.label)).toContain(newest);
  }, T(4));

  it("a job on the wrong node exits 0 without doing anything", async () => {
    const l = await leader();
    const replica = postgresMembers(sb).find((m) => m !== l)!;
    const before = (await backups(sb)).backups.length;
    const r = await hostExec(replica, ["pgha-backup", "full"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("not the leader; nothing to do");
    expect((await backups(sb)).backups.length).toBe(before);
    const should = await hostExec(replica, ["pgha-backup", "should-run", "full"]);
    expect(should.code).not.toBe(0);
  }, T(2));

  it("a restore drill restores the newest backup, starts it, and only then marks it verified", async () => {
    const r = await backup(sb, "drill");
    expect(r.log).toMatch(/drill of \S+ \(repo1\): restored, started, \d+ database\(s\) answer; annotated verified/);
    const cat = await backups(sb);
    expect(cat.backups[cat.backups.length - 1].verified).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(cat.oldestVerified).toBeTruthy();
  }, T(3));

  it("cron itself fires the rendered job, and only on the node whose turn it is", async () => {
    // Render the bundle of a stack whose logical backup runs every minute and install its
    // cron file on every member (the same file a changed stack would ship), then wait for cron.
    const base = readStackFile(sb.state.stackFile);
    const everyMinute = buildSpec(loadStackConfig({ ...base.raw, "postgres-ha:backup": JSON.stringify({ logicalSchedule: "* * * * *" }) }, { stack: base.stack }), base.stack);
    const cronOf = (spec: typeof everyMinute, node: string) => renderBundle(spec, node, sb.layout).files.find((f) => f.path === NODE_PATHS.cron)!.content;
    const marker = `cron-proof-${Date.now()}`;
    try {
      for (const m of postgresMembers(sb)) {
        await sh(m, `logger -t pgha-backup ${marker}; [ -e /var/log/pgha/backup.log ] || runuser -u postgres -- touch /var/log/pgha/backup.log; cp /var/log/pgha/backup.log /var/log/pgha/backup.log.before`);
        await hostExec(m, ["bash", "-c", `cat > ${NODE_PATHS.cron}`], { input: cronOf(everyMinute, m) });
      }
      const ran = await waitFor("cron to run the logical job on one member", async () => {
        for (const m of postgresMembers(sb)) {
          const log = await sh(m, "diff /var/log/pgha/backup.log.before /var/log/pgha/backup.log | grep '^>' || true");
          if (/logical backup \S+: \d+ database\(s\) \+ globals/.test(log)) return m;
        }
        return undefined;
      }, 150_000, 2000);
      // The others were woken by the same cron line and declined.
      for (const m of postgresMembers(sb).filter((x) => x !== ran)) {
        await waitFor(`${m} to decline the logical job`, async () => /not the offload node; nothing to do/.test(await sh(m, "diff /var/log/pgha/backup.log.before /var/log/pgha/backup.log || true")), 90_000, 2000);
      }
      const journal = await sh(ran, "journalctl -t CRON --since '-5 min' --no-pager || journalctl --since '-5 min' --no-pager | grep -i cron || true");
      expect(journal).toMatch(/pgha-backup logical/);
    } finally {
      for (const m of postgresMembers(sb)) await hostExec(m, ["bash", "-c", `cat > ${NODE_PATHS.cron}`], { input: cronOf(sb.spec, m) });
    }
  }, T(5));
});

describe("logical backups (MISSION L1–L3)", () => {
  /** A bash script run as postgres on the leader (fed on stdin: no quoting games). */
  const asPostgres = async (script: string) => {
    const l = await leader();
    const r = await hostExec(l, ["runuser", "-u", "postgres", "--", "bash", "-s"], {
      input: `set -euo pipefail; cd /tmp; export PGHOST=/var/run/postgresql\n${script.replace(/\n\s+/g, "\n")}\n`,
      timeoutMs: 300_000,
    });
    if (r.code !== 0) throw new Error(`script on ${l} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  };

  beforeAll(async () => {
    // Idempotent (a reused sandbox already has them): the role is cluster-wide, the database not.
    await asPostgres(`dropdb --if-exists shop; for d in $(psql -d postgres -XAtc "select datname from pg_database where datname like 'r\\_%'"); do dropdb "$d"; done; psql -d postgres -XAtqc "drop role if exists reporting"; createdb shop
      psql -d shop -XAtq -c "create table users(id int primary key, name text); create table orders(id int primary key, user_id int references users, total numeric); create table logs(id int, msg text);
        insert into users select g, 'u'||g from generate_series(1,200) g; insert into orders select g, 1+g%200, g*1.5 from generate_series(1,1000) g; insert into logs select g, 'l' from generate_series(1,500) g;
        create role reporting login; grant select on users to reporting;"`);
  }, T(2));

  it("pg_dump in every format and option, restored with psql and pg_restore (parallel, one table, schema/data only)", async () => {
    const out = await asPostgres(`rm -rf /tmp/dumps; mkdir -p /tmp/dumps; cd /tmp/dumps
      pg_dump -d shop > plain.sql
      pg_dump -d shop -Fc -f custom.dump
      pg_dump -d shop -Fd -j 4 -f dirdump
      pg_dump -d shop -Ft -f tar.tar
      pg_dump -d shop --schema-only > schema.sql
      pg_dump -d shop --data-only > data.sql
      pg_dump -d shop -t users -t orders > tables.sql
      pg_dump -d shop --exclude-table=logs > nologs.sql
      pg_dumpall > cluster.sql
      pg_dumpall --globals-only > globals.sql
      for db in r_plain r_custom r_dir r_tar r_one r_schema r_tables r_nologs; do dropdb --if-exists $db; done
      createdb r_plain; psql -XAtq -v ON_ERROR_STOP=1 -d r_plain -f plain.sql >/dev/null
      createdb r_custom; pg_restore -d r_custom custom.dump
      createdb r_dir; pg_restore -d r_dir -j 4 dirdump
      createdb r_tar; pg_restore -d r_tar tar.tar
      createdb r_one; pg_restore -d r_one -t users custom.dump
      createdb r_schema; pg_restore -d r_schema --schema-only custom.dump; pg_restore -d r_schema --data-only -t users custom.dump
      createdb r_tables; psql -XAtq -v ON_ERROR_STOP=1 -d r_tables -f tables.sql >/dev/null
      createdb r_nologs; psql -XAtq -v ON_ERROR_STOP=1 -d r_nologs -f nologs.sql >/dev/null
      echo "schema_has_create=$(grep -c '^CREATE TABLE' schema.sql) schema_has_copy=$(grep -c '^COPY' schema.sql)"
      echo "data_has_create=$(grep -c '^CREATE TABLE' data.sql) data_has_copy=$(grep -c '^COPY' data.sql)"
      echo "globals_role=$(grep -c 'CREATE ROLE reporting' globals.sql) globals_tables=$(grep -c 'CREATE TABLE' globals.sql)"
      echo "cluster_shop=$(grep -c 'CREATE DATABASE shop' cluster.sql)"`);
    const facts = Object.fromEntries(out.trim().split(/\s+/).filter((x) => x.includes("=")).map((kv) => kv.split("=")));
    expect(facts).toMatchObject({ schema_has_create: "3", schema_has_copy: "0", data_has_create: "0", data_has_copy: "3", globals_role: "1", globals_tables: "0", cluster_shop: "1" });
    const counts = async (db: string) =>
      (await sb.client.query("rw", `select (select count(*) from users) u, (select count(*) from orders) o, (select count(*) from information_schema.tables where table_schema='public') t`, [], { database: db }))[0];
    for (const db of ["r_plain", "r_custom", "r_dir", "r_tar"]) expect(await counts(db)).toEqual({ u: "200", o: "1000", t: "3" });
    const one = (await sb.client.query("rw", "select count(*) n, (select count(*) from information_schema.tables where table_schema='public') t from users", [], { database: "r_one" }))[0];
    expect(one).toEqual({ n: "200", t: "1" });
    const schemaOnly = (await sb.client.query("rw", "select (select count(*) from users) u, (select count(*) from orders) o, (select count(*) from information_schema.tables where table_schema='public') t", [], { database: "r_schema" }))[0];
    expect(schemaOnly).toEqual({ u: "200", o: "0", t: "3" });
    expect((await sb.client.query("rw", "select count(*) n from information_schema.tables where table_schema='public'", [], { database: "r_tables" }))[0].n).toBe("2");
    expect((await sb.client.query("rw", "select to_regclass('public.logs') is null as gone, (select count(*) from orders) o", [], { database: "r_nologs" }))[0]).toEqual({ gone: true, o: "1000" });
  }, T(4));

  it("the scheduled logical job streams every database and the globals to S3, reads them back, and the dump restores", async () => {
    const r = await backup(sb, "logical");
    const m = /logical backup (\d{8}T\d{6}Z): (\d+) database\(s\) \+ globals/.exec(r.log);
    expect(m).not.toBeNull();
    expect(Number(m![2])).toBeGreaterThanOrEqual(2);
    const ts = m![1];
    // Restore the shop dump from the bucket into a new database created first.
    // awscli with the node's own AWS environment (/etc/pgha/aws.env), as the node's jobs call it.
    const s3 = `set -a; . /etc/pgha/aws.env; set +a; aws s3`;
    const node = r.node;
    await sh(node, `${s3} cp --only-show-errors s3://${sb.spec.backup.bucketName}/${sb.spec.backup.logicalPrefix}${ts}/shop.dump /tmp/shop.dump && chown postgres /tmp/shop.dump`);
    // pg_restore on the node that made the dump, through the rw endpoint with verify-full; the
    // password travels on stdin, never in an argument.
    const rw = sb.spec.serviceNames.readWrite;
    const restore = await hostExec(node, ["runuser", "-u", "postgres", "--", "bash", "-c",
      `read -r PGPASSWORD; export PGPASSWORD PGSSLMODE=verify-full PGSSLROOTCERT=/etc/pgha/tls/ca.crt; set -e
       dropdb -h ${rw} -p 5000 --if-exists shop_from_s3; createdb -h ${rw} -p 5000 shop_from_s3
       pg_restore -h ${rw} -p 5000 -d shop_from_s3 -j 2 /tmp/shop.dump`], { input: sb.material.cluster.superuserPassword + "\n", timeoutMs: 300_000 });
    expect(`${restore.code} ${restore.stderr.replace(/NOTICE: .*\n?/g, "").trim()}`).toBe("0 ");
    expect(await count("rw", "orders", "shop_from_s3")).toBe(1000);
    const manifest = JSON.parse(await sh(node, `${s3} cp --only-show-errors s3://${sb.spec.backup.bucketName}/${sb.spec.backup.logicalPrefix}${ts}/MANIFEST.json -`));
    expect(manifest.databases).toEqual(expect.arrayContaining(["postgres", "shop"]));
  }, T(4));
});

describe("logical dumps as first-class backups (issue 16)", () => {
  it("a dropped table comes back from the latest dump with its primary key, index, check, defaults, sequence position and comment", async () => {
    const q = (sql: string, db = "shop") => sb.client.query("rw", sql, [], { database: db });
    await q(`drop table if exists invoices, tickets cascade;
      create table invoices(id serial primary key, code text not null default 'INV', amount numeric check (amount >= 0), created timestamptz default now());
      create index invoices_code_idx on invoices(code);
      comment on table invoices is 'billing';
      insert into invoices(amount) select g from generate_series(1, 50) g;
      create table tickets(id bigint generated always as identity primary key, body text);
      insert into tickets(body) select 't' || g from generate_series(1, 30) g`);
    const made = await backup(sb, "logical");
    const time = /logical backup (\d{8}T\d{6}Z)/.exec(made.log)![1];
    const sets = await logicalSets(sb);
    const set = sets.find((x) => x.time === time)!;
    expect(set.complete).toBe(true);
    expect(set.databases.find((d) => d.name === "shop")!.sizeBytes).toBeGreaterThan(1000);
    // The dump itself, to the machine, byte for byte a pg_dump custom archive.
    const dump = await fetchLogical(sb, "latest", "shop");
    expect(dump.subarray(0, 5).toString()).toBe("PGDMP");
    await expect(fetchLogical(sb, "latest", "nosuchdb")).rejects.toThrow(/has no dump of database nosuchdb \(it has: .*shop/);

    await q("drop table invoices, tickets");
    const line = await restoreLogical(sb, { time: "latest", database: "shop", tables: ["public.invoices", "public.tickets"] });
    expect(line).toContain(`restored: shop (${time}) → shop (public.invoices public.tickets)`);
    expect((await q("select (select count(*) from invoices) i, (select count(*) from tickets) t"))[0]).toEqual({ i: "50", t: "30" });
    const constraints = (await q("select conname, contype from pg_constraint where conrelid in ('invoices'::regclass, 'tickets'::regclass) order by 1")).map((r) => `${r.conname}:${r.contype}`);
    expect(constraints).toEqual(["invoices_amount_check:c", "invoices_pkey:p", "tickets_pkey:p"]);
    expect((await q("select indexname from pg_indexes where tablename = 'invoices' order by 1")).map((r) => r.indexname)).toEqual(["invoices_code_idx", "invoices_pkey"]);
    expect((await q("select obj_description('invoices'::regclass) d"))[0].d).toBe("billing");
    // Defaults and sequences carry on: no id is handed out twice. The dump is made on a replica,
    // where a sequence reads as far as the primary pre-logged it (up to 32 values ahead), so the
    // next id lies in 51 … 83 (31 … 63 for the identity), not necessarily at 51.
    const inv = (await q("insert into invoices(amount) values (1) returning id, code"))[0];
    expect(inv.code).toBe("INV");
    expect(inv.id).toBeGreaterThanOrEqual(51);
    expect(inv.id).toBeLessThanOrEqual(50 + 33);
    const ticket = Number((await q("insert into tickets(body) values ('x') returning id"))[0].id);
    expect(ticket).toBeGreaterThanOrEqual(31);
    expect(ticket).toBeLessThanOrEqual(30 + 33);
    // Refused while the table exists (nothing restored); replaced with --clean.
    await expect(restoreLogical(sb, { time: "latest", database: "shop", tables: ["public.invoices"] })).rejects.toThrow(/table public.invoices exists in database shop/);
    await restoreLogical(sb, { time: "latest", database: "shop", tables: ["public.invoices"], clean: true });
    expect((await q("select count(*) from invoices"))[0].count).toBe("50");
    // A whole database into a new one; over an existing one only with --clean.
    await q("drop database if exists shop_copy", "postgres");
    await restoreLogical(sb, { time: "latest", database: "shop", into: "shop_copy", jobs: 2 });
    expect(await count("rw", "orders", "shop_copy")).toBe(1000);
    await expect(restoreLogical(sb, { time: "latest", database: "shop", into: "shop_copy" })).rejects.toThrow(/database shop_copy exists/);
    await expect(restoreLogical(sb, { time: "19990101T000000Z", database: "shop" })).rejects.toThrow(/no complete dump set 19990101T000000Z/);
  }, T(4));
});

describe("point-in-time recovery (MISSION R1–R2)", () => {
  /** Writes batch A (100 rows), marks the target, writes batch B and drops the table. */
  async function scenario(table: string, type: RestoreRequest["type"]): Promise<{ target?: string; set?: string }> {
    const l = await leader();
    await sb.client.query("rw", `drop table if exists ${table}; create table ${table}(id int primary key)`);
    let target: string | undefined;
    let set: string | undefined;
    if (type === "xid") {
      const c = await sb.client.connect("rw");
      await c.query("begin");
      await c.query(`insert into ${table} select generate_series(1,100)`);
      target = String((await c.query("select pg_current_xact_id()::text as x")).rows[0].x);
      await c.query("commit");
      await c.end();
    } else {
      await sb.client.query("rw", `insert into ${table} select generate_series(1,100)`);
    }
    if (type === "immediate") {
      // The first consistent point of a backup taken now: it holds batch A.
      await backup(sb, "full");
      set = (await backups(sb)).backups.slice(-1)[0].label;
    }
    if (type === "time") {
      await sleep(1100);
      target = (await sb.client.query(l, "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' as t"))[0].t;
      await sleep(1100);
    }
    if (type === "lsn") target = (await sb.client.query(l, "select pg_current_wal_lsn()::text as lsn"))[0].lsn;
    if (type === "name") {
      // Restore-point names are catalogued and used once (a reused sandbox keeps its catalogue).
      target = `before_${table}_${Date.now().toString(36)}`;
      await restorePoint(sb, target);
    }
    await sb.client.query("rw", `insert into ${table} select generate_series(101,150)`);
    await sb.client.query("rw", `drop table ${table}`);
    await archiveNow();
    return { target, set };
  }

  const TYPES: RestoreRequest["type"][] = ["time", "xid", "lsn", "name", "immediate"];

  describe.each(TYPES)("%s", (type) => {
    it(`as a new cluster: exactly the rows before the target, on a new timeline; the live cluster untouched`, async () => {
      const table = `pitr_new_${type}`;
      const { target, set } = await scenario(table, type);
      const leaderBefore = await leader();
      const liveTimeline = await timelineOf(leaderBefore);
      // Each action observed once: pause after time, shutdown after xid, promote otherwise.
      const action = type === "time" ? "pause" : type === "xid" ? "shutdown" : "promote";
      const r = await restoreNewCluster(sb, { type, target, set, action }, undefined, { name: "t-pitr", replace: true });
      if (action === "shutdown") {
        const state = await sh(r.host, "/usr/lib/postgresql/17/bin/pg_controldata -D /var/lib/postgresql/17/pgha | sed -n 's/^Database cluster state: *//p'");
        expect(state.trim()).toBe("shut down in recovery");
        // Started again read-only, it shows exactly what the target included.
        await sh(r.host, `runuser -u postgres -- /usr/lib/postgresql/17/bin/pg_ctl -D /var/lib/postgresql/17/pgha -w -o "-c port=5432 -c unix_socket_directories=${r.socket} -c recovery_target_action=pause" start -l /var/log/pgha/restore-postgres.log`);
        await waitFor("paused again at the target", async () => (await queryRestored(r, "select pg_get_wal_replay_pause_state()")) === "paused", 60_000);
      } else if (action === "pause") {
        expect(await queryRestored(r, "select pg_is_in_recovery()::text || ' ' || pg_get_wal_replay_pause_state()")).toBe("true paused");
      } else {
        expect(await queryRestored(r, "select pg_is_in_recovery()")).toBe("f");
      }
      expect(Number(await queryRestored(r, `select count(*) from ${table}`))).toBe(100);
      if (action === "promote") expect(r.timeline).toBeGreaterThanOrEqual(2);
      // The live cluster did not notice.
      expect(await leader()).toBe(leaderBefore);
      expect(await timelineOf(leaderBefore)).toBe(liveTimeline);
    }, T(4));

    // In place the procedure is the same for every type (the target only reaches pgha-restore,
    // whose validation and recovery settings the new-cluster case above covers per type), and
    // each in-place restore costs about 90 s of CI: it runs for a time, whose branch point the
    // abandoned-timeline check below reads.
    if (type !== "time") return;
    it(`in place: the cluster goes back to the target, promotes on a new timeline, every member streams again`, async () => {
      const table = `pitr_inplace_${type}`;
      const { target, set } = await scenario(table, type);
      const before = await timelineOf(await leader());
      const r = await restoreInPlace(sb, { type, target, set, action: "promote" }, undefined, { confirm: async () => true });
      expect(r.result).toMatchObject({ ok: true, outcome: "restored", notStreaming: [] });
      expect(r.timeline).toBeGreaterThan(before);
      // The data kept aside for a rollback is gone once the cluster is healthy.
      expect((await hostExec(r.host, ["test", "-e", "/var/lib/postgresql/17/pgha.pre-restore"])).code).toBe(1);
      await waitHealthy(sb, 240_000);
      expect(await count("rw", table)).toBe(100);
      for (const m of postgresMembers(sb).filter((x) => x !== r.host)) {
        await waitStreaming(sb, m);
        // A replica's checkpoint timeline moves at its next restartpoint; what it receives is current.
        expect(Number(await localSql(m, "select received_tli from pg_stat_wal_receiver"))).toBe(r.timeline);
      }
    }, T(6));
  });

  it("refuses a target before the oldest backup, one that does not parse, and an in-place pause — before touching anything", async () => {
    const l = await leader();
    const tl = await timelineOf(l);
    const attempts: RestoreRequest[] = [
      { type: "time", target: "2001-01-01 00:00:00+00", action: "promote" },
      { type: "time", target: "yesterday-ish", action: "promote" },
      { type: "xid", target: "12abc", action: "promote" },
      { type: "lsn", target: "nope", action: "promote" },
      { type: "name", target: "has spaces", action: "promote" },
      { type: "name", target: "ok_name", action: "pause" },
      // A one-letter typo of a real restore point, and a time without a zone.
      { type: "name", target: "befor_migration", action: "promote" },
      { type: "time", target: "2026-11-25 10:00:00", action: "promote" },
    ];
    await restorePoint(sb, `before_migration_${Date.now().toString(36)}`);
    const yes = { confirm: async () => true };
    for (const req of attempts) {
      const p = restoreInPlace(sb, req, undefined, yes);
      await expect(p).rejects.toBeInstanceOf(RestoreRefused);
      await expect(p).rejects.toThrow(req.action === "pause" ? /ends with promote/ : /refused|not a|before the oldest/);
    }
    await expect(restoreInPlace(sb, { type: "time", target: "2001-01-01 00:00:00+00", action: "promote" }, undefined, yes)).rejects.toThrow(/before the oldest restorable point/);
    await expect(restoreInPlace(sb, { type: "name", target: "befor_migration", action: "promote" }, undefined, yes)).rejects.toThrow(/no restore point 'befor_migration' in the catalogue \(.*before_migration_/);
    await expect(restoreInPlace(sb, { type: "time", target: "2026-11-25 10:00:00", action: "promote" }, undefined, yes)).rejects.toThrow(/has no time zone/);
    // Without a yes nothing happens either, and a dry run only plans.
    await expect(restoreInPlace(sb, { type: "immediate", action: "promote" })).rejects.toThrow(/not confirmed, nothing was stopped/);
    const dry = await restoreInPlace(sb, { type: "immediate", action: "promote" }, undefined, { dryRun: true });
    expect(dry.plan.steps.length).toBeGreaterThanOrEqual(6);
    expect(dry.plan.leader).toBe(l);
    await expect(restoreNewCluster(sb, { type: "time", target: "garbage", action: "promote" })).rejects.toThrow(/has no time zone/);
    await expect(restoreNewCluster(sb, { type: "time", target: "garbage+00", action: "promote" })).rejects.toThrow(/is not a time/);
    // Untouched: same leader, same timeline, Patroni running everywhere.
    expect(await leader()).toBe(l);
    expect(await timelineOf(l)).toBe(tl);
    for (const m of postgresMembers(sb)) expect((await hostExec(m, ["systemctl", "is-active", "patroni"])).stdout.trim()).toBe("active");
  }, T(3));
});

describe("in-place restores that cannot hurt (issue 16)", () => {
  const yes = { confirm: async () => true };
  const postmasters = () => Object.fromEntries(postgresMembers(sb).map((m) => [m, mainPid(m, "postgres")]));

  it("an edited but unapplied stack file (a 4th member) is refused with the drift named; nothing stops", async () => {
    const doc = YAML.parse(fs.readFileSync(sb.state.stackFile, "utf8"));
    doc.config["postgres-ha:postgres"] = { ...(doc.config["postgres-ha:postgres"] ?? {}), nodes: 4 };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-drift-"));
    const edited = path.join(dir, "Pulumi.prod.yaml");
    fs.writeFileSync(edited, YAML.stringify(doc));
    const before = postmasters();
    try {
      const p = restoreInPlace({ ...sb, state: { ...sb.state, stackFile: edited } }, { type: "immediate", action: "promote" }, undefined, yes);
      await expect(p).rejects.toBeInstanceOf(RestoreRefused);
      await expect(p).rejects.toThrow(/nothing was stopped: Pulumi\.prod\.yaml differs from what the sandbox runs: .*db4 would be added/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(postmasters()).toEqual(before);
    await waitHealthy(sb);
  }, T(2));

  it("a time on a timeline an earlier in-place restore abandoned is refused unless --timeline names it", async () => {
    const branches = JSON.parse(await sh(await leader(), "pgha-restore timelines --json")) as { from: number; to: number; restoredAt: string; promotedAt: string }[];
    const b = branches.find((x) => Date.parse(x.promotedAt) - Date.parse(x.restoredAt) >= 3000);
    expect(b).toBeDefined(); // the in-place restores above started timelines
    const t = new Date(Date.parse(b!.restoredAt) + 2000).toISOString().replace("T", " ").replace(/\.\d+Z$/, "+00");
    const req = { type: "time" as const, target: t, action: "promote" as const };
    await expect(restoreInPlace(sb, req, undefined, { dryRun: true })).rejects.toThrow(new RegExp(`lies on timeline ${b!.from}, which the in-place restore .* abandoned .*add --timeline ${b!.from}`));
    const plan = await restoreInPlace(sb, req, undefined, { dryRun: true, timeline: b!.from });
    expect(plan.plan.request.timeline).toBe(b!.from);
    expect(plan.plan.target).toContain(`on timeline ${b!.from}`);
  }, T(2));

  it("a restore that fails midway (S3 gone during it) leaves the cluster on its data and timeline, healthy", async () => {
    const l = await leader();
    const tl = await timelineOf(l);
    await sb.client.query("rw", "drop table if exists keep_me; create table keep_me(id int); insert into keep_me select generate_series(1, 77)");
    const before = postmasters();
    let stopped = false;
    const p = restoreInPlace(sb, { type: "immediate", action: "promote" }, (line) => {
      if (!stopped && /^1\/7 restoring/.test(line)) {
        stopped = true;
        void stopS3(sb.stateDir);
      }
    }, yes);
    const r = await p.finally(() => startS3(sb.stateDir, sb.spec.backup.bucketName));
    expect(stopped).toBe(true);
    expect(r.result).toMatchObject({ ok: false, outcome: "rolled-back" });
    expect(r.result!.message).toMatch(/failed before anything was stopped/);
    expect(await leader()).toBe(l);
    expect(await timelineOf(l)).toBe(tl);
    expect(postmasters()).toEqual(before);
    expect(await count("rw", "keep_me")).toBe(77);
    await waitHealthy(sb);
  }, T(6));
});

describe("archiving under faults", () => {
  it("S3 down for 30 s under writes: WAL waits in the spool, the failure shows, archiving catches up, nothing is lost", async () => {
    const load = new WriteLoad(sb, "s3_outage");
    await load.prepare();
    load.start();
    await waitFor("writes flowing", async () => load.ackedCount > 50, 30_000);
    const l = await leader();
    const before = (await archiverStatus(sb))!;
    await stopS3(sb.stateDir);
    try {
      for (let i = 0; i < 6; i++) {
        await sleep(5000);
        await localSql(l, "select pg_switch_wal()");
      }
      // Visible in status: WAL piles up waiting for the archive, the last archived file stands still.
      const during = (await status(sb)).archiving!;
      process.stderr.write(`[backup] S3 outage: ${during.pendingWalFiles} WAL file(s) waiting, last archived ${during.lastArchivedWal} (was ${before.lastArchivedWal}), failures ${before.failedCount} → ${during.failedCount}\n`);
      expect(during.pendingWalFiles).toBeGreaterThanOrEqual(3);
      expect(formatStatus(await status(sb))).toContain("WAL is not reaching the archive");
      // Writes kept being acknowledged during the outage.
      expect(load.ackedCount).toBeGreaterThan(100);
    } finally {
      await startS3(sb.stateDir, sb.spec.backup.bucketName);
    }
    const result = await load.stop();
    const last = await localSql(l, "select pg_walfile_name(pg_switch_wal()) from (select pg_logical_emit_message(false, 'pgha', 'archive now')) as wal_record");
    // The archiver retries on its own schedule (up to a minute); a new WAL file wakes it sooner.
    // The wake-up switches add segments of their own: once `last` is archived, the archiver still
    // works through those (CI on 30caa8f read 6 waiting the moment `last` was archived), so the
    // wait is for the spool to drain too, without switching any more.
    let pending = Infinity;
    await waitFor(`archiving to catch up to ${last} and the spool to drain`, async () => {
      if ((await localSql(l, "select coalesce(last_archived_wal,'') from pg_stat_archiver")) >= last) {
        pending = (await archiverStatus(sb))!.pendingWalFiles;
        return pending <= 1;
      }
      await localSql(l, "select pg_switch_wal() from (select pg_logical_emit_message(false, 'pgha', 'wake the archiver')) as r");
      return false;
    }, 180_000, 3000).catch(() => undefined);
    expect(pending).toBeLessThanOrEqual(1);
    await backup(sb, "check");
    // Proof from the archive itself: a new-cluster restore to now sees every acknowledged row.
    const now = (await sb.client.query(l, "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' as t"))[0].t;
    // Recovery to a time stops at the first commit after it: there must be one in the archive.
    await sleep(1100);
    await sb.client.query("rw", "create table if not exists after_target(x int); insert into after_target values (1)");
    await archiveNow();
    const r = await restoreNewCluster(sb, { type: "time", target: now, action: "promote" }, undefined, { name: "t-pitr", replace: true });
    const restored = new Set((await queryRestored(r, "select id from s3_outage")).split("\n").map(Number));
    expect(result.acked.filter((id) => !restored.has(id))).toEqual([]);
  }, T(6));

  it("scratch clusters are named and listed: a second new-cluster restore keeps the first; remove deletes one", async () => {
    const a = await restoreNewCluster(sb, { type: "immediate", action: "promote" });
    const b = await restoreNewCluster(sb, { type: "immediate", action: "promote" });
    try {
      expect(a.name).not.toBe(b.name);
      expect(a.host).not.toBe(b.host);
      // The first one still runs and answers after the second was made.
      expect(await queryRestored(a, "select pg_is_in_recovery()")).toBe("f");
      const st = await status(sb);
      expect(st.restoreClusters.filter((x) => [a.name, b.name].includes(x.name)).map((x) => [x.name, x.state, x.timeline])).toEqual([
        [a.name, "running", a.timeline],
        [b.name, "running", b.timeline],
      ]);
      expect(formatStatus(st)).toContain(`${a.name} (`);
      // A name that is taken is refused unless replaced; nothing is booted or stopped for it.
      await expect(restoreNewCluster(sb, { type: "immediate", action: "promote" }, undefined, { name: a.name })).rejects.toThrow(`a scratch cluster named ${a.name} exists`);
      expect(await queryRestored(a, "select 1")).toBe("1");
    } finally {
      await removeScratch(sb.stateDir, a.name);
      await removeScratch(sb.stateDir, b.name);
    }
    expect(listScratch(sb.stateDir).map((x) => x.name)).not.toEqual(expect.arrayContaining([a.name]));
    expect(await hostState(a.name).then((x): string => x, () => "gone")).toBe("gone");
    await expect(removeScratch(sb.stateDir, a.name)).rejects.toThrow(`there is no scratch cluster ${a.name}`);
  }, T(6));

  it("after a hard kill of the leader no standby is stuck on WAL the old leader archived past the takeover", async () => {
    const load = new WriteLoad(sb, "archive_fallback");
    await load.prepare();
    load.start();
    await waitFor("writes flowing", async () => load.ackedCount > 50, 30_000);
    const old = await leader();
    await powerCut(old);
    let next: string;
    try {
      next = await waitFor("a new leader", async () => {
        const x = await sb.client.leader().catch(() => undefined);
        return x && x !== old ? x : undefined;
      }, 120_000);
      await sleep(3000);
    } finally {
      await load.stop();
      await startHost(old);
      await waitForBoot(old);
    }
    await waitHealthy(sb, 240_000);
    const tl = await timelineOf(next);
    for (const m of postgresMembers(sb).filter((x) => x !== next)) {
      await waitStreaming(sb, m);
      const receiver = await localSql(m, "select status || ' ' || received_tli from pg_stat_wal_receiver");
      expect(receiver).toBe(`streaming ${tl}`);
    }
  }, T(6));
});
