// `pgha bench failover`: what a client sees when the leader fails, measured on the sandbox.
//
// For each timing profile (Patroni's defaults, and the stack's tuned prod profile) and each
// replication mode (async, quorum ANY 1) it runs each scenario n times (--runs, default
// FAILOVER_DEFAULT_RUNS): a power cut of the leader's host, a postmaster crash (Patroni alive), a
// network partition of the leader, and a planned switchover — all under a write load through
// HAProxy that records every acknowledged commit. Profiles and modes are applied live with the
// same day-2 path as `pulumi up` (pgha-dynamic apply). Tables print n in every row and a p95 only
// from enough runs (stats.ts).
import * as fs from "fs";
import * as path from "path";
import { dynamicConfig } from "../src/render/dynamic";
import type { ClusterSpec } from "../src/spec";
import { PATRONI_DEFAULTS } from "../src/config/defaults";
import { haproxyCheckTiming } from "../src/render/bundle/node-files";
import { nodesOf } from "../src/spec";
import { checkHealth, mainPid, switchover, type Sandbox } from "../src/sandbox/cluster";
import { hostExec, powerCut, startHost, waitForBoot } from "../src/sandbox/hosts";
import { heal, isolate } from "../src/sandbox/network";
import { WriteLoad } from "../src/sandbox/workload";
import { sleep } from "../src/sandbox/shell";
import { primaryAmong, waitUntil } from "./wait";
import { PhaseProbe, formatPhaseTable, formatPhases, type FailoverPhases } from "./failover-phases";
import { machineInfo, describeMachine, type MachineInfo } from "./machine";
import { PERCENTILE_RULE, TOO_FEW_FOR_P95, p95OrNull, quantile } from "./stats";

export type Scenario = "power-cut" | "postmaster-crash" | "partition" | "switchover";
export const SCENARIOS: Scenario[] = ["power-cut", "postmaster-crash", "partition", "switchover"];

/** Runs of each scenario when `--runs` is not given: enough for a median, not for a p95 (stats.ts). */
export const FAILOVER_DEFAULT_RUNS = 5;
/** The write load's pause after each insert (one at a time through the rw endpoint), ms. */
export const WRITE_PAUSE_MS = 10;

export interface Profile {
  name: string;
  ttl: number;
  loopWait: number;
  retryTimeout: number;
  primaryStartTimeout: number;
  /** HAProxy's downinter during the runs (absent in results before 2026-12-04: it was inter). */
  haproxyDownInterMs?: number;
  /** Run only when asked for by name (--profile): a "before" to compare a change with. */
  onRequest?: boolean;
}

export interface FailoverRun {
  profile: string;
  sync: "async" | "quorum";
  scenario: Scenario;
  run: number;
  oldLeader: string;
  newLeader: string;
  /** Fault → a member answers /primary as the new leader (or the same one, restarted), ms. */
  promotionMs: number;
  /** Longest gap between two acknowledged writes through HAProxy, ms. */
  outageMs: number;
  acked: number;
  ackedLost: number;
  /** Fault healed / host started → the old leader streams again, ms. */
  rejoinMs: number | null;
  /** HAProxy's downinter during the run, ms (absent before 2026-12-04, when it was inter). */
  haproxyDownInterMs?: number;
  /** Where the outage went: promoted, routed by HAProxy, a standby to commit with, first ack (failover-phases.ts); absent in runs before 2026-12-04 and for a postmaster crash. */
  phases?: FailoverPhases;
}

export interface FailoverBenchOptions {
  /** Runs of each scenario (FAILOVER_DEFAULT_RUNS when absent). */
  runs?: number;
  profiles?: string[];
  syncModes?: ("async" | "quorum")[];
  scenarios?: Scenario[];
  log?: (line: string) => void;
}

/**
 * Patroni's default timing, the stack's own, and — on request — the stack's with HAProxy's
 * downinter as it was before 2026-12-04 (= inter): the "before" of the rise-time change,
 * measured in the same run as the "after".
 */
