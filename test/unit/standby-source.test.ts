// A standby stack that names only its primary (`standby: {primaryStack: prod}`): host, cidrs and
// the repository copy come from the primary's stack file in the same project
// (src/standby/source.ts, readStackFile), so the two stacks cannot disagree and the offline
// commands resolve them; what the stack sets itself wins; without the primary's file the gate
// names every key it still needs. The derivation is also every stack's `standbySource` output
// (test/program/standby.test.ts).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import YAML from "yaml";
import { ConfigError, loadAndValidate } from "../../src/config/load";
import { loadStack, readStackFile } from "../../src/config/stack-file";
import { standbySourceOf } from "../../src/standby/source";

const ROOT = path.resolve(__dirname, "../..");
let dir: string;

/** A project directory with Pulumi.yaml, prod as shipped (or changed), and prod-dr's file with `standby` as given. */
function project(standby: Record<string, unknown>, prod?: (doc: { config: Record<string, unknown> }) => void): string {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-standby-source-"));
  fs.copyFileSync(path.join(ROOT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
  const prodDoc = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.prod.yaml"), "utf8"));
  prod?.(prodDoc);
  fs.writeFileSync(path.join(dir, "Pulumi.prod.yaml"), YAML.stringify(prodDoc));
  const dr = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.prod-dr.yaml"), "utf8"));
  dr.config["postgres-ha:standby"] = standby;
  fs.writeFileSync(path.join(dir, "Pulumi.prod-dr.yaml"), YAML.stringify(dr));
  return dir;
}
afterEach(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

describe("standby derived from the primary's stack file", () => {
  it("primaryStack alone: the same standby as the shipped prod-dr, which spells every value out", () => {
    const derived = loadStack("prod-dr", project({ primaryStack: "prod" })).spec;
    const shipped = loadStack("prod-dr", ROOT).spec;
    expect(derived.standby).toEqual(shipped.standby);
    expect(derived.standby).toMatchObject({ host: "rw.orders.pgha.internal", cidrs: ["10.20.0.0/16"], repository: { bucketName: "pgha-prod-orders-eu-central-1", region: "eu-central-1" } });
    // The source is prod's own spec, read through the same gate.
    const prod = standbySourceOf(loadStack("prod", ROOT).spec);
    expect(prod).toEqual({ stack: "prod", clusterName: "orders", host: "rw.orders.pgha.internal", port: 5000, cidrs: ["10.20.0.0/16"], repositoryBuckets: { "eu-west-1": "pgha-prod-orders-eu-west-1", "eu-central-1": "pgha-prod-orders-eu-central-1" }, repoEncryption: true });
  });

  it("follows the primary's config: a changed VPC and a named copy bucket reach the standby", () => {
    const root = project({ primaryStack: "prod" }, (doc) => {
      doc.config["postgres-ha:network"] = { ...(doc.config["postgres-ha:network"] as object), vpcCidr: "10.30.0.0/16" };
      doc.config["postgres-ha:backup"] = { ...(doc.config["postgres-ha:backup"] as object), secondRepository: { region: "eu-central-1", bucketName: "orders-dr-copy" } };
    });
    expect(loadStack("prod-dr", root).spec.standby).toMatchObject({ cidrs: ["10.30.0.0/16"], repository: { bucketName: "orders-dr-copy" } });
  });

  it("what the standby sets itself wins", () => {
    const spec = loadStack("prod-dr", project({ primaryStack: "prod", host: "10.20.1.10", port: 6000 })).spec;
    expect(spec.standby).toMatchObject({ host: "10.20.1.10", port: 6000, cidrs: ["10.20.0.0/16"] });
  });

  it("without the primary's stack file, the gate names each key it still needs, before anything is created", () => {
    const root = project({ primaryStack: "prod" });
    fs.rmSync(path.join(root, "Pulumi.prod.yaml"));
    const raw = readStackFile("prod-dr", root).raw;
    let error: unknown;
    try {
      loadAndValidate(raw, { stack: "prod-dr" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.map((p) => p.key);
    expect(problems).toEqual(expect.arrayContaining(["standby.host", "standby.cidrs", "standby.repositoryBucket"]));
    expect((error as ConfigError).message).toContain("could not be derived from stack prod: its stack file Pulumi.prod.yaml is not in this project");
  });

  it("a primary with no repository copy in the standby's region: the bucket is named as missing, the rest derived", () => {
    const root = project({ primaryStack: "prod" }, (doc) => {
      doc.config["postgres-ha:backup"] = { ...(doc.config["postgres-ha:backup"] as object), secondRepository: null };
    });
    let error: unknown;
    try {
      loadStack("prod-dr", root);
    } catch (e) {
      error = e;
    }
    expect((error as ConfigError).problems.map((p) => p.key)).toEqual(["standby.repositoryBucket"]);
    expect((error as ConfigError).message).toContain("or gives no repository copy in eu-central-1");
  });
});
