// `pgha bench cli`: how long a pgha command takes from the shell's point of view — process start
// to exit, through bin/pgha — running the compiled build (dist/) and running the TypeScript
// sources through ts-node (what every call did before the build existed). Offline commands only;
// no sandbox needed. Runs are interleaved (command × runtime, round after round) so a busy
// machine slows both sides alike; one unmeasured warm-up each fills the page cache. `npx pgha
// --help` shows what npm itself adds in front of bin/pgha.
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { replaceBetween } from "../src/config/reference";
import { repoPath } from "../src/repo-root";
import { describeMachine, machineInfo, type MachineInfo } from "./machine";
import { PERCENTILE_RULE, TOO_FEW_FOR_P95, p95OrNull, quantile } from "./stats";

export const CLI_RUNTIMES = ["compiled", "ts-node"] as const;
export type CliRuntime = (typeof CLI_RUNTIMES)[number];

export interface CliCase {
  name: string;
  /** pgha's arguments; {tmp} becomes a fresh scratch directory of the run. */
  args: string[];
  /** How the shell starts it: bin/pgha with node (default), or through `npx pgha`. */
  via?: "node" | "npx";
}

export const CLI_CASES: CliCase[] = [
  { name: "pgha --help", args: ["--help"] },
  { name: "pgha render --stack prod", args: ["render", "--stack", "prod", "-o", "{tmp}"] },
  { name: "pgha check --stack prod", args: ["check", "--stack", "prod"] },
  // What `sandbox status` loads before it asks the hosts anything (the hosts' answer is not the CLI's start).
  { name: "pgha sandbox status --help", args: ["sandbox", "status", "--help"] },
  // npm resolves the project's own bin through its npx cache first (seconds of its own).
  { name: "npx pgha --help", args: ["--help"], via: "npx" },
];

export interface CliRun {
  command: string;
  runtime: CliRuntime;
  ms: number;
}

export interface CliSummary {
  command: string;
  runtime: CliRuntime;
  n: number;
  p50: number;
  /** Null below MIN_P95_SAMPLES runs (stats.ts). */
  p95: number | null;
  max: number;
}

/** PGHA_RUNTIME for bin/pgha: js insists on a current build, ts always runs the sources. */
const RUNTIME_ENV: Record<CliRuntime, string> = { compiled: "js", "ts-node": "ts" };

/** Runs `pgha <args>` once; resolves with the wall time in ms, rejects with its stderr when it fails. */
function timePgha(c: CliCase, runtime: CliRuntime): Promise<number> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-bench-cli-"));
  const argv = c.args.map((a) => a.replace("{tmp}", tmp));
  const [command, ...commandArgs] = c.via === "npx" ? ["npx", "pgha", ...argv] : [process.execPath, repoPath("bin", "pgha"), ...argv];
  return new Promise<number>((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, commandArgs, {
      cwd: repoPath(),
      env: { ...process.env, PGHA_RUNTIME: RUNTIME_ENV[runtime] },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code === 0) resolve(ms);
      else reject(new Error(`${c.via === "npx" ? "npx " : ""}pgha ${argv.join(" ")} (${runtime}) exited with ${signal ?? code}:\n${stderr.trim()}`));
    });
  }).finally(() => fs.rmSync(tmp, { recursive: true, force: true }));
}

/** Builds dist/ when it does not match the sources (the compiled side would refuse to run). */
export function ensureBuild(log: (line: string) => void): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { buildState } = require(repoPath("scripts", "build-state.js")) as typeof import("../scripts/build-state");
  const state = buildState(repoPath());
  if (state.fresh) return;
  log(`dist/ does not match the sources (${state.reason}): npm run build`);
  const r = spawnSync(process.execPath, [repoPath("scripts", "build.js")], { cwd: repoPath(), stdio: ["ignore", "inherit", "inherit"] });
  if (!buildState(repoPath()).fresh) throw new Error(`the build failed (exit ${r.status}); fix it, then run the benchmark again`);
}

