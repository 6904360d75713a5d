// pgha-bootstrap on a fresh fake node (only what the user-data writes): desired.json, the node
// software verified and installed, then pgha-node with the desired bundle — end to end through
// pgha-setup for a rendered etcd bundle.
import { fakeNodes, SOFTWARE_DIR, type FakeNode } from "./harness";
import { bootstrapEnv, devBundlesUri, devSecrets, nodeEnvValue, publish, renderedBundle } from "./fixtures";
import { nodeSoftware, nodeSoftwareFile } from "../../../src/render/software";
import { NODE_PATHS } from "../../../src/render/bundle";
import * as fs from "fs";
import * as path from "path";

jest.setTimeout(180_000); // real processes: seconds each on a busy machine
const node = fakeNodes();

/** A node as cloud-init leaves it: bootstrap.env, aws.env and pgha-bootstrap, no node software. */
function fresh(name: string): FakeNode {
  const n = bootstrapEnv(node({ software: false }).awsEnv(), name);
  return n.write(NODE_PATHS.bootstrap, nodeSoftwareFile(NODE_PATHS.bootstrap), 0o755);
}

describe("pgha-bootstrap", () => {
  it("installs the node software it verified, records its files, and hands over to pgha-node with the desired bundle", () => {
    const n = devSecrets(fresh("etcd1"), "etcd1");
    n.http("GET", new URL(nodeEnvValue("etcd1", "PGHA_SSM_AGENT_URL")).pathname, "a .deb");
    const b = renderedBundle("etcd1");
    publish(n, "etcd1", b);
    const r = n.run("pgha-bootstrap");
    expect(r.stderr).toContain(`[pgha-bootstrap] node software ${nodeSoftware().sha256.slice(0, 12)} installed; applying bundle ${b.hash.slice(0, 12)}`);
    expect(r.stderr).toContain("done: etcd1 (etcd) in main/dev");
    expect(r.status).toBe(0);
    for (const f of nodeSoftware().files) {
      expect(`${f.path} ${n.mode(f.path)}`).toBe(`${f.path} ${f.mode}`);
      expect(n.read(f.path)).toBe(fs.readFileSync(path.join(SOFTWARE_DIR, f.path), "utf8"));
    }
    expect(n.read("/var/lib/pgha/node/software")).toBe(nodeSoftware().sha256 + "\n");
    expect(n.read("/var/lib/pgha/node/software.files")).toBe(nodeSoftware().files.map((f) => f.path).sort().join("\n") + "\n");
    // pgha-node applied the desired bundle (software already installed: not fetched twice).
    expect(n.read("/var/lib/pgha/node/applied")).toBe(b.hash + "\n");
    expect(n.calls("aws").map((c) => c[3].replace(devBundlesUri(), ""))).toEqual(expect.arrayContaining(["/nodes/etcd1/desired.json", `/software/${nodeSoftware().sha256}.tar`, `/nodes/etcd1/${b.hash}.tar`]));
    expect(n.calls("aws").filter((c) => c[3].includes("/software/"))).toHaveLength(1);
    expect(n.read("/etc/etcd/pgha-etcd.yml")).toBe(b.files.find((f) => f.path === "/etc/etcd/pgha-etcd.yml")!.content);
    expect(n.leftInTmp()).toEqual([]);
  });

  it("refuses node software whose sha256 is not its name, installing nothing", () => {
    const n = fresh("etcd1");
    publish(n, "etcd1", renderedBundle("etcd1"));
    n.s3(`${devBundlesUri()}/software/${nodeSoftware().sha256}.tar`, Buffer.concat([nodeSoftware().tar, Buffer.alloc(512)]));
    const r = n.run("pgha-bootstrap");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`refused: node software ${nodeSoftware().sha256}\\.tar has sha256 [0-9a-f]{64}`));
    expect(n.exists("/usr/local/sbin/pgha-node")).toBe(false);
    expect(n.exists("/var/lib/pgha/node/software")).toBe(false);
    expect(n.leftInTmp()).toEqual([]);
  });

  it("waits for desired.json (the role's policy may take a while), then gives up naming it", () => {
    const n = fresh("etcd1");
    const r = n.run("pgha-bootstrap");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`cannot read ${devBundlesUri()}/nodes/etcd1/desired.json after 60 tries; check the node role's S3 access`);
    expect(n.calls("sleep")).toEqual(Array(59).fill(["5"]));
    expect(n.calls("aws")).toHaveLength(60);
  });

  it("a desired.json that names no valid hashes fails saying so", () => {
    const n = fresh("etcd1");
    n.s3(`${devBundlesUri()}/nodes/etcd1/desired.json`, JSON.stringify({ bundle: "latest", software: nodeSoftware().sha256 }));
    const r = n.run("pgha-bootstrap");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${devBundlesUri()}/nodes/etcd1/desired.json names no valid bundle and software hashes`);
  });

  it("adds the AWS endpoints' names to /etc/hosts once (the sandbox has no DNS for them)", () => {
    const n = fresh("etcd1");
    n.write(NODE_PATHS.bootstrapEnv, n.read(NODE_PATHS.bootstrapEnv) + "PGHA_BOOTSTRAP_HOSTS='10.88.0.249 aws.sandbox.internal;10.88.0.249 s3.sandbox.internal'\n");
    n.write("/etc/hosts", "127.0.0.1 localhost\n10.88.0.249 aws.sandbox.internal\n");
    expect(n.run("pgha-bootstrap").status).toBe(1); // nothing published: stops after the hosts
    expect(n.read("/etc/hosts")).toBe("127.0.0.1 localhost\n10.88.0.249 aws.sandbox.internal\n10.88.0.249 s3.sandbox.internal\n");
  });

  it("takes no arguments", () => {
    const r = fresh("etcd1").run("pgha-bootstrap", ["now"]);
    expect([r.status, r.stderr]).toEqual([2, "[pgha-bootstrap] usage: pgha-bootstrap (no arguments; --help explains)\n"]);
  });
});
