// Day-2 changes: a changed stack config reaches the running nodes through their bundles — S3
// objects (components/nodeBundles.ts) — and the rollout command, whose trigger is the sha256
// over every node's bundle hash (components/rollout.ts). Never through an instance: the
// user-data is the bootstrap, the same whatever the config, so no instance input changes and
// nothing is replaced or updated in place. Only the affected nodes' bundle objects and desired
// pointers change, and the rollout command (it runs again) — nothing else.
import { isDeepStrictEqual } from "util";
import { rolloutTrigger, sha256, unpackNodeBundle } from "../../src/bundle/format";
import { TYPES, runProgram, specOf, type ProgramRun, type RecordedResource } from "../helpers/mocks";
import { cronFieldsValid, parseCronD } from "../helpers/parsers";

const OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2";

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
const nodeOf = (r: RecordedResource) => r.inputs.tags?.["pgha:node"];
const bundleObject = (run: ProgramRun, node: string) => run.ofType(OBJECT).find((o) => /\/nodes\/[^/]+\/[0-9a-f]{64}\.tar$/.test(o.inputs.key) && o.inputs.key.includes(`/nodes/${node}/`))!;
const pointer = (run: ProgramRun, node: string) => run.ofType(OBJECT).find((o) => o.inputs.key.endsWith(`/nodes/${node}/desired.json`))!;
/** A node's files as its bundle object carries them (decoded; the node's own checks included). */
function filesOf(run: ProgramRun, node: string): Map<string, string> {
  const object = bundleObject(run, node);
  const bytes = Buffer.from(object.inputs.contentBase64, "base64");
  expect(`${sha256(bytes)}.tar`).toBe(object.inputs.key.split("/").pop());
  return new Map([...unpackNodeBundle(bytes).files.values()].map((f) => [f.path, f.content]));
}

/** The unchanged stacks, run once per file (runs are deterministic). */
const baselines = new Map<string, Promise<ProgramRun>>();
function baseline(stack: string): Promise<ProgramRun> {
  if (!baselines.has(stack)) baselines.set(stack, runProgram({ stack }));
  return baselines.get(stack)!;
}

interface Day2Case {
  what: string;
  stack: string;
  overrides: Record<string, unknown>;
  /** The role whose nodes' bundles change. */
  role: "postgres" | "haproxy";
  /** The files that change in each of their bundles. */
  files: string[];
  /**
   * With monitoring (staging, prod): files of the monitoring node's bundle that change too — its
   * alert rules follow the objectives, Patroni's timing and the schedules. Whatever else changes
   * there stays in Prometheus's configuration (/etc/prometheus/). Default: none (the monitoring
   * node's bundle does not change).
   */
  monitorFiles?: string[];
  /** What the new files say (parsed). */
  check: (files: Map<string, string>) => void;
}

const dynamicJson = (files: Map<string, string>) => JSON.parse(files.get("/etc/patroni/dynamic.json")!);

const CASES: Day2Case[] = [
  {
    what: "a PostgreSQL parameter",
    stack: "staging",
    overrides: { postgres: { parameters: { work_mem: "64MB", log_min_duration_statement: 500 } } },
    role: "postgres",
    files: ["/etc/patroni/config.d/config.yml", "/etc/patroni/dynamic.json"],
    check: (f) => expect(dynamicJson(f).postgresql.parameters).toMatchObject({ work_mem: "64MB", log_min_duration_statement: "500" }),
  },
  {
    what: "Patroni timing",
    stack: "prod",
    overrides: { patroni: { ttl: 40, loopWait: 10, retryTimeout: 10 } },
    role: "postgres",
    files: ["/etc/patroni/config.d/config.yml", "/etc/patroni/dynamic.json"],
    monitorFiles: ["/etc/prometheus/pgha-rules.yml"],
    check: (f) => expect(dynamicJson(f)).toMatchObject({ ttl: 40, loop_wait: 10, retry_timeout: 10 }),
  },
  {
    what: "the synchronous mode",
    stack: "prod",
    overrides: { postgres: { syncMode: "on" } },
    role: "postgres",
    files: ["/etc/patroni/config.d/config.yml", "/etc/patroni/dynamic.json"],
    monitorFiles: ["/etc/prometheus/pgha-rules.yml"],
    check: (f) => expect(dynamicJson(f).synchronous_mode).toBe(true),
  },
  {
    what: "the full-backup schedule (a cron line)",
    stack: "prod",
    overrides: { backup: { fullSchedule: "30 1 * * *" } },
    role: "postgres",
    files: ["/etc/cron.d/pgha-backup"],
    monitorFiles: ["/etc/prometheus/pgha-rules.yml"],
    check: (f) => {
      const jobs = parseCronD(f.get("/etc/cron.d/pgha-backup")!);
      for (const j of jobs) expect(cronFieldsValid(j)).toBe(true);
      const full = jobs.filter((j) => /pgha-backup full\b/.test(j.command));
      expect(full.map((j) => [j.minute, j.hour, j.dayOfMonth, j.month, j.dayOfWeek, j.user])).toEqual([["30", "1", "*", "*", "*", "postgres"]]);
    },
  },
  {
    what: "HAProxy's check interval",
    stack: "prod",
    overrides: { haproxy: { checkIntervalMs: 1500 } },
    role: "haproxy",
    files: ["/etc/haproxy/pgha.cfg"],
    check: (f) => expect(f.get("/etc/haproxy/pgha.cfg")).toMatch(/^\s*default-server inter 1500ms fastinter 750ms downinter 750ms /m),
  },
];

