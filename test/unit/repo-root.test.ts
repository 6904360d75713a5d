// The code runs from its TypeScript sources and compiled under dist/ (one directory deeper), so
// files shipped beside it are found through src/repo-root.ts, never by counting `..` from a
// module's own directory.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { findRepoRoot, repoPath, repoRoot } from "../../src/repo-root";

const root = path.resolve(__dirname, "../..");

describe("the repository root", () => {
  it("is found from the sources and from where the compiled modules live", () => {
    expect(repoRoot()).toBe(root);
    for (const from of ["src", "src/render", "components/scripts", "dist/src/render", "dist/components"]) {
      expect(findRepoRoot(path.join(root, from))).toBe(root);
    }
    expect(fs.existsSync(repoPath("templates", "patroni.yml.mustache"))).toBe(true);
  });

  it("is the nearest package.json named postgres-ha (a git archive of another ref has its own), not any package.json", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-root-"));
    try {
      const other = path.join(tmp, "checkout", "policies");
      fs.mkdirSync(path.join(other, "rules"), { recursive: true });
      fs.writeFileSync(path.join(tmp, "checkout", "package.json"), JSON.stringify({ name: "postgres-ha" }));
      fs.writeFileSync(path.join(other, "package.json"), JSON.stringify({ name: "postgres-ha-policies" }));
      expect(findRepoRoot(path.join(other, "rules"))).toBe(path.join(tmp, "checkout"));
      expect(() => findRepoRoot(tmp)).toThrow(/no package.json named "postgres-ha" at or above/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it("is the only place shipped code uses __dirname or __filename (their depth differs under dist/)", () => {
    const files = ["index.ts"];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
        const rel = path.join(dir, e.name);
        if (e.isDirectory() && e.name !== "node_modules") walk(rel);
        else if (e.isFile() && rel.endsWith(".ts") && rel !== path.join("src", "repo-root.ts")) files.push(rel);
      }
    };
    for (const dir of ["src", "components", "bench", "policies"]) walk(dir);
    const offenders = files.flatMap((rel) =>
      fs
        .readFileSync(path.join(root, rel), "utf8")
        .split("\n")
        .flatMap((line, i) => (/\b__(dirname|filename)\b/.test(line.replace(/\/\/.*$/, "")) ? [`${rel}:${i + 1}: ${line.trim()}`] : [])),
    );
    expect(files.length).toBeGreaterThan(40);
    expect(offenders).toEqual([]);
  });
});
