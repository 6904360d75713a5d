// Sandbox hosts: the host's cgroups `hs-<name>` (killing everything in them, removing them).
import { existsSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { signalProcess, sleep } from "../shell";
import { cgroupDirectories } from "./layout";

function cgroupTree(root: string): string[] {
  if (!existsSync(root)) return [];
  const below = readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) => cgroupTree(path.join(root, entry.name)));
  return [root, ...below];
}

export function cgroupProcesses(root: string): number[] {
  return cgroupTree(root).flatMap((directory) => {
    try {
      return readFileSync(path.join(directory, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
    } catch {
      return [];
    }
  });
}

/** Kills every process of the host's cgroups (supervisor, nspawn, the whole guest). */
export async function killHostCgroups(host: string): Promise<number> {
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
export async function removeCgroups(host: string): Promise<string[]> {
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
