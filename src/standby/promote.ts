// Promotion of a standby cluster (postgres-ha:standby), with or without fencing the old primary:
// the order of the steps, driven from the operator's machine through a Transport to each
// cluster's nodes, where `pgha-standby` makes each change through Patroni. The same code runs the
// sandbox's `sandbox promote-standby` (sandbox exec) and AWS's `pgha promote-standby` (SSM).
//
//   1. state: which member leads each cluster, whether the old primary still takes writes
//   2. refuse while the old primary is writable and neither --fence-old nor --yes was given
//   3. --fence-old: the old primary takes no new write (drain); this cluster's standby leader
//      replays up to its last commit; only then does the old cluster follow this one's rw
//      endpoint (its leader demotes): nothing acknowledged is lost
//   4. promote: standby_cluster removed; the RPO paid is what it had not received
//   5. its own repository: stanza, the timeline history it received, a first full backup
import type { Transport } from "../rollout/rollout";

/** One cluster as the promotion reaches it. */
export interface RegionCluster {
  stack: string;
  /** Its PostgreSQL members, in the order they are asked. */
  members: string[];
  transport: Transport;
  /** Its read-write endpoint as the other region reaches it (the fenced cluster follows it). */
  readWrite: { host: string; port: number };
}

/** `pgha-standby state --json` of one member. */
export interface MemberState {
  node: string;
  cluster: string;
  role: string;
  state: string;
  follows: { host: string; port: number } | null;
  leader: string | null;
  leaderRole: string | null;
  writable: boolean;
  inRecovery?: boolean;
  endLsn?: string;
  receivedLsn?: string | null;
  replayLsn?: string | null;
  lastReplayedCommitAt?: string | null;
  timeline?: number;
}

export interface PromoteOptions {
  /** The cluster to promote (its leader is a standby leader). */
  standby: RegionCluster;
  /** The cluster it follows, when its nodes can be asked at all (absent: not known here). */
  old?: RegionCluster;
  /** Make the old primary follow the promoted cluster first, when it is reachable. */
  fenceOld?: boolean;
  /** Promote although the old primary is writable and not fenced (or cannot be asked). */
  yes?: boolean;
  log?: (line: string) => void;
  /** Before the old cluster is pointed at the standby's rw endpoint (the sandbox: a hosts entry on its members, as a private zone associated with its VPC does on AWS). */
  beforeFence?: () => Promise<void>;
  /** The first write through the promoted cluster's rw endpoint (the sandbox measures it; absent: the write on its leader counts). */
  firstWrite?: () => Promise<Date>;
  /** How long a node may take to answer a state query (a region that is gone answers nothing). */
  stateTimeoutMs?: number;
}

export interface PromoteResult {
  /** WAL the old primary had written that the promoted cluster had not received (null: the old primary could not be asked). */
  rpoBytes: number | null;
  /** Seconds of commits lost: 0 when nothing was lost; null when unknown. */
  rpoSeconds: number | null;
  /** When standby_cluster was removed (the promotion). */
  promotedAt: string;
  /** The first write the promoted cluster acknowledged: through its rw endpoint where the caller measures it, else on its leader. */
  firstWriteAt: string;
  /** The first write acknowledged on the promoted leader itself (pgha-standby promote). */
  writableAt: string;
  leader: string;
  timeline: number;
  oldPrimaryReachable: boolean;
  fenced: boolean;
  /** When the first full backup into the promoted cluster's own repository was done and verified; null when it failed. */
  backupAt: string | null;
  /** The standby leader at promotion: the WAL it had received (all of it is replayed before it leads), its replay position and last replayed commit. */
  receivedLsn: string;
  replayLsn: string;
  lastReplayedCommitAt: string | null;
}

/** Refused before anything changed (exit status 3 of the commands). */
export class PromoteRefused extends Error {
  readonly exitCode = 3;
}

// By name: on PATH where the nodes run commands as root (sandbox exec, SSM's RunShellScript).
const STANDBY = "pgha-standby";
const BACKUP = "pgha-backup";

async function runJson<T>(c: RegionCluster, node: string, argv: string[], timeoutMs: number): Promise<T> {
  const r = await c.transport.run(node, argv, timeoutMs);
  if (r.code !== 0) throw Object.assign(new Error(`${c.stack}/${node}: ${argv.slice(0, 2).join(" ")} exited ${r.code}: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ")}`), { code: r.code });
  const line = r.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`${c.stack}/${node}: ${argv.slice(0, 2).join(" ")} printed no JSON: ${line.slice(0, 200)}`);
  }
}

