// The rollout (src/rollout): its order, how it stops, and its SSM transport end to end — the
// real `pgha rollout --transport ssm` command against a stub awscli that plays SSM Run Command
// by running the sent commands on this machine with a stub pgha-node.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { rolloutOrder, runRollout, type CommandOutcome, type RolloutNode, type Transport } from "../../src/rollout/rollout";
import { ssmStub } from "../helpers/ssm-stub";

const H = (c: string) => c.repeat(64);
const nodes: RolloutNode[] = [
  { name: "db1", role: "postgres", hash: H("1") },
  { name: "lb2", role: "haproxy", hash: H("2") },
  { name: "etcd2", role: "etcd", hash: H("3") },
  { name: "db10", role: "postgres", hash: H("4") },
  { name: "etcd1", role: "etcd", hash: H("5") },
  { name: "db2", role: "postgres", hash: H("6") },
  { name: "lb1", role: "haproxy", hash: H("7") },
];

function applyJson(node: string, hash: string, extra: Record<string, unknown> = {}) {
  return JSON.stringify({ node, role: "x", ok: true, oldHash: null, newHash: hash, changed: ["/etc/x"], removed: [], softwareInstalled: null, actions: [], pendingRestart: [], message: "applied", ...extra });
}

/** A transport that answers from a script of outcomes and records every call. */
function fakeTransport(answer: (node: string, argv: string[]) => CommandOutcome): Transport & { calls: string[] } {
  const calls: string[] = [];
  return {
    name: "fake",
    calls,
    howToReach: (n) => `reach ${n}`,
    async run(node, argv) {
      calls.push(`${node}: ${argv.join(" ")}`);
      return answer(node, argv);
    },
  };
}

describe("rollout order", () => {
  it("etcd members, then HAProxy nodes, then PostgreSQL replicas, the leader last; numeric name order", () => {
    expect(rolloutOrder(nodes, "db2").map((n) => n.name)).toEqual(["etcd1", "etcd2", "lb1", "lb2", "db1", "db10", "db2"]);
    expect(rolloutOrder(nodes, undefined).map((n) => n.name)).toEqual(["etcd1", "etcd2", "lb1", "lb2", "db1", "db2", "db10"]);
  });
});

describe("runRollout", () => {
  const cluster = JSON.stringify({ members: [{ name: "db1", role: "replica" }, { name: "db10", role: "leader" }, { name: "db2", role: "replica" }] });

  it("applies then checks each node in order, and reports every node", async () => {
    const t = fakeTransport((node, argv) => {
      if (argv[1] === "cluster") return { code: 0, stdout: cluster, stderr: "" };
      if (argv[1] === "apply") return { code: 0, stdout: applyJson(node, argv[2]), stderr: "" };
      return { code: 0, stdout: `${node}: healthy`, stderr: "" };
    });
    const r = await runRollout({ transport: t, nodes, healthWaitSeconds: 5 });
    expect(r.ok).toBe(true);
    expect(r.order).toEqual(["etcd1", "etcd2", "lb1", "lb2", "db1", "db2", "db10"]);
    const steps = t.calls.filter((c) => !c.includes("cluster"));
    expect(steps).toEqual(r.order.flatMap((n) => [`${n}: pgha-node apply ${nodes.find((x) => x.name === n)!.hash} --json`, `${n}: pgha-node check --wait 5`]));
    expect(r.nodes.map((n) => n.newHash)).toEqual(r.order.map((n) => nodes.find((x) => x.name === n)!.hash));
  });

  it("stops at the first node whose apply fails, and touches no node after it", async () => {
    const t = fakeTransport((node, argv) => {
      if (argv[1] === "cluster") return { code: 0, stdout: cluster, stderr: "" };
      if (argv[1] === "apply" && node === "lb1") return { code: 4, stdout: "", stderr: "refused: bundle is for node lb2" };
      if (argv[1] === "apply") return { code: 0, stdout: applyJson(node, argv[2]), stderr: "" };
      return { code: 0, stdout: "", stderr: "" };
    });
    const r = await runRollout({ transport: t, nodes });
    expect(r.ok).toBe(false);
    expect(r.failure).toMatchObject({ node: "lb1", step: "apply", message: "refused: bundle is for node lb2" });
    expect(r.failure!.next).toContain("reach lb1");
    expect(t.calls.some((c) => /^(lb2|db1|db2|db10):/.test(c) && !c.includes("cluster"))).toBe(false);
  });

  it("stops when a node is not healthy after its apply", async () => {
    const t = fakeTransport((node, argv) => {
      if (argv[1] === "cluster") return { code: 0, stdout: cluster, stderr: "" };
      if (argv[1] === "apply") return { code: 0, stdout: applyJson(node, argv[2]), stderr: "" };
      return node === "db2" ? { code: 1, stdout: "", stderr: "db2: not healthy: PostgreSQL is replica / running / not streaming" } : { code: 0, stdout: "", stderr: "" };
    });
    const r = await runRollout({ transport: t, nodes });
    expect(r.failure).toMatchObject({ node: "db2", step: "check" });
    expect(r.failure!.message).toContain("not streaming");
    expect(t.calls.some((c) => c.startsWith("db10: pgha-node apply"))).toBe(false);
  });
});

