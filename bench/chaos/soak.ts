// `pgha bench chaos`: a reproducible random schedule of faults under a multi-client load, each
// followed by its recovery and a wait until every member streams on the newest timeline; per
// fault, what the checker saw (checker.ts) and how long each stage took.
import { dynamicConfig } from "../../src/render/dynamic";
import type { ClusterSpec } from "../../src/spec";
import { nodesOf } from "../../src/spec";
import { checkHealth, etcdHealth, rejoinPath, waitFailsafeInactive, type RejoinPath, type Sandbox } from "../../src/sandbox/cluster";
import { hostExec, hostState, startHost, waitForBoot } from "../../src/sandbox/hosts";
import { heal } from "../../src/sandbox/network";
import { startRepositoryS3 } from "../../src/sandbox/s3";
import { sleep } from "../../src/sandbox/shell";
import { NODE_PATHS } from "../../src/node-paths";
import { ChaosChecker, firstNewPrimary, judgeStaleReads, longestClientGapMs, longestGapMs, splitBrainMs, twoPrimariesSeenMs, type CheckerOptions } from "./checker";
import { DISK_FILLER, injectFault } from "./faults";
import { waitUntil } from "../wait";
import { chaosSchedule, NEEDS_ETCD_QUORUM, seededRandom, FAULT_KINDS, type ChaosMode, type FaultKind, type ScheduleOptions } from "./schedule";

export interface ChaosFault {
  index: number;
  kind: FaultKind;
  mode: ChaosMode;
  target: string;
  startedAt: string;
  oldLeader: string;
  /** The leader once the cluster had recovered (may be the old one). */
  leaderAfter: string;
  /** The first other member seen as a writable primary (probes), or null. */
  newPrimary: string | null;
  /** Fault → that member writable, s (null: no other member took over). */
  primarySeconds: number | null;
  /** The longest time without any acknowledged write, from the fault until recovery, s. */
  outageSeconds: number;
  /** The longest gap one client saw between its own acknowledgements, s. */
  clientOutageSeconds: number;
  /** Fault → every member streaming on the newest timeline again (after the fault's own undo), s. */
  recoveredSeconds: number;
  /** How the old leader came back when another member took over (Patroni's log); null otherwise. */
  rejoin: RejoinPath | null;
  acked: number;
  ackedLost: number;
  /** Two servers acknowledging writes as primaries at once (overlap, ms; 0 = none). */
  splitBrainMs: number;
  /** Probes that saw two writable primaries at once (ms): a demoting primary may answer so briefly without acknowledging anything. */
  twoPrimariesSeenMs: number;
  /** Reads on rw that missed an acknowledged write which is there (a bug in any mode). */
  staleReads: number;
  /** Reads on rw that missed only acknowledged writes counted as lost (the loss seen again, not counted twice). */
  readsOfLostWrites: number;
  /** The timeline every member streams on after recovery. */
  timeline: number;
  /** The fault could not be carried out as planned (the soak repaired and went on). */
  error?: string;
}

export interface ChaosTotals {
  faults: number;
  acked: number;
  /** Acknowledged writes missing, per mode, counted fault by fault. */
  lost: Record<ChaosMode, number>;
  /** Acknowledged writes missing at the end (the whole run checked once more). */
  lostAtEnd: number;
  splitBrainFaults: number;
  /** Reads on rw older than an acknowledged write that is there at the end. */
  staleReads: number;
  /** Reads on rw that missed only acknowledged writes counted as lost. */
  readsOfLostWrites: number;
  phantomReads: number;
  indeterminate: number;
  reads: { rw: number; ro: number; rwFailed: number; roFailed: number };
  errors: number;
}

export interface ChaosRun {
  seed: number;
  mode: ChaosMode | "both";
  writers: number;
  writePauseMs: number;
  patroni: { ttl: number; loopWait: number; retryTimeout: number };
  faults: ChaosFault[];
  totals: ChaosTotals;
}

export interface ChaosOptions extends Omit<ScheduleOptions, "kinds"> {
  kinds?: FaultKind[];
  checker?: CheckerOptions;
  log?: (line: string) => void;
  /** Stop at the first fault whose recovery fails (default: repair and go on). */
  failFast?: boolean;
}

/** Faults the stack can take: etcd faults need three members, the rest three PostgreSQL members. */
export function kindsFor(spec: ClusterSpec, wanted?: FaultKind[]): { kinds: FaultKind[]; problems: string[] } {
  const problems: string[] = [];
  const pg = nodesOf(spec, "postgres").length;
  if (pg < 3) problems.push(`the chaos soak needs 3 PostgreSQL members (stack ${spec.stack} has ${pg}); use --stack prod`);
  const etcd = nodesOf(spec, "etcd").length;
  const kinds: FaultKind[] = [];
  for (const k of wanted ?? FAULT_KINDS) {
    if (etcd >= 3 || !NEEDS_ETCD_QUORUM.includes(k)) kinds.push(k);
    else if (wanted) problems.push(`--fault ${k} needs 3 etcd members (stack ${spec.stack} has ${etcd})`);
  }
  return { kinds, problems };
}

