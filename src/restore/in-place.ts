// The in-place restore: the whole cluster goes back to a point in time. One procedure, run where
// the operator is, over a transport (SSM on AWS, `sandbox exec` in the sandbox; src/rollout), so
// that the guard rails are the same everywhere:
//   - a plan first (what stops, what is overwritten, the target, the timeline, the space it needs)
//     and nothing happens without an explicit yes;
//   - every target validated before anything stops (pgha-restore validate on the leader: the
//     window, a zone on times, restore-point names against the catalogue, abandoned timelines);
//   - the restore itself runs beside the live cluster, on a replica (the leader only when there
//     is none), into a separate directory, with archiving off, and stops at its target: a restore
//     that fails there has stopped nothing. Only then is the cluster stopped, the restored copy
//     swapped in (the old data directory kept aside), promoted on a new timeline with archiving
//     on, and handed to Patroni; if that fails, the old data goes back. The old data is deleted
//     only once the restored cluster is healthy;
//   - at the end every member is registered and streaming, or the report says which is not and
//     what to run next.
import type { Transport } from "../rollout/rollout";
import { findLeader } from "../rollout/rollout";

export type RestoreType = "time" | "xid" | "lsn" | "name" | "immediate";

export interface InPlaceRequest {
  type: RestoreType;
  target?: string;
  /** Follow this timeline instead of the newest (a target on a timeline an earlier restore abandoned). */
  timeline?: number;
  /** Restore this backup set (default: pgBackRest picks the one the target needs). */
  set?: string;
}

export interface InPlacePlan {
  cluster: string;
  leader: string;
  replicas: string[];
  /** The member that restores (a replica when there is one) and leads afterwards. */
  restorer: string;
  /** Where it restores beside its live data (same volume: the swap is a rename). */
  restoreDir: string;
  request: InPlaceRequest;
  /** What the target means, in words. */
  target: string;
  timelineBefore: number | null;
  /** The window pgha-restore reported (oldest … newest restorable point). */
  window: { oldest: string | null; newest: string | null };
  dataDir: string;
  asideDir: string;
  /**
   * The point in time the restored data ends at, as far as it is known before the restore: the
   * target time, a restore point's time; otherwise the restore's start (recorded with the new
   * timeline, so a later target between it and the stop is recognised as on the old timeline).
   */
  branchTime: string | null;
  /** Bytes the restore writes (the largest backup) and bytes free on the leader's data volume. */
  needBytes: number;
  freeBytes: number;
  steps: string[];
}

export interface InPlaceResult {
  ok: boolean;
  plan: InPlacePlan;
  /** "restored" | "rolled-back" | "partial" */
  outcome: "restored" | "rolled-back" | "partial";
  leader: string | null;
  timeline: number | null;
  /** Members not streaming at the end (partial outcome). */
  notStreaming: string[];
  message: string;
  next?: string;
  seconds: number;
}

export class RestoreRefusedError extends Error {
  readonly exitCode = 2;
}

export interface InPlaceOptions {
  transport: Transport;
  cluster: string;
  members: string[];
  dataDir: string;
  log?: (line: string) => void;
}

function describe(req: InPlaceRequest): string {
  const what = req.type === "immediate" ? "the first consistent point of the backup" : `${req.type} ${req.target}`;
  return `${what}${req.timeline ? ` on timeline ${req.timeline}` : ""}${req.set ? ` from backup set ${req.set}` : ""}`;
}

function restoreArgs(req: InPlaceRequest, action: "promote" | "shutdown" = "promote"): string[] {
  const a = ["--type", req.type, "--action", action];
  if (req.target !== undefined) a.push("--target", req.target);
  if (req.timeline !== undefined) a.push("--timeline", String(req.timeline));
  if (req.set) a.push("--set", req.set);
  return a;
}

const lastLines = (text: string, n = 3) => text.trim().split("\n").filter(Boolean).slice(-n).join(" | ");
const refusal = (text: string) => (text.trim().split("\n").filter((l) => /refused|FAILED/.test(l)).pop() ?? lastLines(text)).replace(/^.*(refused|FAILED): /, "");

