// The sandbox cluster: the stack's topology as local hosts booted from the Debian 13 image by the
// same cloud-init user-data EC2 gets (sandbox layout), plus the S3 endpoint — up, down, status,
// and the faults the tests and benchmarks inject.
import * as fs from "fs";
import * as path from "path";
import { execFileSync } from "child_process";
import { createHash } from "crypto";
import { loadStack, readStackFile } from "../config/stack-file";
import { loadStackConfig } from "../config/load";
import { buildSpec } from "../spec";
import { formatRollout, runRollout, type RolloutReport, type Transport } from "../rollout/rollout";
import { SANDBOX_NETWORK, sandboxLayout, type Layout } from "../layout";
import { renderAll, renderBundle } from "../render/bundle";
import { PORTS, nodesOf, type ClusterSpec } from "../spec";
import { awsAccessDir, ensureMaterial, OPERATOR_FILES, secretDocuments, type SandboxMaterial } from "./material";
import {
  attachVolume, bootHost, cleanupAll, cloudInitStatus, guestPid, hostExec, hostProcesses, hostState, listHosts, powerCut,
  rebootHost, shutdownHost, startHost, waitForBoot, type HostDefinition, type HostState,
} from "./hosts";
import { AWS_HOST, publishBundles, publishSecrets, startAwsApis } from "./aws";
import { detachAllUnder, ensureVolumeFile, volumesDirectory } from "./volumes";
import { ensureSandboxNetwork, heal, isolate, partition } from "./network";
import { removeS3, s3Pid, startS3 } from "./s3";
import { SandboxClient, type PatroniMember } from "./client";
import { sleep } from "./shell";
import { repoPath } from "../repo-root";

export const PGHA_ROOT = process.env.PGHA_ROOT ?? "/var/lib/pgha";
export const STATE_DIR = path.join(PGHA_ROOT, "sandbox");
export const IMAGES_DIR = path.join(PGHA_ROOT, "images");

export interface SandboxState {
  stack: string;
  stackFile: string;
  image: string;
  createdAt: string;
  /** sha256 over every host's user-data: what the hosts were booted with. */
  userDataHash?: string;
  /**
   * The stack config the running cluster was brought to (by `up` or the last `apply`), as read
   * from the stack file then: every command acts on this, not on the file, which may have
   * changed since (that difference is drift, shown by status and refused by risky commands).
   */
  config?: Record<string, unknown>;
  appliedAt?: string;
  /** Each node's bundle hash as of `config`. */
  bundleHashes?: Record<string, string>;
}

/** sha256 over the user-data of every node of the stack (sandbox layout). */
export function sandboxUserDataHash(spec: ClusterSpec): string {
  const layout = sandboxLayout(spec);
  const h = createHash("sha256");
  for (const n of spec.nodes) h.update(n.name).update(renderBundle(spec, n.name, layout).userDataGzip);
  return h.digest("hex");
}

/** Why a running sandbox cannot be reused for `stack` (another stack, or changed user-data). */
export function staleReason(stack: string, stateDir = STATE_DIR): string | undefined {
  const state = readState(stateDir);
  if (!state) return undefined;
  const { file, spec } = loadStack(stack);
  if (state.stackFile !== file) return `it runs stack ${state.stack}`;
  if (state.userDataHash !== sandboxUserDataHash(spec))
    return "the stack's rendered user-data changed since its hosts booted (like EC2, a host applies user-data only at its first boot)";
  return undefined;
}

function stateFile(stateDir = STATE_DIR): string {
  return path.join(stateDir, "state.json");
}

export function readState(stateDir = STATE_DIR): SandboxState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile(stateDir), "utf8")) as SandboxState;
  } catch {
    return undefined;
  }
}

