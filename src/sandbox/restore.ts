// Backups and point-in-time recovery of the sandbox cluster, driven from the machine with the
// node scripts the bundle installs (pgha-backup, pgha-restore) — the same steps the AWS runbook
// runs on the nodes through SSM (README, "Restore commands"; `pgha restore` for in place).
import { nodesOf } from "../spec";
import { renderRestoreHostBundle } from "../render/bundle";
import { ensureRestoreHostSecrets } from "./material";
import { bootHost, hostExec, hostState, resetHost, waitForBoot } from "./hosts";
import { describeDrift, drift, hostDefinition, sandboxTransport, waitForCloudInit, type Sandbox } from "./cluster";
import { planInPlace, runInPlace, RestoreRefusedError, type InPlacePlan, type InPlaceResult } from "../restore/in-place";
import { NODE_PATHS } from "../node-paths";
import { publishBundles } from "./aws";
import { allocateScratch, recordScratch, SCRATCH_BASE, ScratchRefused } from "./scratch";
import { sandboxHostAddress } from "../layout";

export type RestoreType = "time" | "xid" | "lsn" | "name" | "immediate";
export type RestoreAction = "promote" | "pause" | "shutdown";

export interface RestoreRequest {
  type: RestoreType;
  target?: string;
  action: RestoreAction;
  /** Restore this backup set (default: pgBackRest picks the right one for the target). */
  set?: string;
  /** Follow this timeline (a target on a timeline an earlier in-place restore abandoned). */
  timeline?: number;
  /** Restore from this repository: 2 is the second region's copy (backup.secondRepository); default 1. */
  repo?: number;
}

export class RestoreRefused extends Error {
  readonly exitCode = 2;
}

/** The first scratch slot (not part of the stack's topology): what the backup bench boots. */
export const RESTORE_HOST = { name: "pitr1", address: sandboxHostAddress(SCRATCH_BASE + 1) };

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
  if (req.timeline !== undefined) a.push("--timeline", String(req.timeline));
  if (req.repo !== undefined) a.push("--repo", String(req.repo));
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

/** pgha-backup's exit status when another run of the same kind holds its lock. */
const BACKUP_LOCKED = 3;
/** How long a backup waits for a run in progress before it gives up. */
const BACKUP_LOCK_WAIT_MS = 30 * 60_000;

/**
 * Runs a backup job on the node whose turn it is (the script itself decides). A run of the same
 * kind in progress (on a new cluster: the first full backup, started by post_bootstrap in the
 * background) is waited for, then this one runs.
 */
export async function backup(sb: Sandbox, kind: "full" | "diff" | "incr" | "logical" | "drill" | "check"): Promise<{ node: string; log: string }> {
  for (const m of members(sb)) {
    if ((await hostState(m).catch(() => "stopped")) !== "running") continue;
    const should = await run(m, ["pgha-backup", "should-run", kind], 30_000);
    if (should.code !== 0) continue;
    let r = await run(m, ["pgha-backup", kind], 3_600_000);
    for (const deadline = Date.now() + BACKUP_LOCK_WAIT_MS; r.code === BACKUP_LOCKED && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 2000));
      r = await run(m, ["pgha-backup", kind], 3_600_000);
    }
    if (r.code !== 0) throw new Error(`pgha-backup ${kind} failed on ${m} (exit ${r.code}):\n${r.stderr.trim().split("\n").slice(-10).join("\n")}`);
    return { node: m, log: r.stderr };
  }
  throw new Error(`no running member is the one to run a ${kind} backup (is there a leader?)`);
}

