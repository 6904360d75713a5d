// Where the repository is, for code that reads files shipped beside it (templates/,
// sandbox/image-packages.txt, components/scripts/, Pulumi.<stack>.yaml, bench/results/).
//
// The same modules run from the TypeScript sources (ts-node, jest) and compiled under dist/
// (`npm run build`), so a module cannot count `..` from its own __dirname: the count differs by
// one. This module finds the root by walking up to the package.json named postgres-ha, which
// works from both places (and from a `git archive` of another ref, as `pgha diff` makes). Every
// other module asks here instead of using __dirname (test/unit/repo-root.test.ts checks that).
// A leaf: it imports nothing of the project.
import * as fs from "fs";
import * as path from "path";

export const PACKAGE_NAME = "postgres-ha";

/** The nearest directory at or above `from` whose package.json is named postgres-ha. */
export function findRepoRoot(from: string): string {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    if (packageName(path.join(dir, "package.json")) === PACKAGE_NAME) return dir;
    if (path.dirname(dir) === dir) {
      throw new Error(`no package.json named "${PACKAGE_NAME}" at or above ${from}: pgha runs from a checkout of the repository`);
    }
  }
}

function packageName(file: string): string | undefined {
  try {
    return (JSON.parse(fs.readFileSync(file, "utf8")) as { name?: string }).name;
  } catch {
    return undefined; // no such file, or not JSON
  }
}

let cached: string | undefined;

/** The repository this code belongs to (found once, on first use). */
export function repoRoot(): string {
  return (cached ??= findRepoRoot(__dirname));
}

/** A path inside the repository: repoPath("templates") → <root>/templates. */
export function repoPath(...segments: string[]): string {
  return path.join(repoRoot(), ...segments);
}

/** Where `npm run build` writes the compiled code (tsconfig.build.json's outDir; it mirrors the repository's layout). */
export const BUILD_DIR_NAME = "dist";

/** True when this process runs the compiled JavaScript under dist/, false under ts-node or jest. */
export const RUNNING_COMPILED = path.extname(__filename) === ".js";
