// Backups and point-in-time recovery of the sandbox cluster, driven from the machine with the
// node scripts the bundle installs (pgha-backup, pgha-restore) — the same steps the AWS runbook
// runs on the nodes through SSM (docs/backups.md).
import { nodesOf } from "../spec";
import { renderRestoreHostBundle } from "../render/bundle";
import { ensureRestoreHostSecrets } from "./material";
import { bootHost, hostExec, hostState, resetHost, waitForBoot } from "./hosts";
import { hostDefinition, waitForCloudInit, type Sandbox } from "./cluster";
import { publishBundles } from "./aws";
import { sleep } from "./shell";

export type RestoreType = "time" | "xid" | "lsn" | "name" | "immediate";
export type RestoreAction = "promote" | "pause" | "shutdown";

export interface RestoreRequest {
  type: RestoreType;
  target?: string;
  action: RestoreAction;
  /** Restore this backup set (default: pgBackRest picks the right one for the target). */
  set?: string;
}

export class RestoreRefused extends Error {
  readonly exitCode = 2;
}

/** The scratch host new-cluster restores run on (not part of the stack's topology). */
export const RESTORE_HOST = { name: "pitr1", address: "10.88.0.45" };

type Log = (line: string) => void;

async function run(host: string, argv: string[], timeoutMs = 600_000, input?: string) {
  return hostExec(host, argv, { timeoutMs, input });
}

async function must(host: string, argv: string[], what: string, timeoutMs = 600_000): Promise<string> {
  const r = await run(host, argv, timeoutMs);
  if (r.code !== 0) throw new Error(`${what} failed on ${host} (exit ${r.code}): ${(r.stderr || r.stdout).trim().split("\n").slice(-8).join("\n")}`);
  return r.stdout;
}

function members(sb: Sandbox): string[] {
  return nodesOf(sb.spec, "postgres").map((n) => n.name);
}

async function leaderOrFirst(sb: Sandbox): Promise<string> {
  return (await sb.client.leader()) ?? members(sb)[0];
}

function restoreArgs(req: RestoreRequest): string[] {
  const a = ["--type", req.type, "--action", req.action];
  if (req.target !== undefined) a.push("--target", req.target);
  if (req.set) a.push("--set", req.set);
  return a;
}

/** Refuses (without touching anything) a target that does not parse or lies outside the window. */
export async function validateRestore(sb: Sandbox, req: RestoreRequest): Promise<void> {
  const node = await leaderOrFirst(sb);
  const r = await run(node, ["pgha-restore", "validate", ...restoreArgs(req)], 60_000);
  if (r.code !== 0) {
    const why = (r.stderr || r.stdout).trim().split("\n").filter((l) => l.includes("refused") || l.includes("FAILED")).pop() ?? r.stderr.trim();
    throw new RestoreRefused(`restore refused, the cluster was not touched: ${why.replace(/^.*refused: /, "")}`);
  }
}

export async function restorePoint(sb: Sandbox, name: string): Promise<string> {
  const leader = await sb.client.leader();
  if (!leader) throw new Error("no leader: a restore point is created on the leader");
  return (await must(leader, ["pgha-restore", "restore-point", name], "pg_create_restore_point", 60_000)).trim();
}

/** Runs a backup job on the node whose turn it is (the script itself decides). */
export async function backup(sb: Sandbox, kind: "full" | "diff" | "incr" | "logical" | "drill" | "check"): Promise<{ node: string; log: string }> {
  for (const m of members(sb)) {
    if ((await hostState(m).catch(() => "stopped")) !== "running") continue;
    const should = await run(m, ["pgha-backup", "should-run", kind], 30_000);
    if (should.code !== 0) continue;
    const r = await run(m, ["pgha-backup", kind], 3_600_000);
    if (r.code !== 0) throw new Error(`pgha-backup ${kind} failed on ${m} (exit ${r.code}):\n${r.stderr.trim().split("\n").slice(-10).join("\n")}`);
    return { node: m, log: r.stderr };
  }
  throw new Error(`no running member is the one to run a ${kind} backup (is there a leader?)`);
}

