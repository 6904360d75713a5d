// The pack as the Pulumi CLI runs it: policies/ started by @pulumi/pulumi's run-policy-pack
// (ts-node with type checking, the CLI's compiler settings, PULUMI_CONFIG/PULUMI_STACK as the
// engine sets them), spoken to over the analyzer's gRPC protocol — GetAnalyzerInfo, Configure,
// Analyze and AnalyzeStack. Proves the pack starts, picks its enforcement from the stack, and
// that its verdicts match the offline engine's.
import { spawn, type ChildProcess } from "child_process";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import { ROOT } from "../helpers/mocks";
import { UNKNOWN, syntheticCluster } from "./helpers";
import type { RecordedResource } from "../../src/plan/run";

/* eslint-disable @typescript-eslint/no-require-imports */
const rpc = require("@pulumi/pulumi/proto/analyzer_grpc_pb");
const pb = require("@pulumi/pulumi/proto/analyzer_pb");
const { Struct } = require("google-protobuf/google/protobuf/struct_pb");
const { Empty } = require("google-protobuf/google/protobuf/empty_pb");
/* eslint-enable @typescript-eslint/no-require-imports */

jest.setTimeout(90_000);

const LEVEL = ["advisory", "mandatory", "remediate", "disabled"];

interface Pack {
  process: ChildProcess;
  call: (method: string, request: unknown) => Promise<any>;
  close: () => void;
}

async function startPack(stack: string, tier: string): Promise<Pack> {
  const child = spawn(process.execPath, [path.join(ROOT, "node_modules/@pulumi/pulumi/cmd/run-policy-pack"), "127.0.0.1:1", "."], {
    cwd: path.join(ROOT, "policies"),
    env: { ...process.env, PULUMI_STACK: stack, PULUMI_CONFIG: JSON.stringify({ "postgres-ha:tier": tier, "aws:region": "eu-west-1" }) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const port = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
      const m = /^(\d+)\s*$/m.exec(out);
      if (m) resolve(m[1]);
    });
    child.on("exit", (code) => reject(new Error(`the pack exited (${code}) before serving:\n${stderr}`)));
  });
  const client = new rpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return {
    process: child,
    call: (method, request) => new Promise((resolve, reject) => client[method](request, (err: Error | null, res: unknown) => (err ? reject(err) : resolve(res)))),
    close: () => {
      client.close();
      child.kill();
    },
  };
}

function analyzeRequest(r: { type: string; name: string; props: Record<string, unknown> }) {
  const req = new pb.AnalyzeRequest();
  req.setType(r.type);
  req.setName(r.name);
  req.setUrn(`urn:pulumi:test::postgres-ha::${r.type}::${r.name}`);
  req.setProperties(Struct.fromJavaScript(r.props));
  req.setOptions(new pb.AnalyzerResourceOptions());
  return req;
}

function analyzeStackRequest(resources: RecordedResource[]) {
  const req = new pb.AnalyzeStackRequest();
  req.setResourcesList(
    resources.map((r) => {
      const a = new pb.AnalyzerResource();
      a.setType(r.type);
      a.setName(r.name);
      a.setUrn(r.urn);
      a.setProperties(Struct.fromJavaScript(JSON.parse(JSON.stringify(r.state))));
      a.setOptions(new pb.AnalyzerResourceOptions());
      a.setDependenciesList(r.options.dependencies);
      const deps = a.getPropertydependenciesMap();
      for (const [k, urns] of Object.entries(r.propertyDependencies)) {
        const d = new pb.AnalyzerPropertyDependencies();
        d.setUrnsList(urns);
        deps.set(k, d);
      }
      return a;
    }),
  );
  return req;
}

const diagnostics = (res: any) => res.getDiagnosticsList().map((d: any) => ({ policy: d.getPolicyname(), level: LEVEL[d.getEnforcementlevel()], message: d.getMessage() as string }));

describe("prod: the pack started by run-policy-pack, as `pulumi preview --policy-pack policies` starts it", () => {
  let pack: Pack;
  beforeAll(async () => {
    pack = await startPack("prod", "prod");
  });
  afterAll(() => pack?.close());

  test("it serves every rule; its default enforcement is mandatory for a prod stack", async () => {
    const info = await pack.call("getAnalyzerInfo", new Empty());
    expect(info.getName()).toBe("postgres-ha");
    expect(info.getPoliciesList()).toHaveLength(31);
    expect(new Set(info.getPoliciesList().map((p: any) => LEVEL[p.getEnforcementlevel()]))).toEqual(new Set(["mandatory"]));
  });

  test("Analyze: an unencrypted volume is a mandatory violation; an unknown one cannot be evaluated (advisory)", async () => {
    const bad = diagnostics(await pack.call("analyze", analyzeRequest({ type: "aws:ebs/volume:Volume", name: "v", props: { encrypted: false, finalSnapshot: true, tags: { "pgha:tier": "prod" } } })));
    expect(bad.filter((d: any) => d.policy === "ebs-encrypted")).toEqual([expect.objectContaining({ level: "mandatory", message: expect.stringContaining("EBS volume v is not encrypted") })]);
    const unknown = diagnostics(await pack.call("analyze", analyzeRequest({ type: "aws:ebs/volume:Volume", name: "v", props: { encrypted: UNKNOWN, finalSnapshot: true, tags: { "pgha:tier": "prod" } } })));
    expect(unknown.filter((d: any) => d.policy === "ebs-encrypted")).toEqual([expect.objectContaining({ level: "advisory", message: expect.stringContaining("can't run policy 'ebs-encrypted'") })]);
  });

  test("AnalyzeStack: a prod cluster without TLS is refused by the TLS rules; Configure changes a rule's level and settings", async () => {
    const cluster = syntheticCluster("prod", { tls: { enabled: false } });
    const before = diagnostics(await pack.call("analyzeStack", analyzeStackRequest(cluster.resources)));
    const rules = new Set(before.map((d: any) => d.policy));
    expect(rules).toEqual(new Set(["pg-hba-hostssl-only", "tls-everywhere"]));
    expect(before.every((d: any) => d.level === "mandatory")).toBe(true);

    const configure = new pb.ConfigureAnalyzerRequest();
    const config = new pb.PolicyConfig();
    config.setEnforcementlevel(pb.EnforcementLevel.ADVISORY);
    config.setProperties(Struct.fromJavaScript({ minimumDays: 30 }));
    configure.getPolicyconfigMap().set("backup-retention-minimum", config);
    await pack.call("configure", configure);
    const after = diagnostics(await pack.call("analyzeStack", analyzeStackRequest(syntheticCluster("prod").resources)));
    expect(after).toEqual([
      expect.objectContaining({ policy: "backup-retention-minimum", level: "advisory", message: expect.stringContaining("tier prod requires at least 30") }),
      expect.objectContaining({ policy: "backup-retention-minimum" }),
      expect.objectContaining({ policy: "backup-retention-minimum" }),
    ]);
  });
});

test("staging: the same pack defaults to advisory", async () => {
  const pack = await startPack("staging", "staging");
  try {
    const info = await pack.call("getAnalyzerInfo", new Empty());
    expect(new Set(info.getPoliciesList().map((p: any) => LEVEL[p.getEnforcementlevel()]))).toEqual(new Set(["advisory"]));
  } finally {
    pack.close();
  }
});
