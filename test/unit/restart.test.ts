// The rolling restart (src/rollout/restart.ts) against a simulated cluster: which nodes it takes
// and in what order, exactly one switchover and only when the leader is taken, nothing after a
// failed step. The node side (pgha-node restart/switchover) is tested in node-scripts/node.test.ts
// and on booted hosts in test/integration/day2.test.ts.
import { decreasedStandbyParameters, restartTargets, runRestart, formatRestart, type RestartNode } from "../../src/rollout/restart";
import type { CommandOutcome, Transport } from "../../src/rollout/rollout";

const nodes: RestartNode[] = [
  { name: "db1", role: "postgres" },
  { name: "lb1", role: "haproxy" },
  { name: "etcd2", role: "etcd" },
  { name: "db2", role: "postgres" },
  { name: "etcd1", role: "etcd" },
  { name: "db3", role: "postgres" },
  { name: "lb2", role: "haproxy" },
];

/** A cluster the transport plays: a leader, each node's pending services, every call recorded. */
function simulated(leader: string, pending: Record<string, string[]>, failOn?: string, reason?: Record<string, { old_value: string; new_value: string }>) {
  const state = { leader, pending: new Map(Object.entries(pending)), asked: new Map<string, number>() };
  const calls: string[] = [];
  const ok = (stdout: unknown): CommandOutcome => ({ code: 0, stdout: typeof stdout === "string" ? stdout : JSON.stringify(stdout), stderr: "" });
  const t: Transport = {
    name: "simulated",
    howToReach: (n) => `reach ${n}`,
    async run(node, argv) {
      calls.push(`${node}: ${argv.slice(1).join(" ")}`);
      const [, cmd] = argv;
      if (cmd === "cluster") return ok({ members: nodes.filter((n) => n.role === "postgres").map((n) => ({ name: n.name, role: n.name === state.leader ? "leader" : "sync_standby", state: n.name === state.leader ? "running" : "streaming" })) });
      if (cmd === "member") {
        // The leader's position moves on at each ask; a replica has replayed it after its 2nd ask.
        const asked = (state.asked.get(node) ?? 0) + 1;
        state.asked.set(node, asked);
        const xlog = node === state.leader ? { location: 1000 + asked } : { replayed_location: asked >= 2 ? 5000 : 10 };
        return ok({ role: node === state.leader ? "primary" : "replica", pending_restart: Boolean(reason), pending_restart_reason: reason ?? null, xlog });
      }
      if (cmd === "status") return ok({ node, pendingRestart: (state.pending.get(node) ?? []).map((service) => ({ service, reason: "changed" })) });
      if (cmd === "switchover") {
        if (node !== state.leader) return { code: 4, stdout: "", stderr: `refused: ${node} is not the leader` };
        const to = nodes.find((n) => n.role === "postgres" && n.name !== node)!.name;
        state.leader = to;
        return ok({ from: node, to, failsafeWaitSeconds: 0, seconds: 1 });
      }
      if (cmd === "restart") {
        if (node === failOn) return { code: 1, stdout: "", stderr: `${node} restarted postgresql but is not healthy after 300 s` };
        if (node === state.leader && !argv.includes("--allow-leader")) return { code: 4, stdout: "", stderr: `refused: ${node} is the leader` };
        const had = state.pending.get(node) ?? [];
        const restarted = argv.includes("--pending") ? had : [nodes.find((n) => n.name === node)!.role === "postgres" ? "postgresql" : node];
        state.pending.set(node, []);
        return ok({ node, restarted, seconds: 2, pendingRestart: [], message: restarted.length ? `restarted ${restarted.join(" ")}` : "nothing pending a restart" });
      }
      return { code: 2, stdout: "", stderr: `unexpected ${argv.join(" ")}` };
    },
  };
  return { t, calls, state };
}

const steps = (calls: string[]) => calls.filter((c) => / (restart|switchover)/.test(c));

describe("restartTargets", () => {
  it("default: every PostgreSQL member, replicas by name, the leader last", () => {
    expect(restartTargets(nodes, "db2", {}, new Map()).map((n) => n.name)).toEqual(["db1", "db3", "db2"]);
  });
  it("--pending: every node with something pending, etcd then HAProxy then replicas then the leader", () => {
    const pending = new Map([["db2", ["postgresql"]], ["etcd2", ["etcd"]], ["lb1", ["haproxy"]], ["db3", []], ["db1", ["patroni"]]]);
    expect(restartTargets(nodes, "db1", { pendingOnly: true }, pending).map((n) => n.name)).toEqual(["etcd2", "lb1", "db2", "db1"]);
  });
  it("--member: that node only; an unknown name is a usage error naming the nodes", () => {
    expect(restartTargets(nodes, "db1", { member: "lb2" }, new Map()).map((n) => n.name)).toEqual(["lb2"]);
    expect(() => restartTargets(nodes, "db1", { member: "db9" }, new Map())).toThrow(/--member db9: no such node; the nodes are db1, lb1, etcd2, db2, etcd1, db3, lb2/);
  });
});