describe("rotated cluster passwords (the credentials action)", () => {
  const cluster = JSON.stringify({ members: [{ name: "db1", role: "replica" }, { name: "db10", role: "leader" }, { name: "db2", role: "replica" }] });
  const answer = (failOn?: string) => (node: string, argv: string[]): CommandOutcome => {
    if (argv[1] === "cluster") return { code: 0, stdout: cluster, stderr: "" };
    if (argv[1] === "apply") return { code: 0, stdout: applyJson(node, argv[2], { role: node.startsWith("db") ? "postgres" : "x", actions: node.startsWith("db") ? ["credentials"] : [] }), stderr: "" };
    if (argv[0] === "pgha-secrets" && node === failOn) return { code: 1, stdout: "", stderr: "[pgha-secrets] the leader's new password of replicator has not reached this member in 60 s: kept the one in use" };
    return { code: 0, stdout: "", stderr: "" };
  };

  it("after the leader set them, each replica adopts them in a second pass (waiting for replay), the leader is not asked again", async () => {
    const t = fakeTransport(answer());
    const r = await runRollout({ transport: t, nodes, healthWaitSeconds: 5 });
    expect(r.ok).toBe(true);
    const rotations = t.calls.filter((c) => c.includes("pgha-secrets"));
    expect(rotations).toEqual(["db1: pgha-secrets rotate --wait 60", "db2: pgha-secrets rotate --wait 60"]);
    // The second pass comes after the leader's apply.
    expect(t.calls.indexOf(rotations[0])).toBeGreaterThan(t.calls.indexOf(`db10: pgha-node apply ${H("4")} --json`));
    expect(r.credentialsAdopted).toEqual(["db1", "db2"]);
  });

  it("a replica that cannot adopt them stops the rollout naming it and what to run", async () => {
    const t = fakeTransport(answer("db1"));
    const r = await runRollout({ transport: t, nodes, healthWaitSeconds: 5 });
    expect(r.ok).toBe(false);
    expect(r.failure).toMatchObject({ node: "db1", step: "credentials", message: expect.stringContaining("has not reached this member in 60 s") });
    expect(r.failure!.next).toContain("pgha-secrets rotate --wait 60");
    expect(t.calls.some((c) => c.startsWith("db2: pgha-secrets"))).toBe(false);
  });

  it("no credentials action, no second pass", async () => {
    const t = fakeTransport((node, argv) => (argv[1] === "cluster" ? { code: 0, stdout: cluster, stderr: "" } : argv[1] === "apply" ? { code: 0, stdout: applyJson(node, argv[2]), stderr: "" } : { code: 0, stdout: "", stderr: "" }));
    const r = await runRollout({ transport: t, nodes, healthWaitSeconds: 5 });
    expect([r.ok, r.credentialsAdopted, t.calls.filter((c) => c.includes("pgha-secrets"))]).toEqual([true, undefined, []]);
  });
});

