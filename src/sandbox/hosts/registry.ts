// Sandbox hosts: the registry, /run/pgha/hosts/<name> → host directory, so any process can find
// a host by name.
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import * as path from "node:path";
import { assertHostName } from "../network";
import { hostPaths, REGISTRY_DIR, type HostPaths, type HostRecord } from "./layout";
import { UnknownHostError } from "./types";

function registryLink(host: string): string {
  return path.join(REGISTRY_DIR, host);
}

export function registeredDirectory(host: string): string | undefined {
  try {
    return readlinkSync(registryLink(host));
  } catch {
    return undefined;
  }
}

export function register(host: string, directory: string): void {
  mkdirSync(REGISTRY_DIR, { recursive: true });
  if (registeredDirectory(host) === directory) return;
  rmSync(registryLink(host), { force: true });
  symlinkSync(directory, registryLink(host));
}

export function unregister(host: string): void {
  rmSync(registryLink(host), { force: true });
}

export function registeredHosts(): string[] {
  return existsSync(REGISTRY_DIR) ? readdirSync(REGISTRY_DIR).sort() : [];
}

export function readRecord(directory: string): HostRecord | undefined {
  try {
    return JSON.parse(readFileSync(hostPaths(directory).record, "utf8")) as HostRecord;
  } catch {
    return undefined;
  }
}

export interface KnownHost {
  record: HostRecord;
  paths: HostPaths;
}

export function knownHost(host: string): KnownHost {
  assertHostName(host);
  const directory = registeredDirectory(host);
  const record = directory ? readRecord(directory) : undefined;
  if (!directory || !record) throw new UnknownHostError(host);
  return { record, paths: hostPaths(directory) };
}
