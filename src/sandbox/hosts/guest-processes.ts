// Sandbox hosts: the processes of a guest, seen from the machine (machine and guest pids).
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { allPids, commandLineOf, innermostPid, pidNamespaceOf } from "./procfs";
import { guestPid } from "./state";
import type { GuestProcess } from "./types";

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