/** Reads what the plan needs and validates the target on the leader; changes nothing. */
export async function planInPlace(opts: InPlaceOptions, req: InPlaceRequest): Promise<InPlacePlan> {
  const t = opts.transport;
  const leader = await findLeader(t, opts.members);
  if (!leader) throw new RestoreRefusedError("no member answers as leader: an in-place restore starts from a healthy cluster with a running leader (patronictl list)");
  const replicas = opts.members.filter((m) => m !== leader);
  const restorer = replicas[0] ?? leader;
  const v = await t.run(leader, ["pgha-restore", "validate", ...restoreArgs(req)], 120_000);
  if (v.code !== 0) throw new RestoreRefusedError(`restore refused, nothing was stopped: ${refusal(v.stderr || v.stdout)}`);
  const w = await t.run(leader, ["pgha-restore", "window", "--json"], 120_000);
  if (w.code !== 0) throw new Error(`cannot read the backup catalogue on ${leader}: ${lastLines(w.stderr)}`);
  const window = JSON.parse(w.stdout) as { oldest: string | null; newest: string | null; backups: { label: string; sizeBytes: number }[] };
  const tl = (await t.run(leader, ["bash", "-c", "runuser -u postgres -- psql -h /var/run/postgresql -XAtc 'select timeline_id from pg_control_checkpoint()'"], 60_000)).stdout.trim();
  const free = (await t.run(restorer, ["bash", "-c", `df --output=avail -B1 "$(dirname ${opts.dataDir})" | tail -1`], 60_000)).stdout.trim();
  let branchTime: string | null = req.type === "time" ? req.target ?? null : null;
  if (req.type === "name") {
    const points = await t.run(leader, ["pgha-restore", "points", "--json"], 120_000);
    if (points.code === 0) branchTime = (JSON.parse(points.stdout) as { name: string; time: string }[]).find((p) => p.name === req.target)?.time ?? null;
  }
  const needBytes = Math.max(0, ...window.backups.filter((b) => !req.set || b.label === req.set).map((b) => Number(b.sizeBytes) || 0));
  const freeBytes = Number(free) || 0;
  const plan: InPlacePlan = {
    cluster: opts.cluster,
    leader,
    replicas,
    restorer,
    restoreDir: `${opts.dataDir}.restoring`,
    request: req,
    target: describe(req),
    timelineBefore: Number(tl) || null,
    branchTime,
    window: { oldest: window.oldest, newest: window.newest },
    dataDir: opts.dataDir,
    asideDir: `${opts.dataDir}.pre-restore`,
    needBytes,
    freeBytes,
    steps: [
      `on ${restorer}, beside the running cluster: restore the backup into ${opts.dataDir}.restoring and recover it to ${describe(req)} with archiving off (nothing is stopped; a failure here changes nothing)`,
      `stop Patroni on ${[...replicas, leader].join(", ")} (replicas first): from here on the cluster takes no writes`,
      `remove cluster ${opts.cluster} from the DCS (its old leader position would keep the restored data from leading)`,
      `on ${restorer}: keep ${opts.dataDir} aside as ${opts.dataDir}.pre-restore, move the restored copy into its place, promote it on a new timeline (after ${timelineText(Number(tl))}) with archiving on`,
      `start Patroni on ${restorer}: it leads; take a full backup on the new timeline (on failure before this point: the old data goes back and the cluster starts as it was)`,
      `re-create ${opts.members.filter((m) => m !== restorer).join(", ") || "(no other member)"} from it (data directory deleted, Patroni started: each clones)`,
      `wait until every member streams; then delete ${opts.dataDir}.pre-restore on ${restorer}`,
    ],
  };
  if (needBytes > 0 && freeBytes < needBytes * 1.2 + 1024 ** 3) {
    throw new RestoreRefusedError(
      `restore refused, nothing was stopped: ${restorer} has ${gib(freeBytes)} free beside its data, the restore writes up to ${gib(needBytes)} (+20 % and 1 GiB kept free) while the live data stays; grow the data volume first`,
    );
  }
  return plan;
}

function timelineText(tl: number): string {
  return Number.isFinite(tl) && tl > 0 ? `timeline ${tl}` : "the current timeline";
}

