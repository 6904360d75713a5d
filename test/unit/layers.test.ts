// Layering: the CLI (src/cli) sits on top; library code (config, spec, render, plan, sandbox,
// tls) never imports it, so the sandbox, the plan harness and the program can be used without
// the command line. The policies and `pgha plan`/`diff` read what the program delivers through
// one module (src/delivery) and never import each other; node paths have one leaf module.
// Checked on the import statements of every source file.
import * as fs from "fs";
import * as path from "path";
import { NODE_PATHS } from "../../src/node-paths";

const ROOT = path.resolve(__dirname, "../..");
const SRC = path.join(ROOT, "src");
const CLI = path.join(SRC, "cli");
const PLAN = path.join(SRC, "plan");
const POLICIES = path.join(ROOT, "policies");

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : /\.tsx?$/.test(e.name) ? [p] : [];
  });
}

/** Every module a file names: import/export … from, bare import, require(), import(). */
export function importedModules(text: string): string[] {
  const out: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']/g,
    /\bimport\s*["']([^"']+)["']/g,
    /\brequire\s*\(\s*["']([^"']+)["']\s*\)/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const re of patterns) for (const m of text.matchAll(re)) out.push(m[1]);
  return out;
}

/** The project files a file imports (relative specifiers resolved; packages left out). */
function projectImports(file: string): string[] {
  return importedModules(fs.readFileSync(file, "utf8"))
    .filter((spec) => spec.startsWith("."))
    .map((spec) => path.resolve(path.dirname(file), spec));
}
const under = (target: string, dir: string) => target === dir || target.startsWith(dir + path.sep);
const offendersOf = (files: string[], forbidden: string[]) =>
  files.flatMap((file) => projectImports(file).filter((t) => forbidden.some((d) => under(t, d))).map((t) => `${path.relative(ROOT, file)} → ${path.relative(ROOT, t)}`));

describe("layers", () => {
  it("finds the imports it checks (the scanner works)", () => {
    expect(importedModules(`import { a } from "../cli/stack";\nimport type { B } from './b';\nexport * from "./c";\nconst d = require("../d");\nimport "./e";\nimport {\n  f,\n} from "./f";`)).toEqual(
      expect.arrayContaining(["../cli/stack", "./b", "./c", "../d", "./e", "./f"]),
    );
  });

  it("nothing under src/ outside src/cli imports from src/cli", () => {
    const files = sourceFiles(SRC).filter((f) => !f.startsWith(CLI + path.sep));
    expect(files.length).toBeGreaterThan(20);
    const offenders: string[] = [];
    for (const file of files) {
      for (const spec of importedModules(fs.readFileSync(file, "utf8"))) {
        if (!spec.startsWith(".")) continue;
        const target = path.resolve(path.dirname(file), spec);
        if (target === CLI || target.startsWith(CLI + path.sep)) offenders.push(`${path.relative(ROOT, file)} → ${spec}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it("policies/ never imports src/plan, and src/plan never imports policies/rules/cluster (the delivery decoders live in src/delivery)", () => {
    const policyFiles = sourceFiles(POLICIES).filter((f) => !f.includes(`${path.sep}node_modules${path.sep}`));
    expect(policyFiles.length).toBeGreaterThan(5);
    expect(offendersOf(policyFiles, [PLAN])).toEqual([]);
    expect(offendersOf(sourceFiles(PLAN), [path.join(POLICIES, "rules", "cluster")])).toEqual([]);
  });

  it("src/delivery reads deliveries without the plan harness, the policies, the CLI or the components", () => {
    const files = sourceFiles(path.join(SRC, "delivery"));
    expect(files.length).toBeGreaterThanOrEqual(2);
    expect(offendersOf(files, [PLAN, POLICIES, CLI, path.join(ROOT, "components"), path.join(SRC, "render")])).toEqual([]);
  });

  it("node paths have one leaf module: src/node-paths.ts imports nothing of the project; render and the policies use it", () => {
    expect(projectImports(path.join(SRC, "node-paths.ts"))).toEqual([]);
    const nodePaths = path.join(SRC, "node-paths");
    expect(projectImports(path.join(SRC, "render", "bundle", "node-files.ts"))).toContain(nodePaths);
    expect(projectImports(path.join(POLICIES, "rules", "cluster.ts"))).toContain(nodePaths);
    // and no copy of them in the policies
    for (const file of sourceFiles(POLICIES).filter((f) => !f.includes(`${path.sep}node_modules${path.sep}`))) {
      const text = fs.readFileSync(file, "utf8").split("\n").filter((l) => !/^\s*(\/\/|\*|\/\*\*)/.test(l)).join("\n");
      for (const p of Object.values(NODE_PATHS)) expect([path.relative(ROOT, file), text.includes(`"${p}"`) || text.includes(`'${p}'`)]).toEqual([path.relative(ROOT, file), false]);
    }
  });
});