/** A member's state, asked of each member in turn until one answers; then its leader's (undefined: no member answers). */
export async function clusterState(c: RegionCluster, timeoutMs = 20_000): Promise<{ any: MemberState; leader?: MemberState } | undefined> {
  for (const node of c.members) {
    let any: MemberState;
    try {
      any = await runJson<MemberState>(c, node, [STANDBY, "state", "--json"], timeoutMs);
    } catch {
      continue;
    }
    if (!any.leader) return { any };
    if (any.leader === node) return { any, leader: any };
    const leader = await runJson<MemberState>(c, any.leader, [STANDBY, "state", "--json"], timeoutMs).catch(() => undefined);
    return { any, leader };
  }
  return undefined;
}

/** Of two clusters, the one that follows the other (its leader is a standby leader) and the other; undefined when neither does. */
export async function whichFollows(a: RegionCluster, b: RegionCluster, timeoutMs?: number): Promise<{ standby: RegionCluster; old: RegionCluster } | undefined> {
  const [sa, sb] = [await clusterState(a, timeoutMs), await clusterState(b, timeoutMs)];
  const follows = (s: typeof sa) => s?.any.leaderRole === "standby_leader" || (s !== undefined && s.any.follows !== null && s.any.leaderRole !== "leader");
  if (follows(sa) && !follows(sb)) return { standby: a, old: b };
  if (follows(sb) && !follows(sa)) return { standby: b, old: a };
  return undefined;
}

/** Calls `probe` (errors count as "not yet") every `everyMs` until it returns a value; throws naming `what` and the last error after `timeoutMs`. */
export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s${last ? ` (${last})` : ""}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

interface NodePromotion {
  leader: string;
  promotedAt: string;
  writableAt: string;
  timeline: number | null;
  receivedLsn: string;
  replayLsn: string;
  lastReplayedCommitAt: string | null;
  rpoBytes: number | null;
}

