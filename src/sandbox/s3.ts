// The sandbox's S3 endpoints: s3rver (HTTPS, certificate from the sandbox CA) in its own network
// namespace, so pgBackRest and awscli on the hosts verify TLS exactly as they would against AWS.
// One per region the stack's repositories live in: s3.sandbox.internal at 10.88.0.250:443 (the
// stack's region: repo1, bundles, dumps) and, with backup.secondRepository,
// s3-region2.sandbox.internal at 10.88.0.248:443 (repo2) — a separate server with its own data,
// so "the first region's S3 is gone" is one stopped process.
import * as fs from "fs";
import * as path from "path";
import { spawn } from "child_process";
import * as net from "net";
import { SANDBOX_NETWORK } from "../layout";
import { attachHost, detachHost, namespaceName } from "./network";
import { materialDir } from "./material";
import { processExists, sleep } from "./shell";
import type { ClusterSpec } from "../spec";
import { repoRoot } from "../repo-root";

export const S3_HOST = "s3";

/** One sandbox S3 endpoint: its network-namespace host, the name TLS verifies, its address, its state directory. */
export interface S3Endpoint {
  host: string;
  name: string;
  address: string;
  /** Directory under the sandbox state directory (pid file, log, data). */
  dir: string;
}

/** The stack's own region: repo1, the node bundles, the logical dumps. */
export const REGION_S3: S3Endpoint = { host: S3_HOST, name: SANDBOX_NETWORK.s3Host, address: SANDBOX_NETWORK.s3Address, dir: "s3" };
/** The second region (backup.secondRepository): repo2 only. */
export const SECOND_REGION_S3: S3Endpoint = { host: "s3-region2", name: SANDBOX_NETWORK.s3SecondHost, address: SANDBOX_NETWORK.s3SecondAddress, dir: "s3-region2" };

/** The endpoint each repository of the spec lives behind, with its bucket. */
export function repositoryEndpoints(spec: Pick<ClusterSpec, "backup">): { repo: number; endpoint: S3Endpoint; bucket: string }[] {
  return spec.backup.repositories.map((r) => ({ repo: r.index, endpoint: r.index === 1 ? REGION_S3 : SECOND_REGION_S3, bucket: r.bucketName }));
}

function pidFile(stateDir: string, e: S3Endpoint = REGION_S3): string {
  return path.join(stateDir, e.dir, "s3rver.pid");
}

export function s3DataDir(stateDir: string, e: S3Endpoint = REGION_S3): string {
  return path.join(stateDir, e.dir, "data");
}

function s3rverScript(): string {
  return require.resolve("s3rver/bin/s3rver.js");
}

function isS3rver(pid: number): boolean {
  try {
    return processExists(pid) && fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("s3rver");
  } catch {
    return false;
  }
}

