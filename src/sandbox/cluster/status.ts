// The sandbox cluster: its status (members, endpoints, etcd, hosts, S3, drift, archiving) and
// how `sandbox status` prints it.
import * as path from "path";
import { firingAlerts, monitoringUrls, type FiringAlert, type MonitoringUrls } from "../monitoring";
import { SANDBOX_NETWORK } from "../../layout";
import { PORTS, nodesOf } from "../../spec";
import { NODE_PATHS } from "../../node-paths";
import { OPERATOR_FILES } from "../material";
import { guestPid, hostExec, hostProcesses, hostState, type GuestProcess, type HostState } from "../hosts";
import { AWS_HOST } from "../aws";
import { repositoryEndpoints, s3Pid } from "../s3";
import type { PatroniMember } from "../client";
import { checkHealth, etcdHealth, probeMembers } from "../health";
import { scratchStatus } from "../scratch";
import { backups } from "../restore";
import { describeDrift, drift, type Drift } from "./converge";
import type { Sandbox } from "./types";
import { roleUris } from "./access";

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

/** An endpoint as status reports it: the name clients verify, the HAProxy address, the port. */
export interface StatusEndpoint {
  host: string;
  address: string;
  port: number;
}

export interface SandboxStatus {
  stack: string;
  healthy: boolean;
  problems: string[];
  members: MemberStatus[];
  /** synchronousReadOnly: only with haproxy.synchronousReadOnly. */
  endpoints: {
    readWrite: StatusEndpoint;
    readOnly: StatusEndpoint;
    synchronousReadOnly?: StatusEndpoint;
    /** pooledReadWrite, pooledReadOnly: only with pooler.enabled (PgBouncer behind HAProxy). */
    pooledReadWrite?: StatusEndpoint;
    pooledReadOnly?: StatusEndpoint;
  };
  /** superuser/readOnly carry the password (for programs); people use serviceFile (pgpass, 0600). */
  /** roles: each declared login role (postgres.roles) → a verify-full URI through rw to its database. */
  connection: { superuser: string; readOnly: string; caFile: string; sslmode: string; serviceFile: string; roles: Record<string, string>; pooledRoles?: Record<string, string> };
  /** memberId: etcd's member id (hex, as `etcdctl member list` prints it); null when no healthy member answered. */
  etcd: { name: string; clientUrl: string; healthy: boolean; memberId: string | null }[];
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
  /** Every pgBackRest repository: repo1 in the stack's region, repo2 with backup.secondRepository, and its region's S3 endpoint. */
  repositories: RepositoryStatus[];
  /** The sandbox's AWS API host (moto: Secrets Manager). */
  aws: { endpoint: string; address: string; state: HostState | "missing" };
  /** How the stack file differs from what the sandbox runs (null: it does not). */
  drift: Drift | null;
  /** Scratch clusters of new-cluster restores (src/sandbox/scratch.ts). */
  restoreClusters: Awaited<ReturnType<typeof scratchStatus>>;
  /**
   * The leader's replication slots (Patroni keeps one per member): whether a walsender uses it now,
   * and the WAL the leader keeps for it (bytes from the slot's restart_lsn to the current LSN);
   * walStatus is PostgreSQL's (reserved, extended, unreserved, lost). null: no leader answered.
   */
  replicationSlots: { name: string; active: boolean; retainedBytes: number | null; walStatus: string | null }[] | null;
  /** The leader's WAL archiver: a growing `pendingWalFiles` or old `lastArchivedTime` means S3 trouble. */
  archiving: { lastArchivedWal: string | null; lastArchivedTime: string | null; failedCount: number; lastFailedTime: string | null; pendingWalFiles: number } | null;
  /** The monitoring node's URLs as reachable from the machine (null: monitoring.enabled is false). */
  monitoring: MonitoringUrls | null;
  /**
   * The alerts Alertmanager holds now ({name, severity, since, summary, node, state}); null when
   * there is no monitoring node or it did not answer (monitoringError says why).
   */
  alerts: FiringAlert[] | null;
  monitoringError: string | null;
  image: string;
  stateDir: string;
  dataPaths: Record<string, string>;
}

