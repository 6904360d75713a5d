/**
 * Sandbox hosts: local machines that boot like EC2 instances.
 *
 * Each host is a copy-on-write overlay of the Debian 13 image, with a NoCloud seed (its own
 * cloud-init user-data) written into it, booted by systemd-nspawn inside the host's network
 * namespace (network.ts). The guest runs its own systemd, so cloud-init, the units and the
 * cron jobs that EC2 runs are what the sandbox runs.
 *
 * On disk, per host (`<stateDir>/hosts/<name>/`):
 *   host.json        what the host is (address, image, binds, seed digest)
 *   upper/ work/     the overlay's writable layer: the host's "disk"
 *   merged/          the overlay mount: the host's root file system, also seen from the machine
 *   supervise.sh     the per-host supervisor (generated): boots the guest, boots it again
 *                    after a guest-initiated reboot (nspawn exit 133), stops on any other exit
 *   console.log      nspawn's and the supervisor's output
 *   supervisor.pid, nspawn.pid, last-exit
 * and `/run/pgha/hosts/<name>` → that directory, so any process can find a host by name
 * (host names are machine-wide anyway: namespaces, cgroups and machine names carry them).
 *
 * The supervisor is started with setsid, detached from the Node process that asked for it:
 * hosts keep running when the CLI or a test process exits. It first moves itself into its own
 * cgroup `hs-<name>` (cgroup2 at /sys/fs/cgroup/unified and the name=systemd v1 hierarchy),
 * because nspawn --keep-unit creates `payload/` and `supervisor/` in its caller's cgroup.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  rmdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import * as path from "node:path";
import { stringify as toYaml } from "yaml";
import {
  assertHostAddress,
  assertHostName,
  attachHost,
  detachHost,
  isValidHostName,
  namespacePath,
  teardownNetwork,
} from "./network";
import { detachLoops, ebsByIdName, loopDeviceFor, supervisorVolumeBinds, type SandboxVolume } from "./volumes";
import {
  CommandFailedError,
  CommandResult,
  formatCommand,
  pollUntil,
  runCommand,
  runOrThrow,
  signalProcess,
  sleep,
} from "./shell";

// ---------------------------------------------------------------------------------------------
// Public types

export interface BindMount {
  /** Absolute path on the machine. */
  source: string;
  /** Absolute path inside the host. */
  target: string;
  readOnly?: boolean;
}

export interface HostDefinition {
  /** Host name: becomes the machine name, hostname, `pgha-<name>` namespace, `hs-<name>` cgroup. */
  name: string;
  /** The host's address on the sandbox bridge, 10.88.0.1–10.88.0.253. */
  address: string;
  /** cloud-init user-data exactly as EC2 would receive it (plain or gzip-compressed). */
  userData: Buffer | string;
  /** Extra NoCloud meta-data keys; `instance-id` and `local-hostname` have defaults. */
  metaData?: Record<string, string>;
  /** Machine directories made visible inside the host (nspawn --bind / --bind-ro). */
  binds?: BindMount[];
}

export interface HostLayerOptions {
  /** Root directory of the image (sandbox/build-image.sh prints it). */
  image: string;
  /** Where hosts keep their overlays and logs (`<stateDir>/hosts/<name>/`). */
  stateDir: string;
}

export interface BootedHost {
  name: string;
  address: string;
  /** `<stateDir>/hosts/<name>` */
  directory: string;
  /** The host's root file system as seen from the machine (the overlay mount). */
  rootDirectory: string;
  consoleLog: string;
}

/** stopped: no guest; booting: starting (or between a reboot's stop and start); running: booted. */
export type HostState = "running" | "booting" | "stopping" | "stopped";
/** What `systemctl is-system-running` said when the guest finished booting. */
export type GuestSystemState = "running" | "degraded";

export interface HostExecOptions {
  input?: string | Buffer;
  /** Run as this user of the guest (runuser); default root. */
  user?: string;
  /** Default 120 s; on timeout the command's process group is killed and code is 124. */
  timeoutMs?: number;
  /** Extra environment; the command otherwise gets a clean one (PATH, LANG, HOME). */
  env?: Record<string, string>;
  /** Working directory inside the guest; default `/`. */
  cwd?: string;
}

export type HostExecResult = CommandResult;

export interface GuestProcess {
  /** Process id on the machine (for kill, /proc, perf …). */
  pid: number;
  /** Process id inside the guest (what `ps` in the host shows). */
  guestPid: number;
  /** Kernel command name (`/proc/<pid>/comm`), e.g. "postgres", "patroni", "etcd". */
  command: string;
  commandLine: string[];
}

export interface HostSummary {
  name: string;
  address: string;
  state: HostState;
  /** Machine-side pid of the guest's systemd, when it runs. */
  guestInitPid?: number;
  directory: string;
}

export interface CloudInitStatus {
  /** "done", "running", "error", "disabled", "not started". */
  status: string;
  /** "done", "degraded done", "error - done" … */
  extendedStatus: string;
  errors: string[];
  recoverableErrors: Record<string, string[]>;
  datasource: string;
  detail: string;
}

export interface CleanupOptions {
  /** Also remove hosts registered from other state dirs (a machine-wide reset, e.g. in CI). */
  allSandboxes?: boolean;
}

export interface CleanupReport {
  hosts: string[];
  killedProcesses: number;
  unmounted: string[];
  removedCgroups: string[];
  networkRemoved: boolean;
}

export class UnknownHostError extends Error {
  constructor(readonly host: string) {
    super(`sandbox host ${host} does not exist on this machine: boot it with bootHost first`);
    this.name = "UnknownHostError";
  }
}

export class HostNotRunningError extends Error {
  constructor(
    readonly host: string,
    readonly state: HostState,
  ) {
    super(`sandbox host ${host} is not running (state: ${state}): start it with startHost("${host}") and waitForBoot`);
    this.name = "HostNotRunningError";
  }
}