export function s3Pid(stateDir: string, e: S3Endpoint = REGION_S3): number | undefined {
  try {
    const pid = Number(fs.readFileSync(pidFile(stateDir, e), "utf8").trim());
    return isS3rver(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Resolves when something accepts TCP connections on address:port (from the machine). */
export async function waitForPort(address: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: address, port, timeout: 1000 });
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
      s.once("timeout", () => {
        s.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${address}:${port} after ${timeoutMs} ms`);
    await sleep(200);
  }
}

/** Starts every repository's S3 endpoint (idempotent), each with its bucket, and the replication between them. */
export async function startRepositoryS3(stateDir: string, spec: Pick<ClusterSpec, "backup">): Promise<void> {
  for (const r of repositoryEndpoints(spec)) await startS3(stateDir, r.bucket, r.endpoint);
  await startReplication(stateDir, spec);
}

/** Starts an S3 endpoint (idempotent) with the bucket configured. */
export async function startS3(stateDir: string, bucket: string, e: S3Endpoint = REGION_S3): Promise<number> {
  const running = s3Pid(stateDir, e);
  if (running) return running;
  await attachHost(e.host, e.address);
  const dir = path.join(stateDir, e.dir);
  fs.mkdirSync(s3DataDir(stateDir, e), { recursive: true });
  const log = fs.openSync(path.join(dir, "s3rver.log"), "a");
  const m = materialDir(stateDir);
  const child = spawn(
    "ip",
    [
      "netns", "exec", namespaceName(e.host),
      process.execPath, s3rverScript(),
      "-d", s3DataDir(stateDir, e),
      "-a", e.address,
      "-p", String(SANDBOX_NETWORK.s3Port),
      "--key", path.join(m, "s3.key"),
      "--cert", path.join(m, "s3.crt"),
      "--no-vhost-buckets",
      "--configure-bucket", bucket,
    ],
    { detached: true, stdio: ["ignore", log, log] },
  );
  child.unref();
  fs.closeSync(log);
  // `ip netns exec` execs node, so the child's pid is s3rver's.
  fs.writeFileSync(pidFile(stateDir, e), String(child.pid));
  await waitForPort(e.address, SANDBOX_NETWORK.s3Port, 20_000);
  return child.pid!;
}

export async function stopS3(stateDir: string, e: S3Endpoint = REGION_S3): Promise<void> {
  const pid = s3Pid(stateDir, e);
  if (pid) {
    process.kill(pid, "SIGTERM");
    for (let i = 0; i < 50 && isS3rver(pid); i++) await sleep(100);
    if (isS3rver(pid)) process.kill(pid, "SIGKILL");
  }
  fs.rmSync(pidFile(stateDir, e), { force: true });
}

// ---------------------------------------------------------------------------------------------
// S3 Replication between the regions (the repository prefix of the first bucket → the second
// bucket): on AWS a BucketReplicationConfig; here sandbox/s3-replication.js, which copies
// between the two s3rver data directories (s3rver has no replication of its own).

/** How often the sandbox's replication looks for new objects. */
export const REPLICATION_INTERVAL_MS = 1000;

function replicationFiles(stateDir: string) {
  const dir = path.join(stateDir, SECOND_REGION_S3.dir);
  return { pid: path.join(dir, "replication.pid"), status: path.join(dir, "replication.json"), log: path.join(dir, "replication.log") };
}

export interface ReplicationStatus {
  /** When the last pass ran, and the last one that could copy (both regions' endpoints up). */
  at: string;
  replicatedAt: string | null;
  source: boolean;
  destination: boolean;
  copied: number;
  deleted: number;
  passes: number;
}

export function replicationStatus(stateDir: string): ReplicationStatus | undefined {
  try {
    return JSON.parse(fs.readFileSync(replicationFiles(stateDir).status, "utf8")) as ReplicationStatus;
  } catch {
    return undefined;
  }
}

function replicationPid(stateDir: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(replicationFiles(stateDir).pid, "utf8").trim());
    return processExists(pid) && fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("s3-replication") ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Starts replicating repo1's prefix into repo2's bucket (idempotent); nothing without a second repository. */
export async function startReplication(stateDir: string, spec: Pick<ClusterSpec, "backup">): Promise<void> {
  const [first, second] = repositoryEndpoints(spec);
  if (!second || replicationPid(stateDir)) return;
  const f = replicationFiles(stateDir);
  fs.mkdirSync(path.dirname(f.pid), { recursive: true });
  const log = fs.openSync(f.log, "a");
  const child = spawn(process.execPath, [
    path.join(repoRoot(), "sandbox", "s3-replication.js"),
    path.join(s3DataDir(stateDir, first.endpoint), first.bucket), pidFile(stateDir, first.endpoint),
    path.join(s3DataDir(stateDir, second.endpoint), second.bucket), pidFile(stateDir, second.endpoint),
    // What the stack's BucketReplicationConfig replicates: the repository and the restore catalogue.
    [spec.backup.repoPath, spec.backup.catalogPrefix].map((p) => p.replace(/^\/+/, "").replace(/\/*$/, "/")).join(","),
    String(REPLICATION_INTERVAL_MS), f.status,
  ], { detached: true, stdio: ["ignore", log, log] });
  child.unref();
  fs.closeSync(log);
  fs.writeFileSync(f.pid, String(child.pid));
}

export async function stopReplication(stateDir: string): Promise<void> {
  const pid = replicationPid(stateDir);
  if (pid) process.kill(pid, "SIGTERM");
  fs.rmSync(replicationFiles(stateDir).pid, { force: true });
}

/** Removes every endpoint's namespace too (sandbox down). */
export async function removeS3(stateDir: string, keepData: boolean): Promise<void> {
  await stopReplication(stateDir);
  for (const e of [REGION_S3, SECOND_REGION_S3]) {
    await stopS3(stateDir, e);
    await detachHost(e.host).catch(() => undefined);
    if (!keepData) fs.rmSync(path.join(stateDir, e.dir), { recursive: true, force: true });
  }
}
