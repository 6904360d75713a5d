// `pgha bench backup`: backup and restore speed on a ≥ 1 GB pgbench dataset, pgBackRest (what
// the stack ships: S3 over TLS, zstd, 2 processes) against the seed's `pg_basebackup -Ft -z` on
// the same data in the same run, and a point-in-time restore (base backup + WAL replay).
import * as fs from "fs";
import * as path from "path";
import type { Sandbox } from "../src/sandbox/cluster";
import { hostExec } from "../src/sandbox/hosts";
import { backup, backups, restoreNewCluster, queryRestored } from "../src/sandbox/restore";

export interface BackupBenchRow {
  method: string;
  operation: string;
  seconds: number;
  /** Bytes of the database the operation covered. */
  databaseBytes: number;
  /** Bytes written (backup size in the repository / archive file); null where not meaningful. */
  outputBytes: number | null;
  /** databaseBytes / seconds, MiB/s. */
  throughputMiBps: number;
  note?: string;
}

async function sh(host: string, script: string, timeoutMs = 3_600_000): Promise<string> {
  const r = await hostExec(host, ["bash", "-c", script], { timeoutMs });
  if (r.code !== 0) throw new Error(`${host}: ${script.slice(0, 120)}… exited ${r.code}: ${r.stderr.slice(-2000)}`);
  return r.stdout.trim();
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const t = process.hrtime.bigint();
  const value = await fn();
  return { value, seconds: Number(process.hrtime.bigint() - t) / 1e9 };
}