export async function promoteStandbyCluster(o: PromoteOptions): Promise<PromoteResult> {
  const log = o.log ?? (() => undefined);
  const { standby, old } = o;
  const stateTimeout = o.stateTimeoutMs ?? 20_000;
  const mine = await clusterState(standby, stateTimeout);
  if (!mine) throw new Error(`no member of ${standby.stack} answers (${standby.members.join(", ")}): nothing to promote`);
  if (mine.any.leaderRole === "leader") throw new PromoteRefused(`${standby.stack} is a primary cluster already (its leader ${mine.any.leader} takes writes): nothing to promote`);
  if (!mine.any.follows) throw new PromoteRefused(`${standby.stack} follows no other cluster (no standby_cluster in its configuration): nothing to promote`);
  const standbyLeader = mine.any.leaderRole === "standby_leader" ? mine.any.leader : null;
  if (!standbyLeader) throw new Error(`${standby.stack} has no standby leader to promote (members: ${standby.members.join(", ")}): look at Patroni's journal on them`);

  const theirs = old ? await clusterState(old, stateTimeout) : undefined;
  const oldLeader = theirs?.leader?.leaderRole === "leader" ? theirs.leader : undefined;
  const writable = oldLeader?.writable === true;
  if (!old && !o.yes) {
    throw new PromoteRefused(`cannot tell whether the old primary is reachable (no old cluster given): give it (--old-stack, --old-instance-ids) to fence it or to check it is gone, or --yes to promote anyway`);
  }
  if (writable && !o.fenceOld && !o.yes) {
    throw new PromoteRefused(
      `the old primary (${old!.stack}, leader ${oldLeader!.node}) is reachable and accepts writes: promoting now would leave two writable primaries. ` +
        `Use --fence-old (it follows the promoted cluster first: no write is lost), or --yes to promote anyway and fence it yourself`,
    );
  }

  let fenced = false;
  let oldLsn: string | undefined;
  if (writable && o.fenceOld) {
    // Patroni 4.0 demotes a primary into a standby cluster with an immediate stop: WAL it had not
    // sent is not sent. So the old primary first takes no new write, and this cluster receives
    // everything up to its last commit, before the fence; until then nothing is irreversible.
    log(`draining ${old!.stack}: its leader ${oldLeader!.node} takes no new write (default_transaction_read_only)`);
    const drained = await runJson<{ lsn: string; terminated: number }>(old!, oldLeader!.node, [STANDBY, "drain", "--grace", "10", "--timeout", "60", "--json"], 120_000);
    oldLsn = drained.lsn;
    log(`${oldLeader!.node}'s acknowledged commits end before ${oldLsn}${drained.terminated ? ` (${drained.terminated} session(s) still writing were terminated)` : ""}; waiting for ${standbyLeader} to replay it`);
    const w = await standby.transport.run(standbyLeader, [STANDBY, "wait-replayed", oldLsn, "--timeout", "60"], 90_000);
    if (w.code !== 0) {
      const u = await old!.transport.run(oldLeader!.node, [STANDBY, "undrain"], 60_000);
      throw new Error(
        `${standbyLeader} did not replay ${old!.stack}'s WAL up to ${oldLsn}: ${w.stderr.trim()}. Nothing was fenced or promoted; ` +
          (u.code === 0 ? `${old!.stack} takes writes again` : `${old!.stack} is still read-only: run pgha-standby undrain on ${oldLeader!.node} (${u.stderr.trim()})`),
      );
    }
    await o.beforeFence?.();
    const { host, port } = standby.readWrite;
    log(`fencing ${old!.stack}: standby_cluster → ${host}:${port} (its leader ${oldLeader!.node} demotes and follows)`);
    await runJson<{ formerLeader: string | null; standbyLeader: string }>(old!, oldLeader!.node, [STANDBY, "fence", "--host", host, "--port", String(port), "--timeout", "90", "--json"], 120_000);
    fenced = true;
  }

  log(`promoting ${standby.stack}: standby_cluster removed on ${standbyLeader}`);
  const p = await runJson<NodePromotion>(standby, standbyLeader, [STANDBY, "promote", ...(oldLsn ? ["--old-lsn", oldLsn] : []), "--json"], 180_000);
  log(`${p.leader} leads on timeline ${p.timeline}; a write acknowledged on it ${((Date.parse(p.writableAt) - Date.parse(p.promotedAt)) / 1000).toFixed(2)} s after the promotion`);
  const firstWriteAt = o.firstWrite ? (await o.firstWrite()).toISOString() : p.writableAt;
  // Its own repository from now on: the stanza, the timeline history it received while it
  // followed, then a full backup, checked and verified (waited for: backupAt is when it is done).
  log(`backups into ${standby.stack}'s repository: stanza, timeline history and a first full backup on ${p.leader}`);
  const backup = await standby.transport.run(p.leader, [BACKUP, "full"], 900_000);
  const backupAt = backup.code === 0 ? new Date().toISOString() : null;
  if (backup.code !== 0) log(`the first backup failed (${backup.stderr.trim().split("\n").slice(-2).join(" | ")}): run pgha-backup full on ${p.leader} (${standby.transport.howToReach(p.leader)})`);
  return {
    rpoBytes: p.rpoBytes,
    rpoSeconds: p.rpoBytes === null ? null : p.rpoBytes === 0 ? 0 : null,
    promotedAt: p.promotedAt,
    firstWriteAt,
    writableAt: p.writableAt,
    leader: p.leader,
    timeline: p.timeline ?? 0,
    oldPrimaryReachable: theirs !== undefined && oldLeader !== undefined,
    fenced,
    backupAt,
    receivedLsn: p.receivedLsn,
    replayLsn: p.replayLsn,
    lastReplayedCommitAt: p.lastReplayedCommitAt ?? null,
  };
}

/** The promotion's result as lines for a person (the commands' output without --json). */
export function formatPromotion(r: PromoteResult): string {
  const rto = (Date.parse(r.firstWriteAt) - Date.parse(r.promotedAt)) / 1000;
  return [
    `promoted: ${r.leader} leads on timeline ${r.timeline}; first write ${rto.toFixed(2)} s after the promotion`,
    `RPO: ${r.rpoBytes === null ? `unknown (the old primary could not be asked); it kept the WAL it had received, up to ${r.receivedLsn} (last replayed commit ${r.lastReplayedCommitAt ?? "none"})` : `${r.rpoBytes} bytes`}`,
    `old primary: ${r.oldPrimaryReachable ? (r.fenced ? "fenced (it follows the promoted cluster)" : "reachable and NOT fenced") : "unreachable"}`,
    `backups: ${r.backupAt ? `first full backup ${r.backupAt}` : "the first backup failed (see above)"}`,
  ].join("\n");
}
