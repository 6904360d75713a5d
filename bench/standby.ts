// `pgha bench standby`: the second region's promotions, as a client sees them. Each run boots the
// standby cluster (prod-dr) beside the running prod sandbox, then:
//   planned  — a write load on prod; `promote-standby --fence-old`: rows lost (must be 0), the
//              client's write outage (prod's last acknowledged write → the promoted cluster's
//              first), promote command → first write;
//   loss     — a write load on the promoted prod-dr; every host of its region powered off at once;
//              `promote-standby` of prod (which follows it): rows lost (what prod had not
//              received), power cut → first write, promote command → first write.
// The standby cluster is removed after each run; prod ends each run as the primary again.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import YAML from "yaml";
import { apply, openSandbox, up, type Sandbox } from "../src/sandbox/cluster";
import { down } from "../src/sandbox/cluster/lifecycle";
import { STANDBY_STATE_DIR } from "../src/sandbox/cluster/standby-region";
import { DEFAULT_WAN_DELAY_MS } from "../src/sandbox/wan-delay";
import { powerCut } from "../src/sandbox/hosts";
import { ensureWritablePrimary, promoteStandby } from "../src/sandbox/standby";
import { WriteLoad } from "../src/sandbox/workload";
import { replaceBetween } from "../src/config/reference";
import { describeMachine, machineInfo, type MachineInfo } from "./machine";
import { MIN_P95_SAMPLES } from "./stats";

export interface StandbyRun {
  kind: "planned" | "loss";
  acked: number;
  lost: number;
  /** planned: prod's last acknowledged write → the promoted cluster's first; loss: power cut → first write (s). */
  outageSeconds: number;
  /** The promote command (standby_cluster removed) → the first acknowledged write (s). */
  promoteToWriteSeconds: number;
  rpoBytes: number | null;
}

