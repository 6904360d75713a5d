// The chaos soak's arithmetic, without the sandbox: a seeded schedule that is reproducible, the
// checker's judgements (split brain, outage, new primary), and what the table and SVG say.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { chaosSchedule, FAULT_DESCRIPTIONS, FAULT_KINDS, scheduleProblems, seededRandom, pick } from "../../bench/chaos/schedule";
import { firstNewPrimary, judgeStaleReads, longestClientGapMs, longestGapMs, splitBrainMs, twoPrimariesSeenMs, type Ack } from "../../bench/chaos/checker";
import { chaosReadmeBlock, chaosResultFiles, chaosSvg, chaosSvgFromResults, formatChaosTable, readmeWithChaosTable, summarizeChaos, CHAOS_BEGIN, CHAOS_END, faultLegend, type ChaosResults } from "../../bench/chaos/report";
import { kindsFor, type ChaosFault, type ChaosRun } from "../../bench/chaos/soak";
import { mainProcessOf, rejoinPathOf } from "../../src/sandbox/cluster";
import { NODE_PATHS } from "../../src/node-paths";
import { loadStack } from "../../src/config/stack-file";
import { TOO_FEW_FOR_P95 } from "../../bench/stats";

const root = path.resolve(__dirname, "../..");

describe("the schedule (bench/chaos/schedule.ts)", () => {
  it("the same seed gives the same faults; another seed another order; no fault twice in a row", () => {
    const a = chaosSchedule({ faults: 40, seed: 7, mode: "quorum" });
    expect(chaosSchedule({ faults: 40, seed: 7, mode: "quorum" })).toEqual(a);
    expect(chaosSchedule({ faults: 40, seed: 8, mode: "quorum" }).map((f) => f.kind)).not.toEqual(a.map((f) => f.kind));
    for (let i = 1; i < a.length; i++) expect(a[i].kind).not.toBe(a[i - 1].kind);
    expect(a.map((f) => f.index)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it("a long schedule draws every fault of the catalogue", () => {
    const kinds = new Set(chaosSchedule({ faults: 100, seed: 1, mode: "quorum" }).map((f) => f.kind));
    expect([...kinds].sort()).toEqual([...FAULT_KINDS].sort());
    for (const k of FAULT_KINDS) expect(FAULT_DESCRIPTIONS[k].length).toBeGreaterThan(20);
  });

  it("both: the first half quorum, the second async; a subset draws only from it", () => {
    const s = chaosSchedule({ faults: 9, seed: 3, mode: "both" });
    expect(s.map((f) => f.mode)).toEqual([...Array(5).fill("quorum"), ...Array(4).fill("async")]);
    const only = chaosSchedule({ faults: 10, seed: 3, mode: "async", kinds: ["switchover", "leader-power-cut"] });
    expect(new Set(only.map((f) => f.kind))).toEqual(new Set(["switchover", "leader-power-cut"]));
    expect(only.every((f) => f.mode === "async")).toBe(true);
  });

  it("bad options name the option, the value and what is allowed", () => {
    expect(scheduleProblems({ faults: 0, seed: -1, mode: "sync" as never, kinds: ["meteor" as never] })).toEqual([
      "--faults takes a whole number ≥ 1, not 0",
      "--seed takes a whole number from 0 to 4294967295, not -1",
      "--mode takes quorum, async or both, not sync",
      expect.stringMatching(/^--fault takes leader-power-cut, .*; not meteor$/),
    ]);
    expect(() => chaosSchedule({ faults: 1.5, seed: 1, mode: "quorum" })).toThrow("--faults takes a whole number ≥ 1, not 1.5");
  });

  it("the generator is uniform enough and picks independently of input order", () => {
    const r = seededRandom(42);
    const xs = Array.from({ length: 10_000 }, r);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(xs.reduce((a, x) => a + x, 0) / xs.length).toBeCloseTo(0.5, 1);
    expect(pick(seededRandom(5), ["b", "a", "c"])).toBe(pick(seededRandom(5), ["c", "b", "a"]));
  });

  it("etcd faults need three etcd members: dropped from the draw on a smaller stack, refused when asked for", () => {
    const dev = loadStack("dev").spec;
    const prod = loadStack("prod").spec;
    expect(kindsFor(prod).kinds).toEqual([...FAULT_KINDS]);
    expect(kindsFor(dev).problems[0]).toMatch(/needs 3 PostgreSQL members \(stack dev has 1\); use --stack prod/);
    const three = { ...prod, nodes: prod.nodes.filter((n) => n.role !== "etcd" || n.name === "etcd1") };
    expect(kindsFor(three).kinds).not.toContain("etcd-quorum-loss");
    expect(kindsFor(three, ["etcd-leader-kill"]).problems).toEqual(["--fault etcd-leader-kill needs 3 etcd members (stack prod has 1)"]);
  });
});

const ack = (o: Partial<Ack> & { serverAt: number }): Ack => ({ client: 0, seq: 1, server: "db1", tl: 1, at: o.serverAt + 2, ...o });

describe("the checker's judgements (bench/chaos/checker.ts)", () => {
  it("split brain: a write on an older timeline after one on a newer timeline, or two servers on one timeline", () => {
    // A clean hand-over: db1 on TL 1 until 1000, db2 on TL 2 from 5000.
    expect(splitBrainMs([ack({ serverAt: 900 }), ack({ serverAt: 1000 }), ack({ server: "db2", tl: 2, serverAt: 5000 })])).toBe(0);
    // The old primary acknowledged at 5300 although db2 wrote on TL 2 from 5000: 300 ms.
    expect(splitBrainMs([ack({ serverAt: 1000 }), ack({ server: "db2", tl: 2, serverAt: 5000 }), ack({ serverAt: 5300 })])).toBe(300);
    // Two servers on one timeline.
    expect(splitBrainMs([ack({ serverAt: 1000 }), ack({ server: "db3", serverAt: 1500 })])).toBe(500);
    // The same server again on a later timeline (switchover and back) is no split brain.
    expect(splitBrainMs([ack({ serverAt: 1 }), ack({ server: "db2", tl: 2, serverAt: 10 }), ack({ tl: 3, serverAt: 20 })])).toBe(0);
    expect(splitBrainMs([])).toBe(0);
  });

  it("outage: the longest time without an acknowledgement, counting from the fault and up to the end", () => {
    const acks = [100, 200, 5200, 5300].map((t) => ack({ serverAt: t - 2 }));
    expect(longestGapMs(acks, 150, 6000)).toBe(5000);
    expect(longestGapMs(acks, 0, 20_000)).toBe(14_700);
    expect(longestGapMs([], 0, 3000)).toBe(3000);
    // Client 1 waits 3 s while client 0 keeps writing.
    const two = [ack({ client: 0, serverAt: 0 }), ack({ client: 0, serverAt: 1000 }), ack({ client: 0, serverAt: 2000 }), ack({ client: 1, serverAt: 0 }), ack({ client: 1, serverAt: 3000 })];
    expect(longestGapMs(two, 0, 3100)).toBe(1000);
    expect(longestClientGapMs(two, 0, 3100, 2)).toBe(3000);
  });

  it("the probes: the first other member seen writable after the fault, and how long two were", () => {
    const probes = [
      { t: 0, writable: ["db1"] },
      { t: 250, writable: ["db1"] },
      { t: 500, writable: [] },
      { t: 750, writable: ["db1", "db2"] },
      { t: 1000, writable: ["db2"] },
    ];
    expect(firstNewPrimary(probes, "db1", 100)).toEqual({ member: "db2", at: 750 });
    expect(firstNewPrimary(probes, "db1", 1100)).toBeUndefined();
    expect(twoPrimariesSeenMs(probes, 0, 2000)).toBe(250);
  });

  it("the processes the faults kill: the postmaster (not a child), and Patroni on its config directory or, on an older node, its file", () => {
    const proc = (pid: number, command: string, commandLine: string[]) => ({ pid, guestPid: pid, command, commandLine });
    const procs = [
      proc(900, "postgres", ["postgres: orders: checkpointer"]),
      proc(901, "postgres", ["/usr/lib/postgresql/17/bin/postgres", "-D", "/data", "--config-file=/data/postgresql.conf"]),
      proc(700, "patroni", ["/usr/bin/python3", "/usr/bin/patroni", NODE_PATHS.patroniConfigDir]),
      proc(710, "pgha-patronictl", ["/usr/bin/python3", "/usr/bin/patronictl", "-c", NODE_PATHS.patroniConfigDir, "list"]),
    ];
    expect(mainProcessOf(procs, "postgres")).toBe(901);
    expect(mainProcessOf(procs, "patroni")).toBe(700);
    expect(mainProcessOf([proc(5, "patroni", ["/usr/bin/python3", "/usr/bin/patroni", "/etc/patroni/config.yml"])], "patroni")).toBe(5);
    expect(mainProcessOf([], "patroni")).toBeNull();
  });

  it("the old leader's way back, read from Patroni's log", () => {
    expect(rejoinPathOf("INFO: running pg_rewind from db2\nINFO: pg_rewind exit code=0\n")).toBe("rewind");
    expect(rejoinPathOf("INFO: running pg_rewind from db2\nERROR: pg_rewind exit code=1")).toBe("rewind failed");
    expect(rejoinPathOf("INFO: running pg_rewind from db2\nINFO: Removing data directory: /x\nINFO: replica has been created using basebackup")).toBe("reclone");
    expect(rejoinPathOf("INFO: no action. I am (db1), a secondary, and following a leader (db2)")).toBe("none");
  });

  it("a read on rw that misses only writes counted as lost is the loss seen again; one that misses a write still there is stale", () => {
    // Client 0 had 1..5 acknowledged; 4 and 5 were lost (async takeover). Client 1 had 1..3, none lost.
    const acked = [[1, 2, 3, 4, 5], [1, 2, 3]];
    const lost = [{ client: 0, seq: 4 }, { client: 0, seq: 5 }];
    const reads = [
      { client: 0, expectedAtLeast: 5, got: 3, at: 1 }, // misses 4 and 5, both lost
      { client: 0, expectedAtLeast: 5, got: 2, at: 2 }, // misses 3 as well, which is there: stale
      { client: 1, expectedAtLeast: 3, got: 2, at: 3 }, // misses 3, not lost: stale
      { client: 0, expectedAtLeast: 4, got: 3, at: 4 }, // misses 4 only, lost
    ];
    const j = judgeStaleReads(reads, acked, lost);
    expect(j.ofLostWrites.map((r) => r.at)).toEqual([1, 4]);
    expect(j.stale.map((r) => r.at)).toEqual([2, 3]);
    // With nothing lost, every one of them is stale.
    expect(judgeStaleReads(reads, acked, []).stale).toHaveLength(4);
    // A loss of another client explains nothing.
    expect(judgeStaleReads([reads[2]], acked, [{ client: 0, seq: 3 }]).stale).toHaveLength(1);
  });
});

function fault(o: Partial<ChaosFault>): ChaosFault {
  return {
    index: 1, kind: "leader-power-cut", mode: "quorum", target: "db1", startedAt: "2026-12-03T00:00:00Z", oldLeader: "db1", leaderAfter: "db2",
    newPrimary: "db2", primarySeconds: 20, outageSeconds: 22, clientOutageSeconds: 23, recoveredSeconds: 40, rejoin: "rewind", acked: 1000, ackedLost: 0, splitBrainMs: 0,
    twoPrimariesSeenMs: 0, staleReads: 0, readsOfLostWrites: 0, timeline: 2, ...o,
  };
}
function chaosRun(faults: ChaosFault[]): ChaosRun {
  return {
    seed: 3, mode: "both", writers: 8, writePauseMs: 50, patroni: { ttl: 20, loopWait: 4, retryTimeout: 5 }, faults,
    totals: { faults: faults.length, acked: 5000, lost: { quorum: 0, async: 12 }, lostAtEnd: 12, splitBrainFaults: 0, staleReads: 0, readsOfLostWrites: 0, phantomReads: 0, indeterminate: 30, reads: { rw: 900, ro: 950, rwFailed: 3, roFailed: 4 }, errors: 0 },
  };
}

describe("the chaos table and timeline (bench/chaos/report.ts)", () => {
  const faults = [
    fault({ index: 1 }),
    fault({ index: 2, outageSeconds: 18, rejoin: "none" }),
    fault({ index: 3, kind: "switchover", outageSeconds: 3, primarySeconds: 2, rejoin: "none" }),
    fault({ index: 4, kind: "leader-power-cut", mode: "async", ackedLost: 12, outageSeconds: 21, rejoin: "reclone" }),
    fault({ index: 5, kind: "s3-outage", mode: "async", newPrimary: null, primarySeconds: null, leaderAfter: "db1", rejoin: null, outageSeconds: 0.1 }),
  ];

  it("a row per fault and mode with n, percentiles by the rule, takeovers, rejoin paths and losses", () => {
    const rows = summarizeChaos(faults);
    expect(rows.map((r) => [r.mode, r.kind, r.n])).toEqual([["quorum", "leader-power-cut", 2], ["quorum", "switchover", 1], ["async", "leader-power-cut", 1], ["async", "s3-outage", 1]]);
    expect(rows[0]).toMatchObject({ outageP50: 18, outageP95: null, outageMax: 22, takeovers: 2, primaryP50: 20, rejoin: { rewind: 1, none: 1, reclone: 0, failed: 0 } });
    const table = formatChaosTable(chaosRun(faults));
    expect(table).toContain(`| quorum | leader-power-cut | 2 | 18.0 / ${TOO_FEW_FOR_P95} / 22.0 | 23.0 | 2 · 20.0 | 40.0 / 40.0 | rewind 1, as it was 1 | 0 of 2000 | 0 | 0 |`);
    expect(table).toContain("| async | leader-power-cut | 1 | 21.0 / n<20 / 21.0 | 23.0 | 1 · 20.0 | 40.0 / 40.0 | re-clone 1 | 12 of 1000 | 0 | 0 |");
    expect(table).toContain("| async | s3-outage | 1 | 0.1 / n<20 / 0.1 | 23.0 | 0 | 40.0 / 40.0 | - | 0 of 1000 | 0 | 0 |");
    expect(table).toContain("lost: **0 in quorum mode**, 12 in async mode");
    expect(table).toContain("p95 is shown only from n ≥ 20");
    expect(table).toContain("0 stale reads on rw, 0 reads of unwritten values");
    const withLossSeen = chaosRun(faults);
    withLossSeen.totals.readsOfLostWrites = 7;
    expect(formatChaosTable(withLossSeen)).toContain("0 stale reads on rw (and 7 reads that missed only writes counted as lost), 0 reads of unwritten values");
  });

  it("a p95 from 20 faults of a kind", () => {
    const many = Array.from({ length: 20 }, (_, i) => fault({ index: i + 1, outageSeconds: i + 1 }));
    expect(summarizeChaos(many)[0].outageP95).toBe(19);
  });

  it("the SVG has a row per fault with its outage and recovery, and marks losses", () => {
    const svg = chaosSvg(chaosRun(faults));
    expect(svg.match(/<text[^>]*text-anchor="end"/g)).toHaveLength(faults.length);
    expect(svg).toContain("4. async · leader-power-cut ✗ 12 lost");
    expect(svg).not.toContain("1. quorum · leader-power-cut ✗");
  });

  it("the legend names every fault", () => {
    expect(faultLegend().split("\n")).toHaveLength(FAULT_KINDS.length);
  });

  it("every soak on record goes into the README: chaos.json first (the one chaos.svg draws), then chaos-<name>.json by name, the legend once", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-chaos-"));
    const machine = { node: "v20.0.0", cpus: 2, kernel: "6.12.0", loadAverageBefore: [1, 1, 1], loadAverageAfter: [1, 1, 1] };
    const save = (name: string, seed: number, mode: "quorum" | "both") => {
      const r: ChaosResults = { format: 1, measuredAt: "2027-01-01T00:00:00.000Z", machine, ...chaosRun(faults), seed, mode };
      fs.writeFileSync(path.join(dir, name), JSON.stringify(r));
    };
    save("chaos-seed2-both.json", 2, "both");
    save("chaos.json", 1, "quorum");
    save("chaos-notes.txt", 3, "quorum"); // not a result file
    expect(chaosResultFiles(dir).map((f) => path.basename(f))).toEqual(["chaos.json", "chaos-seed2-both.json"]);
    const readme = `x\n${CHAOS_BEGIN}\nold\n${CHAOS_END}\ny\n`;
    const block = readmeWithChaosTable(readme, dir);
    const first = block.indexOf(`seed 1, quorum mode`);
    const second = block.indexOf(`seed 2, the first half in quorum mode, the second async`);
    expect(first).toBeGreaterThan(0);
    expect(second).toBeGreaterThan(first);
    expect(block.split("The faults:")).toHaveLength(2);
    expect(block.match(/_measured 2027-01-01/g)).toHaveLength(2);
    expect(block).not.toContain("\nold\n");
    expect(chaosReadmeBlock([])).toContain("The faults:");
  });

  it("README's chaos table and bench/results/chaos.svg are the ones chaos.json gives (npx pgha bench readme)", () => {
    const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
    const results = path.join(root, "bench/results");
    expect(readme).toContain(CHAOS_BEGIN);
    expect(readme).toContain(CHAOS_END);
    expect(readmeWithChaosTable(readme, results)).toBe(readme);
    const svg = chaosSvgFromResults(results);
    expect(svg).toBeDefined();
    expect(fs.readFileSync(path.join(results, "chaos.svg"), "utf8")).toBe(svg);
  });
});
