// The benchmarks' arithmetic and what their tables say: n in every row, a p95 only from enough
// samples, the rule under the table, and backup facts read from the tools rather than written in
// code. Nothing here needs the sandbox; the benchmarks that do are run by hand (README).
import * as fs from "fs";
import * as path from "path";
import { MIN_P95_SAMPLES, PERCENTILE_RULE, TOO_FEW_FOR_P95, p95OrNull, quantile } from "../../bench/stats";
import { FAILOVER_DEFAULT_RUNS, downInterOf, failoverReadmeBlock, formatTable, profilesFor, readFailoverResults, summarize, type FailoverRun, type FailoverResults } from "../../bench/failover";
import { formatPhaseTable, formatPhases } from "../../bench/failover-phases";
import { haproxyCheckTiming } from "../../src/render/bundle/node-files";
import { backupReadmeBlock, iniSection, pgBasebackupLabel, pgbackrestLabel, pgbackrestSettings, type BackupResults, type BackupTools } from "../../bench/backup";
import { formatDay2Table, type Day2Step } from "../../bench/day2";
import { formatCliTable, summarizeCli } from "../../bench/cli";
import { failoverSvgFromResults } from "../../bench/readme";
import { loadStack } from "../../src/config/stack-file";
import { renderNodeFiles } from "../../src/render/bundle";
import { NODE_PATHS } from "../../src/node-paths";
import { ec2Layout, sandboxLayout } from "../../src/layout";
import { nodesOf } from "../../src/spec";

const root = path.resolve(__dirname, "../..");
const results = path.join(root, "bench/results");

function run(over: Partial<FailoverRun> & { outageMs: number }): FailoverRun {
  return { profile: "prod-profile", sync: "quorum", scenario: "power-cut", run: 1, oldLeader: "db1", newLeader: "db2", promotionMs: 1000, acked: 100, ackedLost: 0, rejoinMs: 5000, ...over };
}
const runs = (n: number, over: Partial<FailoverRun> = {}) => Array.from({ length: n }, (_, i) => run({ run: i + 1, outageMs: (i + 1) * 1000, ...over }));
const rowOf = (table: string, scenario: string) => table.split("\n").find((l) => l.includes(`| ${scenario} |`))!.split("|").map((c) => c.trim()).slice(1, -1);