describe("a leader the stack no longer lists (scale-in)", () => {
  // db3 leads and is being removed; db1 is a quorum standby that streams, db2 streams asynchronously.
  const view = JSON.stringify({ members: [
    { name: "db1", role: "quorum_standby", state: "streaming", lag: 0 },
    { name: "db2", role: "replica", state: "streaming", lag: 0 },
    { name: "db3", role: "leader", state: "running" },
  ] });
  const staying = nodes.filter((n) => n.role !== "postgres" || ["db1", "db2"].includes(n.name));

  it("hands over to a streaming synchronous standby that stays, run on it, before any node changes", async () => {
    const t = fakeTransport((node, argv) => {
      if (argv[1] === "cluster") return { code: 0, stdout: view, stderr: "" };
      if (argv[1] === "switchover") return { code: 0, stdout: JSON.stringify({ from: "db3", to: node }), stderr: "" };
      if (argv[1] === "apply") return { code: 0, stdout: applyJson(node, argv[2]), stderr: "" };
      return { code: 0, stdout: `${node}: healthy`, stderr: "" };
    });
    const r = await runRollout({ transport: t, nodes: staying, healthWaitSeconds: 5 });
    expect(r.ok).toBe(true);
    expect(r.handedOver).toMatchObject({ from: "db3", to: "db1" });
    const changing = t.calls.filter((c) => !c.includes("pgha-node cluster"));
    expect(changing[0]).toBe("db1: pgha-node switchover --candidate db1 --json");
    expect(changing[1]).toMatch(/^etcd1: pgha-node apply/);
    // The new leader is converged last.
    expect(r.order.slice(-2)).toEqual(["db2", "db1"]);
  });

  it("stops before any node changes when the hand-over fails", async () => {
    const t = fakeTransport((node, argv) => {
      if (argv[1] === "cluster") return { code: 0, stdout: view, stderr: "" };
      if (argv[1] === "switchover") return { code: 1, stdout: "", stderr: "pgha-node: switchover refused: 412" };
      return { code: 0, stdout: applyJson(node, argv[2] ?? ""), stderr: "" };
    });
    const r = await runRollout({ transport: t, nodes: staying, healthWaitSeconds: 5 });
    expect(r.ok).toBe(false);
    expect(r.failure).toMatchObject({ node: "db1", step: "handover" });
    expect(r.failure!.message).toContain("412");
    expect(t.calls.some((c) => c.includes("apply"))).toBe(false);
  });

  it("a leader that stays is not handed over", async () => {
    const t = fakeTransport((node, argv) => {
      if (argv[1] === "cluster") return { code: 0, stdout: view, stderr: "" };
      if (argv[1] === "apply") return { code: 0, stdout: applyJson(node, argv[2]), stderr: "" };
      return { code: 0, stdout: `${node}: healthy`, stderr: "" };
    });
    const all = [...staying, { name: "db3", role: "postgres" as const, hash: H("8") }];
    const r = await runRollout({ transport: t, nodes: all, healthWaitSeconds: 5 });
    expect(r.handedOver).toBeUndefined();
    expect(t.calls.some((c) => c.includes("switchover"))).toBe(false);
    expect(r.order[r.order.length - 1]).toBe("db3");
  });
});

