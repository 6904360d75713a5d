// Which node a `pulumi up` gives the stack's newer image (src/rollout/image-roll.ts): one at most,
// in role order, inside the maintenance window; everything else keeps the AMI it runs.
import { planImageRoll, type ImageRollNode } from "../../src/rollout/image-roll";

const OLD = "ami-old";
const NEW = "ami-new";
const cluster = (overrides: Partial<Record<string, Partial<ImageRollNode>>> = {}): ImageRollNode[] =>
  [
    { name: "db1", role: "postgres" }, { name: "db2", role: "postgres" }, { name: "db10", role: "postgres" },
    { name: "etcd2", role: "etcd" }, { name: "etcd1", role: "etcd" }, { name: "lb1", role: "haproxy" },
  ].map((n) => ({ ...n, running: OLD, target: NEW, ...overrides[n.name] }) as ImageRollNode);
const sunday3am = new Date("2026-12-06T03:00:00Z");

describe("planImageRoll", () => {
  it("rolls exactly one node, etcd first, and pins every other node to what it runs", () => {
    const p = planImageRoll(cluster(), "always", sunday3am);
    expect(p.roll).toBe("etcd1");
    expect(p.stale).toEqual(["etcd1", "etcd2", "lb1", "db1", "db2", "db10"]);
    expect(Object.entries(p.amis).filter(([, ami]) => ami === NEW).map(([n]) => n)).toEqual(["etcd1"]);
    expect(p.reason).toMatch(/^etcd1 is replaced with ami-new \(maintenance.window is always\); 5 more node\(s\) follow, one per pulumi up$/);
  });

  it("goes on where the last update stopped: PostgreSQL members last, by number", () => {
    const p = planImageRoll(cluster({ etcd1: { running: NEW }, etcd2: { running: NEW }, lb1: { running: NEW }, db1: { running: NEW } }), "always", sunday3am);
    expect(p.roll).toBe("db2");
    expect(p.stale).toEqual(["db2", "db10"]);
  });

  it("replaces nothing outside the window or without one, and says which nodes wait", () => {
    const outside = planImageRoll(cluster(), "sat:01:00-sat:02:00", sunday3am);
    expect(outside.roll).toBeUndefined();
    expect(Object.values(outside.amis).every((a) => a === OLD)).toBe(true);
    expect(outside.reason).toMatch(/^6 node\(s\) run an older image \(etcd1, etcd2, lb1, db1, db2, db10\): not replaced, outside the maintenance window sat:01:00-sat:02:00/);
    const none = planImageRoll(cluster(), null, sunday3am);
    expect(none.roll).toBeUndefined();
    expect(none.reason).toContain("set maintenance.window to roll them one per pulumi up");
    expect(planImageRoll(cluster(), "sun:02:00-sun:04:00", sunday3am).roll).toBe("etcd1");
  });

  it("a node without an instance gets the stack's image and is not a replacement", () => {
    const p = planImageRoll(cluster({ db10: { running: undefined }, etcd1: { running: NEW }, etcd2: { running: NEW }, lb1: { running: NEW }, db1: { running: NEW }, db2: { running: NEW } }), null, sunday3am);
    expect(p).toMatchObject({ roll: undefined, stale: [], reason: "every node runs the stack's image" });
    expect(p.amis.db10).toBe(NEW);
  });
});
