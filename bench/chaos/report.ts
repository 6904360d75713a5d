// The chaos soak's figures: a row per fault kind and replication mode (n, outage, time to a new
// primary, time to full recovery, how old leaders came back, writes lost, split-brain windows),
// the JSON it is made from (bench/results/chaos.json), and an SVG timeline with a lane per fault.
import * as fs from "fs";
import * as path from "path";
import { replaceBetween } from "../../src/config/reference";
import { describeMachine, machineInfo, type MachineInfo } from "../machine";
import { PERCENTILE_RULE, TOO_FEW_FOR_P95, p95OrNull, quantile } from "../stats";
import { FAULT_DESCRIPTIONS, FAULT_KINDS, type ChaosMode, type FaultKind } from "./schedule";
import type { ChaosFault, ChaosRun } from "./soak";

export const CHAOS_BEGIN = "<!-- BEGIN chaos table -->";
export const CHAOS_END = "<!-- END chaos table -->";

export interface ChaosResults extends ChaosRun {
  format: 1;
  measuredAt: string;
  machine: MachineInfo;
}

export interface ChaosSummary {
  kind: FaultKind;
  mode: ChaosMode;
  n: number;
  outageP50: number;
  outageP95: number | null;
  outageMax: number;
  /** The longest gap any one client saw in the row's faults. */
  clientOutageMax: number;
  /** Faults of the row where another member took over, and the p50 of the time it took. */
  takeovers: number;
  primaryP50: number | null;
  recoveredP50: number;
  recoveredMax: number;
  rejoin: { rewind: number; reclone: number; none: number; failed: number };
  acked: number;
  lost: number;
  splitBrain: number;
  staleReads: number;
  errors: number;
}

export function summarizeChaos(faults: ChaosFault[]): ChaosSummary[] {
  const keys: [FaultKind, ChaosMode][] = [];
  for (const mode of ["quorum", "async"] as const) for (const kind of FAULT_KINDS) if (faults.some((f) => f.kind === kind && f.mode === mode)) keys.push([kind, mode]);
  return keys.map(([kind, mode]) => {
    const fs_ = faults.filter((f) => f.kind === kind && f.mode === mode);
    const outages = fs_.map((f) => f.outageSeconds);
    const primaries = fs_.map((f) => f.primarySeconds).filter((x): x is number => x !== null);
    const rec = fs_.map((f) => f.recoveredSeconds);
    const count = (r: ChaosFault["rejoin"]) => fs_.filter((f) => f.rejoin === r).length;
    return {
      kind,
      mode,
      n: fs_.length,
      outageP50: quantile(outages, 0.5),
      outageP95: p95OrNull(outages),
      outageMax: Math.max(...outages),
      clientOutageMax: Math.max(...fs_.map((f) => f.clientOutageSeconds ?? f.outageSeconds)),
      takeovers: primaries.length,
      primaryP50: primaries.length ? quantile(primaries, 0.5) : null,
      recoveredP50: quantile(rec, 0.5),
      recoveredMax: Math.max(...rec),
      rejoin: { rewind: count("rewind"), reclone: count("reclone"), none: count("none"), failed: count("rewind failed") },
      acked: fs_.reduce((a, f) => a + f.acked, 0),
      lost: fs_.reduce((a, f) => a + f.ackedLost, 0),
      splitBrain: fs_.filter((f) => f.splitBrainMs > 0).length,
      staleReads: fs_.reduce((a, f) => a + f.staleReads, 0),
      errors: fs_.filter((f) => f.error).length,
    };
  });
}

const s1 = (x: number | null) => (x === null || Number.isNaN(x) ? "-" : x.toFixed(1));

function rejoinCell(r: ChaosSummary["rejoin"]): string {
  const parts = [r.rewind && `rewind ${r.rewind}`, r.reclone && `re-clone ${r.reclone}`, r.failed && `rewind failed ${r.failed}`, r.none && `as it was ${r.none}`].filter(Boolean);
  return parts.length ? parts.join(", ") : "-";
}

