// `pgha bench …`: measurements on the sandbox that print tables and write JSON (and an SVG). The
// benchmarks register their own commands here; src/cli/main.ts only mounts them.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Command } from "commander";
import { openSandbox } from "../src/sandbox/cluster";
import { FAILOVER_DEFAULT_RUNS, runFailoverBench, writeResults, profilesFor, SCENARIOS, type FailoverRun, type Scenario } from "./failover";
import { runBackupBench, writeBackupResults } from "./backup";
import { runDay2Bench, writeDay2Results } from "./day2";
import { runPoolingBench, writePoolingResults } from "./pooling";
import { runStandbyBench, writeStandbyResults } from "./standby";
import { failoverSvgFromResults, readmeWithBenchTables } from "./readme";
import { MIN_P95_SAMPLES } from "./stats";
import { CLI_CASES, CLI_RUNTIMES, readmeWithCliTable, runCliBench, writeCliResults, type CliRuntime } from "./cli";
import { PROJECT_ROOT } from "../src/config/stack-file";
import { CHAOS_MODES, FAULT_KINDS, scheduleProblems, type ChaosMode, type FaultKind } from "./chaos/schedule";
import { runChaos } from "./chaos/soak";
import { chaosSvgFromResults, readmeWithChaosTable, writeChaosResults } from "./chaos/report";
import { CHAOS_WRITERS, CHAOS_WRITE_PAUSE_MS } from "./chaos/checker";

const log = (l: string) => process.stderr.write(`[bench] ${l}\n`);

