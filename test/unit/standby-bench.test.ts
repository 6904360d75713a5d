// The second region's benchmark report: its table from the JSON a run writes, and the README
// block regenerated from it (bench/standby.ts).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { readmeWithStandbyTable, standbyTable, STANDBY_BEGIN, STANDBY_END, type StandbyResults } from "../../bench/standby";

const results: StandbyResults = {
  measuredAt: "2026-12-05T06:00:00.000Z",
  machine: { node: "v20.20.2", cpus: 2, kernel: "6.18", loadAverageBefore: [0.5, 0.5, 0.5], loadAverageAfter: [1, 1, 1] },
  primaryStack: "prod",
  standbyStack: "prod-dr",
  bootSeconds: [130, 140, 150],
  runs: [
    { kind: "planned", acked: 100, lost: 0, outageSeconds: 10, promoteToWriteSeconds: 2, rpoBytes: 0 },
    { kind: "planned", acked: 120, lost: 0, outageSeconds: 12, promoteToWriteSeconds: 3, rpoBytes: 0 },
    { kind: "loss", acked: 150, lost: 2, outageSeconds: 6, promoteToWriteSeconds: 2.5, rpoBytes: null },
  ],
};

describe("bench standby report", () => {
  it("prints one row per kind with n, the rows lost of those acknowledged, p50 / max, and no p95 below 20 samples", () => {
    const t = standbyTable(results).split("\n");
    expect(t[2]).toBe("| planned, `--fence-old` (both regions up) | 2 | 0 of 220 | 11.0 / 12.0 | 2.5 / 3.0 | n<20 |");
    expect(t[3]).toBe("| region lost (every host powered off) | 1 | 2 of 150 | 6.0 / 6.0 | 2.5 / 2.5 | n<20 |");
  });

  it("rewrites the README block from standby.json, and leaves a README without results or markers alone", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-standby-bench-"));
    const readme = `before\n${STANDBY_BEGIN}\nold\n${STANDBY_END}\nafter\n`;
    expect(readmeWithStandbyTable(readme, dir)).toBe(readme);
    fs.writeFileSync(path.join(dir, "standby.json"), JSON.stringify(results));
    const out = readmeWithStandbyTable(readme, dir);
    expect(out).toContain(standbyTable(results));
    expect(out).toContain("the standby cluster booted in 140 s (p50 of 3)");
    expect(out).not.toContain("\nold\n");
    expect(readmeWithStandbyTable("no markers\n", dir)).toBe("no markers\n");
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