export interface BackupCatalogue {
  stanza: string;
  status: string;
  backups: { label: string; type: string; start: string; stop: string; lsnStart: string; lsnStop: string; sizeBytes: number; repoSizeBytes: number; verified: string | null }[];
  oldest: string | null;
  oldestVerified: string | null;
  newest: string | null;
  archiveMax: string | null;
}

export async function backups(sb: Sandbox): Promise<BackupCatalogue> {
  const node = await leaderOrFirst(sb);
  return JSON.parse(await must(node, ["pgha-restore", "window", "--json"], "reading the backup catalogue", 60_000)) as BackupCatalogue;
}

export interface RestoreResult {
  mode: "in-place" | "new-cluster";
  host: string;
  action: RestoreAction;
  timeline: number;
  /** New-cluster restores: where the restored PostgreSQL answers (socket on the restore host). */
  socket?: string;
  port?: number;
  durationMs: number;
}

async function systemctl(host: string, verb: string, unit: string): Promise<void> {
  await must(host, ["systemctl", verb, unit], `systemctl ${verb} ${unit}`, 300_000);
}

/**
 * In place: the whole cluster goes back to the target. Patroni is stopped on every member
 * (replicas first), the cluster is removed from the DCS (its last leader position would keep the
 * restored node from leading), the leader's data is restored and recovered to the target and
 * promoted, Patroni takes it over as leader on a new timeline, a full backup is taken on that
 * timeline, and the other members are re-created from it.
 */
export async function restoreInPlace(sb: Sandbox, req: RestoreRequest, log: Log = () => undefined): Promise<RestoreResult> {
  if (req.action !== "promote") {
    throw new RestoreRefused(`an in-place restore ends with promote (the cluster must come back); use --new-cluster to inspect a restore that pauses or shuts down at the target`);
  }
  const start = Date.now();
  await validateRestore(sb, req);
  const target = await leaderOrFirst(sb);
  const others = members(sb).filter((m) => m !== target);
  log(`stopping Patroni on ${[...others, target].join(", ")} (replicas first)`);
  for (const m of others) await systemctl(m, "stop", "patroni.service");
  await systemctl(target, "stop", "patroni.service");
  let restoredLeaderUp = false;
  try {
    log(`removing cluster ${sb.spec.scope} from the DCS`);
    const scope = sb.spec.scope;
    const rm = await run(target, ["bash", "-c", `printf '%s\\nYes I am aware\\n' ${scope} | pgha-patronictl remove ${scope}`], 60_000);
    if (rm.code !== 0) throw new Error(`patronictl remove failed: ${rm.stderr || rm.stdout}`);
    log(`restoring ${target} to ${req.type}${req.target ? ` ${req.target}` : ""}`);
    const out = await must(target, ["pgha-restore", "restore", ...restoreArgs(req), "--start", "--stop", "--port", "5499"], "pgha-restore restore", 3_600_000);
    const result = JSON.parse(out.trim().split("\n").pop()!) as { timeline: number };
    log(`recovered to timeline ${result.timeline}; starting Patroni on ${target}`);
    await systemctl(target, "start", "patroni.service");
    // Patroni takes the data over as a standby first, then promotes: wait for a real primary.
    const deadline = Date.now() + 180_000;
    for (;;) {
      const r = await sb.client.rest(target, "GET", "/primary", undefined, { timeoutMs: 2000 }).catch(() => undefined);
      if (r?.status === 200) break;
      if (Date.now() > deadline) throw new Error(`${target} did not become a writable leader after the restore; see \`npx pgha sandbox exec ${target} -- journalctl -u patroni\``);
      await sleep(500);
    }
    restoredLeaderUp = true;
    log("taking a full backup on the new timeline");
    const b = await run(target, ["pgha-backup", "full", "--force"], 3_600_000);
    if (b.code !== 0) log(`WARNING: the full backup after the restore failed (replicas will clone from the leader instead): ${b.stderr.trim().split("\n").pop()}`);
  } finally {
    if (restoredLeaderUp) {
      // The restored leader runs: the others are re-created from its new timeline.
      for (const m of others) {
        log(`re-creating ${m} from the new timeline`);
        await must(m, ["bash", "-c", "rm -rf /var/lib/postgresql/17/pgha && systemctl start patroni.service"], `re-initialising ${m}`);
      }
    } else {
      // The restore failed: the other members still hold the cluster as it was — never wipe
      // them; start them as they are, and one of them leads again.
      log("the restore did not produce a leader; starting the other members unchanged");
      for (const m of others) await run(m, ["systemctl", "start", "patroni.service"], 60_000);
    }
  }
  const tl = (await sb.client.query(target, "select timeline_id from pg_control_checkpoint()"))[0].timeline_id as number;
  return { mode: "in-place", host: target, action: "promote", timeline: Number(tl), durationMs: Date.now() - start };
}

