// Day 2, part 2 on AWS (program under mocks): a count change adds or removes exactly one node's
// resources and touches no other instance or volume; the NLB's targets follow the HAProxy nodes;
// the rollout's plan carries the maintenance window. (The sandbox does the same changes on booted
// hosts: test/integration/day2.test.ts.)
import { isDeepStrictEqual } from "util";
import { TYPES, runProgram, type ProgramRun, type RecordedResource } from "../helpers/mocks";

const nodeOf = (r: RecordedResource) => r.inputs.tags?.["pgha:node"];

/** URNs only in `b`, and URNs of `a` whose inputs differ in `b`. */
function delta(a: ProgramRun, b: ProgramRun) {
  const aUrns = new Set(a.resources.map((r) => r.urn));
  const bByUrn = new Map(b.resources.map((r) => [r.urn, r]));
  return {
    added: b.resources.filter((r) => !aUrns.has(r.urn)),
    removed: a.resources.filter((r) => !bByUrn.has(r.urn)),
    changed: a.resources.filter((r) => bByUrn.has(r.urn) && !isDeepStrictEqual(r.inputs, bByUrn.get(r.urn)!.inputs)),
  };
}

let prod: ProgramRun;
beforeAll(async () => {
  prod = await runProgram({ stack: "prod" });
  if (prod.error) throw prod.error;
}, 120_000);

