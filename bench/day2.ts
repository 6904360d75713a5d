// `pgha bench day2`: the day-2 operations on the running sandbox, on a ≥ 1 GB pgbench dataset,
// each under a write load through the rw endpoint that records every acknowledged commit:
//
//  1. scale out (postgres.nodes + 1, `sandbox apply`): the time from the new host's boot to a
//     streaming member — it clones from the repository's full backup, taken just before;
//  2. rolling restart of every PostgreSQL member (`pgha restart`: replicas one at a time, one
//     switchover, the old leader last): its duration and the write gap;
//  3. scale in (back to the stack's count, the new member removed through `pgha-node leave`).
//
// Each step reports the longest gap between two acknowledged writes, the failed statements and
// the acknowledged writes that are missing afterwards (must be 0). The sandbox ends with the
// stack file it was started with.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import YAML from "yaml";
import { replaceBetween } from "../src/config/reference";
import { NODE_PATHS } from "../src/node-paths";
import { runRestart } from "../src/rollout/restart";
import { apply, openSandbox, sandboxTransport, type Sandbox } from "../src/sandbox/cluster";
import { hostExec } from "../src/sandbox/hosts";
import { backup } from "../src/sandbox/restore";
import { WriteLoad, type WriteLoadResult } from "../src/sandbox/workload";
import { nodesOf } from "../src/spec";
import { describeMachine, machineInfo, type MachineInfo } from "./machine";
import { quantile } from "./stats";

export const DAY2_STEPS = ["scale out", "rolling restart", "scale in"] as const;
export type Day2StepName = (typeof DAY2_STEPS)[number];

export interface Day2Step {
  step: Day2StepName;
  run: number;
  /** What the step took: scale out, boot → streaming; the others, the whole operation (s). */
  seconds: number;
  /** Longest time between two acknowledged writes during the step (s). */
  writeGapSeconds: number;
  failedStatements: number;
  ackedWrites: number;
  /** Acknowledged writes missing from the table afterwards. */
  lostWrites: number;
  detail: string;
}

export interface Day2Results {
  measuredAt: string;
  machine: MachineInfo;
  stack: string;
  pgbenchScale: number;
  /** pg_database_size of the pgbench database when the runs began. */
  datasetBytes: number;
  /** Members before the scale out. */
  members: number;
  /** The writer's pause between two inserts (ms; WriteLoad's default). */
  writeIntervalMs?: number;
  steps: Day2Step[];
}