export function formatChaosTable(run: ChaosRun): string {
  const rows = summarizeChaos(run.faults);
  const head = "| replication | fault | n | write outage p50 / p95 / max (s) | one client's longest gap, max (s) | other member took over (n) · p50 (s) | all streaming again p50 / max (s) | old leader came back by | acked writes lost | split-brain windows | stale reads on rw |";
  const sep = "|---|---|---|---|---|---|---|---|---|---|---|";
  const lines = rows.map((x) => {
    const p95 = x.outageP95 === null ? TOO_FEW_FOR_P95 : s1(x.outageP95);
    const took = x.takeovers ? `${x.takeovers} · ${s1(x.primaryP50)}` : "0";
    return `| ${x.mode} | ${x.kind}${x.errors ? ` (${x.errors} not as planned)` : ""} | ${x.n} | ${s1(x.outageP50)} / ${p95} / ${s1(x.outageMax)} | ${s1(x.clientOutageMax)} | ${took} | ${s1(x.recoveredP50)} / ${s1(x.recoveredMax)} | ${rejoinCell(x.rejoin)} | ${x.lost} of ${x.acked} | ${x.splitBrain} | ${x.staleReads} |`;
  });
  const t = run.totals;
  const totals =
    `**${t.faults} faults** (seed ${run.seed}, ${run.mode}): ${t.acked} acknowledged writes from ${run.writers} clients; ` +
    `lost: **${t.lost.quorum} in quorum mode**, ${t.lost.async} in async mode (${t.lostAtEnd} missing in the final check of the whole run); ` +
    `**${t.splitBrainFaults} split-brain windows**; ${t.staleReads} stale reads on rw${t.readsOfLostWrites ? ` (and ${t.readsOfLostWrites} reads that missed only writes counted as lost)` : ""}, ${t.phantomReads} reads of unwritten values; ` +
    `${t.reads.rw} reads on rw, ${t.reads.ro} on ro; ${t.indeterminate} writes failed after being sent (not counted as acknowledged)` +
    (t.errors ? `; ${t.errors} faults not carried out as planned (see the JSON's \`error\`)` : "") + ".";
  return [[head, sep, ...lines].join("\n"), totals, `n: faults of the row. Write outage: the longest time in which no client had a write acknowledged, from the fault until every member streams again; one client's longest gap: the same for each client alone (a client whose HAProxy died waits while others write). ${PERCENTILE_RULE}`].join("\n\n");
}

/** The legend of the fault names, for the README (generated, so it cannot drift from the code). */
export function faultLegend(): string {
  return FAULT_KINDS.map((k) => `- \`${k}\`: ${FAULT_DESCRIPTIONS[k]}`).join("\n");
}

/** One soak's table, totals and measurement line. */
export function chaosRunBlock(r: ChaosResults): string {
  return `${formatChaosTable(r)}\n\n_measured ${r.measuredAt}, ${describeMachine(r.machine)}; Patroni ttl ${r.patroni.ttl} / loop_wait ${r.patroni.loopWait} / retry_timeout ${r.patroni.retryTimeout}; ${r.writers} writers through HAProxy, ${r.writePauseMs} ms pause after each write_`;
}

/** Every soak on record (chaos.json first: the one chaos.svg draws), then the legend once. */
export function chaosReadmeBlock(runs: ChaosResults | ChaosResults[]): string {
  const rs = Array.isArray(runs) ? runs : [runs];
  const title = (r: ChaosResults, i: number) => `**${i === 0 ? "The soak drawn in chaos.svg" : "An earlier soak"}: ${r.totals.faults} faults, seed ${r.seed}, ${r.mode === "both" ? "the first half in quorum mode, the second async" : `${r.mode} mode`}.**`;
  return `${rs.map((r, i) => `${title(r, i)}\n\n${chaosRunBlock(r)}`).join("\n\n")}\n\nThe faults:\n\n${faultLegend()}`;
}

/**
 * The soaks on record in a results directory: chaos.json (the newest, drawn in chaos.svg), then
 * chaos-<name>.json (earlier soaks kept for their other modes or seeds), by name.
 */
export function chaosResultFiles(resultsDir: string): string[] {
  if (!fs.existsSync(resultsDir)) return [];
  const names = fs.readdirSync(resultsDir).filter((f) => /^chaos-[a-z0-9-]+\.json$/.test(f)).sort();
  return [...(fs.existsSync(path.join(resultsDir, "chaos.json")) ? ["chaos.json"] : []), ...names].map((f) => path.join(resultsDir, f));
}