export function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(bytes < 10 * 1024 ** 3 ? 2 : 1)} GiB`;
}

/** The plan as a person reads it before saying yes. */
export function formatPlan(p: InPlacePlan): string {
  return [
    `In-place restore of cluster ${p.cluster}: every member goes back to ${p.target}.`,
    `  now: leader ${p.leader} on timeline ${p.timelineBefore ?? "?"}; ${p.restorer} restores and will lead; the other members are re-created from it`,
    `  restorable window: ${p.window.oldest ?? "?"} … ${p.window.newest ?? "?"}`,
    `  space on ${p.restorer}: the restore writes up to ${gib(p.needBytes)}, ${gib(p.freeBytes)} free (the live data stays meanwhile)`,
    "Steps:",
    ...p.steps.map((s, i) => `  ${i + 1}. ${s}`),
    "Writes between the target and now are lost (they stay on the old timeline, restorable with --timeline while the backups last).",
  ].join("\n");
}

async function must(t: Transport, node: string, argv: string[], what: string, timeoutMs = 600_000): Promise<string> {
  const r = await t.run(node, argv, timeoutMs);
  if (r.code !== 0) throw new Error(`${what} failed on ${node} (exit ${r.code}): ${lastLines(r.stderr || r.stdout, 5)}`);
  return r.stdout;
}

/**
 * Runs the plan. Call only after the operator said yes to `formatPlan(plan)`; `planInPlace` must
 * have been called just before (it validated the target and checked the space).
 */
export async function runInPlace(opts: InPlaceOptions, plan: InPlacePlan): Promise<InPlaceResult> {
  const t = opts.transport;
  const log = opts.log ?? (() => undefined);
  const started = Date.now();
  const { restorer } = plan;
  const others = opts.members.filter((m) => m !== restorer);
  const everyone = [...plan.replicas, plan.leader];
  const result = (r: Omit<InPlaceResult, "plan" | "seconds">): InPlaceResult => ({ ...r, plan, seconds: (Date.now() - started) / 1000 });
  const timelineOf = async (m: string) =>
    Number((await t.run(m, ["bash", "-c", "runuser -u postgres -- psql -h /var/run/postgresql -XAtc 'select timeline_id from pg_control_checkpoint()'"], 60_000)).stdout.trim()) || null;

  // Phase 1, beside the running cluster: nothing stops; a failure leaves everything as it was.
  const restoreStarted = new Date().toISOString();
  log(`1/7 restoring on ${restorer} into ${plan.restoreDir} (the cluster keeps running)`);
  await t.run(restorer, ["rm", "-rf", plan.restoreDir], 300_000);
  const restored = await t.run(restorer, ["pgha-restore", "restore", ...restoreArgs(plan.request, "shutdown"), "--pg-path", plan.restoreDir, "--start", "--archive-mode", "off", "--port", "5499"], 3_600_000);
  if (restored.code !== 0) {
    await t.run(restorer, ["rm", "-rf", plan.restoreDir], 300_000);
    return result({
      ok: false, outcome: "rolled-back", leader: plan.leader, timeline: plan.timelineBefore, notStreaming: [],
      message: `the restore failed before anything was stopped (${lastLines(restored.stderr || restored.stdout)}); the cluster runs as before on timeline ${plan.timelineBefore ?? "?"}`,
      next: `fix the cause (npx pgha sandbox exec ${restorer} -- tail -50 /var/log/pgha/restore.log) and restore again`,
    });
  }

  // Phase 2: the swap. Every step until Patroni leads on the restored data can be undone.
  const abandonedAt = new Date().toISOString();
  log(`2/7 stopping Patroni on ${everyone.join(", ")}`);
  for (const m of everyone) await must(t, m, ["systemctl", "stop", "patroni.service"], "systemctl stop patroni", 300_000);
  log(`3/7 removing ${plan.cluster} from the DCS`);
  await must(t, restorer, ["bash", "-c", `printf '%s\\nYes I am aware\\n' ${plan.cluster} | pgha-patronictl remove ${plan.cluster}`], "patronictl remove", 120_000);

  const rollBack = async (why: string): Promise<InPlaceResult> => {
    log(`the swap failed (${why}); putting the previous data back and starting the cluster as it was`);
    await t.run(restorer, ["systemctl", "stop", "patroni.service"], 300_000);
    const back = await t.run(restorer, ["pgha-restore", "put-back"], 300_000);
    if (back.code !== 0 && !/no data directory kept aside/.test(back.stderr)) {
      return result({
        ok: false, outcome: "partial", leader: null, timeline: null, notStreaming: everyone,
        message: `the swap failed (${why}) and the previous data could not be put back on ${restorer}: ${lastLines(back.stderr)}`,
        next: `${t.howToReach(restorer)}; the old data is in ${plan.asideDir}: move it to ${plan.dataDir}, then systemctl start patroni on ${plan.leader} first, then on the others`,
      });
    }
    // The old leader first: with the DCS removed, the first member to start adopts its data.
    await t.run(plan.leader, ["systemctl", "start", "patroni.service"], 120_000);
    const up = await t.run(plan.leader, ["pgha-node", "check", "--wait", "240"], 300_000);
    for (const m of plan.replicas) await t.run(m, ["systemctl", "start", "patroni.service"], 120_000);
    const waiting: string[] = [];
    for (const m of plan.replicas) if ((await t.run(m, ["pgha-node", "check", "--wait", "240"], 300_000)).code !== 0) waiting.push(m);
    await t.run(restorer, ["rm", "-rf", plan.restoreDir], 300_000);
    const healthy = up.code === 0 && waiting.length === 0;
    return result({
      ok: false, outcome: "rolled-back", leader: up.code === 0 ? plan.leader : null, timeline: await timelineOf(plan.leader), notStreaming: waiting,
      message: `the swap failed (${why}); the cluster is back on its previous data${healthy ? ", healthy" : `, but ${[...(up.code === 0 ? [] : [plan.leader]), ...waiting].join(", ")} not yet healthy`} (Patroni adopting the data after the DCS was cleared starts one new timeline)`,
      next: healthy ? "fix the cause and restore again" : `npx pgha sandbox status (or sudo pgha-patronictl list on a node); ${t.howToReach(plan.leader)}`,
    });
  };

  let tl: number | null;
  try {
    log(`4/7 on ${restorer}: swapping the restored copy in (old data kept aside) and promoting it`);
    await must(t, restorer, ["pgha-restore", "swap-in", plan.restoreDir], "swapping the restored data in", 300_000);
    const promoted = await must(t, restorer, ["pgha-restore", "promote-restored", "--port", "5499"], "promoting the restored data", 3_600_000);
    tl = Number((JSON.parse(promoted.trim().split("\n").pop()!) as { timeline: number }).timeline) || null;
    log(`5/7 timeline ${tl}: starting Patroni on ${restorer}`);
    await must(t, restorer, ["systemctl", "start", "patroni.service"], "systemctl start patroni", 120_000);
    // Patroni adopts the data as a standby first, then promotes: wait for a running primary.
    await must(t, restorer, ["pgha-node", "check", "--wait", "240"], `waiting for ${restorer} to lead`, 300_000);
  } catch (e) {
    return rollBack((e as Error).message);
  }
  tl = (await timelineOf(restorer)) ?? tl;
  await t.run(restorer, ["pgha-restore", "record-branch", "--from", String(plan.timelineBefore ?? 0), "--to", String(tl ?? 0), "--target-desc", plan.target, "--restored-at", plan.branchTime ?? restoreStarted, "--promoted-at", abandonedAt], 120_000);
  log(`   taking a full backup on timeline ${tl}`);
  const backup = await t.run(restorer, ["pgha-backup", "full", "--force"], 3_600_000);
  if (backup.code !== 0) log(`WARNING: the full backup after the restore failed (the others clone from the leader instead): ${lastLines(backup.stderr, 1)}`);
  log(`6/7 re-creating ${others.join(", ") || "(no other member)"} from ${restorer}`);
  for (const m of others) await t.run(m, ["bash", "-c", `rm -rf ${plan.dataDir} ${plan.dataDir}.pre-restore ${plan.restoreDir} && systemctl start patroni.service`], 120_000);
  const notStreaming: string[] = [];
  for (const m of others) if ((await t.run(m, ["pgha-node", "check", "--wait", "600"], 700_000)).code !== 0) notStreaming.push(m);
  if (notStreaming.length) {
    return result({
      ok: false, outcome: "partial", leader: restorer, timeline: tl, notStreaming,
      message: `restored: ${restorer} leads on timeline ${tl}, but ${notStreaming.join(", ")} ${notStreaming.length === 1 ? "is" : "are"} not streaming yet; ${plan.asideDir} is kept on ${restorer}`,
      next: `look at ${notStreaming[0]} (${t.howToReach(notStreaming[0])}; journalctl -u patroni); once every member streams, delete the old data: pgha-restore drop-aside on ${restorer}`,
    });
  }
  log(`7/7 every member streams; deleting the old data kept aside on ${restorer}`);
  await t.run(restorer, ["pgha-restore", "drop-aside"], 300_000);
  return result({ ok: true, outcome: "restored", leader: restorer, timeline: tl, notStreaming: [], message: `restored in place: ${restorer} leads on timeline ${tl}; ${others.join(", ") || "no other member"} stream${others.length === 1 ? "s" : ""} from it` });
}
