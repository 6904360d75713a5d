// A node bundle as it travels: one uncompressed, deterministic tar per node, named by its sha256,
// holding `manifest.json` (what the node is, which node software it runs, every file with its
// owner, mode, sha256 and what to do when it changes) and `files/<absolute path>`.
// Written by the render path, read by pgha-node on the node, by `pgha plan`/`diff` and by the
// policies. Pure: no Pulumi, no I/O.
import { createHash } from "crypto";
import { readTar, writeTar } from "./tar";

/**
 * What pgha-node does when a file changes on a running node. Everything reloads live; what can
 * only take effect at a service start is recorded as a pending restart, never restarted.
 */
export const CHANGE_ACTIONS = [
  "hosts", // rewrite the postgres-ha block of /etc/hosts
  "systemd", // systemctl daemon-reload
  "timers", // restart the postgres-ha timers (a timer's schedule changed)
  "cron", // nothing to run: cron re-reads /etc/cron.d (the directory's mtime is bumped)
  "haproxy-reload", // haproxy -c, then a hitless reload (master-worker: same master process)
  "haproxy-restart", // pending: the unit's environment changed
  "watchdog", // pgha-setup watchdog: softdog loaded, /dev/watchdog handed to postgres (before Patroni reloads)
  "patroni-reload", // SIGHUP: Patroni re-reads config.yml (tags, local settings) and reloads PostgreSQL
  "patroni-dynamic", // pgha-dynamic apply: PUT the cluster-wide configuration into the DCS
  "exporters", // pgha-setup exporters: the metrics exporters (re)started with their configuration
  "logs", // pgha-setup logs: systemd-journal-upload (and on mon1 journal-remote and its vacuum timer) restarted with their configuration, or stopped without it
  "monitoring", // pgha-setup monitoring: Prometheus and Alertmanager checked (promtool, amtool), then reloaded
  "pooler", // pgha-setup pooler: PgBouncer enabled and reloaded with its configuration, or stopped without it
  "access", // pgha-access apply --if-leader: the declared databases and roles, on the leader
  "credentials", // pgha-secrets rotate: the cluster's own passwords (set on the leader, then adopted with a reload)
  "etcd-members", // pgha-etcd reconcile: remove the etcd members the list no longer names
  "patroni-restart", // pending: Patroni's unit changed (restarting Patroni restarts PostgreSQL)
  "etcd-restart", // pending: etcd reads its configuration only at start
] as const;
export type ChangeAction = (typeof CHANGE_ACTIONS)[number];

export interface ManifestFile {
  /** Absolute path on the node. */
  path: string;
  /** Octal mode, e.g. "0644". */
  mode: string;
  owner: string;
  sha256: string;
  onChange: ChangeAction[];
}

export interface BundleManifest {
  format: 1;
  project: string;
  stack: string;
  cluster: string;
  node: string;
  role: string;
  software: { sha256: string; version: string };
  files: ManifestFile[];
}

export interface PackedFile {
  path: string;
  mode: string;
  owner: string;
  content: string;
  onChange: ChangeAction[];
}

export function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Where the bundles of a cluster live in the stack's bucket (own prefix; the node role reads only its own). */
export function bundlePrefix(cluster: string): string {
  return `bundles/${cluster}/`;
}

export const bundleKeys = {
  desired: (prefix: string, node: string) => `${prefix}nodes/${node}/desired.json`,
  bundle: (prefix: string, node: string, hash: string) => `${prefix}nodes/${node}/${hash}.tar`,
  nodePrefix: (prefix: string, node: string) => `${prefix}nodes/${node}/`,
  software: (prefix: string, hash: string) => `${prefix}software/${hash}.tar`,
  softwarePrefix: (prefix: string) => `${prefix}software/`,
};

/** The pointer a node (and its bootstrap) reads to learn its desired bundle. */
export interface DesiredPointer {
  bundle: string;
  software: string;
}

export function desiredPointer(bundleHash: string, softwareHash: string): string {
  return JSON.stringify({ bundle: bundleHash, software: softwareHash } satisfies DesiredPointer) + "\n";
}

/**
 * sha256 over every node's bundle hash: the trigger of the rollout command (components/rollout.ts).
 * It changes exactly when some node's bundle changes; `pgha plan` recomputes it from the objects.
 */
export function rolloutTrigger(nodes: { name: string; hash: string }[]): string {
  return sha256(JSON.stringify(nodes.map((n) => [n.name, n.hash]).sort()));
}

export function manifestOf(identity: Omit<BundleManifest, "format" | "files">, files: PackedFile[]): BundleManifest {
  return {
    format: 1,
    ...identity,
    files: files.map((f) => ({ path: f.path, mode: f.mode, owner: f.owner, sha256: sha256(f.content), onChange: [...f.onChange] })),
  };
}

/** The node bundle's bytes: manifest.json first, then every file under files/. */
export function packNodeBundle(manifest: BundleManifest, files: PackedFile[]): Buffer {
  return writeTar([
    { path: "manifest.json", mode: 0o644, content: Buffer.from(JSON.stringify(manifest, null, 2) + "\n") },
    ...files.map((f) => ({ path: `files${f.path}`, mode: parseInt(f.mode, 8), content: Buffer.from(f.content) })),
  ]);
}

export interface UnpackedBundle {
  manifest: BundleManifest;
  /** Files by absolute path, with their manifest entry. */
  files: Map<string, ManifestFile & { content: string }>;
}

/** Reads a node bundle back; throws when the manifest and the files disagree. */
export function unpackNodeBundle(archive: Buffer): UnpackedBundle {
  const entries = readTar(archive);
  const manifestEntry = entries.find((e) => e.path === "manifest.json");
  if (!manifestEntry) throw new Error("bundle: no manifest.json");
  const manifest = JSON.parse(manifestEntry.content.toString("utf8")) as BundleManifest;
  const byPath = new Map(entries.filter((e) => e.path.startsWith("files/")).map((e) => [e.path.slice("files".length), e]));
  const files = new Map<string, ManifestFile & { content: string }>();
  for (const f of manifest.files) {
    const e = byPath.get(f.path);
    if (!e) throw new Error(`bundle: manifest lists ${f.path} but the archive has no such file`);
    if (sha256(e.content) !== f.sha256) throw new Error(`bundle: ${f.path} does not match its sha256 in the manifest`);
    files.set(f.path, { ...f, content: e.content.toString("utf8") });
  }
  return { manifest, files };
}
