// The standby cluster of the sandbox's second region (a stack with postgres-ha:standby): how far it
// is behind its primary, and its promotion — with or without fencing the old primary.
//
// Promotion is Patroni's own: removing standby_cluster from the standby cluster's dynamic
// configuration (PATCH /config {"standby_cluster": null}) makes its standby leader a leader on a
// new timeline. Fencing is Patroni's too: the old primary cluster gets a standby_cluster pointing
// at the promoted one, so its leader demotes itself (and rewinds when it must) and follows; a
// cluster that follows another acknowledges no write. The steps and their order are in
// promoteStandby; the runbook is the README's "Second region".
import type { Sandbox } from "./cluster";
import { openSandbox, readState, STATE_DIR } from "./cluster/state";
import { STANDBY_STATE_DIR } from "./cluster/standby-region";
import { hostExec } from "./hosts";
import { nodesOf, PORTS } from "../spec";
import { NODE_PATHS } from "../node-paths";

export interface StandbyLag {
  /** Whether the primary's slot for the standby cluster has a walsender on it (it streams). */
  streaming: boolean;
  /** Bytes of WAL the primary wrote that the standby cluster has not replayed (null: not streaming). */
  lagBytes: number | null;
  /** pg_stat_replication.replay_lag of its walsender (seconds; null when idle or not streaming). */
  lagSeconds: number | null;
  /** WAL the primary keeps for the slot (bytes; bounded by max_slot_wal_keep_size). */
  retainedBytes: number | null;
  /** The slot's wal_status: reserved, extended, unreserved or lost. */
  walStatus: string | null;
}

export interface StandbyClusterStatus {
  stack: string;
  members: { name: string; role: string; state: string; lagBytes: number | null }[];
  endpoints: { readWrite: string; readOnly: string };
  /** "standby" while it follows; "primary" once promoted. */
  mode: "standby" | "primary";
  slot: string;
  lagBytes: number | null;
  lagSeconds: number | null;
  retainedBytes: number | null;
  streaming: boolean;
}

/** The standby cluster's sandbox, if one is up. */
export async function openStandby(): Promise<Sandbox | undefined> {
  return readState(STANDBY_STATE_DIR)?.userDataHash ? openSandbox(STANDBY_STATE_DIR) : undefined;
}

/** What the primary knows of the standby cluster (its slot and walsender), read on its rw endpoint. */
export async function standbyLag(primary: Sandbox, slot: string): Promise<StandbyLag> {
  const rows = await primary.client.query(
    "rw",
    `select s.active, s.wal_status,
            pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint as retained,
            pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::bigint as lag_bytes,
            extract(epoch from r.replay_lag)::float8 as lag_seconds
       from pg_replication_slots s left join pg_stat_replication r on r.pid = s.active_pid
      where s.slot_name = $1`,
    [slot],
    { connectTimeoutMs: 3000 },
  );
  const r = rows[0];
  if (!r) return { streaming: false, lagBytes: null, lagSeconds: null, retainedBytes: null, walStatus: null };
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return { streaming: r.active === true && r.lag_bytes !== null, lagBytes: num(r.lag_bytes), lagSeconds: num(r.lag_seconds) ?? (r.active ? 0 : null), retainedBytes: num(r.retained), walStatus: r.wal_status ?? null };
}

/** The standby cluster as `status --json` shows it (standbyCluster). */
export async function standbyClusterStatus(standby: Sandbox, primary?: Sandbox): Promise<StandbyClusterStatus> {
  const cluster = await standby.client.cluster();
  const members = nodesOf(standby.spec, "postgres").map((n) => {
    const m = cluster?.members.find((x) => x.name === n.name);
    const lag = (m as { lag?: unknown } | undefined)?.lag;
    return { name: n.name, role: m?.role ?? "unknown", state: m?.state ?? "unreachable", lagBytes: typeof lag === "number" ? lag : null };
  });
  const mode = members.some((m) => m.role === "leader") ? "primary" : "standby";
  const slot = standby.spec.standby!.slot;
  const lag = primary && mode === "standby" ? await standbyLag(primary, slot).catch(() => undefined) : undefined;
  return {
    stack: standby.spec.stack,
    members,
    endpoints: { readWrite: `${standby.spec.serviceNames.readWrite}:${PORTS.readWrite}`, readOnly: `${standby.spec.serviceNames.readOnly}:${PORTS.readOnly}` },
    mode,
    slot,
    lagBytes: lag?.lagBytes ?? null,
    lagSeconds: lag?.lagSeconds ?? null,
    retainedBytes: lag?.retainedBytes ?? null,
    streaming: lag?.streaming ?? false,
  };
}

export interface PromoteOptions {
  /** Turn the old primary cluster into a standby of the promoted one first (when it is reachable). */
  fenceOld?: boolean;
  /** Promote although the old primary is reachable and not fenced (two writable primaries). */
  yes?: boolean;
  log?: (line: string) => void;
}

