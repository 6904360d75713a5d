// `pgha bench backup`: backup and restore speed on a ≥ 1 GB pgbench dataset, pgBackRest (what
// the stack ships, to the S3 repository) against the seed's `pg_basebackup -Ft -z` on the same
// data in the same run, and a point-in-time restore (base backup + WAL replay). What the table
// says about the tools is read from them at run time — `pgbackrest version`, `pg_basebackup
// --version` on the leader, compress-type/process-max from the pgbackrest.conf the render path
// gives the leader (checked equal to the file on it) — and the scratch host's boot is timed.
import * as fs from "fs";
import * as path from "path";
import { NODE_PATHS } from "../src/node-paths";
import { renderNodeFiles } from "../src/render/bundle";
import type { Sandbox } from "../src/sandbox/cluster";
import { hostExec, hostState, resetHost } from "../src/sandbox/hosts";
import { backup, backups, ensureRestoreHost, restoreNewCluster, queryRestored, RESTORE_HOST } from "../src/sandbox/restore";
import { describeMachine, machineInfo, type MachineInfo } from "./machine";

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

/** What the benchmark ran, read from the tools and the configuration (format 2 of backup.json). */
export interface BackupTools {
  /** The node the versions were read on (the leader, where both backups ran). */
  node: string;
  /** `pgbackrest version`'s output, e.g. "pgBackRest 2.55.0". */
  pgbackrestVersion: string;
  /** `pg_basebackup --version`'s output, e.g. "pg_basebackup (PostgreSQL) 17.6 (Debian 17.6-0+deb13u1)". */
  pgBasebackupVersion: string;
  /** From [global] of the node's rendered pgbackrest.conf (null: not set there, pgBackRest's default). */
  pgbackrest: { repoType: string | null; compressType: string | null; compressLevel: string | null; processMax: string | null };
}

/** The keys of one `[section]` of an INI file such as pgbackrest.conf (later lines win). */
export function iniSection(text: string, section: string): Record<string, string> {
  const out: Record<string, string> = {};
  let current: string | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) current = header[1].trim();
    else if (current === section && line.includes("=")) out[line.slice(0, line.indexOf("=")).trim()] = line.slice(line.indexOf("=") + 1).trim();
  }
  return out;
}

/** The pgBackRest settings the table names, from a pgbackrest.conf's text. */
export function pgbackrestSettings(conf: string): BackupTools["pgbackrest"] {
  const g = iniSection(conf, "global");
  return { repoType: g["repo1-type"] ?? null, compressType: g["compress-type"] ?? null, compressLevel: g["compress-level"] ?? null, processMax: g["process-max"] ?? null };
}

/** "pgBackRest <version> (compress-type <t> level <l>, process-max <n>, repo <type>)" from what was read. */
export function pgbackrestLabel(t: BackupTools): string {
  const version = /pgBackRest\s+(\S+)/.exec(t.pgbackrestVersion)?.[1] ?? t.pgbackrestVersion;
  const c = t.pgbackrest;
  const compress = `compress-type ${c.compressType ?? "default"}${c.compressLevel ? ` level ${c.compressLevel}` : ""}`;
  return `pgBackRest ${version} (${compress}, process-max ${c.processMax ?? "default"}, repo ${c.repoType ?? "default"})`;
}

