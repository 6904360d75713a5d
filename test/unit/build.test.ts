// The compiled CLI (dist/, npm run build): bin/pgha runs it only while it matches the sources,
// and it behaves as the sources do. The staleness rules are tested as pure functions on a scratch
// tree; the build itself happens at most once here (only when dist/ lags, e.g. after an edit).
import { execFile, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  buildState, chooseRuntime, COMPILED_ENTRY, fingerprintDifference, orphanedOutputs, sourceFingerprint, writeStamp, type BuildState,
} from "../../scripts/build-state";
import { renderAll, sha256 } from "../../src/render/bundle";
import { ec2Layout } from "../../src/layout";
import { loadStack } from "../../src/config/stack-file";
import { CLI_BEGIN, readmeWithCliTable } from "../../bench/cli";

const root = path.resolve(__dirname, "../..");

function pgha(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(root, "bin/pgha"), ...args], { cwd: root, env: { ...process.env, ...env }, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("whether dist/ matches the sources", () => {
  let tree: string;
  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(tree, rel)), { recursive: true });
    fs.writeFileSync(path.join(tree, rel), text);
  };
  const built = () => {
    write(COMPILED_ENTRY, "// compiled\n");
    writeStamp(tree, sourceFingerprint(tree));
  };

  beforeEach(() => {
    tree = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-build-state-"));
    write("index.ts", "export {};\n");
    write("src/cli/main.ts", "export const a = 1;\n");
    write("components/cluster.ts", "export {};\n");
    write("tsconfig.json", "{}\n");
    write("templates/patroni.yml.mustache", "x\n");
    write("node_modules/x/index.ts", "\n");
  });
  afterEach(() => fs.rmSync(tree, { recursive: true, force: true }));

  it("fingerprints the compiled sources and compiler options, not templates or node_modules", () => {
    expect(Object.keys(sourceFingerprint(tree))).toEqual(["components/cluster.ts", "index.ts", "src/cli/main.ts", "tsconfig.json"]);
  });

  it("is fresh right after a build, and not after any change to what tsc compiles", () => {
    expect(buildState(tree)).toEqual({ fresh: false, built: false, reason: "no build in dist/" });
    built();
    expect(buildState(tree)).toEqual({ fresh: true, built: true });

    write("templates/patroni.yml.mustache", "read at run time\n");
    expect(buildState(tree).fresh).toBe(true);

    write("src/cli/main.ts", "export const a = 2;\n"); // same size: the mtime tells
    const t = new Date(Date.now() + 5_000);
    fs.utimesSync(path.join(tree, "src/cli/main.ts"), t, t);
    expect(buildState(tree)).toEqual({ fresh: false, built: true, reason: "src/cli/main.ts changed" });
    built();
    const past = new Date("2020-01-01T00:00:00Z"); // a checkout or `cp -p` can move an mtime back
    fs.utimesSync(path.join(tree, "index.ts"), past, past);
    expect(buildState(tree)).toMatchObject({ fresh: false, reason: "index.ts changed" });
    built();
    write("src/new.ts", "export {};\n");
    expect(buildState(tree)).toMatchObject({ fresh: false, reason: "src/new.ts is new" });
    built();
    fs.rmSync(path.join(tree, "components/cluster.ts"));
    expect(buildState(tree)).toMatchObject({ fresh: false, reason: "components/cluster.ts was removed" });
    built();
    fs.rmSync(path.join(tree, COMPILED_ENTRY)); // a half-deleted dist/
    expect(buildState(tree)).toMatchObject({ fresh: false, built: false });
  });

  it("compares fingerprints as a pure function", () => {
    expect(fingerprintDifference({ "a.ts": "1:1" }, { "a.ts": "1:1" })).toBeUndefined();
    expect(fingerprintDifference({ "a.ts": "1:1" }, { "a.ts": "1:2" })).toBe("a.ts changed");
    expect(fingerprintDifference({}, { "a.ts": "1:1" })).toBe("a.ts is new");
    expect(fingerprintDifference({ "a.ts": "1:1", "b.ts": "1:1" }, { "a.ts": "1:1" })).toBe("b.ts was removed");
  });

  it("finds the compiled files whose source is gone (a module turned into a folder), and only those", () => {
    write("src/sandbox/hosts/index.ts", "export {};\n");
    for (const f of ["src/cli/main.js", "src/cli/main.js.map", "src/sandbox/hosts/index.js", "src/sandbox/hosts.js", "src/sandbox/hosts.js.map", "index.js", ".tsbuildinfo"]) write(`dist/${f}`, "\n");
    expect(orphanedOutputs(tree, sourceFingerprint(tree))).toEqual(["dist/src/sandbox/hosts.js", "dist/src/sandbox/hosts.js.map"]);
    expect(orphanedOutputs(path.join(tree, "nowhere"), {})).toEqual([]);
  });

  it("runs a stale build never: the sources instead, with a note when a build exists", () => {
    const fresh: BuildState = { fresh: true, built: true };
    const stale: BuildState = { fresh: false, built: true, reason: "src/spec.ts changed" };
    const none: BuildState = { fresh: false, built: false, reason: "no build in dist/" };
    expect(chooseRuntime(fresh, undefined)).toEqual({ run: "js" });
    expect(chooseRuntime(stale, undefined)).toEqual({ run: "ts", note: expect.stringMatching(/^dist\/ is out of date \(src\/spec.ts changed\).*npm run build/) });
    expect(chooseRuntime(none, undefined)).toEqual({ run: "ts" }); // a copy without npm ci: slower, not wrong
    expect(chooseRuntime(fresh, "ts")).toEqual({ run: "ts" });
    expect(chooseRuntime(stale, "js")).toEqual({ run: "refuse", note: expect.stringMatching(/PGHA_RUNTIME=js but dist\/ does not match/) });
    expect(chooseRuntime(fresh, "js")).toEqual({ run: "js" });
    expect(chooseRuntime(fresh, "fast")).toMatchObject({ run: "refuse" });
  });
});

