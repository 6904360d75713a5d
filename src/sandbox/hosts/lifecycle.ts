// Sandbox hosts: life cycle — create and boot, start again, attach a data volume, power cut,
// clean shutdown, reboot from inside, reset.
import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { assertHostAddress, assertHostName, attachHost } from "../network";
import { ebsByIdName, loopDeviceFor, type SandboxVolume } from "../volumes";
import { pollUntil, runOrThrow, signalProcess } from "../shell";
import { cgroupProcesses } from "./cgroups";
import { removeHost } from "./cleanup";
import { hostExec } from "./exec";
import { cgroupDirectories, hostPaths, hostsDirectory, type HostPaths, type HostRecord } from "./layout";
import { mountOverlay } from "./mounts";
import { guestInitOf, hostIsUp, nspawnPid, startedGuestInitOf } from "./procfs";
import { knownHost, readRecord, register, registeredDirectory } from "./registry";
import { writeSeed } from "./seed";
import { guestPid, requireGuestPid, waitForBoot } from "./state";
import { launchSupervisor, writeVolumesList } from "./supervisor";
import { DEFAULT_BOOT_TIMEOUT_MS, DEFAULT_SHUTDOWN_TIMEOUT_MS, type BootedHost, type GuestSystemState, type HostDefinition, type HostLayerOptions } from "./types";
import { assertPlainPath, definitionDigest, validateBinds, validateImage } from "./validation";

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
  // A host that is off (or between a reboot's stop and start) gets the volume from its
  // supervisor at the next boot (volumes.list). A running one gets it hot-plugged — once its
  // init has started: a host still being set up by nspawn may already have read volumes.list
  // without this volume, and a node made before nspawn mounts the guest's /dev would vanish.
  const pid = hostIsUp(paths, name) ? await startedGuestInit(name, paths) : undefined;
  if (pid !== undefined) {
    const [major, minor] = (await runOrThrow(["stat", "-c", "%t %T", device])).trim().split(" ").map((h) => parseInt(h, 16));
    const byId = `/dev/disk/by-id/${ebsByIdName(volume.id)}`;
    await runOrThrow([
      "nsenter", "-t", String(pid), "-m", "--", "sh", "-c",
      // Either the supervisor's binds (boot after volumes.list was written) or a hot plug: both
      // leave the same two names; an existing (bind-mounted) name is left as it is.
      `[ -b ${device} ] || mknod -m 0660 ${device} b ${major} ${minor}; mkdir -p /dev/disk/by-id; [ -e ${byId} ] || ln -sfn ../../${path.basename(device)} ${byId}`,
    ]);
  }
  return device;
}

/** The guest's started init, waiting while nspawn sets the host up; undefined if the host went down meanwhile. */
async function startedGuestInit(name: string, paths: HostPaths, timeoutMs = 60_000): Promise<number | undefined> {
  return pollUntil<number | null>(
    () => {
      if (!hostIsUp(paths, name)) return null;
      const nspawn = nspawnPid(paths, name);
      return nspawn === undefined ? undefined : startedGuestInitOf(nspawn);
    },
    { timeoutMs, intervalMs: 50, onTimeout: () => new Error(`sandbox host ${name}: its init did not start within ${timeoutMs} ms, so its data volume could not be attached; see ${paths.consoleLog}`) },
  ).then((pid) => pid ?? undefined);
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
