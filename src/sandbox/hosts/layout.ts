// Sandbox hosts: where a host lives on disk (`<stateDir>/hosts/<name>/`, see index.ts) and on
// the machine (registry, cgroups, overlay source), and the record each host keeps of itself.
import { existsSync } from "node:fs";
import * as path from "node:path";
import type { SandboxVolume } from "../volumes";
import type { BindMount } from "./types";

export const REGISTRY_DIR = "/run/pgha/hosts";
export const CGROUP_HIERARCHIES = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"];
export const CGROUP_PREFIX = "hs-";
/** nspawn keeps per-machine propagation dirs here; a tmpfs keeps it from refusing to clean them. */
export const NSPAWN_RUNTIME_DIR = "/run/systemd/nspawn";
export const NSPAWN_RUNTIME_SOURCE = "pgha-nspawn-runtime";
/** systemd-nspawn exits with 133 when the guest asked for a reboot. */
export const NSPAWN_EXIT_REBOOT = 133;
export const GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
export const SEED_DIR = "var/lib/cloud/seed/nocloud";
export const SANDBOX_CLOUD_CONFIG = "etc/cloud/cloud.cfg.d/90-pgha-sandbox.cfg";

export interface HostRecord {
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

export interface HostPaths {
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

export function hostPaths(directory: string): HostPaths {
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

export function hostsDirectory(stateDir: string): string {
  return path.join(path.resolve(stateDir), "hosts");
}

export function cgroupName(host: string): string {
  return `${CGROUP_PREFIX}${host}`;
}

export function cgroupDirectories(host: string): string[] {
  return CGROUP_HIERARCHIES.filter((hierarchy) => existsSync(hierarchy)).map((hierarchy) =>
    path.join(hierarchy, cgroupName(host)),
  );
}

export function overlaySource(host: string): string {
  return `pgha-${host}`;
}
