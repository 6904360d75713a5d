// The standby cluster of the sandbox's second region (a stack with postgres-ha:standby): how far it
// is behind its primary, and its promotion — with or without fencing the old primary.
//
// Promotion is Patroni's own: removing standby_cluster from the standby cluster's dynamic
// configuration (PATCH /config {"standby_cluster": null}) makes its standby leader a leader on a
// new timeline. Fencing is Patroni's too: the old primary cluster gets a standby_cluster pointing
// at the promoted one, so its leader demotes itself (and rewinds when it must) and follows; a
// cluster that follows another acknowledges no write. The steps and their order are in
// src/standby/promote.ts (shared with AWS's `pgha promote-standby`); the runbook is the README's
// "A standby cluster in the second region".
import type { Sandbox } from "./cluster";
import { openSandbox, readState, STATE_DIR } from "./cluster/state";
import { STANDBY_STATE_DIR } from "./cluster/standby-region";
import { hostExec } from "./hosts";
import { nodesOf, PORTS } from "../spec";
import { sandboxTransport } from "./cluster/provision";
import { wanDelayMs } from "./wan-delay";
import { promoteStandbyCluster, PromoteRefused, until, whichFollows, type PromoteResult, type RegionCluster } from "../standby/promote";

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
  /** The sandbox's one-way delay between the regions (ms; 0 none): src/sandbox/wan-delay.ts. */
  wanDelayMs: number;
}

/** The sandbox beside the first stack's (a standby cluster, or a stack restored from it), if one is up. */
export async function openSecondSlot(): Promise<Sandbox | undefined> {
  return readState(STANDBY_STATE_DIR)?.userDataHash ? openSandbox(STANDBY_STATE_DIR) : undefined;
}

/** The standby cluster's sandbox, if one is up (not a restored stack in the same slot). */
export async function openStandby(): Promise<Sandbox | undefined> {
  const sb = await openSecondSlot();
  return sb?.spec.standby ? sb : undefined;
}

/** A stack restored from the first one's repository (restoreFrom), as `status` shows it beside the first. */
export interface RestoredClusterStatus {
  stack: string;
  restoredFrom: { stack: string; target: string };
  members: { name: string; role: string; state: string; timeline: number | null }[];
  endpoints: { readWrite: string; readOnly: string };
}

export async function restoredClusterStatus(sb: Sandbox): Promise<RestoredClusterStatus> {
  const r = sb.spec.restoreFrom!;
  const cluster = await sb.client.cluster();
  return {
    stack: sb.spec.stack,
    restoredFrom: { stack: r.stack, target: r.target.type === "immediate" ? "immediate" : `${r.target.type} ${r.target.value}` },
    members: nodesOf(sb.spec, "postgres").map((n) => {
      const m = cluster?.members.find((x) => x.name === n.name);
      const timeline = (m as { timeline?: unknown } | undefined)?.timeline;
      return { name: n.name, role: m?.role ?? "unknown", state: m?.state ?? "unreachable", timeline: typeof timeline === "number" ? timeline : null };
    }),
    endpoints: { readWrite: `${sb.spec.serviceNames.readWrite}:${PORTS.readWrite}`, readOnly: `${sb.spec.serviceNames.readOnly}:${PORTS.readOnly}` },
  };
}

export function formatRestored(s: RestoredClusterStatus): string {
  return [
    `restored cluster ${s.stack} (beside the first; from ${s.restoredFrom.stack} at ${s.restoredFrom.target}):`,
    ...s.members.map((m) => `  ${m.name.padEnd(10)} ${m.role.padEnd(15)} ${m.state}${m.timeline === null ? "" : `  timeline ${m.timeline}`}`),
    `  endpoints: rw ${s.endpoints.readWrite}, ro ${s.endpoints.readOnly}`,
  ].join("\n");
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
    wanDelayMs: wanDelayMs(),
  };
}

export type { PromoteResult } from "../standby/promote";


export interface PromoteOptions {
  /** Turn the old primary cluster into a standby of the promoted one first (when it is reachable). */
  fenceOld?: boolean;
  /** Promote although the old primary is reachable and not fenced (two writable primaries). */
  yes?: boolean;
  log?: (line: string) => void;
}

/** A sandbox cluster as the promotion reaches it: its nodes through `sandbox exec`. */
function regionCluster(sb: Sandbox): RegionCluster {
  return {
    stack: sb.spec.stack,
    members: nodesOf(sb.spec, "postgres").map((n) => n.name),
    transport: sandboxTransport,
    readWrite: { host: sb.spec.serviceNames.readWrite, port: PORTS.readWrite },
  };
}