export function profilesFor(spec: ClusterSpec): Profile[] {
  const hap = haproxyCheckTiming(spec.haproxy);
  const own = { ttl: spec.patroni.ttl, loopWait: spec.patroni.loopWait, retryTimeout: spec.patroni.retryTimeout, primaryStartTimeout: spec.patroni.primaryStartTimeout };
  return [
    { name: "patroni-defaults", ttl: PATRONI_DEFAULTS.ttl, loopWait: PATRONI_DEFAULTS.loopWait, retryTimeout: PATRONI_DEFAULTS.retryTimeout, primaryStartTimeout: PATRONI_DEFAULTS.primaryStartTimeout, haproxyDownInterMs: hap.downInterMs },
    { name: `${spec.stack}-profile`, ...own, haproxyDownInterMs: hap.downInterMs },
    { name: `${spec.stack}-profile-downinter-${hap.interMs}ms`, ...own, haproxyDownInterMs: hap.interMs, onRequest: true },
  ];
}

/** Sets downinter on every HAProxy node (a bench-only edit of the rendered file, undone at the end) and reloads. */
async function setHaproxyDownInter(sb: Sandbox, ms: number): Promise<void> {
  for (const lb of nodesOf(sb.spec, "haproxy")) {
    const r = await hostExec(lb.name, ["sh", "-c", `sed -i -E 's/ downinter [0-9]+ms / downinter ${ms}ms /' /etc/haproxy/pgha.cfg && grep -q ' downinter ${ms}ms ' /etc/haproxy/pgha.cfg && systemctl reload haproxy`]);
    if (r.code !== 0) throw new Error(`setting downinter ${ms}ms on ${lb.name}: ${r.stderr}`);
  }
}

async function applyProfile(sb: Sandbox, p: Profile, sync: "async" | "quorum"): Promise<void> {
  const spec: ClusterSpec = {
    ...sb.spec,
    patroni: { ...sb.spec.patroni, ttl: p.ttl, loopWait: p.loopWait, retryTimeout: p.retryTimeout, primaryStartTimeout: p.primaryStartTimeout },
    postgres: { ...sb.spec.postgres, syncMode: sync === "async" ? "off" : "quorum", syncNodeCount: 1 },
  };
  const leader = await waitUntil("a leader", () => sb.client.leader(), 120_000, 100);
  const r = await hostExec(leader, ["pgha-dynamic", "apply", "-"], { input: JSON.stringify(dynamicConfig(spec, sb.layout)) });
  if (r.code !== 0) throw new Error(`pgha-dynamic apply: ${r.stderr}`);
  await waitUntil("the new timing on every member", async () => {
    const c = await sb.client.rest(leader, "GET", "/config");
    return c.body?.ttl === p.ttl && c.body?.loop_wait === p.loopWait;
  }, 60_000, 100);
  await setHaproxyDownInter(sb, p.haproxyDownInterMs ?? haproxyCheckTiming(sb.spec.haproxy).downInterMs);
  // Patroni picks up ttl/loop_wait on its next cycle.
  await sleep(p.loopWait * 1000 + 1000);
}

async function healthy(sb: Sandbox): Promise<string> {
  const h = await waitUntil("a healthy cluster", async () => {
    const x = await checkHealth(sb);
    return x.healthy ? x : undefined;
  }, 300_000, 500);
  return h.leader!;
}

async function streaming(sb: Sandbox, member: string): Promise<boolean> {
  const c = await sb.client.cluster();
  const m = c?.members.find((x) => x.name === member);
  return Boolean(m && m.role !== "leader" && m.state === "streaming");
}

