// Sandbox hosts: where each host is — its guest's init, its state, waiting for its boot, its
// root file system, and the list of hosts registered on the machine.
import { existsSync, readFileSync } from "node:fs";
import { pollUntil, runCommand } from "../shell";
import { hostsDirectory } from "./layout";
import { isWithin } from "./mounts";
import { guestInitOf, hostIsUp, nspawnPid, supervisorPid } from "./procfs";
import { knownHost, readRecord, registeredDirectory, registeredHosts } from "./registry";
import { consoleTail } from "./supervisor";
import { DEFAULT_BOOT_TIMEOUT_MS, HostNotRunningError, type GuestSystemState, type HostState, type HostSummary } from "./types";

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
      // Each probe is an nsenter + systemctl (about 24 ms of CPU): at 100 ms, nine hosts booting
      // at once spent most of the machine's two cores asking whether they had finished.
      intervalMs: 1000,
      onTimeout: () =>
        new Error(
          `sandbox host ${name} did not finish booting in ${timeoutMs} ms (systemd says "${lastState}"): ` +
            `look at the jobs still running with hostExec("${name}", ["systemctl", "list-jobs"]) ` +
            `and at ${paths.consoleLog}`,
        ),
    },
  );
}

export function requireGuestPid(name: string): number {
  const pid = guestPid(name);
  if (pid === undefined) {
    const { paths } = knownHost(name);
    throw new HostNotRunningError(name, hostIsUp(paths, name) ? "booting" : "stopped");
  }
  return pid;
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