/**
 * Promotes whichever of the sandbox's two clusters follows the other (the second region's
 * normally; the first's after a fenced promotion: a failback), with the steps and guards of
 * src/standby/promote.ts run on the nodes by `pgha-standby`, as on AWS over SSM. The sandbox adds
 * what AWS does outside the nodes: the old members resolve the promoted cluster's rw name (a hosts
 * entry here, the private zone associated with the old VPC there), and the first write is timed
 * through the promoted cluster's rw endpoint, as a client sees it.
 */
export async function promoteStandby(opts: PromoteOptions = {}): Promise<PromoteResult> {
  const second = await openStandby();
  if (!second) throw new PromoteRefused("no standby cluster runs: `npx pgha sandbox up --standby` first");
  const first = readState(STATE_DIR)?.userDataHash ? await openSandbox(STATE_DIR) : undefined;
  const pair = first ? await whichFollows(regionCluster(first), regionCluster(second), 10_000) : undefined;
  const standbySb = pair && pair.standby.stack === first!.spec.stack ? first! : second;
  const oldSb = standbySb === second ? first : second;
  const spec = standbySb.spec;
  return promoteStandbyCluster({
    standby: regionCluster(standbySb),
    old: oldSb ? regionCluster(oldSb) : undefined,
    // The sandbox knows both regions: a first region whose hosts are all off answers nothing.
    yes: opts.yes || !oldSb,
    fenceOld: opts.fenceOld,
    log: opts.log,
    stateTimeoutMs: 10_000,
    beforeFence: async () => {
      const target = nodesOf(spec, "haproxy")[0] ?? nodesOf(spec, "postgres")[0];
      const address = standbySb.layout.addresses[target.name];
      for (const n of nodesOf(oldSb!.spec, "postgres")) {
        await hostExec(n.name, ["sh", "-c", `grep -q ' ${spec.serviceNames.readWrite}$' /etc/hosts || echo '${address} ${spec.serviceNames.readWrite}' >> /etc/hosts`]).catch(() => undefined);
      }
    },
    firstWrite: () =>
      until("a write through the promoted cluster's rw endpoint", 120_000, async () => {
        await standbySb.client.query("rw", "insert into pgha_promotions (stack) values ($1)", [spec.stack], { connectTimeoutMs: 2000 });
        return new Date();
      }, 250),
  });
}

/**
 * After a promotion test or benchmark: the cluster `sb` a primary that takes writes again — no
 * standby_cluster and no read-only default left by a drain (a run that stopped midway). Returns
 * whether anything had to change.
 */
export async function ensureWritablePrimary(sb: Sandbox): Promise<boolean> {
  const members = nodesOf(sb.spec, "postgres").map((n) => n.name);
  for (const m of members) {
    const config = await sb.client.rest(m, "GET", "/config").catch(() => undefined);
    if (config?.status !== 200) continue;
    const body = config.body as { standby_cluster?: unknown; postgresql?: { parameters?: Record<string, unknown> } };
    if (!body.standby_cluster && body.postgresql?.parameters?.default_transaction_read_only === undefined) return false;
    const r = await sb.client.rest(m, "PATCH", "/config", { standby_cluster: null, postgresql: { parameters: { default_transaction_read_only: null } } }, { auth: true }).catch(() => undefined);
    if (r?.status === 200) return true;
  }
  throw new Error(`no member of ${sb.spec.stack} took PATCH /config (${members.join(", ")})`);
}

/** Lines of `status` for the standby cluster. */
export function formatStandby(s: StandbyClusterStatus): string {
  const lag = s.mode === "primary" ? "promoted: a primary cluster" : s.streaming ? `streaming, ${s.lagBytes ?? "?"} bytes / ${s.lagSeconds?.toFixed(2) ?? "?"} s behind; slot ${s.slot} holds ${s.retainedBytes ?? "?"} bytes` : `NOT streaming through slot ${s.slot} (the repository copy feeds it)`;
  return [`standby cluster ${s.stack} (second region): ${lag}`, ...s.members.map((m) => `  ${m.name.padEnd(8)} ${m.role.padEnd(15)} ${m.state}`), `  endpoints: rw ${s.endpoints.readWrite} (only once promoted), ro ${s.endpoints.readOnly}`, `  between the regions: ${s.wanDelayMs ? `${s.wanDelayMs} ms each way (sandbox)` : "no added delay"}`].join("\n");
}