export const DEFAULT_BOOT_TIMEOUT_MS = 90_000;
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 60_000;

// ---------------------------------------------------------------------------------------------
// Layout on disk and on the machine

const REGISTRY_DIR = "/run/pgha/hosts";
const CGROUP_HIERARCHIES = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"];
const CGROUP_PREFIX = "hs-";
/** nspawn keeps per-machine propagation dirs here; a tmpfs keeps it from refusing to clean them. */
const NSPAWN_RUNTIME_DIR = "/run/systemd/nspawn";
const NSPAWN_RUNTIME_SOURCE = "pgha-nspawn-runtime";
/** systemd-nspawn exits with 133 when the guest asked for a reboot. */
const NSPAWN_EXIT_REBOOT = 133;
const GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const SEED_DIR = "var/lib/cloud/seed/nocloud";
const SANDBOX_CLOUD_CONFIG = "etc/cloud/cloud.cfg.d/90-pgha-sandbox.cfg";

interface HostRecord {
  name: string;
  address: string;
  image: string;
  stateDir: string;
  binds: BindMount[];
  /** Digest of everything that defines the host's first boot (seed, address, image, binds). */
  definitionDigest: string;
  createdAt: string;
  /** Block devices attached to the host (data volumes), presented again at every boot. */
  volumes?: SandboxVolume[];
}

interface HostPaths {
  directory: string;
  record: string;
  upper: string;
  work: string;
  merged: string;
  consoleLog: string;
  supervisorScript: string;
  supervisorPid: string;
  nspawnPid: string;
  lastExit: string;
  volumesList: string;
}

function hostPaths(directory: string): HostPaths {
  return {
    directory,
    record: path.join(directory, "host.json"),
    upper: path.join(directory, "upper"),
    work: path.join(directory, "work"),
    merged: path.join(directory, "merged"),
    consoleLog: path.join(directory, "console.log"),
    supervisorScript: path.join(directory, "supervise.sh"),
    supervisorPid: path.join(directory, "supervisor.pid"),
    nspawnPid: path.join(directory, "nspawn.pid"),
    lastExit: path.join(directory, "last-exit"),
    volumesList: path.join(directory, "volumes.list"),
  };
}

function hostsDirectory(stateDir: string): string {
  return path.join(path.resolve(stateDir), "hosts");
}

function cgroupName(host: string): string {
  return `${CGROUP_PREFIX}${host}`;
}

function cgroupDirectories(host: string): string[] {
  return CGROUP_HIERARCHIES.filter((hierarchy) => existsSync(hierarchy)).map((hierarchy) =>
    path.join(hierarchy, cgroupName(host)),
  );
}

function overlaySource(host: string): string {
  return `pgha-${host}`;
}

// ---------------------------------------------------------------------------------------------
// Registry: /run/pgha/hosts/<name> → host directory

function registryLink(host: string): string {
  return path.join(REGISTRY_DIR, host);
}

function registeredDirectory(host: string): string | undefined {
  try {
    return readlinkSync(registryLink(host));
  } catch {
    return undefined;
  }
}

function register(host: string, directory: string): void {
  mkdirSync(REGISTRY_DIR, { recursive: true });
  if (registeredDirectory(host) === directory) return;
  rmSync(registryLink(host), { force: true });
  symlinkSync(directory, registryLink(host));
}

function unregister(host: string): void {
  rmSync(registryLink(host), { force: true });
}

function registeredHosts(): string[] {
  return existsSync(REGISTRY_DIR) ? readdirSync(REGISTRY_DIR).sort() : [];
}

function readRecord(directory: string): HostRecord | undefined {
  try {
    return JSON.parse(readFileSync(hostPaths(directory).record, "utf8")) as HostRecord;
  } catch {
    return undefined;
  }
}

interface KnownHost {
  record: HostRecord;
  paths: HostPaths;
}

function knownHost(host: string): KnownHost {
  assertHostName(host);
  const directory = registeredDirectory(host);
  const record = directory ? readRecord(directory) : undefined;
  if (!directory || !record) throw new UnknownHostError(host);
  return { record, paths: hostPaths(directory) };
}

// ---------------------------------------------------------------------------------------------
// Processes

function readPidFile(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function commandLineOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((arg) => arg !== "");
  } catch {
    return [];
  }
}

/** The supervisor's pid, if its pid file names a live supervise.sh of this host. */
function supervisorPid(paths: HostPaths): number | undefined {
  const pid = readPidFile(paths.supervisorPid);
  return pid !== undefined && commandLineOf(pid).includes(paths.supervisorScript) ? pid : undefined;
}

/** nspawn's pid, if its pid file names a live systemd-nspawn of this host (pids get reused). */
function nspawnPid(paths: HostPaths, host: string): number | undefined {
  const pid = readPidFile(paths.nspawnPid);
  if (pid === undefined) return undefined;
  const argv = commandLineOf(pid);
  const isOurs = path.basename(argv[0] ?? "") === "systemd-nspawn" && argv.includes("-M") && argv.includes(host);
  return isOurs ? pid : undefined;
}

interface ProcStat {
  pid: number;
  parentPid: number;
}

function procStat(pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { pid, parentPid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

function allPids(): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number);
}

/** The pid a process has inside its own (innermost) PID namespace. */
function innermostPid(pid: number): number | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8")
      .split("\n")
      .find((l) => l.startsWith("NSpid:"));
    const ids = line?.split(/\s+/).slice(1).filter(Boolean).map(Number);
    return ids?.[ids.length - 1];
  } catch {
    return undefined;
  }
}