/** A pgBackRest repository, its region's S3 endpoint and what it holds (pgha-restore window on the leader). */
export interface RepositoryStatus {
  name: string;
  region: string;
  endpoint: string;
  address: string;
  bucket: string;
  running: boolean;
  /** The newest WAL segment archived there (file name); null: none, or not read (catalogueError). */
  newestWal: string | null;
  /** The newest backup there: its label, type and stop time; null: none, or not read. */
  newestBackup: { label: string; type: string; stop: string } | null;
  /** Backups kept there. */
  backups: number | null;
  /** Why newestWal/newestBackup are null when they could not be read (endpoint stopped, timeout); null when read. */
  catalogueError: string | null;
}

/** catalogueError of a status that was asked not to read the catalogues (--watch, sampling loops). */
export const CATALOGUE_SKIPPED = "not read (a status without the catalogues: --watch)";

/** How long status waits for one repository's catalogue before reporting it unread. */
export const STATUS_CATALOGUE_TIMEOUT_MS = 20_000;

async function repositoryStatus(sb: Sandbox, r: ReturnType<typeof repositoryEndpoints>[number], readCatalogue: boolean): Promise<RepositoryStatus> {
  const running = Boolean(s3Pid(sb.stateDir, r.endpoint));
  const base = {
    name: `repo${r.repo}`,
    region: sb.spec.backup.repositories.find((x) => x.index === r.repo)!.region,
    endpoint: `https://${r.endpoint.name}:${SANDBOX_NETWORK.s3Port}`,
    address: r.endpoint.address,
    bucket: r.bucket,
    running,
  };
  const unread = (why: string): RepositoryStatus => ({ ...base, newestWal: null, newestBackup: null, backups: null, catalogueError: why });
  if (!readCatalogue) return unread(CATALOGUE_SKIPPED);
  if (!running) return unread("its S3 endpoint is stopped");
  try {
    const c = await backups(sb, r.repo, STATUS_CATALOGUE_TIMEOUT_MS);
    const mine = c.backups.filter((b) => b.repo === r.repo);
    const newest = mine[mine.length - 1];
    return { ...base, newestWal: c.archiveMax, newestBackup: newest ? { label: newest.label, type: newest.type, stop: newest.stop } : null, backups: mine.length, catalogueError: null };
  } catch (e) {
    return unread((e as Error).message.split("\n")[0]);
  }
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
  return mainProcessOf(hostProcesses(host), command);
}