export async function runBackupBench(sb: Sandbox, opts: { scale: number; log?: (l: string) => void }): Promise<BackupBenchRow[]> {
  const log = opts.log ?? (() => undefined);
  const leader = await sb.client.leader();
  if (!leader) throw new Error("no leader");
  const psql = (sql: string) => sh(leader, `runuser -u postgres -- psql -h /var/run/postgresql -XAtq -c "${sql}"`);
  const rows: BackupBenchRow[] = [];
  const mib = (b: number) => b / 1024 / 1024;

  log(`generating the dataset: pgbench -i -s ${opts.scale} (≈ ${(opts.scale * 15).toFixed(0)} MiB)`);
  await psql("drop database if exists bench");
  await psql("create database bench");
  const init = await timed(() => sh(leader, `runuser -u postgres -- pgbench -h /var/run/postgresql -i -q -s ${opts.scale} --no-vacuum bench 2>&1 | tail -1`));
  await psql("vacuum analyze");
  const clusterBytes = Number(await psql("select sum(pg_database_size(datname)) from pg_database"));
  log(`dataset ready in ${init.seconds.toFixed(0)} s: cluster ${mib(clusterBytes).toFixed(0)} MiB`);
  // Let the archive catch up with the load's WAL before measuring.
  const wal = await psql("select pg_walfile_name(pg_switch_wal()) from (select pg_logical_emit_message(false, 'pgha', 'archive now')) as wal_record");
  for (let i = 0; i < 600; i++) {
    if ((await psql("select coalesce(last_archived_wal,'') from pg_stat_archiver")) >= wal) break;
    await new Promise((r) => setTimeout(r, 1000));
  }

  log("pgBackRest full backup to S3");
  const full = await timed(() => backup(sb, "full"));
  const cat = await backups(sb);
  const last = cat.backups[cat.backups.length - 1];
  rows.push({ method: "pgBackRest 2.55 (zstd, 2 processes, S3/TLS)", operation: "full backup", seconds: full.seconds, databaseBytes: clusterBytes, outputBytes: last.repoSizeBytes, throughputMiBps: mib(clusterBytes) / full.seconds, note: `includes check + verify of ${last.label}` });

  log("pg_basebackup -Ft -z -X fetch (the seed's command) on the leader");
  await sh(leader, "rm -rf /var/lib/postgresql/bench-basebackup && install -d -o postgres /var/lib/postgresql/bench-basebackup");
  const bb = await timed(() => sh(leader, "runuser -u postgres -- pg_basebackup -h /var/run/postgresql -D /var/lib/postgresql/bench-basebackup -Ft -z -X fetch -c fast"));
  const bbBytes = Number(await sh(leader, "du -sb /var/lib/postgresql/bench-basebackup | cut -f1"));
  rows.push({ method: "pg_basebackup -Ft -z", operation: "full backup", seconds: bb.seconds, databaseBytes: clusterBytes, outputBytes: bbBytes, throughputMiBps: mib(clusterBytes) / bb.seconds, note: "local tar.gz on the node (no upload)" });

  log("pgBackRest restore (new cluster, to the backup's consistent point)");
  const pr = await restoreNewCluster(sb, { type: "immediate", action: "promote", set: last.label });
  rows.push({ method: "pgBackRest 2.55 (zstd, 2 processes, S3/TLS)", operation: "restore + recovery", seconds: pr.durationMs / 1000, databaseBytes: clusterBytes, outputBytes: null, throughputMiBps: mib(clusterBytes) / (pr.durationMs / 1000), note: "includes booting the scratch host (≈ 3 s)" });
  const restoredCount = await queryRestored(pr, "select count(*) from pgbench_accounts", "bench");

  log("pg_basebackup restore: untar, start, recover");
  const bbr = await timed(() =>
    sh(leader, `set -e; d=/var/lib/postgresql/bench-bbrestore; rm -rf $d; install -d -m 700 -o postgres $d
      runuser -u postgres -- tar -xzf /var/lib/postgresql/bench-basebackup/base.tar.gz -C $d
      rm -f $d/standby.signal $d/recovery.signal
      runuser -u postgres -- /usr/lib/postgresql/17/bin/pg_ctl -D $d -w -t 3600 -l /tmp/bbrestore.log -o "-c port=5498 -c listen_addresses='' -c unix_socket_directories=/tmp -c archive_mode=off -c synchronous_standby_names=''" start
      runuser -u postgres -- psql -h /tmp -p 5498 -XAtqc "select count(*) from pgbench_accounts" bench
      runuser -u postgres -- /usr/lib/postgresql/17/bin/pg_ctl -D $d -m fast -w stop >/dev/null; rm -rf $d /var/lib/postgresql/bench-basebackup`),
  );
  rows.push({ method: "pg_basebackup -Ft -z", operation: "restore + recovery", seconds: bbr.seconds, databaseBytes: clusterBytes, outputBytes: null, throughputMiBps: mib(clusterBytes) / bbr.seconds, note: "tar -xzf on the same node" });

  log("PITR: pgbench write load, a target time, more load; restore to the target (base + WAL replay)");
  await sh(leader, `runuser -u postgres -- pgbench -h /var/run/postgresql -n -c 4 -j 2 -T 60 bench >/dev/null`);
  const target = await psql("select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'");
  const walBytes = Number(await psql(`select pg_wal_lsn_diff(pg_current_wal_lsn(), '${last.lsnStop}')`));
  await sh(leader, `runuser -u postgres -- pgbench -h /var/run/postgresql -n -c 2 -T 5 bench >/dev/null`);
  const wal2 = await psql("select pg_walfile_name(pg_switch_wal()) from (select pg_logical_emit_message(false, 'pgha', 'archive now')) as wal_record");
  for (let i = 0; i < 600; i++) {
    if ((await psql("select coalesce(last_archived_wal,'') from pg_stat_archiver")) >= wal2) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const pitr = await restoreNewCluster(sb, { type: "time", target, action: "promote" });
  rows.push({ method: "pgBackRest 2.55 (zstd, 2 processes, S3/TLS)", operation: `PITR restore (base + ${mib(walBytes).toFixed(0)} MiB of WAL)`, seconds: pitr.durationMs / 1000, databaseBytes: clusterBytes, outputBytes: null, throughputMiBps: mib(clusterBytes) / (pitr.durationMs / 1000) });
  log(`restored pgbench_accounts: ${restoredCount} rows; PITR to ${target}`);
  await psql("drop database bench");
  return rows;
}

export function formatBackupTable(rows: BackupBenchRow[]): string {
  const mib = (b: number | null) => (b === null ? "-" : (b / 1024 / 1024).toFixed(0));
  return [
    "| method | operation | time (s) | database (MiB) | output (MiB) | throughput (MiB/s) | note |",
    "|---|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.method} | ${r.operation} | ${r.seconds.toFixed(1)} | ${mib(r.databaseBytes)} | ${mib(r.outputBytes)} | ${r.throughputMiBps.toFixed(1)} | ${r.note ?? ""} |`),
  ].join("\n");
}

export function writeBackupResults(dir: string, rows: BackupBenchRow[], scale: number): { json: string; table: string } {
  fs.mkdirSync(dir, { recursive: true });
  const json = path.join(dir, "backup.json");
  fs.writeFileSync(json, JSON.stringify({ measuredAt: new Date().toISOString(), pgbenchScale: scale, rows }, null, 2) + "\n");
  return { json, table: formatBackupTable(rows) };
}
