// Where a failover's seconds go: from the last write acknowledged before the outage to the first
// one after it, split at the moments a step completes. Sampled every PHASE_PROBE_MS from the fault:
//   promoted — a member other than the old leader (or the old one, restarted) answers GET /primary 200;
//   routed   — a read through HAProxy's rw endpoint reaches a primary that is not in recovery
//              (HAProxy marked the new leader up: `rise` checks after `downinter`);
//   standby  — the new primary has a standby it may count for a commit: pg_stat_replication shows
//              one streaming with sync_state sync/quorum (quorum and on modes; async: any streaming);
//   acked    — the write load's first acknowledged insert after the outage (= the write outage).
// All are milliseconds after the last acknowledged write before the outage (a switchover keeps
// committing for a while after the command); a step not seen before writes resumed is null.
import type { Sandbox } from "../src/sandbox/cluster";
import type { WriteLoad } from "../src/sandbox/workload";
import { sleep } from "../src/sandbox/shell";
import { primaryAmong } from "./wait";

export const PHASE_PROBE_MS = 100;

export interface FailoverPhases {
  /** Fault (or switchover command) → the last write acknowledged before the outage. */
  stoppedMs: number | null;
  promotedMs: number | null;
  routedMs: number | null;
  standbyMs: number | null;
  ackedMs: number | null;
}

export const PHASE_NAMES = ["promotedMs", "routedMs", "standbyMs", "ackedMs"] as const;
type Step = (typeof PHASE_NAMES)[number];

/** Samples the steps of one failover in the background; `stop()` returns when each was first seen. */
export class PhaseProbe {
  private readonly seen: Record<Step, number | null> = { promotedMs: null, routedMs: null, standbyMs: null, ackedMs: null };
  private running = true;
  private readonly loop: Promise<void>;
  private primary: string | undefined;

  constructor(
    private readonly sb: Sandbox,
    private readonly load: WriteLoad,
    private readonly t0: number,
    /** The members that may take over (every member but the old leader). */
    private readonly candidates: string[],
    private readonly syncRequired: boolean,
  ) {
    this.loop = this.run();
  }

  private mark(k: Step, at: number): void {
    if (this.seen[k] === null) this.seen[k] = at;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const started = Date.now();
      if (!this.primary) {
        this.primary = await primaryAmong(this.sb, this.candidates);
        if (this.primary) this.mark("promotedMs", started);
      }
      const primary = this.primary;
      if (primary) await Promise.all([this.probeRouted(primary), this.probeStandby(primary)]);
      const last = this.load.lastAckAt();
      if (last !== undefined && this.seen.promotedMs !== null && last > this.seen.promotedMs) this.mark("ackedMs", last);
      if (this.seen.ackedMs !== null && this.seen.routedMs !== null && this.seen.standbyMs !== null) break;
      await sleep(Math.max(0, PHASE_PROBE_MS - (Date.now() - started)));
    }
  }

  private async probeRouted(primary: string): Promise<void> {
    if (this.seen.routedMs !== null) return;
    const at = Date.now();
    const rows = await this.sb.client
      .query<{ addr: string; recovery: boolean }>("rw", "SELECT host(inet_server_addr()) AS addr, pg_is_in_recovery() AS recovery", [], { connectTimeoutMs: 800 })
      .catch(() => []);
    if (rows[0] && rows[0].recovery === false && rows[0].addr === this.sb.layout.addresses[primary]) this.mark("routedMs", at);
  }

  private async probeStandby(primary: string): Promise<void> {
    if (this.seen.standbyMs !== null) return;
    const at = Date.now();
    const rows = await this.sb.client
      .query<{ n: string }>(
        primary,
        `SELECT count(*) AS n FROM pg_stat_replication WHERE state = 'streaming'${this.syncRequired ? " AND sync_state IN ('sync', 'quorum')" : ""}`,
        [],
        { connectTimeoutMs: 800 },
      )
      .catch(() => []);
    if (rows[0] && Number(rows[0].n) > 0) this.mark("standbyMs", at);
  }

  /**
   * Stops sampling. `outage` is the write load's gap (last ack before it, first ack after it);
   * every step is returned relative to its start.
   */
  async stop(outage: { lastAckBeforeGap?: number; firstAckAfterGap?: number }): Promise<FailoverPhases> {
    this.running = false;
    await this.loop;
    const from = outage.lastAckBeforeGap;
    const rel = (at: number | null) => (at === null || from === undefined ? null : at - from);
    return {
      stoppedMs: from === undefined ? null : from - this.t0,
      promotedMs: rel(this.seen.promotedMs),
      routedMs: rel(this.seen.routedMs),
      standbyMs: rel(this.seen.standbyMs),
      ackedMs: outage.firstAckAfterGap === undefined ? rel(this.seen.ackedMs) : rel(outage.firstAckAfterGap),
    };
  }
}