/** pgha-backup delete-set on the leader: one backup set expired now; a refusal is RestoreRefused. */
export async function deleteBackupSet(sb: Sandbox, label: string, force = false): Promise<string> {
  const leader = await sb.client.leader();
  if (!leader) throw new Error("no leader: backup sets are deleted from the leader");
  const r = await run(leader, ["pgha-backup", "delete-set", label, ...(force ? ["--force"] : [])], 600_000);
  const last = r.stderr.trim().split("\n").pop() ?? "";
  if (r.code === 2) throw new RestoreRefused(last.replace(/^.*refused: /, ""));
  if (r.code !== 0) throw new Error(`pgha-backup delete-set failed on ${leader} (exit ${r.code}): ${last}`);
  return last.replace(/^\S+ \[\w+\] /, "");
}

export interface BackupCatalogue {
  stanza: string;
  status: string;
  /** Every backup of every repository (repo: its pgBackRest repository number), oldest first. */
  backups: { label: string; type: string; start: string; stop: string; lsnStart: string; lsnStop: string; sizeBytes: number; repoSizeBytes: number; verified: string | null; repo: number }[];
  oldest: string | null;
  oldestVerified: string | null;
  newest: string | null;
  archiveMax: string | null;
  /** Each repository's own window: its backups and the newest WAL segment it holds. */
  repositories: RepositoryWindow[];
}

export interface RepositoryWindow {
  repo: number;
  status: string;
  backups: number;
  oldest: string | null;
  newestBackup: string | null;
  oldestVerified: string | null;
  /** The newest WAL segment archived there (a file name; null: none yet). */
  archiveMax: string | null;
}

/**
 * The backup catalogue (pgha-restore window on the leader): repo1's backups and window, and
 * `repositories` with the second region's copy too (backup.secondRepository). `repo` reads one
 * repository only — the way to list the copy while the first region's S3 is gone.
 */
