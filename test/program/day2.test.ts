// Day-2 changes: a PostgreSQL parameter or Patroni timing change reaches the running cluster
// through the DynamicConfig command (its trigger changes) and never through an instance:
// the only instance input that changes is the user-data, which the program ignores after creation.
import { isDeepStrictEqual } from "util";
import { INSTANCE_IGNORE_CHANGES } from "../../components/instance";
import { TYPES, runProgram, type ProgramRun, type RecordedResource } from "../helpers/mocks";

/** URN → the top-level input keys that differ between two runs. */
function changedInputs(before: ProgramRun, after: ProgramRun): Map<string, string[]> {
  const afterByUrn = new Map(after.resources.map((r) => [r.urn, r]));
  const changes = new Map<string, string[]>();
  for (const b of before.resources) {
    const a = afterByUrn.get(b.urn)!;
    const keys = [...new Set([...Object.keys(b.inputs), ...Object.keys(a.inputs)])].filter((k) => !isDeepStrictEqual(b.inputs[k], a.inputs[k]));
    if (keys.length) changes.set(b.urn, keys.sort());
  }
  return changes;
}

const role = (r: RecordedResource) => r.inputs.tags?.["pgha:role"];

/** The unchanged stacks, run once per file (runs are deterministic). */
const baselines = new Map<string, Promise<ProgramRun>>();
function baseline(stack: string): Promise<ProgramRun> {
  if (!baselines.has(stack)) baselines.set(stack, runProgram({ stack }));
  return baselines.get(stack)!;
}

describe.each([
  ["a PostgreSQL parameter", "staging", { postgres: { parameters: { work_mem: "64MB", log_min_duration_statement: 500 } } }],
  ["Patroni timing", "prod", { patroni: { ttl: 40, loopWait: 10, retryTimeout: 10 } }],
  ["the synchronous mode", "prod", { postgres: { syncMode: "on" } }],
] as const)("changing %s (%s)", (_what, stack, overrides) => {
  let before: ProgramRun;
  let after: ProgramRun;
  let changes: Map<string, string[]>;

  beforeAll(async () => {
    before = await baseline(stack);
    after = await runProgram({ stack, overrides: overrides as Record<string, unknown> });
    if (before.error || after.error) throw before.error ?? after.error;
    changes = changedInputs(before, after);
  });

  test("the same resources, no replacement-relevant input of any instance changes", () => {
    expect(after.resources.map((r) => r.urn).sort()).toEqual(before.resources.map((r) => r.urn).sort());
    for (const i of before.ofType(TYPES.instance)) {
      const changed = changes.get(i.urn) ?? [];
      for (const key of changed) expect(INSTANCE_IGNORE_CHANGES).toContain(key);
      expect(i.options.ignoreChanges).toEqual(expect.arrayContaining(changed));
      // Only PostgreSQL members carry the dynamic configuration in their bundle.
      if (role(i) !== "postgres") expect(changed).toEqual([]);
    }
  });

  test("only the day-2 command's trigger (and its payload) changes", () => {
    const command = before.ofType(TYPES.localCommand)[0];
    expect(changes.get(command.urn)).toEqual(expect.arrayContaining(["triggers"]));
    expect(after.get(TYPES.localCommand, command.name).inputs.triggers).not.toEqual(command.inputs.triggers);
    const unexpected = [...changes.entries()].filter(([urn]) => urn !== command.urn && before.byUrn(urn)!.type !== TYPES.instance);
    expect(unexpected).toEqual([]);
    for (const key of changes.get(command.urn)!) expect(["triggers", "environment"]).toContain(key);
  });

  test("the outputs show the new configuration hash", () => {
    expect(after.outputs.dynamicConfigHash).not.toBe(before.outputs.dynamicConfigHash);
    expect(after.outputs.dynamicConfigHash).toBe(after.get(TYPES.localCommand, before.ofType(TYPES.localCommand)[0].name).inputs.triggers[0]);
  });
});

test("an instance type change is an in-place update of that role's instances only (no new URNs)", async () => {
  const before = await baseline("staging");
  const after = await runProgram({ stack: "staging", overrides: { etcd: { instanceType: "m7g.medium" } } });
  const changes = changedInputs(before, after);
  for (const [urn, keys] of changes) {
    const r = before.byUrn(urn)!;
    expect(r.type).toBe(TYPES.instance);
    expect(role(r)).toBe("etcd");
    expect(keys).toEqual(["instanceType"]);
  }
  expect(changes.size).toBe(3);
});
