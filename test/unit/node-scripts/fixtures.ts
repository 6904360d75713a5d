// What the node scripts read, made by the project's own code: node.env and bundles from the render
// path (the dev stack, EC2 layout), bundles packed with src/bundle/format.ts and the node software
// with src/render/software.ts, so the formats under test are the real ones.
import { loadStackConfig } from "../../../src/config/load";
import { buildSpec, type ClusterSpec } from "../../../src/spec";
import { ec2Layout } from "../../../src/layout";
import { renderAll, bundlesUri, NODE_PATHS, type NodeBundle } from "../../../src/render/bundle";
import { nodeSoftware } from "../../../src/render/software";
import { desiredPointer, manifestOf, packNodeBundle, sha256, type BundleManifest, type ChangeAction, type PackedFile } from "../../../src/bundle/format";
import type { ClusterSecret, NodeSecret } from "../../../src/secrets";
import * as fs from "fs";
import * as path from "path";
import { writeTar, type TarEntry } from "../../../src/bundle/tar";
import { SOFTWARE_DIR, type FakeNode } from "./harness";

let cached: { spec: ClusterSpec; bundles: NodeBundle[] } | undefined;

/** The dev stack (db1, etcd1, lb1) rendered for EC2. */
export function dev(): { spec: ClusterSpec; bundles: NodeBundle[] } {
  if (!cached) {
    const spec = buildSpec(loadStackConfig({ "aws:region": "eu-west-1", "postgres-ha:tier": "dev" }, { stack: "dev" }), "dev");
    cached = { spec, bundles: renderAll(spec, ec2Layout(spec)) };
  }
  return cached;
}

let cachedMonitored: { spec: ClusterSpec; bundles: NodeBundle[] } | undefined;

/** The dev stack with monitoring.enabled: db1, etcd1, lb1 and the monitoring node mon1. */
export function devMonitored(): { spec: ClusterSpec; bundles: NodeBundle[] } {
  if (!cachedMonitored) {
    const spec = buildSpec(loadStackConfig({ "aws:region": "eu-west-1", "postgres-ha:tier": "dev", "postgres-ha:monitoring": JSON.stringify({ enabled: true }) }, { stack: "dev" }), "dev");
    cachedMonitored = { spec, bundles: renderAll(spec, ec2Layout(spec)) };
  }
  return cachedMonitored;
}

export function renderedBundle(node: string): NodeBundle {
  const b = (node === "mon1" ? devMonitored() : dev()).bundles.find((x) => x.node === node);
  if (!b) throw new Error(`no node ${node} in the dev stack`);
  return b;
}

/** A rendered file of a dev node, e.g. its /etc/pgha/node.env. */
export function renderedFile(node: string, nodePath: string): string {
  const f = renderedBundle(node).files.find((x) => x.path === nodePath);
  if (!f) throw new Error(`${node} has no ${nodePath}`);
  return f.content;
}

/** The value of KEY in a dev node's rendered node.env. */
export function nodeEnvValue(node: string, key: string): string {
  const m = renderedFile(node, NODE_PATHS.nodeEnv).match(new RegExp(`^${key}=(.*)$`, "m"));
  if (!m) throw new Error(`${node}'s node.env has no ${key}`);
  return m[1];
}

/** Installs a dev node's rendered node.env on the fake node (and aws.env, as the bootstrap writes it). */
export function asDevNode(n: FakeNode, node: string): FakeNode {
  return n.write(NODE_PATHS.nodeEnv, renderedFile(node, NODE_PATHS.nodeEnv)).awsEnv();
}

export const CLUSTER_SECRET: ClusterSecret = {
  superuserPassword: "Super0000000000000000000000000000",
  replicationPassword: "Repl00000000000000000000000000000",
  rewindPassword: "Rewind000000000000000000000000000",
  restApiPassword: "Rest00000000000000000000000000000",
  repoCipherPass: "Cipher000000000000000000000000000",
};

/**
 * A PEM-shaped placeholder: the armour lines around a plain word. No key or certificate at all —
 * the node scripts only copy these values into files, and the tests compare the files' text.
 */
const placeholderPem = (label: string, body: string) => [`-----BEGIN ${label}-----`, body, `-----END ${label}-----`].join("\n");