export async function backups(sb: Sandbox, repo?: number, timeoutMs = 120_000): Promise<BackupCatalogue> {
  const node = await leaderOrFirst(sb);
  const read = async (r: number) =>
    JSON.parse(await must(node, ["pgha-restore", "window", "--json", "--repo", String(r)], `reading the backup catalogue of repo${r}`, timeoutMs)) as BackupCatalogue;
  if (repo !== undefined) return read(repo);
  const [first, ...others] = await Promise.all(sb.spec.backup.repositories.map((r) => read(r.index)));
  return { ...first, repositories: [...first.repositories, ...others.flatMap((o) => o.repositories)] };
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


export interface InPlaceSandboxOptions {
  /** Print the plan and stop (nothing is validated beyond what the plan needs; nothing changes). */
  dryRun?: boolean;
  /**
   * Asked with the plan before anything stops; resolves true to go on. The CLI passes `--yes`
   * (always true) or a TTY prompt; without it the restore is refused.
   */
  confirm?: (plan: InPlacePlan) => Promise<boolean>;
  timeline?: number;
}

/**
 * In place: the whole cluster goes back to the target (src/restore/in-place.ts, the procedure
 * AWS runs over SSM): refused while the stack file differs from what the sandbox runs, or when a
 * member's host is not running; planned, validated and confirmed before anything stops.
 */
export async function restoreInPlace(sb: Sandbox, req: RestoreRequest, log: Log = () => undefined, opts: InPlaceSandboxOptions = {}): Promise<RestoreResult & { plan: InPlacePlan; result?: InPlaceResult }> {
  if (req.action !== "promote") {
    throw new RestoreRefused(`an in-place restore ends with promote (the cluster must come back); use --new-cluster to inspect a restore that pauses or shuts down at the target`);
  }
  const d = drift(sb);
  if (d) throw new RestoreRefused(`restore refused, nothing was stopped: ${describeDrift(d)} first (or restore as a new cluster)`);
  for (const m of members(sb)) {
    const state = await hostState(m).catch(() => "missing");
    if (state !== "running") throw new RestoreRefused(`restore refused, nothing was stopped: member ${m}'s host is ${state} (npx pgha sandbox start ${m}, or status)`);
  }
  const start = Date.now();
  const options = { transport: sandboxTransport, cluster: sb.spec.scope, members: members(sb), dataDir: NODE_PATHS.dataDir, log };
  let plan: InPlacePlan;
  try {
    plan = await planInPlace(options, { type: req.type, target: req.target, set: req.set, timeline: opts.timeline ?? req.timeline });
  } catch (e) {
    if (e instanceof RestoreRefusedError) throw new RestoreRefused(e.message);
    throw e;
  }
  const base = { mode: "in-place" as const, action: "promote" as const, plan };
  if (opts.dryRun) return { ...base, host: plan.restorer, timeline: plan.timelineBefore ?? 0, durationMs: Date.now() - start };
  if (!opts.confirm || !(await opts.confirm(plan))) {
    throw new RestoreRefused("restore not confirmed, nothing was stopped: pass --yes (or answer the prompt with the cluster's name) to restore in place");
  }
  const result = await runInPlace(options, plan);
  return { ...base, result, host: result.leader ?? plan.leader, timeline: result.timeline ?? 0, durationMs: Date.now() - start };
}

/**
 * Boots a scratch host with its own rendered user-data, or reuses it when it already runs that
 * user-data (its previous restore is stopped and removed first: only when the caller replaces it).
 */
export async function ensureRestoreHost(sb: Sandbox, log: Log = () => undefined, host: { name: string; address: string } = RESTORE_HOST): Promise<string> {
  const { name, address } = host;
  const bundle = renderRestoreHostBundle(sb.spec, sb.layout, name, address);
  await publishBundles(sb.spec, [bundle], [await ensureRestoreHostSecrets(sb.spec, sb.stateDir, name, address)]);
  const definition = hostDefinition(sb.stateDir, name, address, bundle.userDataGzip);
  const state = await hostState(name).catch(() => undefined);
  if (state === "running") {
    const clean = await run(name, ["bash", "-c", `runuser -u postgres -- ${NODE_PATHS.binDir}/pg_ctl -D ${NODE_PATHS.dataDir} -m immediate stop >/dev/null 2>&1; rm -rf ${NODE_PATHS.dataDir} /tmp/pgha-restore-*`], 60_000);
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

export interface NewClusterOptions {
  /** The scratch cluster's name (default: the first free pitr<n>). */
  name?: string;
  /** Replace the scratch cluster of that name (by default an existing name is refused). */
  replace?: boolean;
}

/**
 * As a new cluster: the restore runs on a scratch host of its own beside the live cluster, which
 * is not touched; archiving is off in the restored copy so it never writes into the live
 * repository. Earlier scratch clusters stay (src/sandbox/scratch.ts).
 */
export async function restoreNewCluster(sb: Sandbox, req: RestoreRequest, log: Log = () => undefined, opts: NewClusterOptions = {}): Promise<RestoreResult & { name: string }> {
  const start = Date.now();
  await validateRestore(sb, req);
  let slot: ReturnType<typeof allocateScratch>;
  try {
    slot = allocateScratch(sb.spec, sb.stateDir, opts);
  } catch (e) {
    if (e instanceof ScratchRefused) throw new RestoreRefused(e.message);
    throw e;
  }
  const host = await ensureRestoreHost(sb, log, slot);
  const target = `${req.type}${req.target ? ` ${req.target}` : ""}${req.set ? ` from set ${req.set}` : ""}, then ${req.action}`;
  // Recorded before the restore runs: a failed restore leaves a host that status shows and
  // `scratch remove` deletes.
  recordScratch(sb.stateDir, { name: slot.name, address: slot.address, slot: slot.slot, createdAt: new Date().toISOString(), target, timeline: null, socket: null, port: null });
  log(`restoring on ${host}: ${target}`);
  const out = await must(host, ["pgha-restore", "restore", ...restoreArgs(req), "--start", "--archive-mode", "off", "--port", "5432"], "pgha-restore restore", 3_600_000);
  const r = JSON.parse(out.trim().split("\n").pop()!) as { timeline: number; socket: string; port: number };
  recordScratch(sb.stateDir, { name: slot.name, address: slot.address, slot: slot.slot, createdAt: new Date().toISOString(), target, timeline: Number(r.timeline), socket: r.socket, port: r.port });
  return { mode: "new-cluster", name: slot.name, host, action: req.action, timeline: Number(r.timeline), socket: r.socket, port: r.port, durationMs: Date.now() - start };
}

/** SQL on the restored copy of a new-cluster restore (over its unix socket, as postgres). */
export async function queryRestored(result: RestoreResult, sql: string, db = "postgres"): Promise<string> {
  if (!result.socket) throw new Error("only new-cluster restores have a separate PostgreSQL to query");
  return (await must(result.host, ["runuser", "-u", "postgres", "--", "psql", "-h", result.socket, "-p", String(result.port), "-d", db, "-XAtc", sql], "query on the restored copy", 60_000)).trim();
}

export { formatPlan } from "../restore/in-place";

// ---------------------------------------------------------------------------------------------
// Logical dumps (pgha-logical on the nodes: list, fetch, restore)

export interface LogicalSet {
  time: string;
  complete: boolean;
  globalsBytes: number | null;
  databases: { name: string; sizeBytes: number }[];
}

async function runningMember(sb: Sandbox): Promise<string> {
  for (const m of members(sb)) if ((await hostState(m).catch(() => "stopped")) === "running") return m;
  throw new Error("no member's host is running");
}

export async function logicalSets(sb: Sandbox): Promise<LogicalSet[]> {
  return JSON.parse(await must(await runningMember(sb), ["pgha-logical", "list", "--json"], "listing the logical dumps", 120_000)) as LogicalSet[];
}

/** The dump of `database` from set `time` (or "latest"), as bytes (pg_dump -Fc). */
export async function fetchLogical(sb: Sandbox, time: string, database: string): Promise<Buffer> {
  const r = await hostExec(await runningMember(sb), ["pgha-logical", "fetch", "--time", time, "--database", database], { timeoutMs: 3_600_000 });
  if (r.code !== 0) throw (r.code === 2 ? new RestoreRefused(r.stderr.trim().split("\n").pop()!.replace(/^.*refused: /, "")) : new Error(`pgha-logical fetch: ${r.stderr.trim()}`));
  return r.stdoutBytes;
}

export interface LogicalRestoreRequest {
  time: string;
  database: string;
  into?: string;
  tables?: string[];
  section?: "schema-only" | "data-only";
  clean?: boolean;
  jobs?: number;
}

/** pgha-logical restore on the leader (it writes); a refusal (exit 2) is a RestoreRefused. */
export async function restoreLogical(sb: Sandbox, req: LogicalRestoreRequest): Promise<string> {
  const leader = await sb.client.leader();
  if (!leader) throw new Error("no leader: a logical restore writes on the leader");
  const argv = ["pgha-logical", "restore", "--time", req.time, "--database", req.database];
  if (req.into) argv.push("--into", req.into);
  for (const t of req.tables ?? []) argv.push("--table", t);
  if (req.section) argv.push(`--${req.section}`);
  if (req.clean) argv.push("--clean");
  if (req.jobs) argv.push("--jobs", String(req.jobs));
  const r = await run(leader, argv, 3_600_000);
  if (r.code === 2) throw new RestoreRefused(r.stderr.trim().split("\n").filter((l) => l.includes("refused")).pop()?.replace(/^.*refused: /, "") ?? r.stderr.trim());
  if (r.code !== 0) throw new Error(`pgha-logical restore failed on ${leader} (exit ${r.code}): ${r.stderr.trim().split("\n").slice(-6).join("\n")}`);
  return r.stderr.trim().split("\n").pop() ?? "restored";
}

/** 1536 → "1.5 KiB". */
export function humanBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}