/** True while the host's supervisor or its nspawn lives (either may outlive the other after a kill -9). */
function hostIsUp(paths: HostPaths, host: string): boolean {
  return supervisorPid(paths) !== undefined || nspawnPid(paths, host) !== undefined;
}

/** The guest's init: the child of nspawn that is PID 1 of its own PID namespace. */
function guestInitOf(nspawn: number): number | undefined {
  for (const pid of allPids()) {
    if (procStat(pid)?.parentPid === nspawn && innermostPid(pid) === 1) return pid;
  }
  return undefined;
}

function pidNamespaceOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Mounts

interface MountEntry {
  source: string;
  target: string;
  fsType: string;
}

/** /proc/mounts with its octal escapes (\040 for a space …) decoded. */
function currentMounts(): MountEntry[] {
  const decode = (field: string) => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  return readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [source = "", target = "", fsType = ""] = line.split(" ");
      return { source: decode(source), target: decode(target), fsType };
    });
}

function isMounted(target: string): boolean {
  return currentMounts().some((mount) => mount.target === target);
}

function isWithin(parent: string, candidate: string): boolean {
  return candidate === parent || candidate.startsWith(parent.endsWith("/") ? parent : `${parent}/`);
}

/** Unmounts, deepest first, every mount at or below `root` or whose source is in `sources`. */
async function unmountAll(roots: string[], sources: string[] = []): Promise<string[]> {
  const unmounted: string[] = [];
  for (let round = 0; round < 10; round++) {
    const targets = currentMounts()
      .filter((mount) => roots.some((root) => isWithin(root, mount.target)) || sources.includes(mount.source))
      .map((mount) => mount.target)
      .sort((a, b) => b.split("/").length - a.split("/").length || b.length - a.length);
    if (targets.length === 0) return unmounted;
    for (const target of targets) {
      const result = await runCommand(["umount", target]);
      if (result.code !== 0) await runCommand(["umount", "-l", target]); // busy: detach it now, free it later
      unmounted.push(target);
    }
  }
  const left = currentMounts().filter((mount) => roots.some((root) => isWithin(root, mount.target)));
  throw new Error(
    `cannot unmount ${left.map((mount) => mount.target).join(", ")}: ` +
      `find what still uses them (\`fuser -vm <path>\`), stop it, and run the cleanup again`,
  );
}

async function mountOverlay(record: HostRecord, paths: HostPaths): Promise<void> {
  if (isMounted(paths.merged)) return;
  for (const directory of [paths.upper, paths.work, paths.merged]) mkdirSync(directory, { recursive: true });
  const options = `lowerdir=${record.image},upperdir=${paths.upper},workdir=${paths.work}`;
  await runOrThrow(["mount", "-t", "overlay", overlaySource(record.name), "-o", options, paths.merged], {
    hint: `the host's overlay could not be mounted; check that ${record.image} is the image root and that ${paths.directory} is on a local file system (not overlayfs/NFS)`,
  });
}

/** nspawn complains when it cannot remove its propagation dir from a /run that is not tmpfs. */
async function ensureNspawnRuntimeDir(): Promise<void> {
  if (isMounted(NSPAWN_RUNTIME_DIR)) return;
  mkdirSync(NSPAWN_RUNTIME_DIR, { recursive: true });
  await runOrThrow(["mount", "-t", "tmpfs", "-o", "mode=0755,size=16m", NSPAWN_RUNTIME_SOURCE, NSPAWN_RUNTIME_DIR]);
}

// ---------------------------------------------------------------------------------------------
// Cgroups

function cgroupTree(root: string): string[] {
  if (!existsSync(root)) return [];
  const below = readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) => cgroupTree(path.join(root, entry.name)));
  return [root, ...below];
}