export interface StandbyResults {
  measuredAt: string;
  machine: MachineInfo;
  primaryStack: string;
  standbyStack: string;
  bootSeconds: number[];
  /** The sandbox's one-way delay between the regions during the runs (ms; absent: runs from before it existed, no delay). */
  wanDelayMs?: number;
  runs: StandbyRun[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function primaryDeclaring(sb: Sandbox, standbyStack: string, log: (l: string) => void): Promise<{ sb: Sandbox; restore?: string }> {
  if (sb.spec.standbyClusters.some((f) => f.stack === standbyStack)) return { sb };
  const original = sb.state.stackFile;
  const doc = YAML.parse(fs.readFileSync(original, "utf8")) as { config: Record<string, unknown> };
  doc.config["postgres-ha:standbyClusters"] = { [standbyStack]: { cidrs: ["10.21.0.0/16"] } };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-bench-standby-"));
  const file = path.join(dir, path.basename(original));
  fs.writeFileSync(file, YAML.stringify(doc));
  const r = await apply(sb, { stack: file, log });
  if (!r.rollout.ok) throw new Error(`adding standbyClusters.${standbyStack} failed: ${JSON.stringify(r.rollout.failure)}`);
  return { sb: await openSandbox(), restore: original };
}

/** Acknowledged ids of `load` missing from `table` on `sb`'s rw endpoint. */
async function lostOn(sb: Sandbox, table: string, acked: number[]): Promise<number> {
  const present = new Set((await sb.client.query<{ id: string }>("rw", `select id from ${table}`)).map((r) => Number(r.id)));
  return acked.filter((id) => !present.has(id)).length;
}

export async function runStandbyBench(opts: { runs: number; standbyStack?: string; log: (l: string) => void }): Promise<Omit<StandbyResults, "machine" | "measuredAt">> {
  const standbyStack = opts.standbyStack ?? "prod-dr";
  const { log } = opts;
  let { sb, restore } = await primaryDeclaring(await openSandbox(), standbyStack, log);
  const runs: StandbyRun[] = [];
  const bootSeconds: number[] = [];
  try {
    for (let i = 1; i <= opts.runs; i++) {
      log(`run ${i}/${opts.runs}: booting ${standbyStack}`);
      const t0 = Date.now();
      const st = await up({ stack: standbyStack, log: () => undefined });
      bootSeconds.push((Date.now() - t0) / 1000);
      // planned: writes on prod until the fence stops them.
      const planned = new WriteLoad(sb, "bench_standby_planned");
      await planned.prepare();
      planned.start();
      await sleep(3000);
      const p = await promoteStandby({ fenceOld: true, log });
      const pl = await planned.stop();
      const lastOldAck = planned.lastAckAt() ?? Date.parse(p.promotedAt);
      runs.push({
        kind: "planned",
        acked: pl.acked.length,
        lost: await lostOn(st, planned.table, pl.acked),
        outageSeconds: (Date.parse(p.firstWriteAt) - lastOldAck) / 1000,
        promoteToWriteSeconds: (Date.parse(p.firstWriteAt) - Date.parse(p.promotedAt)) / 1000,
        rpoBytes: p.rpoBytes,
      });
      // loss: writes on the promoted cluster, its region powered off, prod promoted.
      for (let t = 0; t < 120 && !(await sb.client.cluster())?.members.some((m) => m.role === "standby_leader" && m.state === "streaming"); t++) await sleep(1000);
      const lossLoad = new WriteLoad(st, "bench_standby_loss");
      await lossLoad.prepare();
      lossLoad.start();
      await sleep(3000);
      const cutAt = Date.now();
      await Promise.all(st.spec.nodes.map((n) => powerCut(n.name)));
      const ll = await lossLoad.stop();
      const l = await promoteStandby({ log });
      runs.push({
        kind: "loss",
        acked: ll.acked.length,
        lost: await lostOn(sb, lossLoad.table, ll.acked),
        outageSeconds: (Date.parse(l.firstWriteAt) - cutAt) / 1000,
        promoteToWriteSeconds: (Date.parse(l.firstWriteAt) - Date.parse(l.promotedAt)) / 1000,
        rpoBytes: l.rpoBytes,
      });
      log(`run ${i}: ${JSON.stringify(runs.slice(-2))}`);
      await down({ stateDir: STANDBY_STATE_DIR, log: () => undefined });
      sb = await openSandbox();
    }
  } finally {
    // A run that stopped midway may leave prod fenced or drained.
    if (await ensureWritablePrimary(await openSandbox()).catch(() => false)) log("prod was left following the standby cluster or drained: a primary taking writes again");
    await down({ stateDir: STANDBY_STATE_DIR, log: () => undefined }).catch(() => undefined);
    if (restore) {
      const r = await apply(await openSandbox(), { stack: restore, log });
      if (!r.rollout.ok) log(`restoring ${restore} failed: ${JSON.stringify(r.rollout.failure)}`);
    }
  }
  return { primaryStack: sb.spec.stack, standbyStack, bootSeconds, wanDelayMs: DEFAULT_WAN_DELAY_MS, runs };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export function standbyTable(r: StandbyResults): string {
  const lines = [
    `| promotion | n | rows lost (of acknowledged) | client write outage p50 / max (s) | promote → first write p50 / max (s) | p95 |`,
    `|---|---|---|---|---|---|`,
  ];
  const label = { planned: "planned, `--fence-old` (both regions up)", loss: "region lost (every host powered off)" };
  for (const kind of ["planned", "loss"] as const) {
    const runs = r.runs.filter((x) => x.kind === kind);
    if (!runs.length) continue;
    const o = runs.map((x) => x.outageSeconds);
    const w = runs.map((x) => x.promoteToWriteSeconds);
    lines.push(
      `| ${label[kind]} | ${runs.length} | ${runs.reduce((a, x) => a + x.lost, 0)} of ${runs.reduce((a, x) => a + x.acked, 0)} | ${median(o).toFixed(1)} / ${Math.max(...o).toFixed(1)} | ${median(w).toFixed(1)} / ${Math.max(...w).toFixed(1)} | ${runs.length >= MIN_P95_SAMPLES ? "see JSON" : `n<${MIN_P95_SAMPLES}`} |`,
    );
  }
  return lines.join("\n");
}

export function writeStandbyResults(outDir: string, result: Omit<StandbyResults, "machine" | "measuredAt">, loadBefore: number[]): { json: string; table: string } {
  const full: StandbyResults = { measuredAt: new Date().toISOString(), machine: machineInfo(loadBefore), ...result };
  fs.mkdirSync(outDir, { recursive: true });
  const json = path.join(outDir, "standby.json");
  fs.writeFileSync(json, `${JSON.stringify(full, null, 2)}\n`);
  return { json, table: standbyTable(full) };
}

export const STANDBY_BEGIN = "<!-- BEGIN standby table -->";
export const STANDBY_END = "<!-- END standby table -->";

/** The README's second-region figures, regenerated from bench/results/standby.json (none without it). */
export function readmeWithStandbyTable(readme: string, resultsDir: string): string {
  const file = path.join(resultsDir, "standby.json");
  if (!fs.existsSync(file) || !readme.includes(STANDBY_BEGIN)) return readme;
  const r = JSON.parse(fs.readFileSync(file, "utf8")) as StandbyResults;
  const boot = r.bootSeconds.length ? `; the standby cluster booted in ${median(r.bootSeconds).toFixed(0)} s (p50 of ${r.bootSeconds.length})` : "";
  const apart = r.wanDelayMs === undefined ? "; no delay added between the regions (the runs predate it)" : `; the regions ${r.wanDelayMs} ms apart each way (the sandbox's router)`;
  return replaceBetween(readme, STANDBY_BEGIN, STANDBY_END, `${standbyTable(r)}\n\n_measured ${r.measuredAt} on stacks ${r.primaryStack} → ${r.standbyStack}, ${describeMachine(r.machine)}; one client writing through the rw endpoint every 20 ms; the promote command issued at once${boot}${apart}_`);
}
