// Sandbox hosts: the NoCloud seed (the host's own cloud-init user-data and meta-data) and the
// sandbox image's platform settings, written into the host's overlay before its first boot.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { stringify as toYaml } from "yaml";
import { SANDBOX_CLOUD_CONFIG, SEED_DIR, type HostPaths } from "./layout";
import type { HostDefinition } from "./types";

export function userDataBytes(userData: Buffer | string): Buffer {
  return typeof userData === "string" ? Buffer.from(userData, "utf8") : userData;
}

export function metaDataDocument(definition: HostDefinition): string {
  const metaData = {
    "instance-id": `iid-pgha-${definition.name}`,
    "local-hostname": definition.name,
    ...definition.metaData,
  };
  return toYaml(metaData);
}

/**
 * Platform settings of the sandbox image, as a cloud image ships its own cloud.cfg.d:
 * the image has no SSH server (nsenter is the way in), and the host's network is configured
 * by the sandbox before boot, as EC2's DHCP does, so cloud-init must not write its own.
 */
const SANDBOX_CLOUD_CONFIG_TEXT = `# Written by the postgres-ha sandbox host layer (src/sandbox/hosts/seed.ts).
# The sandbox image has no SSH server, so there are no host keys to generate.
ssh_genkeytypes: []
ssh_deletekeys: false
# eth0's address is set from outside before boot; cloud-init must not configure networking.
network: {config: disabled}
`;

export function writeSeed(definition: HostDefinition, paths: HostPaths): void {
  const root = paths.merged;
  const seedDir = path.join(root, SEED_DIR);
  mkdirSync(seedDir, { recursive: true, mode: 0o755 });
  writeFileSync(path.join(seedDir, "meta-data"), metaDataDocument(definition), { mode: 0o600 });
  writeFileSync(path.join(seedDir, "user-data"), userDataBytes(definition.userData), { mode: 0o600 });
  // An empty machine-id makes systemd generate one at first boot, as on a new instance.
  writeFileSync(path.join(root, "etc/machine-id"), "", { mode: 0o444 });
  rmSync(path.join(root, "etc/hostname"), { force: true });
  mkdirSync(path.dirname(path.join(root, SANDBOX_CLOUD_CONFIG)), { recursive: true });
  writeFileSync(path.join(root, SANDBOX_CLOUD_CONFIG), SANDBOX_CLOUD_CONFIG_TEXT, { mode: 0o644 });
}