export async function runCliBench(opts: { runs: number; cases?: CliCase[]; runtimes?: CliRuntime[]; log: (line: string) => void }): Promise<CliRun[]> {
  const cases = opts.cases ?? CLI_CASES;
  const runtimes = opts.runtimes ?? [...CLI_RUNTIMES];
  if (runtimes.includes("compiled")) ensureBuild(opts.log);
  for (const c of cases) for (const rt of runtimes) await timePgha(c, rt); // warm-up, not counted
  const runs: CliRun[] = [];
  for (let round = 1; round <= opts.runs; round++) {
    for (const c of cases) {
      for (const runtime of runtimes) runs.push({ command: c.name, runtime, ms: await timePgha(c, runtime) });
    }
    const last = runs.slice(-cases.length * runtimes.length);
    opts.log(`round ${round}/${opts.runs}: ${last.map((r) => `${r.command} ${r.runtime} ${(r.ms / 1000).toFixed(2)} s`).join(", ")}`);
  }
  return runs;
}

export function summarizeCli(runs: CliRun[]): CliSummary[] {
  const keys = [...new Set(runs.map((r) => `${r.command}\u0000${r.runtime}`))];
  return keys.map((k) => {
    const [command, runtime] = k.split("\u0000") as [string, CliRuntime];
    const ms = runs.filter((r) => r.command === command && r.runtime === runtime).map((r) => r.ms);
    return { command, runtime, n: ms.length, p50: quantile(ms, 0.5), p95: p95OrNull(ms), max: Math.max(...ms) };
  });
}

const sec = (ms: number) => (ms / 1000).toFixed(2);

export function formatCliTable(summary: CliSummary[]): string {
  const head = "| command | runtime | n | p50 (s) | p95 (s) | max (s) | p50 vs ts-node |";
  const sep = "|---|---|---|---|---|---|---|";
  const tsP50 = (command: string) => summary.find((s) => s.command === command && s.runtime === "ts-node")?.p50;
  const rows = summary.map((x) => {
    const base = tsP50(x.command);
    const ratio = x.runtime === "ts-node" || base === undefined ? "-" : `${(base / x.p50).toFixed(1)}× faster`;
    return `| ${x.command} | ${x.runtime} | ${x.n} | ${sec(x.p50)} | ${x.p95 === null ? TOO_FEW_FOR_P95 : sec(x.p95)} | ${sec(x.max)} | ${ratio} |`;
  });
  return [head, sep, ...rows, "", `n: measured runs of the command in that runtime; ${PERCENTILE_RULE}`].join("\n");
}

export interface CliResults {
  measuredAt: string;
  machine: MachineInfo;
  /** As measured; readers recompute it from `runs` (results from before the p95 rule have p95s from any n). */
  summary: CliSummary[];
  runs: CliRun[];
}

export function writeCliResults(dir: string, runs: CliRun[], loadAverageBefore: number[]): { json: string; table: string } {
  fs.mkdirSync(dir, { recursive: true });
  const summary = summarizeCli(runs);
  const results: CliResults = {
    measuredAt: new Date().toISOString(),
    machine: machineInfo(loadAverageBefore),
    summary,
    runs,
  };
  const json = path.join(dir, "cli.json");
  fs.writeFileSync(json, JSON.stringify(results, null, 2) + "\n");
  return { json, table: formatCliTable(summary) };
}

export const CLI_BEGIN = "<!-- BEGIN cli table -->";
export const CLI_END = "<!-- END cli table -->";

/** The README with its CLI table from bench/results/cli.json (unchanged without one or without the markers). */
export function readmeWithCliTable(readme: string, resultsDir: string): string {
  const file = path.join(resultsDir, "cli.json");
  if (!fs.existsSync(file) || !readme.includes(CLI_BEGIN)) return readme;
  const r = JSON.parse(fs.readFileSync(file, "utf8")) as CliResults;
  return replaceBetween(readme, CLI_BEGIN, CLI_END, `${formatCliTable(summarizeCli(r.runs))}\n\n_measured ${r.measuredAt}, ${describeMachine(r.machine)}_`);
}
