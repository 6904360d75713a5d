// postgres.credentialsVersion on AWS (mocks): version 1 adds no keeper to the cluster's own
// passwords (a stack from before the key keeps them); another version keys the four of them —
// superuser, replication, rewind, REST API — and nothing else; the cluster secret says which
// generation it holds; every PostgreSQL bundle carries the version with the `credentials`
// action; the rollout waits for the cluster secret's version.
import { unpackNodeBundle } from "../../src/bundle/format";
import { TYPES, runProgram, type ProgramRun } from "../helpers/mocks";

jest.setTimeout(120_000);

let v1: ProgramRun;
let v2: ProgramRun;
beforeAll(async () => {
  v1 = await runProgram({ stack: "staging" });
  v2 = await runProgram({ stack: "staging", overrides: { postgres: { credentialsVersion: 2 } } });
  if (v1.error) throw v1.error;
  if (v2.error) throw v2.error;
});

const keepers = (run: ProgramRun) =>
  Object.fromEntries(run.ofType(TYPES.randomPassword).map((p) => [p.name.replace(/^.*-(?=[^-]+$)/, ""), p.inputs.keepers ?? null]));

describe("postgres.credentialsVersion (the cluster's own passwords)", () => {
  test("version 1: no keeper on any password; version 2: the four cluster passwords keyed by it, the others untouched", () => {
    expect(Object.values(keepers(v1)).every((k) => k === null)).toBe(true);
    const k2 = keepers(v2);
    for (const purpose of ["superuser", "replication", "rewind", "restApi"]) expect([purpose, k2[purpose]]).toEqual([purpose, { credentialsVersion: "2" }]);
    expect(k2.haproxyStats).toBeNull();
  });

  test("the cluster secret names its generation; the rollout waits for that secret's version", () => {
    const clusterVersion = (run: ProgramRun) => run.ofType(TYPES.secretVersion).find((v) => run.byUrn(v.parent)!.inputs.name?.endsWith("/cluster"))!;
    expect(JSON.parse(clusterVersion(v1).inputs.secretString).credentialsVersion).toBe(1);
    expect(JSON.parse(clusterVersion(v2).inputs.secretString).credentialsVersion).toBe(2);
    const command = v2.resources.find((r) => r.type === "command:local:Command" && r.name.endsWith("-rollout"))!;
    expect(command.options.dependencies).toContain(clusterVersion(v2).urn);
  });

  test("every PostgreSQL bundle carries the version with the credentials action; no other node's bundle changes", () => {
    const bundles = (run: ProgramRun) =>
      new Map(run.ofType(TYPES.bucketObject).filter((o) => o.name.endsWith("-bundle")).map((o) => [/-(\w+)-bundle$/.exec(o.name)![1], { base64: o.inputs.contentBase64 as string, ...unpackNodeBundle(Buffer.from(o.inputs.contentBase64, "base64")) }]));
    const b1 = bundles(v1);
    const b2 = bundles(v2);
    expect([...b2.keys()].sort()).toEqual(["db1", "db2", "db3", "etcd1", "etcd2", "etcd3", "lb1", "mon1"]);
    for (const [node, bundle] of b2) {
      const file = bundle.files.get("/etc/pgha/credentials.version");
      if (node.startsWith("db")) {
        expect([node, file?.onChange, file?.content]).toEqual([node, ["credentials"], "2\n"]);
        expect(b1.get(node)!.files.get("/etc/pgha/credentials.version")?.content).toBe("1\n");
      } else {
        expect([node, file]).toEqual([node, undefined]);
        expect([node, bundle.base64 === b1.get(node)!.base64]).toEqual([node, true]);
      }
    }
  });
});