function cgroupProcesses(root: string): number[] {
  return cgroupTree(root).flatMap((directory) => {
    try {
      return readFileSync(path.join(directory, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
    } catch {
      return [];
    }
  });
}

/** Kills every process of the host's cgroups (supervisor, nspawn, the whole guest). */
async function killHostCgroups(host: string): Promise<number> {
  let killed = 0;
  for (let attempt = 0; attempt < 100; attempt++) {
    const pids = cgroupDirectories(host).flatMap(cgroupProcesses);
    if (pids.length === 0) return killed;
    for (const directory of cgroupDirectories(host)) {
      try {
        writeFileSync(path.join(directory, "cgroup.kill"), "1"); // cgroup2 only: the whole subtree at once
      } catch {
        // v1 hierarchy (no cgroup.kill) or already gone: the signals below do it
      }
    }
    for (const pid of new Set(pids)) signalProcess(pid, "SIGKILL");
    killed = Math.max(killed, new Set(pids).size);
    await sleep(100);
  }
  throw new Error(
    `processes of sandbox host ${host} survived SIGKILL for 10 s: ` +
      `see \`cat ${cgroupDirectories(host).join("/cgroup.procs ")}/cgroup.procs\``,
  );
}

/** Removes the host's cgroups depth-first (they must be empty: killHostCgroups first). */
async function removeCgroups(host: string): Promise<string[]> {
  const removed: string[] = [];
  for (const root of cgroupDirectories(host)) {
    for (const directory of cgroupTree(root).reverse()) {
      for (let attempt = 0; ; attempt++) {
        try {
          rmdirSync(directory);
          break;
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === "ENOENT") break;
          // A cgroup whose last process just died can stay busy for a moment.
          if (code !== "EBUSY" || attempt >= 50) {
            throw new Error(`cannot remove cgroup ${directory} (${code}): see \`cat ${directory}/cgroup.procs\`, kill what is listed, and run the cleanup again`);
          }
          await sleep(50);
        }
      }
      removed.push(directory);
    }
  }
  return removed;
}

// ---------------------------------------------------------------------------------------------
// Seed and supervisor

function userDataBytes(userData: Buffer | string): Buffer {
  return typeof userData === "string" ? Buffer.from(userData, "utf8") : userData;
}

function metaDataDocument(definition: HostDefinition): string {
  const metaData = {
    "instance-id": `iid-pgha-${definition.name}`,
    "local-hostname": definition.name,
    ...definition.metaData,
  };
  return toYaml(metaData);
}

/**
 * Platform settings of the sandbox image, as a cloud image ships its own cloud.cfg.d:
 * the image has no SSH server (nsenter is the way in), and the host's network is configured
 * by the sandbox before boot, as EC2's DHCP does, so cloud-init must not write its own.
 */
const SANDBOX_CLOUD_CONFIG_TEXT = `# Written by the postgres-ha sandbox host layer (src/sandbox/hosts.ts).
# The sandbox image has no SSH server, so there are no host keys to generate.
ssh_genkeytypes: []
ssh_deletekeys: false
# eth0's address is set from outside before boot; cloud-init must not configure networking.
network: {config: disabled}
`;

function writeSeed(definition: HostDefinition, paths: HostPaths): void {
  const root = paths.merged;
  const seedDir = path.join(root, SEED_DIR);
  mkdirSync(seedDir, { recursive: true, mode: 0o755 });
  writeFileSync(path.join(seedDir, "meta-data"), metaDataDocument(definition), { mode: 0o600 });
  writeFileSync(path.join(seedDir, "user-data"), userDataBytes(definition.userData), { mode: 0o600 });
  // An empty machine-id makes systemd generate one at first boot, as on a new instance.
  writeFileSync(path.join(root, "etc/machine-id"), "", { mode: 0o444 });
  rmSync(path.join(root, "etc/hostname"), { force: true });
  mkdirSync(path.dirname(path.join(root, SANDBOX_CLOUD_CONFIG)), { recursive: true });
  writeFileSync(path.join(root, SANDBOX_CLOUD_CONFIG), SANDBOX_CLOUD_CONFIG_TEXT, { mode: 0o644 });
}

function nspawnCommand(record: HostRecord, paths: HostPaths): string[] {
  const binds = record.binds.map(
    (bind) => `${bind.readOnly ? "--bind-ro" : "--bind"}=${bind.source}:${bind.target}`,
  );
  return [
    "systemd-nspawn",
    "-D",
    paths.merged,
    "-M",
    record.name,
    "--register=no",
    "--keep-unit",
    `--network-namespace-path=${namespacePath(record.name)}`,
    ...binds,
    "-b",
    "--console=pipe",
  ];
}

/** The volumes.list the supervisor reads before each boot ("<id> <file>" per line). */
function writeVolumesList(record: HostRecord, paths: HostPaths): void {
  writeFileSync(paths.volumesList, (record.volumes ?? []).map((v) => `${v.id} ${v.file}\n`).join(""));
}

function supervisorScript(record: HostRecord, paths: HostPaths): string {
  const cgroup = cgroupName(record.name);
  return `#!/bin/bash
# Supervisor of sandbox host ${record.name} — generated by src/sandbox/hosts.ts, rewritten at each start.
# Boots the host with systemd-nspawn; boots it again when the guest reboots itself (nspawn
# exits with ${NSPAWN_EXIT_REBOOT}); any other exit (poweroff, power cut, SIGTERM) ends the supervisor.
set -u
export PATH=${GUEST_PATH}
export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
cd ${formatCommand([paths.directory])} || exit 1
# Own cgroup first: nspawn --keep-unit puts payload/ and supervisor/ in its caller's cgroup.
for hierarchy in ${CGROUP_HIERARCHIES.map((h) => formatCommand([h])).join(" ")}; do
  [ -d "$hierarchy" ] || continue
  mkdir -p "$hierarchy/${cgroup}"
  echo $$ > "$hierarchy/${cgroup}/cgroup.procs"
done
echo $$ > supervisor.pid
rm -f last-exit
while :; do
  echo "[pgha-supervisor] $(date -u +%FT%T.%3NZ) starting ${record.name}"
  # Data volumes stay attached across reboots, as EBS volumes do.
  ${supervisorVolumeBinds(formatCommand([paths.volumesList])).split("\n").join("\n  ")}
  ${formatCommand(nspawnCommand(record, paths))} "\${volume_binds[@]}" &
  nspawn_pid=$!
  echo "$nspawn_pid" > nspawn.pid
  wait "$nspawn_pid"
  status=$?
  echo "[pgha-supervisor] $(date -u +%FT%T.%3NZ) systemd-nspawn exited with status $status"
  [ "$status" -eq ${NSPAWN_EXIT_REBOOT} ] || break
done
echo "$status" > last-exit
rm -f nspawn.pid supervisor.pid
`;
}

function consoleTail(paths: HostPaths, lines = 20): string {
  try {
    return readFileSync(paths.consoleLog, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no console output)";
  }
}

async function launchSupervisor(record: HostRecord, paths: HostPaths): Promise<void> {
  await ensureNspawnRuntimeDir();
  writeVolumesList(record, paths);
  writeFileSync(paths.supervisorScript, supervisorScript(record, paths), { mode: 0o755 });
  rmSync(paths.nspawnPid, { force: true });
  rmSync(paths.lastExit, { force: true });
  const log = openSync(paths.consoleLog, "a");
  try {
    const child = spawn("/bin/bash", [paths.supervisorScript], {
      detached: true, // setsid: the host outlives the Node process that started it
      stdio: ["ignore", log, log],
      env: { PATH: GUEST_PATH, LANG: "C.UTF-8" },
    });
    child.unref();
  } finally {
    closeSync(log);
  }
  await pollUntil(
    () => {
      if (nspawnPid(paths, record.name) !== undefined) return true;
      if (existsSync(paths.lastExit)) {
        throw new Error(
          `sandbox host ${record.name} did not start (systemd-nspawn exited with status ` +
            `${readFileSync(paths.lastExit, "utf8").trim()}):\n${consoleTail(paths)}\nfull log: ${paths.consoleLog}`,
        );
      }
      return undefined;
    },
    {
      timeoutMs: 10_000,
      intervalMs: 20,
      onTimeout: () => new Error(`the supervisor of ${record.name} did not start systemd-nspawn within 10 s; see ${paths.consoleLog}`),
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Validation

function assertPlainPath(label: string, value: string): void {
  if (!path.isAbsolute(value) || /[,:\s]/.test(value)) {
    throw new Error(`${label} ${JSON.stringify(value)} must be an absolute path without ',', ':' or spaces (overlayfs and nspawn options cannot carry them)`);
  }
}

function validateImage(image: string): void {
  assertPlainPath("image", image);
  const init = ["usr/lib/systemd/systemd", "lib/systemd/systemd"].some((candidate) => existsSync(path.join(image, candidate)));
  if (!init) {
    throw new Error(
      `image ${image} has no systemd (usr/lib/systemd/systemd): pass the directory printed by ` +
        `\`sandbox/build-image.sh /var/lib/pgha/images\` (it builds the image when missing)`,
    );
  }
}

function validateBinds(binds: BindMount[]): void {
  for (const bind of binds) {
    assertPlainPath("bind source", bind.source);
    assertPlainPath("bind target", bind.target);
    if (!existsSync(bind.source)) throw new Error(`bind source ${bind.source} does not exist on the machine: create it before booting the host`);
  }
}

function definitionDigest(definition: HostDefinition, image: string, binds: BindMount[]): string {
  return createHash("sha256")
    .update(JSON.stringify({ address: definition.address, image, binds, metaData: metaDataDocument(definition) }))
    .update(userDataBytes(definition.userData))
    .digest("hex");
}

// ---------------------------------------------------------------------------------------------
// Life cycle

/**
 * Creates a host (overlay, seed, network) and starts booting it; returns without waiting
 * (boot several in parallel, then waitForBoot each). Idempotent: the same definition again
 * starts the existing host if it is stopped and does nothing if it runs; a different one is
 * refused (resetHost first), because cloud-init would not apply new user-data to an old instance.
 */
export async function bootHost(definition: HostDefinition, options: HostLayerOptions): Promise<BootedHost> {
  assertHostName(definition.name);
  assertHostAddress(definition.address);
  const image = path.resolve(options.image);
  validateImage(image);
  const binds = (definition.binds ?? []).map((bind) => ({ ...bind, readOnly: bind.readOnly ?? false }));
  validateBinds(binds);
  const directory = path.join(hostsDirectory(options.stateDir), definition.name);
  assertPlainPath("state dir", directory);
  const paths = hostPaths(directory);
  const digest = definitionDigest(definition, image, binds);

  const registered = registeredDirectory(definition.name);
  if (registered !== undefined && registered !== directory && readRecord(registered)) {
    throw new Error(
      `sandbox host ${definition.name} already exists in another state dir (${registered}): ` +
        `run cleanupAll("${path.dirname(path.dirname(registered))}") or pick another host name`,
    );
  }
  const existing = readRecord(directory);
  if (existing && existing.definitionDigest !== digest) {
    throw new Error(
      `sandbox host ${definition.name} already exists with a different definition (user-data, meta-data, ` +
        `address, image or binds): resetHost("${definition.name}") deletes its disk so it boots anew, ` +
        `or startHost("${definition.name}") boots it as it is`,
    );
  }

  const record: HostRecord = existing ?? {
    name: definition.name,
    address: definition.address,
    image,
    stateDir: path.resolve(options.stateDir),
    binds,
    definitionDigest: digest,
    createdAt: new Date().toISOString(),
  };
  mkdirSync(directory, { recursive: true });
  register(definition.name, directory); // first, so a cleanup after a crash finds everything below
  if (!existing) {
    await mountOverlay(record, paths);
    writeSeed(definition, paths);
    writeFileSync(paths.record, `${JSON.stringify(record, null, 2)}\n`);
  }
  await startHost(definition.name);
  return describeBooted(record, paths);
}

function describeBooted(record: HostRecord, paths: HostPaths): BootedHost {
  return {
    name: record.name,
    address: record.address,
    directory: paths.directory,
    rootDirectory: paths.merged,
    consoleLog: paths.consoleLog,
  };
}

/**
 * Boots an existing host again from its overlay (same disk, same instance-id: cloud-init runs
 * no per-instance module again). Returns once nspawn runs; does nothing if the host is up.
 */
export async function startHost(name: string): Promise<BootedHost> {
  const { record, paths } = knownHost(name);
  if (!hostIsUp(paths, name)) {
    const strays = cgroupDirectories(name).flatMap(cgroupProcesses);
    if (strays.length > 0) {
      throw new Error(
        `sandbox host ${name} is stopped but its cgroup still holds processes (${strays.slice(0, 5).join(", ")}) ` +
          `from an earlier run: run cleanupAll("${record.stateDir}") and boot it again`,
      );
    }
    await attachHost(record.name, record.address);
    await mountOverlay(record, paths);
    await launchSupervisor(record, paths);
  }
  return describeBooted(record, paths);
}

/**
 * Attaches a data volume to a host, like an EBS VolumeAttachment: recorded, so every later boot
 * presents it again, and hot-plugged into a running guest at once (/dev/loopN plus its EBS
 * by-id link, created in the guest's /dev as udev would).
 */
export async function attachVolume(name: string, volume: SandboxVolume): Promise<string> {
  const { record, paths } = knownHost(name);
  const volumes = (record.volumes ?? []).filter((v) => v.id !== volume.id);
  record.volumes = [...volumes, volume];
  writeFileSync(paths.record, `${JSON.stringify(record, null, 2)}\n`);
  writeVolumesList(record, paths);
  const device = await loopDeviceFor(volume.file);
  const pid = guestPid(name);
  if (pid !== undefined) {
    const [major, minor] = (await runOrThrow(["stat", "-c", "%t %T", device])).trim().split(" ").map((h) => parseInt(h, 16));
    const byId = `/dev/disk/by-id/${ebsByIdName(volume.id)}`;
    await runOrThrow([
      "nsenter", "-t", String(pid), "-m", "--", "sh", "-c",
      `[ -b ${device} ] || mknod -m 0660 ${device} b ${major} ${minor}; mkdir -p /dev/disk/by-id; ln -sfn ../../${path.basename(device)} ${byId}`,
    ]);
  }
  return device;
}

/** Machine-side pid of the guest's init (its systemd), or undefined while it is not up. */
export function guestPid(name: string): number | undefined {
  const { paths } = knownHost(name);
  const nspawn = nspawnPid(paths, name);
  return nspawn === undefined ? undefined : guestInitOf(nspawn);
}

async function guestSystemState(pid: number): Promise<string> {
  const result = await runCommand(["nsenter", "-t", String(pid), "-a", "--", "systemctl", "is-system-running"], {
    timeoutMs: 10_000,
  });
  return result.stdout.trim() || "offline";
}

export async function hostState(name: string): Promise<HostState> {
  const { paths } = knownHost(name);
  const nspawn = nspawnPid(paths, name);
  if (nspawn === undefined) return supervisorPid(paths) === undefined ? "stopped" : "booting";
  const guest = guestInitOf(nspawn);
  if (guest === undefined) return "booting";
  switch (await guestSystemState(guest)) {
    case "running":
    case "degraded":
      return "running";
    case "stopping":
      return "stopping";
    default:
      return "booting";
  }
}

/**
 * Waits until the guest's systemd has finished booting (`systemctl is-system-running` says
 * running or degraded; cloud-init's final stage is part of that boot) and says which.
 */
export async function waitForBoot(name: string, timeoutMs = DEFAULT_BOOT_TIMEOUT_MS): Promise<GuestSystemState> {
  const { paths } = knownHost(name);
  let lastState = "not started";
  return pollUntil<GuestSystemState>(
    async () => {
      const nspawn = nspawnPid(paths, name);
      if (nspawn === undefined) {
        if (supervisorPid(paths) !== undefined) return undefined; // between a reboot's stop and start
        const exit = existsSync(paths.lastExit) ? readFileSync(paths.lastExit, "utf8").trim() : "unknown";
        throw new Error(
          `sandbox host ${name} stopped while booting (systemd-nspawn exit status ${exit}):\n` +
            `${consoleTail(paths)}\nfull log: ${paths.consoleLog}`,
        );
      }
      const guest = guestInitOf(nspawn);
      if (guest === undefined) return undefined;
      lastState = await guestSystemState(guest);
      return lastState === "running" || lastState === "degraded" ? lastState : undefined;
    },
    {
      timeoutMs,
      intervalMs: 100,
      onTimeout: () =>
        new Error(
          `sandbox host ${name} did not finish booting in ${timeoutMs} ms (systemd says "${lastState}"): ` +
            `look at the jobs still running with hostExec("${name}", ["systemctl", "list-jobs"]) ` +
            `and at ${paths.consoleLog}`,
        ),
    },
  );
}

function requireGuestPid(name: string): number {
  const pid = guestPid(name);
  if (pid === undefined) {
    const { paths } = knownHost(name);
    throw new HostNotRunningError(name, hostIsUp(paths, name) ? "booting" : "stopped");
  }
  return pid;
}

function guestCommand(argv: readonly string[], options: HostExecOptions): string[] {
  if (argv.length === 0) throw new Error("hostExec needs a command to run");
  const environment = {
    PATH: GUEST_PATH,
    LANG: "C.UTF-8",
    ...(options.user && options.user !== "root" ? {} : { HOME: "/root" }),
    ...options.env,
  };
  for (const key of Object.keys(environment)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new Error(`hostExec: environment variable name ${JSON.stringify(key)} is not valid`);
  }
  const asUser = options.user && options.user !== "root" ? ["runuser", "-u", options.user, "--"] : [];
  return [
    "env",
    "-i",
    ...(options.cwd ? ["-C", options.cwd] : []),
    ...Object.entries(environment).map(([key, value]) => `${key}=${value}`),
    ...asUser,
    ...argv,
  ];
}

/**
 * Runs a command inside the host (all of its namespaces: files, processes, network, hostname)
 * with a clean environment; resolves with its status and output, whatever the status.
 * Long-running services belong in the guest's systemd: `systemd-run --unit=<name> …`.
 */
export async function hostExec(name: string, argv: readonly string[], options: HostExecOptions = {}): Promise<HostExecResult> {
  const pid = requireGuestPid(name);
  return runCommand(["nsenter", "-t", String(pid), "-a", "--", ...guestCommand(argv, options)], {
    input: options.input,
    timeoutMs: options.timeoutMs,
  });
}

/** hostExec that returns stdout and throws (with the command's stderr) on a non-zero status. */
export async function hostExecChecked(name: string, argv: readonly string[], options: HostExecOptions = {}): Promise<string> {
  const result = await hostExec(name, argv, options);
  if (result.code !== 0) {
    throw new CommandFailedError([`[${name}]`, ...argv], result, `the host's log: hostExec("${name}", ["journalctl", "-b", "--no-pager", "-n", "100"])`);
  }
  return result.stdout;
}

/** cloud-init's own verdict on the host's configuration (`cloud-init status --format json`). */
export async function cloudInitStatus(name: string): Promise<CloudInitStatus> {
  const result = await hostExec(name, ["cloud-init", "status", "--format", "json"]);
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(result.stdout) as Record<string, unknown>;
  } catch {
    throw new CommandFailedError([`[${name}]`, "cloud-init", "status", "--format", "json"], result);
  }
  return {
    status: String(parsed.status ?? ""),
    extendedStatus: String(parsed.extended_status ?? ""),
    errors: (parsed.errors as string[] | undefined) ?? [],
    recoverableErrors: (parsed.recoverable_errors as Record<string, string[]> | undefined) ?? {},
    datasource: String(parsed.datasource ?? ""),
    detail: String(parsed.detail ?? ""),
  };
}

async function waitUntilDown(paths: HostPaths, host: string, timeoutMs: number): Promise<boolean> {
  try {
    await pollUntil(() => (hostIsUp(paths, host) ? undefined : true), {
      timeoutMs,
      intervalMs: 50,
      onTimeout: () => new Error("timeout"),
    });
    return true;
  } catch {
    return false;
  }
}

/**
 * Cuts the host's power: SIGKILL to the guest's init, so every process of the guest dies at
 * once and nspawn exits; the host stays off until startHost. Nothing is written back: the
 * overlay holds exactly what the guest had written when the power went.
 * (The machine's page cache is shared, so unsynced writes are not lost: this tests
 * crash-restart, not torn writes.) No-op for a stopped host.
 */
export async function powerCut(name: string, timeoutMs = 15_000): Promise<void> {
  const { paths } = knownHost(name);
  const deadline = Date.now() + timeoutMs;
  while (hostIsUp(paths, name)) {
    const nspawn = nspawnPid(paths, name);
    const guest = nspawn === undefined ? undefined : guestInitOf(nspawn);
    if (guest !== undefined) signalProcess(guest, "SIGKILL");
    else if (nspawn !== undefined) signalProcess(nspawn, "SIGKILL"); // still setting up: no guest yet
    if (await waitUntilDown(paths, name, 500)) return;
    if (Date.now() > deadline) {
      throw new Error(`sandbox host ${name} is still up ${timeoutMs} ms after its power cut; see ${paths.consoleLog} and cleanupAll to force it off`);
    }
  }
}

/**
 * Shuts the host down cleanly (SIGTERM to nspawn: the guest's systemd powers off, stopping
 * its units in order). Falls back to a power cut after timeoutMs. Says which happened.
 */
export async function shutdownHost(name: string, timeoutMs = DEFAULT_SHUTDOWN_TIMEOUT_MS): Promise<"graceful" | "forced"> {
  const { paths } = knownHost(name);
  const deadline = Date.now() + timeoutMs;
  const signalled = new Set<number>();
  while (hostIsUp(paths, name)) {
    const nspawn = nspawnPid(paths, name);
    if (nspawn !== undefined && !signalled.has(nspawn)) {
      signalProcess(nspawn, "SIGTERM");
      signalled.add(nspawn);
    }
    if (await waitUntilDown(paths, name, 200)) return "graceful";
    if (Date.now() > deadline) {
      await powerCut(name);
      return "forced";
    }
  }
  return "graceful";
}

/**
 * Reboots the host from inside (`systemctl reboot`): the guest stops its units, nspawn exits
 * with 133 and the host's supervisor boots it again at once. Resolves when the new boot is done.
 */
export async function rebootHost(name: string, timeoutMs = DEFAULT_BOOT_TIMEOUT_MS): Promise<GuestSystemState> {
  const before = requireGuestPid(name);
  const started = Date.now();
  // The command may lose its guest before it reports back; the new guest is the proof.
  await hostExec(name, ["systemctl", "reboot"], { timeoutMs: 15_000 });
  await pollUntil(
    () => {
      const current = guestPid(name);
      return current !== undefined && current !== before ? current : undefined;
    },
    {
      timeoutMs,
      intervalMs: 50,
      onTimeout: () => new Error(`sandbox host ${name} did not come back within ${timeoutMs} ms of \`systemctl reboot\`; see ${knownHost(name).paths.consoleLog}`),
    },
  );
  return waitForBoot(name, Math.max(1_000, timeoutMs - (Date.now() - started)));
}

/** Deletes a host entirely: stops it (power cut), unmounts and deletes its overlay and network. */
export async function resetHost(name: string): Promise<void> {
  const directory = registeredDirectory(name);
  await removeHost(name, directory);
}

// ---------------------------------------------------------------------------------------------
// Processes of a guest, seen from the machine

/** Every process of the guest (all of its PID namespace), with machine and guest pids. */
export function hostProcesses(name: string): GuestProcess[] {
  const init = guestPid(name);
  const namespace = init === undefined ? undefined : pidNamespaceOf(init);
  if (namespace === undefined) return [];
  const processes: GuestProcess[] = [];
  for (const pid of allPids()) {
    if (pidNamespaceOf(pid) !== namespace) continue;
    let command: string;
    try {
      command = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    } catch {
      continue; // exited meanwhile
    }
    processes.push({ pid, guestPid: innermostPid(pid) ?? 0, command, commandLine: commandLineOf(pid) });
  }
  return processes;
}

/**
 * Machine-side pids of the guest's processes named `processName`: by kernel command name
 * ("postgres" for the postmaster and its children), or by the program or script they run
 * (`python3 /usr/bin/patroni` matches "patroni").
 */
export function hostPids(name: string, processName: string): number[] {
  return hostProcesses(name)
    .filter(
      (process) =>
        process.command === processName ||
        process.commandLine.slice(0, 2).some((arg) => path.basename(arg) === processName),
    )
    .map((process) => process.pid);
}

/** The host's root file system as the machine sees it (valid while its overlay is mounted). */
export function hostRootDirectory(name: string): string {
  return knownHost(name).paths.merged;
}

/** Every host registered on this machine, optionally only those of one state dir. */
export async function listHosts(stateDir?: string): Promise<HostSummary[]> {
  const summaries: HostSummary[] = [];
  for (const name of registeredHosts()) {
    const directory = registeredDirectory(name);
    const record = directory ? readRecord(directory) : undefined;
    if (!directory || !record) continue;
    if (stateDir !== undefined && !isWithin(hostsDirectory(stateDir), directory)) continue;
    summaries.push({ name, address: record.address, state: await hostState(name), guestInitPid: guestPid(name), directory });
  }
  return summaries;
}

// ---------------------------------------------------------------------------------------------
// Cleanup

async function removeHost(name: string, directory: string | undefined): Promise<{ killed: number; unmounted: string[]; cgroups: string[] }> {
  assertHostName(name);
  const paths = directory ? hostPaths(directory) : undefined;
  if (paths) {
    // The supervisor first, so it cannot boot the guest again while its processes die.
    const supervisor = supervisorPid(paths);
    if (supervisor !== undefined) signalProcess(supervisor, "SIGKILL");
    const nspawn = nspawnPid(paths, name);
    if (nspawn !== undefined) signalProcess(nspawn, "SIGKILL");
  }
  const killed = await killHostCgroups(name);
  const record = directory ? readRecord(directory) : undefined;
  for (const volume of record?.volumes ?? []) await detachLoops(volume.file);
  const unmounted = await unmountAll(paths ? [paths.directory] : [], [overlaySource(name)]);
  const cgroups = await removeCgroups(name);
  await detachHost(name);
  if (paths) {
    if (currentMounts().some((mount) => isWithin(paths.directory, mount.target))) {
      throw new Error(`refusing to delete ${paths.directory}: something is still mounted below it (see /proc/mounts)`);
    }
    rmSync(paths.directory, { recursive: true, force: true });
  }
  if (directory === undefined || registeredDirectory(name) === directory) unregister(name);
  return { killed, unmounted, cgroups };
}

function sandboxCgroupHosts(): string[] {
  const names = new Set<string>();
  for (const hierarchy of CGROUP_HIERARCHIES) {
    if (!existsSync(hierarchy)) continue;
    for (const entry of readdirSync(hierarchy)) {
      const host = entry.slice(CGROUP_PREFIX.length);
      if (entry.startsWith(CGROUP_PREFIX) && isValidHostName(host)) {
        if (statSync(path.join(hierarchy, entry)).isDirectory()) names.add(host);
      }
    }
  }
  return [...names];
}

/**
 * Tears down the sandbox hosts of `stateDir` and anything a killed run left behind: supervisors,
 * guests and their cgroups (killed, then removed depth-first), overlay mounts (unmounted
 * deepest first), namespaces and veths, host directories, stale pid files and registry
 * entries. When no sandbox host is left on the machine it also removes the bridge, the fault
 * table, the guard route and the nspawn runtime tmpfs. Safe to run at any time, repeatedly.
 * Orphans (cgroups, namespaces or registry entries without a living state dir) are always
 * removed; hosts of another existing state dir only with `allSandboxes`.
 */
export async function cleanupAll(stateDir: string, options: CleanupOptions = {}): Promise<CleanupReport> {
  const ownHostsDir = hostsDirectory(stateDir);
  const targets = new Map<string, string | undefined>();

  for (const name of registeredHosts()) {
    const directory = registeredDirectory(name);
    const orphan = !directory || !readRecord(directory);
    if (options.allSandboxes || orphan || (directory && isWithin(ownHostsDir, directory))) targets.set(name, directory);
  }
  if (existsSync(ownHostsDir)) {
    for (const entry of readdirSync(ownHostsDir)) {
      if (lstatSync(path.join(ownHostsDir, entry)).isDirectory()) targets.set(entry, path.join(ownHostsDir, entry));
    }
  }
  const stillRegistered = new Set(registeredHosts().filter((name) => !targets.has(name)));
  for (const name of sandboxCgroupHosts()) {
    if (!stillRegistered.has(name) && !targets.has(name)) targets.set(name, undefined);
  }

  const report: CleanupReport = { hosts: [], killedProcesses: 0, unmounted: [], removedCgroups: [], networkRemoved: false };
  for (const [name, directory] of targets) {
    if (!isValidHostName(name)) continue; // not something the sandbox made
    const removal = await removeHost(name, directory);
    report.hosts.push(name);
    report.killedProcesses += removal.killed;
    report.unmounted.push(...removal.unmounted);
    report.removedCgroups.push(...removal.cgroups);
  }
  // Whatever is still mounted under this state dir's hosts (a host dir deleted by hand …).
  report.unmounted.push(...(await unmountAll([ownHostsDir])));

  if (registeredHosts().length === 0) {
    await teardownNetwork();
    report.networkRemoved = true;
    report.unmounted.push(...(await unmountAll([], [NSPAWN_RUNTIME_SOURCE])));
    for (const directory of [REGISTRY_DIR, path.dirname(REGISTRY_DIR)]) {
      if (existsSync(directory) && readdirSync(directory).length === 0) rmdirSync(directory);
    }
  }
  return report;
}

/** Cgroups, namespaces, mounts and links the sandbox still holds (for leak checks and status). */
export function sandboxLeftovers(): { cgroups: string[]; mounts: string[]; registeredHosts: string[] } {
  return {
    cgroups: sandboxCgroupHosts().flatMap((host) => cgroupDirectories(host).filter((d) => existsSync(d))),
    mounts: currentMounts()
      .filter((mount) => mount.source.startsWith("pgha-"))
      .map((mount) => `${mount.source} on ${mount.target}`),
    registeredHosts: registeredHosts(),
  };
}