const KIND_COLORS: Record<FaultKind, string> = {
  "leader-power-cut": "#d62728", "replica-power-cut": "#ff9896", "leader-isolated": "#ff7f0e", "leader-cut-from-etcd": "#ffbb78",
  "leader-cut-from-replicas": "#bcbd22", "postmaster-kill": "#1f77b4", "patroni-kill": "#aec7e8", "etcd-member-kill": "#9467bd",
  "etcd-leader-kill": "#c5b0d5", "etcd-quorum-loss": "#8c564b", "haproxy-kill": "#e377c2", "s3-outage": "#7f7f7f",
  "replica-disk-full": "#17becf", switchover: "#2ca02c", "manual-failover": "#98df8a",
};

/**
 * A row per fault: from the fault (0 s) a bar to full recovery (light), the write outage on it
 * (dark), a tick where another member became primary; ✗ marks lost writes or a split brain.
 */
export function chaosSvg(run: ChaosRun): string {
  const rowH = 14;
  const left = 300;
  const width = 1000;
  const maxS = Math.max(30, ...run.faults.map((f) => f.recoveredSeconds));
  const x = (sec: number) => Math.round((left + ((width - left - 20) * sec) / maxS) * 10) / 10;
  const rows = run.faults.map((f, i) => {
    const y = 40 + i * rowH;
    const c = KIND_COLORS[f.kind];
    const bad = f.ackedLost > 0 || f.splitBrainMs > 0;
    return [
      `<text x="${left - 6}" y="${y + 10}" text-anchor="end" font-size="10">${f.index}. ${f.mode} · ${f.kind}${bad ? ` ✗ ${f.ackedLost} lost${f.splitBrainMs ? ", split brain" : ""}` : ""}</text>`,
      `<rect x="${left}" y="${y + 2}" width="${Math.max(1, Math.round((x(f.recoveredSeconds) - left) * 10) / 10)}" height="${rowH - 4}" fill="${c}" opacity="0.3"/>`,
      `<rect x="${left}" y="${y + 2}" width="${Math.max(1, Math.round((x(f.outageSeconds) - left) * 10) / 10)}" height="${rowH - 4}" fill="${c}"/>`,
      f.primarySeconds === null ? "" : `<line x1="${x(f.primarySeconds)}" x2="${x(f.primarySeconds)}" y1="${y}" y2="${y + rowH}" stroke="#000" stroke-width="2"/>`,
    ].join("");
  });
  const h = 60 + run.faults.length * rowH;
  const step = maxS > 120 ? 30 : 10;
  const ticks = Array.from({ length: Math.floor(maxS / step) + 1 }, (_, i) => i * step)
    .map((t) => `<line x1="${x(t)}" x2="${x(t)}" y1="32" y2="${h - 20}" stroke="#eee"/><text x="${x(t)}" y="${h - 6}" font-size="10" text-anchor="middle">${t}s</text>`)
    .join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" font-family="sans-serif">
<text x="10" y="20" font-size="13" font-weight="bold">Chaos soak, seed ${run.seed}: per fault from injection (0 s) — dark: write outage, light: until every member streams again, black tick: another member primary</text>
${ticks}
${rows.join("\n")}
</svg>
`;
}

export function readChaosResults(file: string): ChaosResults {
  const r = JSON.parse(fs.readFileSync(file, "utf8")) as ChaosResults;
  if (r.format !== 1 || !Array.isArray(r.faults)) throw new Error(`${file}: not chaos results (format 1 with faults)`);
  return r;
}

export function writeChaosResults(dir: string, run: ChaosRun, loadAverageBefore: number[]): { json: string; svg: string; table: string } {
  fs.mkdirSync(dir, { recursive: true });
  const results: ChaosResults = { format: 1, measuredAt: new Date().toISOString(), machine: machineInfo(loadAverageBefore), ...run };
  const json = path.join(dir, "chaos.json");
  const svg = path.join(dir, "chaos.svg");
  fs.writeFileSync(json, JSON.stringify(results, null, 2) + "\n");
  fs.writeFileSync(svg, chaosSvg(results));
  return { json, svg, table: formatChaosTable(results) };
}

export function readmeWithChaosTable(readme: string, resultsDir: string): string {
  const files = chaosResultFiles(resultsDir);
  if (!files.length || !readme.includes(CHAOS_BEGIN)) return readme;
  return replaceBetween(readme, CHAOS_BEGIN, CHAOS_END, chaosReadmeBlock(files.map(readChaosResults)));
}

/** bench/results/chaos.svg as chaos.json draws it (undefined without results). */
export function chaosSvgFromResults(resultsDir: string): string | undefined {
  const file = path.join(resultsDir, "chaos.json");
  return fs.existsSync(file) ? chaosSvg(readChaosResults(file)) : undefined;
}
