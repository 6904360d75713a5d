// Sandbox hosts: mounts (/proc/mounts, the host's overlay, nspawn's runtime tmpfs, unmounting).
import { mkdirSync, readFileSync } from "node:fs";
import { runCommand, runOrThrow } from "../shell";
import { NSPAWN_RUNTIME_DIR, NSPAWN_RUNTIME_SOURCE, overlaySource, type HostPaths, type HostRecord } from "./layout";

export interface MountEntry {
  source: string;
  target: string;
  fsType: string;
}

/** /proc/mounts with its octal escapes (\040 for a space …) decoded. */
export function currentMounts(): MountEntry[] {
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

export function isWithin(parent: string, candidate: string): boolean {
  return candidate === parent || candidate.startsWith(parent.endsWith("/") ? parent : `${parent}/`);
}

/** Unmounts, deepest first, every mount at or below `root` or whose source is in `sources`. */
export async function unmountAll(roots: string[], sources: string[] = []): Promise<string[]> {
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

export async function mountOverlay(record: HostRecord, paths: HostPaths): Promise<void> {
  if (isMounted(paths.merged)) return;
  for (const directory of [paths.upper, paths.work, paths.merged]) mkdirSync(directory, { recursive: true });
  const options = `lowerdir=${record.image},upperdir=${paths.upper},workdir=${paths.work}`;
  await runOrThrow(["mount", "-t", "overlay", overlaySource(record.name), "-o", options, paths.merged], {
    hint: `the host's overlay could not be mounted; check that ${record.image} is the image root and that ${paths.directory} is on a local file system (not overlayfs/NFS)`,
  });
}

/** nspawn complains when it cannot remove its propagation dir from a /run that is not tmpfs. */
export async function ensureNspawnRuntimeDir(): Promise<void> {
  if (isMounted(NSPAWN_RUNTIME_DIR)) return;
  mkdirSync(NSPAWN_RUNTIME_DIR, { recursive: true });
  await runOrThrow(["mount", "-t", "tmpfs", "-o", "mode=0755,size=16m", NSPAWN_RUNTIME_SOURCE, NSPAWN_RUNTIME_DIR]);
}