async function oneRun(sb: Sandbox, profile: Profile, sync: "async" | "quorum", scenario: Scenario, run: number, members: string[]): Promise<FailoverRun> {
  const oldLeader = await healthy(sb);
  const load = new WriteLoad(sb, "bench_failover", WRITE_PAUSE_MS);
  await load.prepare();
  load.start();
  await waitUntil("writes flowing", async () => load.ackedCount > 30, 30_000, 100);
  await sleep(1000);
  const others = members.filter((m) => m !== oldLeader);
  const t0 = Date.now();
  const probe = scenario === "postmaster-crash" ? undefined : new PhaseProbe(sb, load, t0, others, sync === "quorum");
  let newLeader = oldLeader;
  let rejoinFrom = 0;
  switch (scenario) {
    case "power-cut":
      await powerCut(oldLeader);
      newLeader = await waitUntil("a new leader", () => primaryAmong(sb, others), 180_000, 100);
      break;
    case "postmaster-crash": {
      const postmaster = mainPid(oldLeader, "postgres");
      if (!postmaster) throw new Error(`no postmaster found on ${oldLeader}`);
      process.kill(postmaster, "SIGKILL");
      // Patroni restarts it in place (within primary_start_timeout) or fails over: "promotion"
      // here is the time until a new postmaster serves as primary.
      newLeader = await waitUntil("a primary again", async () => {
        const p = await primaryAmong(sb, members);
        if (p && p !== oldLeader) return p;
        const now = mainPid(oldLeader, "postgres");
        return now && now !== postmaster && p === oldLeader ? p : undefined;
      }, 180_000, 100);
      break;
    }
    case "partition":
      await isolate(oldLeader);
      newLeader = await waitUntil("a new leader on the majority side", () => primaryAmong(sb, others), 180_000, 100);
      break;
    case "switchover":
      newLeader = (await switchover(sb)).to;
      break;
  }
  const promotionMs = Date.now() - t0;
  const promotedAt = Date.now();
  await waitUntil("writes resuming after the promotion", async () => (load.lastAckAt() ?? 0) > promotedAt, 180_000, 100);
  await sleep(2000);
  const result = await load.stop();
  const phases = await probe?.stop(result);
  const lost = await load.lost(result.acked);
  let rejoinMs: number | null = null;
  if (scenario === "power-cut") {
    rejoinFrom = Date.now();
    await startHost(oldLeader);
    await waitForBoot(oldLeader);
  } else if (scenario === "partition") {
    rejoinFrom = Date.now();
    await heal();
  } else rejoinFrom = t0;
  if (newLeader !== oldLeader) {
    await waitUntil(`${oldLeader} streaming again`, () => streaming(sb, oldLeader), 300_000, 250);
    rejoinMs = Date.now() - rejoinFrom;
  }
  return { profile: profile.name, sync, scenario, run, oldLeader, newLeader, promotionMs, outageMs: result.longestGapMs, acked: result.acked.length, ackedLost: lost.length, rejoinMs, haproxyDownInterMs: profile.haproxyDownInterMs, ...(phases ? { phases } : {}) };
}

