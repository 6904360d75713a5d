// Sandbox hosts: cleanup — removing a host and everything it holds on the machine, tearing the
// whole sandbox down (also after a killed run), and listing what is left.
import { existsSync, lstatSync, readdirSync, rmSync, rmdirSync, statSync } from "node:fs";
import * as path from "node:path";
import { assertHostName, detachHost, isValidHostName, teardownNetwork } from "../network";
import { detachLoops } from "../volumes";
import { signalProcess } from "../shell";
import { killHostCgroups, removeCgroups } from "./cgroups";
import { CGROUP_HIERARCHIES, CGROUP_PREFIX, cgroupDirectories, hostPaths, hostsDirectory, NSPAWN_RUNTIME_SOURCE, overlaySource, REGISTRY_DIR } from "./layout";
import { currentMounts, isWithin, unmountAll } from "./mounts";
import { nspawnPid, supervisorPid } from "./procfs";
import { readRecord, registeredDirectory, registeredHosts, unregister } from "./registry";
import type { CleanupOptions, CleanupReport } from "./types";

export async function removeHost(name: string, directory: string | undefined): Promise<{ killed: number; unmounted: string[]; cgroups: string[] }> {
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
