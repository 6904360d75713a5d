// The Debian 13 packages every node has: installed at first boot on EC2 (cloud-init
// `packages:`), baked into the image in the sandbox. One list, sandbox/image-packages.txt.
import * as fs from "fs";
import { repoPath } from "../repo-root";

export function imagePackagesFile(): string {
  const file = repoPath("sandbox", "image-packages.txt");
  if (!fs.existsSync(file)) throw new Error(`${file} not found`);
  return file;
}

export function imagePackages(): string[] {
  return fs
    .readFileSync(imagePackagesFile(), "utf8")
    .split("\n")
    .map((l) => l.replace(/#.*/, "").trim())
    .filter(Boolean);
}
