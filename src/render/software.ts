// The node software: the static scripts and shell library in node-software/ (installed under
// /usr/local on every node), packed as one deterministic tar named by its sha256. The same
// artifact for every node and every stack of a given revision of this repository.
import * as fs from "fs";
import * as path from "path";
import { repoRoot } from "../repo-root";
import { sha256 } from "../bundle/format";
import type { TarEntry } from "../bundle/tar";
import { writeTar } from "../bundle/tar";

export interface NodeSoftware {
  /** package.json version of postgres-ha that built it (for people; the hash is the identity). */
  version: string;
  tar: Buffer;
  sha256: string;
  files: { path: string; mode: string; sha256: string }[];
}

export function nodeSoftwareDir(): string {
  return path.join(repoRoot(), "node-software");
}

function packageVersion(): string {
  return String(JSON.parse(fs.readFileSync(path.join(repoRoot(), "package.json"), "utf8")).version ?? "0.0.0");
}

/** Files under `dir` (relative paths, sorted), skipping documentation at its top. */
function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && !(rel === "" && e.name.endsWith(".md"))) out.push(p);
    }
  };
  walk("");
  return out.sort();
}

let cached: NodeSoftware | undefined;

/** The node-software artifact of this checkout (built once per process). */
export function nodeSoftware(): NodeSoftware {
  if (cached) return cached;
  const dir = nodeSoftwareDir();
  const entries: TarEntry[] = listFiles(dir).map((rel) => {
    const executable = (fs.statSync(path.join(dir, rel)).mode & 0o111) !== 0;
    return { path: rel, mode: executable ? 0o755 : 0o644, content: fs.readFileSync(path.join(dir, rel)) };
  });
  const tar = writeTar(entries);
  cached = {
    version: packageVersion(),
    tar,
    sha256: sha256(tar),
    files: entries.map((e) => ({ path: `/${e.path}`, mode: `0${e.mode.toString(8)}`, sha256: sha256(e.content) })),
  };
  return cached;
}

/** A node-software file's text by its installed path, e.g. "/usr/local/sbin/pgha-bootstrap". */
export function nodeSoftwareFile(installedPath: string): string {
  return fs.readFileSync(path.join(nodeSoftwareDir(), installedPath.replace(/^\//, "")), "utf8");
}