const sh = async (node: string, cmd: string, timeoutMs = 600_000) => {
  const r = await hostExec(node, ["bash", "-c", cmd], { timeoutMs });
  if (r.code !== 0) throw new Error(`${node}: ${cmd}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout.trim();
};

/** The stack file with postgres.nodes set to `count`, written beside the scratch files. */
function stackFileWithMembers(original: string, count: number, dir: string): string {
  const doc = YAML.parse(fs.readFileSync(original, "utf8")) as { config: Record<string, any> };
  doc.config["postgres-ha:postgres"] = { ...(doc.config["postgres-ha:postgres"] ?? {}), nodes: count };
  const file = path.join(dir, path.basename(original));
  fs.writeFileSync(file, YAML.stringify(doc));
  return file;
}

async function measured(sb: Sandbox, table: string, body: () => Promise<{ seconds: number; detail: string }>): Promise<Omit<Day2Step, "step" | "run">> {
  const load = new WriteLoad(sb, table);
  await load.prepare();
  load.start();
  let result: WriteLoadResult;
  let out: { seconds: number; detail: string };
  try {
    out = await body();
  } finally {
    result = await load.stop();
  }
  const sbNow = await openSandbox();
  const lost = await new WriteLoad(sbNow, table).lost(result.acked);
  return { seconds: out.seconds, detail: out.detail, writeGapSeconds: result.longestGapMs / 1000, failedStatements: result.errors, ackedWrites: result.acked.length, lostWrites: lost.length };
}

export async function runDay2Bench(opts: { scale: number; runs: number; log: (l: string) => void }): Promise<Omit<Day2Results, "measuredAt" | "machine">> {
  const { log } = opts;
  let sb = await openSandbox();
  const original = sb.state.stackFile;
  const members = nodesOf(sb.spec, "postgres").length;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-bench-day2-"));
  const leader = await sb.client.leader();
  if (!leader) throw new Error("the sandbox has no leader: npx pgha sandbox status");
  log(`dataset: pgbench -i -s ${opts.scale} in database bench on ${leader}`);
  await sh(leader, `runuser -u postgres -- psql -h ${NODE_PATHS.socketDir} -XAtqc "select 1 from pg_database where datname = 'bench'" | grep -q 1 || runuser -u postgres -- createdb -h ${NODE_PATHS.socketDir} bench`);
  await sh(leader, `runuser -u postgres -- pgbench -h ${NODE_PATHS.socketDir} -i -q -s ${opts.scale} --no-vacuum bench 2>&1 | tail -1`, 1_800_000);
  const datasetBytes = Number(await sh(leader, `runuser -u postgres -- psql -h ${NODE_PATHS.socketDir} -XAtqc "select pg_database_size('bench')"`));
  const steps: Day2Step[] = [];
  try {
    for (let run = 1; run <= opts.runs; run++) {
      log(`run ${run}/${opts.runs}: a full backup first, so the new member clones from the repository`);
      await backup(sb, "full");
      const added = `db${members + 1}`;
      const out = await measured(sb, "bench_day2_out", async () => {
        const r = await apply(await openSandbox(), { stack: stackFileWithMembers(original, members + 1, scratch), log });
        if (!r.rollout.ok || !r.membership?.readyAfter[added]) throw new Error(`the scale out did not bring ${added} to streaming: ${r.rollout.failure?.message ?? "no membership change"}`);
        return { seconds: r.membership.readyAfter[added], detail: `${members} → ${members + 1}: ${added} streaming after its boot began` };
      });
      steps.push({ step: "scale out", run, ...out });
      log(`scale out: ${added} streaming ${out.seconds.toFixed(1)} s after its boot; write gap ${out.writeGapSeconds.toFixed(1)} s`);

      sb = await openSandbox();
      const restart = await measured(sb, "bench_day2_restart", async () => {
        const started = Date.now();
        const r = await runRestart({ transport: sandboxTransport, nodes: nodesOf(sb.spec, "postgres").map((n) => ({ name: n.name, role: n.role })), log });
        if (!r.ok) throw new Error(`the rolling restart stopped at ${r.failure?.node}: ${r.failure?.message}`);
        return { seconds: (Date.now() - started) / 1000, detail: `${r.order.length} members, ${r.switchovers} switchover(s)` };
      });
      steps.push({ step: "rolling restart", run, ...restart });
      log(`rolling restart: ${restart.seconds.toFixed(1)} s, write gap ${restart.writeGapSeconds.toFixed(1)} s`);

      sb = await openSandbox();
      const back = await measured(sb, "bench_day2_in", async () => {
        const started = Date.now();
        const r = await apply(await openSandbox(), { stack: original, log });
        if (!r.rollout.ok) throw new Error(`the scale in stopped: ${r.rollout.failure?.message}`);
        return { seconds: (Date.now() - started) / 1000, detail: `${members + 1} → ${members}: ${added} left${r.membership?.handedOver ? ` (it led: handed over to ${r.membership.handedOver.to})` : ""}` };
      });
      steps.push({ step: "scale in", run, ...back });
      log(`scale in: ${back.seconds.toFixed(1)} s, write gap ${back.writeGapSeconds.toFixed(1)} s`);
      sb = await openSandbox();
    }
  } finally {
    sb = await openSandbox();
    if (path.resolve(sb.state.stackFile) !== path.resolve(original)) await apply(sb, { stack: original, log });
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  return { stack: sb.state.stack, pgbenchScale: opts.scale, datasetBytes, members, writeIntervalMs: WriteLoad.DEFAULT_INTERVAL_MS, steps };
}

const s1 = (x: number) => x.toFixed(1);

export function formatDay2Table(r: Pick<Day2Results, "steps" | "pgbenchScale" | "datasetBytes" | "members" | "writeIntervalMs">): string {
  const head = "| operation | n | time p50 (s) | time max (s) | longest write gap max (s) | failed statements (sum) | acknowledged writes (sum) | lost |";
  const sep = "|---|---|---|---|---|---|---|---|";
  const rows = DAY2_STEPS.filter((name) => r.steps.some((s) => s.step === name)).map((name) => {
    const xs = r.steps.filter((s) => s.step === name);
    const sum = (f: (s: Day2Step) => number) => xs.reduce((a, s) => a + f(s), 0);
    const what = name === "scale out" ? `scale out ${r.members} → ${r.members + 1} (boot → streaming, cloned from the repository)` : name === "rolling restart" ? `rolling restart, ${xs[0].detail}` : `scale in ${r.members + 1} → ${r.members} (pgha-node leave)`;
    return `| ${what} | ${xs.length} | ${s1(quantile(xs.map((s) => s.seconds), 0.5))} | ${s1(Math.max(...xs.map((s) => s.seconds)))} | ${s1(Math.max(...xs.map((s) => s.writeGapSeconds)))} | ${sum((s) => s.failedStatements)} | ${sum((s) => s.ackedWrites)} | ${sum((s) => s.lostWrites)} |`;
  });
  return [head, sep, ...rows, "", `pgbench scale ${r.pgbenchScale} (${(r.datasetBytes / 2 ** 30).toFixed(2)} GiB database); n: runs; one writer committing through rw during each operation${r.writeIntervalMs ? `, pausing ${r.writeIntervalMs} ms between inserts` : ""}`].join("\n");
}

export function writeDay2Results(dir: string, r: Omit<Day2Results, "measuredAt" | "machine">, loadAverageBefore: number[]): { json: string; table: string } {
  fs.mkdirSync(dir, { recursive: true });
  const results: Day2Results = { measuredAt: new Date().toISOString(), machine: machineInfo(loadAverageBefore), ...r };
  const json = path.join(dir, "day2.json");
  fs.writeFileSync(json, JSON.stringify(results, null, 2) + "\n");
  return { json, table: formatDay2Table(results) };
}

export const DAY2_BEGIN = "<!-- BEGIN day2 table -->";
export const DAY2_END = "<!-- END day2 table -->";

export function readDay2Results(file: string): Day2Results {
  return JSON.parse(fs.readFileSync(file, "utf8")) as Day2Results;
}

export function day2ReadmeBlock(r: Day2Results): string {
  return `${formatDay2Table(r)}\n\n_measured ${r.measuredAt} on stack ${r.stack}, ${describeMachine(r.machine)}_`;
}

/** The README with its day-2 table from bench/results/day2.json (unchanged without one or without the markers). */
export function readmeWithDay2Table(readme: string, resultsDir: string): string {
  const file = path.join(resultsDir, "day2.json");
  if (!fs.existsSync(file) || !readme.includes(DAY2_BEGIN)) return readme;
  return replaceBetween(readme, DAY2_BEGIN, DAY2_END, day2ReadmeBlock(readDay2Results(file)));
}
