// Sandbox hosts: a host's processes as the machine sees them in /proc (pid files, the
// supervisor, nspawn, the guest's init and its PID namespace).
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import * as path from "node:path";
import type { HostPaths } from "./layout";

function readPidFile(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function commandLineOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((arg) => arg !== "");
  } catch {
    return [];
  }
}

/** The supervisor's pid, if its pid file names a live supervise.sh of this host. */
export function supervisorPid(paths: HostPaths): number | undefined {
  const pid = readPidFile(paths.supervisorPid);
  return pid !== undefined && commandLineOf(pid).includes(paths.supervisorScript) ? pid : undefined;
}

/** nspawn's pid, if its pid file names a live systemd-nspawn of this host (pids get reused). */
export function nspawnPid(paths: HostPaths, host: string): number | undefined {
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

export function allPids(): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number);
}

/** The pid a process has inside its own (innermost) PID namespace. */
export function innermostPid(pid: number): number | undefined {
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
export function hostIsUp(paths: HostPaths, host: string): boolean {
  return supervisorPid(paths) !== undefined || nspawnPid(paths, host) !== undefined;
}

/** The guest's init: the child of nspawn that is PID 1 of its own PID namespace. */
export function guestInitOf(nspawn: number): number | undefined {
  for (const pid of allPids()) {
    if (procStat(pid)?.parentPid === nspawn && innermostPid(pid) === 1) return pid;
  }
  return undefined;
}

/**
 * The guest's init once it has exec'd (systemd): before that, PID 1 of the new namespace is
 * still nspawn's child setting up the guest's /dev and mounts, and anything created there
 * (a hot-plugged device node) is lost under the tmpfs nspawn mounts on /dev.
 */
export function startedGuestInitOf(nspawn: number): number | undefined {
  const pid = guestInitOf(nspawn);
  if (pid === undefined) return undefined;
  const argv0 = commandLineOf(pid)[0];
  return argv0 !== undefined && !path.basename(argv0).startsWith("systemd-nspawn") ? pid : undefined;
}

export function pidNamespaceOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}
