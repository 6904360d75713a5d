// Resource identity: every shipped stack registers exactly the URNs committed in
// test/program/urns/<stack>.txt. A URN is how `pulumi up` matches a resource with its state; a
// component renamed or a resource moved under another parent changes it, and the engine then
// replaces the resource — for the protected volumes, bucket and key that fails or orphans them.
// A deliberate move keeps the old URN in `aliases` and regenerates the lists (src/plan/urns.ts).
import * as fs from "fs";
import { ROOT, runProgram, type ProgramRun, type RecordedResource } from "../helpers/mocks";
import { urnOf } from "../../src/plan/run";
import { compareUrnLists, describeUrnListDifference, formatUrnList, parseUrnList, shippedStacks, urnEntries, urnListFile } from "../../src/plan/urns";

const stacks = shippedStacks(ROOT);

describe("resource URNs", () => {
  it("the repository ships stacks, and a committed URN list for each", () => {
    expect(stacks).toEqual(expect.arrayContaining(["dev", "staging", "prod"]));
    for (const s of stacks) expect(fs.existsSync(urnListFile(ROOT, s))).toBe(true);
  });

  describe.each(stacks)("stack %s", (stack) => {
    let run: ProgramRun;
    beforeAll(async () => {
      run = await runProgram({ stack });
    });

    it("registers exactly the committed URNs, with the same protect/retainOnDelete", () => {
      expect(run.error).toBeUndefined();
      const committed = parseUrnList(fs.readFileSync(urnListFile(ROOT, stack), "utf8"));
      expect(describeUrnListDifference(stack, compareUrnLists(committed, run))).toBe("");
    });

    it("URNs are the engine's: the whole chain of parent types, not only the last one", () => {
      const byUrn = new Map(run.resources.map((r) => [r.urn, r]));
      const nested = run.resources.filter((r) => r.parent && byUrn.has(r.parent));
      expect(nested.length).toBeGreaterThan(10);
      for (const r of nested) {
        const parentTypes = r.parent!.split("::")[2];
        expect(r.urn.split("::")[2]).toBe(`${parentTypes}$${r.type}`);
      }
    });

    if (stack === "prod") {
      it("the data volumes, the bucket and its key are in the list as protected", () => {
        const keeps = urnEntries(run).filter((e) => e.keeps.includes("protect")).map((e) => e.urn);
        expect(keeps.some((u) => u.endsWith("aws:ebs/volume:Volume::orders-prod-db1-data"))).toBe(true);
        expect(keeps.some((u) => /aws:s3\/bucket:Bucket::orders-prod-backups$/.test(u))).toBe(true);
        expect(keeps.some((u) => /aws:kms\/key:Key::/.test(u))).toBe(true);
      });
    }
  });
});

describe("comparing URN lists", () => {
  const res = (urn: string, extra: Partial<RecordedResource["options"]> = {}): RecordedResource =>
    ({ urn, type: "t", name: "n", inputs: {}, options: { protect: false, retainOnDelete: false, ignoreChanges: [], replaceOnChanges: [], deleteBeforeReplace: false, additionalSecretOutputs: [], dependencies: [], ...extra }, propertyDependencies: {} }) as unknown as RecordedResource;
  const A = urnOf("prod", "aws:ec2/volume:Volume", "db1-data", urnOf("prod", "pkg:index:Node", "db1"));
  const B = urnOf("prod", "aws:ec2/volume:Volume", "db1-data", urnOf("prod", "pkg:index:Storage", "db1"));

  it("builds URNs as the engine does: no Stack type in front, parent types chained with $", () => {
    expect(urnOf("prod", "pkg:index:Node", "db1")).toBe("urn:pulumi:prod::postgres-ha::pkg:index:Node::db1");
    expect(A).toBe("urn:pulumi:prod::postgres-ha::pkg:index:Node$aws:ec2/volume:Volume::db1-data");
    const grandchild = urnOf("prod", "aws:ec2/volumeAttachment:VolumeAttachment", "a", A);
    expect(grandchild).toBe("urn:pulumi:prod::postgres-ha::pkg:index:Node$aws:ec2/volume:Volume$aws:ec2/volumeAttachment:VolumeAttachment::a");
  });

  it("a moved protected resource without an alias is named as lost, with what it costs and the fix", () => {
    const committed = parseUrnList(formatUrnList("prod", [{ urn: A, keeps: ["protect"] }]));
    const d = compareUrnLists(committed, { resources: [res(B, { protect: true })] });
    expect(d.vanished).toEqual([{ urn: A, keeps: ["protect"], aliasedBy: undefined }]);
    expect(d.added).toEqual([{ urn: B, keeps: ["protect"] }]);
    const text = describeUrnListDifference("prod", d);
    expect(text).toContain(`gone, no alias claims it — it is protect: \`pulumi up\` would fail on it or orphan it: ${A}`);
    expect(text).toContain("give it `aliases`");
  });

  it("a move with an alias is reported as moved, state kept; a dropped protect is a change", () => {
    const d = compareUrnLists([{ urn: A, keeps: ["protect"] }], { resources: [res(B, { protect: true, aliases: [A] })] });
    expect(d.vanished).toEqual([{ urn: A, keeps: ["protect"], aliasedBy: B }]);
    expect(describeUrnListDifference("prod", d)).toContain(`moved (aliased, state kept): ${A}\n    → ${B}`);
    const unprotected = compareUrnLists([{ urn: A, keeps: ["protect"] }], { resources: [res(A)] });
    expect(unprotected.keepsChanged).toEqual([{ urn: A, committed: ["protect"], now: [] }]);
  });
});
