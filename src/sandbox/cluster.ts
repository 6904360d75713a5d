// The sandbox cluster: the stack's topology as local hosts booted from the Debian 13 image by the
// same cloud-init user-data EC2 gets (sandbox layout), plus the S3 endpoint — up, down, status,
// and the faults the tests and benchmarks inject.
import * as fs from "fs";
import * as path from "path";
import { execFileSync } from "child_process";
import { createHash } from "crypto";
import { loadStack } from "../cli/stack";
import { sandboxLayout, type Layout } from "../layout";
import { renderBundle } from "../render/bundle";
import { PORTS, nodesOf, type ClusterSpec, type NodeSpec } from "../spec";
import { ensureMaterial, hostSecretsDir, OPERATOR_FILES, type SandboxMaterial } from "./material";
import {
  bootHost, cleanupAll, cloudInitStatus, guestPid, hostExec, hostProcesses, hostState, listHosts, powerCut,
  rebootHost, shutdownHost, startHost, waitForBoot, type HostState,
} from "./hosts";
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

export async function openSandbox(stateDir = STATE_DIR): Promise<Sandbox> {
  const state = readState(stateDir);
  if (!state) throw Object.assign(new Error("no sandbox is up: run `npx pgha sandbox up` (or `npm run sandbox`) first"), { exitCode: 3 });
  const { spec } = loadStack(state.stackFile);
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

function hostBinds(stateDir: string, node: NodeSpec) {
  return [{ source: hostSecretsDir(stateDir, node.name), target: "/run/pgha-secrets", readOnly: true }];
}

/** Brings the stack up as local hosts; idempotent (a healthy sandbox of the same stack is kept). */
export async function up(opts: UpOptions): Promise<Sandbox> {
  const stateDir = opts.stateDir ?? STATE_DIR;
  const log = opts.log ?? (() => undefined);
  const { stack, file, spec } = loadStack(opts.stack);
  const existing = readState(stateDir);
  const stale = staleReason(opts.stack, stateDir);
  if (existing && stale) {
    throw Object.assign(new Error(`the running sandbox cannot be reused: ${stale}; run \`npx pgha sandbox down\` first, then up --stack ${stack}`), { exitCode: 3 });
  }
  if (!existing) {
    // A killed run may have left hosts, mounts, cgroups or namespaces behind.
    const leftovers = await cleanupAll(stateDir);
    if (leftovers.hosts.length) log(`cleaned up ${leftovers.hosts.length} host(s) left by an earlier run`);
    fs.rmSync(path.join(stateDir, "material"), { recursive: true, force: true });
    fs.rmSync(path.join(stateDir, "s3"), { recursive: true, force: true });
  }
  const image = ensureImage(log);
  const layout = sandboxLayout(spec);
  log("certificates and secrets (local CA, generated passwords)");
  const material = await ensureMaterial(spec, layout, stateDir);
  // The user-data hash is recorded only once the hosts booted with it (see below).
  const state: SandboxState = { stack, stackFile: file, image, createdAt: existing?.createdAt ?? new Date().toISOString(), userDataHash: existing?.userDataHash };
  fs.mkdirSync(stateDir, { recursive: true });
  fs.writeFileSync(stateFile(stateDir), JSON.stringify(state, null, 2));

  await ensureSandboxNetwork();
  log(`S3 endpoint https://${layout.s3.endpoint} (s3rver at ${path.basename(stateDir)}/s3)`);
  await startS3(stateDir, spec.backup.bucketName);

  const started = Date.now();
  log(`booting ${spec.nodes.length} hosts: ${spec.nodes.map((n) => `${n.name} (${layout.addresses[n.name]})`).join(", ")}`);
  await Promise.all(
    spec.nodes.map((n) =>
      bootHost(
        { name: n.name, address: layout.addresses[n.name], userData: renderBundle(spec, n.name, layout).userDataGzip, binds: hostBinds(stateDir, n) },
        { image, stateDir },
      ),
    ),
  );
  await Promise.all(spec.nodes.map((n) => waitForBoot(n.name)));
  state.userDataHash = sandboxUserDataHash(spec);
  fs.writeFileSync(stateFile(stateDir), JSON.stringify(state, null, 2));
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

export interface Health {
  healthy: boolean;
  reasons: string[];
  leader?: string;
}

/** Healthy: one leader, every other running member streaming, rw endpoint writable. */
export async function checkHealth(sb: Sandbox): Promise<Health> {
  const reasons: string[] = [];
  const cluster = await sb.client.cluster();
  if (!cluster) return { healthy: false, reasons: ["no Patroni member answers /cluster"] };
  const members = nodesOf(sb.spec, "postgres").map((n) => n.name);
  const leaders = cluster.members.filter((m) => m.role === "leader");
  if (leaders.length !== 1) reasons.push(`${leaders.length} leaders`);
  for (const name of members) {
    const m = cluster.members.find((x) => x.name === name);
    if (!m) reasons.push(`${name} is not registered`);
    else if (m.role !== "leader" && m.state !== "streaming") reasons.push(`${name} is ${m.state}`);
    else if (m.role === "leader" && m.state !== "running") reasons.push(`leader ${name} is ${m.state}`);
  }
  if (!reasons.length) {
    try {
      const rows = await sb.client.query("rw", "select pg_is_in_recovery() as r");
      if (rows[0].r) reasons.push("rw endpoint reaches a replica");
    } catch (e) {
      reasons.push(`rw endpoint: ${(e as Error).message}`);
    }
  }
  return { healthy: reasons.length === 0, reasons, leader: leaders[0]?.name };
}

export async function waitHealthy(sb: Sandbox, timeoutMs: number): Promise<Health> {
  const deadline = Date.now() + timeoutMs;
  let h: Health = { healthy: false, reasons: ["not checked"] };
  while (Date.now() < deadline) {
    h = await checkHealth(sb);
    if (h.healthy) return h;
    await sleep(1000);
  }
  throw new Error(`the cluster is not healthy after ${timeoutMs / 1000} s: ${h.reasons.join("; ")} — see \`npx pgha sandbox status\` and \`npx pgha sandbox exec db1 -- journalctl -u patroni\``);
}

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
  fs.rmSync(stateFile(stateDir), { force: true });
}

/** `up` after `down --keep-data`: boot the stopped hosts again. */
export async function resume(sb: Sandbox, log: (l: string) => void = () => undefined): Promise<void> {
  await ensureSandboxNetwork();
  await startS3(sb.stateDir, sb.spec.backup.bucketName);
  const hosts = await listHosts(sb.stateDir);
  const stopped = hosts.filter((h) => h.state === "stopped");
  if (stopped.length) log(`starting ${stopped.length} stopped host(s)`);
  await Promise.all(stopped.map((h) => startHost(h.name)));
  await Promise.all(hosts.map((h) => waitForBoot(h.name)));
}

// ---------------------------------------------------------------------------------------------
// Status

export interface MemberStatus {
  name: string;
  role: string;
  state: string;
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
  connection: { superuser: string; readOnly: string; caFile: string; sslmode: string };
  etcd: { name: string; clientUrl: string; healthy: boolean }[];
  hosts: { name: string; address: string; state: HostState; role: string }[];
  s3: { endpoint: string; address: string; running: boolean; bucket: string };
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
    spec.nodes.map(async (n) => ({ name: n.name, address: layout.addresses[n.name], state: await hostState(n.name).catch(() => "stopped" as HostState), role: n.role })),
  );
  const running = new Map(hosts.map((h) => [h.name, h.state === "running"]));
  const cluster = await client.cluster();
  const members: MemberStatus[] = nodesOf(spec, "postgres").map((n) => {
    const m = cluster?.members.find((x) => x.name === n.name);
    const up = running.get(n.name) ?? false;
    return {
      name: n.name,
      role: m?.role ?? "unknown",
      state: m?.state ?? (up ? "not registered" : "host stopped"),
      timeline: m?.timeline ?? null,
      lagBytes: m ? lagOf(m) : null,
      host: layout.addresses[n.name],
      port: PORTS.postgres,
      restApi: client.restUrl(n.name),
      tags: m?.tags ?? {},
      pendingRestart: Boolean(m?.pending_restart),
      pids: { init: up ? (guestPid(n.name) ?? null) : null, patroni: firstPid(n.name, "patroni", up), postgres: firstPid(n.name, "postgres", up) },
    };
  });
  const etcd = await Promise.all(
    nodesOf(spec, "etcd").map(async (n) => {
      const url = `${spec.tls.enabled ? "https" : "http"}://${layout.addresses[n.name]}:${PORTS.etcdClient}`;
      let healthy = false;
      if (running.get(n.name)) {
        const r = await hostExec(n.name, [
          "etcdctl", `--endpoints=${url}`,
          ...(spec.tls.enabled ? ["--cacert=/etc/pgha/tls/ca.crt", "--cert=/etc/pgha/tls/node.crt", "--key=/etc/pgha/tls/node.key"] : []),
          "--command-timeout=2s", "endpoint", "health",
        ], { timeoutMs: 5000 }).catch(() => undefined);
        healthy = r?.code === 0;
      }
      return { name: n.name, clientUrl: url, healthy };
    }),
  );
  const health = await checkHealth(sb).catch((e) => ({ healthy: false, reasons: [(e as Error).message] }));
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
    connection: { superuser: client.uri("rw"), readOnly: client.uri("ro"), caFile: files.caFile, sslmode: spec.tls.enabled ? "verify-full" : "disable" },
    etcd,
    hosts,
    s3: { endpoint: `https://${layout.s3.endpoint}:${layout.s3.port}`, address: "10.88.0.250", running: Boolean(s3Pid(sb.stateDir)), bucket: spec.backup.bucketName },
    archiving,
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
      (m) => `| ${pad(m.name, 6)} | ${pad(m.host, 12)} | ${pad(m.role, 14)} | ${pad(m.state, 14)} | ${pad(m.timeline ?? "-", 2)} | ${pad(m.lagBytes ?? "-", 8)} | ${m.pids.init ?? "-"}/${m.pids.patroni ?? "-"}/${m.pids.postgres ?? "-"}`,
    ),
    "",
    `etcd: ${s.etcd.map((e) => `${e.name} ${e.healthy ? "healthy" : "UNHEALTHY"}`).join(", ")}`,
    `hosts: ${s.hosts.map((h) => `${h.name}=${h.state}`).join(" ")}   s3: ${s.s3.running ? "running" : "DOWN"} (${s.s3.endpoint})`,
    s.archiving
      ? `archiving: last ${s.archiving.lastArchivedWal ?? "-"} at ${s.archiving.lastArchivedTime ?? "-"}, ${s.archiving.pendingWalFiles} WAL file(s) waiting, ${s.archiving.failedCount} failure(s)${s.archiving.pendingWalFiles > 2 ? "  ← WAL is not reaching the archive" : ""}`
      : "archiving: no leader",
    "",
    `read-write  ${s.endpoints.readWrite.host}:${s.endpoints.readWrite.port} (HAProxy ${s.endpoints.readWrite.address})`,
    `read-only   ${s.endpoints.readOnly.host}:${s.endpoints.readOnly.port} (HAProxy ${s.endpoints.readOnly.address})`,
    `psql "${s.connection.superuser}"`,
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

export async function switchover(sb: Sandbox, to?: string): Promise<{ from: string; to: string }> {
  const from = await sb.client.leader();
  if (!from) throw new Error("no leader to switch over from");
  const body: Record<string, string> = { leader: from };
  if (to) body.candidate = to;
  // Patroni refuses while no candidate is healthy enough (e.g. a member still catching up, or in
  // synchronous mode none confirmed yet): retry for a while before giving up.
  let r = await sb.client.rest(from, "POST", "/switchover", body, { auth: true, timeoutMs: 60_000 });
  for (let i = 0; r.status === 503 && i < 30; i++) {
    await sleep(1000);
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