/** "promoted 2.1 · routed 2.9 · standby 3.6 · acked 3.7 s" (– for a step not seen). */
export function formatPhases(p: FailoverPhases): string {
  const s = (ms: number | null) => (ms === null ? "–" : (ms / 1000).toFixed(1));
  return `stopped ${s(p.stoppedMs)} after the fault, then promoted ${s(p.promotedMs)} · routed ${s(p.routedMs)} · standby ${s(p.standbyMs)} · acked ${s(p.ackedMs)} s`;
}

/** What formatPhaseTable needs of a failover run (bench/failover.ts FailoverRun). */
export interface PhasedRun {
  profile: string;
  sync: string;
  scenario: string;
  phases?: FailoverPhases;
}

/**
 * "Where the outage goes": per profile, mode and scenario, the p50 of each step over the runs
 * that recorded phases (n says how many). Steps are from the last acknowledged write before the
 * outage; the standby column is quorum only (async commits wait for no standby). Empty when no
 * run has phases.
 */
export function formatPhaseTable(runs: PhasedRun[]): string {
  const phased = runs.filter((r): r is PhasedRun & { phases: FailoverPhases } => r.phases !== undefined);
  if (!phased.length) return "";
  const keys = [...new Set(phased.map((r) => `${r.profile}|${r.sync}|${r.scenario}`))];
  const p50 = (xs: (number | null)[]) => {
    const v = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
    return v.length ? v[Math.ceil(v.length / 2) - 1] : null;
  };
  // A last ack a few ms before the fault was stamped reads as −0.0: it is 0.
  const s = (ms: number | null) => (ms === null ? "-" : (Math.max(0, ms) / 1000).toFixed(1));
  const rows = keys.map((k) => {
    const rs = phased.filter((r) => `${r.profile}|${r.sync}|${r.scenario}` === k);
    const ph = rs.map((r) => r.phases);
    const after = (a: "routedMs" | "standbyMs") => p50(ph.map((x) => (x[a] === null || x.promotedMs === null ? null : x[a]! - x.promotedMs)));
    const quorum = rs[0].sync === "quorum";
    return `| ${rs[0].profile} | ${rs[0].sync} | ${rs[0].scenario} | ${rs.length} | ${s(p50(ph.map((x) => x.stoppedMs)))} | ${s(p50(ph.map((x) => x.promotedMs)))} | ${s(after("routedMs"))} | ${quorum ? s(after("standbyMs")) : "n/a"} | ${s(p50(ph.map((x) => x.ackedMs)))} |`;
  });
  return [
    "Where the outage goes (p50 over the n runs that recorded the steps; every step sampled every 100 ms):",
    "",
    "| profile | replication | scenario | n | fault → writes stop (s) | writes stop → promoted (s) | promoted → HAProxy routes to it (s) | promoted → a quorum standby streams to it (s) | writes stop → first ack = outage (s) |",
    "|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}
