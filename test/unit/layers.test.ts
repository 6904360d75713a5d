// Layering: the CLI (src/cli) sits on top; library code (config, spec, render, plan, sandbox,
// tls) never imports it, so the sandbox, the plan harness and the program can be used without
// the command line. Checked on the import statements of every source file.
import * as fs from "fs";
import * as path from "path";

const ROOT = path.resolve(__dirname, "../..");
const SRC = path.join(ROOT, "src");
const CLI = path.join(SRC, "cli");

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
});