describe("percentiles (bench/stats.ts)", () => {
  it("nearest rank: p50 of an even n is the lower middle sample, p95 of 20 is the 19th", () => {
    expect(quantile([4, 1, 3, 2], 0.5)).toBe(2);
    expect(quantile([5, 1, 3], 0.5)).toBe(3);
    const twenty = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(quantile(twenty, 0.95)).toBe(19);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it("p95 only from 20 samples", () => {
    expect(MIN_P95_SAMPLES).toBe(20);
    expect(p95OrNull(Array.from({ length: 19 }, (_, i) => i))).toBeNull();
    expect(p95OrNull(Array.from({ length: 20 }, (_, i) => i + 1))).toBe(19);
    expect(PERCENTILE_RULE).toContain("n ≥ 20");
    expect(PERCENTILE_RULE).toContain(`"${TOO_FEW_FOR_P95}"`);
  });
});

describe("the failover table", () => {
  it("prints n in every row, no p95 below 20 runs, and the rule under the table", () => {
    const table = formatTable(summarize([...runs(5), ...runs(20, { scenario: "switchover" })]));
    expect(table.split("\n")[0]).toMatch(/\| n \|.*\| write outage p95 \(s\) \|/);
    const cut = rowOf(table, "power-cut");
    const sw = rowOf(table, "switchover");
    expect([cut[3], sw[3]]).toEqual(["5", "20"]);
    expect(cut[6]).toBe(TOO_FEW_FOR_P95); // p95 of 5 runs: not shown
    expect(sw[6]).toBe("19.0"); // p95 of 20 runs: the 19th of 1..20 s
    expect(cut[5]).toBe("3.0"); // p50 of 1..5 s
    expect(cut[7]).toBe("5.0"); // max
    expect(cut[8]).toBe("0 of 500");
    expect(table).toContain(PERCENTILE_RULE);
    expect(table).not.toContain("fewer runs"); // 5 and 20 are not below the default
  });

  it("says so when rows have fewer runs than the default, and from how many runs a rejoin p50 is", () => {
    const few = runs(2).map((r, i) => ({ ...r, rejoinMs: i === 0 ? 7000 : null }));
    const table = formatTable(summarize([...few, ...runs(FAILOVER_DEFAULT_RUNS, { scenario: "partition" })]));
    expect(table).toContain(`**1 of 2 rows have fewer runs (n = 2) than the benchmark's default of ${FAILOVER_DEFAULT_RUNS}`);
    expect(rowOf(table, "power-cut")[9]).toBe("7.0 (n=1)");
    expect(rowOf(table, "partition")[9]).toBe("5.0");
  });

  it("the recorded results show as what they are: n per row, no p95, a warning for rows below the default, the profiles as recorded", () => {
    const r = readFailoverResults(path.join(results, "failover.json"));
    const block = failoverReadmeBlock(r);
    // The main table only (the step table under it has rows of its own).
    const main = block.split("Where the outage goes")[0];
    const rows = main.split("\n").filter((l) => /^\| (patroni-defaults|prod-profile\S*) \|/.test(l));
    expect(rows.length).toBe(new Set(r.runs.map((x) => `${x.profile}|${x.sync}|${x.scenario}`)).size);
    for (const row of rows) {
      const cells = row.split("|").map((c) => c.trim());
      expect(Number(cells[4])).toBe(r.runs.filter((x) => `${x.profile}|${x.sync}|${x.scenario}` === `${cells[1]}|${cells[2]}|${cells[3]}`).length);
      expect(cells[7]).toBe(TOO_FEW_FOR_P95);
    }
    const ns = [...new Set(rows.map((row) => Number(row.split("|")[4].trim())))].filter((n) => n < FAILOVER_DEFAULT_RUNS).sort((a, b) => a - b);
    if (ns.length) expect(block).toContain(`rows have fewer runs (n = ${ns.join(", ")})`);
    for (const p of r.profiles.filter((p) => r.runs.some((x) => x.profile === p.name))) expect(block).toContain(`**${p.name}** (ttl ${p.ttl}, loop_wait ${p.loopWait}`);
  });

  it("where the outage goes: p50 of each step per row, the standby step for quorum only, n from the runs that recorded steps", () => {
    const phased = (stop: number, promoted: number, routed: number, standby: number, acked: number) => ({ stoppedMs: stop, promotedMs: promoted, routedMs: routed, standbyMs: standby, ackedMs: acked });
    const rs = [
      run({ scenario: "switchover", outageMs: 5000, phases: phased(500, 2500, 3500, 4700, 5000) }),
      run({ scenario: "switchover", outageMs: 7000, phases: phased(700, 2400, 4900, 6900, 7000) }),
      run({ scenario: "switchover", outageMs: 6000, phases: phased(600, 2600, 3400, 5000, 6000) }),
      run({ scenario: "switchover", outageMs: 6000 }), // before phases were recorded: not counted
      run({ sync: "async", scenario: "switchover", outageMs: 3000, phases: phased(500, 2000, 2900, 2100, 3000) }),
    ];
    const table = formatPhaseTable(rs);
    const cells = (sync: string) => table.split("\n").find((l) => l.startsWith(`| prod-profile | ${sync} | switchover |`))!.split("|").map((c) => c.trim()).slice(1, -1);
    // n 3; stop p50 0.6; promoted p50 2.5; routed − promoted: 1.0, 2.5, 0.8 → 1.0; standby − promoted: 2.2, 4.5, 2.4 → 2.4; outage 6.0.
    expect(cells("quorum")).toEqual(["prod-profile", "quorum", "switchover", "3", "0.6", "2.5", "1.0", "2.4", "6.0"]);
    expect(cells("async")).toEqual(["prod-profile", "async", "switchover", "1", "0.5", "2.0", "0.9", "n/a", "3.0"]);
    expect(formatPhaseTable(runs(3))).toBe("");
    expect(formatPhases(phased(500, 2500, 3500, 4700, 5000))).toBe("stopped 0.5 after the fault, then promoted 2.5 · routed 3.5 · standby 4.7 · acked 5.0 s");
  });

  it("HAProxy's downinter: the stack's profiles run with the rendered one, a 'before' profile with inter on request; the README says which each profile's runs had", () => {
    const { spec } = loadStack("prod");
    const t = haproxyCheckTiming(spec.haproxy);
    const ps = profilesFor(spec);
    expect(ps.map((p) => [p.name, p.haproxyDownInterMs, Boolean(p.onRequest)])).toEqual([
      ["patroni-defaults", t.downInterMs, false],
      ["prod-profile", t.downInterMs, false],
      [`prod-profile-downinter-${t.interMs}ms`, t.interMs, true],
    ]);
    expect(t.downInterMs).toBeLessThan(t.interMs);
    expect(downInterOf(runs(2, { haproxyDownInterMs: 500 }))).toBe("500 ms");
    expect(downInterOf(runs(2))).toBe("= inter");
    expect(downInterOf([...runs(1), ...runs(1, { haproxyDownInterMs: 500 })])).toBe("= inter or 500 ms (runs of different dates)");
  });

  it("format 2 states the machine and the write load it recorded", () => {
    const r: FailoverResults = {
      format: 2,
      measuredAt: "2027-01-01T00:00:00.000Z",
      machine: { node: "v20.0.0", cpus: 4, kernel: "6.12.0", loadAverageBefore: [1, 1, 1], loadAverageAfter: [2, 2, 2] },
      writePauseMs: 10,
      profiles: [{ name: "prod-profile", ttl: 20, loopWait: 4, retryTimeout: 8, primaryStartTimeout: 30 }],
      summary: [],
      runs: runs(5),
    };
    expect(failoverReadmeBlock(r)).toContain("_measured 2027-01-01T00:00:00.000Z, node v20.0.0, 4 cores, kernel 6.12.0, load average 1.0 1.0 1.0 before / 2.0 2.0 2.0 after; write load: one insert at a time through the rw endpoint (HAProxy :5000), 10 ms pause after each_");
  });

  it("bench/results/failover.svg is the one the results draw (npx pgha bench readme), with n in every label and no p95", () => {
    const svg = failoverSvgFromResults(results)!;
    expect(fs.readFileSync(path.join(results, "failover.svg"), "utf8")).toBe(svg);
    const labels = [...svg.matchAll(/font-size="11">([^<]*)</g)].map((m) => m[1]);
    expect(labels.length).toBe(summarize(readFailoverResults(path.join(results, "failover.json")).runs).length);
    for (const l of labels) expect(l).toMatch(/^p50 [\d.]+ s · max [\d.]+ s · n=\d+/);
    expect(svg).not.toContain("p95");
  });
});

describe("the CLI table follows the same rule", () => {
  it("no p95 below 20 runs; n and the rule printed", () => {
    const ms = (n: number, runtime: "compiled" | "ts-node") => Array.from({ length: n }, (_, i) => ({ command: "pgha --help", runtime, ms: (i + 1) * 100 }));
    const table = formatCliTable(summarizeCli([...ms(5, "compiled"), ...ms(20, "ts-node")]));
    const compiled = table.split("\n").find((l) => l.includes("| compiled |"))!.split("|").map((c) => c.trim());
    const tsNode = table.split("\n").find((l) => l.includes("| ts-node |"))!.split("|").map((c) => c.trim());
    expect([compiled[3], compiled[5]]).toEqual(["5", TOO_FEW_FOR_P95]);
    expect([tsNode[3], tsNode[5]]).toEqual(["20", "1.90"]);
    expect(table).toContain(PERCENTILE_RULE);
  });
});

describe("the backup benchmark reads what it names", () => {
  const { spec } = loadStack("prod");
  const leader = nodesOf(spec, "postgres")[0].name;

  it("compress-type, compress-level, process-max and the repository type come from the rendered pgbackrest.conf", () => {
    for (const layout of [sandboxLayout(spec), ec2Layout(spec)]) {
      const conf = renderNodeFiles(spec, leader, layout).find((f) => f.path === NODE_PATHS.pgbackrestConf)!.content;
      const g = iniSection(conf, "global");
      expect(pgbackrestSettings(conf)).toEqual({ repoType: g["repo1-type"], compressType: g["compress-type"], compressLevel: g["compress-level"], processMax: g["process-max"] });
      expect(Object.values(pgbackrestSettings(conf)).every((v) => typeof v === "string" && v.length > 0)).toBe(true);
    }
  });

  it("INI sections: only the named one, comments skipped, later lines win, values keep their '='", () => {
    const text = "# c\n[global]\nprocess-max=2\n; x=1\nprocess-max = 4\nrepo1-s3-key=a=b\n[main]\nprocess-max=8\n";
    expect(iniSection(text, "global")).toEqual({ "process-max": "4", "repo1-s3-key": "a=b" });
    expect(pgbackrestSettings("[global]\nrepo1-type=s3\n")).toEqual({ repoType: "s3", compressType: null, compressLevel: null, processMax: null });
  });

  const tools: BackupTools = {
    node: "db1",
    pgbackrestVersion: "pgBackRest 2.99.1",
    pgBasebackupVersion: "pg_basebackup (PostgreSQL) 17.9 (Debian 17.9-1)",
    pgbackrest: { repoType: "s3", compressType: "lz4", compressLevel: null, processMax: "6" },
  };

  it("the method names are built from the tools' own answers", () => {
    expect(pgbackrestLabel(tools)).toBe("pgBackRest 2.99.1 (compress-type lz4, process-max 6, repo s3)");
    expect(pgBasebackupLabel(tools)).toBe("pg_basebackup 17.9 -Ft -z");
  });

  it("format 2: what was read and the timed boot are stated under the table; format 1 is flagged as written in code", () => {
    const row = { method: pgbackrestLabel(tools), operation: "full backup", seconds: 10, databaseBytes: 1024 * 1024 * 1024, outputBytes: 1024 * 1024, throughputMiBps: 102.4 };
    const v2: BackupResults = { format: 2, measuredAt: "2027-01-01T00:00:00.000Z", pgbenchScale: 70, tools, scratchHostBootSeconds: 4.25, rows: [row] };
    const b2 = backupReadmeBlock(v2);
    expect(b2).toContain("`pgbackrest version` → pgBackRest 2.99.1");
    expect(b2).toContain("`pg_basebackup --version` → pg_basebackup (PostgreSQL) 17.9 (Debian 17.9-1)");
    expect(b2).toContain("compress-type lz4, compress-level (default), process-max 6");
    expect(b2).toContain("booted (from nothing to cloud-init done) in 4.3 s, before the restores and in no row");
    expect(b2).toContain("_measured 2027-01-01T00:00:00.000Z, pgbench scale 70, database 1024 MiB_");
    expect(b2).not.toContain("format 1");
    const b1 = backupReadmeBlock({ measuredAt: "2026-01-01T00:00:00.000Z", pgbenchScale: 70, rows: [row] });
    expect(b1).toContain("**Recorded by the first version of this benchmark (format 1)");
  });

  it("no version, setting or boot time is written into the benchmark's code", () => {
    const code = fs.readFileSync(path.join(root, "bench/backup.ts"), "utf8").replace(/^\s*(\/\/|\*|\/\*\*).*$/gm, "");
    expect(code).not.toMatch(/pgBackRest \d|zstd|\d+ processes|≈ \d+ s/);
  });
});

describe("the day-2 table", () => {
  const step = (name: Day2Step["step"], run: number, seconds: number, gap: number, failed: number): Day2Step => ({ step: name, run, seconds, writeGapSeconds: gap, failedStatements: failed, ackedWrites: 1000, lostWrites: 0, detail: name === "rolling restart" ? "3 members, 1 switchover(s)" : "-" });
  it("one row per operation with n, p50 and max over the runs, the worst gap, summed failures and losses, and the dataset", () => {
    const table = formatDay2Table({
      members: 3,
      pgbenchScale: 70,
      datasetBytes: 1.1 * 2 ** 30,
      steps: [step("scale out", 1, 90, 0.2, 0), step("scale out", 2, 110, 0.4, 1), step("rolling restart", 1, 60, 3.5, 4), step("scale in", 1, 40, 1.2, 2)],
    });
    const lines = table.split("\n");
    expect(lines[2]).toBe("| scale out 3 → 4 (boot → streaming, cloned from the repository) | 2 | 90.0 | 110.0 | 0.4 | 1 | 2000 | 0 |");
    expect(lines[3]).toBe("| rolling restart, 3 members, 1 switchover(s) | 1 | 60.0 | 60.0 | 3.5 | 4 | 1000 | 0 |");
    expect(lines[4]).toBe("| scale in 4 → 3 (pgha-node leave) | 1 | 40.0 | 40.0 | 1.2 | 2 | 1000 | 0 |");
    expect(table).toContain("pgbench scale 70 (1.10 GiB database); n: runs");
    expect(formatDay2Table({ members: 3, pgbenchScale: 70, datasetBytes: 1, writeIntervalMs: 20, steps: [] })).toContain("pausing 20 ms between inserts");
  });
});