describe("postgres.nodes 3 → 4 (prod)", () => {
  let four: ProgramRun;
  beforeAll(async () => {
    four = await runProgram({ stack: "prod", overrides: { postgres: { nodes: 4 } } });
    if (four.error) throw four.error;
  }, 120_000);

  it("adds one instance with its data volume and attachment, its secret and bundle, all named db4; removes nothing", () => {
    const d = delta(prod, four);
    expect(d.removed).toEqual([]);
    const byType = (t: string) => d.added.filter((r) => r.type === t);
    expect(byType(TYPES.instance).map(nodeOf)).toEqual(["db4"]);
    expect(byType(TYPES.volume).length).toBe(1);
    expect(byType(TYPES.volumeAttachment).length).toBe(1);
    for (const r of d.added) expect(`${r.type} ${r.name}`).toMatch(/db4/);
  });

  it("changes no existing instance or volume: the others learn of db4 through their bundles and the rollout", () => {
    const d = delta(prod, four);
    expect(d.changed.filter((r) => r.type === TYPES.instance || r.type === TYPES.volume || r.type === TYPES.volumeAttachment)).toEqual([]);
    const changedNodes = new Set(d.changed.filter((r) => r.type === TYPES.bucketObject).map((r) => /\/nodes\/([^/]+)\//.exec(r.inputs.key)?.[1]).filter(Boolean));
    // Every HAProxy node gets db4 as a backend; every member's pg_hba and hosts name it.
    for (const n of ["lb1", "lb2", "db1", "db2", "db3"]) expect(changedNodes).toContain(n);
    const rollout = four.ofType(TYPES.localCommand)[0];
    expect(JSON.parse(rollout.inputs.environment.PGHA_ROLLOUT_PLAN).nodes.map((n: { name: string }) => n.name)).toContain("db4");
  });
});

describe("a member leaving the stack is drained before its resources go", () => {
  it("every data-volume attachment binds the one leave hook before its deletion; instances are deleted before they are replaced (fixed address)", () => {
    const attachments = prod.ofType(TYPES.volumeAttachment);
    expect(attachments.length).toBe(3);
    for (const a of attachments) expect(a.options.hooks).toEqual({ beforeDelete: ["orders-prod-postgres-leave"] });
    for (const i of prod.ofType(TYPES.instance)) expect(i.options.deleteBeforeReplace).toBe(true);
    // etcd instances hand their leadership over before they go.
    for (const i of prod.ofType(TYPES.instance)) expect(i.options.hooks).toEqual(nodeOf(i).startsWith("etcd") ? { beforeDelete: ["orders-prod-etcd-handover"] } : {});
    expect(Object.keys(prod.hooks).sort()).toEqual(["orders-prod-etcd-handover", "orders-prod-postgres-leave"]);
  });

  it("the hook names the member and instance from the attachment (PGHA_DRAIN=off: reported, not drained) and refuses one it cannot place", async () => {
    const hook = prod.hooks["orders-prod-postgres-leave"];
    // PGHA_DRAIN=off: the hook names the member and instance without reaching SSM (the SSM call
    // itself, with and without --stay, is test/unit/leave-hook.test.ts).
    const saved = process.env.PGHA_DRAIN;
    process.env.PGHA_DRAIN = "off";
    try {
      expect(await hook({ urn: "urn:x", id: "va-4", name: "orders-prod-db4-data", type: TYPES.volumeAttachment, oldInputs: { instanceId: "i-0db4" } }))
        .toMatchObject({ node: "db4", instanceId: "i-0db4", action: "not drained", detail: "PGHA_DRAIN=off" });
    } finally {
      if (saved === undefined) delete process.env.PGHA_DRAIN;
      else process.env.PGHA_DRAIN = saved;
    }
    await expect(Promise.resolve(hook({ urn: "urn:x", id: "va-9", name: "orders-prod-lb1", type: TYPES.volumeAttachment, oldInputs: { instanceId: "i-1" } }))).rejects.toThrow(/cannot tell which member/);
  });
});

describe("a newer Debian image reaches a deployed stack one node per pulumi up", () => {
  // Every node of the deployed stack runs ami-0old (what EC2 answers for its tags).
  const deployed = () => Object.fromEntries(prod.ofType(TYPES.instance).map((i) => [nodeOf(i), { id: `i-${nodeOf(i)}`, ami: "ami-0old" }]));
  const amiOf = (run: ProgramRun) => Object.fromEntries(run.ofType(TYPES.instance).map((i) => [nodeOf(i), i.inputs.ami]));

  it("inside the window: only mon1's instance gets the new image (a replacement: it holds no data of the cluster, so it goes first); every other keeps its AMI", async () => {
    const target = amiOf(prod).mon1;
    expect(target).toMatch(/^ami-/);
    const run = await runProgram({ stack: "prod", overrides: { maintenance: { window: "always" } }, runningInstances: deployed() });
    if (run.error) throw run.error;
    const amis = amiOf(run);
    expect(Object.entries(amis).filter(([, a]) => a !== "ami-0old")).toEqual([["mon1", target]]);
    expect(run.ofType(TYPES.instance).every((i) => !i.options.ignoreChanges.includes("ami"))).toBe(true);
    expect(run.stackOutputs.images).toMatchObject({ rolling: "mon1", olderImage: ["mon1", "etcd1", "etcd2", "etcd3", "lb1", "lb2", "db1", "db2", "db3"] });
  });

  it("outside the window (prod's default: none) nothing is replaced, and the output names the nodes that wait", async () => {
    const run = await runProgram({ stack: "prod", runningInstances: deployed() });
    if (run.error) throw run.error;
    expect(Object.values(amiOf(run)).every((a) => a === "ami-0old")).toBe(true);
    expect(run.stackOutputs.images).toMatchObject({ rolling: null, olderImage: expect.arrayContaining(["db1", "etcd1", "lb1", "mon1"]) });
    expect(run.stackOutputs.images.reason).toMatch(/9 node\(s\) run an older image/);
  });
});

describe("haproxy.nodes 2 → 3 (prod)", () => {
  it("adds lb3's instance and one NLB target attachment per target group, pointing at lb3", async () => {
    const three = await runProgram({ stack: "prod", overrides: { haproxy: { nodes: 3 } } });
    if (three.error) throw three.error;
    const d = delta(prod, three);
    expect(d.removed).toEqual([]);
    expect(d.added.filter((r) => r.type === TYPES.instance).map(nodeOf)).toEqual(["lb3"]);
    const groups = prod.ofType(TYPES.targetGroup).length;
    expect(groups).toBeGreaterThan(0);
    const attachments = d.added.filter((r) => r.type === TYPES.targetGroupAttachment);
    expect(attachments.length).toBe(groups);
    expect(three.ofType(TYPES.targetGroupAttachment).length).toBe(prod.ofType(TYPES.targetGroupAttachment).length + groups);
    for (const a of attachments) expect(a.name).toMatch(/lb3/);
  }, 120_000);
});

describe("etcd.nodes 3 → 5 (prod)", () => {
  it("adds etcd4's and etcd5's instances and changes no existing one; the members' lists and Patroni's etcd hosts follow through the bundles", async () => {
    const five = await runProgram({ stack: "prod", overrides: { etcd: { nodes: 5 } } });
    if (five.error) throw five.error;
    const d = delta(prod, five);
    expect(d.removed).toEqual([]);
    expect(d.added.filter((r) => r.type === TYPES.instance).map(nodeOf).sort()).toEqual(["etcd4", "etcd5"]);
    expect(d.changed.filter((r) => r.type === TYPES.instance || r.type === TYPES.volume)).toEqual([]);
    const changedNodes = new Set(d.changed.filter((r) => r.type === TYPES.bucketObject).map((r) => /\/nodes\/([^/]+)\//.exec(r.inputs.key)?.[1]).filter(Boolean));
    for (const n of ["etcd1", "etcd2", "etcd3", "db1", "db2", "db3"]) expect(changedNodes).toContain(n);
  }, 120_000);
});

describe("maintenance.window", () => {
  it("reaches the rollout's plan (null by default)", async () => {
    const plan = (run: ProgramRun) => JSON.parse(run.ofType(TYPES.localCommand)[0].inputs.environment.PGHA_ROLLOUT_PLAN);
    expect(plan(prod).maintenanceWindow).toBeNull();
    const windowed = await runProgram({ stack: "prod", overrides: { maintenance: { window: "sun:02:00-sun:04:00" } } });
    if (windowed.error) throw windowed.error;
    expect(plan(windowed).maintenanceWindow).toBe("sun:02:00-sun:04:00");
  }, 120_000);
});
