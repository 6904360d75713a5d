// The Debian 13 packages every node has: installed at first boot on EC2 (cloud-init
// `packages:`), baked into the image in the sandbox. One list, sandbox/image-packages.txt.
import * as fs from "fs";
import * as path from "path";

export function imagePackagesFile(): string {
  for (const c of [path.resolve(__dirname, "../../sandbox/image-packages.txt"), path.resolve(__dirname, "../../../sandbox/image-packages.txt")]) {
    if (fs.existsSync(c)) return c;
  }
  throw new Error("sandbox/image-packages.txt not found");
}

export function imagePackages(): string[] {
  return fs
    .readFileSync(imagePackagesFile(), "utf8")
    .split("\n")
    .map((l) => l.replace(/#.*/, "").trim())
    .filter(Boolean);
}
