// maintenance.window (src/config/maintenance-window.ts): parsing, validation wording, the
// decision a rollout takes at a given time, and what the rollout does with it
// (restartAfterRollout in src/rollout/restart.ts).
import { parseWindow, restartDecision, windowProblem } from "../../src/config/maintenance-window";
import { restartAfterRollout } from "../../src/rollout/restart";
import type { CommandOutcome, RolloutReport, Transport } from "../../src/rollout/rollout";
import { loadStackConfig } from "../../src/config/load";

// 2026-12-06 is a Sunday.
const at = (iso: string) => new Date(iso);

describe("maintenance window", () => {
  it("parses RDS-style weekly windows, also across the week's end", () => {
    expect(parseWindow("sun:02:00-sun:04:00")).toEqual({ start: 120, minutes: 120 });
    expect(parseWindow("sat:23:00-sun:01:00")).toEqual({ start: 6 * 1440 + 23 * 60, minutes: 120 });
    expect(parseWindow("sunday 2am")).toBeUndefined();
  });

  it("says what is wrong with a value", () => {
    expect(windowProblem("sun:02:00-sun:02:10")).toBe("is 10 minutes long: a window must last at least 30 minutes");
    expect(windowProblem("sun 02:00")).toMatch(/^is not a weekly window: write "ddd:hh:mm-ddd:hh:mm" in UTC/);
    expect(windowProblem("always")).toBeUndefined();
    expect(windowProblem(null)).toBeUndefined();
  });

  it("restarts inside the window, not outside (and says when it opens), never without one", () => {
    expect(restartDecision("sun:02:00-sun:04:00", at("2026-12-06T03:59:00Z")).restart).toBe(true);
    const outside = restartDecision("sun:02:00-sun:04:00", at("2026-12-06T04:00:00Z"));
    expect(outside).toEqual({ restart: false, reason: "outside the maintenance window sun:02:00-sun:04:00 (UTC): left pending; the window next opens 2026-12-13T02:00Z" });
    expect(restartDecision("sat:23:00-sun:01:00", at("2026-12-06T00:30:00Z")).restart).toBe(true);
    expect(restartDecision("always", at("2026-12-02T12:00:00Z")).restart).toBe(true);
    expect(restartDecision(null, at("2026-12-06T03:00:00Z"))).toMatchObject({ restart: false, reason: expect.stringContaining("restart --pending") });
  });

  it("a stack with a bad window is refused with the key, the value and what is allowed", () => {
    expect(() => loadStackConfig({ "postgres-ha:tier": "dev", "postgres-ha:maintenance": { window: "sun:02:00-sun:02:10" } }, { stack: "dev" })).toThrow(
      /maintenance\.window = "sun:02:00-sun:02:10": is 10 minutes long[\s\S]*allowed: "ddd:hh:mm-ddd:hh:mm" in UTC/,
    );
  });
});

describe("restartAfterRollout", () => {
  const report = (pending: boolean): RolloutReport => ({
    ok: true, transport: "fake", order: ["db1", "db2"], seconds: 1,
    nodes: ["db1", "db2"].map((node) => ({ node, role: "postgres", ok: true, oldHash: null, newHash: "h", changed: [], removed: [], softwareInstalled: null, actions: [], pendingRestart: pending ? [{ service: "postgresql", reason: "Patroni: max_connections" }] : [], message: "", seconds: 1 })),
  });
  function transport(): Transport & { calls: string[] } {
    const calls: string[] = [];
    const ok = (o: unknown): CommandOutcome => ({ code: 0, stdout: JSON.stringify(o), stderr: "" });
    return {
      name: "fake", calls, howToReach: (n) => n,
      async run(node, argv) {
        calls.push(`${node}: ${argv.slice(1).join(" ")}`);
        if (argv[1] === "cluster") return ok({ members: [{ name: "db1", role: "leader", state: "running" }, { name: "db2", role: "sync_standby", state: "streaming" }] });
        if (argv[1] === "status") return ok({ pendingRestart: [{ service: "postgresql", reason: "Patroni: max_connections" }] });
        if (argv[1] === "member") return ok({ pending_restart_reason: null });
        if (argv[1] === "switchover") return ok({ from: "db1", to: "db2", failsafeWaitSeconds: 0, seconds: 1 });
        return ok({ restarted: ["postgresql"], message: "restarted postgresql" });
      },
    };
  }
  const nodes = [{ name: "db1", role: "postgres" as const }, { name: "db2", role: "postgres" as const }];

  it("outside the window nothing is restarted, and the reason is reported", async () => {
    const t = transport();
    const r = await restartAfterRollout({ transport: t, nodes, rollout: report(true), window: "sun:02:00-sun:04:00", now: at("2026-12-02T12:00:00Z") });
    expect(r.pending).toEqual(["db1", "db2"]);
    expect(r.decision!.restart).toBe(false);
    expect(r.restart).toBeUndefined();
    expect(t.calls.filter((c) => /restart|switchover/.test(c))).toEqual([]);
  });

  it("inside the window the rolling restart runs: the replica, one switchover, the old leader", async () => {
    const t = transport();
    const r = await restartAfterRollout({ transport: t, nodes, rollout: report(true), window: "wed:11:00-wed:13:00", now: at("2026-12-02T12:00:00Z") });
    expect(r.restart!.ok).toBe(true);
    expect(t.calls.filter((c) => / (restart|switchover)/.test(c))).toEqual(["db2: restart --pending --wait 300 --json", "db1: switchover --json", "db1: restart --pending --wait 300 --json"]);
  });

  it("nothing pending: no decision, no call", async () => {
    const t = transport();
    const r = await restartAfterRollout({ transport: t, nodes, rollout: report(false), window: "always" });
    expect(r).toEqual({ pending: [] });
    expect(t.calls).toEqual([]);
  });
});