export interface PromoteResult {
  /** WAL the old primary had written that the promoted cluster had not replayed (null: the old primary could not be asked). */
  rpoBytes: number | null;
  /** Seconds of commits lost: the old primary's last commit time minus the last one replayed (0 with nothing lost; null: unknown). */
  rpoSeconds: number | null;
  /** When standby_cluster was removed (the promotion command). */
  promotedAt: string;
  /** The first write acknowledged through the promoted cluster's rw endpoint. */
  firstWriteAt: string;
  /** The promoted cluster's leader and its timeline. */
  leader: string;
  timeline: number;
  /** Whether the old primary was reachable, and fenced (it follows the promoted cluster). */
  oldPrimaryReachable: boolean;
  fenced: boolean;
  /** When the first full backup into the promoted cluster's own repository was done and verified (its stanza created first); null when it failed. */
  backupAt: string | null;
  /** The standby cluster's leader at promotion: the WAL it had received (all of it is replayed before it leads: what the promotion keeps), its replay position and last replayed commit. */
  receivedLsn: string;
  replayLsn: string;
  lastReplayedCommitAt: string | null;
}

function refuse(message: string): never {
  throw Object.assign(new Error(message), { exitCode: 3 });
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s${last ? ` (${last})` : ""}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The old primary, asked through its rw endpoint: its WAL position and last commit, when it is a writable primary. */
async function writablePrimary(primary: Sandbox): Promise<{ lsn: string; lastCommitAt: string | null } | undefined> {
  try {
    const [r] = await primary.client.query("rw", "select pg_is_in_recovery() as rec, pg_current_wal_lsn()::text as lsn", [], { connectTimeoutMs: 3000 });
    return r.rec ? undefined : { lsn: r.lsn, lastCommitAt: null };
  } catch {
    return undefined;
  }
}

async function patchConfig(sb: Sandbox, body: unknown): Promise<void> {
  let last = "";
  for (const n of nodesOf(sb.spec, "postgres")) {
    try {
      const r = await sb.client.rest(n.name, "PATCH", "/config", body, { auth: true, timeoutMs: 5000 });
      if (r.status === 200) return;
      last = `${n.name}: ${r.status} ${JSON.stringify(r.body)}`;
    } catch (e) {
      last = `${n.name}: ${(e as Error).message}`;
    }
  }
  throw new Error(`PATCH /config of ${sb.spec.stack} failed on every member (${last})`);
}

async function sqlOn(host: string, sql: string): Promise<string> {
  const r = await hostExec(host, ["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-h", "/run/postgresql", "-c", sql], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`${host}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/**
 * Promotes the standby cluster. With the old primary reachable and --fence-old: the old cluster
 * is first made a standby of this one (its leader demotes and stops acknowledging writes), this
 * cluster replays everything the old leader wrote, and only then is promoted — RPO 0. Without the
 * old primary (region loss): promoted at once; what it had not received is lost (rpo unknown, the
 * last replayed commit reported). A reachable, unfenced old primary is refused without --yes.
 */
export async function promoteStandby(opts: PromoteOptions = {}): Promise<PromoteResult> {
  const log = opts.log ?? (() => undefined);
  const second = await openStandby();
  if (!second) refuse("no standby cluster runs: `npx pgha sandbox up --standby` first");
  const first = readState(STATE_DIR)?.userDataHash ? await openSandbox(STATE_DIR) : undefined;
  // The cluster that follows the other is promoted: the second region's normally, the first's
  // after a fenced promotion (a failback).
  const leaderOf = async (sb: Sandbox | undefined) => (sb ? (await sb.client.cluster())?.members.find((m) => m.role === "standby_leader" || m.role === "leader") : undefined);
  const [firstLeader, secondLeader] = [await leaderOf(first), await leaderOf(second)];
  const [standby, leader, primary] =
    firstLeader?.role === "standby_leader" && secondLeader?.role !== "standby_leader" ? [first!, firstLeader, second] : [second, secondLeader, first];
  const spec = standby.spec;
  if (!leader) refuse(`the standby cluster ${spec.stack} has no leader to promote`);
  if (leader.role === "leader") refuse(`no cluster follows another: ${spec.stack} is a primary already (promoted before)`);
  const old = primary ? await writablePrimary(primary) : undefined;
  if (old && !opts.fenceOld && !opts.yes) {
    refuse(
      `the old primary (${primary!.spec.stack}) is reachable and accepts writes: promoting now would leave two writable primaries. ` +
        `Use --fence-old (it follows the promoted cluster first: no write is lost), or --yes to promote anyway and fence it yourself`,
    );
  }
  let fenced = false;
  let oldLsn: string | undefined;
  if (old && opts.fenceOld) {
    const target = nodesOf(spec, "haproxy")[0] ?? nodesOf(spec, "postgres")[0];
    const address = standby.layout.addresses[target.name];
    // The old region resolves the promoted cluster's rw name (on AWS: its private zone associated
    // with the old VPC; here a hosts entry on each old member).
    for (const n of nodesOf(primary!.spec, "postgres")) {
      await hostExec(n.name, ["sh", "-c", `grep -q ' ${spec.serviceNames.readWrite}$' /etc/hosts || echo '${address} ${spec.serviceNames.readWrite}' >> /etc/hosts`]).catch(() => undefined);
    }
    log(`fencing ${primary!.spec.stack}: standby_cluster → ${spec.serviceNames.readWrite}:${PORTS.readWrite} (its leader demotes and follows)`);
    await patchConfig(primary!, {
      standby_cluster: { host: spec.serviceNames.readWrite, port: PORTS.readWrite, create_replica_methods: ["basebackup"] },
    });
    await until("the old primary stops accepting writes", 90_000, async () => !(await writablePrimary(primary!)));
    fenced = true;
    // The old leader's last WAL: its walsender sent it before the demotion finished.
    const oldLeader = (await leaderOf(primary))?.name;
    if (oldLeader) {
      oldLsn = await until("the old leader's last WAL position", 60_000, async () => {
        const v = await sqlOn(oldLeader, "select coalesce(pg_last_wal_replay_lsn(), pg_current_wal_lsn())::text").catch(() => "");
        return v || undefined;
      });
      log(`old leader ${oldLeader} ends at ${oldLsn}; waiting for ${leader.name} to replay it`);
      await until(`${leader.name} replays up to ${oldLsn}`, 60_000, async () =>
        (await sqlOn(leader.name, `select pg_last_wal_replay_lsn() >= '${oldLsn}'::pg_lsn`)) === "t",
      );
    }
  }
  // What it will have at promotion: everything it received (promotion replays what is in pg_wal
  // before ending recovery), not only what it had replayed.
  const [receivedLsn, replayLsn, lastReplayed, behind] = (
    await sqlOn(
      leader.name,
      `select coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text, pg_last_wal_replay_lsn()::text, coalesce(pg_last_xact_replay_timestamp()::text, ''), ` +
        `${oldLsn ? `greatest(0, pg_wal_lsn_diff('${oldLsn}'::pg_lsn, greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())))::bigint` : "null"}`,
    )
  ).split("|");
  log(`promoting ${spec.stack}: standby_cluster removed (standby leader ${leader.name} received ${receivedLsn}, replayed ${replayLsn})`);
  const promotedAt = new Date();
  await patchConfig(standby, { standby_cluster: null });
  const firstWriteAt = await until("a write through the promoted cluster's rw endpoint", 120_000, async () => {
    await standby.client.query("rw", "create table if not exists pgha_promotions (at timestamptz primary key default now(), stack text)", [], { connectTimeoutMs: 2000 });
    await standby.client.query("rw", "insert into pgha_promotions (stack) values ($1)", [spec.stack], { connectTimeoutMs: 2000 });
    return new Date();
  });
  log(`first write acknowledged ${((firstWriteAt.getTime() - promotedAt.getTime()) / 1000).toFixed(2)} s after the promotion`);
  const newLeader = (await standby.client.cluster())?.members.find((m) => m.role === "leader")?.name ?? leader.name;
  // The timeline of the WAL it writes now (the control file's checkpoint may still name the old one).
  const timeline = parseInt(await sqlOn(newLeader, "select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)").catch(() => "0"), 16);
  // Its own repository from now on: the stanza, the timeline history it received while it
  // followed, then a full backup, checked and verified (waited for: backupAt is when it is done).
  log(`backups into ${spec.backup.bucketName}: stanza, timeline history and a first full backup on ${newLeader}`);
  const backup = await hostExec(newLeader, [NODE_PATHS.backupScript, "full"], { timeoutMs: 600_000 });
  const backupAt = backup.code === 0 ? new Date().toISOString() : null;
  if (backup.code !== 0) log(`the first backup failed (${backup.stderr.trim().split("\n").slice(-2).join(" | ")}): run \`npx pgha sandbox exec ${newLeader} -- pgha-backup full\``);
  return {
    rpoBytes: oldLsn ? Number(behind) : null,
    rpoSeconds: oldLsn ? (Number(behind) === 0 ? 0 : null) : null,
    promotedAt: promotedAt.toISOString(),
    firstWriteAt: firstWriteAt.toISOString(),
    leader: newLeader,
    timeline,
    oldPrimaryReachable: old !== undefined,
    fenced,
    backupAt,
    receivedLsn,
    replayLsn,
    lastReplayedCommitAt: lastReplayed || null,
  };
}

/** Lines of `status` for the standby cluster. */
export function formatStandby(s: StandbyClusterStatus): string {
  const lag = s.mode === "primary" ? "promoted: a primary cluster" : s.streaming ? `streaming, ${s.lagBytes ?? "?"} bytes / ${s.lagSeconds?.toFixed(2) ?? "?"} s behind; slot ${s.slot} holds ${s.retainedBytes ?? "?"} bytes` : `NOT streaming through slot ${s.slot} (the repository copy feeds it)`;
  return [`standby cluster ${s.stack} (second region): ${lag}`, ...s.members.map((m) => `  ${m.name.padEnd(8)} ${m.role.padEnd(15)} ${m.state}`), `  endpoints: rw ${s.endpoints.readWrite} (only once promoted), ro ${s.endpoints.readOnly}`].join("\n");
}