export function nodeSecret(node: string, extra: Partial<NodeSecret> = {}): NodeSecret {
  return {
    caCert: placeholderPem("CERTIFICATE", "CA"),
    nodeCert: placeholderPem("CERTIFICATE", node),
    nodeKey: placeholderPem("PRIVATE KEY", node),
    ...extra,
  };
}

/** Puts a dev node's secrets (and the cluster secret) into the fake Secrets Manager. */
export function devSecrets(n: FakeNode, node: string): FakeNode {
  const { spec } = dev();
  n.secret(spec.names.nodeSecret[node], nodeSecret(node, node.startsWith("lb") ? { statsUser: "pgha-stats", statsPassword: "Stats0000000000000000000000000000" } : {}));
  return n.secret(spec.names.clusterSecret, CLUSTER_SECRET);
}

/** A node bundle as the program packs it. */
export interface TestBundle {
  hash: string;
  archive: Buffer;
  manifest: BundleManifest;
  software: Software;
}

/** A node-software artifact: the real one, or another built the same way (an upgrade). */
export interface Software {
  sha256: string;
  tar: Buffer;
  version: string;
}

/** The node software of this checkout with some files dropped and others added (a later release). */
export function otherSoftware(change: { drop?: string[]; add?: Record<string, string> }): Software {
  const dir = SOFTWARE_DIR;
  const entries: TarEntry[] = nodeSoftware()
    .files.filter((f) => !(change.drop ?? []).includes(f.path))
    .map((f) => ({ path: f.path.slice(1), mode: parseInt(f.mode, 8), content: fs.readFileSync(path.join(dir, f.path)) }));
  for (const [p, content] of Object.entries(change.add ?? {})) entries.push({ path: p.slice(1), mode: 0o644, content: Buffer.from(content) });
  const tar = writeTar(entries);
  return { sha256: sha256(tar), tar, version: "0.0.0-test" };
}

export function packBundle(identity: { node: string; cluster?: string; role?: string; software?: Software }, files: PackedFile[]): TestBundle {
  const sw = identity.software ?? nodeSoftware();
  const manifest = manifestOf(
    {
      project: "postgres-ha",
      stack: "dev",
      cluster: identity.cluster ?? dev().spec.scope,
      node: identity.node,
      role: identity.role ?? "postgres",
      software: { sha256: sw.sha256, version: sw.version },
    },
    files,
  );
  const archive = packNodeBundle(manifest, files);
  return { hash: sha256(archive), archive, manifest, software: sw };
}

export function packed(path: string, content: string, onChange: ChangeAction[] = [], mode = "0644", owner = "root:root"): PackedFile {
  return { path, mode, owner, content, onChange };
}

/** Where a dev node's bundles live (what bootstrap.env names). */
export function devBundlesUri(): string {
  return bundlesUri(dev().spec);
}

/** /etc/pgha/bootstrap.env as the user-data writes it for a dev node. */
export function bootstrapEnv(n: FakeNode, node: string): FakeNode {
  return n.env(NODE_PATHS.bootstrapEnv, { PGHA_NODE: node, PGHA_CLUSTER: dev().spec.scope, PGHA_STACK: "dev", PGHA_BUNDLES_URI: devBundlesUri() });
}

/** What pgha-bootstrap leaves for pgha-node: the installed node software's hash and file list (the files are the harness's copy). */
export function softwareInstalled(n: FakeNode, sw: { sha256: string; files: { path: string }[] } = nodeSoftware()): FakeNode {
  n.write("/var/lib/pgha/node/software", sw.sha256 + "\n");
  return n.write("/var/lib/pgha/node/software.files", sw.files.map((f) => f.path).sort().join("\n") + "\n");
}

/** Uploads a bundle (and the node software) to the fake S3 and points desired.json at it, as `pulumi up` does. */
export function publish(n: FakeNode, node: string, bundle: TestBundle | NodeBundle, options: { desired?: boolean } = {}): FakeNode {
  const uri = devBundlesUri();
  const sw = "software" in bundle ? bundle.software : nodeSoftware();
  n.s3(`${uri}/software/${sw.sha256}.tar`, sw.tar);
  n.s3(`${uri}/nodes/${node}/${bundle.hash}.tar`, bundle.archive);
  if (options.desired !== false) n.s3(`${uri}/nodes/${node}/desired.json`, desiredPointer(bundle.hash, sw.sha256));
  return n;
}