export async function runFailoverBench(sb: Sandbox, opts: FailoverBenchOptions): Promise<FailoverRun[]> {
  const log = opts.log ?? (() => undefined);
  const n = opts.runs ?? FAILOVER_DEFAULT_RUNS;
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`runs takes a whole number ≥ 1, not ${opts.runs}`);
  const members = sb.spec.nodes.filter((n) => n.role === "postgres").map((n) => n.name);
  if (members.length < 3) throw new Error(`the failover benchmark needs 3 PostgreSQL members (stack ${sb.spec.stack} has ${members.length}); use --stack prod`);
  const known = profilesFor(sb.spec);
  const unknown = (opts.profiles ?? []).filter((n) => !known.some((p) => p.name === n));
  if (unknown.length) throw new Error(`--profile ${unknown.join(", ")}: no such profile; profiles are ${known.map((p) => p.name).join(", ")}`);
  const profiles = known.filter((p) => (opts.profiles ? opts.profiles.includes(p.name) : !p.onRequest));
  const runs: FailoverRun[] = [];
  try {
    for (const p of profiles) {
      for (const sync of opts.syncModes ?? (["async", "quorum"] as const)) {
        log(`profile ${p.name} (ttl ${p.ttl}, loop_wait ${p.loopWait}, retry_timeout ${p.retryTimeout}, primary_start_timeout ${p.primaryStartTimeout}, HAProxy downinter ${p.haproxyDownInterMs} ms), ${sync}`);
        await healthy(sb);
        await applyProfile(sb, p, sync);
        for (const scenario of opts.scenarios ?? SCENARIOS) {
          for (let i = 1; i <= n; i++) {
            const r = await oneRun(sb, p, sync, scenario, i, members);
            runs.push(r);
            log(`  ${scenario.padEnd(16)} #${i}/${n}: ${r.oldLeader}→${r.newLeader} promoted ${(r.promotionMs / 1000).toFixed(1)} s, outage ${(r.outageMs / 1000).toFixed(1)} s, lost ${r.ackedLost}/${r.acked}, rejoin ${r.rejoinMs === null ? "-" : (r.rejoinMs / 1000).toFixed(1) + " s"}${r.phases ? `; phases ${formatPhases(r.phases)}` : ""}`);
          }
        }
      }
    }
  } finally {
    await heal().catch(() => undefined);
    // Back to the rendered HAProxy timing and the stack's own dynamic configuration.
    await setHaproxyDownInter(sb, haproxyCheckTiming(sb.spec.haproxy).downInterMs).catch((e) => log(`restoring downinter: ${e.message}`));
    const leader = await sb.client.leader().catch(() => undefined);
    if (leader) await hostExec(leader, ["pgha-dynamic", "apply", "-"], { input: JSON.stringify(dynamicConfig(sb.spec, sb.layout)) });
  }
  return runs;
}

export interface Summary {
  profile: string;
  sync: string;
  scenario: Scenario;
  /** Runs of this profile, mode and scenario: every figure of the row is from these. */
  n: number;
  promotionP50: number;
  outageP50: number;
  /** Null below MIN_P95_SAMPLES runs. */
  outageP95: number | null;
  outageMax: number;
  acked: number;
  lost: number;
  /** Runs in which the old leader had to rejoin (not when Patroni restarted it in place). */
  rejoinN: number;
  rejoinP50: number | null;
}

export function summarize(runs: FailoverRun[]): Summary[] {
  const profileOrder = [...new Set(runs.map((r) => r.profile))];
  const rank = (r: FailoverRun) => profileOrder.indexOf(r.profile) * 100 + (r.sync === "async" ? 0 : 10) + SCENARIOS.indexOf(r.scenario);
  const keys = [...new Set([...runs].sort((a, b) => rank(a) - rank(b)).map((r) => `${r.profile}|${r.sync}|${r.scenario}`))];
  return keys.map((k) => {
    const rs = runs.filter((r) => `${r.profile}|${r.sync}|${r.scenario}` === k);
    const outages = rs.map((r) => r.outageMs);
    const rejoins = rs.map((r) => r.rejoinMs).filter((x): x is number => x !== null);
    return {
      profile: rs[0].profile,
      sync: rs[0].sync,
      scenario: rs[0].scenario,
      n: rs.length,
      promotionP50: quantile(rs.map((r) => r.promotionMs), 0.5),
      outageP50: quantile(outages, 0.5),
      outageP95: p95OrNull(outages),
      outageMax: Math.max(...outages),
      acked: rs.reduce((a, r) => a + r.acked, 0),
      lost: rs.reduce((a, r) => a + r.ackedLost, 0),
      rejoinN: rejoins.length,
      rejoinP50: rejoins.length ? quantile(rejoins, 0.5) : null,
    };
  });
}

const s = (ms: number | null) => (ms === null || Number.isNaN(ms) ? "-" : (ms / 1000).toFixed(1));