describe.each(CASES.map((c) => [c.what, c.stack, c] as const))("changing %s (%s)", (_what, stack, c) => {
  let before: ProgramRun;
  let after: ProgramRun;
  let changes: Map<string, string[]>;
  /** The nodes of the case's role, and with them the monitoring node when its alert rules change. */
  let roleNodes: string[];
  let affected: string[];

  beforeAll(async () => {
    before = await baseline(stack);
    after = await runProgram({ stack, overrides: c.overrides });
    if (before.error || after.error) throw before.error ?? after.error;
    changes = changedInputs(before, after);
    roleNodes = before.ofType(TYPES.instance).filter((i) => role(i) === c.role).map(nodeOf).sort();
    expect(roleNodes.length).toBeGreaterThan(0);
    const monitors = c.monitorFiles ? before.ofType(TYPES.instance).filter((i) => role(i) === "monitor").map(nodeOf) : [];
    if (c.monitorFiles) expect(monitors).toHaveLength(1);
    affected = [...roleNodes, ...monitors].sort();
  });

  test("the same resources; no instance changes at all (nothing replaced, nothing updated in place)", () => {
    expect(after.resources.map((r) => r.urn).sort()).toEqual(before.resources.map((r) => r.urn).sort());
    for (const i of before.ofType(TYPES.instance)) expect([nodeOf(i), changes.get(i.urn)]).toEqual([nodeOf(i), undefined]);
    for (const v of before.ofType(TYPES.volume)) expect(changes.get(v.urn)).toBeUndefined();
  });

  test("only the affected nodes' bundle objects and pointers change, and the rollout command", () => {
    const rollout = before.ofType(TYPES.localCommand);
    expect(rollout.map((r) => r.name)).toEqual([`${specOf(before).names.prefix}-rollout`]);
    const expected = new Map<string, string[]>([
      ...affected.flatMap((n) => [
        [bundleObject(before, n).urn, ["contentBase64", "key", "tags"]] as [string, string[]],
        [pointer(before, n).urn, ["content"]] as [string, string[]],
      ]),
      [rollout[0].urn, ["environment", "triggers"]],
    ]);
    const describe = (m: Map<string, string[]>) => Object.fromEntries([...m.entries()].map(([urn, keys]) => [before.byUrn(urn)!.name, keys]));
    expect(describe(changes)).toEqual(describe(expected));
  });

  test(`each affected node's new bundle holds new ${c.files.join(", ")}${c.monitorFiles ? ` (the monitoring node's: ${c.monitorFiles.join(", ")}, Prometheus's only)` : ""} — and nothing else new`, () => {
    for (const n of affected) {
      const old = filesOf(before, n);
      const now = filesOf(after, n);
      expect([...now.keys()].sort()).toEqual([...old.keys()].sort());
      const changed = [...now.keys()].filter((p) => now.get(p) !== old.get(p)).sort();
      if (roleNodes.includes(n)) {
        expect(changed).toEqual([...c.files].sort());
        c.check(now);
      } else {
        expect(changed).toEqual(expect.arrayContaining(c.monitorFiles!));
        for (const p of changed) expect(p).toMatch(/^\/etc\/prometheus\//);
      }
      // the pointer names the new object, and the same node software
      const [was, is] = [JSON.parse(pointer(before, n).inputs.content), JSON.parse(pointer(after, n).inputs.content)];
      expect(bundleObject(after, n).inputs.key).toBe(`bundles/${specOf(after).clusterName}/nodes/${n}/${is.bundle}.tar`);
      expect(is.bundle).not.toBe(was.bundle);
      expect(is.software).toBe(was.software);
    }
  });

  test("the rollout runs again: its trigger is the sha256 over the new bundle hashes, its plan names them", () => {
    const command = (run: ProgramRun) => run.ofType(TYPES.localCommand)[0];
    const hashes = (run: ProgramRun) => run.ofType(TYPES.instance).map((i) => ({ name: nodeOf(i), hash: JSON.parse(pointer(run, nodeOf(i)).inputs.content).bundle }));
    expect(command(after).inputs.triggers).toEqual([rolloutTrigger(hashes(after))]);
    expect(command(after).inputs.triggers).not.toEqual(command(before).inputs.triggers);
    const planOf = (run: ProgramRun) => Object.fromEntries(JSON.parse(command(run).inputs.environment.PGHA_ROLLOUT_PLAN).nodes.map((n: { name: string; hash: string }) => [n.name, n.hash]));
    const [was, is] = [planOf(before), planOf(after)];
    for (const { name, hash } of hashes(after)) {
      expect(is[name]).toBe(hash);
      if (affected.includes(name)) expect(is[name]).not.toBe(was[name]);
      else expect(is[name]).toBe(was[name]);
    }
    expect(Object.keys(after.outputs.bundleHashes).filter((n) => after.outputs.bundleHashes[n] !== before.outputs.bundleHashes[n]).sort()).toEqual(affected);
  });

  if (c.files.includes("/etc/patroni/dynamic.json")) {
    test("the dynamicConfigHash output is the hash of the dynamic.json every member's bundle carries", () => {
      expect(after.outputs.dynamicConfigHash).not.toBe(before.outputs.dynamicConfigHash);
      for (const n of roleNodes) expect(sha256(JSON.stringify(dynamicJson(filesOf(after, n))))).toBe(after.outputs.dynamicConfigHash);
    });
  }
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