/** Builds (once, cached by package list) the Debian 13 image and returns its root. */
export function ensureImage(log: (line: string) => void = () => undefined): string {
  fs.mkdirSync(IMAGES_DIR, { recursive: true });
  log(`image: sandbox/build-image.sh ${IMAGES_DIR} (cached after the first build)`);
  return execFileSync(repoPath("sandbox", "build-image.sh"), [IMAGES_DIR], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
}

/** Everything about the running sandbox a command needs. */
export interface Sandbox {
  state: SandboxState;
  spec: ClusterSpec;
  layout: Layout;
  material: SandboxMaterial;
  client: SandboxClient;
  stateDir: string;
}

/** The spec the running sandbox was brought to (the recorded config, else the stack file). */
export function bootedSpec(state: SandboxState): ClusterSpec {
  if (!state.config) return loadStack(state.stackFile).spec;
  return buildSpec(loadStackConfig(state.config, { stack: state.stack }), state.stack);
}

function writeState(state: SandboxState, stateDir: string): void {
  fs.mkdirSync(stateDir, { recursive: true });
  fs.writeFileSync(stateFile(stateDir) + ".tmp", JSON.stringify(state, null, 2));
  fs.renameSync(stateFile(stateDir) + ".tmp", stateFile(stateDir));
}

export async function openSandbox(stateDir = STATE_DIR): Promise<Sandbox> {
  const state = readState(stateDir);
  if (!state) throw Object.assign(new Error("no sandbox is up: run `npx pgha sandbox up` (or `npm run sandbox`) first"), { exitCode: 3 });
  const spec = bootedSpec(state);
  const layout = sandboxLayout(spec);
  const material = await ensureMaterial(spec, layout, stateDir);
  const client = new SandboxClient(spec, layout, stateDir, material.cluster.superuserPassword, material.cluster.restApiPassword);
  return { state, spec, layout, material, client, stateDir };
}

export interface UpOptions {
  stack: string;
  stateDir?: string;
  log?: (line: string) => void;
  /** How long to wait for the cluster to become healthy. */
  timeoutMs?: number;
}

/**
 * A node host as EC2 would launch it: its bootstrap user-data, and the sandbox's stand-in for
 * the instance role (static credentials and the endpoints' CA at /run/pgha-aws, read-only).
 */
export function hostDefinition(stateDir: string, name: string, address: string, userData: Buffer): HostDefinition {
  return { name, address, userData, binds: [{ source: awsAccessDir(stateDir), target: SANDBOX_NETWORK.awsDir, readOnly: true }] };
}

/** Attaches each PostgreSQL member's data volume (created once, kept with its data). */
export async function attachDataVolumes(spec: ClusterSpec, stateDir: string, members = nodesOf(spec, "postgres").map((n) => n.name)): Promise<void> {
  for (const m of members) await attachVolume(m, ensureVolumeFile(stateDir, m, spec.postgres.dataVolume.sizeGiB));
}

/**
 * The sandbox's `pulumi up` against its local AWS: the secrets in Secrets Manager, the node
 * software and every node's bundle in the bucket, the desired pointers last.
 */
export async function publishStack(spec: ClusterSpec, layout: Layout, material: SandboxMaterial): Promise<ReturnType<typeof renderAll>> {
  const bundles = renderAll(spec, layout);
  await publishBundles(spec, bundles, secretDocuments(spec, material));
  return bundles;
}

/** Brings the stack up as local hosts; idempotent (a healthy sandbox of the same stack is kept). */
export async function up(opts: UpOptions): Promise<Sandbox> {
  const stateDir = opts.stateDir ?? STATE_DIR;
  const log = opts.log ?? (() => undefined);
  const { stack, file, spec } = loadStack(opts.stack);
  const rawConfig = readStackFile(file).raw;
  // A state without a user-data hash is an `up` that never finished booting: start again.
  const existing = readState(stateDir)?.userDataHash ? readState(stateDir) : undefined;
  const stale = existing && staleReason(opts.stack, stateDir);
  if (existing && stale) {
    throw Object.assign(new Error(`the running sandbox cannot be reused: ${stale}; run \`npx pgha sandbox down\` first, then up --stack ${stack}`), { exitCode: 3 });
  }
  if (existing) {
    // The same stack: boot what is stopped, wait for health, then converge to the stack file
    // when it changed since (an apply; a membership change is refused by apply).
    const sb = await openSandbox(stateDir);
    await resume(sb, log);
    log("waiting for the cluster: a leader, streaming replicas, HAProxy routing");
    await waitHealthy(sb, opts.timeoutMs ?? 180_000);
    if (drift(sb)) {
      log(describeDrift(drift(sb)!));
      const r = await apply(sb, { log });
      if (!r.rollout.ok) throw new Error(formatRollout(r.rollout));
      return openSandbox(stateDir);
    }
    return sb;
  }
  {
    // A killed run may have left hosts, mounts, cgroups or namespaces behind.
    const leftovers = await cleanupAll(stateDir);
    if (leftovers.hosts.length) log(`cleaned up ${leftovers.hosts.length} host(s) left by an earlier run`);
    fs.rmSync(path.join(stateDir, "material"), { recursive: true, force: true });
    fs.rmSync(path.join(stateDir, "s3"), { recursive: true, force: true });
    await detachAllUnder(volumesDirectory(stateDir));
    fs.rmSync(volumesDirectory(stateDir), { recursive: true, force: true });
  }
  const image = ensureImage(log);
  const layout = sandboxLayout(spec);
  log("certificates and secrets (local CA, generated passwords)");
  const material = await ensureMaterial(spec, layout, stateDir);
  // The user-data hash is recorded only once the hosts booted with it (see below).
  const state: SandboxState = { stack, stackFile: file, image, createdAt: new Date().toISOString() };
  writeState(state, stateDir);

  await ensureSandboxNetwork();
  log(`S3 endpoint https://${layout.s3.endpoint} (s3rver at ${path.basename(stateDir)}/s3)`);
  await startS3(stateDir, spec.backup.bucketName);
  log(`AWS APIs https://${SANDBOX_NETWORK.awsHost} (moto on host ${AWS_HOST}, ${SANDBOX_NETWORK.awsAddress})`);
  await startAwsApis(stateDir, image, layout);
  log("publishing secrets (Secrets Manager) and bundles (S3), as `pulumi up` does");
  const bundles = await publishStack(spec, layout, material);

  const started = Date.now();
  log(`booting ${spec.nodes.length} hosts: ${spec.nodes.map((n) => `${n.name} (${layout.addresses[n.name]})`).join(", ")}`);
  await Promise.all(
    spec.nodes.map((n) => bootHost(hostDefinition(stateDir, n.name, layout.addresses[n.name], bundles.find((b) => b.node === n.name)!.userDataGzip), { image, stateDir })),
  );
  // The data volumes are attached once the instances run, as EC2 attaches a VolumeAttachment.
  await attachDataVolumes(spec, stateDir);
  // "Booted" includes cloud-init's final stage: the bootstrap fetching and installing the bundle.
  await Promise.all(spec.nodes.map((n) => waitForBoot(n.name, opts.timeoutMs ?? 300_000)));
  state.userDataHash = sandboxUserDataHash(spec);
  state.config = rawConfig;
  state.appliedAt = new Date().toISOString();
  state.bundleHashes = Object.fromEntries(bundles.map((b) => [b.node, b.hash]));
  writeState(state, stateDir);
  log(`hosts booted in ${((Date.now() - started) / 1000).toFixed(1)} s; waiting for cloud-init`);
  await waitForCloudInit(spec.nodes.map((n) => n.name), opts.timeoutMs ?? 180_000);
  const client = new SandboxClient(spec, layout, stateDir, material.cluster.superuserPassword, material.cluster.restApiPassword);
  const sandbox: Sandbox = { state, spec, layout, material, client, stateDir };
  log("waiting for the cluster: a leader, streaming replicas, HAProxy routing");
  await waitHealthy(sandbox, opts.timeoutMs ?? 180_000);
  log(`cluster healthy ${((Date.now() - started) / 1000).toFixed(1)} s after boot`);
  return sandbox;
}

export async function waitForCloudInit(hosts: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(hosts);
  while (pending.size) {
    for (const name of [...pending]) {
      const s = await cloudInitStatus(name).catch(() => undefined);
      if (s && s.status === "done") pending.delete(name);
      else if (s && s.status === "error") {
        const out = await hostExec(name, ["bash", "-c", "grep -v ci-info /var/log/cloud-init-output.log | tail -15"]);
        throw new Error(`cloud-init failed on ${name}: ${s.errors.join("; ")}\n${out.stdout}`);
      }
    }
    if (!pending.size) break;
    if (Date.now() > deadline) throw new Error(`cloud-init did not finish on ${[...pending].join(", ")} within ${timeoutMs / 1000} s`);
    await sleep(500);
  }
}

export { checkHealth, etcdHealth, waitHealthy, probeMembers, type Health, type MemberReach } from "./health";
import { checkHealth, etcdHealth, probeMembers, waitHealthy } from "./health";
import { scratchStatus } from "./scratch";

export async function down(opts: { stateDir?: string; keepData?: boolean; log?: (l: string) => void } = {}): Promise<void> {
  const stateDir = opts.stateDir ?? STATE_DIR;
  const log = opts.log ?? (() => undefined);
  const state = readState(stateDir);
  if (opts.keepData && state) {
    const hosts = await listHosts(stateDir);
    log(`stopping ${hosts.length} hosts (disks kept: \`npx pgha sandbox up --stack ${state.stack}\` boots them again)`);
    await Promise.all(hosts.filter((h) => h.state !== "stopped").map((h) => shutdownHost(h.name)));
    await removeS3(stateDir, true);
    return;
  }
  await removeS3(stateDir, false);
  const report = await cleanupAll(stateDir);
  log(`removed ${report.hosts.length} host(s), ${report.unmounted.length} mount(s), ${report.removedCgroups.length} cgroup(s)`);
  fs.rmSync(path.join(stateDir, "material"), { recursive: true, force: true });
  await detachAllUnder(volumesDirectory(stateDir));
  fs.rmSync(volumesDirectory(stateDir), { recursive: true, force: true });
  fs.rmSync(stateFile(stateDir), { force: true });
  fs.rmSync(path.join(stateDir, "scratch.json"), { force: true });
}

/** `up` after `down --keep-data`: boot the stopped hosts again. */
export async function resume(sb: Sandbox, log: (l: string) => void = () => undefined): Promise<void> {
  await ensureSandboxNetwork();
  await startS3(sb.stateDir, sb.spec.backup.bucketName);
  // moto keeps its state in memory: after a stop the secrets are published again before the
  // nodes boot (they fetch them with retries at boot, as EC2 nodes wait for IAM).
  await startAwsApis(sb.stateDir, sb.state.image, sb.layout);
  await publishSecrets(secretDocuments(sb.spec, sb.material), sb.spec.region);
  const hosts = await listHosts(sb.stateDir);
  const stopped = hosts.filter((h) => h.state === "stopped");
  if (stopped.length) log(`starting ${stopped.length} stopped host(s)`);
  await Promise.all(stopped.map((h) => startHost(h.name)));
  await Promise.all(hosts.map((h) => waitForBoot(h.name)));
}

// ---------------------------------------------------------------------------------------------
// Day 2: converge the running sandbox to a (changed) stack file

/** The rollout's transport in the sandbox: commands run on the host as root (`sandbox exec`). */
export const sandboxTransport: Transport = {
  name: "sandbox exec",
  run: (node, argv, timeoutMs) => hostExec(node, argv, { timeoutMs }),
  howToReach: (node) => `npx pgha sandbox exec ${node} -- bash`,
};

/** What differs between the stack file and what the sandbox runs (undefined: nothing). */
export interface Drift {
  stackFile: string;
  /** Nodes in the file but not booted, and booted but not in the file. */
  addedNodes: string[];
  removedNodes: string[];
  /** Nodes whose bundle would change. */
  changedNodes: string[];
}

export function drift(sb: Sandbox): Drift | undefined {
  const fileSpec = loadStack(sb.state.stackFile).spec;
  const booted = new Set(sb.spec.nodes.map((n) => n.name));
  const wanted = new Set(fileSpec.nodes.map((n) => n.name));
  const addedNodes = [...wanted].filter((n) => !booted.has(n));
  const removedNodes = [...booted].filter((n) => !wanted.has(n));
  const layout = sandboxLayout(fileSpec);
  const current = sb.state.bundleHashes ?? Object.fromEntries(renderAll(sb.spec, sb.layout).map((b) => [b.node, b.hash]));
  const changedNodes = fileSpec.nodes.filter((n) => booted.has(n.name) && renderBundle(fileSpec, n.name, layout).hash !== current[n.name]).map((n) => n.name);
  if (!addedNodes.length && !removedNodes.length && !changedNodes.length) return undefined;
  return { stackFile: sb.state.stackFile, addedNodes, removedNodes, changedNodes };
}

export function describeDrift(d: Drift): string {
  const parts = [
    d.changedNodes.length ? `${d.changedNodes.join(", ")} would get new files` : "",
    d.addedNodes.length ? `${d.addedNodes.join(", ")} would be added` : "",
    d.removedNodes.length ? `${d.removedNodes.join(", ")} would be removed` : "",
  ].filter(Boolean);
  return `${path.basename(d.stackFile)} differs from what the sandbox runs: ${parts.join("; ")} — \`npx pgha sandbox apply\` converges it`;
}

export interface ApplyResult {
  rollout: RolloutReport;
  drift: Drift | undefined;
}

/**
 * `sandbox apply`: render the stack file, publish secrets and bundles to the sandbox's AWS (as
 * `pulumi up` does), then run the rollout over `sandbox exec`. Adding or removing nodes is a
 * membership change (not yet supported here): it is refused before anything changes.
 */
export async function apply(sb: Sandbox, opts: { stack?: string; log?: (l: string) => void } = {}): Promise<ApplyResult> {
  const log = opts.log ?? (() => undefined);
  const target = opts.stack ? loadStack(opts.stack) : loadStack(sb.state.stackFile);
  const stackFile = opts.stack ? target.file : sb.state.stackFile;
  if (target.stack !== sb.state.stack && path.resolve(stackFile) !== path.resolve(sb.state.stackFile)) {
    log(`applying ${path.basename(stackFile)} to the sandbox of stack ${sb.state.stack}`);
  }
  const d = drift({ ...sb, state: { ...sb.state, stackFile } });
  if (d && (d.addedNodes.length || d.removedNodes.length)) {
    throw Object.assign(
      new Error(`${path.basename(stackFile)} adds ${d.addedNodes.join(", ") || "no"} node(s) and removes ${d.removedNodes.join(", ") || "no"} node(s): changing the cluster's membership is not done by apply yet; nothing was changed (npx pgha sandbox down, then up --stack ${target.stack}, rebuilds it)`),
      { exitCode: 3 },
    );
  }
  const spec = target.spec;
  const layout = sandboxLayout(spec);
  const material = await ensureMaterial(spec, layout, sb.stateDir);
  log("publishing secrets and bundles to the sandbox's AWS");
  const bundles = await publishStack(spec, layout, material);
  const rollout = await runRollout({
    transport: sandboxTransport,
    nodes: spec.nodes.map((n) => ({ name: n.name, role: n.role, hash: bundles.find((b) => b.node === n.name)!.hash })),
    log,
  });
  if (rollout.ok) {
    const state: SandboxState = {
      ...sb.state,
      stackFile,
      config: readStackFile(stackFile).raw,
      appliedAt: new Date().toISOString(),
      bundleHashes: Object.fromEntries(bundles.map((b) => [b.node, b.hash])),
    };
    writeState(state, sb.stateDir);
  }
  return { rollout, drift: d };
}

export { formatRollout };

// ---------------------------------------------------------------------------------------------
// Status

export interface MemberStatus {
  name: string;
  /** Patroni's role; "unknown" while the member is unreachable (see lastRole). */
  role: string;
  /** Patroni's state, or "unreachable" when the member does not answer itself. */
  state: string;
  /** The role the DCS has for it (for an unreachable member: the last one it knew). */
  lastRole: string | null;
  /** Why an unreachable member is (host stopped, Patroni does not answer …). */
  unreachableBecause?: string;
  timeline: number | null;
  lagBytes: number | null;
  host: string;
  port: number;
  restApi: string;
  tags: Record<string, unknown>;
  pendingRestart: boolean;
  pids: { init: number | null; patroni: number | null; postgres: number | null };
}

export interface SandboxStatus {
  stack: string;
  healthy: boolean;
  problems: string[];
  members: MemberStatus[];
  endpoints: { readWrite: { host: string; address: string; port: number }; readOnly: { host: string; address: string; port: number } };
  /** superuser/readOnly carry the password (for programs); people use serviceFile (pgpass, 0600). */
  connection: { superuser: string; readOnly: string; caFile: string; sslmode: string; serviceFile: string };
  etcd: { name: string; clientUrl: string; healthy: boolean }[];
  hosts: {
    name: string;
    address: string;
    state: HostState;
    role: string;
    /** The bundle the node runs (pgha-node), and the one the sandbox's config wants. */
    bundleHash: string | null;
    desiredBundleHash: string | null;
    /** Services that need a restart for what was applied (pgha-node status). */
    pendingRestart: { service: string; reason: string }[];
  }[];
  s3: { endpoint: string; address: string; running: boolean; bucket: string };
  /** The sandbox's AWS API host (moto: Secrets Manager). */
  aws: { endpoint: string; address: string; state: HostState | "missing" };
  /** How the stack file differs from what the sandbox runs (null: it does not). */
  drift: Drift | null;
  /** Scratch clusters of new-cluster restores (src/sandbox/scratch.ts). */
  restoreClusters: Awaited<ReturnType<typeof scratchStatus>>;
  /** The leader's WAL archiver: a growing `pendingWalFiles` or old `lastArchivedTime` means S3 trouble. */
  archiving: { lastArchivedWal: string | null; lastArchivedTime: string | null; failedCount: number; lastFailedTime: string | null; pendingWalFiles: number } | null;
  image: string;
  stateDir: string;
  dataPaths: Record<string, string>;
}

function lagOf(m: PatroniMember): number | null {
  const v = m.lag ?? m.replay_lag;
  if (v === undefined || v === null || v === "") return m.role === "leader" ? 0 : null;
  return typeof v === "number" ? v : Number.isFinite(Number(v)) ? Number(v) : null;
}

/**
 * The machine-side pid of a host's main process of `command`: for postgres the postmaster (the
 * one started with -D, not a child), for patroni the daemon itself. Not "the smallest pid": pids
 * wrap around (pid_max is 32768 on this machine kind).
 */
export function mainPid(host: string, command: "postgres" | "patroni"): number | null {
  const procs = hostProcesses(host).filter((p) => p.command === command || (command === "patroni" && p.commandLine.some((a) => a.endsWith("/patroni"))));
  const main = command === "postgres" ? procs.find((p) => p.commandLine.includes("-D")) : procs.find((p) => p.commandLine.some((a) => a.endsWith("config.yml")));
  return main?.pid ?? null;
}

function firstPid(host: string, command: "postgres" | "patroni", running: boolean): number | null {
  if (!running) return null;
  try {
    return mainPid(host, command);
  } catch {
    return null;
  }
}

export async function status(sb: Sandbox): Promise<SandboxStatus> {
  const { spec, layout, client } = sb;
  const hosts = await Promise.all(
    spec.nodes.map(async (n) => {
      const state = await hostState(n.name).catch(() => "stopped" as HostState);
      let node: { appliedHash?: string; pendingRestart?: { service: string; reason: string }[] } = {};
      if (state === "running") {
        const r = await hostExec(n.name, ["pgha-node", "status", "--json", "--offline"], { timeoutMs: 15_000 }).catch(() => undefined);
        try {
          if (r?.code === 0) node = JSON.parse(r.stdout);
        } catch {
          // an unreadable answer is shown as unknown
        }
      }
      return {
        name: n.name,
        address: layout.addresses[n.name],
        state,
        role: n.role,
        bundleHash: node.appliedHash ?? null,
        desiredBundleHash: sb.state.bundleHashes?.[n.name] ?? null,
        pendingRestart: node.pendingRestart ?? [],
      };
    }),
  );
  const running = new Map(hosts.map((h) => [h.name, h.state === "running"]));
  const probes = await probeMembers(sb);
  const cluster = await client.cluster();
  const members: MemberStatus[] = nodesOf(spec, "postgres").map((n) => {
    const m = cluster?.members.find((x) => x.name === n.name);
    const up = running.get(n.name) ?? false;
    const reach = probes.get(n.name);
    // The DCS keeps a dead member's key (role, state) until it expires: a member that does not
    // answer itself is shown as unreachable, with the role the DCS last had for it.
    const common = {
      name: n.name,
      lastRole: m?.role ?? null,
      timeline: m?.timeline ?? null,
      host: layout.addresses[n.name],
      port: PORTS.postgres,
      restApi: client.restUrl(n.name),
      tags: m?.tags ?? {},
      pendingRestart: Boolean(m?.pending_restart),
      pids: { init: up ? (guestPid(n.name) ?? null) : null, patroni: firstPid(n.name, "patroni", up), postgres: firstPid(n.name, "postgres", up) },
    };
    if (!reach?.reachable) return { ...common, role: "unknown", state: "unreachable", unreachableBecause: reach?.why ?? "not probed", lagBytes: null };
    return { ...common, role: m?.role ?? "unknown", state: m?.state ?? "not registered", lagBytes: m ? lagOf(m) : null };
  });
  const etcd = await etcdHealth(sb);
  const health = await checkHealth(sb, probes).catch((e) => ({ healthy: false, reasons: [(e as Error).message] }));
  const archiving = await archiverStatus(sb).catch(() => null);
  const rw = client.endpoint("rw");
  const ro = client.endpoint("ro");
  const files = OPERATOR_FILES(sb.stateDir);
  return {
    stack: spec.stack,
    healthy: health.healthy,
    problems: health.reasons,
    members,
    endpoints: { readWrite: { host: rw.host, address: rw.hostaddr, port: rw.port }, readOnly: { host: ro.host, address: ro.hostaddr, port: ro.port } },
    connection: {
      superuser: client.uri("rw"),
      readOnly: client.uri("ro"),
      caFile: files.caFile,
      sslmode: spec.tls.enabled ? "verify-full" : "disable",
      serviceFile: client.writeServiceFiles(path.dirname(files.caFile)),
    },
    etcd,
    hosts,
    s3: { endpoint: `https://${layout.s3.endpoint}:${layout.s3.port}`, address: SANDBOX_NETWORK.s3Address, running: Boolean(s3Pid(sb.stateDir)), bucket: spec.backup.bucketName },
    aws: { endpoint: `https://${SANDBOX_NETWORK.awsHost}`, address: SANDBOX_NETWORK.awsAddress, state: await hostState(AWS_HOST).catch(() => "missing" as const) },
    drift: (() => {
      try {
        return drift(sb) ?? null;
      } catch {
        return null;
      }
    })(),
    archiving,
    restoreClusters: await scratchStatus(sb.stateDir),
    image: sb.state.image,
    stateDir: sb.stateDir,
    dataPaths: Object.fromEntries(spec.nodes.map((n) => [n.name, path.join(sb.stateDir, "hosts", n.name)])),
  };
}

/** pg_stat_archiver on the leader, plus the WAL files waiting for the archive. */
export async function archiverStatus(sb: Sandbox): Promise<SandboxStatus["archiving"]> {
  const leader = await sb.client.leader();
  if (!leader) return null;
  const [r] = await sb.client.query(
    leader,
    `select last_archived_wal, to_char(last_archived_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as t, failed_count,
            to_char(last_failed_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as f,
            (select count(*) from pg_ls_archive_statusdir() where name like '%.ready') as pending
       from pg_stat_archiver`,
  );
  return { lastArchivedWal: r.last_archived_wal, lastArchivedTime: r.t, failedCount: Number(r.failed_count), lastFailedTime: r.f, pendingWalFiles: Number(r.pending) };
}

export function formatStatus(s: SandboxStatus): string {
  const pad = (v: unknown, n: number) => String(v ?? "").padEnd(n);
  const lines = [
    `sandbox stack ${s.stack}: ${s.healthy ? "healthy" : "NOT healthy — " + s.problems.join("; ")}`,
    "",
    `+ ${pad("member", 6)} + ${pad("host", 12)} + ${pad("role", 14)} + ${pad("state", 14)} + TL + ${pad("lag (B)", 8)} + pids init/patroni/postgres`,
    ...s.members.map(
      (m) => `| ${pad(m.name, 6)} | ${pad(m.host, 12)} | ${pad(m.state === "unreachable" ? `(${m.lastRole ?? "?"})` : m.role, 14)} | ${pad(m.state, 14)} | ${pad(m.timeline ?? "-", 2)} | ${pad(m.lagBytes ?? "-", 8)} | ${m.pids.init ?? "-"}/${m.pids.patroni ?? "-"}/${m.pids.postgres ?? "-"}`,
    ),
    ...s.members.filter((m) => m.state === "unreachable").map((m) => `  ${m.name} does not answer (${m.unreachableBecause ?? "?"})${m.lastRole ? `; the DCS still lists it as ${m.lastRole} until its key expires` : ""}`),
    "",
    `etcd: ${s.etcd.map((e) => `${e.name} ${e.healthy ? "healthy" : "UNHEALTHY"}`).join(", ")}`,
    `hosts: ${s.hosts.map((h) => `${h.name}=${h.state}`).join(" ")}   s3: ${s.s3.running ? "running" : "DOWN"} (${s.s3.endpoint})   aws: ${s.aws.state} (${s.aws.endpoint})`,
    `bundles: ${s.hosts.every((h) => h.bundleHash && h.bundleHash === h.desiredBundleHash) ? "every node runs its desired bundle" : s.hosts.filter((h) => h.bundleHash !== h.desiredBundleHash).map((h) => `${h.name} runs ${h.bundleHash?.slice(0, 12) ?? "?"}, wants ${h.desiredBundleHash?.slice(0, 12) ?? "?"}`).join("; ")}`,
    ...s.hosts.flatMap((h) => h.pendingRestart.map((p) => `pending restart on ${h.name}: ${p.service} (${p.reason})`)),
    ...(s.drift ? [`drift: ${describeDrift(s.drift)}`] : []),
    ...(s.restoreClusters.length ? [`scratch clusters: ${s.restoreClusters.map((r) => `${r.name} (${r.address}, ${r.state}, ${r.target})`).join("; ")} — npx pgha sandbox scratch remove <name>`] : []),
    s.archiving
      ? `archiving: last ${s.archiving.lastArchivedWal ?? "-"} at ${s.archiving.lastArchivedTime ?? "-"}, ${s.archiving.pendingWalFiles} WAL file(s) waiting, ${s.archiving.failedCount} failure(s)${s.archiving.pendingWalFiles > 2 ? "  ← WAL is not reaching the archive" : ""}`
      : "archiving: no leader",
    "",
    `read-write  ${s.endpoints.readWrite.host}:${s.endpoints.readWrite.port} (HAProxy ${s.endpoints.readWrite.address})`,
    `read-only   ${s.endpoints.readOnly.host}:${s.endpoints.readOnly.port} (HAProxy ${s.endpoints.readOnly.address})`,
    `psql: PGSERVICEFILE=${s.connection.serviceFile} psql service=pgha-rw   (or service=pgha-ro; the password is in a 0600 pgpass beside it)`,
    `   or: npx pgha sandbox psql rw`,
  ];
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// Faults and operations

export async function killMember(name: string, hard: boolean): Promise<void> {
  if (hard) await powerCut(name);
  else await shutdownHost(name);
}

export async function startMember(name: string): Promise<void> {
  await startHost(name);
  await waitForBoot(name);
}

export async function rebootMember(name: string): Promise<void> {
  await rebootHost(name);
}

export async function partitionMembers(sb: Sandbox, members: string[], from?: string[]): Promise<void> {
  if (!from || from.length === 0) {
    for (const m of members) await isolate(m);
    return;
  }
  const addr = (n: string) => sb.layout.addresses[n] ?? (() => { throw new Error(`unknown host ${n}`); })();
  await partition(members.map(addr), from.map(addr));
}

export async function healNetwork(): Promise<void> {
  await heal();
}

/** Runs pgha-patronictl on a PostgreSQL host (the leader's or the first running one). */
export async function patronictl(sb: Sandbox, args: string[], host?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const target = host ?? (await sb.client.leader()) ?? nodesOf(sb.spec, "postgres")[0].name;
  return hostExec(target, ["/usr/local/bin/pgha-patronictl", ...args], { timeoutMs: 120_000 });
}

/**
 * Waits until no member reports Patroni's failsafe mode as active (`GET /patroni` →
 * failsafe_mode_is_active). After an etcd outage, replicas keep the leader's failsafe ping as
 * lock owner for up to `ttl` and do not take a released leader key meanwhile: a switchover then
 * costs ≈ ttl of writes instead of ≈ 2 s (../shared/notes/cluster-facts.md, docs/facts.md).
 * Returns the seconds waited.
 */
export async function waitFailsafeInactive(sb: Sandbox, timeoutMs = (sb.spec.patroni.ttl + 10) * 1000): Promise<number> {
  const started = Date.now();
  for (;;) {
    const active: string[] = [];
    for (const m of nodesOf(sb.spec, "postgres").map((n) => n.name)) {
      const r = await sb.client.rest(m, "GET", "/patroni", undefined, { timeoutMs: 2000 }).catch(() => undefined);
      if (r?.status === 200 && r.body && typeof r.body === "object" && (r.body as Record<string, unknown>).failsafe_mode_is_active === true) active.push(m);
    }
    if (!active.length) return (Date.now() - started) / 1000;
    if (Date.now() - started > timeoutMs) throw new Error(`failsafe mode still active on ${active.join(", ")} after ${timeoutMs / 1000} s: is etcd healthy? (npx pgha sandbox status)`);
    await sleep(250);
  }
}

export async function switchover(sb: Sandbox, to?: string): Promise<{ from: string; to: string }> {
  await waitFailsafeInactive(sb);
  let from = await sb.client.leader();
  if (!from) throw new Error("no leader to switch over from");
  const body: Record<string, string> = { leader: from };
  if (to) body.candidate = to;
  // Patroni refuses while no candidate is healthy enough (e.g. a member still catching up, or in
  // synchronous mode none confirmed yet): retry for a while before giving up.
  let r = await sb.client.rest(from, "POST", "/switchover", body, { auth: true, timeoutMs: 60_000 });
  for (let i = 0; (r.status === 503 || r.status === 412) && i < 30; i++) {
    await sleep(1000);
    // 412 "leader name does not match": the DCS named another leader than the one asked first
    // (e.g. right after an election): ask again with the leader it names now.
    if (r.status === 412) {
      from = (await sb.client.leader()) ?? from;
      body.leader = from;
    }
    r = await sb.client.rest(from, "POST", "/switchover", body, { auth: true, timeoutMs: 60_000 });
  }
  if (r.status !== 200) throw new Error(`switchover refused (${r.status}): ${typeof r.body === "string" ? r.body : JSON.stringify(r.body)}`);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const leader = await sb.client.leader();
    if (leader && leader !== from && (!to || leader === to)) return { from, to: leader };
    if (Date.now() > deadline) throw new Error("switchover did not complete within 60 s");
    await sleep(250);
  }
}

/** Manual failover (MISSION H6): promote a candidate without the old leader's cooperation. */
export async function failover(sb: Sandbox, to?: string): Promise<{ from?: string; to: string }> {
  const from = await sb.client.leader();
  const candidates = nodesOf(sb.spec, "postgres").map((n) => n.name).filter((n) => n !== from);
  const candidate = to ?? candidates[0];
  if (!candidate) throw new Error("no failover candidate (single-node stack)");
  const r = await sb.client.rest(candidate, "POST", "/failover", { candidate }, { auth: true, timeoutMs: 60_000 });
  if (r.status !== 200) throw new Error(`failover refused (${r.status}): ${typeof r.body === "string" ? r.body : JSON.stringify(r.body)}`);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const leader = await sb.client.leader();
    if (leader === candidate) return { from, to: candidate };
    if (Date.now() > deadline) throw new Error("failover did not complete within 60 s");
    await sleep(250);
  }
}

export { hostExec, powerCut, startHost, waitForBoot };