/**
 * Boots the scratch restore host with its own rendered user-data, or reuses it when it already
 * runs that user-data (its previous restore is stopped and removed first).
 */
export async function ensureRestoreHost(sb: Sandbox, log: Log = () => undefined): Promise<string> {
  const { name, address } = RESTORE_HOST;
  const bundle = renderRestoreHostBundle(sb.spec, sb.layout, name, address);
  await publishBundles(sb.spec, [bundle], [await ensureRestoreHostSecrets(sb.spec, sb.stateDir, name, address)]);
  const definition = hostDefinition(sb.stateDir, name, address, bundle.userDataGzip);
  const state = await hostState(name).catch(() => undefined);
  if (state === "running") {
    const clean = await run(name, ["bash", "-c", "runuser -u postgres -- /usr/lib/postgresql/17/bin/pg_ctl -D /var/lib/postgresql/17/pgha -m immediate stop >/dev/null 2>&1; rm -rf /var/lib/postgresql/17/pgha /tmp/pgha-restore-*"], 60_000);
    const sameUserData = await bootHost(definition, { image: sb.state.image, stateDir: sb.stateDir }).then(() => true, () => false);
    if (clean.code === 0 && sameUserData) {
      log(`reusing restore host ${name} (previous restore removed)`);
      return name;
    }
  }
  if (state !== undefined) {
    log(`resetting restore host ${name}`);
    await resetHost(name);
  }
  log(`booting restore host ${name} (${address})`);
  await bootHost(definition, { image: sb.state.image, stateDir: sb.stateDir });
  await waitForBoot(name);
  await waitForCloudInit([name], 120_000);
  return name;
}

/**
 * As a new cluster: the restore runs on a scratch host beside the live cluster, which is not
 * touched; archiving is off in the restored copy so it never writes into the live repository.
 */
export async function restoreNewCluster(sb: Sandbox, req: RestoreRequest, log: Log = () => undefined): Promise<RestoreResult> {
  const start = Date.now();
  await validateRestore(sb, req);
  const host = await ensureRestoreHost(sb, log);
  log(`restoring on ${host}: ${req.type}${req.target ? ` ${req.target}` : ""}, then ${req.action}`);
  const out = await must(host, ["pgha-restore", "restore", ...restoreArgs(req), "--start", "--archive-mode", "off", "--port", "5432"], "pgha-restore restore", 3_600_000);
  const r = JSON.parse(out.trim().split("\n").pop()!) as { timeline: number; socket: string; port: number };
  return { mode: "new-cluster", host, action: req.action, timeline: Number(r.timeline), socket: r.socket, port: r.port, durationMs: Date.now() - start };
}

/** SQL on the restored copy of a new-cluster restore (over its unix socket, as postgres). */
export async function queryRestored(result: RestoreResult, sql: string, db = "postgres"): Promise<string> {
  if (!result.socket) throw new Error("only new-cluster restores have a separate PostgreSQL to query");
  return (await must(result.host, ["runuser", "-u", "postgres", "--", "psql", "-h", result.socket, "-p", String(result.port), "-d", db, "-XAtc", sql], "query on the restored copy", 60_000)).trim();
}
