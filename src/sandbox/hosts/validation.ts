// Sandbox hosts: checks on a host's definition before anything is created (image, binds, paths),
// and the digest that tells whether a definition changed.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { metaDataDocument, userDataBytes } from "./seed";
import type { BindMount, HostDefinition } from "./types";

export function assertPlainPath(label: string, value: string): void {
  if (!path.isAbsolute(value) || /[,:\s]/.test(value)) {
    throw new Error(`${label} ${JSON.stringify(value)} must be an absolute path without ',', ':' or spaces (overlayfs and nspawn options cannot carry them)`);
  }
}

export function validateImage(image: string): void {
  assertPlainPath("image", image);
  const init = ["usr/lib/systemd/systemd", "lib/systemd/systemd"].some((candidate) => existsSync(path.join(image, candidate)));
  if (!init) {
    throw new Error(
      `image ${image} has no systemd (usr/lib/systemd/systemd): pass the directory printed by ` +
        `\`sandbox/build-image.sh /var/lib/pgha/images\` (it builds the image when missing)`,
    );
  }
}

export function validateBinds(binds: BindMount[]): void {
  for (const bind of binds) {
    assertPlainPath("bind source", bind.source);
    assertPlainPath("bind target", bind.target);
    if (!existsSync(bind.source)) throw new Error(`bind source ${bind.source} does not exist on the machine: create it before booting the host`);
  }
}

export function definitionDigest(definition: HostDefinition, image: string, binds: BindMount[]): string {
  return createHash("sha256")
    .update(JSON.stringify({ address: definition.address, image, binds, metaData: metaDataDocument(definition) }))
    .update(userDataBytes(definition.userData))
    .digest("hex");
}