/** The table, the percentile rule under it, and a warning when rows have fewer runs than the default. */
export function formatTable(summary: Summary[]): string {
  const head = "| profile | replication | scenario | n | promotion p50 (s) | write outage p50 (s) | write outage p95 (s) | write outage max (s) | acked writes lost | old leader streams again p50 (s) |";
  const sep = "|---|---|---|---|---|---|---|---|---|---|";
  const rows = summary.map((x) => {
    const p95 = x.outageP95 === null ? TOO_FEW_FOR_P95 : s(x.outageP95);
    // Postmaster crashes that Patroni repaired in place have no rejoin: say from how many runs the p50 is.
    const rejoin = x.rejoinP50 === null ? "-" : x.rejoinN === x.n ? s(x.rejoinP50) : `${s(x.rejoinP50)} (n=${x.rejoinN})`;
    return `| ${x.profile} | ${x.sync} | ${x.scenario} | ${x.n} | ${s(x.promotionP50)} | ${s(x.outageP50)} | ${p95} | ${s(x.outageMax)} | ${x.lost} of ${x.acked} | ${rejoin} |`;
  });
  const few = summary.filter((x) => x.n < FAILOVER_DEFAULT_RUNS);
  const notes = [
    `n: runs of the row's scenario; ${PERCENTILE_RULE} Rejoin figures are from the runs where the old leader had to rejoin (n= says how many when not all).`,
  ];
  if (few.length) {
    const ns = [...new Set(few.map((x) => x.n))].sort((a, b) => a - b).join(", ");
    notes.push(`**${few.length} of ${summary.length} rows have fewer runs (n = ${ns}) than the benchmark's default of ${FAILOVER_DEFAULT_RUNS}: read them as single observations, not as a distribution.**`);
  }
  return [[head, sep, ...rows].join("\n"), ...notes].join("\n\n");
}