export function registerBenchCommands(program: Command): void {
  const bench = program.command("bench").description("benchmarks: failover, backup, day2 and pooling on the running sandbox (npm run sandbox first), cli offline");

  bench
    .command("failover")
    .description("power cut, postmaster crash, partition and switchover under write load, per timing profile and replication mode")
    .option("--runs <n>", `repetitions of each scenario (tables print n; a p95 needs n ≥ ${MIN_P95_SAMPLES})`, String(FAILOVER_DEFAULT_RUNS))
    .option("--profile <names...>", "patroni-defaults, <stack>-profile (the default: both) and/or <stack>-profile-downinter-<inter>ms (HAProxy's downinter as before 2026-12-04, for a before/after)")
    .option("--sync <modes...>", "async and/or quorum (default both)")
    .option("--scenario <names...>", `a subset of ${SCENARIOS.join(", ")}`)
    .option("--out <dir>", "where failover.json and failover.svg go", path.join(PROJECT_ROOT, "bench/results"))
    .option("--merge", "keep the runs of other profile/mode/scenario combinations already in failover.json")
    .action(async (opts: { runs: string; profile?: string[]; sync?: ("async" | "quorum")[]; scenario?: Scenario[]; out: string; merge?: boolean }) => {
      if (!(Number.isInteger(Number(opts.runs)) && Number(opts.runs) >= 1)) throw new Error(`--runs takes a whole number ≥ 1, not ${opts.runs}`);
      const loadBefore = os.loadavg();
      const sb = await openSandbox();
      let runs = await runFailoverBench(sb, { runs: Number(opts.runs), profiles: opts.profile, syncModes: opts.sync, scenarios: opts.scenario, log });
      const existing = path.join(opts.out, "failover.json");
      if (opts.merge && fs.existsSync(existing)) {
        const key = (r: FailoverRun) => `${r.profile}|${r.sync}|${r.scenario}`;
        const fresh = new Set(runs.map(key));
        const old = (JSON.parse(fs.readFileSync(existing, "utf8")).runs as FailoverRun[]).filter((r) => !fresh.has(key(r)));
        runs = [...old, ...runs];
      }
      const r = writeResults(opts.out, runs, profilesFor(sb.spec), loadBefore);
      process.stdout.write(`${r.table}\n\nJSON: ${path.relative(process.cwd(), r.json)}\nSVG:  ${path.relative(process.cwd(), r.svg)}\n`);
    });

  bench
    .command("backup")
    .description("pgBackRest vs pg_basebackup -Ft -z on a ≥ 1 GB pgbench dataset, and a PITR restore")
    .option("--scale <n>", "pgbench scale (70 ≈ 1.05 GB)", "70")
    .option("--out <dir>", "where backup.json goes", path.join(PROJECT_ROOT, "bench/results"))
    .action(async (opts: { scale: string; out: string }) => {
      const loadBefore = os.loadavg();
      const sb = await openSandbox();
      const result = await runBackupBench(sb, { scale: Number(opts.scale), log });
      const r = writeBackupResults(opts.out, result, Number(opts.scale), loadBefore);
      process.stdout.write(`${r.table}\n\nJSON: ${path.relative(process.cwd(), r.json)}\n`);
    });

  bench
    .command("day2")
    .description("scale out (time to a streaming member, cloned from the repository), rolling restart and scale in, each under write load, on a ≥ 1 GB pgbench dataset")
    .option("--scale <n>", "pgbench scale (70 ≈ 1.05 GB)", "70")
    .option("--runs <n>", "repetitions of the three operations", "1")
    .option("--out <dir>", "where day2.json goes", path.join(PROJECT_ROOT, "bench/results"))
    .action(async (opts: { scale: string; runs: string; out: string }) => {
      if (!(Number.isInteger(Number(opts.runs)) && Number(opts.runs) >= 1)) throw new Error(`--runs takes a whole number ≥ 1, not ${opts.runs}`);
      if (!(Number.isInteger(Number(opts.scale)) && Number(opts.scale) >= 1)) throw new Error(`--scale takes a whole number ≥ 1, not ${opts.scale}`);
      const loadBefore = os.loadavg();
      const result = await runDay2Bench({ scale: Number(opts.scale), runs: Number(opts.runs), log });
      const r = writeDay2Results(opts.out, result, loadBefore);
      process.stdout.write(`${r.table}\n\nJSON: ${path.relative(process.cwd(), r.json)}\n`);
    });

  bench
    .command("standby")
    .description("the second region (npx pgha sandbox up first): per run, boot the standby cluster, a planned promotion with --fence-old under writes on the primary, then the promoted region powered off under writes and the old primary promoted back; rows lost, client write outage, promote → first write")
    .option("--runs <n>", "runs (each boots the standby cluster: about 4 minutes)", "3")
    .option("--standby-stack <stack>", "the standby stack", "prod-dr")
    .option("--out <dir>", "where standby.json goes", path.join(PROJECT_ROOT, "bench/results"))
    .action(async (opts: { runs: string; standbyStack: string; out: string }) => {
      const runs = Number(opts.runs);
      if (!(Number.isInteger(runs) && runs >= 1)) throw new Error(`--runs takes a whole number ≥ 1, not ${opts.runs}`);
      const loadBefore = os.loadavg();
      const result = await runStandbyBench({ runs, standbyStack: opts.standbyStack, log });
      const r = writeStandbyResults(opts.out, result, loadBefore);
      process.stdout.write(`${r.table}\n\nJSON: ${path.relative(process.cwd(), r.json)}\n`);
    });

  bench
    .command("pooling")
    .description("direct (:5000) against pooled (:6432, PgBouncer) as the stack's application role: a new connection per transaction (pgbench -C), and the most concurrent clients each path sustains")
    .option("--runs <n>", "repetitions of the pgbench -C comparison", "3")
    .option("--seconds <n>", "duration of each pgbench -C run", "15")
    .option("--clients <n>", "pgbench -C clients", "8")
    .option("--ceiling <counts>", "client counts tried for the ceiling, comma-separated", "50,80,100,200,500,1000,2000")
    .option("--ceiling-seconds <n>", "duration of each ceiling step", "20")
    .option("--out <dir>", "where pooling.json goes", path.join(PROJECT_ROOT, "bench/results"))
    .action(async (opts: { runs: string; seconds: string; clients: string; ceiling: string; ceilingSeconds: string; out: string }) => {
      const whole = (name: string, v: string) => {
        if (!(Number.isInteger(Number(v)) && Number(v) >= 1)) throw new Error(`--${name} takes a whole number ≥ 1, not ${v}`);
        return Number(v);
      };
      const counts = opts.ceiling.split(",").map((c) => whole("ceiling", c.trim()));
      const loadBefore = os.loadavg();
      const sb = await openSandbox();
      const result = await runPoolingBench(sb, { runs: whole("runs", opts.runs), connectSeconds: whole("seconds", opts.seconds), connectClients: whole("clients", opts.clients), clientCounts: counts, ceilingSeconds: whole("ceiling-seconds", opts.ceilingSeconds), log });
      const r = writePoolingResults(opts.out, result, loadBefore);
      process.stdout.write(`${r.table}\n\nJSON: ${path.relative(process.cwd(), r.json)}\n`);
    });

  bench
    .command("cli")
    .description("start-to-exit time of offline pgha commands, compiled (dist/) vs ts-node; builds dist/ first if it lags")
    .option("--runs <n>", "measured runs of each command per runtime (after one warm-up)", "20")
    .option("--command <names...>", `a subset of: ${CLI_CASES.map((c) => JSON.stringify(c.name)).join(", ")}`)
    .option("--runtime <names...>", `a subset of ${CLI_RUNTIMES.join(", ")}`)
    .option("--out <dir>", "where cli.json goes", path.join(PROJECT_ROOT, "bench/results"))
    .action(async (opts: { runs: string; command?: string[]; runtime?: CliRuntime[]; out: string }) => {
      if (!(Number.isInteger(Number(opts.runs)) && Number(opts.runs) >= 1)) throw new Error(`--runs takes a whole number ≥ 1, not ${opts.runs}`);
      const cases = opts.command ? CLI_CASES.filter((c) => opts.command!.includes(c.name)) : CLI_CASES;
      if (cases.length === 0) throw new Error(`--command takes ${CLI_CASES.map((c) => JSON.stringify(c.name)).join(", ")}`);
      const unknown = (opts.runtime ?? []).filter((r) => !CLI_RUNTIMES.includes(r));
      if (unknown.length) throw new Error(`--runtime takes ${CLI_RUNTIMES.join(", ")}, not ${unknown.join(", ")}`);
      const loadBefore = os.loadavg();
      const runs = await runCliBench({ runs: Number(opts.runs), cases, runtimes: opts.runtime, log });
      const r = writeCliResults(opts.out, runs, loadBefore);
      process.stdout.write(`${r.table}\n\nJSON: ${path.relative(process.cwd(), r.json)}\n`);
    });

  bench
    .command("chaos")
    .description("a reproducible random schedule of faults under concurrent writers (8 by default), readers and member probes: acknowledged writes lost, split-brain windows, stale reads, and per fault the write outage, time to a new primary, time until every member streams again, and how the old leader came back")
    .option("--faults <n>", "how many faults", "20")
    .option("--seed <n>", "the schedule's seed (the same seed gives the same faults)", "1")
    .option("--mode <mode>", `${CHAOS_MODES.join(", ")} or both (both: the first half quorum, the second async)`, "quorum")
    .option("--fault <kinds...>", `draw only from these: ${FAULT_KINDS.join(", ")}`)
    .option("--writers <n>", "concurrent writers through HAProxy", String(CHAOS_WRITERS))
    .option("--pause <ms>", "each writer's pause after a write", String(CHAOS_WRITE_PAUSE_MS))
    .option("--fail-fast", "stop at the first fault the cluster does not recover from (default: repair, record, go on)")
    .option("--json", "print the results as JSON instead of the table")
    .option("--out <dir>", "where chaos.json and chaos.svg go", path.join(PROJECT_ROOT, "bench/results"))
    .action(async (opts: { faults: string; seed: string; mode: string; fault?: string[]; writers: string; pause: string; failFast?: boolean; json?: boolean; out: string }) => {
      const o = { faults: Number(opts.faults), seed: Number(opts.seed), mode: opts.mode as ChaosMode | "both", kinds: opts.fault as FaultKind[] | undefined };
      const problems = scheduleProblems(o);
      for (const [name, v] of [["writers", opts.writers], ["pause", opts.pause]] as const) {
        if (!(Number.isInteger(Number(v)) && Number(v) >= (name === "pause" ? 0 : 1))) problems.push(`--${name} takes a whole number ≥ ${name === "pause" ? 0 : 1}, not ${v}`);
      }
      if (problems.length) throw new Error(problems.join("\n"));
      const loadBefore = os.loadavg();
      const sb = await openSandbox();
      const run = await runChaos(sb, { ...o, failFast: opts.failFast, checker: { writers: Number(opts.writers), pauseMs: Number(opts.pause) }, log });
      const r = writeChaosResults(opts.out, run, loadBefore);
      process.stdout.write(opts.json ? fs.readFileSync(r.json, "utf8") : `${r.table}\n\nJSON: ${path.relative(process.cwd(), r.json)}\nSVG:  ${path.relative(process.cwd(), r.svg)}\n`);
      if (run.totals.lost.quorum > 0 || run.totals.splitBrainFaults > 0 || run.totals.staleReads > 0) process.exitCode = 1;
    });

  bench
    .command("readme")
    .description("rewrite the README's benchmark tables, failover.svg and chaos.svg from bench/results/*.json")
    .option("--results <dir>", "where the JSON results are", path.join(PROJECT_ROOT, "bench/results"))
    .action((opts: { results: string }) => {
      const file = path.join(PROJECT_ROOT, "README.md");
      const before = fs.readFileSync(file, "utf8");
      const after = readmeWithChaosTable(readmeWithCliTable(readmeWithBenchTables(before, opts.results), opts.results), opts.results);
      fs.writeFileSync(file, after);
      process.stdout.write(before === after ? "README.md already current\n" : "README.md benchmark tables updated\n");
      for (const [name, svg] of [["failover.svg", failoverSvgFromResults(opts.results)], ["chaos.svg", chaosSvgFromResults(opts.results)]] as const) {
        if (svg === undefined) continue;
        const svgFile = path.join(opts.results, name);
        const old = fs.existsSync(svgFile) ? fs.readFileSync(svgFile, "utf8") : undefined;
        fs.writeFileSync(svgFile, svg);
        process.stdout.write(old === svg ? `${name} already current\n` : `${name} redrawn\n`);
      }
    });
}
