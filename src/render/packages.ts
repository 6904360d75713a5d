// The Debian 13 packages of the nodes: installed at first boot on EC2 (cloud-init `packages:`),
// baked into the image in the sandbox. One list, sandbox/image-packages.txt; a line `name @role`
// is a package only nodes of that role install on EC2 (the sandbox image has every package).
import * as fs from "fs";
import { repoPath } from "../repo-root";

export function imagePackagesFile(): string {
  const file = repoPath("sandbox", "image-packages.txt");
  if (!fs.existsSync(file)) throw new Error(`${file} not found`);
  return file;
}

/** The packages of the list: every one (no role: the image), or those a node of `role` installs. */
export function imagePackages(role?: string): string[] {
  const out: string[] = [];
  for (const raw of fs.readFileSync(imagePackagesFile(), "utf8").split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) continue;
    const [name, ...tags] = line.split(/\s+/);
    const roles = tags.filter((t) => t.startsWith("@")).map((t) => t.slice(1));
    if (tags.some((t) => !t.startsWith("@"))) throw new Error(`${imagePackagesFile()}: "${line}": one package per line, optionally followed by @<role>`);
    if (role === undefined || roles.length === 0 || roles.includes(role)) out.push(name);
  }
  return out;
}
