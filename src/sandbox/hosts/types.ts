// Sandbox hosts: the public types, errors and default timeouts of the host layer (index.ts).
import type { CommandResult } from "../shell";

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