/** A horizontal bar per row: p50 write outage, whisker to the max; ttl marked per profile; n in every label. */
export function renderSvg(summary: Summary[], profiles: Profile[]): string {
  const rowH = 22;
  const left = 330;
  const width = 1000;
  const maxMs = Math.max(35_000, ...summary.map((x) => x.outageMax));
  const scale = (ms: number) => left + ((width - left - 190) * ms) / maxMs;
  const colors: Record<Scenario, string> = { "power-cut": "#d62728", partition: "#ff7f0e", "postmaster-crash": "#1f77b4", switchover: "#2ca02c" };
  const rows = summary.map((x, i) => {
    const y = 40 + i * rowH;
    const ttl = profiles.find((p) => p.name === x.profile)?.ttl;
    return [
      `<text x="${left - 8}" y="${y + 14}" text-anchor="end" font-size="12">${x.profile} · ${x.sync} · ${x.scenario}</text>`,
      `<rect x="${left}" y="${y + 3}" width="${Math.max(1, scale(x.outageP50) - left)}" height="${rowH - 8}" fill="${colors[x.scenario]}"/>`,
      `<line x1="${scale(x.outageP50)}" x2="${scale(x.outageMax)}" y1="${y + 11}" y2="${y + 11}" stroke="#333"/>`,
      `<line x1="${scale(x.outageMax)}" x2="${scale(x.outageMax)}" y1="${y + 5}" y2="${y + 17}" stroke="#333"/>`,
      ttl ? `<line x1="${scale(ttl * 1000)}" x2="${scale(ttl * 1000)}" y1="${y + 2}" y2="${y + rowH - 2}" stroke="#999" stroke-dasharray="2,2"/>` : "",
      `<text x="${scale(x.outageMax) + 6}" y="${y + 14}" font-size="11">p50 ${s(x.outageP50)} s · max ${s(x.outageMax)} s · n=${x.n}${x.lost ? ` · ${x.lost} lost` : ""}</text>`,
    ].join("");
  });
  const h = 60 + summary.length * rowH;
  const ticks = Array.from({ length: Math.floor(maxMs / 5000) + 1 }, (_, i) => i * 5000)
    .map((ms) => `<line x1="${scale(ms)}" x2="${scale(ms)}" y1="32" y2="${h - 20}" stroke="#eee"/><text x="${scale(ms)}" y="${h - 6}" font-size="10" text-anchor="middle">${ms / 1000}s</text>`)
    .join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" font-family="sans-serif">
<text x="10" y="20" font-size="14" font-weight="bold">Client-observed write outage per failure (bar: p50 of the row's n runs, whisker: max; dashed: ttl)</text>
${ticks}
${rows.join("\n")}
</svg>
`;
}

/**
 * bench/results/failover.json. Format 1 (no `format` key) had `profiles`, a `summary` whose
 * `runs` was the count and whose p95 was taken from any n, and `runs`; readers recompute the
 * summary from `runs`, so both formats read alike. Format 2 adds the machine and the load's
 * pause after each insert.
 */
export interface FailoverResults {
  format?: 2;
  measuredAt: string;
  machine?: MachineInfo;
  /** The write load's pause after each insert, ms (format 2). */
  writePauseMs?: number;
  profiles: Profile[];
  summary: unknown[];
  runs: FailoverRun[];
}

export function readFailoverResults(file: string): FailoverResults {
  const r = JSON.parse(fs.readFileSync(file, "utf8")) as FailoverResults;
  if (!Array.isArray(r.runs) || !Array.isArray(r.profiles)) throw new Error(`${file}: not failover results (no runs/profiles)`);
  return r;
}

/** The downinter a profile's runs had: "500 ms", "= inter" (runs before it was recorded), or both. */
export function downInterOf(runs: FailoverRun[]): string {
  const seen = [...new Set(runs.map((x) => (x.haproxyDownInterMs === undefined ? "= inter" : `${x.haproxyDownInterMs} ms`)))];
  return seen.length === 1 ? seen[0] : `${seen.join(" or ")} (runs of different dates)`;
}

/** The block the README shows between its failover markers: profiles, table, rule, when and where. */
export function failoverReadmeBlock(r: FailoverResults): string {
  const profiles = r.profiles
    .filter((p) => r.runs.some((x) => x.profile === p.name))
    .map((p) => `**${p.name}** (ttl ${p.ttl}, loop_wait ${p.loopWait}, retry_timeout ${p.retryTimeout}, primary_start_timeout ${p.primaryStartTimeout}, HAProxy downinter ${downInterOf(r.runs.filter((x) => x.profile === p.name))})`)
    .join("; ");
  const load = r.writePauseMs === undefined ? "" : `; write load: one insert at a time through the rw endpoint (HAProxy :5000), ${r.writePauseMs} ms pause after each`;
  const where = r.machine ? `, ${describeMachine(r.machine)}` : "";
  const phases = formatPhaseTable(r.runs);
  return `Profiles: ${profiles}.\n\n${formatTable(summarize(r.runs))}${phases ? `\n\n${phases}` : ""}\n\n_measured ${r.measuredAt}${where}${load}_`;
}

/** bench/results/failover.svg as the results draw it. */
export function failoverSvg(r: FailoverResults): string {
  return renderSvg(summarize(r.runs), r.profiles);
}

export function writeResults(dir: string, runs: FailoverRun[], profiles: Profile[], loadAverageBefore: number[]): { json: string; svg: string; table: string } {
  fs.mkdirSync(dir, { recursive: true });
  const summary = summarize(runs);
  const json = path.join(dir, "failover.json");
  const svg = path.join(dir, "failover.svg");
  const results: FailoverResults = { format: 2, measuredAt: new Date().toISOString(), machine: machineInfo(loadAverageBefore), writePauseMs: WRITE_PAUSE_MS, profiles, summary, runs };
  fs.writeFileSync(json, JSON.stringify(results, null, 2) + "\n");
  fs.writeFileSync(svg, failoverSvg(results));
  return { json, svg, table: formatTable(summary) };
}