async function sql(host: string, q: string): Promise<string> {
  const r = await hostExec(host, ["psql", "-h", NODE_PATHS.socketDir, "-XAtq", "-c", q], { user: "postgres", timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`${host}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** Healthy, every replica streaming the leader's current timeline, etcd whole, no failsafe state. */
export async function waitRecovered(sb: Sandbox, timeoutMs = 300_000): Promise<{ leader: string; timeline: number }> {
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1000, deadline - Date.now());
  const leader = await waitUntil("a healthy cluster", async () => {
    const h = await checkHealth(sb);
    if (!h.healthy) throw new Error(h.reasons.join("; "));
    return h.leader;
  }, left(), 500);
  const timeline = parseInt(await sql(leader, "select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)"), 16);
  for (const m of nodesOf(sb.spec, "postgres").map((n) => n.name).filter((x) => x !== leader)) {
    await waitUntil(`${m} streaming timeline ${timeline}`, async () => (await sql(m, "select status || ' ' || received_tli from pg_stat_wal_receiver")) === `streaming ${timeline}`, left(), 500);
  }
  await waitUntil("every etcd member healthy", async () => {
    const bad = (await etcdHealth(sb)).filter((e) => !e.healthy).map((e) => e.name);
    if (bad.length) throw new Error(`etcd ${bad.join(", ")} not healthy`);
    return true;
  }, left(), 500);
  for (const h of nodesOf(sb.spec, "haproxy")) await waitUntil(`${h} running`, async () => (await hostState(h.name)) === "running", left(), 500);
  await waitFailsafeInactive(sb, left());
  return { leader, timeline };
}

/** Undoes whatever a failed fault may have left: partitions, stopped hosts, S3, a disk filler. */
export async function repairAll(sb: Sandbox): Promise<void> {
  await heal().catch(() => undefined);
  for (const n of sb.spec.nodes) {
    if ((await hostState(n.name).catch(() => "running")) !== "stopped") continue;
    await startHost(n.name);
    await waitForBoot(n.name);
  }
  await startRepositoryS3(sb.stateDir, sb.spec);
  for (const m of nodesOf(sb.spec, "postgres")) await hostExec(m.name, ["rm", "-f", DISK_FILLER, `${DISK_FILLER}.tail`], { user: "root", timeoutMs: 30_000 }).catch(() => undefined);
}

/** The stack's dynamic configuration with quorum (ANY n) or asynchronous replication, applied live. */
export async function applyMode(sb: Sandbox, mode: ChaosMode | "stack"): Promise<void> {
  const spec: ClusterSpec = mode === "stack" ? sb.spec : {
    ...sb.spec,
    postgres: { ...sb.spec.postgres, syncMode: mode === "async" ? "off" : "quorum", syncNodeCount: Math.max(1, sb.spec.postgres.syncNodeCount) },
  };
  const leader = await waitUntil("a leader", () => sb.client.leader(), 120_000, 500);
  const r = await hostExec(leader, ["pgha-dynamic", "apply", "-"], { input: JSON.stringify(dynamicConfig(spec, sb.layout)), timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`pgha-dynamic apply: ${r.stderr}`);
  const want = mode === "async" ? "off" : mode === "quorum" ? "quorum" : undefined;
  await waitUntil(`synchronous_mode ${want ?? "of the stack"}`, async () => {
    const c = await sb.client.rest(leader, "GET", "/config");
    const sm = c.body?.synchronous_mode;
    const now = sm === "quorum" ? "quorum" : sm === true || sm === "on" ? "on" : "off";
    return want ? now === want : true;
  }, 60_000, 500);
  await sleep((sb.spec.patroni.loopWait + 1) * 1000);
}

export async function runChaos(sb: Sandbox, o: ChaosOptions): Promise<ChaosRun> {
  const log = o.log ?? (() => undefined);
  const { kinds, problems } = kindsFor(sb.spec, o.kinds);
  if (problems.length) throw new Error(problems.join("\n"));
  const schedule = chaosSchedule({ faults: o.faults, seed: o.seed, mode: o.mode, kinds });
  // Targets come from a second stream of the same seed: the schedule does not shift when a fault
  // draws more or fewer targets.
  const rand = seededRandom((o.seed ^ 0x9e3779b9) >>> 0);
  const checker = new ChaosChecker(sb, o.checker);
  const faults: ChaosFault[] = [];
  log(`chaos: ${schedule.length} faults, seed ${o.seed}, mode ${o.mode}, ${checker.writers} writers (${checker.pauseMs} ms pause), readers on rw and ro, probes every 250 ms`);
  await repairAll(sb);
  await waitRecovered(sb);
  await checker.prepare();
  checker.start();
  let mode: ChaosMode | undefined;
  /** Every acknowledged write found missing so far (a stale read that misses only these is the loss again). */
  const lostSoFar: { client: number; seq: number }[] = [];
  try {
    for (const f of schedule) {
      if (f.mode !== mode) {
        log(`replication: ${f.mode}`);
        await applyMode(sb, f.mode);
        mode = f.mode;
        await waitRecovered(sb);
      }
      const before = await waitRecovered(sb);
      const flowing = Date.now();
      await waitUntil("writes flowing", async () => checker.lastAckAt() > flowing, 60_000, 100);
      const t0 = Date.now();
      let target = "";
      let error: string | undefined;
      try {
        const injected = await injectFault(f.kind, { sb, rand, checker, leader: before.leader, log });
        target = injected.target;
        await injected.recover();
      } catch (e) {
        error = (e as Error).message.split("\n")[0];
        log(`  fault ${f.index} ${f.kind}: ${error}; repairing`);
        await repairAll(sb);
      }
      let after: { leader: string; timeline: number };
      try {
        after = await waitRecovered(sb);
      } catch (e) {
        if (o.failFast) throw e;
        error = `${error ? `${error}; ` : ""}not recovered: ${(e as Error).message.split("\n")[0]}`;
        await repairAll(sb);
        after = await waitRecovered(sb);
      }
      const t1 = Date.now();
      const acks = checker.takeAcks();
      const lost = await checker.missing(acks);
      lostSoFar.push(...lost);
      const reads = judgeStaleReads(checker.staleReads.filter((x) => x.at >= t0 && x.at <= t1), checker.ackedSeqs, lostSoFar);
      const np = firstNewPrimary(checker.probes, before.leader, t0);
      const changed = Boolean(np) || after.leader !== before.leader;
      const rec: ChaosFault = {
        index: f.index,
        kind: f.kind,
        mode: f.mode,
        target: target || "?",
        startedAt: new Date(t0).toISOString(),
        oldLeader: before.leader,
        leaderAfter: after.leader,
        newPrimary: np?.member ?? null,
        primarySeconds: np ? (np.at - t0) / 1000 : null,
        outageSeconds: longestGapMs(acks, t0, t1) / 1000,
        clientOutageSeconds: longestClientGapMs(acks, t0, t1, checker.writers) / 1000,
        recoveredSeconds: (t1 - t0) / 1000,
        rejoin: changed ? await rejoinPath(before.leader, t0).catch(() => null) : null,
        acked: acks.length,
        ackedLost: lost.length,
        splitBrainMs: splitBrainMs(acks),
        twoPrimariesSeenMs: twoPrimariesSeenMs(checker.probes, t0, t1),
        staleReads: reads.stale.length,
        readsOfLostWrites: reads.ofLostWrites.length,
        timeline: after.timeline,
        ...(error ? { error } : {}),
      };
      checker.probes.splice(0, checker.probes.length - 8);
      faults.push(rec);
      const s = (x: number | null) => (x === null ? "-" : `${x.toFixed(1)} s`);
      log(`  ${String(f.index).padStart(3)} ${f.mode.padEnd(6)} ${f.kind.padEnd(24)} ${rec.target.padEnd(12)} outage ${s(rec.outageSeconds)} (one client ${s(rec.clientOutageSeconds)}), new primary ${rec.newPrimary ?? "-"} ${s(rec.primarySeconds)}, recovered ${s(rec.recoveredSeconds)}, rejoin ${rec.rejoin ?? "-"}, TL ${rec.timeline}, lost ${rec.ackedLost}/${rec.acked}${rec.splitBrainMs ? `, SPLIT BRAIN ${rec.splitBrainMs} ms` : ""}${rec.staleReads ? `, ${rec.staleReads} STALE READS` : ""}${rec.readsOfLostWrites ? `, ${rec.readsOfLostWrites} reads missing only lost writes` : ""}${error ? ` [${error}]` : ""}`);
    }
  } finally {
    await checker.stop();
    await repairAll(sb).catch(() => undefined);
    await applyMode(sb, "stack").catch((e) => log(`could not restore the stack's dynamic configuration: ${(e as Error).message}`));
  }
  const missingAtEnd = await checker.missingOfAll();
  const lostAtEnd = missingAtEnd.length;
  const allReads = judgeStaleReads(checker.staleReads, checker.ackedSeqs, missingAtEnd);
  const byMode = (m: ChaosMode) => faults.filter((f) => f.mode === m).reduce((a, f) => a + f.ackedLost, 0);
  return {
    seed: o.seed,
    mode: o.mode,
    writers: checker.writers,
    writePauseMs: checker.pauseMs,
    patroni: { ttl: sb.spec.patroni.ttl, loopWait: sb.spec.patroni.loopWait, retryTimeout: sb.spec.patroni.retryTimeout },
    faults,
    totals: {
      faults: faults.length,
      acked: faults.reduce((a, f) => a + f.acked, 0),
      lost: { quorum: byMode("quorum"), async: byMode("async") },
      lostAtEnd,
      splitBrainFaults: faults.filter((f) => f.splitBrainMs > 0).length,
      staleReads: allReads.stale.length,
      readsOfLostWrites: allReads.ofLostWrites.length,
      phantomReads: checker.phantomReads,
      indeterminate: checker.indeterminate,
      reads: { ...checker.reads },
      errors: faults.filter((f) => f.error).length,
    },
  };
}
