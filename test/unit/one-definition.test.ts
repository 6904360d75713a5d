// Values with one definition stay there (issue 15 item 2): the PostgreSQL data paths
// (src/node-paths.ts), the sandbox's addresses (src/layout.ts, SANDBOX_NETWORK) and Patroni's
// defaults (src/config/defaults.ts, PATRONI_DEFAULTS). Scanned on the code lines (comments left
// out) of src/, components/, policies/, bench/ and index.ts; tests may spell them out.
import * as fs from "fs";
import * as path from "path";

const ROOT = path.resolve(__dirname, "../..");

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.name === "node_modules") return [];
    return e.isDirectory() ? sourceFiles(p) : /\.tsx?$/.test(e.name) ? [p] : [];
  });
}

const FILES = [...["src", "components", "policies", "bench"].flatMap((d) => sourceFiles(path.join(ROOT, d))), path.join(ROOT, "index.ts")];

/** `file:line: text` of every code line (not a comment) that matches. */
function hits(pattern: RegExp, allowed: string[]): string[] {
  return FILES.filter((f) => !allowed.includes(path.relative(ROOT, f))).flatMap((f) =>
    fs
      .readFileSync(f, "utf8")
      .split("\n")
      .map((line, i) => ({ line, n: i + 1 }))
      .filter(({ line }) => !/^\s*(\/\/|\*|\/\*\*)/.test(line) && pattern.test(line))
      .map(({ line, n }) => `${path.relative(ROOT, f)}:${n}: ${line.trim()}`),
  );
}

describe("one definition", () => {
  it("scans the sources", () => {
    expect(FILES.length).toBeGreaterThan(50);
  });

  it("PostgreSQL's paths on a node are spelled only in src/node-paths.ts", () => {
    expect(hits(/\/var\/lib\/postgresql|\/usr\/lib\/postgresql/, ["src/node-paths.ts"])).toEqual([]);
  });

  it("sandbox addresses are spelled only in src/layout.ts", () => {
    expect(hits(/\b10\.88\.\d/, ["src/layout.ts"])).toEqual([]);
  });

  it("Patroni's timing defaults are spelled only in src/config/defaults.ts", () => {
    // src/config/reference.ts: an example line of the generated Pulumi.yaml comment.
    expect(hits(/\b(ttl|loopWait|loop_wait|retryTimeout|retry_timeout)\b\s*(:|\?\?|=)\s*\d/, ["src/config/defaults.ts", "src/config/reference.ts"])).toEqual([]);
  });
});