describe("the compiled CLI", () => {
  jest.setTimeout(180_000);

  beforeAll(() => {
    if (buildState(root).fresh) return;
    const r = spawnSync(process.execPath, [path.join(root, "scripts/build.js")], { cwd: root, encoding: "utf8" });
    if (!buildState(root).fresh) throw new Error(`npm run build failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  });

  it("is built into dist/, outside the source tree", () => {
    expect(fs.existsSync(path.join(root, COMPILED_ENTRY))).toBe(true);
    expect(fs.existsSync(path.join(root, "dist/index.js"))).toBe(true);
    expect(fs.existsSync(path.join(root, "src/cli/main.js"))).toBe(false);
  });

  it("answers --help with every command, exit 0, and bin/pgha checks PGHA_RUNTIME", async () => {
    const help = await pgha(["--help"], { PGHA_RUNTIME: "js" });
    expect(help).toMatchObject({ code: 0, stderr: "" });
    for (const cmd of ["render", "config-reference", "sandbox", "bench", "plan", "diff", "check"]) expect(help.stdout).toMatch(new RegExp(`^  ${cmd} `, "m"));
    expect(await pgha(["--help"], { PGHA_RUNTIME: "fast" })).toMatchObject({ code: 2, stderr: expect.stringContaining("PGHA_RUNTIME must be js, ts or unset") });
    const bad = await pgha(["render", "--stack", "dev", "--layout", "vm"], { PGHA_RUNTIME: "js" });
    expect(bad).toMatchObject({ code: 2, stderr: "pgha: --layout must be ec2 or sandbox, not vm\n" });
  });

  it("renders exactly what the sources render (templates found from dist/)", async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-compiled-render-"));
    try {
      const r = await pgha(["render", "--stack", "dev", "-o", out], { PGHA_RUNTIME: "js" });
      expect(r).toMatchObject({ code: 0, stderr: "" });
      const manifest = JSON.parse(fs.readFileSync(path.join(out, "MANIFEST.json"), "utf8"));
      const { spec } = loadStack("dev");
      for (const b of renderAll(spec, ec2Layout(spec))) {
        for (const f of b.files) expect([b.node, f.path, manifest.nodes[b.node][f.path]]).toEqual([b.node, f.path, sha256(f.content)]);
        expect(manifest.nodes[b.node]["user-data (gzip)"]).toBe(sha256(b.userDataGzip));
      }
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});

it("README's CLI table is the one in bench/results/cli.json (npx pgha bench readme)", () => {
  const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
  expect(readme).toContain(CLI_BEGIN);
  expect(readmeWithCliTable(readme, path.join(root, "bench/results"))).toBe(readme);
});