describe("`pgha rollout --transport ssm` against a stub awscli", () => {
  it("waits for SSM, sends each node's commands through AWS-RunShellScript, and reports", () => {
    const stub = ssmStub({ lostOnce: "i-lb1" }); // its first describe-instance-information says ConnectionLost
    const { dir } = stub;
    try {
      const bin = stub.bin;
      fs.writeFileSync(path.join(bin, "pgha-node"), `#!/bin/bash
node=\${PGHA_INSTANCE#i-}
case "$1" in
  cluster) echo '{"members":[{"name":"db1","role":"leader"},{"name":"db2","role":"replica"}]}' ;;
  apply) jq -cn --arg n "$node" --arg h "$2" '{node: $n, role: "r", ok: true, oldHash: null, newHash: $h, changed: ["/etc/a"], removed: [], softwareInstalled: null, actions: ["cron"], pendingRestart: [], message: "applied"}' ;;
  check) echo "$node: healthy" ;;
esac
`, { mode: 0o755 });
      const plan = {
        region: "eu-west-1",
        nodes: [
          { name: "db1", role: "postgres", hash: H("a"), instanceId: "i-db1" },
          { name: "db2", role: "postgres", hash: H("b"), instanceId: "i-db2" },
          { name: "lb1", role: "haproxy", hash: H("c"), instanceId: "i-lb1" },
        ],
      };
      const pgha = path.resolve(__dirname, "../../bin/pgha");
      const r = spawnSync(process.execPath, [pgha, "rollout", "--transport", "ssm", "--json"], {
        encoding: "utf8",
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, PGHA_ROLLOUT_PLAN: JSON.stringify(plan), PGHA_SSM_POLL_MS: "10" },
        timeout: 120_000,
      });
      expect(`${r.status} ${r.stderr}`).toMatch(/^0 /);
      const report = JSON.parse(r.stdout);
      expect(report).toMatchObject({ ok: true, transport: "SSM", order: ["lb1", "db2", "db1"] });
      expect(report.nodes.map((n: { node: string; newHash: string }) => [n.node, n.newHash])).toEqual([["lb1", H("c")], ["db2", H("b")], ["db1", H("a")]]);
      const calls = fs.readFileSync(path.join(dir, "ssm/calls"), "utf8").trim().split("\n");
      expect(calls.every((c) => c.includes("--region eu-west-1"))).toBe(true);
      expect(calls.filter((c) => c.startsWith("ssm describe-instance-information") && c.includes("i-lb1")).length).toBeGreaterThanOrEqual(2);
      const sent = fs.readdirSync(path.join(dir, "ssm")).filter((f) => /^cmd-\d+\.sh$/.test(f)).sort((a, b) => Number(a.split(/[-.]/)[1]) - Number(b.split(/[-.]/)[1]));
      const scripts = sent.map((f) => fs.readFileSync(path.join(dir, "ssm", f), "utf8").trim().split("\n").pop());
      expect(scripts).toEqual([
        "pgha-node cluster",
        `pgha-node apply ${H("c")} --json`,
        "pgha-node check --wait 180",
        `pgha-node apply ${H("b")} --json`,
        "pgha-node check --wait 180",
        `pgha-node apply ${H("a")} --json`,
        "pgha-node check --wait 180",
      ]);
      for (const f of sent) expect(fs.readFileSync(path.join(dir, "ssm", f), "utf8")).toMatch(/^cloud-init status --wait/);
    } finally {
      stub.remove();
    }
  }, 120_000);

  it("refuses a missing or malformed plan with exit status 2", () => {
    const pgha = path.resolve(__dirname, "../../bin/pgha");
    const none = spawnSync(process.execPath, [pgha, "rollout"], { encoding: "utf8", env: { ...process.env, PGHA_ROLLOUT_PLAN: "" } });
    expect(none.status).toBe(2);
    expect(none.stderr).toContain("no rollout plan");
    const bad = spawnSync(process.execPath, [pgha, "rollout"], { encoding: "utf8", env: { ...process.env, PGHA_ROLLOUT_PLAN: JSON.stringify({ region: "eu-west-1", nodes: [{ name: "db1" }] }) } });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("the rollout plan must be");
  });
});