/** The main process of `command` among a host's processes (mainPid without the host). */
export function mainProcessOf(processes: GuestProcess[], command: "postgres" | "patroni"): number | null {
  const procs = processes.filter((p) => p.command === command || (command === "patroni" && p.commandLine.some((a) => a.endsWith("/patroni"))));
  // Patroni runs on its configuration directory (NODE_PATHS.patroniConfigDir); a node from before
  // that change still names the single file.
  const main = command === "postgres"
    ? procs.find((p) => p.commandLine.includes("-D"))
    : procs.find((p) => p.commandLine.some((a) => a === NODE_PATHS.patroniConfigDir || a.endsWith("config.yml")));
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

/**
 * Everything `sandbox status` shows. `catalogue: false` skips reading each repository's backup
 * catalogue (one pgha-restore on the leader per repository, up to STATUS_CATALOGUE_TIMEOUT_MS):
 * for callers that sample status in a loop.
 */
export async function status(sb: Sandbox, opts: { catalogue?: boolean } = {}): Promise<SandboxStatus> {
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
  const replicationSlots = await slotStatus(sb).catch(() => null);
  const monitoring = monitoringUrls(sb);
  const alerts = monitoring ? await firingAlerts(sb).then((a) => ({ a, e: null }), (e: Error) => ({ a: null, e: e.message })) : { a: null, e: null };
  const rw = client.endpoint("rw");
  const ro = client.endpoint("ro");
  const endpointOf = (target: string) => (({ host, hostaddr, port }) => ({ host, address: hostaddr, port }))(client.endpoint(target));
  const files = OPERATOR_FILES(sb.stateDir);
  return {
    stack: spec.stack,
    healthy: health.healthy,
    problems: health.reasons,
    members,
    endpoints: {
      readWrite: { host: rw.host, address: rw.hostaddr, port: rw.port },
      readOnly: { host: ro.host, address: ro.hostaddr, port: ro.port },
      ...(spec.haproxy.synchronousReadOnly ? { synchronousReadOnly: endpointOf("sync") } : {}),
      ...(spec.pooler.enabled ? { pooledReadWrite: endpointOf("pooled-rw"), pooledReadOnly: endpointOf("pooled-ro") } : {}),
    },
    connection: {
      superuser: client.uri("rw"),
      readOnly: client.uri("ro"),
      caFile: files.caFile,
      sslmode: spec.tls.enabled ? "verify-full" : "disable",
      serviceFile: client.writeServiceFiles(path.dirname(files.caFile)),
      roles: roleUris(sb),
      ...(spec.pooler.enabled ? { pooledRoles: roleUris(sb, "pooled-rw") } : {}),
    },
    etcd,
    hosts,
    s3: { endpoint: `https://${layout.s3.endpoint}:${layout.s3.port}`, address: SANDBOX_NETWORK.s3Address, running: Boolean(s3Pid(sb.stateDir)), bucket: spec.backup.bucketName },
    // Every pgBackRest repository, the S3 endpoint of its region (repo2: backup.secondRepository)
    // and what it holds.
    repositories: await Promise.all(repositoryEndpoints(spec).map((r) => repositoryStatus(sb, r, opts.catalogue !== false))),
    aws: { endpoint: `https://${SANDBOX_NETWORK.awsHost}`, address: SANDBOX_NETWORK.awsAddress, state: await hostState(AWS_HOST).catch(() => "missing" as const) },
    drift: (() => {
      try {
        return drift(sb) ?? null;
      } catch {
        return null;
      }
    })(),
    archiving,
    replicationSlots,
    restoreClusters: await scratchStatus(sb.stateDir),
    monitoring,
    alerts: alerts.a,
    monitoringError: alerts.e,
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

/** pg_replication_slots on the leader, with the WAL each slot holds back. */
export async function slotStatus(sb: Sandbox): Promise<SandboxStatus["replicationSlots"]> {
  const leader = await sb.client.leader();
  if (!leader) return null;
  const rows = await sb.client.query<{ slot_name: string; active: boolean; retained: string | null; wal_status: string | null }>(
    leader,
    `select slot_name, active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint as retained, wal_status
       from pg_replication_slots order by slot_name`,
  );
  return rows.map((r) => ({ name: r.slot_name, active: r.active, retainedBytes: r.retained === null ? null : Number(r.retained), walStatus: r.wal_status }));
}

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;

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
    `etcd: ${s.etcd.map((e) => `${e.name}${e.memberId ? ` (${e.memberId})` : ""} ${e.healthy ? "healthy" : "UNHEALTHY"}`).join(", ")}`,
    `hosts: ${s.hosts.map((h) => `${h.name}=${h.state}`).join(" ")}   s3: ${s.repositories.map((r) => `${r.name} ${r.region} ${r.running ? "running" : "DOWN"} (${r.endpoint})`).join(", ")}   aws: ${s.aws.state} (${s.aws.endpoint})`,
    `bundles: ${s.hosts.every((h) => h.bundleHash && h.bundleHash === h.desiredBundleHash) ? "every node runs its desired bundle" : s.hosts.filter((h) => h.bundleHash !== h.desiredBundleHash).map((h) => `${h.name} runs ${h.bundleHash?.slice(0, 12) ?? "?"}, wants ${h.desiredBundleHash?.slice(0, 12) ?? "?"}`).join("; ")}`,
    ...s.hosts.flatMap((h) => h.pendingRestart.map((p) => `pending restart on ${h.name}: ${p.service} (${p.reason})`)),
    ...(s.drift ? [`drift: ${describeDrift(s.drift)}`] : []),
    ...(s.restoreClusters.length ? [`scratch clusters: ${s.restoreClusters.map((r) => `${r.name} (${r.address}, ${r.state}, ${r.target})`).join("; ")} — npx pgha sandbox scratch remove <name>`] : []),
    ...s.repositories.filter((r) => r.catalogueError !== CATALOGUE_SKIPPED).map((r) => `${r.name} (${r.region}, ${r.bucket}): ${r.catalogueError ? `catalogue not read: ${r.catalogueError}` : `${r.backups} backup(s), newest ${r.newestBackup ? `${r.newestBackup.label} (${r.newestBackup.type}, ended ${r.newestBackup.stop})` : "none"}, newest WAL ${r.newestWal ?? "none"}`}`),
    ...(s.replicationSlots?.length
      ? [`slots on the leader: ${s.replicationSlots.map((r) => `${r.name} ${r.active ? "active" : "INACTIVE"} ${r.retainedBytes === null ? "-" : mib(r.retainedBytes)} retained${r.walStatus && r.walStatus !== "reserved" ? ` (${r.walStatus})` : ""}`).join(", ")}`]
      : []),
    ...(s.monitoring
      ? [
          s.alerts === null
            ? `alerts: the monitoring node did not answer (${s.monitoringError})`
            : s.alerts.length === 0
              ? `alerts: none firing  (Prometheus ${s.monitoring.prometheus})`
              : `alerts: ${s.alerts.map((a) => `${a.state === "active" ? "" : `(${a.state}) `}${a.name} [${a.severity}]${a.node ? ` on ${a.node}` : ""} since ${a.since}`).join("; ")}`,
        ]
      : []),
    s.archiving
      ? `archiving: last ${s.archiving.lastArchivedWal ?? "-"} at ${s.archiving.lastArchivedTime ?? "-"}, ${s.archiving.pendingWalFiles} WAL file(s) waiting, ${s.archiving.failedCount} failure(s)${s.archiving.pendingWalFiles > 2 ? "  ← WAL is not reaching the archive" : ""}`
      : "archiving: no leader",
    "",
    `read-write  ${s.endpoints.readWrite.host}:${s.endpoints.readWrite.port} (HAProxy ${s.endpoints.readWrite.address})`,
    `read-only   ${s.endpoints.readOnly.host}:${s.endpoints.readOnly.port} (HAProxy ${s.endpoints.readOnly.address})`,
    ...(s.endpoints.pooledReadWrite && s.endpoints.pooledReadOnly
      ? [`pooled rw   ${s.endpoints.pooledReadWrite.host}:${s.endpoints.pooledReadWrite.port}, pooled ro ${s.endpoints.pooledReadOnly.host}:${s.endpoints.pooledReadOnly.port} (PgBouncer on the members, HAProxy ${s.endpoints.pooledReadWrite.address})`]
      : []),
    ...(s.endpoints.synchronousReadOnly ? [`synchronous ${s.endpoints.synchronousReadOnly.host}:${s.endpoints.synchronousReadOnly.port} (HAProxy ${s.endpoints.synchronousReadOnly.address}; sees every acknowledged commit)`] : []),
    `psql: PGSERVICEFILE=${s.connection.serviceFile} psql service=pgha-rw   (or service=pgha-ro; the password is in a 0600 pgpass beside it)`,
    `   or: npx pgha sandbox psql rw`,
    ...(Object.keys(s.connection.roles).length ? [`roles: ${Object.keys(s.connection.roles).join(", ")} (their URIs, with the password: status --json, connection.roles)`] : []),
  ];
  return lines.join("\n");
}