describe("runRestart", () => {
  it("restarts replicas one at a time, then exactly one switchover, then the old leader", async () => {
    const { t, calls, state } = simulated("db1", {});
    const r = await runRestart({ transport: t, nodes, waitSeconds: 30 });
    expect(r.ok).toBe(true);
    expect(steps(calls)).toEqual([
      "db2: restart --wait 30 --json",
      "db3: restart --wait 30 --json",
      "db1: switchover --json",
      "db1: restart --wait 30 --json",
    ]);
    expect(r.switchovers).toBe(1);
    expect(r.leaderBefore).toBe("db1");
    expect(r.leaderAfter).toBe(state.leader);
    expect(r.leaderAfter).not.toBe("db1");
    expect(r.steps.map((s) => s.action)).toEqual(["restart", "restart", "switchover", "restart"]);
    expect(formatRestart(r)).toMatch(/leader db1 → db2, 1 switchover\(s\)/);
  });

  it("--pending restarts only the nodes with something pending and switches over only when the leader has", async () => {
    const { t, calls } = simulated("db1", { db2: ["postgresql"], etcd1: ["etcd"] });
    const r = await runRestart({ transport: t, nodes, pendingOnly: true, waitSeconds: 30 });
    expect(r.ok).toBe(true);
    expect(steps(calls)).toEqual(["etcd1: restart --pending --wait 30 --json", "db2: restart --pending --wait 30 --json"]);
    expect(r.switchovers).toBe(0);
    expect(r.stillPending).toEqual([]);
  });

  it("stops at the first node that fails, touching none after it, and says what to do", async () => {
    const { t, calls } = simulated("db3", {}, "db1");
    const r = await runRestart({ transport: t, nodes, waitSeconds: 30 });
    expect(r.ok).toBe(false);
    expect(r.failure).toMatchObject({ node: "db1", message: expect.stringContaining("not healthy after 300 s") });
    expect(r.failure!.next).toContain("reach db1");
    expect(steps(calls)).toEqual(["db1: restart --wait 30 --json"]);
    expect(r.switchovers).toBe(0);
  });

  it("a single-member cluster restarts its leader in place (there is nobody to hand over to)", async () => {
    const one: RestartNode[] = [{ name: "db1", role: "postgres" }];
    const { t, calls } = simulated("db1", {});
    const r = await runRestart({ transport: t, nodes: one, waitSeconds: 30 });
    expect(r.ok).toBe(true);
    expect(steps(calls)).toEqual(["db1: restart --allow-leader --wait 30 --json"]);
    expect(r.switchovers).toBe(0);
  });

  it("a decrease of max_connections restarts the leader first, in place, then the replicas, with no switchover", async () => {
    const reason = { max_connections: { old_value: "500", new_value: "400" }, work_mem: { old_value: "4MB", new_value: "8MB" } };
    const { t, calls } = simulated("db2", { db1: ["postgresql"], db2: ["postgresql"], db3: ["postgresql"] }, undefined, reason);
    const r = await runRestart({ transport: t, nodes, pendingOnly: true, waitSeconds: 30 });
    expect(r.ok).toBe(true);
    expect(steps(calls)).toEqual([
      "db2: restart --pending --allow-leader --wait 30 --json",
      "db1: restart --pending --wait 30 --json",
      "db3: restart --pending --wait 30 --json",
    ]);
    // Each replica restarts only once it has replayed past the leader's restart.
    const order = calls.filter((c) => / (restart|member)/.test(c));
    expect(order.indexOf("db1: restart --pending --wait 30 --json")).toBeGreaterThan(order.lastIndexOf("db1: member"));
    expect(calls.filter((c) => c === "db1: member").length).toBe(2);
    expect(calls.filter((c) => c === "db3: member").length).toBe(2);
    expect(r.switchovers).toBe(0);
    expect(r.leaderInPlace).toMatch(/max_connections 500 → 400/);
    expect(formatRestart(r)).toMatch(/leader restarted in place first/);
  });
});

describe("decreasedStandbyParameters", () => {
  it("names only the standby-minimum parameters that go down", () => {
    expect(decreasedStandbyParameters({ max_connections: { old_value: "400", new_value: "500" } })).toEqual([]);
    expect(decreasedStandbyParameters({ max_wal_senders: { old_value: "10", new_value: "8" }, shared_buffers: { old_value: "256MB", new_value: "128MB" } })).toEqual(["max_wal_senders 10 → 8"]);
    expect(decreasedStandbyParameters(null)).toEqual([]);
  });
});
