// Data volumes of sandbox hosts: a sparse file on the machine, attached as a loop device and
// handed to the host as a block device with the identity an EBS volume has on a Nitro instance
// (/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol…), so the node finds, formats and mounts
// it with the same code as on EC2 (pgha-setup's data-volume step). Attachable after boot (the
// node's wait path runs) and again at every boot of the host, as EBS stays attached across
// reboots.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, openSync, closeSync, ftruncateSync, rmSync, statSync } from "node:fs";
import * as path from "node:path";
import { runCommand, runOrThrow } from "./shell";

export interface SandboxVolume {
  /** An EBS-style volume id, e.g. vol-0a1b2c3d4e5f60718 (stable per host and purpose). */
  id: string;
  /** The sparse file on the machine that holds it. */
  file: string;
}

/** The by-id name an EBS volume gets on a Nitro instance (udev: model + serial, the id without '-'). */
export function ebsByIdName(volumeId: string): string {
  return `nvme-Amazon_Elastic_Block_Store_${volumeId.replace("-", "")}`;
}

/** A stable, EBS-shaped volume id for a host's volume (17 hex digits after "vol-"). */
export function sandboxVolumeId(host: string, purpose = "data"): string {
  return `vol-0${createHash("sha256").update(`${host}/${purpose}`).digest("hex").slice(0, 16)}`;
}

export function volumesDirectory(stateDir: string): string {
  return path.join(stateDir, "volumes");
}

/** Creates the volume's sparse file (size in GiB) unless it exists; keeps an existing one's data. */
export function ensureVolumeFile(stateDir: string, host: string, sizeGiB: number, purpose = "data"): SandboxVolume {
  const dir = volumesDirectory(stateDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const id = sandboxVolumeId(host, purpose);
  const file = path.join(dir, `${host}-${purpose}.img`);
  if (!existsSync(file) || statSync(file).size === 0) {
    const fd = openSync(file, "w", 0o600);
    try {
      ftruncateSync(fd, sizeGiB * 1024 ** 3);
    } finally {
      closeSync(fd);
    }
  }
  return { id, file };
}

/** The loop device backing `file`, attaching it when none does. */
export async function loopDeviceFor(file: string): Promise<string> {
  const found = (await runOrThrow(["losetup", "-j", file, "-n", "-O", "NAME"])).trim().split("\n").filter(Boolean)[0];
  if (found) return found;
  return (await runOrThrow(["losetup", "-f", "--show", file], { hint: "no free loop device? see `losetup -a`" })).trim();
}

/** Detaches every loop device that backs `file` (after its host is gone). */
export async function detachLoops(file: string): Promise<void> {
  const r = await runCommand(["losetup", "-j", file, "-n", "-O", "NAME"]);
  for (const dev of r.stdout.trim().split("\n").filter(Boolean)) await runCommand(["losetup", "-d", dev]);
}

/**
 * Bash for the host's supervisor: before each boot, find or attach the loop device of every
 * volume listed in volumes.list ("<id> <file>" per line) and add nspawn binds that present it
 * as /dev/loopN and under its EBS by-id name.
 */
export function supervisorVolumeBinds(listFile: string): string {
  return `volume_binds=()
if [ -s ${listFile} ]; then
  while read -r vol_id vol_file; do
    [ -n "$vol_file" ] || continue
    vol_dev=$(losetup -j "$vol_file" -n -O NAME | head -1)
    [ -n "$vol_dev" ] || vol_dev=$(losetup -f --show "$vol_file")
    volume_binds+=("--bind=$vol_dev" "--bind=$vol_dev:/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_\${vol_id/-/}")
  done < ${listFile}
fi`;
}

/** Detaches every loop device whose backing file lies under `dir` (a cleanup after a killed run). */
export async function detachAllUnder(dir: string): Promise<string[]> {
  const r = await runCommand(["losetup", "--list", "--noheadings", "--raw", "-O", "NAME,BACK-FILE"]);
  const prefix = path.resolve(dir) + path.sep;
  const detached: string[] = [];
  for (const line of r.stdout.trim().split("\n").filter(Boolean)) {
    const [dev, ...file] = line.split(" ");
    if (file.join(" ").startsWith(prefix)) {
      await runCommand(["losetup", "-d", dev]);
      detached.push(dev);
    }
  }
  return detached;
}

/** Detaches and deletes a host's volume file (a removed member's data volume). */
export async function removeVolumeFile(stateDir: string, host: string, purpose = "data"): Promise<void> {
  const file = path.join(volumesDirectory(stateDir), `${host}-${purpose}.img`);
  await detachLoops(file);
  rmSync(file, { force: true });
}