/** "pg_basebackup 17.6 -Ft -z" from what was read. */
export function pgBasebackupLabel(t: BackupTools): string {
  const version = /\(PostgreSQL\)\s+(\S+)/.exec(t.pgBasebackupVersion)?.[1] ?? t.pgBasebackupVersion;
  return `pg_basebackup ${version} -Ft -z`;
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

/** What one run of the benchmark measured and read. */
export interface BackupBenchResult {
  tools: BackupTools;
  /** Booting the scratch restore host from nothing to cloud-init done, s (the restores then reuse it). */
  scratchHostBootSeconds: number;
  rows: BackupBenchRow[];
}

/** Versions and settings from the leader's tools and from the render path (which must match the leader's file). */
async function readTools(sb: Sandbox, leader: string): Promise<BackupTools> {
  const rendered = renderNodeFiles(sb.spec, leader, sb.layout).find((f) => f.path === NODE_PATHS.pgbackrestConf);
  if (!rendered) throw new Error(`the render path gives ${leader} no ${NODE_PATHS.pgbackrestConf}`);
  const onNode = await sh(leader, `cat ${NODE_PATHS.pgbackrestConf}`);
  if (onNode !== rendered.content.trim()) {
    throw new Error(`${leader}'s ${NODE_PATHS.pgbackrestConf} is not what the stack renders: apply the stack first (npx pgha sandbox apply), so the settings the table names are the ones in use`);
  }
  return {
    node: leader,
    pgbackrestVersion: await sh(leader, "runuser -u postgres -- pgbackrest version"),
    pgBasebackupVersion: await sh(leader, `${NODE_PATHS.binDir}/pg_basebackup --version`),
    pgbackrest: pgbackrestSettings(rendered.content),
  };
}

export async function runBackupBench(sb: Sandbox, opts: { scale: number; log?: (l: string) => void }): Promise<BackupBenchResult> {
  const log = opts.log ?? (() => undefined);
  const leader = await sb.client.leader();
  if (!leader) throw new Error("no leader");
  const psql = (sql: string) => sh(leader, `runuser -u postgres -- psql -h ${NODE_PATHS.socketDir} -XAtq -c "${sql}"`);
  const rows: BackupBenchRow[] = [];
  const mib = (b: number) => b / 1024 / 1024;
  const tools = await readTools(sb, leader);
  const backrest = pgbackrestLabel(tools);
  const basebackup = pgBasebackupLabel(tools);
  log(`${backrest}; ${basebackup} (read on ${leader})`);

  log(`generating the dataset: pgbench -i -s ${opts.scale} (≈ ${(opts.scale * 15).toFixed(0)} MiB)`);
  await psql("drop database if exists bench");
  await psql("create database bench");
  const init = await timed(() => sh(leader, `runuser -u postgres -- pgbench -h ${NODE_PATHS.socketDir} -i -q -s ${opts.scale} --no-vacuum bench 2>&1 | tail -1`));
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
  rows.push({ method: backrest, operation: "full backup", seconds: full.seconds, databaseBytes: clusterBytes, outputBytes: last.repoSizeBytes, throughputMiBps: mib(clusterBytes) / full.seconds, note: `includes check + verify of ${last.label}` });

  log("pg_basebackup -Ft -z -X fetch (the seed's command) on the leader");
  const bbDir = `${NODE_PATHS.dataMount}/bench-basebackup`;
  await sh(leader, `rm -rf ${bbDir} && install -d -o postgres ${bbDir}`);
  const bb = await timed(() => sh(leader, `runuser -u postgres -- ${NODE_PATHS.binDir}/pg_basebackup -h ${NODE_PATHS.socketDir} -D ${bbDir} -Ft -z -X fetch -c fast`));
  const bbBytes = Number(await sh(leader, `du -sb ${bbDir} | cut -f1`));
  rows.push({ method: basebackup, operation: "full backup", seconds: bb.seconds, databaseBytes: clusterBytes, outputBytes: bbBytes, throughputMiBps: mib(clusterBytes) / bb.seconds, note: "local tar.gz on the node (no upload)" });

  // The restores run on a scratch host beside the cluster. Its boot is timed on its own, from
  // nothing (an earlier run's host is deleted first), so the restore rows hold the restore only.
  log(`booting the scratch restore host ${RESTORE_HOST.name} from nothing (timed)`);
  if ((await hostState(RESTORE_HOST.name).catch(() => undefined)) !== undefined) await resetHost(RESTORE_HOST.name);
  const boot = await timed(() => ensureRestoreHost(sb, log));
  log(`scratch host booted in ${boot.seconds.toFixed(1)} s`);

  log("pgBackRest restore (new cluster, to the backup's consistent point)");
  const pr = await restoreNewCluster(sb, { type: "immediate", action: "promote", set: last.label });
  rows.push({ method: backrest, operation: "restore + recovery", seconds: pr.durationMs / 1000, databaseBytes: clusterBytes, outputBytes: null, throughputMiBps: mib(clusterBytes) / (pr.durationMs / 1000), note: `on the scratch host, already booted (its boot: under the table)` });
  const restoredCount = await queryRestored(pr, "select count(*) from pgbench_accounts", "bench");

  log("pg_basebackup restore: untar, start, recover");
  const bbr = await timed(() =>
    sh(leader, `set -e; d=${NODE_PATHS.dataMount}/bench-bbrestore; rm -rf $d; install -d -m 700 -o postgres $d
      runuser -u postgres -- tar -xzf ${bbDir}/base.tar.gz -C $d
      rm -f $d/standby.signal $d/recovery.signal
      runuser -u postgres -- ${NODE_PATHS.binDir}/pg_ctl -D $d -w -t 3600 -l /tmp/bbrestore.log -o "-c port=5498 -c listen_addresses='' -c unix_socket_directories=/tmp -c archive_mode=off -c synchronous_standby_names=''" start
      runuser -u postgres -- psql -h /tmp -p 5498 -XAtqc "select count(*) from pgbench_accounts" bench
      runuser -u postgres -- ${NODE_PATHS.binDir}/pg_ctl -D $d -m fast -w stop >/dev/null; rm -rf $d ${bbDir}`),
  );
  rows.push({ method: basebackup, operation: "restore + recovery", seconds: bbr.seconds, databaseBytes: clusterBytes, outputBytes: null, throughputMiBps: mib(clusterBytes) / bbr.seconds, note: "tar -xzf on the same node" });

  log("PITR: pgbench write load, a target time, more load; restore to the target (base + WAL replay)");
  await sh(leader, `runuser -u postgres -- pgbench -h ${NODE_PATHS.socketDir} -n -c 4 -j 2 -T 60 bench >/dev/null`);
  const target = await psql("select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'");
  const walBytes = Number(await psql(`select pg_wal_lsn_diff(pg_current_wal_lsn(), '${last.lsnStop}')`));
  await sh(leader, `runuser -u postgres -- pgbench -h ${NODE_PATHS.socketDir} -n -c 2 -T 5 bench >/dev/null`);
  const wal2 = await psql("select pg_walfile_name(pg_switch_wal()) from (select pg_logical_emit_message(false, 'pgha', 'archive now')) as wal_record");
  for (let i = 0; i < 600; i++) {
    if ((await psql("select coalesce(last_archived_wal,'') from pg_stat_archiver")) >= wal2) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const pitr = await restoreNewCluster(sb, { type: "time", target, action: "promote" });
  rows.push({ method: backrest, operation: `PITR restore (base + ${mib(walBytes).toFixed(0)} MiB of WAL)`, seconds: pitr.durationMs / 1000, databaseBytes: clusterBytes, outputBytes: null, throughputMiBps: mib(clusterBytes) / (pitr.durationMs / 1000), note: "on the scratch host, already booted" });
  log(`restored pgbench_accounts: ${restoredCount} rows; PITR to ${target}`);
  await psql("drop database bench");
  return { tools, scratchHostBootSeconds: boot.seconds, rows };
}

export function formatBackupTable(rows: BackupBenchRow[]): string {
  const mib = (b: number | null) => (b === null ? "-" : (b / 1024 / 1024).toFixed(0));
  return [
    "| method | operation | time (s) | database (MiB) | output (MiB) | throughput (MiB/s) | note |",
    "|---|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.method} | ${r.operation} | ${r.seconds.toFixed(1)} | ${mib(r.databaseBytes)} | ${mib(r.outputBytes)} | ${r.throughputMiBps.toFixed(1)} | ${r.note ?? ""} |`),
  ].join("\n");
}

/**
 * bench/results/backup.json. Format 1 (no `format` key): measuredAt, pgbenchScale, rows — its
 * method names and notes were written by the benchmark's code (a pgBackRest version and settings,
 * a boot time), not read from the tools, and its pgBackRest restore row included the scratch
 * host's boot. Format 2 adds what was read (`tools`), the timed boot (not in any row) and the
 * machine; the rows keep their shape.
 */
export interface BackupResults {
  format?: 2;
  measuredAt: string;
  pgbenchScale: number;
  machine?: MachineInfo;
  tools?: BackupTools;
  scratchHostBootSeconds?: number;
  rows: BackupBenchRow[];
}

export function readBackupResults(file: string): BackupResults {
  const r = JSON.parse(fs.readFileSync(file, "utf8")) as BackupResults;
  if (!Array.isArray(r.rows)) throw new Error(`${file}: not backup results (no rows)`);
  return r;
}

/** The block the README shows between its backup markers: the table, what was read and timed, when and where. */
export function backupReadmeBlock(r: BackupResults): string {
  const db = r.rows[0] ? `, database ${(r.rows[0].databaseBytes / 1024 / 1024).toFixed(0)} MiB` : "";
  const lines = [formatBackupTable(r.rows), ""];
  if (r.format === 2 && r.tools) {
    const t = r.tools;
    const c = t.pgbackrest;
    lines.push(
      `Read at run time on ${t.node}: \`pgbackrest version\` → ${t.pgbackrestVersion}; \`pg_basebackup --version\` → ${t.pgBasebackupVersion}; ` +
        `its rendered ${NODE_PATHS.pgbackrestConf}: repo1-type ${c.repoType ?? "(default)"}, compress-type ${c.compressType ?? "(default)"}, ` +
        `compress-level ${c.compressLevel ?? "(default)"}, process-max ${c.processMax ?? "(default)"}. ` +
        (r.scratchHostBootSeconds === undefined ? "" : `The scratch restore host booted (from nothing to cloud-init done) in ${r.scratchHostBootSeconds.toFixed(1)} s, before the restores and in no row.`),
      "",
    );
  } else {
    lines.push(
      "**Recorded by the first version of this benchmark (format 1): the pgBackRest version and settings in its method column and the boot time in its notes were written in the benchmark's code, not read from the tools or timed.** `npx pgha bench backup` now reads and times them.",
      "",
    );
  }
  lines.push(`_measured ${r.measuredAt}, pgbench scale ${r.pgbenchScale}${db}${r.machine ? `, ${describeMachine(r.machine)}` : ""}_`);
  return lines.join("\n");
}

export function writeBackupResults(dir: string, result: BackupBenchResult, scale: number, loadAverageBefore: number[]): { json: string; table: string } {
  fs.mkdirSync(dir, { recursive: true });
  const json = path.join(dir, "backup.json");
  const results: BackupResults = {
    format: 2,
    measuredAt: new Date().toISOString(),
    pgbenchScale: scale,
    machine: machineInfo(loadAverageBefore),
    tools: result.tools,
    scratchHostBootSeconds: result.scratchHostBootSeconds,
    rows: result.rows,
  };
  fs.writeFileSync(json, JSON.stringify(results, null, 2) + "\n");
  return { json, table: backupReadmeBlock(results) };
}
